//! One pass over the cache: `audit` (read-only) and `clean` (the pass itself).

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::num::NonZeroUsize;
use std::path::PathBuf;

use cachectl_fs::{Dir, Lock};
use cachectl_naming::{EntryKind, classify, quote};
use cachectl_policy::{
    Ages, DoubtOutcome, EphemeralConfig, Facts, FileDecision, FileType, Plan, Reason, State,
    StorageUsers, Warning, plan,
};

use crate::ack::{self, AckError};
use crate::apply::{RemoveOutcome, lock_entries, lock_name, remove_base_file, touch};
use crate::checksums::{
    ChecksumJob, ChecksumMode, ChecksumOutcome, ChecksumState, check_all, hash_progress,
};
use crate::exit;
use crate::inventory::{self, InventoryError};
use crate::locks::{nova_lock_name, open_lock_dir, stale_lock_files};
use crate::report::{
    FileEntry, FileState, OrphanEntry, Report, SCHEMA, UnreadableEntry, UsedBy, WarningEntry,
};
use crate::scan::{Scan, ScanConfig, ScanError, scan_with_jobs};
use crate::storage::{self, COMPUTE_NODES, Registry, StorageError};

/// The lock file that keeps two `cachectl clean` from running on one storage at once.
pub const PASS_LOCK: &str = "cachectl-clean";
/// Removals are confirmed in batches of this many locks, within the open-files limit.
const LOCK_BATCH: usize = 256;

/// What a pass does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read-only: what a pass would do, and why.
    Audit,
    /// The pass itself; with `dry_run`, only what it would do.
    Clean {
        /// Change nothing.
        dry_run: bool,
    },
}

/// Everything a pass needs to know.
#[derive(Debug, Clone)]
pub struct PassConfig {
    /// Where the instances and the cache are.
    pub scan: ScanConfig,
    /// This host's name.
    pub host: String,
    /// Minimum ages.
    pub ages: Ages,
    /// Ephemeral naming settings.
    pub ephemeral: EphemeralConfig,
    /// `--inventory`.
    pub inventory: Option<PathBuf>,
    /// What to do about checksums.
    pub checksum: ChecksumMode,
    /// `--ack-unreadable`: the unreadable files an operator has looked at.
    pub ack_unreadable: Option<PathBuf>,
    /// Audit or clean.
    pub action: Action,
    /// The time of the pass, unix seconds.
    pub now: i64,
    /// How many files are hashed at once.
    pub jobs: NonZeroUsize,
    /// Whether hashing shows its progress on stderr.
    pub progress: bool,
}

