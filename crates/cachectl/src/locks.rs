//! Nova's inter-process locks: POSIX record locks on `instances_path/locks/nova-<name>`.
//!
//! oslo.concurrency's external locks (which Nova takes around creating and removing a base file,
//! and around `compute_nodes`) are `fcntl` write locks on the whole lock file, as Python's
//! `fcntl.lockf` takes them. cachectl takes the same locks ([`cachectl_fs::Dir::try_lock`]), so
//! Nova and cachectl exclude each other. A Nova process waiting on a lock file never checks that
//! the name still names the file it locked, so cachectl never unlinks a lock file: lock files
//! pile up instead, one per image ever cached (Nova bug 1256306), and reports count those whose
//! cache file is gone ([`stale_lock_files`]).

use std::collections::HashSet;
use std::ffi::OsStr;
use std::io;

use cachectl_fs::{Dir, Kind};
use cachectl_naming::NOVA_LOCK_PREFIX;
use cachectl_policy::{FileOutcome, FileState};

/// The directory Nova keeps its lock files in, under the instances path.
pub(crate) const LOCKS_DIR: &str = "locks";

/// Opens Nova's lock directory under the instances path: created if missing when `create` (for
/// the commands that take locks), else `Ok(None)` if there is none.
pub(crate) fn open_lock_dir(instances: &Dir, create: bool) -> io::Result<Option<Dir>> {
    let name = OsStr::new(LOCKS_DIR);
    if create {
        instances.create_child(name).map(Some)
    } else {
        instances.open_child(name)
    }
}

/// How many of Nova's lock files are those of images that, after the pass, are no longer in the
/// cache (the rule is the policy's: [`cachectl_policy::stale_lock_files`]).
pub(crate) fn stale_lock_files(locks: &Dir, outcomes: &[FileOutcome]) -> io::Result<usize> {
    let in_cache: HashSet<&str> = outcomes
        .iter()
        .filter(|outcome| outcome.state != FileState::Removed)
        .map(|outcome| outcome.decision.name.as_str())
        .collect();
    let entries = locks.entries()?;
    let locked = entries
        .iter()
        .filter(|(_, kind)| *kind == Kind::Regular)
        .filter_map(|(name, _)| name.to_str()?.strip_prefix(NOVA_LOCK_PREFIX));
    Ok(cachectl_policy::stale_lock_files(locked, |name| {
        in_cache.contains(name)
    }))
}

/// How many of Nova's lock files are those of images no longer in the cache.
pub(crate) fn count_stale_locks(lock_dir: Option<&Dir>, outcomes: &[FileOutcome]) -> usize {
    let Some(locks) = lock_dir else {
        return 0;
    };
    stale_lock_files(locks, outcomes).unwrap_or_else(|err| {
        tracing::warn!(dir = %locks.path().display(), "cannot list the lock files: {err}");
        0
    })
}
