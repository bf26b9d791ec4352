//! The behaviour an operator notices, on real hosts: which files stay on disk, their states and
//! reasons, and exit codes. Each test builds a host in a temporary directory (real qcow2 overlays,
//! some made by `qemu-img` itself, ages set with mtimes relative to [`NOW`], sidecars, junk, orphan
//! directories, shared-storage records) and runs the real command.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use cachectl_qcow2::{Qcow2Spec, create_image};
use serde_json::{Value, json};

use crate::support::*;

const GIB: u64 = 1 << 30;

const UUID_A: &str = "0c6b7a52-3b7e-4c9d-a2f1-5e6b7c8d9e01";
const UUID_B: &str = "1d7c8b63-4c8f-4dae-b3a2-6f7c8d9eaf02";
const UUID_C: &str = "2e8d9c74-5d9a-4ebf-84b3-7a8d9eafb003";
const UUID_D: &str = "3f9eaf85-6eab-4fc0-95c4-8b9eafbc0104";
const UUID_ORPHAN: &str = "4a0fb096-7fbc-40d1-a6d5-9cafbcd01205";

/// Writes an inventory of `records` and returns its path as an argument.
fn inventory(host: &Host, records: &[Value]) -> String {
    host.inventory(records).display().to_string()
}

/// A record on this host, whose directory is its uuid.
fn local(uuid: &str, n: u32, image: &str) -> Value {
    record(uuid, &format!("instance-{n:08x}"), HOST, image)
}

/// What Nova's own pass (modern `nova/virt/libvirt/imagecache.py`) keeps: every cache file of an
/// image the records use (`_find_base_file`: the original, `_sm`, `_<digits>`), the swap bases the
/// records name, and, for each directory a record claims, the backing file of its `disk` as
/// `qemu-img info --force-share` names it, matched by base name (`get_disk_backing_file`).
/// Everything else, once old enough, it removes.
fn nova_keeps(host: &Host, records: &[Value]) -> BTreeSet<String> {
    let names = host.cache_names();
    let mut keeps = BTreeSet::new();
    for record in records {
        for key in ["image_ref", "kernel_id", "ramdisk_id"] {
            let Some(id) = record[key].as_str() else {
                continue;
            };
            let fingerprint = fp(id);
            keeps.extend(
                names
                    .iter()
                    .filter(|name| match name.strip_prefix(fingerprint.as_str()) {
                        Some("" | "_sm") => true,
                        Some(rest) => rest.strip_prefix('_').is_some_and(|d| {
                            !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())
                        }),
                        None => false,
                    })
                    .cloned(),
            );
        }
        if let Some(mb) = record["swap_mb"].as_u64() {
            keeps.insert(format!("swap_{mb}"));
        }
        for key in ["name", "uuid"] {
            let dir = record[key].as_str().expect("a string");
            let disk = host.instances.join(dir).join("disk");
            if !disk.exists() {
                continue;
            }
            if let Some(backing) = qemu_img_info(&disk, false)["backing-filename"].as_str() {
                let name = Path::new(backing).file_name().expect("a file name");
                keeps.insert(name.to_string_lossy().into_owned());
            }
        }
    }
    keeps
}

/// The disks a JSON report says use `name`.
// 1. Every disk counts.

