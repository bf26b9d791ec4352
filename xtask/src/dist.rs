//! `cargo xtask dist`: what an operator installs. A release binary without debug information
//! (the `dist` profile: stripped, fat LTO), and from it a `.deb` (see dist_layout.rs) with the
//! manual page, shell completions, systemd units and Grafana dashboard; a static musl build too
//! where the toolchain has that target.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::dist_layout::{Package, build, debian_arch};
use crate::{cargo_program, root};

/// The musl target, built when installed.
const MUSL: &str = "x86_64-unknown-linux-musl";

/// Runs `cargo xtask dist [--out DIR]`.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let out = match args {
        [] => root().join("target").join("dist-out"),
        [flag, dir] if flag == "--out" => PathBuf::from(dir),
        _ => return Err("usage: cargo xtask dist [--out DIR]".to_owned()),
    };
    let repo = root();
    let binary = cargo_build(&repo, None)?;
    let _ = fs::remove_dir_all(&out);
    fs::create_dir_all(&out).map_err(|err| format!("{}: {err}", out.display()))?;
    let staged = out.join("deb-root");
    let package = Package {
        binary: &binary,
        repo: &repo,
        version: env!("CARGO_PKG_VERSION"),
        arch: &debian_arch()?,
    };
    let deb = build(&package, &staged, &out)?;
    let size = |path: &Path| fs::metadata(path).map_or(0, |m| m.len());
    println!(
        "binary  {} ({:.1} MiB, stripped)\npackage {} ({:.1} MiB)\nstaged  {}",
        binary.display(),
        size(&binary) as f64 / 1048576.0,
        deb.display(),
        size(&deb) as f64 / 1048576.0,
        staged.display()
    );
    if musl_installed() {
        let musl = cargo_build(&repo, Some(MUSL))?;
        println!("static  {} ({MUSL})", musl.display());
    } else {
        println!(
            "static  not built: the toolchain has no {MUSL} target (rustup target add {MUSL})"
        );
    }
    Ok(())
}

/// `cargo build --profile dist -p cachectl` (for `target`, if given); the binary it made.
fn cargo_build(repo: &Path, target: Option<&str>) -> Result<PathBuf, String> {
    let mut command = Command::new(cargo_program());
    command
        .current_dir(repo)
        .args(["build", "--profile", "dist", "-p", "cachectl"]);
    if let Some(target) = target {
        command.args(["--target", target]);
    }
    let status = command.status().map_err(|err| format!("cargo: {err}"))?;
    if !status.success() {
        return Err(format!("cargo build --profile dist: {status}"));
    }
    let dir = repo.join("target");
    let dir = target.map_or(dir.clone(), |t| dir.join(t));
    Ok(dir.join("dist").join("cachectl"))
}

/// Whether the toolchain can build for musl (its standard library is installed).
fn musl_installed() -> bool {
    Command::new("rustc")
        .args(["--print", "target-libdir", "--target", MUSL])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .is_some_and(|dir| dir.join("libstd.rlib").exists() || has_std(&dir))
}

fn has_std(dir: &Path) -> bool {
    fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .filter_map(Result::ok)
            .any(|e| e.file_name().to_string_lossy().starts_with("libstd-"))
    })
}
