//! Carrying out a plan: refreshing the mtime of files in use, and removing files under Nova's locks.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};

use cachectl_naming::{classify, quote};
use rustix::fs::{AtFlags, CWD, Timespec, Timestamps, utimensat};

use crate::locks::{Lock, nova_lock_path, try_lock};

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

/// Removes one cache file; never fails the pass.
pub fn remove_base_file(path: &Path) -> RemoveOutcome {
    match std::fs::remove_file(path) {
        Ok(()) => {
            tracing::info!(path = %path.display(), "removed");
            RemoveOutcome::Removed
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => RemoveOutcome::AlreadyGone,
        Err(err) => {
            let message = format!("failed to remove {}: {err}", quote(path));
            tracing::warn!("{message}");
            RemoveOutcome::Failed(message)
        }
    }
}

/// Sets a file's access and modification times to `now` (unix seconds), as Nova does to the base
/// files it finds in use, so that a file's age means how long it has been unused.
pub fn touch(path: &Path, now: i64) -> io::Result<()> {
    let time = Timespec {
        tv_sec: now,
        tv_nsec: 0,
    };
    utimensat(
        CWD,
        path,
        &Timestamps {
            last_access: time,
            last_modification: time,
        },
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(io::Error::from)
}

/// The Nova lock that guards a cache entry: its own name for images, its image's name for
/// sidecars and download leftovers (Nova downloads `X.part` under the lock of `X`).
pub fn lock_name(entry: &str) -> &str {
    classify(entry).belongs_to().unwrap_or(entry)
}

/// The locks taken for a batch of removals, and the entries whose lock another process holds.
#[derive(Debug, Default)]
pub struct HeldLocks {
    /// Locks held, by lock name.
    pub held: BTreeMap<String, Lock>,
    /// Lock names another process holds, with the lock file.
    pub busy: BTreeMap<String, PathBuf>,
}

/// Takes, without waiting, Nova's lock for each entry in `entries`.
pub fn lock_entries<'a>(
    lock_dir: &Path,
    entries: impl IntoIterator<Item = &'a str>,
) -> io::Result<HeldLocks> {
    let names: BTreeSet<&str> = entries.into_iter().map(lock_name).collect();
    let mut locks = HeldLocks::default();
    for name in names {
        let path = nova_lock_path(lock_dir, name);
        match try_lock(&path)? {
            Some(lock) => {
                locks.held.insert(name.to_owned(), lock);
            }
            None => {
                tracing::info!(lock = %path.display(), "held by another process: its files are kept this pass");
                locks.busy.insert(name.to_owned(), path);
            }
        }
    }
    Ok(locks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sidecars_and_leftovers_share_their_image_lock() {
        let fp = "17d1b00b81642842e514494a78e804e9a511637c";
        assert_eq!(lock_name(&format!("{fp}.part")), fp);
        assert_eq!(lock_name(&format!("{fp}_5.info")), format!("{fp}_5"));
        assert_eq!(lock_name("swap_512"), "swap_512");
    }
}
