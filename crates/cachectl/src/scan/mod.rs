//! Gathering facts from disk: the cache directory's entries and every disk's backing chain.
//!
//! Every regular file under the instances path counts as a possible disk, in any directory, not
//! only `<instance>/disk`: its header is read (its first 64 KiB at most, never the data), its
//! backing chain is followed, and every cache file the chain reaches is in use. A file whose
//! header cannot be read is recorded as unreadable (doubt keeps); a file that vanishes mid-scan is
//! skipped.
//!
//! The scan counts its system calls, as shared instances paths live on NFS or CephFS where each
//! is a network round trip: directories are read from the descriptor they are opened with, files
//! are opened relative to their directory and read in one `read`, a small file read whole is not
//! `fstat`ed unless it must be (see [`probe`]), and each base file a disk names is looked up once.
//! It waits on the storage more than it computes, so it runs many walks at once
//! ([`DEFAULT_SCAN_JOBS`]); the cache's entries are read at once too ([`cache`]).
//!
//! The result is the one a single thread gets (see [`scan_with_jobs`]).

mod cache;
mod probe;
mod walk;

use std::ffi::OsString;
use std::io;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use cachectl_fs::{Dir, Kind};
use cachectl_naming::quote;
use cachectl_policy::{CacheFile, Disk, Facts, UnreadableFile};
use cachectl_sources::registry::{COMPUTE_NODES, is_registry_leftover};

use crate::domains::{DeclaredDisks, InstanceRoots};
use crate::locks::LOCKS_DIR;
use crate::pool;
use cache::{CacheIndex, list_cache};
use walk::{Scanner, TopEntry};

/// How deep directories under the instances path are walked.
pub(crate) const MAX_DIR_DEPTH: usize = 8;
/// Entries of the instances path walked on several threads before their results are merged.
const SCAN_CHUNK: usize = 1024;
/// How many directories and files a scan reads at once by default: it waits on the storage
/// (0.1–1 ms a call on NFS or CephFS), not on the processor. Measured with `cargo xtask bench`
/// (README, Performance).
pub(crate) const DEFAULT_SCAN_JOBS: NonZeroUsize = NonZeroUsize::new(32).expect("not zero");

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

impl ScannedFile {
    /// Its name in the cache directory, exactly (`fact.name` is lossy where it is not UTF-8).
    pub fn name(&self) -> &std::ffi::OsStr {
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

    /// Takes in what a walk on another thread found.
    fn absorb(&mut self, found: Scan) {
        self.disks.extend(found.disks);
        self.unreadable.extend(found.unreadable);
        self.format_disputes.extend(found.format_disputes);
        self.probed += found.probed;
    }
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

/// Scans the cache directory `base` and everything else under the instances path, on one
/// thread.
pub fn scan(config: &ScanConfig, base: &Dir) -> Result<Scan, ScanError> {
    scan_with_jobs(config, base, NonZeroUsize::MIN, DeclaredDisks::default())
}

/// Scans the cache directory and everything else under the instances path, reading up to `jobs`
/// entries of the cache, then of the instances path, at a time; the files libvirt's domains name
/// are read as they declare them (`declared`).
///
/// The result is the one a single thread gets. Each entry of the instances path is walked by a
/// thread of its own with a directory set of its own; the results are then merged in sorted
/// order, and an entry that reached a directory already walked (under another name: a symlinked
/// instance directory, a bind mount) is walked again there, on the merging thread, against every
/// directory walked before it, exactly as one thread would have walked it.
pub(crate) fn scan_with_jobs(
    config: &ScanConfig,
    base: &Dir,
    jobs: NonZeroUsize,
    declared: DeclaredDisks,
) -> Result<Scan, ScanError> {
    let base_dir = config.base_dir();
    let listed = list_cache(base, jobs)?;
    let mut index = CacheIndex::of(&listed.files, base_dir.clone());
    index.roots = Some(InstanceRoots::of(&config.instances_path));
    index.declared = declared;
    let files = cache::note_what_cache_files_use(&index, listed, jobs);
    let mut scan = Scan {
        base_dir,
        files,
        ..Scan::default()
    };
    let list_error = |source| ScanError {
        path: config.instances_path.clone(),
        source,
    };
    let mut instances = Dir::open(&config.instances_path).map_err(list_error)?;
    let entries = top_entries(config, &mut instances, &mut scan)?;
    let root = config.instances_path.as_path();
    let mut scanner = Scanner::new(&index, root);
    if jobs.get() == 1 || entries.len() < 2 {
        for entry in &entries {
            scanner.scan_entry(&instances, entry, &mut scan);
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
                let mut own = Scanner::new(&index, root);
                let mut found = Scan::default();
                own.scan_entry(&instances, entry, &mut found);
                (found, own.walked, own.revisited)
            },
        );
        for (entry, (found, dirs, revisited)) in chunk.iter().zip(walked) {
            if revisited || dirs.iter().any(|dir| scanner.visited_dirs.contains(dir)) {
                scanner.scan_entry(&instances, entry, &mut scan);
            } else {
                scanner.visited_dirs.extend(dirs);
                scan.absorb(found);
            }
        }
    }
    Ok(scan)
}

/// The entries of the instances path to walk, sorted: instance directories (noted in `scan`)
/// and other directories and files; not the cache itself, Nova's locks, `compute_nodes` (whose
/// interrupted writes' leftovers are noted in `scan`) or a mount point's `lost+found`.
fn top_entries(
    config: &ScanConfig,
    instances: &mut Dir,
    scan: &mut Scan,
) -> Result<Vec<TopEntry>, ScanError> {
    let listed = instances.list().map_err(|source| ScanError {
        path: config.instances_path.clone(),
        source,
    })?;
    let mut entries = Vec::new();
    for (name, kind) in listed {
        let shown = name.to_string_lossy().into_owned();
        // fsck's lost+found is root's only.
        if shown == config.base_dir_name || shown == LOCKS_DIR || shown == "lost+found" {
            continue;
        }
        let is_dir = match kind {
            Kind::Directory => true,
            // An instance directory may be a symlink, as Nova follows it.
            Kind::Symlink => {
                std::fs::metadata(config.instances_path.join(&name)).is_ok_and(|meta| meta.is_dir())
            }
            _ => false,
        };
        if is_dir {
            if !shown.starts_with("_base") && shown != "snapshots" {
                scan.instance_dirs.push(shown.clone());
            }
        } else if name == COMPUTE_NODES {
            continue;
        } else if is_registry_leftover(&name) {
            scan.registry_leftovers.push(name);
            continue;
        }
        entries.push(TopEntry {
            name,
            shown,
            kind,
            is_dir,
        });
    }
    Ok(entries)
}

/// `path` relative to `root`, for reports.
pub(crate) fn relative_display(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}
