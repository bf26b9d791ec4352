//! Gathering facts from disk: the cache directory's entries and every disk's backing chain.
//!
//! Every regular file under the instances path counts as a possible disk, in any directory, not
//! only `<instance>/disk`: its header is read (a few hundred bytes, never the data), its backing
//! chain is followed, and every cache file the chain reaches is in use. A file whose header cannot
//! be read is recorded as unreadable (doubt keeps); a file that vanishes mid-scan is skipped.
//!
//! With several jobs, the entries of the instances path (one per instance directory) are walked
//! on several threads, and merged in their sorted order: the result is the one a single thread
//! gets (see [`scan_with_jobs`]).

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::num::NonZeroUsize;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use cachectl_fs::{Dir, Kind};
use cachectl_naming::{EntryKind, classify_os, is_console_log, is_nova_disk_name, quote};
use cachectl_policy::{
    CacheFile, Disk, DiskUse, Facts, FileIdentity, FileType, ReadAs, UnixTime, UnreadableFile,
    UseKind,
};
use cachectl_qcow2::{BackingTarget, ChainError, Format, ReadError, walk_chain};
use cachectl_sources::libvirt;

use crate::domains::{DeclaredDisk, DeclaredDisks, InstanceRoots};
use crate::locks::LOCKS_DIR;
use crate::pool;
use cachectl_sources::registry::{COMPUTE_NODES, is_registry_leftover};

/// How deep directories under the instances path are walked.
pub(crate) const MAX_DIR_DEPTH: usize = 8;
/// Entries of the instances path walked on several threads before their results are merged.
const SCAN_CHUNK: usize = 1024;

/// Where to look.
#[derive(Debug, Clone)]
pub struct ScanConfig {
    /// Nova's `instances_path`.
    pub instances_path: PathBuf,
    /// `[image_cache] subdirectory_name` (`_base`).
    pub base_dir_name: String,
}

impl ScanConfig {
    /// `instances_path/base_dir_name`.
    pub fn base_dir(&self) -> PathBuf {
        self.instances_path.join(&self.base_dir_name)
    }
}

/// A cache entry as found on disk.
#[derive(Debug, Clone)]
pub struct ScannedFile {
    /// What the policy needs.
    pub fact: CacheFile,
    /// Its full path.
    pub path: PathBuf,
    /// Bytes allocated on disk (`st_blocks * 512`).
    pub allocated: u64,
    /// Device and inode, to tell it is still the same file later.
    pub dev_ino: (u64, u64),
}

impl Scan {
    /// Gives the policy what this scan found: the cache entries' facts (copied: the scan keeps
    /// its files for the report), the disks, directories and unreadable files (moved: a host's
    /// worth).
    pub fn give_facts(&mut self, facts: &mut Facts) {
        facts.files = self.files.iter().map(|f| f.fact.clone()).collect();
        facts.disks = std::mem::take(&mut self.disks);
        facts.instance_dirs = std::mem::take(&mut self.instance_dirs);
        facts.unreadable = std::mem::take(&mut self.unreadable);
    }
}

impl ScannedFile {
    /// Its name in the cache directory, exactly (`fact.name` is lossy where it is not UTF-8).
    pub fn name(&self) -> &OsStr {
        self.path.file_name().unwrap_or_default()
    }
}

/// Everything a scan found.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    /// The cache directory.
    pub base_dir: PathBuf,
    /// The cache entries, sorted by name.
    pub files: Vec<ScannedFile>,
    /// The disks that use cache files.
    pub disks: Vec<Disk>,
    /// Files that may be disks and cannot be read.
    pub unreadable: Vec<UnreadableFile>,
    /// Top-level directories that may hold instances.
    pub instance_dirs: Vec<String>,
    /// How many files under the instances path were probed.
    pub probed: usize,
    /// Temporary files of interrupted `compute_nodes` writes, in the instances path.
    pub registry_leftovers: Vec<OsString>,
    /// Disks whose declarers (libvirt's domains, `disk.info`) give different formats: each
    /// read as its header says, and reported.
    pub format_disputes: Vec<String>,
}

