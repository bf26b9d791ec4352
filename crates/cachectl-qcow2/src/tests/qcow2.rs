//! The qcow2 header as QEMU's `qcow2_do_open` checks it: images `qemu-img` makes, every field
//! check, truncation, backing names and header extensions.

use std::path::Path;

use super::{image, overlay, parse, patch, with_backing_name};
use crate::create::Qcow2Spec;
use crate::qcow2::{EXT_BITMAPS, EXT_CRYPTO, EXT_DATA_FILE};
use crate::resolve::{BackingTarget, resolve_backing};
use crate::test_support::{assert_matches_info, info_bytes, qemu_img, qemu_info};
use crate::{Format, HeaderError, bytes_needed, parse_header};

#[test]
fn images_made_by_qemu_img_read_as_qemu_img_info_says() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("vm")).expect("mkdir");
    std::fs::create_dir_all(dir.join("_base")).expect("mkdir");
    std::fs::write(dir.join("_base/raw"), vec![0u8; 1 << 20]).expect("write");
    qemu_img(dir, &["create", "-q", "-f", "qcow2", "_base/q2", "1M"]);
    let abs_base = dir.join("_base/raw");
    let abs_base = abs_base.to_str().expect("a UTF-8 temp dir");
    // (file name in vm/, extra qemu-img create arguments)
    let cases: &[(&str, &[&str])] = &[
        ("v3", &["-o", "compat=1.1"]),
        ("v2", &["-o", "compat=0.10"]),
        (
            "v3-rel",
            &["-o", "compat=1.1", "-F", "qcow2", "-b", "../_base/q2"],
        ),
        (
            "v2-rel",
            &["-o", "compat=0.10", "-F", "raw", "-b", "../_base/raw"],
        ),
        ("v3-abs", &["-F", "raw", "-b", abs_base]),
        (
            "v2-abs",
            &["-o", "compat=0.10", "-F", "raw", "-b", abs_base],
        ),
        (
            "v3-dotdot",
            &["-u", "-F", "raw", "-b", "../x/../_base/./raw"],
        ),
        (
            "v3-missing",
            &["-u", "-F", "qcow2", "-b", "/nonexistent/base"],
        ),
        (
            "v3-nofmt",
            &["-u", "-b", "base-without-format", "-F", "raw"],
        ),
        ("v3-data", &["-o", "data_file=disk.data"]),
        (
            "v3-data-raw",
            &["-o", "data_file=disk.data2,data_file_raw=on"],
        ),
        (
            "v3-512",
            &["-o", "cluster_size=512", "-F", "raw", "-b", "../_base/raw"],
        ),
        (
            "v3-2m",
            &["-o", "cluster_size=2M", "-F", "raw", "-b", "../_base/raw"],
        ),
        (
            "v3-features",
            &["-o", "lazy_refcounts=on,extended_l2=on,refcount_bits=64"],
        ),
        ("v3-zstd", &["-o", "compression_type=zstd"]),
    ];
    for (name, args) in cases {
        let rel = format!("vm/{name}");
        let mut argv = vec!["create", "-q", "-f", "qcow2"];
        argv.extend_from_slice(args);
        argv.extend_from_slice(&[rel.as_str(), "1G"]);
        qemu_img(dir, &argv);
        let info = qemu_info(dir, &rel);
        let read = crate::read_header(&dir.join(&rel)).expect("read_header");
        assert_matches_info(&read.header, &info);
        assert_eq!(read.header.format, Format::Qcow2);
        if let Some(backing) = &read.header.backing_file {
            // QEMU resolves against the path it was given ("vm/<name>" from `dir`).
            let full = info_bytes(&info, "/full-backing-filename").expect("full name");
            let full = std::path::PathBuf::from(String::from_utf8(full).expect("UTF-8"));
            assert_eq!(
                resolve_backing(Path::new(&rel), backing),
                BackingTarget::File(full)
            );
        }
    }
    let raw = crate::read_header(&dir.join("_base/raw")).expect("read raw");
    assert_matches_info(&raw.header, &qemu_info(dir, "_base/raw"));
}

#[test]
fn fields_of_an_overlay() {
    let header = parse(&overlay()).expect("valid");
    assert_eq!(header.format, Format::Qcow2);
    assert_eq!(header.version, Some(3));
    assert_eq!(header.virtual_size, Some(1 << 20));
    assert_eq!(header.cluster_size, Some(512));
    assert_eq!(header.backing_file.as_deref(), Some(&b"base"[..]));
    assert_eq!(header.backing_format.as_deref(), Some(&b"qcow2"[..]));
    assert_eq!(header.header_length, Some(112));
    assert_eq!(header.refcount_bits(), Some(16));
    assert_eq!(header.compression_type, Some(0));
    assert_eq!(header.crypt_method, Some(0));
    assert!(
        header.feature_names.is_empty(),
        "no table with 512-byte clusters"
    );
    assert!(!header.is_dirty() && !header.is_corrupt() && !header.has_external_data_file());
}

