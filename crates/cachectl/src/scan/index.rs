//! What the scan knows of the cache while it walks the instances path, shared by its threads:
//! the cache files by identity and by name, their sizes, and the disks libvirt's domains
//! declare.

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use cachectl_naming::quote;
use cachectl_policy::{DiskUse, FileType, UseKind};

use super::declared::Declared;
use super::found::ScannedFile;
use crate::domains::{DeclaredDisk, DeclaredDisks, InstanceRoots};

/// A reference from one image to another file, before it is matched to the cache.
#[derive(Debug, Clone)]
pub(super) struct Reference {
    pub target: PathBuf,
    pub kind: UseKind,
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
    cache_ids: HashMap<(u64, u64), Vec<Arc<str>>>,
    cache_names: HashSet<Arc<str>>,
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
            let name: Arc<str> = file.fact.name.as_str().into();
            index
                .cache_ids
                .entry(file.dev_ino)
                .or_default()
                .push(Arc::clone(&name));
            index.cache_names.insert(name);
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
                    file: Arc::clone(file),
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
        // Sized as it will most often be (one use a reference): a host holds one list a disk.
        let mut uses: Vec<DiskUse> = Vec::with_capacity(refs.len());
        for reference in refs {
            let mut push = |file: &Arc<str>, by_name_only: bool| {
                if !uses
                    .iter()
                    .any(|u| u.file == *file && u.kind == reference.kind)
                {
                    uses.push(DiskUse {
                        file: Arc::clone(file),
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
            if let Some(name) = self.cache_names.get(name) {
                let in_base_dir = reference.target.parent() == Some(self.base_dir.as_path());
                push(name, !in_base_dir);
            }
        }
        uses.shrink_to_fit();
        uses
    }
}