/// A pass that could not run.
#[derive(Debug, thiserror::Error)]
pub enum PassError {
    /// The inventory is unusable: nothing was done.
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    /// The acknowledgements are unusable: nothing was done.
    #[error(transparent)]
    Ack(#[from] AckError),
    /// The instances path or the cache directory cannot be opened: nothing was done.
    #[error("cannot open {}: {source}", quote(.path))]
    Open {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A directory cannot be listed: nothing was done.
    #[error(transparent)]
    Scan(#[from] ScanError),
    /// `compute_nodes` cannot be read.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A lock file cannot be opened.
    #[error("cannot take lock {}: {source}", quote(.path))]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Another `cachectl clean` is running.
    #[error("another cachectl clean is running on this storage (lock {} is held)", quote(.0))]
    Busy(PathBuf),
}

impl PassError {
    /// The exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Inventory(_) | Self::Ack(_) => exit::BAD_INPUT,
            Self::Busy(_) => exit::BUSY,
            Self::Scan(_) | Self::Storage(_) | Self::Lock { .. } | Self::Open { .. } => {
                exit::FAILURE
            }
        }
    }
}

/// What a pass did, and the exit code it calls for.
#[derive(Debug)]
pub struct PassOutcome {
    /// The report.
    pub report: Report,
    /// The exit code (see [`crate::exit`]).
    pub exit_code: u8,
}

/// Runs one pass.
pub fn run(config: &PassConfig) -> Result<PassOutcome, PassError> {
    let instances = config
        .inventory
        .as_deref()
        .map(inventory::load)
        .transpose()?;
    let acknowledged = config
        .ack_unreadable
        .as_deref()
        .map(ack::load)
        .transpose()?
        .unwrap_or_default();
    let changes = config.action == Action::Clean { dry_run: false };
    let mut warnings = Vec::new();

    let open_error = |path: PathBuf| move |source| PassError::Open { path, source };
    let instances_path = &config.scan.instances_path;
    // A missing instances path is a configuration error (a typo), not "nothing to do".
    let instances_dir = Dir::open(instances_path).map_err(open_error(instances_path.clone()))?;
    let base_dir = config.scan.base_dir();
    let Some(base) = instances_dir
        .open_child(OsStr::new(&config.scan.base_dir_name))
        .map_err(open_error(base_dir.clone()))?
    else {
        let mut report = empty_report(config, false);
        report.warnings.push(WarningEntry {
            code: "no_base_dir",
            message: format!("no base directory at {}: nothing to do", quote(&base_dir)),
        });
        return Ok(PassOutcome {
            report,
            exit_code: exit::SUCCESS,
        });
    };

    let lock_error = |path: PathBuf| move |source| PassError::Lock { path, source };
    let lock_dir = open_lock_dir(&instances_dir, changes).map_err(lock_error(
        instances_dir.join(OsStr::new(crate::locks::LOCKS_DIR)),
    ))?;
    let _pass_lock: Option<Lock> = match (&lock_dir, changes) {
        (Some(locks), true) => {
            let name = OsStr::new(PASS_LOCK);
            let lock = locks.try_lock(name).map_err(lock_error(locks.join(name)))?;
            Some(lock.ok_or(PassError::Busy(locks.join(name)))?)
        }
        _ => None,
    };

    let mut register_failed = false;
    let storage_users = storage_users(
        config,
        &instances_dir,
        lock_dir.as_ref().filter(|_| changes),
        &mut warnings,
        &mut register_failed,
    )?;

    let mut facts = Facts {
        host: config.host.clone(),
        now: config.now,
        ages: config.ages,
        files: Vec::new(),
        instances,
        storage_users,
        disks: Vec::new(),
        instance_dirs: Vec::new(),
        unreadable: Vec::new(),
        acknowledged,
        ephemeral: config.ephemeral.clone(),
    };
    let mut first_scan = scan_with_jobs(&config.scan, &base, config.jobs)?;
    let registry_leftovers = std::mem::take(&mut first_scan.registry_leftovers);
    set_scan_facts(&mut facts, &mut first_scan);
    let first_plan = plan(&facts);

    let mut fates: Vec<Fate> = first_plan
        .files
        .iter()
        .map(|decision| Fate {
            state: match decision.state {
                State::InUse => FileState::InUse,
                State::TooYoung => FileState::TooYoung,
                State::Remove => FileState::Removable,
                State::Ignore => FileState::Ignored,
            },
            decision: decision.clone(),
            notes: Vec::new(),
        })
        .collect();

    let mut touch_failed = false;
    match (&lock_dir, changes) {
        (Some(locks), true) => {
            for (decision, file) in first_plan.files.iter().zip(&first_scan.files) {
                if decision.touch
                    && let Err(err) = touch(&base, file.name(), config.now)
                {
                    touch_failed = true;
                    warnings.push(WarningEntry {
                        code: "touch_failed",
                        message: format!(
                            "cannot refresh the mtime of {}: {err}",
                            quote(&file.path)
                        ),
                    });
                }
            }
            remove_confirmed(
                config,
                &base,
                locks,
                &mut facts,
                &first_scan,
                &mut fates,
                &mut warnings,
            )?;
            if !registry_leftovers.is_empty()
                && let Err(err) =
                    storage::remove_leftovers(&instances_dir, locks, &registry_leftovers)
            {
                warnings.push(WarningEntry {
                    code: "remove_failed",
                    message: format!("cannot remove the leftovers of interrupted writes of {COMPUTE_NODES}: {err}"),
                });
            }
        }
        _ => note_held_locks(lock_dir.as_ref(), &mut fates),
    }

    // Only files that stay are hashed: a checksum of a file being removed helps nobody.
    let mode = match (config.checksum, changes) {
        (ChecksumMode::Clean { .. }, false) => ChecksumMode::Audit,
        (mode, _) => mode,
    };
    let jobs: Vec<ChecksumJob<'_>> = first_scan
        .files
        .iter()
        .zip(&fates)
        .map(|(file, fate)| {
            let hashed = fate.decision.kind.is_image()
                && matches!(fate.state, FileState::InUse | FileState::TooYoung)
                && file.fact.file_type == FileType::Regular;
            ChecksumJob {
                dir: &base,
                name: file.name(),
                mode: if hashed { mode } else { ChecksumMode::Off },
                size: file.fact.size,
            }
        })
        .collect();
    let progress = hash_progress(config.progress, &jobs);
    let checksums: Vec<ChecksumOutcome> = check_all(
        &jobs,
        config.now as f64,
        lock_dir.as_ref(),
        config.jobs,
        &progress,
    );
    progress.finish();

    let cache_names: HashSet<&str> = first_scan
        .files
        .iter()
        .zip(&fates)
        .filter(|(_, fate)| fate.state != FileState::Removed)
        .map(|(file, _)| file.fact.name.as_str())
        .collect();
    let stale_locks = match &lock_dir {
        Some(locks) => stale_lock_files(locks, &cache_names).unwrap_or_else(|err| {
            tracing::warn!(dir = %locks.path().display(), "cannot list the lock files: {err}");
            0
        }),
        None => 0,
    };

    let mut report = build_report(
        config,
        &facts.storage_users,
        &first_scan,
        &first_plan,
        &fates,
        &checksums,
        warnings,
    );
    report.summary.stale_lock_files = stale_locks;
    let exit_code = exit_code_of(
        &report,
        first_plan.removal_blocked,
        register_failed || touch_failed,
    );
    Ok(PassOutcome { report, exit_code })
}

/// Who shares the storage, from `compute_nodes` as it is before this pass registers this host
/// (so an empty or malformed registry still means "unknown" for this pass); then, when given
/// Nova's lock directory (a `clean`), registers this host.
fn storage_users(
    config: &PassConfig,
    instances: &Dir,
    locks: Option<&Dir>,
    warnings: &mut Vec<WarningEntry>,
    register_failed: &mut bool,
) -> Result<StorageUsers, PassError> {
    let registry = storage::read_registry(instances)?;
    let users = registry.users(&config.host, config.now as f64);
    let changes = locks.is_some();
    match &registry {
        Registry::Empty => warnings.push(WarningEntry {
            code: "compute_nodes_empty",
            message: format!(
                "{} is empty (an interrupted rewrite?): every instance record counts{}",
                quote(&instances.join(OsStr::new(COMPUTE_NODES))),
                if changes {
                    "; this host registered itself in it"
                } else {
                    ""
                }
            ),
        }),
        Registry::Malformed(problem) => warnings.push(WarningEntry {
            code: "compute_nodes_malformed",
            message: format!(
                "the storage registry is unreadable ({problem}){}",
                if changes {
                    "; this host was not registered, so as not to drop the others"
                } else {
                    ""
                }
            ),
        }),
        Registry::Absent | Registry::Hosts(_) => {}
    }
    if let Some(locks) = locks {
        match storage::register(instances, locks, &config.host, config.now as f64) {
            // Said above, with the malformed file.
            Ok(()) | Err(StorageError::Malformed(_)) => {}
            Err(err) => {
                *register_failed = true;
                warnings.push(WarningEntry {
                    code: "register_failed",
                    message: format!("cannot register this host: {err}"),
                });
            }
        }
    }
    Ok(users)
}

/// Gives the policy what a scan found: the cache entries' facts (copied: the scan keeps its
/// files for the report), the disks, directories and unreadable files (moved: a host's worth).
fn set_scan_facts(facts: &mut Facts, scan: &mut Scan) {
    facts.files = scan.files.iter().map(|f| f.fact.clone()).collect();
    facts.disks = std::mem::take(&mut scan.disks);
    facts.instance_dirs = std::mem::take(&mut scan.instance_dirs);
    facts.unreadable = std::mem::take(&mut scan.unreadable);
}

/// The fate of one cache entry in this pass.
#[derive(Debug, Clone)]
struct Fate {
    state: FileState,
    decision: FileDecision,
    /// What the pass itself adds to the policy's reasons, shown first.
    notes: Vec<String>,
}

/// Removes the removable files, batch by batch: takes Nova's locks, scans again under them and
/// removes only what the new plan still removes, unchanged since the first scan. Lock files stay
/// (a process may be waiting on one).
fn remove_confirmed(
    config: &PassConfig,
    base: &Dir,
    lock_dir: &Dir,
    facts: &mut Facts,
    first_scan: &Scan,
    fates: &mut [Fate],
    warnings: &mut Vec<WarningEntry>,
) -> Result<(), PassError> {
    // Images before their sidecars, so that a sidecar goes only once its image has gone.
    let mut candidates: Vec<usize> = (0..fates.len())
        .filter(|&i| fates[i].state == FileState::Removable)
        .collect();
    candidates.sort_by_key(|&i| fates[i].decision.kind == EntryKind::Sidecar);
    let index_of: HashMap<String, usize> = fates
        .iter()
        .enumerate()
        .map(|(i, f)| (f.decision.name.clone(), i))
        .collect();
    for batch in candidates.chunks(LOCK_BATCH) {
        let names = batch.iter().map(|&i| fates[i].decision.name.as_str());
        let locks = lock_entries(lock_dir, names);
        let mut rescan = scan_with_jobs(&config.scan, base, config.jobs)?;
        set_scan_facts(facts, &mut rescan);
        let replan = plan(facts);
        let now_by_name: HashMap<&str, usize> = replan
            .files
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name.as_str(), i))
            .collect();
        for &i in batch {
            let image = classify(&fates[i].decision.name)
                .belongs_to()
                .filter(|_| fates[i].decision.kind == EntryKind::Sidecar)
                .map(str::to_owned);
            let image_not_removed = image
                .as_deref()
                .and_then(|image| index_of.get(image))
                .is_some_and(|&image| fates[image].state != FileState::Removed);
            let fate = &mut fates[i];
            let name = fate.decision.name.clone();
            let note = if let Some((path, problem)) = locks.busy.get(lock_name(&name)) {
                Some(match problem {
                    None => format!(
                        "another process holds its lock {}: kept this pass",
                        quote(path)
                    ),
                    Some(problem) => format!(
                        "its lock {} cannot be taken ({problem}): kept this pass",
                        quote(path)
                    ),
                })
            } else if image_not_removed {
                Some("kept: its image was not removed".to_owned())
            } else {
                None
            };
            if let Some(note) = note {
                fate.state = FileState::InUse;
                fate.notes.push(note);
                if let Some(image) = image {
                    // No longer "removed with it".
                    fate.decision.reasons = vec![Reason::SidecarOfKept { image }];
                }
                continue;
            }
            let first = &first_scan.files[i];
            let Some(&j) = now_by_name.get(name.as_str()) else {
                fate.state = FileState::Removed;
                fate.notes
                    .push("already gone: another process removed it".to_owned());
                continue;
            };
            let (file, decision) = (&rescan.files[j], &replan.files[j]);
            let unchanged = file.dev_ino == first.dev_ino && file.fact.mtime == first.fact.mtime;
            if unchanged && decision.state == State::Remove {
                fate.state = match remove_base_file(base, first.name()) {
                    RemoveOutcome::Removed | RemoveOutcome::AlreadyGone => FileState::Removed,
                    RemoveOutcome::Failed(message) => {
                        fate.notes.push(message.clone());
                        warnings.push(WarningEntry {
                            code: "remove_failed",
                            message,
                        });
                        FileState::RemoveFailed
                    }
                };
            } else {
                fate.state = match decision.state {
                    State::InUse => FileState::InUse,
                    State::Ignore => FileState::Ignored,
                    State::TooYoung | State::Remove => FileState::TooYoung,
                };
                fate.decision = decision.clone();
                fate.notes.push("changed during the pass: kept".to_owned());
            }
        }
        // Unlike Nova, the lock files stay: a Nova process may be waiting on one, and would then
        // lock a file with no name while the next one locks a new file of the same name.
        drop(locks);
    }
    Ok(())
}

