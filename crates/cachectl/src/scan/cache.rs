//! The cache directory's entries, each read once (a regular image's first bytes and `fstat`,
//! anything else an `lstat`), many at a time.

use std::collections::{HashMap, HashSet};
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

/// The entries of the cache directory, up to `jobs` read at once, sorted by name; with `reuse`
/// (a scan again under Nova's locks), an entry that keeps its name and inode number and is not
/// one to look at again is taken as the earlier scan found it, not read again.
pub(super) fn list_cache(
    base: &Dir,
    jobs: NonZeroUsize,
    reuse: Option<&Reuse<'_>>,
) -> Result<Listed, ScanError> {
    let error = |path: PathBuf| move |source| ScanError { path, source };
    let names = base
        .entries_with_inodes()
        .map_err(error(base.path().to_owned()))?;
    let kept = |name: &OsStr, ino: u64| {
        let earlier = reuse?
            .earlier
            .get(name)
            .filter(|file| file.fact.ino == ino)?;
        Some(((*earlier).clone(), reuse?.look_again.contains(name)))
    };
    let read = pool::map(
        &names,
        jobs,
        |_| 0,
        |(name, kind, ino)| match kept(name, *ino) {
            Some((file, false)) => Ok(Some(Known::Earlier(file))),
            // Its removal is to be confirmed: as it is now (a `stat`: its bytes matter only if
            // it stays).
            Some((file, true)) => Ok(base
                .stat(name)?
                .map(|stat| Known::Earlier(restated(file, &stat)))),
            None => {
                read_entry(base, name, *kind).map(|entry| entry.map(|e| Known::Read(Box::new(e))))
            }
        },
    );
    let mut files = Vec::with_capacity(names.len());
    let mut tops = Vec::with_capacity(names.len());
    for ((name, _, _), entry) in names.iter().zip(read) {
        // `None`: gone since the listing.
        match entry.map_err(error(base.join(name)))? {
            Some(Known::Read(read)) => {
                let (stat, top) = *read;
                files.push(scanned(base, name, &stat));
                tops.push(top);
            }
            Some(Known::Earlier(file)) => {
                files.push(file);
                tops.push(None);
            }
            None => {}
        }
    }
    Ok(Listed { files, tops })
}

/// What a scan again under Nova's locks takes from the scan before it.
#[derive(Debug)]
pub(crate) struct Reuse<'a> {
    /// The cache's entries as the earlier scan found them, by name.
    pub earlier: HashMap<&'a OsStr, &'a ScannedFile>,
    /// The entries to `stat` again whatever their inode numbers: those whose removal is to be
    /// confirmed.
    pub look_again: HashSet<&'a OsStr>,
}

impl<'a> Reuse<'a> {
    /// What the scan before found, with no entry to look at again yet.
    pub(crate) fn of(files: &'a [ScannedFile]) -> Self {
        Self {
            earlier: files.iter().map(|file| (file.name(), file)).collect(),
            look_again: HashSet::new(),
        }
    }
}

/// An entry the earlier scan read, as `stat` finds it now.
fn restated(mut file: ScannedFile, stat: &FileStat) -> ScannedFile {
    file.fact.size = stat.size;
    file.fact.mtime = UnixTime(stat.mtime);
    file.fact.ino = stat.ino;
    file.fact.allocated = stat.allocated;
    file.dev_ino = stat.id();
    file
}

/// A cache entry as read now, or as the earlier scan found it.
enum Known {
    Read(Box<Entry>),
    Earlier(ScannedFile),
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
            allocated: stat.allocated,
            mtime: UnixTime(stat.mtime),
            ino: stat.ino,
            backed_by: Vec::new(),
            chain_problem: None,
        },
        path: base.join(name),
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
                    .filter(|u| *u.file != *file.fact.name)
                    .map(|u| u.file.to_string())
                    .collect();
            }
            Some(Probe::Unreadable(problem)) => file.fact.chain_problem = Some(problem),
            Some(Probe::Skipped(_)) | None => {}
        }
    }
    files
}
