//! Nova's original unit tests of the image cache manager (2012, `nova/tests/test_imagecache.py`,
//! two versions in `shared/seeds/`), ported case by case, each named after its seed test. Where
//! the two versions differ, one test runs both. The mocks of the originals become real files,
//! real qcow2 overlays and the real command.

use std::ffi::OsStr;
use std::fs;

use cachectl::{ChecksumMode, ChecksumState, check};
use cachectl::{RemoveOutcome, remove_base_file};
use cachectl_naming::{EntryKind, fingerprint};
use cachectl_policy::{Facts, Instance, State, UnixTime, files_for_fingerprint, image_usage, plan};
use cachectl_sidecar::{info_path, read_stored_checksum, sha1_path};
use serde_json::json;

use crate::support::*;

const E972: &str = "e97222e91fc4241f49a7f520d1dcf446751129b3";
const E09C: &str = "e09c675c2d1cfac32dae3c2d83689c8c94bc693b";
const F17D1: &str = "17d1b00b81642842e514494a78e804e9a511637c";
const F968: &str = "968dd6cc49e01aaa044ed11c0cce733e0fa44a6a";
const HASHED_1: &str = "356a192b7913b04c54574d18c28d46e6395428ab";
const HASHED_42: &str = "92cfceb39d57d914ed8b14d0e37643de0797ae56";

/// The instance directories of the seeds' `stock_instance_names` (name -> uuid).
const STOCK_INSTANCE_NAMES: [(&str, &str); 4] = [
    ("instance-00000001", "123"),
    ("instance-00000002", "456"),
    ("instance-00000003", "789"),
    ("banana-42-hamster", "444"),
];

fn stock_inventory(host: &Host) -> String {
    let records: Vec<_> = STOCK_INSTANCE_NAMES
        .iter()
        .map(|(name, uuid)| record(uuid, name, HOST, "an-image-not-cached"))
        .collect();
    host.inventory(&records).display().to_string()
}

#[test]
fn test_read_stored_checksum_missing() {
    let host = Host::new();
    let stored = read_stored_checksum(&open_dir(host.root()), OsStr::new("foo"))
        .expect("no sidecar is no error");
    assert_eq!(stored, None);
}

#[test]
fn test_read_stored_checksum() {
    let host = Host::new();
    let fname = host.root().join("aaa");
    let csum_input = "fdghkfhkgjjksfdgjksjkghsdf";
    fs::write(sha1_path(&fname), format!("{csum_input}\n")).expect("a sidecar");
    let stored = read_stored_checksum(&open_dir(host.root()), OsStr::new("aaa"))
        .expect("readable")
        .expect("a checksum");
    assert_eq!(stored.sha1, csum_input);
}

#[test]
fn test_list_base_images() {
    // The newer seed lists a `.sha1` sidecar among the images; Nova had to skip it by hand.
    let listing = [
        "00000001",
        "ephemeral_0_20_None",
        "e97222e91fc4241f49a7f520d1dcf446751129b3_sm",
        "e09c675c2d1cfac32dae3c2d83689c8c94bc693b_sm",
        "e97222e91fc4241f49a7f520d1dcf446751129b3",
        "17d1b00b81642842e514494a78e804e9a511637c",
        "17d1b00b81642842e514494a78e804e9a511637c_5368709120",
        "17d1b00b81642842e514494a78e804e9a511637c_10737418240",
        "00000004",
    ];
    for with_sidecar in [false, true] {
        let host = Host::new();
        for name in listing {
            host.base_file(name, 4, 0);
        }
        if with_sidecar {
            host.base_file_with(&format!("{F17D1}_5368709120.sha1"), b"abc", 0);
        }
        let report = host.run(&["audit", "--format", "json"]).json();
        let files = report["files"].as_array().expect("files");
        let images: Vec<&serde_json::Value> = files
            .iter()
            .filter(|f| !matches!(f["kind"].as_str(), Some("foreign" | "sidecar")))
            .collect();
        assert_eq!(
            images.len(),
            6,
            "images considered, with_sidecar={with_sidecar}"
        );
        let considered = |name: &str| images.iter().any(|f| f["name"] == name);
        assert!(considered(E972));
        assert!(considered(&format!("{F17D1}_10737418240")));
        assert!(!considered("00000004"));
        assert_eq!(state_of(&report, "00000004"), "ignored");
        let base = host.base.display().to_string();
        assert!(
            files
                .iter()
                .all(|f| f["path"].as_str().is_some_and(|p| p.starts_with(&base)))
        );

        let originals: Vec<&str> = images
            .iter()
            .filter(|f| f["kind"] == "original")
            .filter_map(|f| f["name"].as_str())
            .collect();
        assert_eq!(originals.len(), 2);
        assert!(originals.contains(&F17D1));
        assert!(!originals.contains(&format!("{F17D1}_10737418240").as_str()));
    }
}