/// What a `clean` would do about locks, said by a read-only pass: a file whose lock another
/// process holds now (or whose lock file cannot be used) would be kept.
fn note_held_locks(lock_dir: Option<&Dir>, fates: &mut [Fate]) {
    let Some(lock_dir) = lock_dir else {
        return;
    };
    for fate in fates.iter_mut().filter(|f| f.state == FileState::Removable) {
        let name = nova_lock_name(lock_name(&fate.decision.name));
        let path = lock_dir.join(&name);
        let note = match lock_dir.lock_held_elsewhere(&name) {
            Ok(false) => continue,
            Ok(true) => format!(
                "another process holds its lock {}: a clean now would keep it",
                quote(&path)
            ),
            Err(err) => format!(
                "its lock {} cannot be taken ({err}): a clean now would keep it",
                quote(&path)
            ),
        };
        fate.state = FileState::InUse;
        fate.notes.push(note);
    }
}

fn empty_report(config: &PassConfig, base_dir_exists: bool) -> Report {
    Report {
        schema: SCHEMA,
        command: match config.action {
            Action::Audit => "audit",
            Action::Clean { .. } => "clean",
        },
        dry_run: config.action != Action::Clean { dry_run: false },
        host: config.host.clone(),
        instances_path: config.scan.instances_path.display().to_string(),
        base_dir: config.scan.base_dir().display().to_string(),
        base_dir_exists,
        storage_users: None,
        summary: Default::default(),
        warnings: Vec::new(),
        files: Vec::new(),
        orphan_dirs: Vec::new(),
        unreadable_files: Vec::new(),
    }
}