#[test]
fn the_feature_name_table_is_read() {
    let header = parse(&image(&Qcow2Spec::new(1 << 20))).expect("valid");
    let names: Vec<_> = header
        .feature_names
        .iter()
        .map(|(kind, bit, name)| (*kind, *bit, String::from_utf8_lossy(name).into_owned()))
        .collect();
    assert_eq!(names.len(), 8);
    assert_eq!(names[0], (0, 0, "dirty bit".to_owned()));
    assert_eq!(names[5], (1, 0, "lazy refcounts".to_owned()));
    assert_eq!(names[7], (2, 1, "raw external data".to_owned()));
}

#[test]
fn the_data_file_is_used_only_with_its_feature_bit() {
    let bytes = image(&Qcow2Spec {
        data_file: Some(b"disk.data"),
        ..Qcow2Spec::new(1 << 20)
    });
    let header = parse(&bytes).expect("valid");
    assert!(header.has_external_data_file());
    assert_eq!(header.external_data_file(), Some(&b"disk.data"[..]));
    let mut without_bit = bytes;
    patch(&mut without_bit, 72, &0u64.to_be_bytes());
    let header = parse(&without_bit).expect("valid");
    assert_eq!(header.data_file.as_deref(), Some(&b"disk.data"[..]));
    assert_eq!(header.external_data_file(), None);
}

#[test]
fn truncation_at_every_length_never_panics() {
    let whole = overlay();
    let full = parse(&whole).expect("valid");
    let needed = bytes_needed(&whole).expect("valid");
    for n in 0..=whole.len() {
        let cut = &whole[..n];
        // The file itself is cut short: an error or a header, never a panic.
        let _ = parse(cut);
        let _ = bytes_needed(cut);
        // We were given too little of a longer file.
        let result = parse_header(cut, whole.len() as u64);
        if n >= needed {
            assert_eq!(result.as_ref(), Ok(&full), "cut at {n}");
        } else {
            assert!(
                matches!(result, Err(HeaderError::Truncated { .. })),
                "cut at {n}: {result:?}"
            );
        }
    }
}

#[test]
fn a_header_cut_in_the_fixed_fields_is_truncated() {
    let whole = overlay();
    assert_eq!(
        parse(&whole[..50]),
        Err(HeaderError::Truncated {
            needed: 104,
            have: 50
        })
    );
    assert_eq!(
        parse(&whole[..104]),
        Err(HeaderError::Truncated {
            needed: 105,
            have: 104
        })
    );
    let v2 = image(&Qcow2Spec {
        version: 2,
        ..Qcow2Spec::new(1 << 20)
    });
    assert_eq!(
        parse(&v2[..71]),
        Err(HeaderError::Truncated {
            needed: 72,
            have: 71
        })
    );
    // A version 2 header alone is complete: past the end of the file QEMU reads zeros,
    // and zeros end the header extensions.
    assert_eq!(parse(&v2[..72]).map(|h| h.virtual_size), Ok(Some(1 << 20)));
    let v3 = image(&Qcow2Spec::new(1 << 20));
    assert_eq!(parse(&v3[..112]).map(|h| h.version), Ok(Some(3)));
    assert_eq!(parse(&v3[..115]).map(|h| h.version), Ok(Some(3)));
}

#[test]
fn backing_name_bounds() {
    let bytes = overlay();
    // Past the first cluster.
    let past = with_backing_name(bytes.clone(), 0, b"");
    let mut past = past;
    patch(&mut past, 8, &513u64.to_be_bytes());
    assert_eq!(
        parse(&past),
        Err(HeaderError::BackingNameOutOfBounds {
            offset: 513,
            size: 0
        })
    );
    // Running over the end of the first cluster.
    let over = with_backing_name(bytes.clone(), 500, b"0123456789abcdef");
    assert_eq!(
        parse(&over),
        Err(HeaderError::BackingNameOutOfBounds {
            offset: 500,
            size: 16
        })
    );
    // Longer than QEMU reads.
    let mut long = bytes.clone();
    patch(&mut long, 16, &1024u32.to_be_bytes());
    assert_eq!(parse(&long), Err(HeaderError::BackingNameTooLong(1024)));
    let mut huge = bytes.clone();
    patch(&mut huge, 16, &u32::MAX.to_be_bytes());
    assert_eq!(parse(&huge), Err(HeaderError::BackingNameTooLong(u32::MAX)));
    // Past the end of the file.
    let short = with_backing_name(bytes.clone(), 400, b"base");
    assert_eq!(
        parse(&short[..402]),
        Err(HeaderError::BackingNameOutOfBounds {
            offset: 400,
            size: 4
        })
    );
    // In the file but past what we were given.
    assert_eq!(
        parse_header(&short[..402], 4096),
        Err(HeaderError::Truncated {
            needed: 404,
            have: 402
        })
    );
    // Right at the end of the cluster is fine.
    let edge = with_backing_name(bytes, 508, b"edge");
    assert_eq!(
        parse(&edge).map(|h| h.backing_file),
        Ok(Some(b"edge".to_vec()))
    );
}