/// The cache directory or the instances path cannot be listed.
#[derive(Debug, thiserror::Error)]
#[error("cannot list {}: {source}", quote(.path))]
pub struct ScanError {
    /// The directory.
    pub path: PathBuf,
    /// Why.
    pub source: io::Error,
}

/// A reference from one image to another file, before it is matched to the cache.
#[derive(Debug, Clone)]
struct Reference {
    target: PathBuf,
    kind: UseKind,
}

/// What reading one possible disk found.
#[derive(Debug, Clone)]
enum Probe {
    /// Not a disk after all (not a regular file, or gone): why.
    Skipped(&'static str),
    /// Its chain cannot be read: why.
    Unreadable(String),
    /// The cache files its chain uses.
    Uses(Vec<DiskUse>),
}

/// Scans the cache directory `base` and everything else under the instances path, on one
/// thread.
pub fn scan(config: &ScanConfig, base: &Dir) -> Result<Scan, ScanError> {
    scan_with_jobs(config, base, NonZeroUsize::MIN, DeclaredDisks::default())
}

/// Scans the cache directory and everything else under the instances path, walking up to `jobs`
/// entries of the instances path at a time; the files libvirt's domains name are read as they
/// declare them (`declared`).
///
/// The result is the one a single thread gets. Each entry is walked by a thread of its own with a
/// directory set of its own; the results are then merged in sorted order, and an entry that
/// reached a directory already walked (under another name: a symlinked instance directory, a
/// bind mount) is walked again there, on the merging thread, against every directory walked
/// before it, exactly as one thread would have walked it.
pub(crate) fn scan_with_jobs(
    config: &ScanConfig,
    base: &Dir,
    jobs: NonZeroUsize,
    declared: DeclaredDisks,
) -> Result<Scan, ScanError> {
    let base_dir = config.base_dir();
    let mut files = list_cache(base)?;
    let mut index = CacheIndex::of(&files, base_dir.clone());
    index.roots = Some(InstanceRoots::of(&config.instances_path));
    index.declared = declared;
    let mut scanner = Scanner::new(&index);
    scanner.note_what_cache_files_use(&mut files);
    let mut scan = Scan {
        base_dir,
        files,
        ..Scan::default()
    };
    let entries = top_entries(config, &mut scan)?;
    let root = config.instances_path.as_path();
    if jobs.get() == 1 || entries.len() < 2 {
        for entry in &entries {
            scanner.scan_entry(root, entry, &mut scan);
        }
        return Ok(scan);
    }
    // In chunks, so that what the threads found waits for the merge a chunk at a time, not a
    // host at a time.
    for chunk in entries.chunks(SCAN_CHUNK) {
        let walked = pool::map(
            chunk,
            jobs,
            |_| 0,
            |entry| {
                let mut own = Scanner::new(&index);
                let mut found = Scan::default();
                own.scan_entry(root, entry, &mut found);
                (found, own.walked, own.revisited)
            },
        );
        for (entry, (found, dirs, revisited)) in chunk.iter().zip(walked) {
            if revisited || dirs.iter().any(|dir| scanner.visited_dirs.contains(dir)) {
                scanner.scan_entry(root, entry, &mut scan);
            } else {
                scanner.visited_dirs.extend(dirs);
                scan.disks.extend(found.disks);
                scan.unreadable.extend(found.unreadable);
                scan.format_disputes.extend(found.format_disputes);
                scan.probed += found.probed;
            }
        }
    }
    Ok(scan)
}

/// The entries of the instances path to walk, sorted: instance directories (noted in `scan`)
/// and other directories and files; not the cache itself, Nova's locks, `compute_nodes` (whose
/// interrupted writes' leftovers are noted in `scan`) or a mount point's `lost+found`.
fn top_entries(config: &ScanConfig, scan: &mut Scan) -> Result<Vec<TopEntry>, ScanError> {
    let mut entries = Vec::new();
    for (name, file_type) in read_dir_sorted(&config.instances_path)? {
        let path = config.instances_path.join(&name);
        let name = name.to_string_lossy().into_owned();
        // fsck's lost+found is root's only.
        if name == config.base_dir_name || name == LOCKS_DIR || name == "lost+found" {
            continue;
        }
        let is_dir = is_directory(&path, file_type);
        if is_dir {
            if !name.starts_with("_base") && name != "snapshots" {
                scan.instance_dirs.push(name.clone());
            }
        } else if name == COMPUTE_NODES {
            continue;
        } else if is_registry_leftover(OsStr::new(&name)) {
            scan.registry_leftovers.push(OsString::from(&name));
            continue;
        }
        entries.push(TopEntry {
            path,
            name,
            file_type,
            is_dir,
        });
    }
    Ok(entries)
}

/// An entry of the instances path to scan: an instance directory (or another directory), or a
/// file.
struct TopEntry {
    path: PathBuf,
    name: String,
    file_type: fs::FileType,
    is_dir: bool,
}

/// What the scan knows before it walks, shared by its threads: the cache, and the disks libvirt's
/// domains declare.
#[derive(Default)]
struct CacheIndex {
    /// The files libvirt's domains name, by path relative to the instances path.
    declared: DeclaredDisks,
    /// The instances path as domains name it.
    roots: Option<InstanceRoots>,
    base_dir: PathBuf,
    /// Cache names by device and inode: hard links give one file several names.
    cache_ids: HashMap<(u64, u64), Vec<String>>,
    cache_names: HashSet<String>,
    /// `stat` of reference targets, by path.
    target_ids: Mutex<HashMap<PathBuf, Option<(u64, u64)>>>,
}

impl CacheIndex {
    /// Why a file of an instance directory is read, and in which format, from what libvirt's
    /// domains and Nova's `disk.info` say of it (the instance's `libvirt.xml` snapshot only
    /// where neither gives a format). A format is required only where all who give one agree:
    /// `raw` spares the file its probe only then. Where they disagree, the file is probed and
    /// read as its header says, and the disagreement is returned to be reported.
    fn declared<'d>(
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

