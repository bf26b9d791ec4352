//! Test helpers: running `qemu-img` and reading what it says about an image.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

/// Runs `qemu-img` with `args` in `dir` and returns its stdout; fails the test on failure.
pub(crate) fn qemu_img<S: AsRef<OsStr>>(dir: &Path, args: &[S]) -> Vec<u8> {
    let output = Command::new("qemu-img")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("qemu-img must be installed to run these tests");
    assert!(
        output.status.success(),
        "qemu-img {:?} failed: {}",
        args.iter()
            .map(|a| a.as_ref().to_string_lossy())
            .collect::<Vec<_>>(),
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// `qemu-img info --output=json` of the image at `image` (relative to `dir`).
pub(crate) fn qemu_info(dir: &Path, image: &str) -> serde_json::Value {
    let stdout = qemu_img(dir, &["info", "--output=json", "-U", image]);
    serde_json::from_slice(&stdout).expect("qemu-img info prints JSON")
}

/// `qemu-img check` of the image at `image` (relative to `dir`) must find nothing wrong.
pub(crate) fn qemu_check(dir: &Path, image: &str) {
    qemu_img(dir, &["check", "-q", image]);
}

/// A string field of `qemu-img info` JSON as bytes, `None` when absent.
pub(crate) fn info_bytes(info: &serde_json::Value, pointer: &str) -> Option<Vec<u8>> {
    info.pointer(pointer)
        .map(|v| v.as_str().expect("a string").as_bytes().to_vec())
}

/// Checks that a parsed header says what `qemu-img info` says about the same image.
pub(crate) fn assert_matches_info(header: &crate::DiskHeader, info: &serde_json::Value) {
    use crate::Format;
    let format = info["format"].as_str().expect("format");
    assert_eq!(header.format.as_str(), format, "{info:#}");
    // Unknown only where the size is in another part of the file (a VMDK's sparse extents,
    // a LUKS2 header).
    if header.virtual_size.is_some() || header.format == Format::Qcow2 {
        assert_eq!(
            header.virtual_size,
            info["virtual-size"].as_u64(),
            "{info:#}"
        );
    }
    if matches!(header.format, Format::Qed | Format::Qcow | Format::Vdi) {
        assert_eq!(
            header.cluster_size,
            info["cluster-size"].as_u64(),
            "{info:#}"
        );
    }
    if header.format == Format::Vmdk {
        assert_eq!(
            header.create_type,
            info_bytes(info, "/format-specific/data/create-type"),
            "{info:#}"
        );
    }
    assert_eq!(
        header.backing_file,
        info_bytes(info, "/backing-filename"),
        "{info:#}"
    );
    assert_eq!(
        header.backing_format,
        info_bytes(info, "/backing-filename-format"),
        "{info:#}"
    );
    if header.format != Format::Qcow2 {
        return;
    }
    let data = &info["format-specific"]["data"];
    assert_eq!(
        header.cluster_size,
        info["cluster-size"].as_u64(),
        "{info:#}"
    );
    let compat = match header.version {
        Some(2) => "0.10",
        Some(3) => "1.1",
        other => panic!("unexpected version {other:?}"),
    };
    assert_eq!(data["compat"], compat, "{info:#}");
    assert_eq!(
        header.refcount_bits(),
        data["refcount-bits"].as_u64(),
        "{info:#}"
    );
    let compression = match header.compression_type {
        Some(0) => "zlib",
        Some(1) => "zstd",
        other => panic!("unexpected compression type {other:?}"),
    };
    assert_eq!(data["compression-type"], compression, "{info:#}");
    assert_eq!(
        header.data_file,
        info_bytes(info, "/format-specific/data/data-file"),
        "{info:#}"
    );
    assert_eq!(
        info["dirty-flag"].as_bool(),
        Some(header.is_dirty()),
        "{info:#}"
    );
    if header.version == Some(3) {
        assert_eq!(
            data["lazy-refcounts"].as_bool(),
            Some(header.lazy_refcounts()),
            "{info:#}"
        );
        assert_eq!(
            data["corrupt"].as_bool(),
            Some(header.is_corrupt()),
            "{info:#}"
        );
        assert_eq!(
            data["extended-l2"].as_bool(),
            Some(header.extended_l2()),
            "{info:#}"
        );
        if header.has_external_data_file() {
            assert_eq!(
                data["data-file-raw"].as_bool(),
                Some(header.data_file_raw()),
                "{info:#}"
            );
        }
    }
}
