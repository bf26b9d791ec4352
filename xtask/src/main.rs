//! Project automation, one binary: `cargo xtask ci` is what `.ci/run` calls.
//!
//! ```text
//! cargo xtask ci      crate and module graphs, fmt --check, clippy -D warnings, the fuzz targets
//!                     build, cargo test --workspace, snapshot check
//! cargo xtask fuzz    run a fuzz target of fuzz/ (`cargo xtask fuzz --list`), see fuzz.rs
//! cargo xtask bench   cachectl against openssl, sha1sum, qemu-img and Nova, see bench.rs
//! cargo xtask stress  Nova-style spawners, a deleter and `cachectl clean` loops at once: no
//!                     overlay may lose its base, see stress.rs
//! cargo xtask dist    a stripped release binary and a .deb, see dist.rs
//! ```

mod bench;
mod bench_run;
mod clean_bench;
mod dist;
mod dist_layout;
mod fuzz;
mod graph;
mod modules;
mod slow_storage;
mod stress;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("fuzz") => fuzz::run(&args[1..]),
        Some("bench") => bench_run::run(&args[1..]),
        // The wrapper bench runs every measured command under (not for people).
        Some("bench-measure") => bench::measure_child(&args[1..]),
        Some("stress") => stress::run(&args[1..]),
        Some("dist") => dist::run(&args[1..]),
        // One Nova-style spawner process of the stress test (not for people).
        Some("stress-spawner") => stress::spawner_child(&args[1..]),
        Some("-h" | "--help") | None => {
            println!(
                "usage: cargo xtask <ci|fuzz|bench|stress|dist>\n\n  ci     crate graph (graph.rs), fmt --check, clippy -D warnings, cargo test --workspace, snapshot check\n  fuzz   <target> [--time SECONDS]: run a fuzz target of fuzz/ (--list lists them)\n  bench  [--quick] [--nova SCRIPT] ...: cachectl against openssl, sha1sum, qemu-img, Nova (--help)\n  stress [--seconds N] ...: spawners, a deleter and cleans at once; no overlay may lose its base (--help)\n  dist   [--out DIR]: a stripped release binary and a .deb (man page, completions, units, dashboard)"
            );
            Ok(())
        }
        Some(other) => Err(format!("unknown task {other:?}: try `cargo xtask --help`")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (xtask lives one level below it).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// The cargo that runs xtask (`CARGO`), else `cargo` on the path.
fn cargo_program() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

fn cargo(args: &[&str], envs: &[(&str, &str)]) -> Result<(), String> {
    eprintln!("xtask: cargo {}", args.join(" "));
    let status = Command::new(cargo_program())
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(root())
        .status()
        .map_err(|err| format!("cannot run cargo: {err}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`cargo {}` failed ({status})", args.join(" ")))
    }
}

fn ci() -> Result<(), String> {
    // First: it takes a second, and says at once whether the crates are where they belong.
    graph::check()?;
    eprintln!("xtask: {}", modules::check(&root())?);
    cargo(&["fmt", "--all", "--check"], &[])?;
    cargo(
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;
    // The fuzz targets live outside the workspace: they must still build against its crates.
    cargo(
        &[
            "check",
            "--manifest-path",
            &root().join("fuzz").join("Cargo.toml").display().to_string(),
            "--bins",
        ],
        &[],
    )?;
    // Snapshots must match as committed: insta never writes new ones in CI.
    cargo(
        &["test", "--workspace"],
        &[("INSTA_UPDATE", "no"), ("CI", "true")],
    )?;
    check_no_pending_snapshots()
}

/// A `.snap.new` or `.pending-snap` file is a snapshot someone forgot to review.
fn check_no_pending_snapshots() -> Result<(), String> {
    let mut pending = Vec::new();
    let mut dirs = vec![root()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                if !matches!(name.as_str(), "target" | ".git") {
                    dirs.push(path);
                }
            } else if name.ends_with(".snap.new") || name.ends_with(".pending-snap") {
                pending.push(path.display().to_string());
            }
        }
    }
    if pending.is_empty() {
        eprintln!("xtask: snapshots: none pending");
        Ok(())
    } else {
        Err(format!("unreviewed snapshots: {}", pending.join(", ")))
    }
}
