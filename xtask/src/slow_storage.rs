//! `cargo xtask bench`, network storage: what a scan costs where each file system call is a
//! network round trip (NFS, CephFS), measured by making every such call wait, with strace's
//! fault injection, as on a host of the bench's shape; and how many calls it makes per instance
//! directory, counted with `strace -c`.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::bench::{
    BenchHost, Cost, Options, audit_args, build_host, cells, measure, measure_once, nova_command,
};

/// Instances of the host the section scans.
const INSTANCES: usize = 1000;
/// How long each file system call waits, in microseconds: an NFS round trip on a good network.
const DELAY_US: u32 = 200;
/// The calls that wait: those that ask the storage.
const SLOW_CALLS: &str = "openat,open,read,pread64,statx,getdents64,newfstatat,fstat";
/// The calls counted per instance directory: every call on files and directories.
const FS_CALLS: [&str; 14] = [
    "open",
    "openat",
    "read",
    "pread64",
    "close",
    "fstat",
    "newfstatat",
    "statx",
    "stat",
    "lstat",
    "getdents64",
    "lseek",
    "readlink",
    "access",
];

/// The section: calls per instance directory, then audits of a host at [`DELAY_US`] a call.
pub(crate) fn section(options: &Options, cachectl: &Path, dir: &Path) -> Result<String, String> {
    let n = INSTANCES;
    let mut text = format!(
        "\n### Network storage: {DELAY_US} us a file system call (strace fault injection), a host of {n} instances\n\n\
         | command | time | per instance | CPU time | peak memory |\n\
         | --- | ---: | ---: | ---: | ---: |\n"
    );
    if Command::new("strace").arg("-V").output().is_err() {
        let _ = writeln!(
            text,
            "| all | not run: strace is missing (apt-get install strace) | | | |"
        );
        return Ok(text);
    }
    let host = build_host(dir, n)?;
    let audit = audit_args(&host);
    let audit: Vec<&str> = audit.iter().map(String::as_str).collect();
    let calls = calls_per_instance(cachectl, &audit, &dir.join("strace-c.txt"), n)?;
    let strace = PathBuf::from("strace");
    let inject = format!("inject={SLOW_CALLS}:delay_enter={DELAY_US}");
    let cachectl_arg = cachectl.display().to_string();
    let under = |extra: &[&str], delayed: bool| -> Vec<String> {
        let mut args = vec!["-f", "-qq", "-o", "/dev/null", "-e", "trace=all"];
        if delayed {
            args.extend(["-e", inject.as_str()]);
        }
        args.push(cachectl_arg.as_str());
        args.iter()
            .chain(&audit)
            .chain(extra)
            .map(|a| (*a).to_owned())
            .collect()
    };
    let mut rows: Vec<(String, Cost)> = Vec::new();
    for (name, extra, delayed) in [
        ("cachectl audit (default: --scan-jobs 32)", &[][..], true),
        ("cachectl audit --jobs 1", &["--jobs", "1"][..], true),
        (
            "cachectl audit, strace without delays (its own cost)",
            &[][..],
            false,
        ),
    ] {
        let args = under(extra, delayed);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        measure_once(&strace, &args)?;
        rows.push((name.to_owned(), measure(options.runs, &strace, &args)?));
    }
    for (name, cost) in &rows {
        let _ = writeln!(text, "| `{name}` | {} |", cells(cost, n));
    }
    match &options.nova {
        Some(script) if script.is_file() => {
            let nova = nova_under_delay(script, &host, dir, &inject)?;
            let _ = writeln!(text, "| Nova's pass | {} |", cells(&nova, n));
        }
        _ => {
            let _ = writeln!(
                text,
                "| Nova's pass | skipped: no Nova given (--nova SCRIPT) | | | |"
            );
        }
    }
    let _ = writeln!(
        text,
        "\n`cachectl audit --jobs 1` makes {calls:.1} file system calls per instance directory \
         (`strace -c`, every call of the pass over {n} directories of `disk`, `disk.info`, \
         `console.log` and `libvirt.xml`, one in four with `disk.local` and `disk.swap` too). \
         strace stops the process at every call, which costs about as much as the calls \
         themselves here: the row without delays is that cost alone."
    );
    Ok(text)
}

/// File system calls of one audit with one job, per instance directory.
fn calls_per_instance(
    cachectl: &Path,
    audit: &[&str],
    summary: &Path,
    n: usize,
) -> Result<f64, String> {
    let status = Command::new("strace")
        .args(["-f", "-c", "-o"])
        .arg(summary)
        .arg(cachectl)
        .args(audit)
        .args(["--jobs", "1"])
        .stdout(Stdio::null())
        .status()
        .map_err(|err| format!("cannot run strace: {err}"))?;
    if !status.success() {
        return Err(format!("strace -c of the audit failed: {status}"));
    }
    let table = fs::read_to_string(summary)
        .map_err(|err| format!("cannot read {}: {err}", summary.display()))?;
    Ok(fs_calls(&table) as f64 / n as f64)
}

/// The file system calls of a `strace -c` table.
fn fs_calls(table: &str) -> u64 {
    table
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let name = fields.last()?;
            if !FS_CALLS.contains(name) {
                return None;
            }
            // `% time seconds usecs/call calls [errors] syscall`
            fields.get(3)?.parse::<u64>().ok()
        })
        .sum()
}

/// Nova's pass on the same host, every call delayed the same way (it changes the host: last).
fn nova_under_delay(
    script: &Path,
    host: &BenchHost,
    dir: &Path,
    inject: &str,
) -> Result<Cost, String> {
    let result = dir.join("nova-delayed-result.json");
    let log = dir.join("nova-delayed.log");
    let (program, nova_args) = nova_command(script, host, &result, &log);
    let program_arg = program.display().to_string();
    let mut args = vec![
        "-f",
        "-qq",
        "-o",
        "/dev/null",
        "-e",
        "trace=all",
        "-e",
        inject,
        program_arg.as_str(),
    ];
    args.extend(nova_args.iter().map(String::as_str));
    eprintln!("bench: running Nova's pass with delayed calls (minutes)");
    measure(1, Path::new("strace"), &args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_system_calls_of_a_strace_summary() {
        let table = "% time     seconds  usecs/call     calls    errors syscall\n\
                     ------ ----------- ----------- --------- --------- ----------------\n\
                      26.99    0.033198           3      9049           read\n\
                      15.54    0.019116           3      6034           close\n\
                      15.54    0.019115           3      5024         2 open\n\
                       3.99    0.004910           1      2479           write\n\
                     ------ ----------- ----------- --------- --------- ----------------\n\
                     100.00    0.1                        22586         2 total\n";
        assert_eq!(fs_calls(table), 9049 + 6034 + 5024);
    }
}
