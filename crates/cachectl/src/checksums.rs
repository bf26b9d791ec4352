//! Verifying base files against their checksum sidecars, and writing the missing ones.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fmt;
use std::num::NonZeroUsize;
use std::path::PathBuf;

use cachectl_fs::Dir;
use cachectl_naming::{nova_lock_name, quote};
use cachectl_policy::{FileOutcome, HumanDuration, UnixTime};
use cachectl_sidecar::{
    SidecarFormat, Verification, hash_entry_with, read_stored_checksum, verify_with, write_info,
};

use crate::pool;
use crate::progress::HashProgress;
use crate::scan::Scan;

/// What a command does about checksums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumMode {
    /// Nothing: every file is `not_checked`.
    Off,
    /// `audit --checksum`: verify files that have a sidecar; write nothing.
    Audit,
    /// `clean --checksum`: verify, except files whose `.info` was written less than
    /// `interval` seconds ago; write missing sidecars.
    Clean {
        /// `checksum_interval_seconds`.
        interval: u64,
    },
    /// `verify`: always hash; write missing sidecars.
    Verify,
}

/// The checksum state of a file, as reports name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumState {
    /// Not hashed in this run.
    NotChecked,
    /// Hashes to its stored digest.
    Valid,
    /// Does not: image verification failed.
    Corrupt,
    /// No sidecar, and none written.
    Missing,
    /// No sidecar: one was written now.
    Written,
}

impl ChecksumState {
    /// Every state (for series that must exist when zero).
    pub(crate) const ALL: [Self; 5] = [
        Self::NotChecked,
        Self::Valid,
        Self::Corrupt,
        Self::Missing,
        Self::Written,
    ];

    /// The snake_case name reports use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotChecked => "not_checked",
            Self::Valid => "valid",
            Self::Corrupt => "corrupt",
            Self::Missing => "missing",
            Self::Written => "written",
        }
    }
}

impl fmt::Display for ChecksumState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a file was not checked as asked, or what went wrong: for the file's row of a report, or
/// (for a [`ChecksumNote::is_problem`]) its warnings.
#[derive(Debug, Clone, PartialEq)]
pub enum ChecksumNote {
    /// Not hashed: another process holds its Nova lock (Nova is creating or removing it).
    LockHeld {
        /// The lock file.
        lock: PathBuf,
    },
    /// Hashed, but its sidecar not written: another process took its lock meanwhile.
    LockTaken {
        /// The lock file.
        lock: PathBuf,
    },
    /// Hashed, but its sidecar not written: the file changed while it was hashed.
    Changed,
    /// Its `.info` is recent: not hashed again before the interval.
    WrittenRecently {
        /// Seconds since it was written.
        since: u64,
        /// `--checksum-interval`.
        interval: u64,
    },
    /// It does not hash to its sidecar's digest.
    Mismatch {
        /// The image.
        image: PathBuf,
        /// Its digest now.
        actual: String,
        /// The sidecar.
        sidecar: PathBuf,
        /// What the sidecar says.
        expected: String,
    },
    /// It could not be checked (a sidecar that cannot be read, a lock that cannot be taken, a
    /// file that cannot be hashed or a sidecar written); the message says why.
    Failed(String),
}

impl ChecksumNote {
    /// Whether the operator should see it as a warning, not only in the file's row.
    pub fn is_problem(&self) -> bool {
        matches!(self, Self::Mismatch { .. } | Self::Failed(_))
    }
}

