//! What `contrib/` ships for a fleet: the systemd units, checked by `systemd-analyze verify`
//! (Debian package `systemd`; `.ci/run` installs it where missing, and this test fails without
//! it rather than skip), with the command lines they run accepted by the real binary.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{assert_tool_silent, cachectl_bin};

/// `contrib/systemd` in the source tree.
fn units_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("contrib")
        .join("systemd")
}

/// The value of `key` in a unit's text (the last one, as systemd takes it), if there.
fn value<'a>(unit: &'a str, key: &str) -> Option<&'a str> {
    unit.lines()
        .filter_map(|line| line.split_once('='))
        .filter(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim())
        .next_back()
}

#[test]
fn the_systemd_units_pass_systemd_analyze_verify() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let names = [
        "cachectl-clean.service",
        "cachectl-clean.timer",
        "cachectl-verify.service",
        "cachectl-verify.timer",
    ];
    for name in names {
        // systemd checks that the command exists: the units run the binary under test.
        let unit = fs::read_to_string(units_dir().join(name)).expect("a shipped unit");
        let unit = unit.replace("/usr/bin/cachectl", cachectl_bin());
        fs::write(dir.path().join(name), unit).expect("copied");
    }
    let output = Command::new("systemd-analyze")
        .arg("verify")
        .args(names.map(|name| dir.path().join(name)))
        .output()
        .expect("systemd-analyze (Debian package systemd; .ci/run installs it)");
    // It exits 0 on unknown keys too, but says so: silence is the pass.
    assert_tool_silent("systemd-analyze verify", &output, "");
}