fn build_report(
    config: &PassConfig,
    storage_users: &StorageUsers,
    scan: &Scan,
    plan: &Plan,
    fates: &[Fate],
    checksums: &[ChecksumOutcome],
    command_warnings: Vec<WarningEntry>,
) -> Report {
    let mut report = empty_report(config, true);
    report.storage_users = match storage_users {
        StorageUsers::Known(users) => Some(users.iter().cloned().collect()),
        StorageUsers::Unknown => None,
    };
    report.warnings = plan.warnings.iter().map(warning_entry).collect();
    report.warnings.extend(command_warnings);
    for ((file, fate), checksum) in scan.files.iter().zip(fates).zip(checksums) {
        let decision = &fate.decision;
        let mut reasons: Vec<String> = fate.notes.clone();
        if checksum.state == ChecksumState::Corrupt {
            reasons.insert(0, "checksum mismatch: image verification failed".to_owned());
        }
        reasons.extend(decision.reasons.iter().map(ToString::to_string));
        if let Some(note) = &checksum.note {
            if checksum.problem {
                report.warnings.push(WarningEntry {
                    code: if checksum.state == ChecksumState::Corrupt {
                        "corrupt_base_file"
                    } else {
                        "checksum_unchecked"
                    },
                    message: note.clone(),
                });
            } else {
                reasons.push(note.clone());
            }
        }
        report.files.push(FileEntry {
            name: decision.name.clone(),
            path: file.path.display().to_string(),
            kind: decision.kind.as_str(),
            state: fate.state,
            checksum: checksum.state,
            size_bytes: file.fact.size,
            allocated_bytes: file.allocated,
            age_seconds: decision.age,
            reason: reasons.join("; "),
            reasons,
            image_id: decision.image_id.clone(),
            used_by: UsedBy {
                instances: decision.users.instances.iter().cloned().collect(),
                disks: decision.users.disks.iter().cloned().collect(),
            },
        });
    }
    report.orphan_dirs = plan
        .orphans
        .iter()
        .map(|o| OrphanEntry {
            name: o.name.clone(),
            path: config
                .scan
                .instances_path
                .join(&o.name)
                .display()
                .to_string(),
            keeps: o.keeps.iter().cloned().collect(),
            disks: o.disks.iter().cloned().collect(),
        })
        .collect();
    // Unreadable disks, and cache files that stay whose own chain cannot be read.
    report.unreadable_files = plan
        .warnings
        .iter()
        .filter_map(|warning| match warning {
            Warning::UnreadableFile { file, outcome } => Some(UnreadableEntry {
                path: file.path.clone(),
                problem: file.problem.clone(),
                rule: file.read_as.into(),
                outcome: (*outcome).into(),
                inode: file.identity.map(|id| id.ino),
                size_bytes: file.identity.map(|id| id.size),
                mtime: file.identity.map(|id| id.mtime),
                ack: ack::line(file),
            }),
            _ => None,
        })
        .collect();
    let unreadable = report.unreadable_files.len();
    report.summarize(scan.probed, unreadable);
    report
}

