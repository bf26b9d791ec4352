//! The other formats (qcow, QED, VMDK, VHD, VHDX, VDI, LUKS) as `qemu-img` makes them: read as
//! `qemu-img info` reads them, checked as QEMU checks them, and cut at every length.

use std::path::Path;

use super::{parse, parse_like_the_reader, patch};
use crate::resolve::{BackingTarget, resolve_backing};
use crate::test_support::{assert_matches_info, info_bytes, qemu_img, qemu_info};
use crate::{Format, HeaderError, bytes_needed, parse_header};

/// Creates `vm/<name>` with `qemu-img create -f <format> <args> vm/<name> 1M` in `dir`.
fn qemu_create(dir: &Path, format: &str, name: &str, args: &[&str]) -> String {
    let rel = format!("vm/{name}");
    let mut argv = vec!["create", "-q", "-f", format];
    argv.extend_from_slice(args);
    argv.extend_from_slice(&[rel.as_str(), "1M"]);
    qemu_img(dir, &argv);
    rel
}

/// A directory with `_base/raw` (raw), `_base/base.vmdk` (VMDK) and an empty `vm/`.
fn image_dir() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("vm")).expect("mkdir");
    std::fs::create_dir_all(dir.join("_base")).expect("mkdir");
    std::fs::write(dir.join("_base/raw"), vec![0u8; 1 << 20]).expect("write");
    qemu_img(
        dir,
        &["create", "-q", "-f", "vmdk", "_base/base.vmdk", "1M"],
    );
    tmp
}

/// (format, file name in vm/, extra qemu-img create arguments)
const OTHER_FORMATS: &[(&str, &str, &[&str])] = &[
    ("qed", "qed", &[]),
    ("qed", "qed-raw", &["-F", "raw", "-b", "../_base/raw"]),
    (
        "qed",
        "qed-vmdk",
        &["-F", "vmdk", "-b", "../_base/base.vmdk"],
    ),
    ("qed", "qed-4k", &["-o", "cluster_size=4k"]),
    ("qcow", "qcow", &[]),
    ("qcow", "qcow-raw", &["-F", "raw", "-b", "../_base/raw"]),
    ("vmdk", "sparse.vmdk", &[]),
    (
        "vmdk",
        "overlay.vmdk",
        &["-F", "vmdk", "-b", "../_base/base.vmdk"],
    ),
    ("vmdk", "flat.vmdk", &["-o", "subformat=monolithicFlat"]),
    (
        "vmdk",
        "split.vmdk",
        &["-o", "subformat=twoGbMaxExtentSparse"],
    ),
    (
        "vmdk",
        "splitflat.vmdk",
        &["-o", "subformat=twoGbMaxExtentFlat"],
    ),
    ("vmdk", "stream.vmdk", &["-o", "subformat=streamOptimized"]),
    (
        "vmdk",
        "split-overlay.vmdk",
        &[
            "-o",
            "subformat=twoGbMaxExtentSparse",
            "-F",
            "vmdk",
            "-b",
            "../_base/base.vmdk",
        ],
    ),
    ("vpc", "dynamic.vhd", &[]),
    ("vpc", "fixed.vhd", &["-o", "subformat=fixed"]),
    ("vdi", "dynamic.vdi", &[]),
    ("vdi", "static.vdi", &["-o", "static=on"]),
    (
        "luks",
        "luks",
        &["--object", "secret,id=s,data=x", "-o", "key-secret=s"],
    ),
];

#[test]
fn other_formats_made_by_qemu_img_read_as_qemu_img_info_says() {
    let tmp = image_dir();
    let dir = tmp.path();
    for (format, name, args) in OTHER_FORMATS {
        let rel = qemu_create(dir, format, name, args);
        let info = qemu_info(dir, &rel);
        let read = crate::read_header(&dir.join(&rel)).expect("read_header");
        assert_matches_info(&read.header, &info);
        if let Some(backing) = &read.header.backing_file {
            let full = info_bytes(&info, "/full-backing-filename").expect("full name");
            let full = std::path::PathBuf::from(String::from_utf8(full).expect("UTF-8"));
            assert_eq!(
                resolve_backing(Path::new(&rel), backing),
                BackingTarget::File(full)
            );
        }
        // A descriptor file's extents are the files QEMU opens besides it.
        let extents = info["format-specific"]["data"]["extents"].as_array();
        if read.header.format == Format::Vmdk && !read.header.extent_files.is_empty() {
            let opened: Vec<_> = extents
                .expect("extents")
                .iter()
                .map(|e| std::path::PathBuf::from(e["filename"].as_str().expect("a name")))
                .collect();
            let named: Vec<_> = read
                .header
                .extent_files
                .iter()
                .map(|n| crate::resolve::resolve_extent(Path::new(&rel), n))
                .collect();
            assert_eq!(named, opened, "{name}");
        }
    }
}