    /// The cache files by identity and by name, to match references.
    fn of(files: &[ScannedFile], base_dir: PathBuf) -> Self {
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
        }
        index
    }
}

/// One thread's walk.
struct Scanner<'a> {
    index: &'a CacheIndex,
    /// Directories walked, by device and inode.
    visited_dirs: HashSet<(u64, u64)>,
    /// The same, in the order walked.
    walked: Vec<(u64, u64)>,
    /// Whether a directory already walked was met again.
    revisited: bool,
}

impl<'a> Scanner<'a> {
    fn new(index: &'a CacheIndex) -> Self {
        Self {
            index,
            visited_dirs: HashSet::new(),
            walked: Vec::new(),
            revisited: false,
        }
    }

    /// A cache file may itself be an overlay: notes which cache files each one's chain
    /// reaches, or why that cannot be told (which matters only if it stays: the policy decides).
    fn note_what_cache_files_use(&mut self, files: &mut [ScannedFile]) {
        for file in files {
            // Sidecars and interrupted downloads back nothing: their bytes are not read.
            if file.fact.file_type != FileType::Regular
                || matches!(
                    file.fact.kind,
                    EntryKind::Sidecar | EntryKind::DownloadLeftover
                )
            {
                continue;
            }
            match self.chain_uses(&file.path, true, None) {
                Probe::Uses(uses) => {
                    file.fact.backed_by = uses
                        .into_iter()
                        .map(|u| u.file)
                        .filter(|f| *f != file.fact.name)
                        .collect();
                }
                Probe::Skipped(_) => {}
                Probe::Unreadable(problem) => file.fact.chain_problem = Some(problem),
            }
        }
    }

    /// Scans one entry of the instances path.
    fn scan_entry(&mut self, root: &Path, entry: &TopEntry, scan: &mut Scan) {
        if entry.is_dir {
            self.walk(root, &entry.path, Some(&entry.name), 1, scan);
        } else {
            let (no_disk_info, no_snapshot) = (HashMap::new(), DeclaredDisks::default());
            let (declared, dispute) = self.index.declared(
                &entry.name,
                OsStr::new(&entry.name),
                &no_disk_info,
                &no_snapshot,
            );
            scan.format_disputes.extend(dispute);
            self.probe(root, &entry.path, None, entry.file_type, declared, scan);
        }
    }

