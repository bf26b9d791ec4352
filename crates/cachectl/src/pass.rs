//! One pass over the cache: `audit` (read-only) and `clean` (the pass itself).
//!
//! scan → plan → carry out → report: the scan gathers facts ([`crate::scan`]), the policy
//! decides ([`cachectl_policy::plan`], then [`cachectl_policy::confirm_removal`] for each removal
//! under its lock), [`crate::apply`] carries that out, and [`crate::report::build`] reports it.

use std::collections::BTreeSet;
use std::num::NonZeroUsize;
use std::path::PathBuf;

use cachectl_fs::FsUsage;
use cachectl_naming::quote;
use cachectl_policy::{
    Ages, EphemeralConfig, Facts, FileOutcome, Plan, RemovalCap, SpaceFacts, StorageUsers,
    UnixTime, plan,
};

use crate::apply::{Remover, lock_state_now, touch_in_use};
use crate::checksums::{ChecksumMode, KeptChecks, check_kept};
use crate::dirs::{Dirs, open_dirs, take_pass_lock};
use crate::domains::LibvirtConfig;
use crate::error::PassError;
use crate::exit::ExitCode;
use crate::locks::count_stale_locks;
use crate::register::{register, remove_registry_leftovers};
use crate::report::build::{Header, PassRecord, empty, pass_report};
use crate::report::{FilesystemEntry, PassCommand, Report, WarningCode, WarningEntry};
use crate::scan::{Scan, ScanConfig};
use crate::sources::{instance_records, read_sources};
use crate::space::{SizeArg, space_facts};
use crate::survey::survey;

/// What a pass does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
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
pub(crate) struct PassConfig {
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
    /// Where libvirt's domains are.
    pub libvirt: LibvirtConfig,
    /// What the settings say the operator should know (Nova's own pass removes files).
    pub setting_warnings: Vec<WarningEntry>,
    /// Why there is no local cache to look after (`[libvirt] images_type = rbd`), if so: the
    /// pass does nothing.
    pub no_local_cache: Option<String>,
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
    /// How many reads of directories and files a scan has in flight.
    pub scan_jobs: NonZeroUsize,
    /// Image ids pinned (`--keep`, `--keep-file`).
    pub pinned: BTreeSet<String>,
    /// `--max-remove`.
    pub removal_cap: Option<RemovalCap>,
    /// `--min-free`: space pressure.
    pub min_free: Option<SizeArg>,
    /// `--max-cache-size`: space pressure.
    pub max_cache_size: Option<SizeArg>,
    /// Whether hashing shows its progress on stderr.
    pub progress: bool,
}

impl Action {
    /// The command's name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Audit => "audit",
            Self::Clean { .. } => "clean",
        }
    }
}

impl PassConfig {
    /// The facts the settings give: this host, the time, the ages, ephemeral names.
    fn facts(&self) -> Facts {
        Facts {
            now: self.now,
            ages: self.ages,
            ephemeral: self.ephemeral.clone(),
            pinned: self.pinned.clone(),
            removal_cap: self.removal_cap,
            ..Facts::new(&self.host)
        }
    }

    /// Whether the pass changes anything (a `clean` that is not a dry run).
    fn changes(&self) -> bool {
        self.action == Action::Clean { dry_run: false }
    }
}

/// What a pass did, and the exit code it calls for.
#[derive(Debug)]
pub(crate) struct PassOutcome {
    /// The report.
    pub report: Report,
    /// The exit code.
    pub exit_code: ExitCode,
}

/// Runs one pass.
pub(crate) fn run(config: &PassConfig) -> Result<PassOutcome, PassError> {
    let sources = read_sources(
        config.inventory.as_deref(),
        config.ack_unreadable.as_deref(),
        &config.libvirt,
    )?;
    if let Some(why) = &config.no_local_cache {
        return Ok(nothing_to_do(
            config,
            WarningCode::NoLocalCache,
            why.clone(),
        ));
    }
    let Some(dirs) = open_dirs(&config.scan, config.changes())? else {
        let why = format!(
            "no base directory at {}: nothing to do",
            quote(&config.scan.base_dir())
        );
        return Ok(nothing_to_do(config, WarningCode::NoBaseDir, why));
    };
    let writes = dirs.locks.as_ref().filter(|_| config.changes());
    let _pass_lock = writes.map(take_pass_lock).transpose()?;
    let registration = register(&dirs.instances, writes, &config.host, config.now)?;
    let surveyed = survey(
        &sources.libvirt,
        &config.scan,
        &dirs.base,
        config.scan_jobs,
        None,
    )?;
    let mut scan = surveyed.scan;
    let (instances, records_of_this_host_only) =
        instance_records(sources.instances, &surveyed.domains, &config.host);
    let mut facts = Facts {
        instances,
        records_of_this_host_only,
        storage_users: registration.users,
        acknowledged: sources.acknowledged,
        ..config.facts()
    };
    scan.give_facts(&mut facts);
    let fs_before = space_pressure(config, &dirs, &mut facts);
    let mut first_plan = plan(&facts);
    // The outcomes take the plan's decisions (the report takes them in turn): one copy of
    // each file's users, not three.
    let decisions = std::mem::take(&mut first_plan.files);
    let mut outcomes: Vec<FileOutcome> = decisions.into_iter().map(FileOutcome::planned).collect();
    let mut warnings = config.setting_warnings.clone();
    warnings.extend(sources.warnings);
    warnings.extend(registration.warnings);
    warnings.extend(surveyed.warnings);
    let mut write_failed = registration.failed;
    match writes {
        Some(locks) => {
            let remover = Remover {
                scan: &config.scan,
                libvirt: &sources.libvirt,
                base: &dirs.base,
                lock_dir: locks,
                jobs: config.scan_jobs,
            };
            let carried = carry_out(config, &dirs, &remover, &mut facts, &scan, &mut outcomes)?;
            write_failed |= carried.write_failed;
            warnings.extend(carried.warnings);
        }
        None => {
            for outcome in &mut outcomes {
                outcome.keep_for_lock(&lock_state_now(dirs.locks.as_ref(), &outcome.decision));
            }
        }
    }
    // What the report needs of the facts is who uses the storage: the instance records and the
    // disks (the largest things a pass holds on a host of many instances) go before the report
    // is built.
    let storage_users = std::mem::replace(&mut facts.storage_users, StorageUsers::Unknown);
    drop(facts);
    let checksums = check_kept(&kept_checks(config, &dirs), &scan, &outcomes);
    let stale_lock_files = count_stale_locks(dirs.locks.as_ref(), &outcomes);
    let record = PassRecord {
        storage_users: &storage_users,
        scan: &scan,
        plan: &first_plan,
        outcomes,
        checksums: &checksums,
        stale_lock_files,
    };
    let mut report = pass_report(&header(config), record, warnings);
    report.filesystem = fs_before.map(|(fs, space)| FilesystemEntry {
        size_bytes: fs.size_bytes,
        avail_bytes_before: fs.avail_bytes,
        avail_bytes_after: if config.changes() {
            dirs.base
                .fs_usage()
                .map_or(fs.avail_bytes, |now| now.avail_bytes)
        } else {
            fs.avail_bytes
                .saturating_add(report.summary.allocated_bytes_reclaimable)
        },
        min_free_bytes: space.target.min_free,
        max_cache_bytes: space.target.max_cache,
    });
    let exit_code = exit_code_of(write_failed, &first_plan, &report);
    Ok(PassOutcome { report, exit_code })
}

