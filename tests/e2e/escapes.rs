//! Names from outside in the text output: control characters in `_base` entries, directory
//! names, instance records and backing names a guest wrote reach no terminal, and a newline in
//! a name forges no report line. Names are quoted and escaped; the JSON keeps them as they are.

use serde_json::json;

use crate::support::*;

const GIB: u64 = 1 << 30;

const UUID_A: &str = "0c6b7a52-3b7e-4c9d-a2f1-5e6b7c8d9e01";
const UUID_B: &str = "1d7c8b63-4c8f-4dae-b3a2-6f7c8d9eaf02";
const UUID_C: &str = "2e8d9c74-5d9a-4ebf-84b3-7a8d9eafb003";
const UUID_D: &str = "3f9eaf85-6eab-4fc0-95c4-8b9eafbc0104";

/// What a forged report line starts with.
const FORGED: &str = "removed  original  9.9 GiB  9d";

/// Fails unless `text` is free of control characters (newlines aside) and of forged lines.
#[track_caller]
fn assert_no_escape(what: &str, text: &str) {
    let bad: Vec<char> = text
        .chars()
        .filter(|&c| c.is_control() && c != '\n')
        .collect();
    assert!(
        bad.is_empty(),
        "{what}: control characters {bad:?} in\n{text}"
    );
    assert!(
        !text.bytes().any(|b| (b < 0x20 && b != b'\n') || b == 0x7f),
        "{what}: {text:?}"
    );
    for line in text.lines() {
        assert!(
            !line.trim_start().starts_with(FORGED),
            "{what}: a forged line: {line:?}"
        );
    }
}

/// Fails unless `text` contains `needle`.
#[track_caller]
fn assert_shows(what: &str, text: &str, needle: &str) {
    assert!(text.contains(needle), "{what}: no {needle} in\n{text}");
}

/// A host whose cache entries, orphan directory and instance records carry control
/// characters and forged report lines; returns the host, the forged cache entry's name and
/// the inventory's path.
fn hostile_names() -> (Host, String, String) {
    let host = Host::new();
    let image = "5f0b3c1e-6a57-4a8e-9d1b-2b6a1f0c9e11";
    let shared_image = "a4c2e6f8-1b3d-4e5f-8a9b-c0d1e2f3a4b5";
    let forged = format!("y\n{FORGED}  {}  fake", fp("fake"));
    host.base_file(&forged, 1 << 20, 9 * DAY);
    host.base_file("red\x1b[31mname", 1 << 20, 9 * DAY);
    host.base_file("bell\x07", 1 << 20, 9 * DAY);
    host.base_file(&fp(image), GIB, 3 * DAY);
    host.base_file(&fp(shared_image), GIB, 3 * DAY);
    host.base_file(&fp("image-of-the-orphan"), GIB, 3 * DAY);
    host.base_file(&fp("image-nobody-uses"), GIB, 3 * DAY);

    host.overlay(&format!("{UUID_A}/disk"), &fp(image));
    // A directory no record claims, named to forge a line and to colour the terminal, with a
    // disk, and a symlink to a directory that `-vv` logs.
    let orphan = format!("orphan\x1b[31m\n{FORGED}");
    host.overlay(&format!("{orphan}/disk"), &fp("image-of-the-orphan"));
    host.symlink(&format!("{orphan}/link\x1b[1m"), &host.base);

    // A remote host registered in compute_nodes, and one that is not.
    let shared_host = "shared\x1b[5m";
    host.compute_nodes(&[(HOST, HOUR), (shared_host, HOUR)]);
    let inventory = host.inventory(&[
        record(UUID_A, &format!("instance\x1b[2J\n{FORGED}"), HOST, image),
        record(UUID_B, "instance-2", HOST, "img\x07\x1b[31m"),
        record(UUID_C, "instance-3", "compute-\x1b]0;pwned\x07\n9", image),
        record(UUID_D, "remote\x07", shared_host, shared_image),
    ]);
    (host, forged, inventory.display().to_string())
}

