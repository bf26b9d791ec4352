//! Hashing on several threads: `--jobs`, reports that do not depend on it, Nova's locks still
//! honoured, and progress only on a terminal.

use std::process::Command;

use crate::support::*;

/// Bytes that differ from file to file (a simple generator: the contents only need to differ).
fn contents(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// Twelve images of different sizes: some with a valid `.info`, some with a legacy `.sha1`, some
/// with no sidecar, two corrupt. Returns the corrupt ones' names.
fn cache_of_many_images(host: &Host) -> Vec<String> {
    let mut corrupt = Vec::new();
    let base = open_dir(&host.base);
    for i in 0..12u64 {
        let name = fp(&format!("image-{i}"));
        let len = [3 << 20, 1 << 10, 700 << 10, 5, 2 << 20, 0][(i % 6) as usize] + i as usize;
        let data = contents(i, len);
        let path = host.base_file_with(&name, &data, 3 * HOUR);
        let digest = cachectl_sidecar::hash_file(&path).expect("hashable");
        match i % 4 {
            0 => {}
            1 => cachectl_sidecar::write_info(&base, name_of(&path), &digest, (NOW - DAY) as f64)
                .expect("an .info"),
            2 => std::fs::write(cachectl_sidecar::sha1_path(&path), format!("{digest}\n"))
                .expect("a .sha1"),
            _ => {
                let wrong = cachectl_sidecar::hash_reader(&b"other bytes"[..]).expect("a digest");
                cachectl_sidecar::write_info(&base, name_of(&path), &wrong, (NOW - DAY) as f64)
                    .expect("an .info");
                corrupt.push(name);
            }
        }
    }
    // Sidecars written now would have ages that differ from host to host.
    for name in host.cache_names() {
        set_age(&host.base.join(name), 3 * HOUR);
    }
    corrupt.sort();
    corrupt
}

/// A run's stdout with the host's directory replaced, so two hosts' reports compare.
fn report_of(host: &Host, run: &Run) -> String {
    run.stdout
        .replace(&host.root().display().to_string(), "[HOST]")
}

#[test]
fn one_job_and_four_jobs_give_identical_reports() {
    for args in [
        &["verify", "--format", "json"][..],
        &["verify"],
        &["audit", "--checksum", "--format", "json"],
        &["audit", "--checksum"],
        &["clean", "--checksum", "--format", "json"],
    ] {
        let (one, four) = (Host::new(), Host::new());
        let corrupt = cache_of_many_images(&one);
        assert_eq!(cache_of_many_images(&four), corrupt);
        let sequential = one.run(&[args, &["--jobs", "1"]].concat());
        let parallel = four.run(&[args, &["--jobs", "4"]].concat());
        assert_eq!(sequential.code, 5, "{args:?}: {}", sequential.stderr);
        assert_eq!(
            parallel.code, sequential.code,
            "{args:?}: {}",
            parallel.stderr
        );
        assert_eq!(
            report_of(&four, &parallel),
            report_of(&one, &sequential),
            "{args:?}"
        );
        assert!(!corrupt.is_empty());
        // And on disk: the same sidecars were written.
        assert_eq!(four.cache_names(), one.cache_names(), "{args:?}");
    }
}

#[test]
fn corrupt_files_are_found_whichever_thread_hashes_them() {
    let host = Host::new();
    let corrupt = cache_of_many_images(&host);
    let run = host.run(&["verify", "--jobs", "3", "--format", "json"]);
    assert_eq!(run.code, 5, "{}", run.stderr);
    let report = run.json();
    let files = report["files"].as_array().expect("files");
    assert_eq!(files.len(), 12);
    let names: Vec<&str> = files.iter().filter_map(|f| f["name"].as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "the report is sorted by name");
    let found: Vec<&str> = files
        .iter()
        .filter(|f| f["checksum"] == "corrupt")
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert_eq!(found, corrupt);
    assert_eq!(report["summary"]["corrupt"], corrupt.len());
    assert_eq!(report["summary"]["valid"], 6);
    assert_eq!(report["summary"]["written"], 3);
    // One warning per corrupt file, in the report's order.
    let warned: Vec<String> = report["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .filter(|w| w["code"] == "corrupt_base_file")
        .filter_map(|w| w["message"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(warned.len(), corrupt.len());
    for (message, name) in warned.iter().zip(&corrupt) {
        assert!(message.contains(name.as_str()), "{message}");
    }
}

#[test]
fn jobs_0_is_a_usage_error() {
    let host = Host::new();
    for command in ["verify", "audit", "clean"] {
        let run = host.run(&[command, "--jobs", "0"]);
        assert_eq!(run.code, 2, "{command}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{}", run.stdout);
        assert_eq!(
            run.stderr.lines().next(),
            Some(
                "error: invalid value '0' for '--jobs <N>': 0 jobs would do nothing: expected 1 or more"
            ),
            "{command}: {}",
            run.stderr
        );
    }
    let run = host.run(&["verify", "-j", "many"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(r#""many" is not a number of jobs"#),
        "{}",
        run.stderr
    );
    // Nothing was done.
    assert!(host.cache_names().is_empty());
}

#[test]
fn a_held_nova_lock_still_prevents_hashing_with_several_jobs() {
    let host = Host::new();
    let names: Vec<String> = (0..6).map(|i| fp(&format!("locked-{i}"))).collect();
    for (i, name) in names.iter().enumerate() {
        host.base_file_with(name, &contents(i as u64, 256 << 10), 3 * HOUR);
    }
    // Nova is creating the third image: its lock is held.
    let busy = &names[2];
    let _nova = LockHolder::hold(&host.instances.join("locks").join(format!("nova-{busy}")));

    let run = host.run(&["verify", "--jobs", "4", "--format", "json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = run.json();
    for name in &names {
        let entry = file_entry(&report, name);
        if name == busy {
            assert_eq!(entry["checksum"], "not_checked");
            assert!(entry["sha1"].is_null(), "not hashed: {entry}");
            let reason = entry["reason"].as_str().unwrap_or_default();
            assert!(
                reason.starts_with("not hashed: another process holds its lock"),
                "{reason}"
            );
            assert!(!host.has(&format!("{name}.info")));
        } else {
            assert_eq!(entry["checksum"], "written", "{name}");
            assert!(host.has(&format!("{name}.info")), "{name}");
        }
    }

    // `audit --checksum` and `clean --checksum` keep off it too.
    let audit = host.run(&["audit", "--checksum", "--jobs", "4", "--format", "json"]);
    let entry = file_entry(&audit.json(), busy).clone();
    assert_eq!(entry["checksum"], "not_checked", "{entry}");
    let clean = host.run(&["clean", "--checksum", "--jobs", "4", "--format", "json"]);
    let entry = file_entry(&clean.json(), busy).clone();
    assert_eq!(entry["checksum"], "not_checked", "{entry}");
    assert!(!host.has(&format!("{busy}.info")));
}

#[test]
fn one_file_named_twice_is_hashed_by_one_thread_at_a_time() {
    // Both names share one Nova lock file: POSIX locks belong to the process, so two threads
    // on it would release each other's lock. The second sees the sidecar the first wrote.
    let host = Host::new();
    let name = fp("named-twice");
    let path = host.base_file_with(&name, &contents(7, 1 << 20), 3 * HOUR);
    let shown = path.display().to_string();
    let run = host.run(&["verify", "--jobs", "2", "--format", "json", &shown, &shown]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    let states: Vec<&str> = report["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter_map(|f| f["checksum"].as_str())
        .collect();
    assert_eq!(states, ["written", "valid"]);
}

/// `cachectl <args>` on `host`, under a pseudo-terminal made by `script` (util-linux): stderr is
/// a terminal there. Returns everything the terminal showed.
fn run_on_a_terminal(host: &Host, args: &[&str]) -> String {
    let mut line = format!(
        "CACHECTL_NOW={NOW} {} --instances-path {} --host {HOST}",
        cachectl_bin(),
        host.instances.display()
    );
    for arg in args {
        line.push(' ');
        line.push_str(arg);
    }
    // stdout goes to a file: what the terminal shows is stderr alone.
    line.push_str(" >/dev/null");
    let output = Command::new("script")
        .args(["--quiet", "--return", "--command", &line, "/dev/null"])
        .output()
        .expect("script (util-linux) runs");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn big_images(host: &Host) {
    for i in 0..4u64 {
        // Sparse: large to hash, nothing on disk.
        host.base_file(&fp(&format!("big-{i}")), 96 << 20, 3 * HOUR);
    }
}

#[test]
fn no_progress_when_stderr_is_not_a_terminal() {
    let host = Host::new();
    big_images(&host);
    for args in [
        &["verify", "--jobs", "2"][..],
        &["audit", "--checksum"],
        &["clean", "--checksum", "--jobs", "2"],
        &["verify", "--jobs", "1", "--format", "json"],
    ] {
        let run = host.run(args);
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
        assert_eq!(run.stderr, "", "{args:?}");
        for garbage in ['\r', '\x1b'] {
            assert!(!run.stdout.contains(garbage), "{args:?}: {:?}", run.stdout);
        }
    }
}

#[test]
fn progress_on_a_terminal_and_not_with_q() {
    // `.ci/run` installs `script` (Debian's bsdutils) where it is missing.
    let host = Host::new();
    big_images(&host);
    let shown = run_on_a_terminal(&host, &["verify", "--jobs", "2"]);
    assert!(shown.contains("hashing"), "{shown:?}");
    assert!(shown.contains("files left"), "{shown:?}");

    let quiet = run_on_a_terminal(&host, &["-q", "verify", "--jobs", "2"]);
    assert_eq!(quiet, "");
}

#[test]
fn a_scan_on_several_threads_finds_what_one_thread_finds() {
    let host = Host::new();
    let images: Vec<String> = (0..6).map(|i| fp(&format!("scanned-{i}"))).collect();
    for (i, image) in images.iter().enumerate() {
        host.base_file(image, 1 << 30, 3 * DAY + i as i64);
    }
    host.base_file("swap_512", 512 << 20, 3 * DAY);
    let mut records = Vec::new();
    for i in 0..40 {
        let uuid = format!("{i:08x}-0000-4000-8000-000000000000");
        let image = &images[i % 4];
        host.overlay(&format!("{uuid}/disk"), image);
        host.file(&format!("{uuid}/console.log"), b"booted\n");
        if i % 5 == 0 {
            host.overlay(&format!("{uuid}/disk.swap"), "swap_512");
        }
        if i % 7 == 0 {
            // Deeper directories, walked too.
            host.overlay(&format!("{uuid}/snap/a/b/disk.snap"), &images[5]);
        }
        if i % 10 < 8 {
            records.push(record(&uuid, &format!("instance-{i:08x}"), HOST, "image"));
        }
    }
    // Two names for one instance directory: it is walked once, under its first name.
    host.symlink(
        "instance-alias",
        &host.instances.join("00000003-0000-4000-8000-000000000000"),
    );
    host.symlink(
        "zz-alias",
        &host.instances.join("00000004-0000-4000-8000-000000000000"),
    );
    // Sorted before its target: the alias is the name it is walked under.
    host.symlink(
        "0-alias",
        &host.instances.join("00000005-0000-4000-8000-000000000000"),
    );
    // Doubt, at several depths; a disk.info that says raw; a file at the top.
    host.file(
        "00000009-0000-4000-8000-000000000000/disk.eph0",
        b"QFI\xfb\x00\x00\x00\x09",
    );
    host.file(
        "0000000b-0000-4000-8000-000000000000/a/b/c/d/e/f/g/h/disk",
        b"deep",
    );
    host.file(
        "0000000c-0000-4000-8000-000000000000/disk.info",
        br#"{"/elsewhere/0000000c-0000-4000-8000-000000000000/disk": "raw"}"#,
    );
    host.overlay("stray-disk", &images[4]);
    // Enough entries that the scan merges them in several chunks: the aliases at the end reach
    // directories walked in the first.
    for i in 0..1_100 {
        std::fs::create_dir(host.instances.join(format!("empty-{i:04}"))).expect("a directory");
    }
    let inventory = host.inventory(&records);
    let inventory = inventory.display().to_string();

    for command in [&["audit"][..], &["clean", "--dry-run"]] {
        let args = [command, &["--inventory", &inventory, "--format", "json"]].concat();
        let one = host.run(&[&args[..], &["--jobs", "1"]].concat());
        assert_eq!(one.code, 4, "{}", one.stderr);
        let report = one.json();
        // The disks; never the guests' console logs.
        assert!(
            report["summary"]["files_probed"].as_u64() > Some(50),
            "{report}"
        );
        let orphans = report["orphan_dirs"].as_array().expect("orphan_dirs");
        assert_eq!(orphans.len(), 1_111);
        // The directory both names reach is walked under the first, whichever thread got it.
        assert_eq!(orphans[0]["name"], "0-alias");
        assert_eq!(orphans[0]["disks"].as_array().map(Vec::len), Some(2));
        for jobs in ["2", "3", "16"] {
            let many = host.run(&[&args[..], &["--jobs", jobs]].concat());
            assert_eq!(many.code, one.code, "{}", many.stderr);
            assert_eq!(many.stdout, one.stdout, "{command:?} --jobs {jobs}");
        }
    }
}