#[test]
fn backing_names_are_c_strings_of_raw_bytes() {
    let bytes = overlay();
    let offset = 300;
    let nul = with_backing_name(bytes.clone(), offset, b"base\0junk");
    assert_eq!(
        parse(&nul).map(|h| h.backing_file),
        Ok(Some(b"base".to_vec()))
    );
    let leading_nul = with_backing_name(bytes.clone(), offset, b"\0junk");
    assert_eq!(parse(&leading_nul).map(|h| h.backing_file), Ok(None));
    let empty = with_backing_name(bytes.clone(), offset, b"");
    assert_eq!(parse(&empty).map(|h| h.backing_file), Ok(None));
    let latin1 = with_backing_name(bytes.clone(), offset, b"b\xe4se\xff");
    assert_eq!(
        parse(&latin1).map(|h| h.backing_file),
        Ok(Some(b"b\xe4se\xff".to_vec()))
    );
    // No backing file offset: no name, whatever the size says.
    let mut no_offset = bytes;
    patch(&mut no_offset, 8, &0u64.to_be_bytes());
    assert_eq!(parse(&no_offset).map(|h| h.backing_file), Ok(None));
}

#[test]
fn versions_and_cluster_bits() {
    let bytes = overlay();
    // Version 1 is qcow (see `other_formats`).
    for version in [0u32, 4, u32::MAX] {
        let mut b = bytes.clone();
        patch(&mut b, 4, &version.to_be_bytes());
        assert_eq!(parse(&b), Err(HeaderError::UnsupportedVersion(version)));
        // Known from the first 8 bytes.
        assert_eq!(
            parse_header(&b[..8], 4096),
            Err(HeaderError::UnsupportedVersion(version))
        );
    }
    for bits in [0u32, 8, 22, 64, u32::MAX] {
        let mut b = bytes.clone();
        patch(&mut b, 20, &bits.to_be_bytes());
        assert_eq!(parse(&b), Err(HeaderError::InvalidClusterBits(bits)));
        assert_eq!(bytes_needed(&b), Err(HeaderError::InvalidClusterBits(bits)));
    }
}

#[test]
fn header_length() {
    let bytes = image(&Qcow2Spec::new(1 << 20));
    for len in [0u32, 72, 103] {
        let mut b = bytes.clone();
        patch(&mut b, 100, &len.to_be_bytes());
        assert_eq!(parse(&b), Err(HeaderError::HeaderLengthInvalid(len)));
    }
    let mut past_cluster = bytes.clone();
    patch(&mut past_cluster, 100, &65537u32.to_be_bytes());
    assert_eq!(
        parse(&past_cluster),
        Err(HeaderError::HeaderLengthInvalid(65537))
    );
    // 104: no compression type byte (zlib), extensions start at 104 (the zero
    // compression type and padding read as the end marker).
    let mut short = bytes.clone();
    patch(&mut short, 100, &104u32.to_be_bytes());
    let header = parse(&short).expect("valid");
    assert_eq!(
        (header.header_length, header.compression_type),
        (Some(104), Some(0))
    );
    assert!(header.feature_names.is_empty());
    // Not a multiple of 8: QEMU accepts it.
    let mut odd = bytes;
    patch(&mut odd, 100, &105u32.to_be_bytes());
    assert_eq!(parse(&odd).map(|h| h.header_length), Ok(Some(105)));
}