#[test]
fn names_from_the_filesystem_and_the_inventory_are_quoted_in_audit_and_clean() {
    let (host, forged, inventory) = hostile_names();
    let fake_fp = fp("fake");
    let shown_forged = format!(r#""y\n{FORGED}  {fake_fp}  fake""#);
    let image_fp = fp("5f0b3c1e-6a57-4a8e-9d1b-2b6a1f0c9e11");

    for args in [
        &["-vv", "audit", "--inventory", &inventory][..],
        &["-vv", "clean", "--dry-run", "--inventory", &inventory],
        &["-vv", "clean", "--inventory", &inventory],
    ] {
        let run = host.run(args);
        let what = format!("{args:?}");
        assert_eq!(run.code, 0, "{what}: {}{}", run.stdout, run.stderr);
        assert_no_escape(&what, &run.stdout);
        assert_no_escape(&what, &run.stderr);
        // Every name is there, quoted, each entry on one line.
        let out = &run.stdout;
        assert_shows(&what, out, &format!("  {shown_forged}  "));
        assert_shows(&what, out, r#"  "red\u{1b}[31mname"  "#);
        assert_shows(&what, out, r#"  "bell\u{7}"  "#);
        assert_shows(
            &what,
            out,
            &format!(
                r#"image 5f0b3c1e-6a57-4a8e-9d1b-2b6a1f0c9e11 is used by "instance\u{{1b}}[2J\n{FORGED}" on this host; backing file of {UUID_A}/disk"#
            ),
        );
        assert_shows(
            &what,
            out,
            r#"is used by "remote\u{7}@shared\u{1b}[5m" on other hosts"#,
        );
        assert_shows(
            &what,
            out,
            &format!(
                r#"  "orphan\u{{1b}}[31m\n{FORGED}": keeps {} in use"#,
                fp("image-of-the-orphan")
            ),
        );
        assert_shows(
            &what,
            out,
            &format!(r#"backing file of "orphan\u{{1b}}[31m\n{FORGED}/disk""#),
        );
        assert_shows(
            &what,
            out,
            r#"image "img\u{7}\u{1b}[31m" is used by instance-2 on this host but has an absent base file"#,
        );
        assert_shows(
            &what,
            out,
            r#"do not count: "compute-\u{1b}]0;pwned\u{7}\n9" (1 record)"#,
        );
        assert!(
            out.lines()
                .any(|line| line.starts_with("in_use") && line.contains(&image_fp)),
            "{what}: {out}"
        );
        // The log names the symlink it does not follow, escaped, with no colours.
        assert_shows(&what, &run.stderr, "not followed path=");
        assert_shows(&what, &run.stderr, r#"/link\u{1b}[1m"#);
    }
    // Only the unused image went; the odd names are foreign and stay.
    assert!(!host.has(&fp("image-nobody-uses")));
    assert!(host.has(&forged) && host.has("red\x1b[31mname") && host.has("bell\x07"));
}

#[test]
fn the_json_report_keeps_names_as_they_are() {
    let (host, forged, inventory) = hostile_names();
    let run = host.run(&["audit", "--inventory", &inventory, "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    assert_eq!(file_entry(&report, &forged)["name"], json!(forged));
    assert_eq!(state_of(&report, "red\x1b[31mname"), "ignored");
    assert_eq!(state_of(&report, "bell\x07"), "ignored");
    assert_eq!(
        report["orphan_dirs"][0]["name"],
        json!(format!("orphan\x1b[31m\n{FORGED}"))
    );
    let image_fp = fp("5f0b3c1e-6a57-4a8e-9d1b-2b6a1f0c9e11");
    assert_eq!(
        file_entry(&report, &image_fp)["used_by"]["instances"],
        json!([format!("instance\x1b[2J\n{FORGED}")])
    );
    // The sentences are the text report's, quoted names and all.
    assert!(
        warning(&report, "records_ignored").contains(r#""compute-\u{1b}]0;pwned\u{7}\n9""#),
        "{}",
        report["warnings"]
    );
    // JSON's own escapes: the raw bytes of the names appear nowhere.
    assert_no_escape("json", &run.stdout);
}

#[test]
fn verify_quotes_the_names_it_hashes() {
    let (host, forged, _) = hostile_names();
    let forged_path = host.base.join(&forged);
    let bell = host.base.join("bell\x07");
    let missing = host.base.join("gone\x1b[31m\nok");
    let paths: Vec<String> = [&forged_path, &bell, &missing]
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let args: Vec<&str> = ["-vv", "verify"]
        .into_iter()
        .chain(paths.iter().map(String::as_str))
        .collect();
    let run = host.run(&args);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert_no_escape("verify", &run.stdout);
    assert_no_escape("verify", &run.stderr);
    let fake_fp = fp("fake");
    assert_shows(
        "verify",
        &run.stdout,
        &format!(r#"written      "y\n{FORGED}  {fake_fp}  fake"  "#),
    );
    assert_shows("verify", &run.stdout, r#"written      "bell\u{7}"  "#);
    assert_shows("verify", &run.stdout, r#"gone\u{1b}[31m\nok": "#);
}

#[test]
fn inspect_escapes_the_backing_names_a_guest_wrote() {
    let host = Host::new();
    // A guest writes this into what it sees as a raw disk; the host sees a qcow2 header.
    let evil = "evil\x1b[31m\nbacking file: shadow.raw";
    host.base_file(evil, 1 << 20, DAY);
    let disk = host.overlay_named(
        &format!("{UUID_A}/disk"),
        format!("../_base/{evil}").as_bytes(),
        Some("raw\x1b[0m"),
    );
    let missing = host.overlay_named(
        &format!("{UUID_B}/disk"),
        b"../_base/gone\x07\n\x1b[2J",
        Some("raw"),
    );
    let disk_arg = disk.display().to_string();
    let missing_arg = missing.display().to_string();

    let shown = r#"../_base/evil\u{1b}[31m\nbacking file: shadow.raw"#;
    for args in [
        &["-vv", "inspect", &disk_arg][..],
        &["-vv", "inspect", "--backing-chain", &disk_arg],
        &["-vv", "inspect", &missing_arg],
    ] {
        let run = host.run(args);
        let what = format!("{args:?}");
        assert_eq!(run.code, 0, "{what}: {}", run.stderr);
        assert_no_escape(&what, &run.stdout);
        assert_no_escape(&what, &run.stderr);
        assert!(
            !run.stdout.lines().any(|l| l == "backing file: shadow.raw"),
            "{what}: {}",
            run.stdout
        );
    }
    let one = host.run(&["inspect", &disk_arg]);
    assert_shows(
        "inspect",
        &one.stdout,
        &format!("backing file: {shown} (actual path: "),
    );
    assert_shows(
        "inspect",
        &one.stdout,
        r#"backing file format: raw\u{1b}[0m"#,
    );
    let chain = host.run(&["inspect", "--backing-chain", &disk_arg]);
    assert_shows(
        "inspect --backing-chain",
        &chain.stdout,
        r#"/_base/evil\u{1b}[31m\nbacking file: shadow.raw"#,
    );
    let gone = host.run(&["inspect", &missing_arg]);
    assert_shows("inspect", &gone.stdout, r#"../_base/gone\u{7}\n\u{1b}[2J"#);

    // The error for a chain that cannot be followed is one escaped line.
    let error = host.run(&["-vv", "inspect", "--backing-chain", &missing_arg]);
    assert_eq!(error.code, 3, "{}", error.stderr);
    assert!(error.stdout.is_empty(), "{}", error.stdout);
    assert_no_escape("inspect error", &error.stderr);
    assert_eq!(error.stderr.lines().count(), 1, "{}", error.stderr);
    assert_shows("inspect error", &error.stderr, r#"gone\u{7}\n\u{1b}[2J"#);

    // The JSON carries the name as it is.
    let json = host.run(&["inspect", "--output", "json", &disk_arg]).json();
    assert_eq!(json["backing-filename"], json!(format!("../_base/{evil}")));
}

#[test]
fn errors_on_stderr_are_one_escaped_line() {
    let host = Host::new();
    let inventory = host.root().join("inventory\x1b[31m\nremoved.json");
    let inventory = inventory.display().to_string();
    let run = host.run(&["-v", "audit", "--inventory", &inventory]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_no_escape("error", &run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert_shows(
        "error",
        &run.stderr,
        r#"cachectl: error: cannot read the inventory ""#,
    );
    assert_shows(
        "error",
        &run.stderr,
        r#"inventory\u{1b}[31m\nremoved.json": "#,
    );
}