#[test]
fn the_units_run_as_a_fleet_needs_and_their_command_lines_parse() {
    let read = |name: &str| fs::read_to_string(units_dir().join(name)).expect("a shipped unit");
    for service in ["cachectl-clean.service", "cachectl-verify.service"] {
        let unit = read(service);
        for (key, wanted) in [
            ("Type", "oneshot"),
            ("Nice", "19"),
            ("IOSchedulingClass", "idle"),
            ("ProtectSystem", "strict"),
        ] {
            assert_eq!(value(&unit, key), Some(wanted), "{service}: {key}");
        }
        assert!(
            unit.lines()
                .any(|l| l.trim() == "ReadWritePaths=/var/lib/nova/instances"),
            "{service}: the instances path must be writable"
        );
        // The command line the unit runs is one the binary accepts.
        let exec = value(&unit, "ExecStart").expect("ExecStart");
        let args: Vec<&str> = exec.split_whitespace().skip(1).collect();
        let output = Command::new(cachectl_bin())
            .args(&args)
            .arg("--help")
            .output()
            .expect("cachectl ran");
        assert!(
            output.status.success(),
            "{service}: {exec}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    // "Another clean is running" (exit 7) is no failure of the timer's run.
    assert_eq!(
        value(&read("cachectl-clean.service"), "SuccessExitStatus"),
        Some("7")
    );
    let clean = read("cachectl-clean.timer");
    assert_eq!(value(&clean, "OnCalendar"), Some("hourly"));
    assert_eq!(value(&clean, "Persistent"), Some("true"));
    assert!(value(&clean, "RandomizedDelaySec").is_some());
    let verify = read("cachectl-verify.timer");
    assert_eq!(value(&verify, "OnCalendar"), Some("*-*-* 02:00:00"));
    assert_eq!(value(&verify, "Persistent"), Some("true"));
}

/// The log lines `cachectl -vv audit` writes to a pipe, with `JOURNAL_STREAM` set to `journal`
/// (`None`: unset; `Some(None)`: the pipe's own device and inode).
fn log_lines(journal: Option<Option<&str>>) -> Vec<String> {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;

    let dir = tempfile::tempdir().expect("a temporary directory");
    fs::create_dir_all(dir.path().join("instances").join("_base")).expect("a cache");
    // Something to log at -vv: a guest's console log, never read.
    fs::create_dir_all(dir.path().join("instances").join("u1")).expect("an instance");
    fs::write(dir.path().join("instances/u1/console.log"), "boot\n").expect("written");
    let (mut reader, writer) = std::io::pipe().expect("a pipe");
    let stream = {
        let fd: std::os::fd::OwnedFd = writer.try_clone().expect("cloned").into();
        let meta = fs::File::from(fd).metadata().expect("fstat of the pipe");
        format!("{}:{}", meta.dev(), meta.ino())
    };
    let mut command = Command::new(cachectl_bin());
    command
        .args(["--no-config", "--no-libvirt", "-vv", "--instances-path"])
        .arg(dir.path().join("instances"))
        .args(["--host", "compute-1", "audit"])
        .env("CACHECTL_NOW", "1800000000")
        .env_remove("CACHECTL_LOG")
        .env_remove("JOURNAL_STREAM")
        .stdout(std::process::Stdio::null())
        .stderr(writer);
    match journal {
        None => {}
        Some(None) => {
            command.env("JOURNAL_STREAM", &stream);
        }
        Some(Some(other)) => {
            command.env("JOURNAL_STREAM", other);
        }
    }
    let mut child = command.spawn().expect("cachectl ran");
    drop(command);
    let mut text = String::new();
    reader.read_to_string(&mut text).expect("its logs");
    assert!(child.wait().expect("waited").success(), "{text}");
    text.lines().map(str::to_owned).collect()
}

#[test]
fn logs_are_timestamped_except_where_the_journal_stamps_them() {
    // RFC 3339, as tracing writes it: 2026-11-30T14:02:21.123456Z
    let stamped = |line: &String| {
        line.len() > 20 && line.as_bytes()[4] == b'-' && line.as_bytes()[10] == b'T'
    };
    let plain = log_lines(None);
    assert!(!plain.is_empty() && plain.iter().all(stamped), "{plain:#?}");
    let journal = log_lines(Some(None));
    assert!(
        !journal.is_empty() && !journal.iter().any(stamped),
        "{journal:#?}"
    );
    // A JOURNAL_STREAM inherited by a process whose stderr went elsewhere is not the journal.
    let inherited = log_lines(Some(Some("1:1")));
    assert!(inherited.iter().all(stamped), "{inherited:#?}");
}

/// The metric names an expression queries (`cachectl_...`).
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("cachectl_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

#[test]
fn the_grafana_dashboard_parses_and_queries_only_what_cachectl_writes() {
    let path = units_dir().join("..").join("grafana").join("cachectl.json");
    let text = fs::read_to_string(&path).expect("the shipped dashboard");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert!(dashboard["uid"].is_string() && dashboard["title"].is_string());
    let panels = dashboard["panels"].as_array().expect("panels");
    let exprs: Vec<(String, String)> = panels
        .iter()
        .flat_map(|panel| {
            let title = panel["title"].as_str().expect("a title").to_owned();
            panel["targets"]
                .as_array()
                .expect("targets")
                .iter()
                .map(move |t| (title.clone(), t["expr"].as_str().expect("expr").to_owned()))
        })
        .collect();
    for wanted in [
        "Cache size per host",
        "Reclaimable per host",
        "Reclaimed per day",
        "Corrupt and unreadable files",
        "Hosts whose last successful clean is older than two intervals",
    ] {
        assert!(
            exprs.iter().any(|(t, _)| t == wanted),
            "no panel {wanted:?}"
        );
    }

    // Every metric a panel queries is one a clean or a verify writes.
    let host = crate::support::Host::new();
    host.base_file_with(
        &crate::support::fp("image"),
        b"bytes",
        3 * crate::support::DAY,
    );
    let clean = host.root().join("clean.prom");
    let verify = host.root().join("verify.prom");
    let run = host.run(&["clean", "--metrics-file", &clean.display().to_string()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = host.run(&["verify", "--metrics-file", &verify.display().to_string()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let written: String = [clean, verify]
        .iter()
        .map(|p| fs::read_to_string(p).expect("metrics"))
        .collect();
    for (title, expr) in &exprs {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "{title}: queries no cachectl metric");
        for name in names {
            assert!(
                written.contains(&format!("# TYPE {name} ")),
                "{title}: {name} is not a metric cachectl writes"
            );
        }
    }

    // And every expression is PromQL that Prometheus's own parser takes (as recording rules).
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, (_, expr)) in exprs.iter().enumerate() {
        let quoted = serde_json::to_string(expr).expect("quoted");
        rules.push_str(&format!(
            "      - record: cachectl_dashboard_panel_{i}\n        expr: {quoted}\n"
        ));
    }
    let file = host.root().join("rules.yml");
    fs::write(&file, rules).expect("written");
    let output = Command::new("promtool")
        .args(["check", "rules"])
        .arg(&file)
        .output()
        .expect("promtool (Debian package prometheus; .ci/run installs it)");
    assert!(
        output.status.success(),
        "promtool check rules: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
