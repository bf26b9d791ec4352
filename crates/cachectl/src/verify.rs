//! `cachectl verify`: hash base files against their sidecars, and write the missing sidecars.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;

use cachectl_naming::{classify_os, escape_controls, quote};
use serde::Serialize;

use crate::checksums::{ChecksumJob, ChecksumMode, ChecksumState, check_all, hash_progress};
use crate::cli::{CommandError, Format, VerifyArgs};
use crate::exit;
use crate::report::{SCHEMA, WarningEntry, human_bytes};
use crate::scan::{LOCKS_DIR, ScanConfig};

/// One file verified.
#[derive(Debug, Clone, Serialize)]
pub struct VerifiedFile {
    /// Its name.
    pub name: String,
    /// Its path.
    pub path: String,
    /// `valid`, `corrupt`, `written` or `not_checked`.
    pub checksum: ChecksumState,
    /// The digest of the file as it is.
    pub sha1: Option<String>,
    /// The digest its sidecar stores.
    pub stored_sha1: Option<String>,
    /// Its size.
    pub size_bytes: u64,
    /// What happened, in a sentence.
    pub reason: String,
}

/// Totals.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifySummary {
    /// Files verified.
    pub files: usize,
    /// Files that match their sidecar.
    pub valid: usize,
    /// Files that do not.
    pub corrupt: usize,
    /// Files given a new sidecar.
    pub written: usize,
    /// Files that could not be checked.
    pub not_checked: usize,
    /// Bytes hashed.
    pub bytes_hashed: u64,
}

/// The report of `verify`.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// The JSON schema version.
    pub schema: u32,
    /// `verify`.
    pub command: &'static str,
    /// The cache directory.
    pub base_dir: String,
    /// Totals.
    pub summary: VerifySummary,
    /// Problems.
    pub warnings: Vec<WarningEntry>,
    /// The files.
    pub files: Vec<VerifiedFile>,
}

