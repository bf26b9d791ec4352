//! `cachectl verify`: hash base files against their sidecars, and write the missing sidecars.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::io::{self, Write};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use cachectl_fs::{Dir, Kind};
use cachectl_naming::{classify_os, escape_controls, quote};
use cachectl_policy::UnixTime;
use serde::Serialize;

use crate::checksums::{
    ChecksumJob, ChecksumMode, ChecksumOutcome, ChecksumState, check_all, hash_progress,
};
use crate::error::CommandError;
use crate::exit::ExitCode;
use crate::locks::{LOCKS_DIR, open_lock_dir};
use crate::report::output::write_json;
use crate::report::{Format, SCHEMA, WarningCode, WarningEntry, human_bytes};
use crate::scan::ScanConfig;

/// What `verify` is asked to do.
#[derive(Debug, Clone)]
pub(crate) struct VerifyConfig {
    /// Where the instances and the cache are.
    pub scan: ScanConfig,
    /// The files to verify; none: every image in the cache directory.
    pub files: Vec<PathBuf>,
    /// The report's format.
    pub format: Format,
    /// How many files are hashed at once.
    pub jobs: NonZeroUsize,
    /// The time of the run (what new sidecars say).
    pub now: UnixTime,
    /// Whether hashing shows its progress on stderr.
    pub progress: bool,
}

