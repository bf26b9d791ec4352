//! `cargo xtask fuzz`: runs one cargo-fuzz target of `fuzz/` for a while, from its seeds.
//!
//! ```text
//! cargo xtask fuzz --list                      the targets, from fuzz/fuzz_targets/
//! cargo xtask fuzz <target> [--time SECONDS]   fuzz one for SECONDS (60); exit 1 on a crash
//! ```
//!
//! The seeds in `fuzz/seeds/<target>/` (committed) are copied into `fuzz/corpus/<target>/`,
//! where libFuzzer also keeps what it finds (git-ignored), and both are given to
//! `cargo fuzz run`. cargo-fuzz needs a nightly compiler's `-Z` flags; on the stable one,
//! `RUSTC_BOOTSTRAP=1` allows them. A crash leaves its input in `fuzz/artifacts/<target>/`.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The usage of `cargo xtask fuzz`.
const USAGE: &str = "usage: cargo xtask fuzz <target> [--time SECONDS]   (default 60 s)
       cargo xtask fuzz --list";

/// How long a run lasts without `--time`, in seconds.
const DEFAULT_SECONDS: u64 = 60;

/// The longest input libFuzzer makes for a target (`-max_len`) when [`MAX_LEN`] does not say.
const DEFAULT_MAX_LEN: usize = 4096;

/// The longest input libFuzzer makes for each target (`-max_len`): enough for every byte the
/// parser can look at, and no more, since longer inputs only slow the search.
const MAX_LEN: &[(&str, usize)] = &[
    // The first cluster of a qemu-img image (64 KiB by default), well past the 4 KiB prefix
    // read_header reads before it asks bytes_needed.
    ("qcow2_header", 64 * 1024),
    // An image path and a name: PATH_MAX is 4096, and QEMU reads at most 1023 bytes of name.
    ("backing_name", 8 * 1024),
    // NAME_MAX is 255 bytes.
    ("cache_name", 512),
    ("inventory", 16 * 1024),
    // A sidecar is under 100 bytes; the 64 KiB limit on reading one has its own unit test.
    ("sidecar", 4 * 1024),
    ("compute_nodes", 8 * 1024),
    // The metadata table (64 KiB) and the items QEMU puts right after it.
    ("vhdx_metadata", 72 * 1024),
    // A few lines of `<inode> <size> <mtime> <path>`.
    ("ack_file", 4 * 1024),
    // A domain XML is a few KiB; libvirt's status XML of a running guest some tens.
    ("libvirt_domain", 32 * 1024),
    // Up to three nova.conf files (split at NUL bytes): a real one is a few KiB without its
    // comments, and the parser looks at every byte.
    ("nova_conf", 16 * 1024),
];

/// What the command line asks for.
enum Request {
    /// `--help`.
    Help,
    /// `--list`.
    List,
    /// `<target> [--time SECONDS]`.
    Run {
        /// The target's name.
        target: String,
        /// `-max_total_time`.
        seconds: u64,
    },
}

/// Runs `cargo xtask fuzz` with the arguments after `fuzz`.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let fuzz_dir = crate::root().join("fuzz");
    let targets = targets(&fuzz_dir)?;
    match parse_args(args)? {
        Request::Help => {
            println!("{USAGE}");
            Ok(())
        }
        Request::List => {
            let width = targets
                .iter()
                .map(|(name, _)| name.len())
                .max()
                .unwrap_or(0);
            for (name, about) in &targets {
                println!("{name:width$}  {about}");
            }
            Ok(())
        }
        Request::Run { target, seconds } => {
            if !targets.iter().any(|(name, _)| *name == target) {
                let names: Vec<&str> = targets.iter().map(|(name, _)| name.as_str()).collect();
                return Err(format!(
                    "no fuzz target {target:?}: the targets are {}",
                    names.join(", ")
                ));
            }
            fuzz(&fuzz_dir, &target, seconds)
        }
    }
}

/// Parses `--list`, or `<target> [--time SECONDS]` (also `--time=SECONDS`).
fn parse_args(args: &[String]) -> Result<Request, String> {
    let mut target = None;
    let mut seconds = DEFAULT_SECONDS;
    let mut list = false;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let time = match arg.as_str() {
            "--list" => {
                list = true;
                continue;
            }
            "-h" | "--help" => return Ok(Request::Help),
            "--time" => Some(
                args.next()
                    .map(String::as_str)
                    .ok_or("--time needs a number of seconds")?,
            ),
            other => other.strip_prefix("--time="),
        };
        if let Some(time) = time {
            seconds = match time.parse() {
                Ok(0) | Err(_) => {
                    return Err(format!("--time {time:?}: expected a number of seconds"));
                }
                Ok(seconds) => seconds,
            };
        } else if arg.starts_with('-') || target.is_some() {
            return Err(format!("unexpected argument {arg:?}\n{USAGE}"));
        } else {
            target = Some(arg.clone());
        }
    }
    match (list, target) {
        (true, None) => Ok(Request::List),
        (false, Some(target)) => Ok(Request::Run { target, seconds }),
        _ => Err(USAGE.to_owned()),
    }
}