/// Runs `verify`, hashing with `args.jobs` threads and showing progress on stderr if
/// `show_progress`; returns the exit code.
pub fn run(
    scan: &ScanConfig,
    args: &VerifyArgs,
    now: i64,
    show_progress: bool,
    out: &mut dyn Write,
) -> Result<u8, CommandError> {
    let base_dir = scan.base_dir();
    let lock_dir = scan.instances_path.join(LOCKS_DIR);
    let paths: Vec<PathBuf> = if args.files.is_empty() {
        let entries = std::fs::read_dir(&base_dir).map_err(|err| CommandError::Other {
            message: format!("cannot list {}: {err}", quote(&base_dir)),
            code: exit::FAILURE,
        })?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .filter(|e| {
                e.file_type().is_ok_and(|t| t.is_file())
                    && classify_os(&e.file_name()).kind().is_image()
            })
            .map(|e| e.path())
            .collect();
        paths.sort();
        paths
    } else {
        args.files.clone()
    };

    let mut report = VerifyReport {
        schema: SCHEMA,
        command: "verify",
        base_dir: base_dir.display().to_string(),
        summary: VerifySummary::default(),
        warnings: Vec::new(),
        files: Vec::new(),
    };
    // Stat every input first, so the files can be hashed in parallel; the report follows the
    // order of `paths`, whatever order the hashes finish in.
    let sizes: Vec<Result<u64, WarningEntry>> = paths
        .iter()
        .map(|path| match std::fs::metadata(path) {
            Ok(meta) if meta.is_file() => Ok(meta.len()),
            Ok(_) => Err(WarningEntry {
                code: "not_a_file",
                message: format!("{}: not a regular file", quote(path)),
            }),
            Err(err) => Err(WarningEntry {
                code: "unreadable_file",
                message: format!("{}: {err}", quote(path)),
            }),
        })
        .collect();
    let jobs: Vec<ChecksumJob<'_>> = paths
        .iter()
        .zip(&sizes)
        .filter_map(|(path, size)| {
            Some(ChecksumJob {
                path,
                mode: ChecksumMode::Verify,
                size: *size.as_ref().ok()?,
            })
        })
        .collect();
    let progress = hash_progress(show_progress, &jobs);
    let mut outcomes = check_all(
        &jobs,
        now as f64,
        Some(&lock_dir),
        args.jobs.get(),
        &progress,
    )
    .into_iter();
    progress.finish();

    let mut missing_input = false;
    for (path, size) in paths.iter().zip(sizes) {
        let size = match size {
            Ok(size) => size,
            Err(warning) => {
                missing_input = true;
                report.warnings.push(warning);
                continue;
            }
        };
        let Some(outcome) = outcomes.next() else {
            break;
        };
        let reason = match outcome.state {
            ChecksumState::Valid => "matches its sidecar".to_owned(),
            ChecksumState::Written => "had no sidecar: one was written".to_owned(),
            _ => outcome.note.clone().unwrap_or_default(),
        };
        match outcome.state {
            ChecksumState::Valid => report.summary.valid += 1,
            ChecksumState::Corrupt => report.summary.corrupt += 1,
            ChecksumState::Written => report.summary.written += 1,
            ChecksumState::NotChecked | ChecksumState::Missing => report.summary.not_checked += 1,
        }
        if outcome.actual.is_some() {
            report.summary.bytes_hashed += size;
        }
        if outcome.problem {
            let code = if outcome.state == ChecksumState::Corrupt {
                "corrupt_base_file"
            } else {
                "checksum_unchecked"
            };
            report.warnings.push(WarningEntry {
                code,
                message: reason.clone(),
            });
        }
        report.files.push(VerifiedFile {
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            path: path.display().to_string(),
            checksum: outcome.state,
            sha1: outcome.actual,
            stored_sha1: outcome.stored,
            size_bytes: size,
            reason,
        });
    }
    report.summary.files = report.files.len();

    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &report).map_err(std::io::Error::from)?;
            writeln!(out)?;
        }
        Format::Text => out.write_all(render_text(&report).as_bytes())?,
    }
    out.flush()?;
    Ok(if missing_input || report.summary.not_checked > 0 {
        exit::FAILURE
    } else if report.summary.corrupt > 0 {
        exit::CORRUPT
    } else {
        exit::SUCCESS
    })
}

/// The text report: names quoted, and every reason and warning passed through
/// [`escape_controls`], so that no control character reaches a terminal.
fn render_text(report: &VerifyReport) -> String {
    let s = &report.summary;
    let mut text = format!(
        "cachectl verify of {}\n{} files: {} valid, {} corrupt, {} written, {} not checked ({} hashed)\n",
        quote(&report.base_dir),
        s.files,
        s.valid,
        s.corrupt,
        s.written,
        s.not_checked,
        human_bytes(s.bytes_hashed)
    );
    let names: Vec<String> = report
        .files
        .iter()
        .map(|f| quote(&f.name).to_string())
        .collect();
    let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
    if !report.files.is_empty() {
        text.push('\n');
    }
    for (file, name) in report.files.iter().zip(&names) {
        let _ = writeln!(
            text,
            "{:<11}  {name:<width$}  {:>10}  {}",
            file.checksum.as_str(),
            human_bytes(file.size_bytes),
            escape_controls(&file.reason)
        );
    }
    // Problems already shown in a file's row are not repeated.
    let shown: HashSet<&str> = report.files.iter().map(|f| f.reason.as_str()).collect();
    let warnings: Vec<&WarningEntry> = report
        .warnings
        .iter()
        .filter(|w| !shown.contains(w.message.as_str()))
        .collect();
    if !warnings.is_empty() {
        text.push_str("\nwarnings:\n");
        for warning in warnings {
            let _ = writeln!(text, "  {}", escape_controls(&warning.message));
        }
    }
    text
}
