//! Carrying out a plan: refreshing the mtime of files in use, and removing files under Nova's
//! locks. What to remove is the policy's to decide ([`confirm_removal`]); this module takes the
//! locks, scans again and does what it says.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::OsStr;

use cachectl_fs::{Dir, Lock};
use cachectl_naming::{EntryKind, nova_lock_name, quote};
use cachectl_policy::{
    Facts, FileDecision, FileOutcome, FileState, LockState, Recheck, UnixTime, confirm_removal,
    plan,
};

use crate::domains::LibvirtSource;
use crate::report::{WarningCode, WarningEntry};
use crate::scan::{Reuse, Scan, ScanConfig, ScanError};
use crate::survey::survey;

/// The fewest removals confirmed under one round of locks.
const MIN_LOCK_BATCH: usize = 256;
/// Open files the scans under the locks may need besides the locks, and a few a scan thread.
const FILES_FOR_SCANS: u64 = 512;

/// What removing one file did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoveOutcome {
    /// It is gone.
    Removed,
    /// It was already gone: nothing to do.
    AlreadyGone,
    /// It could not be removed; the message says why.
    Failed(String),
}

/// Removes the cache file `name` of `base` (the entry itself, never what a symlink points at);
/// never fails the pass.
pub fn remove_base_file(base: &Dir, name: &OsStr) -> RemoveOutcome {
    let path = base.join(name);
    match base.remove(name) {
        Ok(true) => {
            tracing::info!(path = %path.display(), "removed");
            RemoveOutcome::Removed
        }
        Ok(false) => RemoveOutcome::AlreadyGone,
        Err(err) => {
            let message = format!("failed to remove {}: {err}", quote(&path));
            tracing::warn!("{message}");
            RemoveOutcome::Failed(message)
        }
    }
}

/// Refreshes the mtime of every file the plan says is in use, as Nova does to the base files
/// it finds in use, so that a file's age means how long it has been unused. A symlink's target
/// is never touched. Returns a warning for each file that could not be touched.
pub(crate) fn touch_in_use(
    base: &Dir,
    outcomes: &[FileOutcome],
    scan: &Scan,
    now: UnixTime,
) -> Vec<WarningEntry> {
    let mut warnings = Vec::new();
    for (outcome, file) in outcomes.iter().zip(&scan.files) {
        if outcome.decision.touch
            && let Err(err) = base.set_times(file.name(), now.0)
        {
            warnings.push(WarningEntry::new(
                WarningCode::TouchFailed,
                format_args!("cannot refresh the mtime of {}: {err}", quote(&file.path)),
            ));
        }
    }
    warnings
}

/// The Nova lock that guards a cache entry: its own name for images, its image's name for
/// sidecars and download leftovers (Nova downloads `X.part` under the lock of `X`).
pub(crate) fn lock_name(entry: &FileDecision) -> &str {
    entry.belongs_to.as_deref().unwrap_or(&entry.name)
}

/// The state of Nova's lock for `entry` now, without taking it (a read-only pass). Creates
/// nothing: with no lock directory, every lock is free.
pub(crate) fn lock_state_now(lock_dir: Option<&Dir>, entry: &FileDecision) -> LockState {
    let Some(lock_dir) = lock_dir else {
        return LockState::Free;
    };
    let file = nova_lock_name(lock_name(entry));
    let lock = lock_dir.join(OsStr::new(&file)).display().to_string();
    match lock_dir.lock_held_elsewhere(OsStr::new(&file)) {
        Ok(false) => LockState::Free,
        Ok(true) => LockState::Held { lock },
        Err(err) => LockState::Unusable {
            lock,
            problem: err.to_string(),
        },
    }
}

/// Nova's locks taken for a batch of removals, and the state of every lock name asked for.
#[derive(Debug, Default)]
struct BatchLocks {
    /// Locks held, by lock name: released when dropped.
    _held: BTreeMap<String, Lock>,
    /// The state of each lock name.
    states: BTreeMap<String, LockState>,
}

/// Takes, without waiting, Nova's lock for each entry in `entries`. A lock another process
/// holds, or a lock file that cannot be used (a symlink, a FIFO... planted in its place), keeps
/// its files, with the reason.
fn lock_entries<'a>(
    lock_dir: &Dir,
    entries: impl IntoIterator<Item = &'a FileDecision>,
) -> BatchLocks {
    let names: BTreeSet<&str> = entries.into_iter().map(lock_name).collect();
    let mut locks = BatchLocks::default();
    for name in names {
        let file = nova_lock_name(name);
        let lock = lock_dir.join(OsStr::new(&file)).display().to_string();
        let state = match lock_dir.try_lock(OsStr::new(&file)) {
            Ok(Some(held)) => {
                locks._held.insert(name.to_owned(), held);
                LockState::Free
            }
            Ok(None) => {
                tracing::info!(
                    lock,
                    "held by another process: its files are kept this pass"
                );
                LockState::Held { lock }
            }
            Err(err) => {
                tracing::warn!(lock, "cannot take the lock: {err}");
                LockState::Unusable {
                    lock,
                    problem: err.to_string(),
                }
            }
        };
        locks.states.insert(name.to_owned(), state);
    }
    locks
}

