//! Carrying out a plan: refreshing the mtime of files in use, and removing files under Nova's locks.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::io;
use std::path::PathBuf;

use cachectl_fs::{Dir, Lock};
use cachectl_naming::{classify, quote};

use crate::locks::nova_lock_name;

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

/// Sets the access and modification times of the cache file `name` to `now` (unix seconds), as
/// Nova does to the base files it finds in use, so that a file's age means how long it has been
/// unused. A symlink's target is never touched.
pub fn touch(base: &Dir, name: &OsStr, now: i64) -> io::Result<()> {
    base.set_times(name, now)
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
    /// Lock names not taken, with the lock file and, when it could not even be tried, why.
    pub busy: BTreeMap<String, (PathBuf, Option<String>)>,
}

/// Takes, without waiting, Nova's lock for each entry in `entries`. A lock file that cannot be
/// used (a symlink, a FIFO... planted in its place) keeps its files too, with the reason.
pub fn lock_entries<'a>(lock_dir: &Dir, entries: impl IntoIterator<Item = &'a str>) -> HeldLocks {
    let names: BTreeSet<&str> = entries.into_iter().map(lock_name).collect();
    let mut locks = HeldLocks::default();
    for name in names {
        let file = nova_lock_name(name);
        let path = lock_dir.join(&file);
        match lock_dir.try_lock(&file) {
            Ok(Some(lock)) => {
                locks.held.insert(name.to_owned(), lock);
            }
            Ok(None) => {
                tracing::info!(lock = %path.display(), "held by another process: its files are kept this pass");
                locks.busy.insert(name.to_owned(), (path, None));
            }
            Err(err) => {
                tracing::warn!(lock = %path.display(), "cannot take the lock: {err}");
                locks
                    .busy
                    .insert(name.to_owned(), (path, Some(err.to_string())));
            }
        }
    }
    locks
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