/// Space pressure, if asked: the target in bytes and the file system as the pass first found
/// it go into the facts (scans again under the locks keep them). A file system that cannot be
/// asked how full it is gets no space removals (a warning in the log), only those by age.
fn space_pressure(
    config: &PassConfig,
    dirs: &Dirs,
    facts: &mut Facts,
) -> Option<(FsUsage, SpaceFacts)> {
    if config.min_free.is_none() && config.max_cache_size.is_none() {
        return None;
    }
    let fs = match dirs.base.fs_usage() {
        Ok(fs) => fs,
        Err(err) => {
            tracing::warn!(
                "cannot tell how full the file system of {} is ({err}): no removals for space",
                quote(dirs.base.path())
            );
            return None;
        }
    };
    let cache = cachectl_policy::cache_bytes(&facts.files);
    let space = space_facts(config.min_free, config.max_cache_size, fs, cache);
    facts.space = Some(space);
    Some((fs, space))
}

/// The exit code a pass calls for: an operational error, then files that could not be read,
/// removals that failed, corrupt files.
fn exit_code_of(write_failed: bool, plan: &Plan, report: &Report) -> ExitCode {
    ExitCode::first_of(
        [
            write_failed.then_some(ExitCode::Failure),
            plan.removal_blocked.then_some(ExitCode::Unreadable),
            (report.summary.remove_failed > 0).then_some(ExitCode::RemoveFailed),
            (report.summary.corrupt > 0).then_some(ExitCode::Corrupt),
        ]
        .into_iter()
        .flatten(),
    )
}

/// What carrying out a plan said.
struct Carried {
    warnings: Vec<WarningEntry>,
    /// Whether an mtime could not be refreshed (an operational error).
    write_failed: bool,
}

/// Carries out the plan (a `clean`; `outcomes` hold its decisions): refreshes the mtime of files
/// in use, removes what the policy confirms under Nova's `locks`, and removes the leftovers of
/// interrupted registry writes.
fn carry_out(
    config: &PassConfig,
    dirs: &Dirs,
    remover: &Remover<'_>,
    facts: &mut Facts,
    scan: &Scan,
    outcomes: &mut [FileOutcome],
) -> Result<Carried, PassError> {
    let mut warnings = touch_in_use(&dirs.base, outcomes, scan, config.now);
    let write_failed = !warnings.is_empty();
    warnings.extend(remover.remove_confirmed(facts, scan, outcomes)?);
    warnings.extend(remove_registry_leftovers(
        &dirs.instances,
        remover.lock_dir,
        &scan.registry_leftovers,
    ));
    Ok(Carried {
        warnings,
        write_failed,
    })
}

/// How the pass checks the files it keeps: only a `clean` writes sidecars.
fn kept_checks<'a>(config: &PassConfig, dirs: &'a Dirs) -> KeptChecks<'a> {
    KeptChecks {
        base: &dirs.base,
        mode: match (config.checksum, config.changes()) {
            (ChecksumMode::Clean { .. }, false) => ChecksumMode::Audit,
            (mode, _) => mode,
        },
        lock_dir: dirs.locks.as_ref(),
        now: config.now,
        jobs: config.jobs,
        progress: config.progress,
    }
}

/// The report of a pass with nothing to do, saying why.
fn nothing_to_do(config: &PassConfig, code: WarningCode, why: String) -> PassOutcome {
    let mut report = empty(&header(config), config.scan.base_dir().is_dir());
    report
        .warnings
        .extend(config.setting_warnings.iter().cloned());
    report.warnings.push(WarningEntry::new(code, why));
    PassOutcome {
        report,
        exit_code: ExitCode::Success,
    }
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
