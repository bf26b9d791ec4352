//! `--metrics-file`: what a run found and did, in node_exporter's textfile-collector format
//! (the Prometheus text exposition format), written atomically.
//!
//! Every series has bounded labels: the command, and a file's state and kind (or, for `verify`,
//! its checksum state). Every combination is written, zero or not, so that a series never
//! vanishes between runs; no label names a file. All are gauges but two counters of what
//! `clean` removed, which (with the last success) carry over from the file a run replaces.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cachectl_fs::{Dir, FsUsage};
use cachectl_naming::{EntryKind, quote};
use cachectl_policy::{FileState, UnixTime};

use crate::checksums::ChecksumState;
use crate::error::CommandError;
use crate::exit::ExitCode;
use crate::report::Report;
use crate::scan::ScanConfig;
use crate::verify::VerifyReport;

/// The largest metrics file read back (for the last success it holds).
const MAX_METRICS_LEN: u64 = 1 << 20;

/// The series that carry over from one run to the next.
const LAST_SUCCESS: &str = "cachectl_last_success_timestamp_seconds";
const REMOVED_FILES: &str = "cachectl_removed_files_total";
const REMOVED_BYTES: &str = "cachectl_removed_bytes_total";

/// What a run gives the metrics file.
pub(crate) enum RunFacts<'a> {
    /// `audit` or `clean`, with its report.
    Pass(&'a Report),
    /// `verify`, with its report.
    Verify(&'a VerifyReport),
    /// A run that ended in an error before it had a report.
    Failed,
}

/// One run, as the metrics file tells it.
pub(crate) struct Run<'a> {
    /// `audit`, `clean` or `verify`.
    pub command: &'static str,
    /// What it found.
    pub facts: RunFacts<'a>,
    /// How it ended.
    pub exit_code: ExitCode,
    /// How long it took.
    pub duration: Duration,
    /// When it ended.
    pub now: UnixTime,
    /// The file system that holds the cache, as it is at the end of the run.
    pub fs_usage: Option<FsUsage>,
}

impl<'a> Run<'a> {
    /// A run started at `started` that ended with `result` (what it found and its exit code, or
    /// the error that ended it); `scan` says where the cache is.
    pub(crate) fn ended(
        command: &'static str,
        result: Result<(RunFacts<'a>, ExitCode), &CommandError>,
        started: Instant,
        now: UnixTime,
        scan: &ScanConfig,
    ) -> Self {
        let (facts, exit_code) = result.unwrap_or_else(|err| (RunFacts::Failed, err.exit_code()));
        Self {
            command,
            facts,
            exit_code,
            duration: started.elapsed(),
            now,
            fs_usage: fs_usage(&scan.base_dir(), &scan.instances_path),
        }
    }
}

/// The exit code of a run whose metrics were `written`: the run's own error comes first (the
/// metrics file's is then logged), else the metrics file's, else the run's exit code.
pub(crate) fn then(
    written: Result<(), CommandError>,
    result: Result<ExitCode, CommandError>,
) -> Result<ExitCode, CommandError> {
    match result {
        Ok(exit_code) => written.map(|()| exit_code),
        Err(err) => {
            if let Err(metrics_err) = written {
                tracing::error!("{metrics_err}");
            }
            Err(err)
        }
    }
}

/// The metrics file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the metrics file {}: {source}", quote(.path))]
pub(crate) struct MetricsError {
    path: PathBuf,
    source: io::Error,
}

/// Writes the metrics of `run` to `path` when one is given. A `clean` that found another one
/// running (exit 7) writes nothing: the metrics are the running one's to write. A file that
/// cannot be written is an operational error (exit 1).
pub(crate) fn write_if_asked(path: Option<&Path>, run: &Run<'_>) -> Result<(), CommandError> {
    let Some(path) = path else {
        return Ok(());
    };
    if run.exit_code == ExitCode::Busy {
        return Ok(());
    }
    write(path, run).map_err(|err| CommandError::new(ExitCode::Failure, err.to_string()))
}

/// The file system that holds the cache (or, without one, the instances path), if it can be
/// asked.
fn fs_usage(base_dir: &Path, instances_path: &Path) -> Option<FsUsage> {
    FsUsage::of_path(base_dir)
        .or_else(|_| FsUsage::of_path(instances_path))
        .ok()
}

/// Writes the metrics of `run` to `path`, atomically (a new file in the same directory, then
/// renamed over the old one), keeping the last success of the file it replaces when this run
/// is not one.
pub(crate) fn write(path: &Path, run: &Run<'_>) -> Result<(), MetricsError> {
    let failed = |source| MetricsError {
        path: path.to_owned(),
        source,
    };
    let (dir, name) = match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => (
            if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            },
            name,
        ),
        _ => {
            return Err(failed(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a file name",
            )));
        }
    };
    let dir = Dir::open(dir).map_err(failed)?;
    let before = Carried::from_file(&dir, name, run.command, run.now.as_f64());
    let (removed_files, removed_bytes) = match run.facts {
        RunFacts::Pass(report) => (
            report.summary.removed as f64,
            report.summary.bytes_reclaimed as f64,
        ),
        _ => (0.0, 0.0),
    };
    let carried = Carried {
        last_success: if run.exit_code == ExitCode::Success {
            Some(run.now.as_f64())
        } else {
            before.last_success
        },
        removed_files_total: before.removed_files_total + removed_files,
        removed_bytes_total: before.removed_bytes_total + removed_bytes,
    };
    dir.write_atomic(name, render(run, &carried).as_bytes())
        .map_err(failed)
}