/// Where and how a pass removes files.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Remover<'a> {
    /// What to scan again under the locks.
    pub scan: &'a ScanConfig,
    /// libvirt's domains, read again with each scan.
    pub libvirt: &'a LibvirtSource,
    /// The cache directory.
    pub base: &'a Dir,
    /// Nova's lock directory.
    pub lock_dir: &'a Dir,
    /// How many reads a scan has in flight.
    pub jobs: std::num::NonZeroUsize,
}

impl Remover<'_> {
    /// How many removals are confirmed under one round of locks: as many locks as the
    /// open-files limit allows (the soft limit raised to the hard one), less what the scans
    /// need. Each round scans the instances path again: fewer, larger rounds keep a `clean`
    /// linear in what it removes.
    fn lock_batch_len(&self) -> usize {
        use rustix::process::{Resource, getrlimit, setrlimit};
        let mut limit = getrlimit(Resource::Nofile);
        if limit.maximum != limit.current {
            limit.current = limit.maximum;
            if let Err(err) = setrlimit(Resource::Nofile, limit) {
                tracing::debug!("cannot raise the open-files limit: {err}");
            }
        }
        let open_files = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
        let for_scans = FILES_FOR_SCANS + 4 * self.jobs.get() as u64;
        let batch = usize::try_from(open_files.saturating_sub(for_scans)).unwrap_or(usize::MAX);
        batch.max(MIN_LOCK_BATCH)
    }

    /// Removes the removable entries, batch by batch: takes their Nova locks, scans again under
    /// them and removes what [`confirm_removal`] confirms. Images go before their sidecars, so
    /// that a sidecar goes only once its image has. Lock files stay (a process may be waiting on
    /// one). Returns a warning for each removal that failed.
    pub(crate) fn remove_confirmed(
        &self,
        facts: &mut Facts,
        first_scan: &Scan,
        outcomes: &mut [FileOutcome],
    ) -> Result<Vec<WarningEntry>, ScanError> {
        let mut candidates: Vec<usize> = (0..outcomes.len())
            .filter(|&i| outcomes[i].state == FileState::Removable)
            .collect();
        candidates.sort_by_key(|&i| outcomes[i].decision.kind == EntryKind::Sidecar);
        let index_of: HashMap<String, usize> = outcomes
            .iter()
            .enumerate()
            .map(|(i, o)| (o.decision.name.clone(), i))
            .collect();
        let mut warnings = Vec::new();
        let mut reuse = Reuse::of(&first_scan.files);
        for batch in candidates.chunks(self.lock_batch_len()) {
            let decisions = batch.iter().map(|&i| &outcomes[i].decision);
            let locks = lock_entries(self.lock_dir, decisions);
            // The cache entries of the batch are looked at again; the others are taken as the
            // first scan found them where they keep their inode numbers.
            reuse.look_again = batch.iter().map(|&i| first_scan.files[i].name()).collect();
            let surveyed = survey(self.libvirt, self.scan, self.base, self.jobs, Some(&reuse))?;
            let mut rescan = surveyed.scan;
            rescan.give_facts(facts);
            let replan = plan(facts);
            let now_by_name: HashMap<&str, usize> = replan
                .files
                .iter()
                .enumerate()
                .map(|(i, f)| (f.name.as_str(), i))
                .collect();
            for &i in batch {
                let name = outcomes[i].decision.name.clone();
                // A sidecar's image, where it is in the cache, has been confirmed already.
                let decision = &outcomes[i].decision;
                let image = (decision.kind == EntryKind::Sidecar)
                    .then_some(decision.belongs_to.as_deref())
                    .flatten()
                    .and_then(|image| index_of.get(image))
                    .map(|&image| outcomes[image].state);
                let first = &first_scan.files[i];
                let now = now_by_name.get(name.as_str()).map(|&j| {
                    let file = &rescan.files[j];
                    let unchanged =
                        file.dev_ino == first.dev_ino && file.fact.mtime == first.fact.mtime;
                    (&replan.files[j], unchanged)
                });
                let recheck = Recheck {
                    lock: &locks.states[lock_name(&outcomes[i].decision)],
                    image,
                    now,
                };
                if confirm_removal(&mut outcomes[i], recheck) {
                    let failed = match remove_base_file(self.base, first.name()) {
                        RemoveOutcome::Removed | RemoveOutcome::AlreadyGone => None,
                        RemoveOutcome::Failed(message) => Some(message),
                    };
                    if let Some(message) = &failed {
                        warnings.push(WarningEntry::new(WarningCode::RemoveFailed, message));
                    }
                    outcomes[i].removed(failed);
                }
            }
            // Unlike Nova, the lock files stay: a Nova process may be waiting on one, and would
            // then lock a file with no name while the next one locks a new file of that name.
            drop(locks);
        }
        Ok(warnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sidecars_and_leftovers_share_their_image_lock() {
        let fp = "17d1b00b81642842e514494a78e804e9a511637c";
        let decision = |name: &str| {
            let facts = cachectl_policy::Facts {
                files: vec![cachectl_policy::CacheFile::regular(name, 1, UnixTime(0))],
                ..cachectl_policy::Facts::new("h")
            };
            plan(&facts).files.remove(0)
        };
        assert_eq!(lock_name(&decision(&format!("{fp}.part"))), fp);
        assert_eq!(
            lock_name(&decision(&format!("{fp}_5.info"))),
            format!("{fp}_5")
        );
        assert_eq!(lock_name(&decision("swap_512")), "swap_512");
    }
}