/// The targets: `fuzz/fuzz_targets/<name>.rs`, each with the first line of its doc comment.
fn targets(fuzz_dir: &Path) -> Result<Vec<(String, String)>, String> {
    let dir = fuzz_dir.join("fuzz_targets");
    let entries =
        fs::read_dir(&dir).map_err(|err| format!("cannot list {}: {err}", dir.display()))?;
    let mut targets = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        if path.extension().is_some_and(|ext| ext == "rs") {
            let source = fs::read_to_string(&path).unwrap_or_default();
            let about = source
                .lines()
                .find_map(|line| line.strip_prefix("//!"))
                .unwrap_or_default()
                .trim()
                .to_owned();
            targets.push((name.to_owned(), about));
        }
    }
    targets.sort();
    Ok(targets)
}

/// Runs `cargo fuzz run` on `target` for `seconds`; an error if it found a crash.
fn fuzz(fuzz_dir: &Path, target: &str, seconds: u64) -> Result<(), String> {
    check_cargo_fuzz()?;
    let seeds = fuzz_dir.join("seeds").join(target);
    let corpus = fuzz_dir.join("corpus").join(target);
    let copied = copy_seeds(&seeds, &corpus)?;
    eprintln!(
        "xtask: fuzz: {copied} seeds from {} in {}",
        seeds.display(),
        corpus.display()
    );
    let artifacts = fuzz_dir.join("artifacts").join(target);
    let before = files_in(&artifacts);

    let max_len = MAX_LEN
        .iter()
        .find(|(name, _)| *name == target)
        .map_or(DEFAULT_MAX_LEN, |(_, len)| *len);
    let args = [
        "fuzz".to_owned(),
        "run".to_owned(),
        // Overflow checks and debug assertions, as in the tests.
        "--debug-assertions".to_owned(),
        target.to_owned(),
        corpus.display().to_string(),
        seeds.display().to_string(),
        "--".to_owned(),
        format!("-max_total_time={seconds}"),
        format!("-max_len={max_len}"),
        "-print_final_stats=1".to_owned(),
    ];
    eprintln!(
        "xtask: (cd {} && RUSTC_BOOTSTRAP=1 cargo {})",
        fuzz_dir.display(),
        args.join(" ")
    );
    let status = cargo()
        .args(&args)
        .env("RUSTC_BOOTSTRAP", "1")
        .current_dir(fuzz_dir)
        .status()
        .map_err(|err| format!("cannot run cargo fuzz: {err}"))?;
    if status.success() {
        eprintln!("xtask: fuzz: {target}: no crash in {seconds} s");
        return Ok(());
    }
    let found: Vec<PathBuf> = files_in(&artifacts).difference(&before).cloned().collect();
    if found.is_empty() {
        return Err(format!("`cargo fuzz run {target}` failed ({status})"));
    }
    let mut message = format!("the fuzzer found a crash in {target}:");
    for path in &found {
        let path = path.display();
        message.push_str(&format!(
            "\n  {path}\
             \n    reproduce: (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -a {target} {path})\
             \n    minimise:  (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz tmin -a {target} {path})"
        ));
    }
    message.push_str(&format!(
        "\nkeep the minimised input in fuzz/seeds/{target}/, and fix the parser"
    ));
    Err(message)
}

/// cargo, as the one that runs xtask.
fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// An error that says how to install cargo-fuzz unless `cargo fuzz` runs.
fn check_cargo_fuzz() -> Result<(), String> {
    let installed = cargo()
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if installed {
        Ok(())
    } else {
        Err(
            "cargo-fuzz is not installed: install it with `cargo install cargo-fuzz` \
             (no nightly toolchain needed: xtask sets RUSTC_BOOTSTRAP=1)"
                .to_owned(),
        )
    }
}

/// Copies every file of `seeds` into `corpus` (created if need be); returns how many.
fn copy_seeds(seeds: &Path, corpus: &Path) -> Result<usize, String> {
    fs::create_dir_all(corpus)
        .map_err(|err| format!("cannot create {}: {err}", corpus.display()))?;
    let mut copied = 0;
    for seed in files_in(seeds) {
        let Some(name) = seed.file_name() else {
            continue;
        };
        let to = corpus.join(name);
        fs::copy(&seed, &to)
            .map_err(|err| format!("cannot copy {} to {}: {err}", seed.display(), to.display()))?;
        copied += 1;
    }
    Ok(copied)
}

/// The regular files directly in `dir` (none if it does not exist).
fn files_in(dir: &Path) -> BTreeSet<PathBuf> {
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_file()))
        .map(|entry| entry.path())
        .collect()
}