/// What a metrics file carries from one run to the next: the last success, and the counters of
/// what `clean` removed.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Carried {
    /// When the last run that exited 0 ended.
    pub last_success: Option<f64>,
    /// Files removed, all runs together.
    pub removed_files_total: f64,
    /// Bytes (apparent sizes) removed, all runs together.
    pub removed_bytes_total: f64,
}

impl Carried {
    /// What the metrics file `name` holds of `command`'s series (nothing, if it is not there or
    /// says none): only the exact series, finite, non-negative values, and a last success no
    /// later than `now`.
    fn from_file(dir: &Dir, name: &OsStr, command: &str, now: f64) -> Self {
        let Ok(Some(bytes)) = dir.read_small(name, MAX_METRICS_LEN) else {
            return Self::default();
        };
        let text = String::from_utf8_lossy(&bytes);
        let value = |metric: &str| {
            let series = format!("{metric}{{command=\"{command}\"}} ");
            text.lines()
                .find_map(|line| line.strip_prefix(series.as_str())?.parse::<f64>().ok())
                .filter(|value| value.is_finite() && *value >= 0.0)
        };
        Self {
            last_success: value(LAST_SUCCESS).filter(|seconds| *seconds <= now),
            removed_files_total: value(REMOVED_FILES).unwrap_or_default(),
            removed_bytes_total: value(REMOVED_BYTES).unwrap_or_default(),
        }
    }
}

/// The text of the metrics file.
pub(crate) fn render(run: &Run<'_>, carried: &Carried) -> String {
    let mut text = Text {
        out: String::new(),
        command: run.command,
    };
    match run.facts {
        RunFacts::Pass(report) => pass_series(&mut text, report),
        RunFacts::Verify(report) => verify_series(&mut text, report),
        RunFacts::Failed => {}
    }
    if let Some(usage) = run.fs_usage {
        text.family(
            "cachectl_filesystem_size_bytes",
            "Size of the file system that holds the cache.",
        );
        text.sample(
            "cachectl_filesystem_size_bytes",
            &[],
            usage.size_bytes as f64,
        );
        text.family(
            "cachectl_filesystem_free_bytes",
            "Free space of the file system that holds the cache, root's reserve included.",
        );
        text.sample(
            "cachectl_filesystem_free_bytes",
            &[],
            usage.free_bytes as f64,
        );
        text.family(
            "cachectl_filesystem_avail_bytes",
            "Free space of the file system that holds the cache that unprivileged users can take (df's Avail).",
        );
        text.sample(
            "cachectl_filesystem_avail_bytes",
            &[],
            usage.avail_bytes as f64,
        );
    }
    text.family(
        "cachectl_run_duration_seconds",
        "How long the last run took.",
    );
    text.sample(
        "cachectl_run_duration_seconds",
        &[],
        run.duration.as_secs_f64(),
    );
    text.family(
        "cachectl_last_exit_code",
        "The exit code of the last run (0: success; see cachectl's README).",
    );
    text.sample(
        "cachectl_last_exit_code",
        &[],
        f64::from(run.exit_code.code()),
    );
    text.family(
        "cachectl_last_run_timestamp_seconds",
        "The time of the last run (when it began), in seconds since the epoch.",
    );
    text.sample("cachectl_last_run_timestamp_seconds", &[], run.now.as_f64());
    if run.command == "clean" {
        for (name, help, value) in [
            (
                REMOVED_FILES,
                "Files clean removed, all runs together (since the metrics file was first written).",
                carried.removed_files_total,
            ),
            (
                REMOVED_BYTES,
                "Bytes (apparent sizes) clean removed, all runs together (since the metrics file was first written).",
                carried.removed_bytes_total,
            ),
        ] {
            text.family_of(name, help, "counter");
            text.sample(name, &[], value);
        }
    }
    if let Some(seconds) = carried.last_success {
        text.family(
            LAST_SUCCESS,
            "The time of the last run that exited 0 (when it began), in seconds since the epoch.",
        );
        text.sample(LAST_SUCCESS, &[], seconds);
    }
    text.out
}

