//! The directories a pass works in, opened safely: the instances path, the cache and Nova's lock
//! directory; and the lock that keeps two `clean`s from running on one storage at once.

use std::ffi::OsStr;
use std::path::PathBuf;

use cachectl_fs::{Dir, Lock};

use crate::error::PassError;
use crate::locks::{LOCKS_DIR, open_lock_dir};
use crate::scan::ScanConfig;

/// The lock file that keeps two `cachectl clean` from running on one storage at once.
pub(crate) const PASS_LOCK: &str = "cachectl-clean";

/// The directories a pass works in, open.
pub(crate) struct Dirs {
    /// The instances path.
    pub instances: Dir,
    /// The cache directory.
    pub base: Dir,
    /// Nova's lock directory, if there is one (a `clean` creates it).
    pub locks: Option<Dir>,
}

/// Opens the instances path (a missing one is a configuration error, a typo, not "nothing to
/// do"), the cache directory (`None` if there is none: nothing to do) and Nova's lock
/// directory (created by a pass that changes anything).
pub(crate) fn open_dirs(scan: &ScanConfig, create_locks: bool) -> Result<Option<Dirs>, PassError> {
    let open_error = |path: PathBuf| move |source| PassError::Open { path, source };
    let instances_path = &scan.instances_path;
    let instances = Dir::open(instances_path).map_err(open_error(instances_path.clone()))?;
    let Some(base) = instances
        .open_child(OsStr::new(&scan.base_dir_name))
        .map_err(open_error(scan.base_dir()))?
    else {
        return Ok(None);
    };
    let locks = open_lock_dir(&instances, create_locks).map_err(|source| PassError::Lock {
        path: instances.join(OsStr::new(LOCKS_DIR)),
        source,
    })?;
    Ok(Some(Dirs {
        instances,
        base,
        locks,
    }))
}

/// Takes `cachectl-clean`: one pass that changes anything on a storage at a time.
pub(crate) fn take_pass_lock(locks: &Dir) -> Result<Lock, PassError> {
    let name = OsStr::new(PASS_LOCK);
    let lock = locks.try_lock(name).map_err(|source| PassError::Lock {
        path: locks.join(name),
        source,
    })?;
    lock.ok_or_else(|| PassError::Busy(locks.join(name)))
}
