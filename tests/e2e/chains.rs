//! The audit reads the whole chain of every disk: a base file deep in a chain made by
//! `qemu-img`, one named only as an external data file, one reached through a `json:` name,
//! keep their files; a chain that breaks anywhere (a loop, a bad header in the middle, a chain
//! deeper than the walk goes) is doubt, which keeps everything.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::*;

const GIB: u64 = 1 << 30;
const UUID_A: &str = "0c6b7a52-3b7e-4c9d-a2f1-5e6b7c8d9e01";
const UUID_B: &str = "1d7c8b63-4c8f-4dae-b3a2-6f7c8d9eaf02";
const UUID_C: &str = "2e8d9c74-5d9a-4ebf-84b3-7a8d9eafb003";

/// `qemu-img create -q -f qcow2 <args> <path> [size]`, making the directory first.
fn qemu_img_create(path: &Path, args: &[&str], size: Option<&str>) -> PathBuf {
    fs::create_dir_all(path.parent().expect("a parent")).expect("a directory");
    let output = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .args(args)
        .arg(path)
        .args(size)
        .output()
        .expect("qemu-img (Debian package qemu-utils) is installed");
    assert!(
        output.status.success(),
        "qemu-img create {}: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    path.to_path_buf()
}

fn utf8(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

#[test]
fn a_base_deep_in_a_chain_or_named_as_a_data_file_is_in_use() {
    let host = Host::new();
    let deep = fp("image-five-layers-down");
    let data = fp("image-used-as-a-data-file");
    let via_json = fp("image-named-in-json");
    let unused = fp("image-nobody-uses");
    for name in [&deep, &via_json, &unused] {
        host.base_file(name, GIB, 3 * DAY);
    }

    // disk -> 4 layers in a volume directory outside the instances path -> the base file:
    // only the chain reaches it.
    let volumes = host.root().join("volumes");
    let mut below = host.base.join(&deep);
    let mut format = "raw";
    for layer in 1..=4 {
        let path = volumes.join(format!("layer-{layer}.qcow2"));
        qemu_img_create(&path, &["-F", format, "-b", utf8(&below)], None);
        below = path;
        format = "qcow2";
    }
    qemu_img_create(
        &host.instances.join(format!("{UUID_A}/disk")),
        &["-F", "qcow2", "-b", utf8(&below)],
        None,
    );

    // A disk whose guest data lives in a cache file (an external data file, raw).
    let option = format!(
        "data_file={},data_file_raw=on",
        host.base.join(&data).display()
    );
    qemu_img_create(
        &host.instances.join(format!("{UUID_B}/disk")),
        &["-o", &option],
        Some("1G"),
    );
    set_age(&host.base.join(&data), 3 * DAY);

    // A backing name in QEMU's json: syntax whose only file is a plain file name.
    let json_name = format!(
        r#"json:{{"driver":"raw","file":{{"driver":"file","filename":"{}"}}}}"#,
        host.base.join(&via_json).display()
    );
    host.overlay_named(&format!("{UUID_C}/disk"), json_name.as_bytes(), Some("raw"));

    let run = host.run(&["clean", "--format", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let report = run.json();
    for name in [&deep, &data, &via_json] {
        assert_eq!(state_of(&report, name), "in_use", "{name}");
        assert!(host.has(name), "{name} was removed");
    }
    assert_eq!(sorted_names_in(&report, "removed"), vec![unused.clone()]);

    // Each says which disk keeps it, and how.
    assert_eq!(disks_of(&report, &deep), vec![format!("{UUID_A}/disk")]);
    let reason = reason_of(&report, &deep);
    assert!(
        reason.contains(&format!("backing file of {UUID_A}/disk")),
        "{reason}"
    );
    assert_eq!(disks_of(&report, &data), vec![format!("{UUID_B}/disk")]);
    let reason = reason_of(&report, &data);
    assert!(reason.contains("data file"), "{reason}");
    assert_eq!(disks_of(&report, &via_json), vec![format!("{UUID_C}/disk")]);
}

#[test]
fn a_chain_broken_anywhere_keeps_everything() {
    /// How the chain below a disk breaks.
    enum Break {
        /// The second layer's header is garbage.
        BadMiddle,
        /// The layers name each other.
        Loop,
        /// More layers than the walk follows (256).
        TooDeep,
        /// The middle layer is a FIFO.
        Fifo,
    }
    for (what, how) in [
        ("a bad header in the middle", Break::BadMiddle),
        ("a loop", Break::Loop),
        ("a chain 300 deep", Break::TooDeep),
        ("a FIFO in the middle", Break::Fifo),
    ] {
        let host = Host::new();
        let used = fp("image-in-use");
        let unused = fp("image-nobody-uses");
        host.base_file(&used, GIB, 3 * DAY);
        host.base_file(&unused, GIB, 3 * DAY);
        host.overlay(&format!("{UUID_A}/disk"), &used);

        let volumes = host.root().join("volumes");
        fs::create_dir_all(&volumes).expect("a directory");
        let first = volumes.join("layer-0.qcow2");
        let overlay_on = |path: &Path, backing: &Path| {
            let spec = cachectl_qcow2::Qcow2Spec {
                backing_file: Some(backing.as_os_str().as_encoded_bytes()),
                backing_format: Some("qcow2"),
                ..cachectl_qcow2::Qcow2Spec::new(GIB)
            };
            let image = cachectl_qcow2::create_image(&spec).expect("an image");
            fs::write(path, image).expect("a layer");
        };
        match how {
            Break::BadMiddle => {
                let middle = volumes.join("layer-1.qcow2");
                overlay_on(&first, &middle);
                fs::write(
                    &middle,
                    [b"QFI\xfb\0\0\0\x03".as_slice(), &[0xff; 200]].concat(),
                )
                .expect("a bad layer");
            }
            Break::Loop => {
                let second = volumes.join("layer-1.qcow2");
                overlay_on(&first, &second);
                overlay_on(&second, &first);
            }
            Break::TooDeep => {
                overlay_on(&first, &volumes.join("layer-1.qcow2"));
                for i in 1..300 {
                    let next = volumes.join(format!("layer-{}.qcow2", i + 1));
                    overlay_on(&volumes.join(format!("layer-{i}.qcow2")), &next);
                }
                fs::copy(host.base.join(&used), volumes.join("layer-300.qcow2"))
                    .expect("the last layer");
            }
            Break::Fifo => {
                let middle = volumes.join("layer-1.qcow2");
                overlay_on(&first, &middle);
                let mode = rustix::fs::Mode::from_raw_mode(0o600);
                rustix::fs::mkfifoat(rustix::fs::CWD, &middle, mode).expect("a FIFO");
            }
        }
        host.overlay_named(
            &format!("{UUID_B}/disk"),
            first.as_os_str().as_encoded_bytes(),
            Some("qcow2"),
        );

        let run = host.run_with_timeout(60, &["clean", "--format", "json"]);
        assert_eq!(run.code, 4, "{what}: {}{}", run.stdout, run.stderr);
        assert!(
            host.has(&used) && host.has(&unused),
            "{what}: a file was removed"
        );
        let report = run.json();
        assert_eq!(state_of(&report, &unused), "in_use", "{what}");
        let warning = warning(&report, "unreadable_file");
        assert!(
            warning.contains(&format!("{UUID_B}/disk")),
            "{what}: the warning does not name the disk: {warning}"
        );
    }
}
