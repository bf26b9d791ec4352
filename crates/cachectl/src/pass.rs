//! One pass over the cache: `audit` (read-only) and `clean` (the pass itself).
//!
//! scan → plan → carry out → report: the scan gathers facts ([`crate::scan`]), the policy
//! decides ([`cachectl_policy::plan`], then [`cachectl_policy::confirm_removal`] for each removal
//! under its lock), [`crate::apply`] carries that out, and [`crate::report::build`] reports it.

use std::ffi::OsStr;
use std::num::NonZeroUsize;
use std::path::PathBuf;

use cachectl_fs::{Dir, Lock};
use cachectl_naming::quote;
use cachectl_policy::{Ages, EphemeralConfig, Facts, FileOutcome, UnixTime, plan};
use cachectl_sources::{ack, inventory};

use crate::apply::{Remover, lock_state_now, touch_in_use};
use crate::checksums::{ChecksumMode, KeptChecks, check_kept};
use crate::error::PassError;
use crate::exit::ExitCode;
use crate::locks::{LOCKS_DIR, count_stale_locks, open_lock_dir};
use crate::register::{register, remove_registry_leftovers};
use crate::report::build::{Header, PassRecord, empty, pass_report};
use crate::report::{PassCommand, Report, WarningCode, WarningEntry};
use crate::scan::{ScanConfig, scan_with_jobs};

/// The lock file that keeps two `cachectl clean` from running on one storage at once.
pub const PASS_LOCK: &str = "cachectl-clean";

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
    /// The time of the pass.
    pub now: UnixTime,
    /// How many files are hashed, and instance directories walked, at once.
    pub jobs: NonZeroUsize,
    /// Whether hashing shows its progress on stderr.
    pub progress: bool,
}

impl PassConfig {
    /// Whether the pass changes anything (a `clean` that is not a dry run).
    fn changes(&self) -> bool {
        self.action == Action::Clean { dry_run: false }
    }
}

/// What a pass did, and the exit code it calls for.
#[derive(Debug)]
pub struct PassOutcome {
    /// The report.
    pub report: Report,
    /// The exit code.
    pub exit_code: ExitCode,
}

/// The directories a pass works in, open.
struct Dirs {
    instances: Dir,
    base: Dir,
    /// Nova's lock directory, if there is one (a `clean` creates it).
    locks: Option<Dir>,
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
        .transpose()?;
    let Some(dirs) = open_dirs(config)? else {
        return Ok(nothing_to_do(config));
    };
    let _pass_lock = match dirs.locks.as_ref().filter(|_| config.changes()) {
        Some(locks) => Some(take_pass_lock(locks)?),
        None => None,
    };
    let writes = dirs.locks.as_ref().filter(|_| config.changes());
    let registration = register(&dirs.instances, writes, &config.host, config.now)?;
    let mut warnings = registration.warnings;
    let mut facts = Facts {
        now: config.now,
        ages: config.ages,
        instances,
        storage_users: registration.users,
        acknowledged: acknowledged.unwrap_or_default(),
        ephemeral: config.ephemeral.clone(),
        ..Facts::new(&config.host)
    };
    let mut scan = scan_with_jobs(&config.scan, &dirs.base, config.jobs)?;
    let registry_leftovers = std::mem::take(&mut scan.registry_leftovers);
    scan.give_facts(&mut facts);
    let first_plan = plan(&facts);
    let mut outcomes: Vec<FileOutcome> =
        first_plan.files.iter().map(FileOutcome::planned).collect();
    let mut write_failed = registration.failed;
    match writes {
        Some(locks) => {
            let touched = touch_in_use(&dirs.base, &first_plan, &scan, config.now);
            write_failed |= !touched.is_empty();
            warnings.extend(touched);
            let remover = Remover {
                scan: &config.scan,
                base: &dirs.base,
                lock_dir: locks,
                jobs: config.jobs,
            };
            warnings.extend(remover.remove_confirmed(&mut facts, &scan, &mut outcomes)?);
            warnings.extend(remove_registry_leftovers(
                &dirs.instances,
                locks,
                &registry_leftovers,
            ));
        }
        None => {
            for outcome in &mut outcomes {
                outcome.keep_for_lock(&lock_state_now(dirs.locks.as_ref(), &outcome.decision.name));
            }
        }
    }
    let checks = KeptChecks {
        base: &dirs.base,
        // Only a `clean` writes sidecars.
        mode: match (config.checksum, config.changes()) {
            (ChecksumMode::Clean { .. }, false) => ChecksumMode::Audit,
            (mode, _) => mode,
        },
        lock_dir: dirs.locks.as_ref(),
        now: config.now,
        jobs: config.jobs,
        progress: config.progress,
    };
    let checksums = check_kept(&checks, &scan, &outcomes);
    let record = PassRecord {
        storage_users: &facts.storage_users,
        scan: &scan,
        plan: &first_plan,
        outcomes: &outcomes,
        checksums: &checksums,
        stale_lock_files: count_stale_locks(dirs.locks.as_ref(), &outcomes),
    };
    let report = pass_report(&header(config), record, warnings);
    let exit_code = ExitCode::first_of(
        [
            write_failed.then_some(ExitCode::Failure),
            first_plan.removal_blocked.then_some(ExitCode::Unreadable),
            (report.summary.remove_failed > 0).then_some(ExitCode::RemoveFailed),
            (report.summary.corrupt > 0).then_some(ExitCode::Corrupt),
        ]
        .into_iter()
        .flatten(),
    );
    Ok(PassOutcome { report, exit_code })
}

