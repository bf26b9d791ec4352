//! `cachectl verify`: hash base files against their sidecars, and write the missing sidecars.

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

use cachectl_fs::{Dir, Kind};
use cachectl_naming::{classify_os, escape_controls, quote};
use serde::Serialize;

use crate::checksums::{ChecksumJob, ChecksumMode, ChecksumState, check_all, hash_progress};
use crate::cli::{CommandError, Format, VerifyArgs};
use crate::exit;
use crate::locks::{LOCKS_DIR, open_lock_dir};
use crate::report::{SCHEMA, WarningEntry, human_bytes};
use crate::scan::ScanConfig;

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
    let mut report = VerifyReport {
        schema: SCHEMA,
        command: "verify",
        base_dir: base_dir.display().to_string(),
        summary: VerifySummary::default(),
        warnings: Vec::new(),
        files: Vec::new(),
    };
    let open_error = |path: &Path, err: std::io::Error| CommandError::Other {
        message: format!("cannot open {}: {err}", quote(path)),
        code: exit::FAILURE,
    };
    // Without FILEs the instances path must be there (a typo is an error); with them, Nova's
    // lock directory is used where there is one.
    let instances = match Dir::open(&scan.instances_path) {
        Ok(dir) => Some(dir),
        Err(err) if args.files.is_empty() => return Err(open_error(&scan.instances_path, err)),
        Err(_) => None,
    };
    // The directories the files are in, and each file as (its directory, its name, its path).
    let mut dirs: Vec<Dir> = Vec::new();
    let mut files: Vec<(usize, OsString, PathBuf)> = Vec::new();
    let mut missing_input = false;
    if args.files.is_empty() {
        let Some(instances) = &instances else {
            return Err(open_error(
                &scan.instances_path,
                std::io::ErrorKind::NotFound.into(),
            ));
        };
        let Some(base) = instances
            .open_child(OsStr::new(&scan.base_dir_name))
            .map_err(|err| open_error(&base_dir, err))?
        else {
            report.warnings.push(WarningEntry {
                code: "no_base_dir",
                message: format!("no base directory at {}: nothing to do", quote(&base_dir)),
            });
            write_report(&report, args.format, out)?;
            return Ok(exit::SUCCESS);
        };
        let entries = base.entries().map_err(|err| CommandError::Other {
            message: format!("cannot list {}: {err}", quote(&base_dir)),
            code: exit::FAILURE,
        })?;
        files = entries
            .into_iter()
            .filter(|(name, kind)| *kind == Kind::Regular && classify_os(name).kind().is_image())
            .map(|(name, _)| (0, name.clone(), base.join(&name)))
            .collect();
        dirs.push(base);
    } else {
        // One open directory per directory, however many files are in it.
        let mut dir_index: HashMap<&Path, usize> = HashMap::new();
        for path in &args.files {
            let parent = match path.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => parent,
                _ => Path::new("."),
            };
            let opened = match (path.file_name(), dir_index.get(parent)) {
                (Some(name), Some(&index)) => Ok((index, name.to_owned())),
                (Some(name), None) => Dir::open(parent).map(|dir| {
                    dir_index.insert(parent, dirs.len());
                    dirs.push(dir);
                    (dirs.len() - 1, name.to_owned())
                }),
                (None, _) => Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "names no file",
                )),
            };
            match opened {
                Ok((index, name)) => files.push((index, name, path.clone())),
                Err(err) => {
                    missing_input = true;
                    report.warnings.push(WarningEntry {
                        code: "unreadable_file",
                        message: format!("{}: {err}", quote(path)),
                    });
                }
            }
        }
    }

    // Sidecars are written under Nova's locks, where there is an instances path.
    let lock_dir = match &instances {
        Some(instances) => open_lock_dir(instances, true)
            .map_err(|err| open_error(&instances.join(OsStr::new(LOCKS_DIR)), err))?,
        None => None,
    };

    // Stat every input first, so the files can be hashed in parallel; the report follows the
    // order of `files`, whatever order the hashes finish in. A symlink is not followed.
    let sizes: Vec<Result<u64, WarningEntry>> = files
        .iter()
        .map(|(dir, name, path)| match dirs[*dir].stat(name) {
            Ok(Some(stat)) if stat.kind == Kind::Regular => Ok(stat.size),
            Ok(Some(stat)) => Err(WarningEntry {
                code: "not_a_file",
                message: format!(
                    "{}: a {}, not a regular file{}",
                    quote(path),
                    stat.kind.name(),
                    if stat.kind == Kind::Symlink {
                        ": not followed"
                    } else {
                        ""
                    }
                ),
            }),
            Ok(None) => Err(WarningEntry {
                code: "unreadable_file",
                message: format!("{}: no such file", quote(path)),
            }),
            Err(err) => Err(WarningEntry {
                code: "unreadable_file",
                message: format!("{}: {err}", quote(path)),
            }),
        })
        .collect();
    let jobs: Vec<ChecksumJob<'_>> = files
        .iter()
        .zip(&sizes)
        .filter_map(|((dir, name, _), size)| {
            Some(ChecksumJob {
                dir: &dirs[*dir],
                name,
                mode: ChecksumMode::Verify,
                size: *size.as_ref().ok()?,
            })
        })
        .collect();
    let progress = hash_progress(show_progress, &jobs);
    let mut outcomes = check_all(
        &jobs,
        now as f64,
        lock_dir.as_ref(),
        args.jobs.get(),
        &progress,
    )
    .into_iter();
    progress.finish();

    for ((_, name, path), size) in files.iter().zip(sizes) {
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
            name: name.to_string_lossy().into_owned(),
            path: path.display().to_string(),
            checksum: outcome.state,
            sha1: outcome.actual,
            stored_sha1: outcome.stored,
            size_bytes: size,
            reason,
        });
    }
    report.summary.files = report.files.len();

    write_report(&report, args.format, out)?;
    Ok(if missing_input || report.summary.not_checked > 0 {
        exit::FAILURE
    } else if report.summary.corrupt > 0 {
        exit::CORRUPT
    } else {
        exit::SUCCESS
    })
}

fn write_report(
    report: &VerifyReport,
    format: Format,
    out: &mut dyn Write,
) -> Result<(), CommandError> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, report).map_err(std::io::Error::from)?;
            writeln!(out)?;
        }
        Format::Text => out.write_all(render_text(report).as_bytes())?,
    }
    out.flush()?;
    Ok(())
}

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