fn warning_entry(warning: &Warning) -> WarningEntry {
    let code = match warning {
        Warning::UnreadableFile { outcome, .. } => match outcome {
            DoubtOutcome::Blocks | DoubtOutcome::BlocksChangedSinceAcknowledged => {
                "unreadable_file"
            }
            DoubtOutcome::Acknowledged => "unreadable_acknowledged",
            DoubtOutcome::WarnsOnly => "unreadable_not_a_disk",
        },
        Warning::RemovalBlocked { .. } => "removal_blocked",
        Warning::AbsentBaseFile { .. } => "absent_base_file",
        Warning::AbsentSwapOrEphemeral { .. } => "absent_swap_or_ephemeral",
        Warning::RecordsIgnored { .. } => "records_ignored",
        Warning::StorageUsersUnknown => "storage_users_unknown",
    };
    WarningEntry {
        code,
        message: warning.to_string(),
    }
}

/// The exit code a report calls for: the first of these that applies.
fn exit_code_of(report: &Report, removal_blocked: bool, write_failed: bool) -> u8 {
    if write_failed {
        exit::FAILURE
    } else if removal_blocked {
        exit::UNREADABLE
    } else if report.summary.remove_failed > 0 {
        exit::REMOVE_FAILED
    } else if report.summary.corrupt > 0 {
        exit::CORRUPT
    } else {
        exit::SUCCESS
    }
}
