//! `cachectl inspect` against `qemu-img info --output=json --backing-chain`, field by field,
//! over every kind of image `qemu-img` writes that an instance disk can be.
//!
//! Both run in the directory the images are in, on the name a user would type, so relative
//! names resolve as they do for a user. Every key qemu-img prints must be in cachectl's output
//! with the same value, except the ones in [`NOT_READ`]: things cachectl does not read because
//! they lie outside the first cluster or in other files (snapshot tables, bitmap directories,
//! the LUKS header of an encrypted qcow2, VMDK extent headers). cachectl must print nothing
//! qemu-img does not. The human output's lines must all be qemu-img's, in the same order.

use std::fs;
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use tempfile::TempDir;

use crate::support::cachectl_bin;

/// What `qemu-img info` prints that `inspect` leaves out, as paths into one image's JSON.
const NOT_READ: &[&[&str]] = &[
    // The snapshot table, wherever snapshots_offset points.
    &["snapshots"],
    // The bitmap directory, wherever the bitmaps extension points.
    &["format-specific", "data", "bitmaps"],
    // Each VMDK extent's own header.
    &["format-specific", "data", "extents"],
];

/// A directory of images made by `qemu-img`, where both tools run.
struct Images {
    dir: TempDir,
}

impl Images {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `qemu-img <args>` in the directory; it must succeed.
    fn qemu_img(&self, args: &[&str]) {
        let output = Command::new("qemu-img")
            .args(args)
            .current_dir(self.path())
            .output()
            .expect("qemu-img (Debian package qemu-utils) is installed");
        assert!(
            output.status.success(),
            "qemu-img {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// `qemu-img create -q -f <format> [options] <name> [size]`.
    fn create(&self, format: &str, name: &str, options: &[&str], size: Option<&str>) {
        if let Some(parent) = Path::new(name).parent() {
            fs::create_dir_all(self.path().join(parent)).expect("a directory");
        }
        let mut args = vec!["create", "-q", "-f", format];
        args.extend_from_slice(options);
        args.push(name);
        args.extend(size);
        self.qemu_img(&args);
    }

    /// A qcow2 overlay on `backing` (of `backing_format`) with `-o options`.
    fn overlay(&self, name: &str, backing: &str, backing_format: &str, options: &str) {
        let mut args = vec!["-b", backing, "-F", backing_format];
        if !options.is_empty() {
            args.extend(["-o", options]);
        }
        self.create("qcow2", name, &args, None);
    }

    /// Sets bits in the big-endian u64 at `offset` of a file (a header feature field).
    fn set_bits(&self, name: &str, offset: usize, bits: u64) {
        let path = self.path().join(name);
        let mut bytes = fs::read(&path).expect("the image");
        let field: [u8; 8] = bytes[offset..offset + 8].try_into().expect("8 bytes");
        let value = u64::from_be_bytes(field) | bits;
        bytes[offset..offset + 8].copy_from_slice(&value.to_be_bytes());
        fs::write(&path, bytes).expect("the image");
    }

    /// `qemu-img info --output=json --backing-chain` and `cachectl inspect` (JSON and human)
    /// on `name` must agree.
    #[track_caller]
    fn assert_conforms(&self, name: &str) {
        let theirs = self.qemu_img_info(name, &["--output=json"]);
        let theirs: Value = serde_json::from_str(&theirs).expect("qemu-img's JSON");
        let ours = self.inspect(name, &["--output", "json"]);
        let ours: Value = serde_json::from_str(&ours).expect("inspect's JSON");
        let (theirs, ours) = (
            theirs.as_array().expect("qemu-img's chain"),
            ours.as_array().expect("inspect's chain"),
        );
        assert_eq!(
            ours.len(),
            theirs.len(),
            "{name}: chain of {} images, qemu-img says {}",
            ours.len(),
            theirs.len()
        );
        for (ours, theirs) in ours.iter().zip(theirs) {
            let expected = comparable(theirs);
            assert_same(name, "", ours, &expected);
        }

        let theirs = self.qemu_img_info(name, &[]);
        let ours = self.inspect(name, &[]);
        assert_lines_in_order(name, &ours, &theirs);
    }

    fn qemu_img_info(&self, name: &str, args: &[&str]) -> String {
        let output = Command::new("qemu-img")
            .args(["info", "--force-share", "--backing-chain"])
            .args(args)
            .arg(name)
            .current_dir(self.path())
            .output()
            .expect("qemu-img");
        assert!(
            output.status.success(),
            "qemu-img info {name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("UTF-8")
    }

    fn inspect(&self, name: &str, args: &[&str]) -> String {
        let output = self.run_inspect(name, args);
        assert!(
            output.status.success(),
            "cachectl inspect {name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("UTF-8")
    }

    fn run_inspect(&self, name: &str, args: &[&str]) -> std::process::Output {
        Command::new(cachectl_bin())
            .args(["inspect", "--backing-chain"])
            .args(args)
            .arg(name)
            .current_dir(self.path())
            .output()
            .expect("cachectl runs")
    }

    /// Both tools refuse `name`; cachectl says why in one line naming `culprit`, the file at
    /// fault.
    #[track_caller]
    fn assert_both_refuse(&self, name: &str, culprit: &str, reason: &str) {
        let theirs = Command::new("qemu-img")
            .args(["info", "--force-share", "--backing-chain", name])
            .current_dir(self.path())
            .output()
            .expect("qemu-img");
        assert!(!theirs.status.success(), "qemu-img reads {name}");
        let ours = self.run_inspect(name, &[]);
        let stderr = String::from_utf8_lossy(&ours.stderr);
        assert_eq!(ours.status.code(), Some(3), "{name}: {stderr}");
        assert!(ours.stdout.is_empty(), "{name}: printed something");
        assert_eq!(stderr.lines().count(), 1, "{name}: {stderr}");
        assert!(
            stderr.contains(culprit) && stderr.contains(reason),
            "{name}: {stderr:?} does not name {culprit} and say {reason:?}"
        );
    }
}

/// qemu-img's JSON for one image, less what cachectl does not read.
fn comparable(theirs: &Value) -> Value {
    let mut value = theirs.clone();
    for path in NOT_READ {
        remove(&mut value, path);
    }
    // An encrypted qcow2's LUKS header is behind its first cluster: only its format is read.
    if let Some(Value::Object(encrypt)) = value.pointer_mut("/format-specific/data/encrypt") {
        encrypt.retain(|key, _| key == "format");
    }
    // A LUKS volume's own header (cipher, slots) is not read.
    if value["format"] == "luks" {
        remove(&mut value, &["format-specific"]);
    }
    if value["format"] == "vmdk" && value.pointer("/format-specific/data/extents").is_none() {
        // Only the extent headers of a descriptor file give its cluster size.
        let descriptor = theirs["children"]
            .as_array()
            .is_some_and(|children| children.iter().any(|c| c["name"] != "file"));
        if descriptor {
            remove(&mut value, &["cluster-size"]);
        }
    }
    // Children besides the image's own file: a VMDK descriptor's extent files.
    if let Some(Value::Array(children)) = value.get_mut("children") {
        children.retain(|child| child["name"] == "file");
    }
    value
}

fn remove(value: &mut Value, path: &[&str]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut at = value;
    for key in parents {
        match at.get_mut(*key) {
            Some(next) => at = next,
            None => return,
        }
    }
    if let Value::Object(object) = at {
        object.remove(*last);
    }
}

/// `ours` and `expected` are the same JSON, key by key, naming the first difference.
#[track_caller]
fn assert_same(name: &str, at: &str, ours: &Value, expected: &Value) {
    match (ours, expected) {
        (Value::Object(ours), Value::Object(expected)) => {
            for (key, value) in expected {
                let here = format!("{at}/{key}");
                let ours = ours
                    .get(key)
                    .unwrap_or_else(|| panic!("{name}: inspect has no {here} (qemu-img: {value})"));
                assert_same(name, &here, ours, value);
            }
            for key in ours.keys() {
                assert!(
                    expected.contains_key(key),
                    "{name}: inspect has {at}/{key}, qemu-img does not"
                );
            }
        }
        (Value::Array(ours), Value::Array(expected)) => {
            assert_eq!(ours.len(), expected.len(), "{name}: length of {at}");
            for (i, (ours, expected)) in ours.iter().zip(expected).enumerate() {
                assert_same(name, &format!("{at}/{i}"), ours, expected);
            }
        }
        _ => assert_eq!(
            ours, expected,
            "{name}: {at} is {ours} in inspect, {expected} in qemu-img"
        ),
    }
}

/// Every line of `ours` is a line of `theirs`, in the same order.
#[track_caller]
fn assert_lines_in_order(name: &str, ours: &str, theirs: &str) {
    let mut rest = theirs.lines();
    for line in ours.lines() {
        assert!(
            rest.any(|theirs| theirs == line),
            "{name}: inspect's line {line:?} is not in qemu-img's output, in order:\n\
             --- inspect\n{ours}--- qemu-img\n{theirs}"
        );
    }
}

#[test]
fn qcow2_versions_and_backing_names() {
    let images = Images::new();
    images.create("raw", "base.raw", &[], Some("64M"));
    fs::write(images.path().join("odd.raw"), vec![7u8; 1000]).expect("a raw file");
    let absolute = images.path().join("base.raw");
    let absolute = absolute.to_str().expect("UTF-8");

    images.overlay("v2.qcow2", "base.raw", "raw", "compat=0.10");
    images.overlay("v3.qcow2", "base.raw", "raw", "compat=1.1");
    images.overlay("absolute.qcow2", absolute, "raw", "");
    images.overlay("odd.qcow2", "odd.raw", "raw", "");
    images.overlay("sub/dir/dotdot.qcow2", "../../base.raw", "raw", "");
    images.overlay("file-protocol.qcow2", "file:base.raw", "raw", "");
    images.create("qcow2", "no-backing.qcow2", &[], Some("1G"));
    for name in [
        "base.raw",
        "odd.raw",
        "v2.qcow2",
        "v3.qcow2",
        "absolute.qcow2",
        "odd.qcow2",
        "sub/dir/dotdot.qcow2",
        "file-protocol.qcow2",
        "no-backing.qcow2",
    ] {
        images.assert_conforms(name);
    }
}

#[test]
fn chains_of_every_depth() {
    let images = Images::new();
    images.create("raw", "base.raw", &[], Some("16M"));
    images.overlay("layers/1.qcow2", "../base.raw", "raw", "");
    images.overlay("layers/2.qcow2", "1.qcow2", "qcow2", "compat=0.10");
    images.overlay("layers/3.qcow2", "2.qcow2", "qcow2", "");
    images.overlay("top.qcow2", "layers/3.qcow2", "qcow2", "");
    images.assert_conforms("top.qcow2");
}

#[test]
fn qcow2_features() {
    let images = Images::new();
    images.create("raw", "base.raw", &[], Some("16M"));
    for (name, options) in [
        ("zstd.qcow2", "compression_type=zstd"),
        ("extended-l2.qcow2", "extended_l2=on,cluster_size=128k"),
        ("clusters-2m.qcow2", "cluster_size=2M"),
        ("clusters-512.qcow2", "cluster_size=512"),
        ("refcount-1.qcow2", "refcount_bits=1"),
        ("refcount-64.qcow2", "refcount_bits=64"),
        ("lazy.qcow2", "lazy_refcounts=on"),
        ("data-file.qcow2", "data_file=data-file.raw"),
    ] {
        images.overlay(name, "base.raw", "raw", options);
        images.assert_conforms(name);
    }
    // A raw external data file is a whole disk on its own: qemu-img allows no backing file.
    let raw_data = ["-o", "data_file=sub/data.raw,data_file_raw=on"];
    fs::create_dir_all(images.path().join("sub")).expect("a directory");
    images.create("qcow2", "data-file-raw.qcow2", &raw_data, Some("16M"));
    images.assert_conforms("data-file-raw.qcow2");

    images.overlay("bitmaps.qcow2", "base.raw", "raw", "");
    images.qemu_img(&["bitmap", "--add", "bitmaps.qcow2", "b0"]);
    images.qemu_img(&["bitmap", "--add", "--disable", "bitmaps.qcow2", "b1"]);
    images.assert_conforms("bitmaps.qcow2");

    images.overlay("snapshots.qcow2", "base.raw", "raw", "compat=0.10");
    images.qemu_img(&["snapshot", "-c", "first", "snapshots.qcow2"]);
    images.qemu_img(&["snapshot", "-c", "second", "snapshots.qcow2"]);
    images.assert_conforms("snapshots.qcow2");

    // The dirty bit (a crash with lazy refcounts) and the corrupt bit are set by QEMU while
    // it runs; set by hand here, as a crash leaves them.
    images.overlay("dirty.qcow2", "base.raw", "raw", "lazy_refcounts=on");
    images.set_bits("dirty.qcow2", 72, 1);
    images.assert_conforms("dirty.qcow2");
    images.overlay("corrupt.qcow2", "base.raw", "raw", "");
    images.set_bits("corrupt.qcow2", 72, 2);
    images.assert_conforms("corrupt.qcow2");
}

#[test]
fn encrypted_images() {
    let images = Images::new();
    images.create("raw", "base.raw", &[], Some("16M"));
    let secret = ["--object", "secret,id=key,data=hunter2"];
    let luks = [
        &secret[..],
        &[
            "-o",
            "encrypt.format=luks,encrypt.key-secret=key,encrypt.iter-time=10",
        ],
    ]
    .concat();
    images.create("qcow2", "luks.qcow2", &luks, Some("16M"));
    let on_base = [&luks[..], &["-b", "base.raw", "-F", "raw"]].concat();
    images.create("qcow2", "luks-overlay.qcow2", &on_base, None);
    let aes = [
        &secret[..],
        &["-o", "encrypt.format=aes,encrypt.key-secret=key"],
    ]
    .concat();
    images.create("qcow2", "aes.qcow2", &aes, Some("16M"));
    let volume = [&secret[..], &["-o", "key-secret=key,iter-time=10"]].concat();
    images.create("luks", "volume.luks", &volume, Some("16M"));
    for name in [
        "luks.qcow2",
        "luks-overlay.qcow2",
        "aes.qcow2",
        "volume.luks",
    ] {
        images.assert_conforms(name);
    }
}

#[test]
fn names_with_utf8_and_spaces() {
    let images = Images::new();
    images.create("raw", "bäse image ☁.raw", &[], Some("16M"));
    images.overlay("dïsk with spaces.qcow2", "bäse image ☁.raw", "raw", "");
    images.overlay(
        "ünïcode dir/top layer.qcow2",
        "../dïsk with spaces.qcow2",
        "qcow2",
        "",
    );
    images.assert_conforms("ünïcode dir/top layer.qcow2");
}

#[test]
fn other_formats() {
    let images = Images::new();
    images.create("raw", "base.raw", &[], Some("16M"));
    images.create("qed", "overlay.qed", &["-b", "base.raw", "-F", "raw"], None);
    images.create("qed", "plain.qed", &[], Some("16M"));
    images.create(
        "qcow",
        "overlay.qcow",
        &["-b", "base.raw", "-F", "raw"],
        None,
    );
    images.create("vmdk", "sparse.vmdk", &[], Some("16M"));
    images.create(
        "vmdk",
        "child.vmdk",
        &["-b", "sparse.vmdk", "-F", "vmdk"],
        None,
    );
    for subformat in [
        "monolithicFlat",
        "twoGbMaxExtentSparse",
        "twoGbMaxExtentFlat",
        "streamOptimized",
    ] {
        let name = format!("{subformat}.vmdk");
        let option = format!("subformat={subformat}");
        images.create("vmdk", &name, &["-o", &option], Some("3G"));
    }
    images.create("vpc", "dynamic.vhd", &[], Some("16M"));
    images.create("vpc", "fixed.vhd", &["-o", "subformat=fixed"], Some("16M"));
    images.create("vdi", "dynamic.vdi", &[], Some("16M"));
    // An ISO 9660 image (a primary volume descriptor at 32 KiB): raw to QEMU, and to inspect.
    let mut iso = vec![0u8; 40 << 10];
    iso[0x8000..0x8007].copy_from_slice(b"\x01CD001\x01");
    fs::write(images.path().join("cdrom.iso"), iso).expect("an ISO");
    images.create("vhdx", "dynamic.vhdx", &[], Some("16M"));
    images.create(
        "vhdx",
        "fixed.vhdx",
        &["-o", "subformat=fixed"],
        Some("16M"),
    );
    images.create("vhdx", "blocks.vhdx", &["-o", "block_size=32M"], Some("1G"));
    for name in [
        "overlay.qed",
        "plain.qed",
        "overlay.qcow",
        "sparse.vmdk",
        "child.vmdk",
        "monolithicFlat.vmdk",
        "twoGbMaxExtentSparse.vmdk",
        "twoGbMaxExtentFlat.vmdk",
        "streamOptimized.vmdk",
        "dynamic.vhd",
        "fixed.vhd",
        "dynamic.vdi",
        "cdrom.iso",
        "dynamic.vhdx",
        "fixed.vhdx",
        "blocks.vhdx",
    ] {
        images.assert_conforms(name);
    }
}

#[test]
fn what_qemu_img_refuses_inspect_refuses_in_one_line() {
    let images = Images::new();
    images.create("raw", "base.raw", &[], Some("16M"));
    images.overlay("ok.qcow2", "base.raw", "raw", "");
    let good = fs::read(images.path().join("ok.qcow2")).expect("the image");
    let broken = |name: &str, patch: &dyn Fn(&mut Vec<u8>)| {
        let mut bytes = good.clone();
        patch(&mut bytes);
        fs::write(images.path().join(name), bytes).expect("the image");
    };
    broken("unknown-feature.qcow2", &|b| b[72 + 7] |= 1 << 5);
    broken("cluster-bits.qcow2", &|b| {
        b[20..24].copy_from_slice(&22u32.to_be_bytes())
    });
    broken("version.qcow2", &|b| {
        b[4..8].copy_from_slice(&4u32.to_be_bytes())
    });
    broken("long-name.qcow2", &|b| {
        b[16..20].copy_from_slice(&1024u32.to_be_bytes())
    });
    broken("truncated.qcow2", &|b| b.truncate(60));
    // The table fields QEMU checks when it opens an image (it reads the tables later).
    let put_u32 =
        |b: &mut Vec<u8>, at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_be_bytes());
    let put_u64 =
        |b: &mut Vec<u8>, at: usize, v: u64| b[at..at + 8].copy_from_slice(&v.to_be_bytes());
    broken("l1-too-large.qcow2", &|b| put_u32(b, 36, 5 << 20));
    broken("l1-too-small.qcow2", &|b| put_u32(b, 36, 0));
    broken("l1-misaligned.qcow2", &|b| put_u64(b, 40, 0x30008));
    broken("refcounts-too-large.qcow2", &|b| put_u32(b, 56, 1 << 20));
    broken("refcounts-past-2-63.qcow2", &|b| put_u64(b, 48, 1 << 63));
    broken("snapshots-too-many.qcow2", &|b| put_u32(b, 60, 70_000));
    broken("snapshots-misaligned.qcow2", &|b| {
        put_u32(b, 60, 1);
        put_u64(b, 64, 12);
    });
    broken("too-big.qcow2", &|b| put_u64(b, 24, 1 << 62));
    for (name, reason) in [
        ("l1-too-large.qcow2", "too large"),
        ("l1-too-small.qcow2", "too small"),
        ("l1-misaligned.qcow2", "offset"),
        ("refcounts-too-large.qcow2", "too large"),
        ("refcounts-past-2-63.qcow2", "offset"),
        ("snapshots-too-many.qcow2", "too large"),
        ("snapshots-misaligned.qcow2", "offset"),
        ("too-big.qcow2", "too big"),
        ("unknown-feature.qcow2", "incompatible feature"),
        ("cluster-bits.qcow2", "cluster size"),
        ("version.qcow2", "version 4"),
        ("long-name.qcow2", "too long"),
        ("truncated.qcow2", "truncated"),
    ] {
        images.assert_both_refuse(name, name, reason);
    }

    // A missing backing file, and a loop: qemu-img refuses both with --backing-chain.
    images.create(
        "qcow2",
        "orphan.qcow2",
        &["-u", "-b", "gone.raw", "-F", "raw"],
        Some("1M"),
    );
    images.assert_both_refuse("orphan.qcow2", "gone.raw", "does not exist");
    images.create(
        "qcow2",
        "a.qcow2",
        &["-u", "-b", "b.qcow2", "-F", "qcow2"],
        Some("1M"),
    );
    images.create(
        "qcow2",
        "b.qcow2",
        &["-u", "-b", "a.qcow2", "-F", "qcow2"],
        Some("1M"),
    );
    images.assert_both_refuse("a.qcow2", "a.qcow2", "loop");
}
