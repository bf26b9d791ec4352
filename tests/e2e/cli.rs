//! The command line as an operator meets it: help, usage errors and their exit codes, options
//! that change a pass, and `demo` (`inspect` against `qemu-img info` is in conformance.rs).

use crate::support::*;

const GIB: u64 = 1 << 30;

#[test]
fn help_succeeds_and_usage_errors_exit_2_with_a_clear_message() {
    let host = Host::new();
    let help = host.run(&["--help"]);
    assert_eq!(help.code, 0, "{}", help.stderr);
    assert!(help.stdout.contains("Usage: cachectl"), "{}", help.stdout);
    for command in ["audit", "clean", "verify", "inspect", "demo"] {
        let run = host.run(&[command, "--help"]);
        assert_eq!(run.code, 0, "{command} --help: {}", run.stderr);
        assert!(run.stdout.contains("Usage: cachectl"), "{}", run.stdout);
    }

    let unknown = host.run(&["clean", "--frobnicate"]);
    assert_eq!(unknown.code, 2, "{}", unknown.stderr);
    assert!(unknown.stdout.is_empty());
    assert!(
        unknown
            .stderr
            .contains("unexpected argument '--frobnicate'"),
        "{}",
        unknown.stderr
    );

    let bad_age = host.run(&["--original-min-age", "1x", "clean"]);
    assert_eq!(bad_age.code, 2, "{}", bad_age.stderr);
    assert!(
        bad_age.stderr.contains(
            r#"invalid value '1x' for '--original-min-age <DUR>': "1x" is not a duration (unknown time unit "x""#
        ),
        "{}",
        bad_age.stderr
    );
    // As operators write them: a week and a half, at the cache's own ages.
    let weeks = host.run(&["--original-min-age", "1w 3d12h", "audit"]);
    assert_eq!(weeks.code, 0, "{}", weeks.stderr);
    let no_number = host.run(&["audit", "--resized-min-age", "an hour"]);
    assert_eq!(no_number.code, 2, "{}", no_number.stderr);
    assert!(
        no_number.stderr.contains("is not a duration"),
        "{}",
        no_number.stderr
    );

    let no_command = host.run(&[]);
    assert_eq!(no_command.code, 2, "{}", no_command.stderr);
    let bad_format = host.run(&["audit", "--format", "yaml"]);
    assert_eq!(bad_format.code, 2, "{}", bad_format.stderr);
}

#[test]
fn minimum_ages_from_the_command_line_take_effect() {
    let host = Host::new();
    let original = fp("image-unused-for-two-minutes");
    let copy = format!("{}_10737418240", fp("image-unused"));
    host.base_file(&original, GIB, 120);
    host.base_file(&copy, GIB, 90 * 60);

    let defaults = host.run(&["clean", "--dry-run", "--format", "json"]).json();
    assert_eq!(state_of(&defaults, &original), "too_young");
    assert_eq!(state_of(&defaults, &copy), "removable");

    let ages = ["--original-min-age", "90s", "--resized-min-age", "2h"];
    let run = host.run(&[&ages[..], &["clean", "--format", "json"]].concat());
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    assert_eq!(state_of(&report, &original), "removed");
    assert_eq!(state_of(&report, &copy), "too_young");
    let reason = file_entry(&report, &copy)["reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        reason.starts_with("unused for 1h 30m, kept until unused for 2h"),
        "{reason}"
    );
    assert!(!host.has(&original) && host.has(&copy));
}

#[test]
fn another_base_dir_name_is_the_cache_and_the_default_one_is_left_alone() {
    let host = Host::new();
    let name = "_base_10.0.0.1";
    let base = host.instances.join(name);
    let used = fp("image-in-use");
    let unused = fp("image-unused");
    for file in [&used, &unused] {
        let path = host.file(&format!("{name}/{file}"), b"");
        set_age(&path, 3 * DAY);
    }
    // What `_base` holds belongs to other hosts' configuration: not this pass's cache.
    host.base_file(&unused, GIB, 3 * DAY);
    host.overlay(
        "0c6b7a52-3b7e-4c9d-a2f1-5e6b7c8d9e01/disk",
        base.join(&used).to_str().expect("UTF-8"),
    );

    let run = host.run(&["--base-dir-name", name, "clean", "--format", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let report = run.json();
    assert_eq!(report["base_dir"], base.display().to_string());
    assert_eq!(state_of(&report, &used), "in_use");
    assert_eq!(state_of(&report, &unused), "removed");
    assert!(base.join(&used).exists() && !base.join(&unused).exists());
    assert!(host.has(&unused), "the default _base was touched");
}

#[test]
fn snapshot_of_the_demo() {
    let host = Host::new();
    let dir = host.root().join("demo");
    let run = host.run(&["demo", dir.to_str().expect("UTF-8")]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let filters = host.filters();
    let filters: Vec<(&str, &str)> = filters.iter().map(|(r, s)| (r.as_str(), *s)).collect();
    insta::with_settings!({filters => filters}, {
        insta::assert_snapshot!("demo", run.stdout);
    });
}

/// What `ionice -p PID` says of the process `pid` once it says `wanted`, or what it last said
/// after 30 seconds of asking.
fn ionice_once_it_says(pid: u32, wanted: &str) -> String {
    let mut said = String::new();
    for _ in 0..600 {
        let output = std::process::Command::new("ionice")
            .args(["-p", &pid.to_string()])
            .output()
            .expect("ionice (util-linux) runs");
        said = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        if said == wanted {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    said
}

#[test]
fn io_priority_idle_is_what_ionice_shows_while_a_pass_runs() {
    use std::io::Write;
    let host = Host::new();
    host.base_file(&fp("image"), 1 << 20, 2 * DAY);
    // The pass waits for its inventory on standard input, after setting its priority.
    let mut audit = host.spawn(&[
        "audit",
        "--io-priority",
        "idle",
        "--checksum",
        "--inventory",
        "-",
        "--format",
        "json",
    ]);
    let said = ionice_once_it_says(audit.id(), "idle");
    let mut stdin = audit.stdin.take().expect("its standard input");
    stdin
        .write_all(br#"{"instances": []}"#)
        .expect("the inventory written");
    drop(stdin);
    let output = audit.wait_with_output().expect("the audit finishes");
    assert_eq!(said, "idle");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");

    let bad = host.run(&["verify", "--io-priority", "realtime"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(
        bad.stderr
            .contains("invalid value 'realtime' for '--io-priority <CLASS>'"),
        "{}",
        bad.stderr
    );
}