#[test]
fn test_list_running_instances() {
    for (first, second) in [("1", "2"), ("image-1", "image-2")] {
        let records = [
            Instance {
                image_ref: Some(first.into()),
                host: HOST.into(),
                name: "inst-1".into(),
                uuid: "123".into(),
                ..Default::default()
            },
            Instance {
                image_ref: Some(second.into()),
                host: HOST.into(),
                name: "inst-2".into(),
                uuid: "456".into(),
                ..Default::default()
            },
            Instance {
                image_ref: Some(second.into()),
                host: "remotehost".into(),
                name: "inst-3".into(),
                uuid: "789".into(),
                ..Default::default()
            },
        ];
        let used_images = image_usage(&records, HOST);
        assert_eq!(used_images.len(), 2);
        let names = |id: &str| -> Vec<String> {
            used_images[id]
                .instances
                .iter()
                .map(|(name, _)| (*name).to_owned())
                .collect()
        };
        assert_eq!(
            (
                used_images[first].local,
                used_images[first].remote,
                names(first)
            ),
            (1, 0, vec!["inst-1".to_owned()])
        );
        assert_eq!(
            (
                used_images[second].local,
                used_images[second].remote,
                names(second)
            ),
            (1, 1, vec!["inst-2".to_owned(), "inst-3".to_owned()])
        );
        assert_eq!(used_images[first].popularity(), 1);
        assert_eq!(used_images[second].popularity(), 2);
    }
}