impl fmt::Display for ChecksumNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LockHeld { lock } => {
                write!(
                    f,
                    "not hashed: another process holds its lock {}",
                    quote(lock)
                )
            }
            Self::LockTaken { lock } => write!(
                f,
                "sidecar not written: another process took its lock {}",
                quote(lock)
            ),
            Self::Changed => {
                f.write_str("sidecar not written: the file changed while it was hashed")
            }
            Self::WrittenRecently { since, interval } => write!(
                f,
                "checksum written {} ago, not re-hashed before {}",
                HumanDuration(*since),
                HumanDuration(*interval)
            ),
            Self::Mismatch {
                image,
                actual,
                sidecar,
                expected,
            } => write!(
                f,
                "image verification failed: {} has sha1 {actual}, its sidecar {} says {expected}",
                quote(image),
                quote(sidecar)
            ),
            Self::Failed(message) => f.write_str(message),
        }
    }
}

/// What checking one file found.
#[derive(Debug, Clone, PartialEq)]
pub struct ChecksumOutcome {
    /// The state.
    pub state: ChecksumState,
    /// The digest stored, if any.
    pub stored: Option<String>,
    /// The digest computed, if hashed.
    pub actual: Option<String>,
    /// Why it was not checked as asked, or what went wrong.
    pub note: Option<ChecksumNote>,
}

impl ChecksumOutcome {
    fn of(state: ChecksumState) -> Self {
        Self {
            state,
            stored: None,
            actual: None,
            note: None,
        }
    }

    fn noted(self, note: ChecksumNote) -> Self {
        Self {
            note: Some(note),
            ..self
        }
    }

    fn failed(message: String) -> Self {
        Self::of(ChecksumState::NotChecked).noted(ChecksumNote::Failed(message))
    }

    /// The problem the operator should see as a warning, if there is one.
    pub fn problem(&self) -> Option<&ChecksumNote> {
        self.note.as_ref().filter(|note| note.is_problem())
    }
}

/// Where and how a pass checks the cache files it keeps.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeptChecks<'a> {
    /// The cache directory.
    pub base: &'a Dir,
    /// What to do (an `audit` never writes: give it [`ChecksumMode::Audit`]).
    pub mode: ChecksumMode,
    /// Nova's lock directory, if there is one.
    pub lock_dir: Option<&'a Dir>,
    /// The time of the pass.
    pub now: UnixTime,
    /// How many files are hashed at once.
    pub jobs: NonZeroUsize,
    /// Whether hashing shows its progress on stderr.
    pub progress: bool,
}

/// Hashes the images of `scan` the policy says to check (those that stay), as `checks` says;
/// an outcome per cache entry, in the scan's order.
pub(crate) fn check_kept(
    checks: &KeptChecks<'_>,
    scan: &Scan,
    outcomes: &[FileOutcome],
) -> Vec<ChecksumOutcome> {
    let jobs: Vec<ChecksumJob<'_>> = scan
        .files
        .iter()
        .zip(outcomes)
        .map(|(file, outcome)| ChecksumJob {
            dir: checks.base,
            name: file.name(),
            mode: if outcome.is_hashed(file.fact.file_type) {
                checks.mode
            } else {
                ChecksumMode::Off
            },
            size: file.fact.size,
        })
        .collect();
    let progress = hash_progress(checks.progress, &jobs);
    let checksums = check_all(&jobs, checks.now, checks.lock_dir, checks.jobs, &progress);
    progress.finish();
    checksums
}

/// One file for [`check_all`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChecksumJob<'a> {
    /// The directory the image is in.
    pub dir: &'a Dir,
    /// The image's name in it.
    pub name: &'a OsStr,
    /// What to do with it.
    pub mode: ChecksumMode,
    /// Its size as last seen: for scheduling (largest first) and progress only.
    pub size: u64,
}