/// The series of an `audit` or a `clean`.
fn pass_series(text: &mut Text<'_>, report: &Report) {
    text.family(
        "cachectl_cache_files",
        "Cache entries by what the run left them (state) and what they are (kind).",
    );
    for_each_state_and_kind(report, |state, kind, files, _| {
        text.sample(
            "cachectl_cache_files",
            &[("state", state.as_str()), ("kind", kind.as_str())],
            files as f64,
        );
    });
    text.family(
        "cachectl_cache_bytes",
        "Size of the cache entries by state and kind (removed: what the run reclaimed).",
    );
    for_each_state_and_kind(report, |state, kind, _, bytes| {
        text.sample(
            "cachectl_cache_bytes",
            &[("state", state.as_str()), ("kind", kind.as_str())],
            bytes as f64,
        );
    });
    let summary = &report.summary;
    let counts = [
        (
            "cachectl_corrupt_files",
            "Base files that do not match their checksum.",
            summary.corrupt,
        ),
        (
            "cachectl_unreadable_files",
            "Files that may be disks and could not be read (see the report's unreadable_files).",
            summary.unreadable,
        ),
        (
            "cachectl_orphan_dirs",
            "Instance directories no instance record claims.",
            report.orphan_dirs.len(),
        ),
        (
            "cachectl_stale_lock_files",
            "Nova's lock files of images no longer cached (they stay: Nova bug 1256306).",
            summary.stale_lock_files,
        ),
        (
            "cachectl_files_probed",
            "Files under the instances path read as possible disks.",
            summary.files_probed,
        ),
    ];
    for (name, help, value) in counts {
        text.family(name, help);
        text.sample(name, &[], value as f64);
    }
}

/// Calls `each(state, kind, files, bytes)` for every state and kind, zero or not.
fn for_each_state_and_kind(
    report: &Report,
    mut each: impl FnMut(FileState, EntryKind, usize, u64),
) {
    // One pass over the files (a cache may hold 100,000), then every combination.
    let mut totals: HashMap<(FileState, EntryKind), (usize, u64)> = HashMap::new();
    for file in &report.files {
        let total = totals.entry((file.state, file.kind)).or_default();
        total.0 += 1;
        total.1 += file.size_bytes;
    }
    for state in FileState::ALL {
        for kind in EntryKind::ALL {
            let (files, bytes) = totals.get(&(state, kind)).copied().unwrap_or_default();
            each(state, kind, files, bytes);
        }
    }
}

/// The series of a `verify`.
fn verify_series(text: &mut Text<'_>, report: &VerifyReport) {
    text.family(
        "cachectl_verified_files",
        "Base files verify looked at, by what their checksum said.",
    );
    for state in ChecksumState::ALL {
        let files = report.files.iter().filter(|f| f.checksum == state).count();
        text.sample(
            "cachectl_verified_files",
            &[("checksum", state.as_str())],
            files as f64,
        );
    }
    text.family("cachectl_hashed_bytes", "Bytes verify hashed.");
    text.sample(
        "cachectl_hashed_bytes",
        &[],
        report.summary.bytes_hashed as f64,
    );
    text.family(
        "cachectl_corrupt_files",
        "Base files that do not match their checksum.",
    );
    text.sample("cachectl_corrupt_files", &[], report.summary.corrupt as f64);
}

