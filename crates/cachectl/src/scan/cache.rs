//! The cache directory's entries, each read once (a regular image's first bytes and `fstat`,
//! anything else an `lstat`), many at a time.

use std::ffi::OsStr;
use std::num::NonZeroUsize;
use std::path::PathBuf;

use cachectl_fs::{Dir, FileStat, Kind};
use cachectl_naming::{EntryKind, classify_os};
use cachectl_policy::{CacheFile, FileType, UnixTime};
use cachectl_qcow2::ChainError;

use super::found::{ScanError, ScannedFile};
use super::index::CacheIndex;
use super::probe::{Probe, Top, chain_uses, read_top};
use crate::pool;

/// The cache's entries as listed, with the first image of each regular image's chain.
pub(super) struct Listed {
    pub files: Vec<ScannedFile>,
    /// For each file, its header as read (or why it cannot be read); `None` for what is not
    /// read: sidecars, download leftovers, anything but a regular file.
    tops: Vec<Option<Result<Top, ChainError>>>,
}

/// The entries of the cache directory, up to `jobs` read at once, sorted by name.
pub(super) fn list_cache(base: &Dir, jobs: NonZeroUsize) -> Result<Listed, ScanError> {
    let error = |path: PathBuf| move |source| ScanError { path, source };
    let names = base.entries().map_err(error(base.path().to_owned()))?;
    let read = pool::map(
        &names,
        jobs,
        |_| 0,
        |(name, kind)| read_entry(base, name, *kind),
    );
    let mut files = Vec::with_capacity(names.len());
    let mut tops = Vec::with_capacity(names.len());
    for ((name, _), entry) in names.iter().zip(read) {
        // `None`: gone since the listing.
        if let Some((stat, top)) = entry.map_err(error(base.join(name)))? {
            files.push(scanned(base, name, &stat));
            tops.push(top);
        }
    }
    Ok(Listed { files, tops })
}

/// What one entry of the cache is: its `stat`, and for a regular image its header.
type Entry = (FileStat, Option<Result<Top, ChainError>>);

fn read_entry(base: &Dir, name: &OsStr, kind: Kind) -> std::io::Result<Option<Entry>> {
    // Sidecars and interrupted downloads back nothing: their bytes are not read.
    let read = kind == Kind::Regular
        && !matches!(
            classify_os(name).kind(),
            EntryKind::Sidecar | EntryKind::DownloadLeftover
        );
    if !read {
        return Ok(base.stat(name)?.map(|stat| (stat, None)));
    }
    let path = base.join(name);
    match read_top(base, name, path) {
        Ok(Some((top, stat))) => Ok(Some((stat, Some(Ok(top))))),
        Ok(None) => Ok(None),
        // Not read: what `lstat` says, and why.
        Err(err) => Ok(base.stat(name)?.map(|stat| (stat, Some(Err(err))))),
    }
}

fn scanned(base: &Dir, name: &OsStr, stat: &FileStat) -> ScannedFile {
    let file_type = match stat.kind {
        Kind::Regular => FileType::Regular,
        Kind::Directory => FileType::Directory,
        Kind::Symlink => FileType::Symlink,
        _ => FileType::Other,
    };
    ScannedFile {
        fact: CacheFile {
            name: name.to_string_lossy().into_owned(),
            kind: classify_os(name).kind(),
            file_type,
            size: stat.size,
            mtime: UnixTime(stat.mtime),
            ino: stat.ino,
            backed_by: Vec::new(),
            chain_problem: None,
        },
        path: base.join(name),
        allocated: stat.allocated,
        dev_ino: stat.id(),
    }
}

/// A cache file may itself be an overlay: notes which cache files each one's chain reaches, or
/// why that cannot be told (which matters only if it stays: the policy decides). Chains are
/// walked up to `jobs` at a time.
pub(super) fn note_what_cache_files_use(
    index: &CacheIndex,
    listed: Listed,
    jobs: NonZeroUsize,
) -> Vec<ScannedFile> {
    let Listed { mut files, tops } = listed;
    let probes = pool::map(
        &tops,
        jobs,
        |_| 0,
        |top| match top {
            None => None,
            Some(Ok(top)) if !top.references_files() => None,
            Some(Ok(top)) => Some(chain_uses(index, Ok(top.clone()), true, None)),
            Some(Err(err)) => Some(Probe::Unreadable(err.problem())),
        },
    );
    for (file, probe) in files.iter_mut().zip(probes) {
        match probe {
            Some(Probe::Uses(uses)) => {
                file.fact.backed_by = uses
                    .into_iter()
                    .map(|u| u.file)
                    .filter(|f| *f != file.fact.name)
                    .collect();
            }
            Some(Probe::Unreadable(problem)) => file.fact.chain_problem = Some(problem),
            Some(Probe::Skipped(_)) | None => {}
        }
    }
    files
}