    /// Walks a directory under the instances path: `depth` 1 is an instance directory (which
    /// may be a symlink, as Nova follows it), deeper ones are real directories only, so a walk
    /// never leaves the instances path through a symlink. A directory too deep to walk is in
    /// doubt, not skipped.
    fn walk(&mut self, root: &Path, dir: &Path, top: Option<&str>, depth: usize, scan: &mut Scan) {
        // Each directory once (two names for one instance directory, a bind mount).
        if let Ok(meta) = fs::metadata(dir) {
            let id = (meta.dev(), meta.ino());
            if !self.visited_dirs.insert(id) {
                self.revisited = true;
                return;
            }
            self.walked.push(id);
        }
        if depth > MAX_DIR_DEPTH {
            scan.unreadable.push(UnreadableFile {
                path: relative_display(root, dir),
                problem: format!("a directory deeper than {MAX_DIR_DEPTH} levels: not read"),
                read_as: ReadAs::Directory,
                identity: identity_of_file(dir),
            });
            return;
        }
        let entries = match read_dir_sorted(dir) {
            Ok(entries) => entries,
            Err(err) if err.source.kind() == io::ErrorKind::NotFound => return,
            Err(err) => {
                scan.unreadable.push(UnreadableFile {
                    path: relative_display(root, dir),
                    problem: format!("cannot list the directory: {}", err.source),
                    read_as: ReadAs::Directory,
                    identity: identity_of_file(dir),
                });
                return;
            }
        };
        // Nova's record of the formats it gave libvirt for this instance's disks, and the
        // snapshot of its domain Nova wrote there up to Newton.
        let (disk_info, snapshot) = if depth == 1 {
            (read_disk_info(dir), self.read_instance_domain(dir))
        } else {
            (HashMap::new(), DeclaredDisks::default())
        };
        for (name, file_type) in entries {
            let path = dir.join(&name);
            if is_console_log(&name) && !file_type.is_dir() {
                // The guest writes it from its first byte: never a disk, whatever it looks like.
                tracing::debug!(path = %path.display(), "the guest's console log: not a disk");
                continue;
            }
            let relative = relative_display(root, &path);
            let index = self.index;
            let (declared, dispute) = index.declared(&relative, &name, &disk_info, &snapshot);
            scan.format_disputes.extend(dispute);
            if declared.is_raw() && !file_type.is_dir() {
                // QEMU opens it raw, never probing its bytes (guest data: a tenant's to write):
                // it uses a cache file only by being one (a link).
                scan.probed += 1;
                let link_uses = fs::metadata(&path)
                    .ok()
                    .and_then(|m| self.uses_as_link((m.dev(), m.ino())));
                if let Some(uses) = link_uses {
                    scan.disks.push(Disk {
                        path: relative,
                        dir: top.map(str::to_owned),
                        uses,
                    });
                }
                continue;
            }
            if file_type.is_dir() {
                self.walk(root, &path, top, depth + 1, scan);
            } else if file_type.is_symlink() && is_directory(&path, file_type) {
                tracing::debug!(path = %path.display(), "a symlink to a directory inside an instance directory: not followed");
            } else {
                self.probe(root, &path, top, file_type, declared, scan);
            }
        }
    }

    /// The disks an instance directory's `libvirt.xml` names (none where it cannot be read:
    /// the file is probed as any other).
    fn read_instance_domain(&self, dir: &Path) -> DeclaredDisks {
        let (Some(roots), true) = (&self.index.roots, self.index.declared.reads_snapshots()) else {
            return DeclaredDisks::default();
        };
        let path = dir.join("libvirt.xml");
        let bytes = cachectl_fs::read_small_file(&path, libvirt::MAX_DOMAIN_LEN);
        match bytes.map(|bytes| bytes.map(|bytes| libvirt::parse_domain(&path, &bytes))) {
            Ok(Some(Ok(domain))) => DeclaredDisks::of_instance_dir(roots, path, domain),
            Ok(Some(Err(err))) => {
                tracing::debug!("{err}: its disks are read as any other file");
                DeclaredDisks::default()
            }
            Ok(None) => DeclaredDisks::default(),
            Err(err) => {
                tracing::debug!("cannot read {}: {err}", quote(&path));
                DeclaredDisks::default()
            }
        }
    }

