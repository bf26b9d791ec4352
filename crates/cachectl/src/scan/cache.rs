//! The cache directory's entries, each read once (a regular image's first bytes and `fstat`,
//! anything else an `lstat`), many at a time; and what the scan knows of the cache while it
//! walks the instances path ([`CacheIndex`]).

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::num::NonZeroUsize;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use cachectl_fs::{Dir, FileStat, Kind};
use cachectl_naming::{EntryKind, classify_os, quote};
use cachectl_policy::{CacheFile, DiskUse, FileType, UnixTime, UseKind};
use cachectl_qcow2::ChainError;

use super::probe::{Declared, Probe, Reference, Top, chain_uses, read_top};
use super::{ScanError, ScannedFile};
use crate::domains::{DeclaredDisk, DeclaredDisks, InstanceRoots};
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

/// What the scan knows before it walks the instances path, shared by its threads: the cache,
/// and the disks libvirt's domains declare.
#[derive(Default)]
pub(super) struct CacheIndex {
    /// The files libvirt's domains name, by path relative to the instances path.
    pub declared: DeclaredDisks,
    /// The instances path as domains name it.
    pub roots: Option<InstanceRoots>,
    base_dir: PathBuf,
    /// Cache names by device and inode: hard links give one file several names.
    cache_ids: HashMap<(u64, u64), Vec<String>>,
    cache_names: HashSet<String>,
    /// The identity of each regular cache file, by name: a reference to
    /// `<cache directory>/<name>` needs no `stat`.
    regular_ids: HashMap<OsString, (u64, u64)>,
    /// The sizes of the cache's regular files: a file of another size is no link to one.
    pub sizes: HashSet<u64>,
    /// `stat` of reference targets, by path.
    target_ids: Mutex<HashMap<PathBuf, Option<(u64, u64)>>>,
}

impl CacheIndex {
    /// The cache files by identity and by name, to match references.
    pub(super) fn of(files: &[ScannedFile], base_dir: PathBuf) -> Self {
        let mut index = Self {
            base_dir,
            ..Self::default()
        };
        for file in files {
            index
                .cache_ids
                .entry(file.dev_ino)
                .or_default()
                .push(file.fact.name.clone());
            index.cache_names.insert(file.fact.name.clone());
            if file.fact.file_type == FileType::Regular {
                index
                    .regular_ids
                    .insert(file.name().to_owned(), file.dev_ino);
                index.sizes.insert(file.fact.size);
            }
        }
        index
    }

    /// Why a file of an instance directory is read, and in which format, from what libvirt's
    /// domains and Nova's `disk.info` say of it (the instance's `libvirt.xml` snapshot only
    /// where neither gives a format). A format is required only where all who give one agree:
    /// `raw` spares the file its probe only then. Where they disagree, the file is probed and
    /// read as its header says, and the disagreement is returned to be reported.
    pub(super) fn declared<'d>(
        &'d self,
        relative: &str,
        name: &OsStr,
        disk_info: &'d HashMap<OsString, String>,
        snapshot: &'d DeclaredDisks,
    ) -> (Declared<'d>, Option<String>) {
        let libvirt = self.declared.get(relative);
        let given = |disk: Option<&'d DeclaredDisk>| {
            disk.into_iter()
                .flat_map(|d| &d.formats)
                .filter_map(|(who, format)| Some((who.as_str(), format.as_deref()?)))
        };
        let mut said: Vec<(&str, &str)> = given(libvirt).collect();
        if let Some(format) = disk_info.get(name) {
            said.push(("its disk.info", format));
        }
        let from_snapshot = snapshot.get(relative);
        if said.is_empty() {
            said.extend(given(from_snapshot));
        }
        let named = libvirt.is_some() || from_snapshot.is_some();
        let mut formats: Vec<&str> = said.iter().map(|(_, format)| *format).collect();
        formats.sort_unstable();
        formats.dedup();
        match (formats.as_slice(), named) {
            ([], false) => (Declared::by_name(name), None),
            ([], true) => (Declared::Libvirt(None), None),
            ([format], false) => (Declared::DiskInfo(format), None),
            ([format], true) => (Declared::Libvirt(Some(format)), None),
            (_, _) => {
                let who: Vec<String> = said
                    .iter()
                    .map(|(who, format)| format!("{who} says {}", quote(format)))
                    .collect();
                let dispute = format!(
                    "{}: {}; read as its header says",
                    quote(relative),
                    who.join(", ")
                );
                (Declared::Libvirt(None), Some(dispute))
            }
        }
    }

    /// A file that is a cache file (a symlink or a hard link to one) uses it directly.
    pub(super) fn uses_as_link(&self, dev_ino: (u64, u64)) -> Option<Vec<DiskUse>> {
        let kind = UseKind::Backing { depth: 0 };
        let names = self.cache_ids.get(&dev_ino)?;
        Some(
            names
                .iter()
                .map(|file| DiskUse {
                    file: file.clone(),
                    kind,
                    by_name_only: false,
                })
                .collect(),
        )
    }

    pub(super) fn is_cache_file(&self, target: &Path) -> bool {
        self.identity_of(target)
            .is_some_and(|id| self.cache_ids.contains_key(&id))
    }

    /// Device and inode of a reference target: a regular file of the cache directory as listed,
    /// anything else `stat`ed once per scan (the first answer holds).
    fn identity_of(&self, target: &Path) -> Option<(u64, u64)> {
        if target.parent() == Some(self.base_dir.as_path())
            && let Some(name) = target.file_name()
            && let Some(&id) = self.regular_ids.get(name)
        {
            return Some(id);
        }
        let memo = || {
            self.target_ids
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
        };
        if let Some(&id) = memo().get(target) {
            return id;
        }
        // Not under the lock: other threads go on stat'ing meanwhile.
        let id = std::fs::metadata(target).ok().map(|m| (m.dev(), m.ino()));
        *memo().entry(target.to_path_buf()).or_insert(id)
    }

    /// The cache files some references reach: the same file (device and inode: every name a
    /// hard-linked file has), and, as Nova matches, a cache file of the same name.
    pub(super) fn match_references(&self, refs: &[Reference]) -> Vec<DiskUse> {
        let mut uses: Vec<DiskUse> = Vec::new();
        for reference in refs {
            let mut push = |file: &str, by_name_only: bool| {
                if !uses
                    .iter()
                    .any(|u| u.file == file && u.kind == reference.kind)
                {
                    uses.push(DiskUse {
                        file: file.to_owned(),
                        kind: reference.kind,
                        by_name_only,
                    });
                }
            };
            let identity = self.identity_of(&reference.target);
            let same_file = identity.and_then(|id| self.cache_ids.get(&id));
            for name in same_file.into_iter().flatten() {
                push(name, false);
            }
            let Some(name) = reference.target.file_name().and_then(OsStr::to_str) else {
                continue;
            };
            if self.cache_names.contains(name) {
                let in_base_dir = reference.target.parent() == Some(self.base_dir.as_path());
                push(name, !in_base_dir);
            }
        }
        uses
    }
}