/// The seeds' `_list_backing_images` cases: disks of known instance directories backed by a
/// cache file keep it in use, even though no record names its image.
fn check_list_backing_images(dirs: &[&str], backing: &str) {
    let host = Host::new();
    host.base_file(backing, 1 << 20, 30 * DAY);
    for dir in dirs {
        host.overlay(&format!("{dir}/disk"), backing);
    }
    let inventory = stock_inventory(&host);
    let report = host
        .run(&["audit", "--inventory", &inventory, "--format", "json"])
        .json();
    let entry = file_entry(&report, backing);
    assert_eq!(entry["state"], "in_use", "{entry}");
    let disks: Vec<String> = dirs.iter().map(|d| format!("{d}/disk")).collect();
    assert_eq!(entry["used_by"]["disks"], json!(disks));
    assert!(
        entry["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("backing file of ")),
        "{entry}"
    );
    assert!(names_in(&report, "removable").is_empty());
}

#[test]
fn test_list_backing_images_small() {
    check_list_backing_images(
        &[
            "instance-00000001",
            "instance-00000002",
            "instance-00000003",
        ],
        &format!("{E972}_sm"),
    );
}

#[test]
fn test_list_backing_images_resized() {
    check_list_backing_images(
        &[
            "instance-00000001",
            "instance-00000002",
            "instance-00000003",
        ],
        &format!("{E972}_10737418240"),
    );
}

#[test]
fn test_list_backing_images_instancename() {
    check_list_backing_images(&["banana-42-hamster"], &format!("{E972}_sm"));
}

/// `_find_base_file` over a real directory listing.
fn find_base_file(present: &[String], fp: &str) -> Vec<(String, EntryKind)> {
    let host = Host::new();
    for name in present {
        host.base_file(name, 1, 0);
    }
    let names = host.cache_names();
    files_for_fingerprint(names.iter().map(String::as_str), fp)
        .into_iter()
        .map(|(n, k)| (n.to_owned(), k))
        .collect()
}

#[test]
fn test_find_base_file_nothing() {
    assert_eq!(find_base_file(&[], "549867354867"), vec![]);
}

#[test]
fn test_find_base_file_small() {
    let small = format!("{F968}_sm");
    assert_eq!(
        find_base_file(std::slice::from_ref(&small), F968),
        vec![(small, EntryKind::LegacySmall)]
    );
}

#[test]
fn test_find_base_file_resized() {
    let resized = format!("{F968}_10737418240");
    let listing = [
        "00000001".to_owned(),
        "ephemeral_0_20_None".to_owned(),
        resized.clone(),
        "00000004".to_owned(),
    ];
    assert_eq!(
        find_base_file(&listing, F968),
        vec![(resized, EntryKind::Resized)]
    );
}

#[test]
fn test_find_base_file_all() {
    let listing = [
        "00000001".to_owned(),
        "ephemeral_0_20_None".to_owned(),
        format!("{F968}_sm"),
        format!("{F968}_10737418240"),
        "00000004".to_owned(),
        F968.to_owned(),
    ];
    assert_eq!(
        find_base_file(&listing, F968),
        vec![
            (F968.to_owned(), EntryKind::Original),
            (format!("{F968}_sm"), EntryKind::LegacySmall),
            (format!("{F968}_10737418240"), EntryKind::Resized),
        ]
    );
}

#[test]
fn test_verify_checksum() {
    let host = Host::new();
    let testdata = b"OpenStack Software delivers a massively scalable cloud operating system.";
    let fname = host.base_file_with("aaa", testdata, 0);
    let fname_arg = fname.display().to_string();
    let verify = || host.run(&["verify", "--format", "json", &fname_arg]);

    // Checksum is valid.
    let digest = cachectl_sidecar::hash_file(&fname).expect("hashable");
    fs::write(sha1_path(&fname), &digest).expect("sidecar");
    let run = verify();
    assert_eq!(
        (run.code, run.json()["files"][0]["checksum"].clone()),
        (0, json!("valid")),
        "{}",
        run.stderr
    );
    // Verifying wrote the legacy digest into an .info sidecar, which replaces the .sha1.
    assert!(!sha1_path(&fname).exists() && info_path(&fname).exists());

    // Checksum is invalid.
    fs::remove_file(info_path(&fname)).expect("removed");
    fs::write(sha1_path(&fname), "banana").expect("sidecar");
    let run = verify();
    assert_eq!(
        (run.code, run.json()["files"][0]["checksum"].clone()),
        (5, json!("corrupt"))
    );
    assert!(
        run.stdout.contains("image verification failed"),
        "{}",
        run.stdout
    );

    // Checksum file missing: verifying it has the side effect of writing one.
    fs::remove_file(sha1_path(&fname)).expect("removed");
    assert!(
        !info_path(&fname).exists(),
        "a mismatch is reported, never overwritten"
    );
    let run = verify();
    assert_eq!(
        (run.code, run.json()["files"][0]["checksum"].clone()),
        (0, json!("written"))
    );
    let stored = read_stored_checksum(&open_dir(&host.base), name_of(&fname))
        .expect("readable")
        .expect("a checksum was written");
    assert_eq!(stored.sha1, digest);
}

/// The seeds' `_make_base_file`: a base file holding `data`, with its `.sha1` sidecar.
fn make_base_file(host: &Host, name: &str) -> std::path::PathBuf {
    let fname = host.base_file_with(name, b"data", 0);
    fs::write(
        sha1_path(&fname),
        cachectl_sidecar::hash_file(&fname).expect("hashable"),
    )
    .expect("sidecar");
    fname
}

#[test]
fn test_remove_base_file() {
    let host = Host::new();
    let name = format!("{E972}_10737418240");
    let fname = make_base_file(&host, &name);
    let sidecar = format!("{name}.sha1");

    // Files are initially too new to delete.
    host.run(&["clean"]);
    assert!(host.has(&name) && host.has(&sidecar));

    // Old files get cleaned up though.
    set_age(&fname, 3601);
    let run = host.run(&["clean"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        !host.has(&name) && !host.has(&sidecar),
        "{:?}",
        host.cache_names()
    );
}

#[test]
fn test_remove_base_file_original() {
    let host = Host::new();
    let fname = make_base_file(&host, E972);
    let sidecar = format!("{E972}.sha1");

    // Files are initially too new to delete.
    host.run(&["clean"]);
    assert!(host.has(E972) && host.has(&sidecar));

    // This file should stay longer than a resized image.
    set_age(&fname, 3601);
    host.run(&["clean"]);
    assert!(host.has(E972) && host.has(&sidecar));

    // Originals don't stay forever though.
    set_age(&fname, 3600 * 25);
    host.run(&["clean"]);
    assert!(
        !host.has(E972) && !host.has(&sidecar),
        "{:?}",
        host.cache_names()
    );
}

#[test]
fn test_remove_base_file_dne() {
    let host = Host::new();
    assert_eq!(
        remove_base_file(&open_dir(&host.base), OsStr::new("aaa")),
        RemoveOutcome::AlreadyGone
    );
}

#[test]
fn test_remove_base_file_oserror() {
    let host = Host::new();
    let fname = host.base.join(E972);
    fs::create_dir(&fname).expect("a directory named like a base file");
    set_age(&fname, 3601);

    // Removing a directory as a file fails: the failure is reported, the pass goes on.
    match remove_base_file(&open_dir(&host.base), name_of(&fname)) {
        RemoveOutcome::Failed(message) => {
            assert!(message.starts_with("failed to remove"), "{message}")
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    assert!(fname.exists());

    // And a pass never tries: it is not a regular file, so it is left alone.
    let report = host.run(&["clean", "--format", "json"]).json();
    assert_eq!(state_of(&report, E972), "ignored");
    assert!(fname.exists());
}

/// The seeds' `_handle_base_image` cases on `name`, a base file of image `123`, an hour old.
fn handle_base_image(
    name: &str,
    records: &[serde_json::Value],
    file: Option<&[u8]>,
    args: &[&str],
) -> (Host, Run) {
    let host = Host::new();
    if let Some(contents) = file {
        let fname = make_base_file(&host, name);
        fs::write(&fname, contents).expect("contents");
        set_age(&fname, 3601);
    }
    host.compute_nodes(&[(HOST, 60), ("remotehost", 60)]);
    let inventory = host.inventory(records).display().to_string();
    let mut all = vec!["audit", "--inventory", &inventory, "--format", "json"];
    all.extend_from_slice(args);
    let run = host.run(&all);
    (host, run)
}

#[test]
fn test_handle_base_image_unused() {
    // An unused copy, old enough for the one-hour rule.
    let name = format!("{}_10737418240", fingerprint("123"));
    let (_host, run) = handle_base_image(&name, &[], Some(b"data"), &[]);
    let report = run.json();
    assert_eq!(
        names_in(&report, "removable"),
        vec![name.clone(), format!("{name}.sha1")]
    );
    assert_eq!(report["summary"]["corrupt"], 0);
}

#[test]
fn test_handle_base_image_used() {
    let name = fingerprint("123").to_string();
    let (_host, run) = handle_base_image(
        &name,
        &[record("u1", "banana-42", HOST, "123")],
        Some(b"data"),
        &["--checksum"],
    );
    let report = run.json();
    assert_eq!(state_of(&report, &name), "in_use");
    assert_eq!(file_entry(&report, &name)["checksum"], "valid");
    assert!(names_in(&report, "removable").is_empty());
    assert_eq!(
        (run.code, report["summary"]["corrupt"].clone()),
        (0, json!(0))
    );
}

#[test]
fn test_handle_base_image_used_remotely() {
    let name = fingerprint("123").to_string();
    let (_host, run) = handle_base_image(
        &name,
        &[record("u1", "banana-42", "remotehost", "123")],
        None,
        &[],
    );
    let report = run.json();
    assert!(names_in(&report, "removable").is_empty());
    assert_eq!(report["summary"]["corrupt"], 0);
    assert!(!run.stdout.contains("absent base file"), "{}", run.stdout);
}

#[test]
fn test_handle_base_image_absent() {
    let name = fingerprint("123").to_string();
    let (_host, run) =
        handle_base_image(&name, &[record("u1", "banana-42", HOST, "123")], None, &[]);
    let report = run.json();
    assert!(names_in(&report, "removable").is_empty());
    assert_eq!(report["summary"]["corrupt"], 0);
    let warnings = report["warnings"].to_string();
    assert!(warnings.contains("an absent base file"), "{warnings}");
}

#[test]
fn test_handle_base_image_used_missing() {
    // The file is listed by the scan, then vanishes before it is handled.
    let host = Host::new();
    let name = fingerprint("123").to_string();
    let fname = make_base_file(&host, &name);
    let config = cachectl::ScanConfig {
        instances_path: host.instances.clone(),
        base_dir_name: "_base".into(),
    };
    let base = open_dir(&host.base);
    let scan = cachectl::scan(&config, &base).expect("a scan");
    fs::remove_file(&fname).expect("removed");

    let facts = Facts {
        now: UnixTime(NOW),
        files: scan.files.iter().map(|f| f.fact.clone()).collect(),
        instances: Some(vec![Instance {
            uuid: "u1".into(),
            name: "banana-42".into(),
            host: HOST.into(),
            image_ref: Some("123".into()),
            ..Default::default()
        }]),
        ..Facts::new(HOST)
    };
    let decided = plan(&facts);
    let state_of = |name: &str| {
        decided
            .files
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.state)
    };
    assert_eq!(state_of(&name), Some(State::InUse));
    assert!(decided.files.iter().all(|f| f.state != State::Remove));
    let outcome = check(
        &base,
        name_of(&fname),
        ChecksumMode::Clean { interval: 3600 },
        UnixTime(NOW),
        None,
    );
    assert_ne!(outcome.state, ChecksumState::Corrupt);
    assert_eq!(
        remove_base_file(&base, name_of(&fname)),
        RemoveOutcome::AlreadyGone
    );
}

#[test]
fn test_handle_base_image_checksum_fails() {
    let name = fingerprint("123").to_string();
    let (_host, run) = handle_base_image(
        &name,
        &[record("u1", "banana-42", HOST, "123")],
        Some(b"banana"),
        &["--checksum"],
    );
    let report = run.json();
    assert_eq!(state_of(&report, &name), "in_use");
    assert_eq!(file_entry(&report, &name)["checksum"], "corrupt");
    assert!(names_in(&report, "removable").is_empty());
    assert_eq!(
        (run.code, report["summary"]["corrupt"].clone()),
        (5, json!(1))
    );
}

#[test]
fn test_verify_base_images() {
    struct Variant {
        records: [(&'static str, &'static str); 2],
        original: &'static str,
        active: Vec<String>,
        removed: Vec<String>,
    }
    let variants = [
        // The newer seed: both instances run image "1", whose original is in the cache.
        Variant {
            records: [("instance-1", "1"), ("instance-2", "1")],
            original: HASHED_1,
            active: vec![HASHED_1.to_owned(), format!("{HASHED_1}_5368709120")],
            removed: vec![
                format!("{E972}_sm"),
                format!("{E09C}_sm"),
                HASHED_42.to_owned(),
                format!("{HASHED_1}_10737418240"),
            ],
        },
        // The older seed: the images the records name are not cached; only the disks' backing
        // file is in use, and the unused original goes too.
        Variant {
            records: [("instance-1", "image-1"), ("instance-2", "image-2")],
            original: F17D1,
            active: vec![format!("{F17D1}_5368709120")],
            removed: vec![
                format!("{E972}_sm"),
                format!("{E09C}_sm"),
                HASHED_42.to_owned(),
                F17D1.to_owned(),
                format!("{F17D1}_10737418240"),
            ],
        },
    ];
    for variant in variants {
        let host = Host::new();
        let ancient = NOW - 1_000_000;
        let original = variant.original;
        let listing = [
            "00000001".to_owned(),
            "ephemeral_0_20_None".to_owned(),
            format!("{E972}_sm"),
            format!("{E09C}_sm"),
            HASHED_42.to_owned(),
            original.to_owned(),
            format!("{original}_5368709120"),
            format!("{original}_10737418240"),
            "00000004".to_owned(),
        ];
        for name in &listing {
            host.base_file(name, 1 << 20, ancient);
        }
        let hashed_42 = host.base.join(HASHED_42);
        fs::write(
            sha1_path(&hashed_42),
            cachectl_sidecar::hash_file(&hashed_42).expect("hashable"),
        )
        .expect("sidecar");
        set_age(&sha1_path(&hashed_42), ancient);
        host.overlay("instance-1/disk", &format!("{original}_5368709120"));
        host.overlay("instance-2/disk", &format!("{original}_5368709120"));
        host.file("instance-3/disk", b"a raw disk, no backing file");
        let records: Vec<_> = variant
            .records
            .iter()
            .enumerate()
            .map(|(i, (name, image))| record(&format!("uuid-{i}"), name, HOST, image))
            .collect();
        let inventory = host.inventory(&records).display().to_string();

        let run = host.run(&[
            "clean",
            "--inventory",
            &inventory,
            "--checksum",
            "--format",
            "json",
        ]);
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
        let report = run.json();
        let mut active = names_in(&report, "in_use");
        active.sort();
        assert_eq!(active, variant.active);
        let removed = names_in(&report, "removed");
        for name in &variant.removed {
            assert!(removed.contains(name), "{name} not removed: {removed:?}");
            assert!(!host.has(name));
        }
        assert!(
            !sha1_path(&hashed_42).exists(),
            "the sidecar goes with its image"
        );
        for name in ["00000001", "ephemeral_0_20_None", "00000004"] {
            assert!(host.has(name), "{name} is not the cache's: left alone");
        }
        assert_eq!(report["summary"]["corrupt"], 0);
    }
}

#[test]
fn test_verify_base_images_no_base() {
    // Nova's pass shrugged at an instances path that does not exist. cachectl calls it what it
    // usually is, a typo in the configuration: one line naming it, exit 1, nothing created. A
    // cache directory missing under an instances path that exists is nothing to do, as in Nova.
    let host = Host::new();
    let missing = host.root().join("no/such/dir/name/please");
    let run = host.run_in(&missing, &["clean"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(
        run.stderr.trim_end(),
        format!(
            "cachectl: error: cannot open {}: No such file or directory (os error 2)",
            missing.display()
        )
    );
    assert!(
        !missing.exists(),
        "a pass with nothing to do creates nothing"
    );

    fs::remove_dir(&host.base).expect("no cache directory");
    for command in [&["clean"][..], &["audit"], &["verify"]] {
        let run = host.run(command);
        assert_eq!(run.code, 0, "{command:?}: {}", run.stderr);
        assert!(
            run.stdout.contains("no base directory at"),
            "{command:?}: {}",
            run.stdout
        );
    }
    assert!(!host.base.exists());
}
