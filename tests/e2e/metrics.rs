//! `--metrics-file`: checked by Prometheus's own `promtool check metrics` (Debian package
//! `prometheus`; `.ci/run` installs it, and these tests fail without it rather than skip), and
//! read back value by value.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::*;

/// The samples of a metrics file, by their series (`name{labels}`).
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("a sample line");
            (series.to_owned(), value.parse().expect("a number"))
        })
        .collect()
}

/// Asserts that `promtool check metrics` finds nothing wrong with the file at `path`.
#[track_caller]
fn promtool_check(path: &Path) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus; .ci/run installs it)");
    let text = fs::read(path).expect("the metrics file");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&text)
        .expect("written to promtool");
    let output = child.wait_with_output().expect("promtool ran");
    // promtool exits 0 when it finds nothing wrong, and says nothing then.
    assert_tool_silent(
        "promtool check metrics",
        &output,
        &String::from_utf8_lossy(&text),
    );
}

#[test]
fn a_clean_writes_metrics_promtool_accepts_and_they_say_what_the_report_says() {
    let host = Host::new();
    let used = fp("image-in-use");
    let unused = fp("image-unused");
    host.base_file(&used, 3 << 20, 3 * DAY);
    host.base_file(&unused, 5 << 20, 3 * DAY);
    host.base_file("swap_512", 512 << 20, 3 * DAY);
    host.overlay("0c6b7a52-3b7e-4c9d-a2f1-5e6b7c8d9e01/disk", &used);
    let metrics = host.root().join("textfile").join("cachectl.prom");
    fs::create_dir(metrics.parent().expect("a directory")).expect("created");
    let shown = metrics.display().to_string();

    let run = host.run(&["clean", "--metrics-file", &shown, "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    promtool_check(&metrics);
    let values = samples(&fs::read_to_string(&metrics).expect("written"));
    let get = |series: &str| {
        *values
            .get(series)
            .unwrap_or_else(|| panic!("no {series} in {values:#?}"))
    };
    let files = |state: &str, kind: &str| {
        get(&format!(
            r#"cachectl_cache_files{{command="clean",state="{state}",kind="{kind}"}}"#
        ))
    };
    let bytes = |state: &str, kind: &str| {
        get(&format!(
            r#"cachectl_cache_bytes{{command="clean",state="{state}",kind="{kind}"}}"#
        ))
    };
    assert_eq!(files("in_use", "original"), 1.0);
    assert_eq!(files("removed", "original"), 1.0);
    assert_eq!(files("removed", "swap"), 1.0);
    assert_eq!(
        files("removable", "original"),
        0.0,
        "zero series are written too"
    );
    assert_eq!(bytes("removed", "original"), f64::from(5 << 20));
    assert_eq!(bytes("removed", "swap"), f64::from(512 << 20));
    assert_eq!(bytes("in_use", "original"), f64::from(3 << 20));
    let report = run.json();
    assert_eq!(
        bytes("removed", "original") + bytes("removed", "swap"),
        report["summary"]["bytes_reclaimed"]
            .as_f64()
            .expect("a number")
    );
    assert_eq!(get(r#"cachectl_last_exit_code{command="clean"}"#), 0.0);
    assert_eq!(
        get(r#"cachectl_last_success_timestamp_seconds{command="clean"}"#),
        NOW as f64
    );
    assert_eq!(get(r#"cachectl_unreadable_files{command="clean"}"#), 0.0);
    assert_eq!(get(r#"cachectl_removed_files_total{command="clean"}"#), 2.0);
    assert_eq!(
        get(r#"cachectl_removed_bytes_total{command="clean"}"#),
        f64::from((5 << 20) + (512 << 20))
    );
    assert!(get(r#"cachectl_filesystem_size_bytes{command="clean"}"#) > 0.0);
    assert!(get(r#"cachectl_run_duration_seconds{command="clean"}"#) >= 0.0);
    // Bounded: no label names a file, whatever the cache holds.
    let text = fs::read_to_string(&metrics).expect("written");
    assert!(
        !text.contains(&used) && !text.contains("swap_512"),
        "{text}"
    );
    // The counters add up across runs: one more unused original, one more clean.
    let another = fp("image-unused-too");
    host.base_file(&another, 7 << 20, 3 * DAY);
    let run = host.run(&["clean", "--metrics-file", &shown]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    promtool_check(&metrics);
    let later = samples(&fs::read_to_string(&metrics).expect("written"));
    assert_eq!(
        later[r#"cachectl_removed_files_total{command="clean"}"#],
        3.0
    );
    assert_eq!(
        later[r#"cachectl_removed_bytes_total{command="clean"}"#],
        f64::from((5 << 20) + (512 << 20) + (7 << 20))
    );
    let series = values.len();
    assert_eq!(series, 2 * 8 * 8 + 12 + 2, "{values:#?}");
}

#[test]
fn a_failed_run_says_its_exit_code_and_keeps_the_last_success() {
    let host = Host::new();
    host.base_file(&fp("image"), 1 << 20, 3 * DAY);
    let metrics = host.root().join("cachectl.prom");
    let shown = metrics.display().to_string();
    let run = host.run(&["audit", "--metrics-file", &shown]);
    assert_eq!(run.code, 0, "{}", run.stderr);

    let bad = host.file("inventory.json", b"{\"instances\": [");
    let bad = bad.display().to_string();
    let run = host.run(&["audit", "--metrics-file", &shown, "--inventory", &bad]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    promtool_check(&metrics);
    let values = samples(&fs::read_to_string(&metrics).expect("written"));
    assert_eq!(values[r#"cachectl_last_exit_code{command="audit"}"#], 3.0);
    assert_eq!(
        values[r#"cachectl_last_success_timestamp_seconds{command="audit"}"#],
        NOW as f64
    );
    assert!(
        !values.keys().any(|k| k.starts_with("cachectl_cache_files")),
        "a run without a report says nothing of the cache: {values:#?}"
    );
}

#[test]
fn verify_writes_its_checksum_states() {
    let host = Host::new();
    let image = fp("image");
    host.base_file_with(&image, b"the image", 3 * DAY);
    let metrics = host.root().join("verify.prom");
    let shown = metrics.display().to_string();
    let run = host.run(&["verify", "--metrics-file", &shown]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    promtool_check(&metrics);
    let values = samples(&fs::read_to_string(&metrics).expect("written"));
    assert_eq!(
        values[r#"cachectl_verified_files{command="verify",checksum="written"}"#],
        1.0
    );
    assert_eq!(
        values[r#"cachectl_verified_files{command="verify",checksum="corrupt"}"#],
        0.0
    );
    assert_eq!(
        values[r#"cachectl_hashed_bytes{command="verify"}"#],
        b"the image".len() as f64
    );

    // A metrics file that cannot be written is an error, after the work is done.
    let nowhere = host.root().join("missing-dir").join("verify.prom");
    let run = host.run(&["verify", "--metrics-file", &nowhere.display().to_string()]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("cannot write the metrics file"),
        "{}",
        run.stderr
    );
}