#[test]
fn every_disk_under_the_instances_path_keeps_its_base_file() {
    let host = Host::new();
    let image = "5f0b3c1e-6a57-4a8e-9d1b-2b6a1f0c9e11";
    let used = fp(image);
    let ephemeral = "ephemeral_20_0706d66".to_owned();
    let swap = "swap_1024".to_owned();
    // A second ephemeral disk: Nova's records name only the first.
    let eph1 = "ephemeral_10_0706d66".to_owned();
    let orphaned = fp("image-of-an-orphan");
    let chained = fp("image-two-levels-down");
    let relative = fp("image-named-relatively");
    let linked = fp("image-linked-as-a-disk");
    let unused = fp("image-nobody-uses");
    let unused_copy = format!("{}_10737418240", fp("image-nobody-uses"));
    for name in [
        &used,
        &ephemeral,
        &swap,
        &eph1,
        &orphaned,
        &chained,
        &relative,
        &linked,
        &unused,
        &unused_copy,
    ] {
        host.base_file(name, GIB, 3 * DAY);
    }

    // UUID_A: the root disk Nova sees, and three more disks it does not.
    host.qemu_img_overlay(&format!("{UUID_A}/disk"), &used);
    host.overlay(&format!("{UUID_A}/disk.local"), &ephemeral);
    host.overlay(&format!("{UUID_A}/disk.swap"), &swap);
    host.overlay(&format!("{UUID_A}/disk.eph1"), &eph1);
    host.file(&format!("{UUID_A}/console.log"), b"[    0.000000] Linux\n");
    host.file(&format!("{UUID_A}/libvirt.xml"), b"<domain type='kvm'/>\n");
    // A directory no record claims.
    host.qemu_img_overlay(&format!("{UUID_ORPHAN}/disk"), &orphaned);
    // disk -> an overlay elsewhere under the instances path -> the base file.
    let middle = host.overlay("snapshots/layer.qcow2", &chained);
    host.overlay_named(
        &format!("{UUID_B}/disk"),
        middle.as_os_str().as_encoded_bytes(),
        Some("qcow2"),
    );
    // A relative backing name, resolved against the overlay's directory as QEMU does.
    host.overlay_named(
        &format!("{UUID_C}/disk"),
        format!("../_base/{relative}").as_bytes(),
        Some("raw"),
    );
    // A disk that is a symlink to a cache file.
    host.symlink(&format!("{UUID_D}/disk"), &host.base.join(&linked));

    let records = [
        local(UUID_A, 1, image),
        local(UUID_B, 2, image),
        local(UUID_C, 3, image),
        local(UUID_D, 4, image),
    ];
    let nova = nova_keeps(&host, &records);
    let inventory = inventory(&host, &records);

    let run = host.run(&["clean", "--inventory", &inventory, "--format", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let report = run.json();

    let only_cachectl_keeps = [&ephemeral, &swap, &eph1, &orphaned, &chained, &linked];
    for name in only_cachectl_keeps {
        assert!(
            !nova.contains(name.as_str()),
            "Nova's rule alone would keep {name}: the scenario does not test anything"
        );
    }
    for name in only_cachectl_keeps.into_iter().chain([&used, &relative]) {
        assert_eq!(state_of(&report, name), "in_use", "{name}");
        assert!(host.has(name), "{name} was removed");
    }
    // Where Nova is right, cachectl does the same.
    assert!(nova.contains(&used) && nova.contains(&relative));
    assert!(!nova.contains(&unused) && !nova.contains(&unused_copy));
    assert_eq!(
        sorted_names_in(&report, "removed"),
        vec![unused.clone(), unused_copy.clone()]
    );
    assert!(!host.has(&unused) && !host.has(&unused_copy));

    // Each is kept by the disk that uses it, and says so.
    let a = |disk: &str| format!("{UUID_A}/{disk}");
    assert_eq!(disks_of(&report, &ephemeral), vec![a("disk.local")]);
    assert_eq!(disks_of(&report, &swap), vec![a("disk.swap")]);
    assert_eq!(disks_of(&report, &eph1), vec![a("disk.eph1")]);
    assert!(
        reason_of(&report, &eph1).contains(&format!("backing file of {UUID_A}/disk.eph1")),
        "{}",
        reason_of(&report, &eph1)
    );
    assert_eq!(
        disks_of(&report, &chained),
        vec![format!("{UUID_B}/disk"), "snapshots/layer.qcow2".to_owned()]
    );
    assert_eq!(disks_of(&report, &relative), vec![format!("{UUID_C}/disk")]);
    assert!(
        !reason_of(&report, &relative).contains("another path"),
        "a relative name resolved into the cache is the cache file itself: {}",
        reason_of(&report, &relative)
    );
    assert_eq!(disks_of(&report, &linked), vec![format!("{UUID_D}/disk")]);
    assert_eq!(
        report["orphan_dirs"],
        json!([{
            "name": UUID_ORPHAN,
            "path": host.instances.join(UUID_ORPHAN).display().to_string(),
            "keeps": [orphaned],
            "disks": [format!("{UUID_ORPHAN}/disk")],
        }])
    );

    // The next pass agrees: nothing more goes.
    let again = host.run(&["clean", "--inventory", &inventory, "--format", "json"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(names_in(&again.json(), "removed").is_empty());
}

#[test]
fn an_instance_directory_that_is_a_symlink_keeps_its_base_file_as_nova_does() {
    // Instances moved to another volume and linked back: Nova follows the link (`os.listdir`,
    // then `qemu-img info <dir>/disk`), and so must a pass that claims to see every disk.
    let host = Host::new();
    let image = "5f0b3c1e-6a57-4a8e-9d1b-2b6a1f0c9e11";
    let copy = format!("{}_10737418240", fp(image));
    host.base_file(&copy, GIB, 3 * DAY);
    let volume = host.root().join("volume2").join(UUID_A);
    fs::create_dir_all(&volume).expect("another volume");
    host.symlink(UUID_A, &volume);
    host.qemu_img_overlay(&format!("{UUID_A}/disk"), &copy);
    let records = [local(UUID_A, 1, image)];
    assert!(
        nova_keeps(&host, &records).contains(&copy),
        "Nova keeps the backing file of {UUID_A}/disk"
    );
    let inventory = inventory(&host, &records);

    let run = host.run(&["clean", "--inventory", &inventory, "--format", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let report = run.json();
    assert!(
        host.has(&copy),
        "the backing file of a running instance's disk was removed: {}",
        reason_of(&report, &copy)
    );
    assert_eq!(state_of(&report, &copy), "in_use");
    assert_eq!(disks_of(&report, &copy), vec![format!("{UUID_A}/disk")]);
}

// 2. Doubt keeps.

/// A qcow2 header QEMU would refuse: its backing name starts far past the end of the file.
fn backing_name_past_the_end() -> Vec<u8> {
    let spec = Qcow2Spec {
        backing_file: Some(b"/var/lib/nova/instances/_base/0123456789abcdef"),
        backing_format: Some("raw"),
        ..Qcow2Spec::new(GIB)
    };
    let mut bytes = create_image(&spec).expect("a qcow2 image");
    bytes[8..16].copy_from_slice(&(1u64 << 40).to_be_bytes());
    bytes
}

#[test]
fn an_unreadable_disk_stops_every_removal_until_the_operator_says_so() {
    let unreadable_disks: [(&str, Vec<u8>); 3] = [
        ("truncated", b"QFI\xfb\0\0\0\x03\0\0\0\0".to_vec()),
        ("backing name past the end", backing_name_past_the_end()),
        (
            "qcow2 magic then garbage",
            [b"QFI\xfb".as_slice(), &[0xa5; 508]].concat(),
        ),
    ];
    for (what, bytes) in unreadable_disks {
        let host = Host::new();
        let used = fp("image-in-use");
        let unused_original = fp("image-unused");
        let unused_copy = format!("{}_21474836480", fp("image-unused"));
        host.base_file(&used, GIB, 3 * DAY);
        host.base_file(&unused_original, GIB, 3 * DAY);
        host.base_file(&unused_copy, GIB, 3 * DAY);
        host.overlay(&format!("{UUID_A}/disk"), &used);
        let bad = format!("{UUID_B}/disk.local");
        host.file(&bad, &bytes);
        let before = host.cache_names();

        let run = host.run(&["clean", "--format", "json"]);
        assert_eq!(run.code, 4, "{what}: {}{}", run.stdout, run.stderr);
        assert_eq!(host.cache_names(), before, "{what}: something was removed");
        let report = run.json();
        let unreadable = warning(&report, "unreadable_file");
        assert!(
            unreadable.starts_with(&format!(
                "cannot read {bad} (a disk by Nova's name for one; nothing is removed while it cannot be read): "
            )),
            "{what}: {unreadable}"
        );
        assert!(warning(&report, "removal_blocked").contains("--ack-unreadable FILE"));
        for name in [&unused_original, &unused_copy] {
            assert_eq!(state_of(&report, name), "in_use", "{what}: {name}");
            assert!(
                reason_of(&report, name).contains("could not be read"),
                "{what}: {}",
                reason_of(&report, name)
            );
        }
        assert_eq!(report["summary"]["unreadable"], 1);

        // The text report says which file and what to do.
        let text = host.run(&["clean"]);
        assert_eq!(text.code, 4);
        assert!(
            text.stdout.contains(&format!("cannot read {bad}")),
            "{}",
            text.stdout
        );

        // The report gives the line that acknowledges the file as it is now.
        let meta = fs::metadata(host.instances.join(&bad)).expect("the bad disk");
        let ack = format!("{} {} {} {bad}", meta.ino(), meta.len(), meta.mtime());
        assert_eq!(report["unreadable_files"][0]["ack"], ack.as_str(), "{what}");
        assert!(
            text.stdout.contains(&format!("\n  {ack}\n")),
            "{}",
            text.stdout
        );

        // The all-or-nothing switch is gone, and says what replaced it.
        let run = host.run(&["clean", "--skip-unreadable"]);
        assert_eq!(run.code, 2, "{what}: {}", run.stderr);
        assert!(
            run.stderr.contains("--ack-unreadable FILE"),
            "{}",
            run.stderr
        );

        // An acknowledgement of the file as it was before a change does not count.
        let acks = host.root().join("acks");
        let stale = format!("{} {} {} {bad}", meta.ino(), meta.len(), meta.mtime() - 60);
        fs::write(&acks, format!("# looked at it\n{stale}\n")).expect("acks");
        let acks = acks.display().to_string();
        let run = host.run(&["clean", "--ack-unreadable", &acks, "--format", "json"]);
        assert_eq!(run.code, 4, "{what}: {}{}", run.stdout, run.stderr);
        assert_eq!(host.cache_names(), before, "{what}: something was removed");
        assert_eq!(
            run.json()["unreadable_files"][0]["outcome"],
            "blocks_changed_since_acknowledged"
        );

        // The operator has looked: the unused files go, the used one stays.
        fs::write(&acks, format!("# looked at it\n{ack}\n")).expect("acks");
        let run = host.run(&["clean", "--ack-unreadable", &acks, "--format", "json"]);
        assert_eq!(run.code, 0, "{what}: {}{}", run.stdout, run.stderr);
        let report = run.json();
        assert_eq!(
            sorted_names_in(&report, "removed"),
            vec![unused_original.clone(), unused_copy.clone()],
            "{what}"
        );
        assert!(warning_codes(&report).contains(&"unreadable_acknowledged".to_owned()));
        assert!(host.has(&used) && !host.has(&unused_original) && !host.has(&unused_copy));
    }
}

#[test]
fn fifos_directories_and_dangling_links_named_disk_do_not_block() {
    let host = Host::new();
    let unused = format!("{}_10737418240", fp("image-unused"));
    let used = fp("image-in-use");
    host.base_file(&unused, GIB, 2 * DAY);
    host.base_file(&used, GIB, 2 * DAY);
    host.fifo(&format!("{UUID_A}/disk"));
    fs::create_dir_all(host.instances.join(UUID_B).join("disk")).expect("a directory");
    // A disk removed between listing and reading looks like this to the scan.
    host.symlink(
        &format!("{UUID_C}/disk"),
        &host.instances.join(UUID_C).join("disk.vanished"),
    );
    host.overlay(&format!("{UUID_D}/disk"), &used);

    // `qemu-img info` hangs on a FIFO; cachectl must not.
    let run = host.run_with_timeout(20, &["clean", "--format", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let report = run.json();
    assert_eq!(report["summary"]["unreadable"], 0);
    assert_eq!(names_in(&report, "removed"), vec![unused.clone()]);
    assert!(!host.has(&unused) && host.has(&used));
}

// 3. Shared storage.

#[test]
fn records_count_only_for_hosts_registered_in_the_last_day_but_their_disks_always_count() {
    let host = Host::new();
    host.compute_nodes(&[("compute-2", 2 * HOUR), ("compute-9", 3 * DAY)]);
    let recent = "image-of-a-live-peer";
    let stale = "image-of-a-dead-peer";
    let stale_with_disk = "image-of-a-dead-peer-on-this-storage";
    for image in [recent, stale, stale_with_disk] {
        host.base_file(&fp(image), GIB, 3 * DAY);
    }
    host.overlay(&format!("{UUID_C}/disk"), &fp(stale_with_disk));
    let records = [
        record(UUID_A, "instance-0000a001", "compute-2", recent),
        record(UUID_B, "instance-0000b001", "compute-9", stale),
        record(UUID_C, "instance-0000b002", "compute-9", stale_with_disk),
    ];
    let inventory = inventory(&host, &records);

    let run = host.run(&["clean", "--inventory", &inventory, "--format", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let report = run.json();
    assert_eq!(report["storage_users"], json!(["compute-1", "compute-2"]));
    assert_eq!(state_of(&report, &fp(recent)), "in_use");
    assert!(
        reason_of(&report, &fp(recent)).contains("instance-0000a001@compute-2 on other hosts"),
        "{}",
        reason_of(&report, &fp(recent))
    );
    assert_eq!(state_of(&report, &fp(stale)), "removed");
    assert_eq!(state_of(&report, &fp(stale_with_disk)), "in_use");
    assert_eq!(
        disks_of(&report, &fp(stale_with_disk)),
        vec![format!("{UUID_C}/disk")]
    );
    assert!(host.has(&fp(recent)) && !host.has(&fp(stale)) && host.has(&fp(stale_with_disk)));
    let ignored = warning(&report, "records_ignored");
    assert!(ignored.contains("compute-9 (2 records)"), "{ignored}");

    // This host registered itself, atomically, without dropping the others, with a float as
    // Nova writes `time.time()`.
    let text = fs::read_to_string(host.instances.join("compute_nodes")).expect("compute_nodes");
    assert!(text.contains(&format!("\"compute-1\":{NOW}.0")), "{text}");
    let nodes: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(
        nodes,
        json!({
            "compute-1": NOW as f64,
            "compute-2": (NOW - 2 * HOUR) as f64,
            "compute-9": (NOW - 3 * DAY) as f64,
        })
    );
    assert_eq!(nodes["compute-1"].as_f64(), Some(NOW as f64));
    let leftovers: Vec<_> = fs::read_dir(&host.instances)
        .expect("the instances path")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("compute_nodes") && n != "compute_nodes")
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn a_malformed_compute_nodes_is_never_overwritten_and_makes_every_record_count() {
    let host = Host::new();
    let malformed = format!("{{\"compute-2\": {}.0, ", NOW - HOUR);
    fs::write(host.instances.join("compute_nodes"), &malformed).expect("compute_nodes");
    let stale = "image-of-a-host-nobody-knows";
    host.base_file(&fp(stale), GIB, 3 * DAY);
    let inventory = inventory(
        &host,
        &[record(UUID_B, "instance-0000b001", "compute-9", stale)],
    );

    let run = host.run(&["clean", "--inventory", &inventory, "--format", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let report = run.json();
    assert_eq!(
        fs::read_to_string(host.instances.join("compute_nodes")).expect("compute_nodes"),
        malformed
    );
    assert_eq!(state_of(&report, &fp(stale)), "in_use");
    assert!(host.has(&fp(stale)));
    assert_eq!(report["storage_users"], Value::Null);
    let codes = warning_codes(&report);
    for code in ["compute_nodes_malformed", "storage_users_unknown"] {
        assert!(codes.contains(&code.to_owned()), "{code} not in {codes:?}");
    }
    // One problem, said once: the malformed registry is why this host is not registered.
    assert!(!codes.contains(&"register_failed".to_owned()), "{codes:?}");
    assert!(warning(&report, "compute_nodes_malformed").contains("this host was not registered"));
    assert!(!codes.contains(&"records_ignored".to_owned()));
    assert!(
        warning(&report, "compute_nodes_malformed").contains("compute_nodes:1:"),
        "{}",
        warning(&report, "compute_nodes_malformed")
    );
}

// 4. Nova's locks.

#[test]
fn a_file_whose_nova_lock_another_process_holds_is_kept() {
    let host = Host::new();
    let locked = format!("{}_10737418240", fp("image-being-removed-by-nova"));
    let free = format!("{}_10737418240", fp("image-free"));
    let free_original = fp("image-free");
    for name in [&locked, &free, &free_original] {
        host.base_file(name, GIB, 3 * DAY);
    }
    host.base_file_with(
        &format!("{locked}.info"),
        br#"{"sha1": "0000000000000000000000000000000000000000", "sha1-timestamp": 1.0}"#,
        3 * DAY,
    );
    let lock_file = host.instances.join("locks").join(format!("nova-{locked}"));
    let holder = LockHolder::hold(&lock_file);

    // A read-only pass already says what a clean would keep, and creates no lock file.
    let audit = host.run(&["audit", "--format", "json"]).json();
    assert_eq!(state_of(&audit, &locked), "in_use");
    assert!(reason_of(&audit, &locked).contains("a clean now would keep it"));
    assert_eq!(state_of(&audit, &free), "removable");
    assert!(
        !host
            .instances
            .join("locks")
            .join(format!("nova-{free}"))
            .exists()
    );

    let run = host.run(&["clean", "--format", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let report = run.json();
    for name in [locked.clone(), format!("{locked}.info")] {
        assert_eq!(state_of(&report, &name), "in_use", "{name}");
        let reason = reason_of(&report, &name);
        assert!(
            reason.contains("another process holds its lock")
                && reason.contains(&lock_file.display().to_string()),
            "{reason}"
        );
        assert!(host.has(&name), "{name} removed under Nova's lock");
    }
    assert_eq!(
        sorted_names_in(&report, "removed"),
        sorted(vec![free.clone(), free_original.clone()])
    );
    assert!(!host.has(&free) && !host.has(&free_original));
    // Unlike Nova, cachectl leaves every lock file: a process may be waiting on one.
    assert!(
        host.instances
            .join("locks")
            .join(format!("nova-{free}"))
            .exists()
    );
    assert!(lock_file.exists());

    // Once Nova lets go, the next pass removes it.
    drop(holder);
    let run = host.run(&["clean", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        sorted_names_in(&run.json(), "removed"),
        sorted(vec![locked.clone(), format!("{locked}.info")])
    );
    assert!(!host.has(&locked));
}

fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names
}

#[test]
fn a_second_clean_on_the_same_storage_is_refused() {
    let host = Host::new();
    let unused = format!("{}_10737418240", fp("image-unused"));
    host.base_file(&unused, GIB, 3 * DAY);
    let _other_clean = LockHolder::hold(&host.instances.join("locks").join("cachectl-clean"));

    let run = host.run(&["clean"]);
    assert_eq!(run.code, 7, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr
            .starts_with("cachectl: error: another cachectl clean is running"),
        "{}",
        run.stderr
    );
    assert!(host.has(&unused));

    // Read-only passes do not need the pass lock.
    for args in [&["audit"][..], &["clean", "--dry-run"]] {
        let run = host.run(args);
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
    }
    assert!(host.has(&unused));
}

// 5. mtimes.

#[test]
fn clean_refreshes_the_mtime_of_files_in_use_only() {
    let host = Host::new();
    let image = "image-in-use-by-a-record";
    let by_record = host.base_file(&fp(image), GIB, 5 * HOUR);
    let copy = format!("{}_10737418240", fp(image));
    let by_disk = host.base_file(&copy, GIB, 2 * DAY);
    let young = host.base_file(&format!("{}_5368709120", fp("young")), GIB, 30 * 60);
    let old = format!("{}_5368709120", fp("old"));
    host.base_file(&old, GIB, 2 * DAY);
    host.overlay(&format!("{UUID_A}/disk"), &copy);
    let inventory = inventory(&host, &[local(UUID_A, 1, image)]);

    let run = host.run(&["clean", "--inventory", &inventory, "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(mtime(&by_record), NOW);
    assert_eq!(mtime(&by_disk), NOW);
    assert_eq!(
        mtime(&young),
        NOW - 30 * 60,
        "a too-young file is not touched"
    );
    assert!(!host.has(&old));
    let report = run.json();
    assert_eq!(state_of(&report, &fp(image)), "in_use");
    assert_eq!(state_of(&report, &copy), "in_use");

    // Files kept only because of doubt are not touched: they are not known to be in use.
    let doubted = host.base_file(&format!("{}_5368709120", fp("doubted")), GIB, 2 * DAY);
    host.file(&format!("{UUID_B}/disk"), b"QFI\xfb\0\0");
    let run = host.run(&["clean", "--inventory", &inventory]);
    assert_eq!(run.code, 4, "{}", run.stdout);
    assert!(doubted.exists());
    assert_eq!(mtime(&doubted), NOW - 2 * DAY);
}

/// A host with something of everything a pass decides about.
fn busy_host() -> (Host, String) {
    let host = Host::new();
    host.compute_nodes(&[(HOST, 10 * 60), ("compute-2", 15 * 60)]);
    let image = "5f0b3c1e-6a57-4a8e-9d1b-2b6a1f0c9e11";
    host.base_file(&fp(image), 2 * GIB, 5 * HOUR);
    host.base_file(&format!("{}_10737418240", fp(image)), GIB, 2 * HOUR);
    host.base_file(&fp("orphaned-original"), GIB, 3 * DAY);
    host.base_file(&fp("young-original"), GIB, 3 * HOUR);
    host.base_file(&format!("{}_5", fp("fedora")), GIB, 2 * HOUR);
    host.base_file(&format!("{}.part", fp("fedora")), GIB, 2 * HOUR);
    host.base_file("swap_512", GIB, 3 * DAY);
    host.base_file("README", 100, 40 * DAY);
    let data = host.base_file_with(&fp("kernel"), b"a kernel", 3 * DAY);
    fs::write(
        cachectl_sidecar::sha1_path(&data),
        cachectl_sidecar::hash_file(&data).expect("hashable"),
    )
    .expect("a sidecar");
    set_age(&cachectl_sidecar::sha1_path(&data), 3 * DAY);
    host.qemu_img_overlay(&format!("{UUID_A}/disk"), &fp(image));
    host.overlay(&format!("{UUID_A}/disk.swap"), "swap_512");
    host.overlay(&format!("{UUID_ORPHAN}/disk"), &fp("orphaned-original"));
    let mut with_kernel = local(UUID_A, 1, image);
    with_kernel["kernel_id"] = json!("kernel");
    let inventory = inventory(
        &host,
        &[
            with_kernel,
            record(UUID_B, "instance-0000b001", "compute-2", image),
        ],
    );
    (host, inventory)
}

#[test]
fn audit_and_dry_run_change_nothing_and_the_dry_run_is_exactly_what_clean_removes() {
    let (host, inventory) = busy_host();
    let before = host.listing();
    let commands: [&[&str]; 5] = [
        &["audit", "--inventory", &inventory],
        &["audit", "--inventory", &inventory, "--format", "json"],
        &["audit", "--inventory", &inventory, "--checksum"],
        &["clean", "--dry-run", "--inventory", &inventory],
        &[
            "clean",
            "--dry-run",
            "--inventory",
            &inventory,
            "--checksum",
        ],
    ];
    for args in commands {
        let run = host.run(args);
        assert_eq!(run.code, 0, "{args:?}: {}{}", run.stdout, run.stderr);
        assert_eq!(host.listing(), before, "{args:?} changed something on disk");
    }
    assert!(!host.instances.join("locks").exists());

    let dry_run = host.run(&[
        "clean",
        "--dry-run",
        "--inventory",
        &inventory,
        "--format",
        "json",
    ]);
    let plan = sorted_names_in(&dry_run.json(), "removable");
    assert!(plan.len() >= 3, "the scenario removes something: {plan:?}");
    assert!(dry_run.json()["dry_run"].as_bool().expect("a bool"));

    let run = host.run(&["clean", "--inventory", &inventory, "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    assert_eq!(sorted_names_in(&report, "removed"), plan);
    assert!(names_in(&report, "removable").is_empty());
    let mut left = host.cache_names();
    left.extend(plan.iter().cloned());
    left.sort();
    let listed: Vec<String> = before
        .iter()
        .filter_map(|(path, ..)| path.strip_prefix("instances/_base/"))
        .map(str::to_owned)
        .collect();
    assert_eq!(left, listed, "clean removed exactly the plan");
}

// 6. Checksums.

/// An `.info` sidecar for `image` with `sha1`, written `age` seconds before [`NOW`].
fn write_info(image: &Path, sha1: &str, age: i64) {
    let json = json!({"sha1": sha1, "sha1-timestamp": (NOW - age) as f64});
    fs::write(cachectl_sidecar::info_path(image), json.to_string()).expect("an .info sidecar");
}

fn sha1_of(path: &Path) -> String {
    cachectl_sidecar::hash_file(path).expect("hashable")
}

/// An image file with contents, used by a record (so it is kept and hashed).
fn image_with(host: &Host, image: &str, contents: &[u8]) -> std::path::PathBuf {
    host.base_file_with(&fp(image), contents, 3 * DAY)
}

#[test]
fn audit_checksum_reports_what_it_finds_and_never_writes_a_sidecar() {
    let host = Host::new();
    let valid = image_with(&host, "valid", b"valid image bytes");
    write_info(&valid, &sha1_of(&valid), 2 * DAY);
    let corrupt = image_with(&host, "corrupt", b"bits flipped on disk");
    fs::write(
        cachectl_sidecar::sha1_path(&corrupt),
        "da39a3ee5e6b4b0d3255bfef95601890afd80709\n",
    )
    .expect("a sidecar");
    image_with(&host, "missing", b"never hashed");
    let inventory = inventory(
        &host,
        &[
            local(UUID_A, 1, "valid"),
            local(UUID_B, 2, "corrupt"),
            local(UUID_C, 3, "missing"),
        ],
    );
    let before = host.listing();

    let run = host.run(&[
        "audit",
        "--checksum",
        "--inventory",
        &inventory,
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 5, "{}{}", run.stdout, run.stderr);
    let report = run.json();
    let checksum = |image: &str| file_entry(&report, &fp(image))["checksum"].clone();
    assert_eq!(
        [checksum("valid"), checksum("corrupt"), checksum("missing")],
        [json!("valid"), json!("corrupt"), json!("missing")]
    );
    assert_eq!(report["summary"]["corrupt"], 1);
    let corrupt_warning = warning(&report, "corrupt_base_file");
    assert!(
        corrupt_warning.contains("image verification failed")
            && corrupt_warning.contains(&corrupt.display().to_string()),
        "{corrupt_warning}"
    );
    assert_eq!(host.listing(), before, "audit wrote something");
}

#[test]
fn clean_checksum_writes_missing_sidecars_and_migrates_legacy_ones() {
    let host = Host::new();
    let bare = image_with(&host, "bare", b"an image without a sidecar");
    let legacy = image_with(&host, "legacy", b"an image with an Essex sidecar");
    let digest = sha1_of(&legacy);
    fs::write(cachectl_sidecar::sha1_path(&legacy), format!("{digest}\n")).expect("a sidecar");
    let unused = format!("{}_10737418240", fp("unused"));
    host.base_file(&unused, GIB, 2 * DAY);
    let inventory = inventory(
        &host,
        &[local(UUID_A, 1, "bare"), local(UUID_B, 2, "legacy")],
    );

    let run = host.run(&[
        "clean",
        "--checksum",
        "--inventory",
        &inventory,
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let report = run.json();
    assert_eq!(file_entry(&report, &fp("bare"))["checksum"], "written");
    assert_eq!(file_entry(&report, &fp("legacy"))["checksum"], "valid");
    let info = |image: &Path| -> Value {
        serde_json::from_str(
            &fs::read_to_string(cachectl_sidecar::info_path(image)).expect("an .info sidecar"),
        )
        .expect("JSON")
    };
    assert_eq!(
        info(&bare),
        json!({"sha1": sha1_of(&bare), "sha1-timestamp": NOW as f64})
    );
    assert_eq!(info(&legacy)["sha1"], json!(digest));
    assert!(
        !cachectl_sidecar::sha1_path(&legacy).exists(),
        "the .sha1 is migrated into the .info"
    );
    assert!(!host.has(&unused) && !host.has(&format!("{unused}.info")));
}

#[test]
fn clean_checksum_rehashes_only_after_the_interval_and_keeps_a_corrupt_file_in_use() {
    let host = Host::new();
    let image = image_with(&host, "rotting", b"the bytes as they were written");
    let written = sha1_of(&image);
    write_info(&image, &written, 10 * 60);
    fs::write(&image, b"the bytes as they are now, rotten").expect("rot");
    set_age(&image, 3 * DAY);
    let inventory = inventory(&host, &[local(UUID_A, 1, "rotting")]);
    let clean = || {
        host.run(&[
            "clean",
            "--checksum",
            "--inventory",
            &inventory,
            "--format",
            "json",
        ])
    };

    // Hashed ten minutes ago: not again before the hour is up, so the rot goes unseen.
    let run = clean();
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let report = run.json();
    assert_eq!(
        file_entry(&report, &fp("rotting"))["checksum"],
        "not_checked"
    );
    assert!(
        reason_of(&report, &fp("rotting")).contains("not re-hashed"),
        "{}",
        reason_of(&report, &fp("rotting"))
    );

    // The interval has passed: the mismatch is found, loudly, and the file in use is kept.
    write_info(&image, &written, 2 * HOUR);
    let run = clean();
    assert_eq!(run.code, 5, "{}{}", run.stdout, run.stderr);
    let report = run.json();
    assert_eq!(file_entry(&report, &fp("rotting"))["checksum"], "corrupt");
    assert_eq!(state_of(&report, &fp("rotting")), "in_use");
    assert_eq!(report["summary"]["corrupt"], 1);
    assert!(image.exists());

    // `verify` always hashes, and says so with its exit code.
    let verify = host.run(&["verify", "--format", "json"]);
    assert_eq!(verify.code, 5, "{}{}", verify.stdout, verify.stderr);
    assert_eq!(verify.json()["files"][0]["checksum"], "corrupt");
    assert_eq!(verify.json()["summary"]["corrupt"], 1);
}

// 7. Inventory.

#[test]
fn the_inventory_can_come_from_standard_input() {
    let host = Host::new();
    host.base_file(&fp("image-1"), GIB, 3 * DAY);
    host.base_file(&fp("image-2"), GIB, 3 * DAY);
    let records = json!({"instances": [local(UUID_A, 1, "image-1")]}).to_string();

    let run = host.run_with_stdin(
        &["clean", "--inventory", "-", "--format", "json"],
        Some(&records),
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let report = run.json();
    assert_eq!(state_of(&report, &fp("image-1")), "in_use");
    assert_eq!(
        file_entry(&report, &fp("image-1"))["used_by"]["instances"],
        json!(["instance-00000001"])
    );
    assert_eq!(state_of(&report, &fp("image-2")), "removed");
    assert!(host.has(&fp("image-1")) && !host.has(&fp("image-2")));
}

#[test]
fn a_malformed_inventory_is_a_one_line_error_and_removes_nothing() {
    let host = Host::new();
    host.base_file(&fp("image-1"), GIB, 3 * DAY);
    let path = host.root().join("inventory.json");
    fs::write(
        &path,
        "{\"instances\": [\n  {\"uuid\": \"u1\", \"name\": \"instance-1\", \"host\": \"compute-1\"},\n  {\"uuid\": \"u2\", \"name\": \"instance-2\", \"host\": 42}\n]}\n",
    )
    .expect("an inventory");
    let before = host.listing();
    for command in ["audit", "clean"] {
        let run = host.run(&[command, "--inventory", path.to_str().expect("UTF-8")]);
        assert_eq!(run.code, 3, "{command}: {}{}", run.stdout, run.stderr);
        assert!(run.stdout.is_empty(), "{}", run.stdout);
        assert_eq!(
            run.stderr,
            format!(
                "cachectl: error: {}:3:49: invalid type: integer `42`, expected a string\n",
                path.display()
            )
        );
        assert_eq!(host.listing(), before, "{command} changed something");
    }
}

#[test]
fn resize_states_claim_the_resize_directories() {
    let host = Host::new();
    let image = "image-1";
    host.base_file(&fp(image), GIB, 3 * DAY);
    let mut migrating = local(UUID_A, 1, image);
    migrating["task_state"] = json!("resize_migrating");
    let mut resized = local(UUID_B, 2, image);
    resized["vm_state"] = json!("resized");
    let mut active = local(UUID_C, 3, image);
    active["vm_state"] = json!("active");
    for dir in [
        format!("{UUID_A}_resize"),
        "instance-00000001_resize".to_owned(),
        format!("{UUID_B}_resize"),
        format!("{UUID_C}_resize"),
        "instance-0000dead".to_owned(),
    ] {
        host.overlay(&format!("{dir}/disk"), &fp(image));
    }
    let inventory = inventory(&host, &[migrating, resized, active]);

    let report = host
        .run(&["audit", "--inventory", &inventory, "--format", "json"])
        .json();
    let orphans: Vec<&str> = report["orphan_dirs"]
        .as_array()
        .expect("orphans")
        .iter()
        .filter_map(|o| o["name"].as_str())
        .collect();
    assert_eq!(
        orphans,
        vec![format!("{UUID_C}_resize").as_str(), "instance-0000dead"]
    );
}

#[test]
fn kernel_and_ramdisk_images_of_records_are_kept() {
    let host = Host::new();
    for image in ["ami-1", "aki-1", "ari-1", "aki-unused"] {
        host.base_file(&fp(image), 16 << 20, 3 * DAY);
    }
    let mut with_kernel = local(UUID_A, 1, "ami-1");
    with_kernel["kernel_id"] = json!("aki-1");
    with_kernel["ramdisk_id"] = json!("ari-1");
    let inventory = inventory(&host, &[with_kernel]);

    let run = host.run(&["clean", "--inventory", &inventory, "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    for image in ["ami-1", "aki-1", "ari-1"] {
        assert_eq!(state_of(&report, &fp(image)), "in_use", "{image}");
        assert!(
            reason_of(&report, &fp(image)).contains(&format!(
                "image {image} is used by instance-00000001 on this host"
            )),
            "{}",
            reason_of(&report, &fp(image))
        );
        assert!(host.has(&fp(image)));
    }
    assert!(!host.has(&fp("aki-unused")));
}

// 8. Leftovers.

#[test]
fn stale_leftovers_and_copies_nova_never_cleans_go_after_an_hour() {
    let host = Host::new();
    let used = fp("image-in-use");
    host.base_file(&used, GIB, 3 * HOUR);
    host.overlay(&format!("{UUID_A}/disk"), &used);
    let stale = [
        format!("{}.part", fp("stalled-download")),
        format!("{}.converted", fp("stalled-conversion")),
        format!("{}_5", fp("essex-gb-copy")),
        format!("{}.info", fp("image-long-gone")),
        // A download of an image already in the cache that never finished.
        format!("{used}.part"),
    ];
    for name in &stale {
        host.base_file(name, 300 << 20, HOUR + 60);
    }
    let fresh_part = format!("{}.part", fp("downloading-now"));
    host.base_file(&fresh_part, 300 << 20, 10 * 60);
    let fresh_info = format!("{}.info", fp("just-removed"));
    host.base_file(&fresh_info, 60, 10 * 60);

    let run = host.run(&["clean", "--format", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let report = run.json();
    assert_eq!(sorted_names_in(&report, "removed"), sorted(stale.to_vec()));
    for name in &stale {
        assert!(!host.has(name), "{name}");
    }
    assert_eq!(
        sorted_names_in(&report, "too_young"),
        sorted(vec![fresh_part.clone(), fresh_info.clone()])
    );
    assert!(host.has(&fresh_part) && host.has(&fresh_info) && host.has(&used));
    assert!(
        reason_of(&report, &fresh_part).starts_with("left by an interrupted download of"),
        "{}",
        reason_of(&report, &fresh_part)
    );
}

#[test]
fn a_stale_download_cut_short_in_its_header_is_removed_and_blocks_nothing() {
    // A download of a qcow2 image that died in its first bytes: nothing can be backed by an
    // interrupted download, so its unreadable header is no reason for doubt.
    let host = Host::new();
    let part = format!("{}.part", fp("image-whose-download-died"));
    host.base_file_with(&part, b"QFI\xfb\0\0\0\x03\0\0", 3 * DAY);
    let unused = fp("image-unused");
    host.base_file(&unused, GIB, 3 * DAY);

    let run = host.run(&["clean", "--format", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        sorted_names_in(&run.json(), "removed"),
        sorted(vec![part.clone(), unused.clone()])
    );
    assert!(!host.has(&part) && !host.has(&unused));
}

#[test]
fn a_leftover_in_another_hosts_cache_directory_blocks_nothing() {
    // Some hosts keep their caches as `_base_<ip>` on the shared storage; a download that died
    // there is no disk either.
    let host = Host::new();
    let other_cache = host.instances.join("_base_10.0.0.2");
    fs::create_dir_all(&other_cache).expect("another host's cache");
    let mut truncated = b"QFI\xfb\0\0\0\x03".to_vec();
    truncated.resize(20, 0);
    fs::write(
        other_cache.join(format!("{}.part", fp("elsewhere"))),
        truncated,
    )
    .expect("a leftover");
    let unused = fp("image-unused");
    host.base_file(&unused, GIB, 3 * DAY);

    let run = host.run(&["clean", "--format", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        sorted_names_in(&run.json(), "removed"),
        vec![unused.clone()]
    );
}

#[test]
fn an_empty_compute_nodes_counts_every_record_and_is_rewritten_by_clean() {
    // What Nova's in-place rewrite leaves after a crash: nothing to lose, everything to doubt.
    let host = Host::new();
    fs::write(host.instances.join("compute_nodes"), "").expect("compute_nodes");
    let peer_image = "image-of-a-peer";
    host.base_file(&fp(peer_image), GIB, 3 * DAY);
    let inventory = inventory(
        &host,
        &[record(UUID_B, "instance-0000b001", "compute-2", peer_image)],
    );

    let audit = host
        .run(&["audit", "--inventory", &inventory, "--format", "json"])
        .json();
    assert_eq!(state_of(&audit, &fp(peer_image)), "in_use");
    assert!(warning_codes(&audit).contains(&"compute_nodes_empty".to_owned()));

    let run = host.run(&["clean", "--inventory", &inventory, "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(host.has(&fp(peer_image)));
    let registry: Value = serde_json::from_str(
        &fs::read_to_string(host.instances.join("compute_nodes")).expect("compute_nodes"),
    )
    .expect("JSON");
    assert_eq!(registry, json!({ HOST: NOW as f64 }));
}

// 10. Snapshots of the reports on one realistic host.

/// A host like a real one: originals in use by records here and on a peer, resized copies,
/// swap and ephemeral bases only overlays use, a legacy small copy, an `_5` copy, stale and fresh
/// downloads, checksum sidecars (valid, orphan), junk, an orphan directory, and a peer host.
fn realistic_host() -> (Host, String) {
    let host = Host::new();
    host.compute_nodes(&[
        (HOST, 10 * 60),
        ("compute-2", 15 * 60),
        ("compute-9", 4 * DAY),
    ]);
    let ubuntu = "5f0b3c1e-6a57-4a8e-9d1b-2b6a1f0c9e11";
    let cirros = "b2173dd3-7ad6-4362-baa6-a68bce3565cb";
    let centos = "0e3f8b91-2c4d-4f4a-8e6b-7d9a1c2b3e4f";
    let windows = "a4c2e6f8-1b3d-4e5f-8a9b-c0d1e2f3a4b5";
    let debian = "d3b1a5c7-9e2f-4a6b-8c0d-1e2f3a4b5c6d";
    let fedora = "f6e5d4c3-b2a1-4098-8765-4321fedcba98";
    let retired = "7c6b5a49-3827-4160-9f8e-7d6c5b4a3928";
    let kernel = "aki-7d5e3c1a";

    host.base_file(&fp(ubuntu), 2 * GIB + (316 << 20), 5 * HOUR);
    let kernel_file = host.base_file_with(&fp(kernel), &b"\x7fELF kernel\n".repeat(512), 2 * DAY);
    write_info(&kernel_file, &sha1_of(&kernel_file), 2 * DAY);
    set_age(&cachectl_sidecar::info_path(&kernel_file), 2 * DAY);
    host.base_file(&fp(cirros), 112 << 20, 3 * DAY);
    host.base_file(&format!("{}_10737418240", fp(cirros)), 10 * GIB, 3 * DAY);
    host.base_file(&format!("{}_sm", fp(centos)), 900 << 20, 9 * DAY);
    host.base_file(&fp(windows), 14 * GIB, 30 * HOUR);
    host.base_file(&fp(debian), 2 * GIB, 4 * DAY);
    host.base_file(&format!("{}_5", fp(fedora)), 5 * GIB, 9 * DAY);
    host.base_file(&format!("{}.part", fp(fedora)), 300 << 20, 6 * HOUR);
    host.base_file(&format!("{}.part", fp(centos)), 40 << 20, 5 * 60);
    host.base_file_with(
        &format!("{}.info", fp("image-removed-last-week")),
        br#"{"sha1": "da39a3ee5e6b4b0d3255bfef95601890afd80709", "sha1-timestamp": 1799000000.0}"#,
        7 * DAY,
    );
    host.base_file(&fp(retired), GIB, 5 * DAY);
    host.base_file(&fp("image-uploaded-this-morning"), GIB, 2 * HOUR);
    host.base_file("swap_512", 512 << 20, 4 * DAY);
    host.base_file("ephemeral_20_0706d66", 20 * GIB, 2 * DAY);
    host.base_file("ephemeral_40_0706d66", 40 * GIB, 3 * DAY);
    host.base_file("README", 1_200, 40 * DAY);

    let web1 = "8d1f6a52-3b7e-4c9d-a2f1-5e6b7c8d9e01";
    let web2 = "8d1f6a52-3b7e-4c9d-a2f1-5e6b7c8d9e02";
    let db1 = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f";
    let peer1 = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a";
    let gone = "6e5d4c3b-2a19-4807-b6a5-948372615a4b";
    host.qemu_img_overlay(&format!("{web1}/disk"), &fp(ubuntu));
    host.qemu_img_overlay(&format!("{web2}/disk"), &fp(ubuntu));
    host.overlay(
        &format!("{db1}/disk"),
        &format!("{}_10737418240", fp(cirros)),
    );
    host.overlay(&format!("{db1}/disk.swap"), "swap_512");
    host.overlay(&format!("{db1}/disk.local"), "ephemeral_20_0706d66");
    host.overlay(&format!("{peer1}/disk"), &fp(windows));
    host.overlay(&format!("{UUID_ORPHAN}/disk"), &fp(debian));
    for dir in [web1, web2, db1, peer1, UUID_ORPHAN] {
        host.file(&format!("{dir}/console.log"), b"[    0.000000] Linux\n");
    }

    let mut records = vec![
        record(web1, "instance-0000a001", HOST, ubuntu),
        record(web2, "instance-0000a002", HOST, ubuntu),
        record(db1, "instance-0000a003", HOST, cirros),
        record(peer1, "instance-0000b001", "compute-2", windows),
        record(gone, "instance-0000c001", "compute-9", retired),
    ];
    records[0]["kernel_id"] = json!(kernel);
    records[2]["swap_mb"] = json!(512);
    records[2]["ephemeral_gb"] = json!(20);
    records[2]["os_type"] = json!("linux");
    let inventory = inventory(&host, &records);
    (host, inventory)
}

/// The host's filters, plus one for allocated sizes, which depend on the filesystem.
fn report_filters(host: &Host) -> Vec<(String, &'static str)> {
    let mut filters = host.filters();
    filters.push((
        r#""(allocated_bytes\w*)": \d+"#.to_owned(),
        r#""$1": "[ALLOCATED]""#,
    ));
    filters
}

#[test]
fn snapshot_of_a_realistic_host() {
    let (host, inventory) = realistic_host();
    let filters = report_filters(&host);
    let filters: Vec<(&str, &str)> = filters.iter().map(|(r, s)| (r.as_str(), *s)).collect();

    let audit = host.run(&["audit", "--inventory", &inventory, "--checksum"]);
    assert_eq!(audit.code, 0, "{}", audit.stderr);
    let json = host.run(&["audit", "--inventory", &inventory, "--format", "json"]);
    assert_eq!(json.code, 0, "{}", json.stderr);
    let clean = host.run(&["clean", "--inventory", &inventory]);
    assert_eq!(clean.code, 0, "{}", clean.stderr);
    insta::with_settings!({filters => filters}, {
        insta::assert_snapshot!("realistic_host_audit", audit.stdout);
        insta::assert_snapshot!("realistic_host_audit_json", json.stdout);
        insta::assert_snapshot!("realistic_host_clean", clean.stdout);
    });
}

// 11. Found in review: ways a used base file could have gone, or a pass hung.

#[test]
fn a_base_file_with_a_second_hard_linked_name_is_kept_under_every_name() {
    let host = Host::new();
    let used = fp("image-deduplicated");
    let path = host.base_file(&used, GIB, 3 * DAY);
    // A deduplication tool gave the file a second name.
    fs::hard_link(&path, host.base.join("zz-golden.img")).expect("a hard link");
    let other = format!("{}_10737418240", fp("image-deduplicated"));
    fs::hard_link(&path, host.base.join(&other)).expect("a hard link");
    host.overlay(&format!("{UUID_A}/disk"), &used);

    let run = host.run(&["clean", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    assert_eq!(state_of(&report, &used), "in_use");
    assert_eq!(state_of(&report, &other), "in_use");
    assert!(host.has(&used) && host.has(&other));
}

#[test]
fn a_disk_deeper_than_the_walk_goes_is_doubt_not_nothing() {
    let host = Host::new();
    let used = fp("image-deep");
    host.base_file(&used, GIB, 3 * DAY);
    host.overlay(&format!("{UUID_A}/b/c/d/e/f/g/h/i/disk"), &used);

    let run = host.run(&["clean", "--format", "json"]);
    assert_eq!(run.code, 4, "{}", run.stdout);
    assert!(host.has(&used));
    assert!(warning(&run.json(), "unreadable_file").contains("deeper than 8 levels"));
}

#[test]
fn a_fifo_named_like_a_sidecar_does_not_hang_a_checksum_pass() {
    let host = Host::new();
    let used = fp("image-with-a-fifo-sidecar");
    host.base_file(&used, 1 << 20, 3 * DAY);
    host.overlay(&format!("{UUID_A}/disk"), &used);
    host.fifo(&format!("_base/{used}.info"));

    for args in [["audit", "--checksum"], ["clean", "--checksum"]] {
        let run = host.run_with_timeout(20, &args);
        assert_ne!(run.code, 124, "{args:?} hung");
        assert!(run.stdout.contains("not a regular file"), "{}", run.stdout);
    }
    assert!(host.has(&used));
}

#[test]
fn no_sidecar_is_written_for_a_file_whose_nova_lock_is_held() {
    // Nova holds the lock while it creates a base: a digest of half a file would call it corrupt.
    let host = Host::new();
    host.base_file("swap_512", 512 << 20, 10 * 60);
    host.overlay(&format!("{UUID_A}/disk.swap"), "swap_512");
    let holder = LockHolder::hold(&host.instances.join("locks/nova-swap_512"));

    let report = host
        .run(&["clean", "--checksum", "--format", "json"])
        .json();
    assert_eq!(file_entry(&report, "swap_512")["checksum"], "not_checked");
    assert!(reason_of(&report, "swap_512").contains("holds its lock"));
    assert!(!host.has("swap_512.info"));

    drop(holder);
    let report = host
        .run(&["clean", "--checksum", "--format", "json"])
        .json();
    assert_eq!(file_entry(&report, "swap_512")["checksum"], "written");
    assert!(host.has("swap_512.info"));
}

#[test]
fn a_relative_file_protocol_name_is_doubt() {
    // QEMU resolves `file:rel` against its own working directory, which cachectl cannot know.
    let host = Host::new();
    let unused = fp("image-unused");
    host.base_file(&unused, GIB, 3 * DAY);
    host.overlay_named(&format!("{UUID_A}/disk"), b"file:somewhere/base", None);

    let run = host.run(&["clean", "--format", "json"]);
    assert_eq!(run.code, 4, "{}", run.stdout);
    assert!(host.has(&unused));
    assert!(warning(&run.json(), "unreadable_file").contains("file:somewhere/base"));
}

#[test]
fn a_base_dir_name_that_is_not_one_name_is_a_usage_error() {
    let host = Host::new();
    for name in ["_base/", "./_base", ".."] {
        let run = host.run(&["--base-dir-name", name, "audit"]);
        assert_eq!(run.code, 2, "{name}: {}", run.stderr);
        assert!(
            run.stderr.contains("is not a directory name"),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn a_raw_disk_as_nova_declares_it_is_never_probed_so_a_tenant_cannot_block_cleaning() {
    // A tenant writes what looks like a broken qcow2 header at the start of its raw disk.
    let host = Host::new();
    let unused = fp("image-unused");
    host.base_file(&unused, GIB, 3 * DAY);
    let linked = fp("image-linked");
    host.base_file(&linked, GIB, 3 * DAY);
    host.file(&format!("{UUID_A}/disk"), b"QFI\xfb\0\0\0\x03 guest data");
    host.symlink(&format!("{UUID_A}/disk.config"), &host.base.join(&linked));
    // As Nova writes it: absolute paths as the writing host saw them.
    let disk_info = json!({
        "/var/lib/nova/instances/0c6b7a52-3b7e-4c9d-a2f1-5e6b7c8d9e01/disk": "raw",
        "/var/lib/nova/instances/0c6b7a52-3b7e-4c9d-a2f1-5e6b7c8d9e01/disk.config": "raw",
    });
    host.file(
        &format!("{UUID_A}/disk.info"),
        disk_info.to_string().as_bytes(),
    );

    let run = host.run(&["clean", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let report = run.json();
    assert_eq!(sorted_names_in(&report, "removed"), vec![unused.clone()]);
    // A raw disk that is a link to a cache file still uses it.
    assert_eq!(state_of(&report, &linked), "in_use");

    // Without disk.info, the same bytes are doubt.
    fs::remove_file(host.instances.join(format!("{UUID_A}/disk.info"))).expect("removed");
    host.base_file(&unused, GIB, 3 * DAY);
    assert_eq!(host.run(&["clean"]).code, 4);
    assert!(host.has(&unused));
}

#[test]
fn qed_and_vmdk_overlays_keep_their_bases_and_vmdk_extents_count() {
    let host = Host::new();
    let qemu_img = |args: &[&str]| {
        let status = std::process::Command::new("qemu-img")
            .args(args)
            .status()
            .expect("qemu-img");
        assert!(status.success(), "qemu-img {args:?}");
    };
    // A QED overlay on a raw base.
    let qed_base = fp("image-under-qed");
    let qed_base_path = host.base_file(&qed_base, GIB, 3 * DAY);
    let qed_disk = host.instances.join(format!("{UUID_A}/disk"));
    fs::create_dir_all(qed_disk.parent().expect("a parent")).expect("a directory");
    qemu_img(&[
        "create",
        "-q",
        "-f",
        "qed",
        "-F",
        "raw",
        "-b",
        qed_base_path.to_str().expect("UTF-8"),
        qed_disk.to_str().expect("UTF-8"),
        "1G",
    ]);
    // A VMDK overlay on a VMDK base in the cache.
    let vmdk_base = fp("image-vmdk");
    let vmdk_base_path = host.base.join(&vmdk_base);
    qemu_img(&[
        "create",
        "-q",
        "-f",
        "vmdk",
        vmdk_base_path.to_str().expect("UTF-8"),
        "64M",
    ]);
    set_age(&vmdk_base_path, 3 * DAY);
    let vmdk_disk = host.instances.join(format!("{UUID_B}/disk"));
    fs::create_dir_all(vmdk_disk.parent().expect("a parent")).expect("a directory");
    qemu_img(&[
        "create",
        "-q",
        "-f",
        "vmdk",
        "-F",
        "vmdk",
        "-b",
        vmdk_base_path.to_str().expect("UTF-8"),
        vmdk_disk.to_str().expect("UTF-8"),
    ]);
    // A VMDK descriptor whose flat extent lies in the cache.
    let extent = fp("image-flat-extent");
    let extent_path = host.base_file(&extent, 64 << 20, 3 * DAY);
    host.file(
        &format!("{UUID_C}/disk"),
        format!(
            "# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType=\"monolithicFlat\"\n\nRW 131072 FLAT \"{}\" 0\n",
            extent_path.display()
        )
        .as_bytes(),
    );
    let unused = fp("image-unused");
    host.base_file(&unused, GIB, 3 * DAY);

    let run = host.run(&["clean", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let report = run.json();
    assert_eq!(sorted_names_in(&report, "removed"), vec![unused]);
    for kept in [&qed_base, &vmdk_base, &extent] {
        assert_eq!(state_of(&report, kept), "in_use", "{kept}");
        assert!(host.has(kept));
    }
}

#[test]
fn space_pressure_removes_the_longest_unused_young_files_and_never_one_in_use() {
    let host = Host::new();
    let used = fp("image-in-use");
    let (older, younger) = (fp("unused-3h"), fp("unused-1h"));
    // Real bytes (not sparse): what they free on disk is what they hold.
    host.base_file_with(&used, &[1u8; 1 << 20], 2 * HOUR);
    host.base_file_with(&older, &[2u8; 1 << 20], 3 * HOUR);
    host.base_file_with(&younger, &[3u8; 1 << 20], HOUR);
    host.overlay("0c6b7a52-3b7e-4c9d-a2f1-5e6b7c8d9e01/disk", &used);

    // Without pressure all three stay: none is a day unused.
    let run = host.run(&["audit", "--format", "json"]);
    assert_eq!(names_in(&run.json(), "removable"), Vec::<String>::new());

    // A cache of at most 2.5 MiB: the longest unused goes, and only it.
    let run = host.run(&["audit", "--max-cache-size", "2.5MiB", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    assert_eq!(names_in(&report, "removable"), std::slice::from_ref(&older));
    assert!(
        reason_of(&report, &older).starts_with("space: unused for 3h (less than 1d)"),
        "{}",
        reason_of(&report, &older)
    );
    let fs = &report["filesystem"];
    assert_eq!(fs["max_cache_bytes"], 5 << 19);
    assert!(fs["size_bytes"].as_u64().expect("a size") > 0);
    assert!(
        fs["avail_bytes_after"].as_u64() >= fs["avail_bytes_before"].as_u64(),
        "{fs}"
    );

    // All the free space there is: every unused file goes, the one in use stays.
    let run = host.run(&["clean", "--min-free", "100%", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    assert_eq!(
        sorted_names_in(&report, "removed"),
        sorted(vec![older.clone(), younger.clone()])
    );
    assert!(host.has(&used) && !host.has(&older) && !host.has(&younger));
    let text = host.run(&["audit", "--min-free", "100%"]).stdout;
    assert!(text.contains("file system: "), "{text}");
    assert!(text.contains("(asked: "), "{text}");

    // Sizes that are none are usage errors.
    let run = host.run(&["clean", "--min-free", "lots"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("is not a size"), "{}", run.stderr);
}

#[test]
fn pinned_images_stay_whatever_their_age_and_the_space_asked() {
    let host = Host::new();
    let (golden, ci, other) = ("golden-image", "ci-image", "other-image");
    host.base_file(&fp(golden), 1 << 20, 30 * DAY);
    host.base_file(&format!("{}_sm", fp(golden)), 1 << 20, 30 * DAY);
    host.base_file(&fp(ci), 1 << 20, 30 * DAY);
    host.base_file(&fp(other), 1 << 20, 30 * DAY);
    let pins = host.file(
        "pins.txt",
        b"# kept for the CI\n  ci-image   # the runner's\n\n",
    );
    let pins = pins.display().to_string();

    let run = host.run(&[
        "clean",
        "--keep",
        golden,
        "--keep-file",
        &pins,
        "--min-free",
        "100%",
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    assert_eq!(
        sorted_names_in(&report, "pinned"),
        sorted(vec![fp(golden), format!("{}_sm", fp(golden)), fp(ci)])
    );
    assert_eq!(names_in(&report, "removed"), [fp(other)]);
    assert_eq!(report["summary"]["pinned"], 3);
    assert_eq!(
        reason_of(&report, &fp(golden)),
        "pinned: image golden-image is kept by --keep"
    );
    assert!(host.has(&fp(golden)) && host.has(&fp(ci)) && !host.has(&fp(other)));
    let text = host
        .run(&["audit", "--keep", golden, "--keep-file", &pins])
        .stdout;
    assert!(text.contains("3 pinned"), "{text}");

    // A pin file that is not one id a line says where.
    let bad = host.file("bad-pins.txt", b"ci-image\ntwo ids\n");
    let run = host.run(&["audit", "--keep-file", &bad.display().to_string()]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("bad-pins.txt:2: two ids is not one image id"),
        "{}",
        run.stderr
    );
    let run = host.run(&["audit", "--keep", ""]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let run = host.run(&["audit", "--keep", "a#b"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    // A pin that names no image in the cache (here: a file name) keeps nothing, and says so.
    let run = host.run(&["audit", "--keep", &fp(other), "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        warning_codes(&run.json()).contains(&"pinned_image_absent".to_owned()),
        "{}",
        run.stdout
    );
}

#[test]
fn max_remove_caps_a_run_and_leaves_the_rest_for_the_next() {
    let host = Host::new();
    let names: Vec<String> = (1..=3).map(|n| fp(&format!("old-{n}"))).collect();
    for (n, name) in names.iter().enumerate() {
        host.base_file(name, 1 << 20, (5 - n as i64) * DAY);
    }
    let run = host.run(&["clean", "--max-remove", "2", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    // The longest unused go first; the youngest waits.
    assert_eq!(
        sorted_names_in(&report, "removed"),
        sorted(names[..2].to_vec())
    );
    assert_eq!(
        names_in(&report, "deferred"),
        std::slice::from_ref(&names[2])
    );
    assert_eq!(report["summary"]["deferred"], 1);
    assert!(
        reason_of(&report, &names[2])
            .starts_with("left for the next run: this one removes at most 2 files"),
        "{}",
        reason_of(&report, &names[2])
    );
    let run = host.run(&["clean", "--max-remove", "1M"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(host.cache_names().is_empty(), "{:?}", host.cache_names());
    let run = host.run(&["clean", "--max-remove", "10%"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
}

#[test]
fn a_capped_clean_never_removes_the_base_of_a_cache_file_it_keeps() {
    // A resized copy in the cache is a qcow2 overlay on the original: with one removal allowed,
    // the original (the oldest) must not go while the copy stays.
    let host = Host::new();
    let original = fp("image");
    let resized = format!("{original}_5368709120");
    host.base_file(&original, 1 << 20, 30 * DAY);
    let copy = host.qemu_img_overlay(&format!("_base/{resized}"), &original);
    set_age(&copy, 10 * DAY);
    let other = fp("other-image");
    host.base_file(&other, 1 << 20, 20 * DAY);

    let run = host.run(&["clean", "--max-remove", "1", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    assert_eq!(names_in(&report, "removed"), std::slice::from_ref(&other));
    assert_eq!(state_of(&report, &resized), "deferred");
    assert_eq!(state_of(&report, &original), "in_use");
    assert!(host.has(&original));
    let info = qemu_img_info(&copy, true);
    assert!(
        info.is_array(),
        "the copy still opens with its chain: {info}"
    );

    // The next run takes the copy; the original, in use (and touched) while the copy stayed,
    // is unused only since then, and waits its day.
    let run = host.run(&["clean", "--max-remove", "1", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!host.has(&resized) && host.has(&original));
    assert_eq!(state_of(&run.json(), &original), "too_young");
}