    /// Reads one possible disk and records what it uses.
    fn probe(
        &mut self,
        root: &Path,
        path: &Path,
        top: Option<&str>,
        file_type: fs::FileType,
        declared: Declared<'_>,
        scan: &mut Scan,
    ) {
        if !file_type.is_file() && !file_type.is_symlink() {
            tracing::debug!(path = %path.display(), "not a regular file: skipped");
            return;
        }
        // A checksum sidecar or an interrupted download, here or in another host's `_base_<ip>`,
        // backs nothing: its bytes are not a disk's.
        let name = path.file_name().map(classify_os).map(|entry| entry.kind());
        if matches!(name, Some(EntryKind::Sidecar | EntryKind::DownloadLeftover)) {
            tracing::debug!(path = %path.display(), "a sidecar or download leftover: not a disk");
            return;
        }
        let shown = relative_display(root, path);
        match self.chain_uses(path, false, declared.format()) {
            Probe::Skipped(why) => tracing::debug!(path = %shown, "{why}: skipped"),
            Probe::Unreadable(problem) => {
                scan.probed += 1;
                scan.unreadable.push(UnreadableFile {
                    path: shown,
                    problem,
                    read_as: declared.read_as(),
                    identity: identity_of_file(path),
                });
            }
            Probe::Uses(uses) => {
                scan.probed += 1;
                if !uses.is_empty() {
                    scan.disks.push(Disk {
                        path: shown,
                        dir: top.map(str::to_owned),
                        uses,
                    });
                }
            }
        }
    }