#[test]
fn a_vhdx_reads_from_its_metadata_region_and_a_differencing_one_is_parent_not_readable() {
    let tmp = image_dir();
    let dir = tmp.path();
    let rel = qemu_create(dir, "vhdx", "disk.vhdx", &[]);
    let path = dir.join(&rel);
    let read = crate::read_header(&path).expect("a VHDX");
    assert_eq!(read.header.format, Format::Vhdx);
    assert_eq!(read.header.virtual_size, Some(1 << 20));
    assert_eq!(read.header.cluster_size, Some(8 << 20));
    let image = std::fs::read(&path).expect("read");
    // The first 320 KiB alone say where the metadata region is.
    assert_eq!(
        parse_header(&image[..320 << 10], image.len() as u64),
        Err(HeaderError::VhdxMetadata {
            offset: 3 << 20,
            len: 1 << 20
        })
    );

    let crc = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);
    let reseal = |bytes: &mut Vec<u8>, at: usize, len: usize| {
        bytes[at + 4..at + 8].fill(0);
        let sum = crc.checksum(&bytes[at..at + len]);
        bytes[at + 4..at + 8].copy_from_slice(&sum.to_le_bytes());
    };
    let read_bytes = |bytes: &[u8]| {
        let patched = dir.join("patched.vhdx");
        std::fs::write(&patched, bytes).expect("write");
        crate::read_header(&patched)
    };
    let refused = |bytes: &[u8]| match read_bytes(bytes) {
        Err(crate::ReadError::Header { source, .. }) => source,
        other => panic!("{other:?}"),
    };
    // A parent: the file parameters' has_parent bit (metadata item at 3 MiB + 64 KiB).
    let params = (3 << 20) + (64 << 10);
    let mut child = image.clone();
    child[params + 4] |= 2;
    assert!(refused(&child).to_string().contains("parent locator"));
    // ... with a parent locator entry added to the metadata table: QEMU cannot open it.
    let entry = (3 << 20) + 32 + 5 * 32;
    child[entry..entry + 16].copy_from_slice(&vhdx_guid("2d5fd3a80bb34d45abf7d3d84834ab0c"));
    child[entry + 16..entry + 20].copy_from_slice(&(70u32 << 10).to_le_bytes());
    child[entry + 20..entry + 24].copy_from_slice(&16u32.to_le_bytes());
    child[(3 << 20) + 10] = 6;
    assert_eq!(
        refused(&child),
        HeaderError::ParentNotReadable { format: "vhdx" }
    );
    // A log to replay (a non-zero log GUID in both headers, checksums made good).
    let mut dirty = image.clone();
    for header in [64 << 10, 128 << 10] {
        dirty[header + 48] = 1;
        reseal(&mut dirty, header, 4 << 10);
    }
    assert!(refused(&dirty).to_string().contains("log"));
    // Bad checksums: of one header (the other one counts), of both, of the region table.
    let mut one = image.clone();
    one[(64 << 10) + 20] ^= 1;
    assert!(read_bytes(&one).is_ok());
    let mut both = one.clone();
    both[(128 << 10) + 20] ^= 1;
    assert!(refused(&both).to_string().contains("no valid header"));
    let mut table = image.clone();
    table[(192 << 10) + 100] ^= 1;
    assert!(refused(&table).to_string().contains("region table"));
    // A block size QEMU does not open.
    let mut block = image.clone();
    block[params..params + 4].copy_from_slice(&(512u32 << 20).to_le_bytes());
    assert!(refused(&block).to_string().contains("block size"));
}

/// A GUID from the hex of its stored bytes.
fn vhdx_guid(hex: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex");
    }
    out
}

#[test]
fn a_dynamic_vhd_has_its_block_size_as_cluster_size_and_a_checked_header() {
    let tmp = image_dir();
    let dir = tmp.path();
    let vhd = std::fs::read(dir.join(qemu_create(dir, "vpc", "d.vhd", &[]))).expect("read");
    let header = parse(&vhd).expect("a dynamic VHD");
    assert_eq!(header.cluster_size, Some(2 << 20));
    let refused = |at: usize, bytes: &[u8]| {
        let mut bad = vhd.clone();
        patch(&mut bad, at, bytes);
        match parse(&bad) {
            Err(HeaderError::Invalid {
                format: "vpc",
                reason,
                ..
            }) => reason,
            other => panic!("patched at {at}: {other:?}"),
        }
    };
    // The dynamic header sits at data_offset (512): cookie, max_table_entries @28, block_size @32.
    assert!(refused(512, b"xxsparse").contains("cookie"));
    assert!(refused(512 + 32, &3000u32.to_be_bytes()).contains("block size"));
    assert!(refused(512 + 28, &0u32.to_be_bytes()).contains("too small"));
    assert!(refused(16, &(3u64 << 20).to_be_bytes()).contains("first 2 MiB"));
    assert!(refused(16, &u64::MAX.to_be_bytes()).contains("first 2 MiB"));
    // A dynamic header past the end of the file is a truncated file.
    let mut short = vhd.clone();
    short.truncate(700);
    assert!(matches!(
        parse_header(&short, short.len() as u64),
        Err(HeaderError::Truncated { .. })
    ));
}