#[test]
fn feature_bits() {
    let bytes = image(&Qcow2Spec::new(1 << 20));
    let with_incompat = |bits: u64| {
        let mut b = bytes.clone();
        patch(&mut b, 72, &bits.to_be_bytes());
        parse(&b)
    };
    assert_eq!(
        with_incompat(1 << 5),
        Err(HeaderError::UnknownIncompatibleFeatures(1 << 5))
    );
    assert_eq!(
        with_incompat(1 | 1 << 63),
        Err(HeaderError::UnknownIncompatibleFeatures(1 << 63))
    );
    let dirty_corrupt = with_incompat(0b11).expect("known bits");
    assert!(dirty_corrupt.is_dirty() && dirty_corrupt.is_corrupt());
    // Compression type bit without a compression type, and the other way round.
    assert_eq!(
        with_incompat(1 << 3),
        Err(HeaderError::CompressionTypeMismatch(0))
    );
    let mut zstd = bytes.clone();
    zstd[104] = 1;
    assert_eq!(parse(&zstd), Err(HeaderError::CompressionTypeMismatch(1)));
    patch(&mut zstd, 72, &(1u64 << 3).to_be_bytes());
    assert_eq!(parse(&zstd).map(|h| h.compression_type), Ok(Some(1)));
    zstd[104] = 2;
    assert_eq!(
        parse(&zstd),
        Err(HeaderError::UnsupportedCompressionType(2))
    );
    // Extended L2 needs 16 KiB clusters.
    assert_eq!(with_incompat(1 << 4).map(|h| h.extended_l2()), Ok(true));
    let mut small = overlay();
    patch(&mut small, 72, &(1u64 << 4).to_be_bytes());
    assert_eq!(parse(&small), Err(HeaderError::SubclusterTooSmall(9)));
    // Raw external data without an external data file.
    let mut raw_bit = bytes.clone();
    patch(&mut raw_bit, 88, &2u64.to_be_bytes());
    assert_eq!(
        parse(&raw_bit),
        Err(HeaderError::DataFileRawWithoutDataFile)
    );
    // Unknown compatible and autoclear bits are fine.
    let mut other = bytes.clone();
    patch(&mut other, 80, &u64::MAX.to_be_bytes());
    patch(&mut other, 88, &(!3u64).to_be_bytes());
    assert_eq!(parse(&other).map(|h| h.lazy_refcounts()), Ok(true));
    // Refcount order and encryption method.
    let mut order = bytes.clone();
    patch(&mut order, 96, &7u32.to_be_bytes());
    assert_eq!(parse(&order), Err(HeaderError::RefcountOrderTooLarge(7)));
    let mut crypt = bytes;
    patch(&mut crypt, 32, &3u32.to_be_bytes());
    assert_eq!(parse(&crypt), Err(HeaderError::UnsupportedCryptMethod(3)));
}

#[test]
fn version_2_ignores_the_version_3_fields() {
    let mut v2 = image(&Qcow2Spec {
        version: 2,
        backing_file: Some(b"base"),
        backing_format: Some("raw"),
        ..Qcow2Spec::new(1 << 20)
    });
    let header = parse(&v2).expect("valid");
    assert_eq!(header.header_length, Some(72));
    assert_eq!(header.refcount_order, Some(4));
    assert_eq!(header.backing_format.as_deref(), Some(&b"raw"[..]));
    // Bytes 72.. are extensions in version 2, never feature bits.
    v2[72..76].copy_from_slice(&[0xff; 4]);
    let header = parse(&v2).expect("an unknown extension is skipped");
    assert_eq!(header.incompatible_features, 0);
    assert_eq!(header.backing_format, None);
    assert_eq!(header.backing_file.as_deref(), Some(&b"base"[..]));
}