/// Opens the instances path (a missing one is a configuration error, a typo, not "nothing to
/// do"), the cache directory (`None` if there is none: nothing to do) and Nova's lock
/// directory (created by a pass that changes anything).
fn open_dirs(config: &PassConfig) -> Result<Option<Dirs>, PassError> {
    let open_error = |path: PathBuf| move |source| PassError::Open { path, source };
    let instances_path = &config.scan.instances_path;
    let instances = Dir::open(instances_path).map_err(open_error(instances_path.clone()))?;
    let Some(base) = instances
        .open_child(OsStr::new(&config.scan.base_dir_name))
        .map_err(open_error(config.scan.base_dir()))?
    else {
        return Ok(None);
    };
    let locks = open_lock_dir(&instances, config.changes()).map_err(|source| PassError::Lock {
        path: instances.join(OsStr::new(LOCKS_DIR)),
        source,
    })?;
    Ok(Some(Dirs {
        instances,
        base,
        locks,
    }))
}

/// The report of a pass with no cache directory: nothing to do.
fn nothing_to_do(config: &PassConfig) -> PassOutcome {
    let mut report = empty(&header(config), false);
    report.warnings.push(WarningEntry::new(
        WarningCode::NoBaseDir,
        format_args!(
            "no base directory at {}: nothing to do",
            quote(&config.scan.base_dir())
        ),
    ));
    PassOutcome {
        report,
        exit_code: ExitCode::Success,
    }
}

/// Takes `cachectl-clean`: one pass that changes anything on a storage at a time.
fn take_pass_lock(locks: &Dir) -> Result<Lock, PassError> {
    let name = OsStr::new(PASS_LOCK);
    let lock = locks.try_lock(name).map_err(|source| PassError::Lock {
        path: locks.join(name),
        source,
    })?;
    lock.ok_or_else(|| PassError::Busy(locks.join(name)))
}

fn header(config: &PassConfig) -> Header<'_> {
    Header {
        command: match config.action {
            Action::Audit => PassCommand::Audit,
            Action::Clean { .. } => PassCommand::Clean,
        },
        dry_run: !config.changes(),
        host: &config.host,
        instances_path: &config.scan.instances_path,
        base_dir: config.scan.base_dir(),
    }
}