/// The progress of hashing the files of `jobs` that may be hashed, drawn if `visible` (files
/// that turn out to need no hashing count as done when they are).
pub(crate) fn hash_progress(visible: bool, jobs: &[ChecksumJob<'_>]) -> HashProgress {
    let hashed = jobs.iter().filter(|job| job.mode != ChecksumMode::Off);
    let (files, bytes) = hashed.fold((0, 0), |(files, bytes), job| (files + 1, bytes + job.size));
    HashProgress::new(visible, files, bytes)
}

/// Checks every file as [`check`] does, with up to `jobs` threads, largest files first; the
/// outcomes in the order of `files`, whatever order the threads finish in.
///
/// Files whose Nova lock file is the same (the same name, in different directories or given
/// twice) are checked one after another by one thread: POSIX record locks belong to the process,
/// so two threads of it would neither exclude each other nor keep each other's lock (closing
/// any descriptor of a lock file releases the process's lock on it).
pub(crate) fn check_all(
    files: &[ChecksumJob<'_>],
    now: UnixTime,
    lock_dir: Option<&Dir>,
    jobs: NonZeroUsize,
    progress: &HashProgress,
) -> Vec<ChecksumOutcome> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut group_of_name: HashMap<&OsStr, usize> = HashMap::new();
    for (index, file) in files.iter().enumerate() {
        if file.mode == ChecksumMode::Off {
            continue;
        }
        match group_of_name.get(file.name) {
            Some(&group) => groups[group].push(index),
            None => {
                group_of_name.insert(file.name, groups.len());
                groups.push(vec![index]);
            }
        }
    }
    let checked = pool::map(
        &groups,
        jobs,
        |group| group.iter().map(|&i| files[i].size).sum(),
        |group| {
            group
                .iter()
                .map(|&i| {
                    let file = &files[i];
                    let mut hashed = 0u64;
                    let outcome = check_with(
                        file.dir,
                        file.name,
                        file.mode,
                        now,
                        lock_dir,
                        &mut |bytes| {
                            hashed += bytes;
                            progress.advance(bytes);
                        },
                    );
                    progress.file_done(file.size.saturating_sub(hashed));
                    (i, outcome)
                })
                .collect::<Vec<_>>()
        },
    );
    let mut outcomes = vec![ChecksumOutcome::of(ChecksumState::NotChecked); files.len()];
    for (index, outcome) in checked.into_iter().flatten() {
        outcomes[index] = outcome;
    }
    outcomes
}

/// Checks the image `name` of `dir` as `mode` says, at time `now`.
///
/// With `lock_dir` (Nova's lock directory; created by the commands that write sidecars), a file
/// whose Nova lock another process holds (being created or removed) is not hashed, and a
/// sidecar is written only under that lock, and only if the file did not change while it was
/// hashed: a digest of a file caught mid-creation would later call it corrupt. (Without a lock
/// directory there is no Nova to exclude: sidecars are written without a lock.)
pub fn check(
    dir: &Dir,
    name: &OsStr,
    mode: ChecksumMode,
    now: UnixTime,
    lock_dir: Option<&Dir>,
) -> ChecksumOutcome {
    check_with(dir, name, mode, now, lock_dir, &mut |_| {})
}

/// Like [`check`], calling `progress` with the bytes of each read as it hashes.
pub(crate) fn check_with(
    dir: &Dir,
    name: &OsStr,
    mode: ChecksumMode,
    now: UnixTime,
    lock_dir: Option<&Dir>,
    progress: &mut dyn FnMut(u64),
) -> ChecksumOutcome {
    if mode == ChecksumMode::Off {
        return ChecksumOutcome::of(ChecksumState::NotChecked);
    }
    let lock_name = name.to_str().map(nova_lock_name);
    let lock = lock_dir.zip(lock_name.as_deref().map(OsStr::new));
    if let Some((locks, lock_name)) = lock
        && locks.lock_held_elsewhere(lock_name).unwrap_or(false)
    {
        return ChecksumOutcome::of(ChecksumState::NotChecked).noted(ChecksumNote::LockHeld {
            lock: locks.join(lock_name),
        });
    }
    let before = identity(dir, name);
    let (mut outcome, to_write) = check_unwritten(dir, name, mode, now, progress);
    let Some(digest) = to_write else {
        return outcome;
    };
    let held = match lock.map(|(locks, lock_name)| (locks, lock_name, locks.try_lock(lock_name))) {
        None => None,
        Some((_, _, Ok(Some(held)))) => Some(held),
        Some((locks, lock_name, Ok(None))) => {
            return ChecksumOutcome::of(ChecksumState::NotChecked).noted(ChecksumNote::LockTaken {
                lock: locks.join(lock_name),
            });
        }
        Some((locks, lock_name, Err(err))) => {
            return ChecksumOutcome::failed(format!(
                "cannot take lock {}: {err}",
                quote(&locks.join(lock_name))
            ));
        }
    };
    if before.is_none() || identity(dir, name) != before {
        return ChecksumOutcome::of(ChecksumState::NotChecked).noted(ChecksumNote::Changed);
    }
    if let Err(err) = write_info(dir, name, &digest, now.as_f64()) {
        outcome = ChecksumOutcome::failed(err.to_string());
    }
    drop(held);
    outcome
}

/// Size, mtime and inode: enough to tell a file changed.
fn identity(dir: &Dir, name: &OsStr) -> Option<(u64, i64, u32, u64)> {
    dir.stat(name)
        .ok()
        .flatten()
        .map(|stat| (stat.size, stat.mtime, stat.mtime_nsec, stat.ino))
}

/// The outcome, and the digest to store in a new `.info` when the mode writes one.
fn check_unwritten(
    dir: &Dir,
    image: &OsStr,
    mode: ChecksumMode,
    now: UnixTime,
    progress: &mut dyn FnMut(u64),
) -> (ChecksumOutcome, Option<String>) {
    let stored = match read_stored_checksum(dir, image) {
        Ok(stored) => stored,
        Err(err) => return (ChecksumOutcome::failed(err.to_string()), None),
    };
    let Some(stored) = stored else {
        if mode == ChecksumMode::Audit {
            return (ChecksumOutcome::of(ChecksumState::Missing), None);
        }
        return match hash_entry_with(dir, image, progress) {
            Ok(digest) => (
                ChecksumOutcome {
                    actual: Some(digest.clone()),
                    ..ChecksumOutcome::of(ChecksumState::Written)
                },
                Some(digest),
            ),
            Err(err) => (
                ChecksumOutcome::failed(format!("cannot hash {}: {err}", quote(&dir.join(image)))),
                None,
            ),
        };
    };
    if let (ChecksumMode::Clean { interval }, Some(written)) = (mode, stored.timestamp) {
        let since = now.as_f64() - written;
        if (0.0..interval as f64).contains(&since) {
            let outcome = ChecksumOutcome {
                stored: Some(stored.sha1),
                ..ChecksumOutcome::of(ChecksumState::NotChecked)
            };
            let note = ChecksumNote::WrittenRecently {
                since: since as u64,
                interval,
            };
            return (outcome.noted(note), None);
        }
    }
    match verify_with(dir, image, &stored, progress) {
        Ok(Verification::Valid) => {
            // Writing a legacy digest into .info retires the .sha1 (Folsom's migration).
            let migrate = stored.format == SidecarFormat::Sha1 && mode != ChecksumMode::Audit;
            let outcome = ChecksumOutcome {
                actual: Some(stored.sha1.to_ascii_lowercase()),
                stored: Some(stored.sha1.clone()),
                ..ChecksumOutcome::of(ChecksumState::Valid)
            };
            (outcome, migrate.then_some(stored.sha1))
        }
        Ok(Verification::Mismatch {
            stored: expected,
            actual,
        }) => (
            ChecksumOutcome {
                note: Some(ChecksumNote::Mismatch {
                    image: dir.join(image),
                    actual: actual.clone(),
                    sidecar: stored.path.clone(),
                    expected: expected.clone(),
                }),
                stored: Some(expected),
                actual: Some(actual),
                state: ChecksumState::Corrupt,
            },
            None,
        ),
        Err(err) => (ChecksumOutcome::failed(err.to_string()), None),
    }
}