#[test]
fn extension_lengths() {
    let bytes = overlay(); // backing format extension at 112, name at the end marker + 8
    let mut overflow = bytes.clone();
    patch(&mut overflow, 116, &u32::MAX.to_be_bytes());
    assert_eq!(
        parse(&overflow),
        Err(HeaderError::ExtensionOutOfBounds {
            offset: 112,
            len: u32::MAX
        })
    );
    assert_eq!(bytes_needed(&overflow).map(|n| n <= 512), Ok(true));
    // Up to the backing name exactly is allowed; one more is not.
    let name_offset = u32::from_be_bytes(bytes[12..16].try_into().expect("4 bytes"));
    let fits = name_offset - 120;
    let mut exact = bytes.clone();
    patch(&mut exact, 116, &fits.to_be_bytes());
    assert!(
        parse(&exact).is_err(),
        "the backing format is then too long"
    );
    let mut unknown = exact.clone();
    patch(&mut unknown, 112, &0x1234_5678u32.to_be_bytes());
    assert_eq!(parse(&unknown).map(|h| h.backing_format), Ok(None));
    patch(&mut unknown, 116, &(fits + 1).to_be_bytes());
    assert_eq!(
        parse(&unknown),
        Err(HeaderError::ExtensionOutOfBounds {
            offset: 112,
            len: fits + 1
        })
    );
    // Even the end marker is checked, as in QEMU.
    let mut end = bytes.clone();
    patch(&mut end, 112, &[0; 4]);
    patch(&mut end, 116, &0xffffu32.to_be_bytes());
    assert_eq!(
        parse(&end),
        Err(HeaderError::ExtensionOutOfBounds {
            offset: 112,
            len: 0xffff
        })
    );
    // A backing format of 16 bytes is too long for QEMU.
    let mut format = bytes;
    patch(&mut format, 116, &16u32.to_be_bytes());
    assert_eq!(parse(&format), Err(HeaderError::BackingFormatTooLong(16)));
    // Extension data past the end of the file.
    let bare = image(&Qcow2Spec::new(1 << 20));
    let mut cut = bare[..120].to_vec();
    patch(&mut cut, 112, &EXT_DATA_FILE.to_be_bytes());
    patch(&mut cut, 116, &8u32.to_be_bytes());
    assert_eq!(
        parse(&cut),
        Err(HeaderError::ExtensionOutOfBounds {
            offset: 112,
            len: 8
        })
    );
}

#[test]
fn bitmaps_and_encryption_extensions() {
    let bare = image(&Qcow2Spec::new(1 << 20));
    let with_ext = |magic: u32, data: &[u8]| {
        let mut b = bare.clone();
        let mut ext = magic.to_be_bytes().to_vec();
        ext.extend_from_slice(&(data.len() as u32).to_be_bytes());
        ext.extend_from_slice(data);
        ext.resize(ext.len().next_multiple_of(8) + 8, 0);
        patch(&mut b, 112, &ext);
        b
    };
    let mut bitmaps = [0u8; 24];
    bitmaps[..4].copy_from_slice(&1u32.to_be_bytes());
    bitmaps[16..].copy_from_slice(&65536u64.to_be_bytes());
    let header = parse(&with_ext(EXT_BITMAPS, &bitmaps)).expect("valid");
    assert!(header.has_bitmaps_extension);
    assert!(matches!(
        parse(&with_ext(EXT_BITMAPS, &bitmaps[..20])),
        Err(HeaderError::InvalidExtension {
            name: "bitmaps",
            offset: 120,
            ..
        })
    ));
    // Checked only with the autoclear bit (else QEMU ignores the stale bitmaps).
    let mut misaligned = bitmaps;
    misaligned[16..].copy_from_slice(&100u64.to_be_bytes());
    assert!(parse(&with_ext(EXT_BITMAPS, &misaligned)).is_ok());
    let mut consistent = with_ext(EXT_BITMAPS, &misaligned);
    patch(&mut consistent, 88, &1u64.to_be_bytes());
    assert!(matches!(
        parse(&consistent),
        Err(HeaderError::InvalidExtension { .. })
    ));

    let mut crypto = [0u8; 16];
    crypto[..8].copy_from_slice(&65536u64.to_be_bytes());
    assert!(matches!(
        parse(&with_ext(EXT_CRYPTO, &crypto)),
        Err(HeaderError::InvalidExtension {
            name: "encryption",
            ..
        })
    ));
    let mut luks = with_ext(EXT_CRYPTO, &crypto);
    patch(&mut luks, 32, &2u32.to_be_bytes());
    let header = parse(&luks).expect("valid");
    assert!(header.has_encryption_extension);
    assert_eq!(header.crypt_method, Some(2));
}

/// Found by fuzzing: an 8-byte extension header running past the end of the extension
/// area was read before it was refused, so `bytes_needed` asked for too few bytes and a
/// truncated read gave another error than the whole file.
#[test]
fn an_extension_header_past_the_area_is_refused_before_it_is_read() {
    let mut image = vec![0u8; 116];
    image[..4].copy_from_slice(b"QFI\xfb");
    image[4..8].copy_from_slice(&3u32.to_be_bytes());
    image[8..16].copy_from_slice(&113u64.to_be_bytes());
    image[20..24].copy_from_slice(&9u32.to_be_bytes());
    image[100..104].copy_from_slice(&112u32.to_be_bytes());
    let whole = parse_header(&image, image.len() as u64);
    let needed = bytes_needed(&image).expect("a size");
    let prefix = parse_header(&image[..needed.min(image.len())], image.len() as u64);
    assert_eq!(
        whole,
        Err(HeaderError::ExtensionOutOfBounds {
            offset: 112,
            len: 0
        })
    );
    assert_eq!(prefix, whole);
}