    /// Walks the chain below `path` and says which cache files it uses: the files it references,
    /// down to the first cache file (whose own chain the cache scan covers) or a raw file. A disk
    /// declared in a format (by `disk.info`) that reads as another cannot be read.
    fn chain_uses(
        &self,
        path: &Path,
        is_cache_file: bool,
        declared: Option<(Format, &'static str)>,
    ) -> Probe {
        let mut refs = Vec::new();
        // As deep as `inspect` follows (the crate's limit): a deeper chain cannot be read.
        for link in walk_chain(path) {
            let link = match link {
                Ok(link) => link,
                Err(err) if err.is_missing_backing_file() => break,
                Err(ChainError::Read {
                    depth: 0,
                    source: ReadError::NotFound(_),
                    ..
                }) => {
                    return Probe::Skipped("vanished during the scan");
                }
                Err(ChainError::Read {
                    depth: 0,
                    source: ReadError::NotRegularFile { kind, .. },
                    ..
                }) => {
                    return Probe::Skipped(kind);
                }
                Err(err) => return Probe::Unreadable(err.problem()),
            };
            if link.depth == 0
                && let Some((format, declarer)) = declared
                && link.header.format != format
            {
                return Probe::Unreadable(format!(
                    "{declarer} declares it {}, but it reads as {}",
                    format.as_str(),
                    link.header.format.as_str()
                ));
            }
            if link.depth == 0
                && !is_cache_file
                && let Some(uses) = self.uses_as_link(link.dev_ino)
            {
                return Probe::Uses(uses);
            }
            if let Some(target) = &link.data_file
                && depends_on_working_directory(link.header.external_data_file(), target)
            {
                return Probe::Unreadable(unresolvable(&link.path, target));
            }
            // External data files, and the extent files of a VMDK descriptor.
            for target in link.dependencies() {
                match target.file_path() {
                    Some(file) => refs.push(Reference {
                        target: file,
                        kind: UseKind::DataFile { depth: link.depth },
                    }),
                    None => return Probe::Unreadable(unresolvable(&link.path, target)),
                }
            }
            let Some(target) = &link.backing else { break };
            if depends_on_working_directory(link.header.backing_file.as_deref(), target) {
                return Probe::Unreadable(unresolvable(&link.path, target));
            }
            let Some(file) = target.file_path() else {
                if let BackingTarget::Json(_) = target {
                    return Probe::Unreadable(unresolvable(&link.path, target));
                }
                tracing::debug!(image = %link.path.display(), "backing file on a network protocol: not a cache file");
                break;
            };
            let reaches_cache = self.is_cache_file(&file);
            refs.push(Reference {
                target: file,
                kind: UseKind::Backing {
                    depth: link.depth + 1,
                },
            });
            if reaches_cache {
                break;
            }
        }
        Probe::Uses(self.match_references(&refs))
    }

    /// A file that is a cache file (a symlink or a hard link to one) uses it directly.
    fn uses_as_link(&self, dev_ino: (u64, u64)) -> Option<Vec<DiskUse>> {
        let kind = UseKind::Backing { depth: 0 };
        let names = self.index.cache_ids.get(&dev_ino)?;
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

    fn is_cache_file(&self, target: &Path) -> bool {
        self.identity_of(target)
            .is_some_and(|id| self.index.cache_ids.contains_key(&id))
    }

    /// Device and inode of a reference target, stat'ed once per scan (the first answer holds).
    fn identity_of(&self, target: &Path) -> Option<(u64, u64)> {
        let memo = || {
            self.index
                .target_ids
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
        };
        if let Some(&id) = memo().get(target) {
            return id;
        }
        // Not under the lock: other threads go on stat'ing meanwhile.
        let id = fs::metadata(target).ok().map(|m| (m.dev(), m.ino()));
        *memo().entry(target.to_path_buf()).or_insert(id)
    }

    /// The cache files some references reach: the same file (device and inode: every name a
    /// hard-linked file has), and, as Nova matches, a cache file of the same name.
    fn match_references(&self, refs: &[Reference]) -> Vec<DiskUse> {
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
            let same_file = identity.and_then(|id| self.index.cache_ids.get(&id));
            for name in same_file.into_iter().flatten() {
                push(name, false);
            }
            let Some(name) = reference.target.file_name().and_then(OsStr::to_str) else {
                continue;
            };
            if self.index.cache_names.contains(name) {
                let in_base_dir = reference.target.parent() == Some(self.index.base_dir.as_path());
                push(name, !in_base_dir);
            }
        }
        uses
    }
}

/// A relative `file:` name is relative to QEMU's working directory, which cachectl cannot know.
fn depends_on_working_directory(name: Option<&[u8]>, target: &BackingTarget) -> bool {
    let file_protocol = name.is_some_and(|n| n.starts_with(b"file:"));
    file_protocol && target.file_path().is_some_and(|p| p.is_relative())
}

fn unresolvable(image: &Path, target: &BackingTarget) -> String {
    let name = match target {
        BackingTarget::Json(json) => format!("json:{}", String::from_utf8_lossy(json)),
        // Only a relative `file:` name is unresolvable: it depends on QEMU's working directory.
        BackingTarget::File(path) => format!("file:{}", path.display()),
        other => format!("{other:?}"),
    };
    format!(
        "{}: the name {name:?} does not name a single file cachectl can follow",
        quote(image)
    )
}

/// The largest `disk.info` read; a real one is a few hundred bytes.
const MAX_DISK_INFO_LEN: u64 = 1 << 20;

/// The formats Nova's `disk.info` in an instance directory declares, by file name: JSON
/// `{"<path of the disk>": "qcow2" | "raw" | ...}`. Paths are as the host that wrote them saw
/// them, so only their file names count. Anything unreadable declares nothing.
fn read_disk_info(dir: &Path) -> HashMap<OsString, String> {
    let bytes = cachectl_fs::read_small_file(&dir.join("disk.info"), MAX_DISK_INFO_LEN);
    let Some(formats) = bytes
        .ok()
        .flatten()
        .and_then(|bytes| serde_json::from_slice::<HashMap<String, String>>(&bytes).ok())
    else {
        return HashMap::new();
    };
    formats
        .into_iter()
        .filter_map(|(disk, format)| Some((Path::new(&disk).file_name()?.to_os_string(), format)))
        .collect()
}

/// Whether a directory entry is a directory, or a symlink to one.
fn is_directory(path: &Path, file_type: fs::FileType) -> bool {
    file_type.is_dir() || (file_type.is_symlink() && fs::metadata(path).is_ok_and(|m| m.is_dir()))
}

/// `path` relative to `root`, for reports.
pub(crate) fn relative_display(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<(std::ffi::OsString, fs::FileType)>, ScanError> {
    let error = |source| ScanError {
        path: dir.to_owned(),
        source,
    };
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir).map_err(error)? {
        let entry = match entry {
            Ok(entry) => entry,
            Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
            Err(err) => return Err(error(err)),
        };
        match entry.file_type() {
            Ok(file_type) => entries.push((entry.file_name(), file_type)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(error(err)),
        }
    }
    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    Ok(entries)
}

/// The entries of the cache directory, with what `lstat` says of them.
fn list_cache(base: &Dir) -> Result<Vec<ScannedFile>, ScanError> {
    let error = |path: PathBuf| move |source| ScanError { path, source };
    let mut files = Vec::new();
    for (name, _) in base.entries().map_err(error(base.path().to_owned()))? {
        let path = base.join(&name);
        let Some(stat) = base.stat(&name).map_err(error(path.clone()))? else {
            continue;
        };
        let file_type = match stat.kind {
            Kind::Regular => FileType::Regular,
            Kind::Directory => FileType::Directory,
            Kind::Symlink => FileType::Symlink,
            _ => FileType::Other,
        };
        files.push(ScannedFile {
            fact: CacheFile {
                name: name.to_string_lossy().into_owned(),
                kind: classify_os(&name).kind(),
                file_type,
                size: stat.size,
                mtime: UnixTime(stat.mtime),
                ino: stat.ino,
                backed_by: Vec::new(),
                chain_problem: None,
            },
            path,
            allocated: stat.allocated,
            dev_ino: stat.id(),
        });
    }
    Ok(files)
}

/// Why a file of an instance directory is read as a possible disk.
#[derive(Debug, Clone, Copy)]
enum Declared<'a> {
    /// Its instance's `disk.info` lists it, in this format.
    DiskInfo(&'a str),
    /// A libvirt domain names it, in this format (`None`: probe it).
    Libvirt(Option<&'a str>),
    /// It has a name Nova gives disks.
    NovaDiskName,
    /// Neither.
    No,
}

impl Declared<'_> {
    fn by_name(name: &OsStr) -> Self {
        if is_nova_disk_name(name) {
            Self::NovaDiskName
        } else {
            Self::No
        }
    }

    /// Whether QEMU opens it raw, so that its bytes are guest data and never probed.
    fn is_raw(self) -> bool {
        matches!(self, Self::DiskInfo("raw") | Self::Libvirt(Some("raw")))
    }

    fn read_as(self) -> ReadAs {
        match self {
            Self::DiskInfo(_) => ReadAs::DiskInfo,
            Self::Libvirt(_) => ReadAs::Libvirt,
            Self::NovaDiskName => ReadAs::NovaDiskName,
            Self::No => ReadAs::OtherFile,
        }
    }

    /// The format it must read as, and who declares it: what `disk.info` or libvirt says,
    /// when cachectl reads that format.
    fn format(self) -> Option<(Format, &'static str)> {
        let (declared, declarer) = match self {
            Self::DiskInfo(declared) => (declared, "its disk.info"),
            Self::Libvirt(Some(declared)) => (declared, "libvirt"),
            Self::Libvirt(None) | Self::NovaDiskName | Self::No => return None,
        };
        Format::ALL
            .into_iter()
            .find(|format| format.as_str() == declared)
            .map(|format| (format, declarer))
    }
}

/// Inode, size and mtime of a file (following a symlink, as its reading did).
fn identity_of_file(path: &Path) -> Option<FileIdentity> {
    fs::metadata(path).ok().map(|meta| FileIdentity {
        ino: meta.ino(),
        size: meta.len(),
        mtime: UnixTime(meta.mtime()),
    })
}