/// The exposition text being written; every sample carries the command's label.
struct Text<'a> {
    out: String,
    command: &'a str,
}

impl Text<'_> {
    /// A gauge's `HELP` and `TYPE` lines.
    fn family(&mut self, name: &str, help: &str) {
        self.family_of(name, help, "gauge");
    }

    /// A metric family's `HELP` and `TYPE` lines.
    fn family_of(&mut self, name: &str, help: &str, kind: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    /// One sample: label values are ours (commands, states, kinds), never a file's name.
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        let _ = write!(self.out, "{name}{{command=\"{}\"", self.command);
        for (label, value) in labels {
            let _ = write!(self.out, ",{label}=\"{value}\"");
        }
        let _ = writeln!(self.out, "}} {value}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(exit_code: ExitCode) -> Run<'static> {
        Run {
            command: "clean",
            facts: RunFacts::Failed,
            exit_code,
            duration: Duration::from_millis(1500),
            now: UnixTime(1_790_000_000),
            fs_usage: Some(FsUsage {
                size_bytes: 100 << 30,
                free_bytes: 40 << 30,
                avail_bytes: 35 << 30,
            }),
        }
    }

    #[test]
    fn a_failed_run_keeps_the_last_success_of_the_file_it_replaces() -> io::Result<()> {
        let tmp = tempfile::tempdir()?;
        let path = tmp.path().join("cachectl.prom");
        write(&path, &run(ExitCode::Success)).map_err(|e| io::Error::other(e.to_string()))?;
        let first = std::fs::read_to_string(&path)?;
        assert!(
            first.contains(
                "cachectl_last_success_timestamp_seconds{command=\"clean\"} 1790000000\n"
            ),
            "{first}"
        );
        let mut later = run(ExitCode::Unreadable);
        later.now = UnixTime(1_790_003_600);
        write(&path, &later).map_err(|e| io::Error::other(e.to_string()))?;
        let second = std::fs::read_to_string(&path)?;
        assert!(
            second.contains("cachectl_last_exit_code{command=\"clean\"} 4\n"),
            "{second}"
        );
        assert!(
            second.contains(
                "cachectl_last_success_timestamp_seconds{command=\"clean\"} 1790000000\n"
            ),
            "{second}"
        );
        assert!(
            second.contains("cachectl_last_run_timestamp_seconds{command=\"clean\"} 1790003600\n"),
            "{second}"
        );
        Ok(())
    }

    #[test]
    fn only_the_exact_series_of_the_command_carries_over_and_no_success_from_the_future()
    -> io::Result<()> {
        let tmp = tempfile::tempdir()?;
        let path = tmp.path().join("cachectl.prom");
        std::fs::write(
            &path,
            "cachectl_last_success_timestamp_seconds_bogus{command=\"clean\"} 1\n\
             cachectl_last_success_timestamp_seconds{command=\"audit\"} 2\n\
             cachectl_removed_files_total{command=\"clean\"} 5\n",
        )?;
        write(&path, &run(ExitCode::Unreadable)).map_err(|e| io::Error::other(e.to_string()))?;
        let text = std::fs::read_to_string(&path)?;
        assert!(!text.contains(LAST_SUCCESS), "{text}");
        assert!(
            text.contains("cachectl_removed_files_total{command=\"clean\"} 5\n"),
            "{text}"
        );
        std::fs::write(
            &path,
            "cachectl_last_success_timestamp_seconds{command=\"clean\"} 9999999999999\n",
        )?;
        write(&path, &run(ExitCode::Unreadable)).map_err(|e| io::Error::other(e.to_string()))?;
        let text = std::fs::read_to_string(&path)?;
        assert!(
            !text.contains(LAST_SUCCESS),
            "a success after now is not one: {text}"
        );
        Ok(())
    }

    #[test]
    fn a_file_that_never_saw_a_success_says_none() {
        let text = render(&run(ExitCode::Failure), &Carried::default());
        assert!(!text.contains(LAST_SUCCESS), "{text}");
        assert!(text.contains("cachectl_filesystem_avail_bytes{command=\"clean\"} 37580963840\n"));
    }
}
