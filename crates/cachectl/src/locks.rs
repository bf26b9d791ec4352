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
use std::ffi::{OsStr, OsString};
use std::io;
use std::thread;
use std::time::{Duration, Instant};

use cachectl_fs::{Dir, Kind, Lock};
use cachectl_naming::classify_os;

/// The prefix oslo.concurrency gives Nova's lock files.
pub const NOVA_PREFIX: &str = "nova-";
/// The directory Nova keeps its lock files in, under the instances path.
pub const LOCKS_DIR: &str = "locks";

/// The lock file Nova uses for `name` (a base file name, or `storage-registry-lock`).
pub fn nova_lock_name(name: &str) -> OsString {
    OsString::from(format!("{NOVA_PREFIX}{name}"))
}

/// Opens Nova's lock directory under the instances path: created if missing when `create` (for
/// the commands that take locks), else `Ok(None)` if there is none.
pub fn open_lock_dir(instances: &Dir, create: bool) -> io::Result<Option<Dir>> {
    let name = OsStr::new(LOCKS_DIR);
    if create {
        instances.create_child(name).map(Some)
    } else {
        instances.open_child(name)
    }
}

/// Takes the lock `name` in `dir`, waiting up to `timeout` for another process to release it.
pub fn lock_within(dir: &Dir, name: &OsStr, timeout: Duration) -> io::Result<Option<Lock>> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(lock) = dir.try_lock(name)? {
            return Ok(Some(lock));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// How many of Nova's lock files name a cache file (an image) that is not in `cache_names`.
/// They stay: a process may be waiting on any of them.
pub fn stale_lock_files(locks: &Dir, cache_names: &HashSet<&str>) -> io::Result<usize> {
    Ok(locks
        .entries()?
        .iter()
        .filter(|(_, kind)| *kind == Kind::Regular)
        .filter_map(|(name, _)| name.to_str()?.strip_prefix(NOVA_PREFIX))
        .filter(|image| {
            classify_os(OsStr::new(image)).kind().is_image() && !cache_names.contains(image)
        })
        .count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_lock_files_are_those_of_images_gone() -> io::Result<()> {
        let temp = tempfile::tempdir()?;
        let fp = "17d1b00b81642842e514494a78e804e9a511637c";
        for name in [
            format!("nova-{fp}"),
            format!("nova-{fp}_5"),
            "nova-swap_512".to_owned(),
            "nova-storage-registry-lock".to_owned(),
            "cachectl-clean".to_owned(),
        ] {
            std::fs::write(temp.path().join(name), b"")?;
        }
        let locks = Dir::open(temp.path())?;
        let present = format!("{fp}_5");
        let cache = HashSet::from([present.as_str()]);
        assert_eq!(stale_lock_files(&locks, &cache)?, 2);
        Ok(())
    }
}