#[test]
fn differencing_vhd_and_vdi_are_parent_not_readable() {
    let tmp = image_dir();
    let dir = tmp.path();
    // qemu-img cannot make a differencing VHD or VDI: make the footer or header say so.
    let vhd = std::fs::read(dir.join(qemu_create(dir, "vpc", "d.vhd", &[]))).expect("read");
    let mut diff = vhd.clone();
    patch(&mut diff, 60, &4u32.to_be_bytes());
    assert_eq!(
        parse(&diff),
        Err(HeaderError::ParentNotReadable { format: "vpc" })
    );
    let vdi = std::fs::read(dir.join(qemu_create(dir, "vdi", "d.vdi", &[]))).expect("read");
    let mut diff = vdi.clone();
    patch(&mut diff, 0x4c, &4u32.to_le_bytes());
    assert_eq!(
        parse(&diff),
        Err(HeaderError::ParentNotReadable { format: "vdi" })
    );
    let mut parent_uuid = vdi;
    parent_uuid[0x1b8] = 1;
    assert_eq!(
        parse(&parent_uuid),
        Err(HeaderError::ParentNotReadable { format: "vdi" })
    );
}

#[test]
fn other_formats_cut_at_every_length_never_panic() {
    let tmp = image_dir();
    let dir = tmp.path();
    for (format, name, args) in OTHER_FORMATS {
        let whole = std::fs::read(dir.join(qemu_create(dir, format, name, args))).expect("read");
        let full = parse(&whole);
        let needed = bytes_needed(&whole[..whole.len().min(4096)]).expect("valid");
        // The headers and descriptors all lie in the first 11 KiB.
        for n in 0..=whole.len().min(11 * 1024) {
            let cut = &whole[..n];
            let _ = parse(cut);
            let _ = bytes_needed(cut);
            let given = parse_header(cut, whole.len() as u64);
            if n >= needed.min(whole.len()) {
                assert_eq!(given, full, "{name} cut at {n}");
            }
        }
        assert_eq!(parse_like_the_reader(&whole), full, "{name}");
    }
}

#[test]
fn qed_and_qcow_backing_names_are_checked_as_qemu_checks_them() {
    let tmp = image_dir();
    let dir = tmp.path();
    let qed = std::fs::read(dir.join(qemu_create(
        dir,
        "qed",
        "q",
        &["-F", "raw", "-b", "../_base/raw"],
    )))
    .expect("read");
    let header = parse(&qed).expect("valid");
    assert_eq!(header.backing_file.as_deref(), Some(&b"../_base/raw"[..]));
    assert_eq!(header.backing_format.as_deref(), Some(&b"raw"[..]));
    // Without the backing file feature, the name is not read.
    let mut no_backing = qed.clone();
    no_backing[16] = 0;
    assert_eq!(parse(&no_backing).map(|h| h.backing_file), Ok(None));
    // Past the header clusters.
    let mut far = qed.clone();
    patch(&mut far, 56, &u32::MAX.to_le_bytes());
    assert!(matches!(
        parse(&far),
        Err(HeaderError::BackingNameOutOfBounds { .. })
    ));
    let mut unknown = qed.clone();
    unknown[16] |= 8;
    assert!(matches!(
        parse(&unknown),
        Err(HeaderError::Invalid {
            format: "qed",
            offset: 16,
            ..
        })
    ));
    let mut cluster = qed;
    patch(&mut cluster, 4, &3000u32.to_le_bytes());
    assert!(matches!(
        parse(&cluster),
        Err(HeaderError::Invalid {
            format: "qed",
            offset: 4,
            ..
        })
    ));

    let qcow = std::fs::read(dir.join(qemu_create(
        dir,
        "qcow",
        "c",
        &["-F", "raw", "-b", "../_base/raw"],
    )))
    .expect("read");
    let header = parse(&qcow).expect("valid");
    assert_eq!((header.format, header.version), (Format::Qcow, Some(1)));
    assert_eq!(header.backing_file.as_deref(), Some(&b"../_base/raw"[..]));
    let mut long = qcow.clone();
    patch(&mut long, 16, &1024u32.to_be_bytes());
    assert_eq!(parse(&long), Err(HeaderError::BackingNameTooLong(1024)));
    let mut past = qcow.clone();
    patch(&mut past, 8, &(1u64 << 40).to_be_bytes());
    assert!(matches!(
        parse(&past),
        Err(HeaderError::BackingNameOutOfBounds { .. })
    ));
    let mut bits = qcow;
    bits[32] = 17;
    assert!(matches!(
        parse(&bits),
        Err(HeaderError::Invalid {
            format: "qcow",
            offset: 32,
            ..
        })
    ));
}