/// One file verified.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct VerifiedFile {
    /// Its name.
    pub name: String,
    /// Its path.
    pub path: String,
    /// `valid`, `corrupt`, `written` or `not_checked`.
    #[serde(serialize_with = "crate::report::by_name")]
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
pub(crate) struct VerifySummary {
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
pub(crate) struct VerifyReport {
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

/// The files to verify, each as (its directory, its name, its path), with the directories they
/// are in, open once each.
#[derive(Debug, Default)]
struct Inputs {
    dirs: Vec<Dir>,
    files: Vec<(usize, OsString, PathBuf)>,
}

/// What `verify` found, and the exit code it calls for.
#[derive(Debug)]
pub(crate) struct Verified {
    /// The report.
    pub report: VerifyReport,
    /// The exit code.
    pub exit_code: ExitCode,
}

/// Verifies the files `config` names (or every image of the cache), writing missing sidecars.
pub(crate) fn verify(config: &VerifyConfig) -> Result<Verified, CommandError> {
    let base_dir = config.scan.base_dir();
    let mut report = VerifyReport {
        schema: SCHEMA,
        command: "verify",
        base_dir: base_dir.display().to_string(),
        summary: VerifySummary::default(),
        warnings: Vec::new(),
        files: Vec::new(),
    };
    // Without FILEs the instances path must be there (a typo is an error); with them, Nova's
    // lock directory is used where there is one.
    let instances = match Dir::open(&config.scan.instances_path) {
        Ok(dir) => Some(dir),
        Err(err) if config.files.is_empty() => {
            return Err(open_error(&config.scan.instances_path, err));
        }
        Err(_) => None,
    };
    let inputs = match (&instances, config.files.is_empty()) {
        (Some(instances), true) => {
            match cache_images(instances, &config.scan.base_dir_name, &base_dir)? {
                Some(inputs) => inputs,
                None => {
                    report.warnings.push(WarningEntry::new(
                        WarningCode::NoBaseDir,
                        format_args!("no base directory at {}: nothing to do", quote(&base_dir)),
                    ));
                    return Ok(Verified {
                        report,
                        exit_code: ExitCode::Success,
                    });
                }
            }
        }
        _ => given_files(&config.files, &mut report.warnings),
    };
    // Sidecars are written under Nova's locks, where there is an instances path.
    let lock_dir = match &instances {
        Some(instances) => open_lock_dir(instances, true)
            .map_err(|err| open_error(&instances.join(OsStr::new(LOCKS_DIR)), err))?,
        None => None,
    };
    let missing_input = verify_all(config, &inputs, lock_dir.as_ref(), &mut report);
    let exit_code = ExitCode::first_of(
        [
            (missing_input || report.summary.not_checked > 0).then_some(ExitCode::Failure),
            (report.summary.corrupt > 0).then_some(ExitCode::Corrupt),
        ]
        .into_iter()
        .flatten(),
    );
    Ok(Verified { report, exit_code })
}

fn open_error(path: &Path, err: io::Error) -> CommandError {
    CommandError::new(
        ExitCode::Failure,
        format!("cannot open {}: {err}", quote(path)),
    )
}

/// Every image in the cache directory, sorted by name; `None` if there is no cache directory.
fn cache_images(
    instances: &Dir,
    base_dir_name: &str,
    base_dir: &Path,
) -> Result<Option<Inputs>, CommandError> {
    let Some(base) = instances
        .open_child(OsStr::new(base_dir_name))
        .map_err(|err| open_error(base_dir, err))?
    else {
        return Ok(None);
    };
    let entries = base.entries().map_err(|err| {
        CommandError::new(
            ExitCode::Failure,
            format!("cannot list {}: {err}", quote(base_dir)),
        )
    })?;
    let files = entries
        .into_iter()
        .filter(|(name, kind)| *kind == Kind::Regular && classify_os(name).kind().is_image())
        .map(|(name, _)| (0, name.clone(), base.join(&name)))
        .collect();
    Ok(Some(Inputs {
        dirs: vec![base],
        files,
    }))
}

/// The FILEs given, each in its directory (one open directory per directory, however many
/// files are in it); a file that names no file or whose directory cannot be opened is a
/// warning.
fn given_files(paths: &[PathBuf], warnings: &mut Vec<WarningEntry>) -> Inputs {
    let mut inputs = Inputs::default();
    let mut dir_index: HashMap<&Path, usize> = HashMap::new();
    for path in paths {
        let parent = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let opened = match (path.file_name(), dir_index.get(parent)) {
            (Some(name), Some(&index)) => Ok((index, name.to_owned())),
            (Some(name), None) => Dir::open(parent).map(|dir| {
                dir_index.insert(parent, inputs.dirs.len());
                inputs.dirs.push(dir);
                (inputs.dirs.len() - 1, name.to_owned())
            }),
            (None, _) => Err(io::Error::new(io::ErrorKind::InvalidInput, "names no file")),
        };
        match opened {
            Ok((index, name)) => inputs.files.push((index, name, path.clone())),
            Err(err) => warnings.push(WarningEntry::new(
                WarningCode::UnreadableFile,
                format_args!("{}: {err}", quote(path)),
            )),
        }
    }
    inputs
}

/// The size of each file to hash, as `lstat` says (a symlink is not followed), or the warning
/// that says why it is not hashed.
fn sizes(inputs: &Inputs) -> Vec<Result<u64, WarningEntry>> {
    inputs
        .files
        .iter()
        .map(|(dir, name, path)| match inputs.dirs[*dir].stat(name) {
            Ok(Some(stat)) if stat.kind == Kind::Regular => Ok(stat.size),
            Ok(Some(stat)) => Err(WarningEntry::new(
                WarningCode::NotAFile,
                format_args!(
                    "{}: a {}, not a regular file{}",
                    quote(path),
                    stat.kind.name(),
                    if stat.kind == Kind::Symlink {
                        ": not followed"
                    } else {
                        ""
                    }
                ),
            )),
            Ok(None) => Err(WarningEntry::new(
                WarningCode::UnreadableFile,
                format_args!("{}: no such file", quote(path)),
            )),
            Err(err) => Err(WarningEntry::new(
                WarningCode::UnreadableFile,
                format_args!("{}: {err}", quote(path)),
            )),
        })
        .collect()
}

/// Hashes every input (in parallel; the report follows the order of the inputs, whatever
/// order the hashes finish in) and fills the report. Returns whether an input was missing.
fn verify_all(
    config: &VerifyConfig,
    inputs: &Inputs,
    lock_dir: Option<&Dir>,
    report: &mut VerifyReport,
) -> bool {
    let sizes = sizes(inputs);
    let jobs: Vec<ChecksumJob<'_>> = inputs
        .files
        .iter()
        .zip(&sizes)
        .filter_map(|((dir, name, _), size)| {
            Some(ChecksumJob {
                dir: &inputs.dirs[*dir],
                name,
                mode: ChecksumMode::Verify,
                size: *size.as_ref().ok()?,
            })
        })
        .collect();
    let progress = hash_progress(config.progress, &jobs);
    let mut outcomes = check_all(&jobs, config.now, lock_dir, config.jobs, &progress).into_iter();
    progress.finish();

    let mut missing_input = false;
    for ((_, name, path), size) in inputs.files.iter().zip(sizes) {
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
        add_file(report, name, path, size, outcome);
    }
    report.summary.files = report.files.len();
    missing_input
}

/// One file's row, totals, and warning if its check found a problem (shown in its row too).
fn add_file(
    report: &mut VerifyReport,
    name: &OsStr,
    path: &Path,
    size: u64,
    outcome: ChecksumOutcome,
) {
    let reason = match outcome.state {
        ChecksumState::Valid => "matches its sidecar".to_owned(),
        ChecksumState::Written => "had no sidecar: one was written".to_owned(),
        _ => outcome
            .note
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
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
    if let Some(problem) = outcome.problem() {
        let code = if outcome.state == ChecksumState::Corrupt {
            WarningCode::CorruptBaseFile
        } else {
            WarningCode::ChecksumUnchecked
        };
        report
            .warnings
            .push(WarningEntry::new(code, problem).shown_in_a_row());
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

pub(crate) fn write_report(
    report: &VerifyReport,
    format: Format,
    out: &mut dyn Write,
) -> Result<(), CommandError> {
    match format {
        Format::Json => write_json(report, out)?,
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
    let warnings: Vec<&WarningEntry> = report
        .warnings
        .iter()
        .filter(|w| !w.is_shown_in_a_row())
        .collect();
    if !warnings.is_empty() {
        text.push_str("\nwarnings:\n");
        for warning in warnings {
            let _ = writeln!(text, "  {}", escape_controls(&warning.message));
        }
    }
    text
}
