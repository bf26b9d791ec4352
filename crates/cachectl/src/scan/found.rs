//! What a scan finds: the cache's entries, the disks that use them, the files in doubt, and
//! where to look.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

use cachectl_naming::quote;
use cachectl_policy::{CacheFile, Disk, Facts, UnreadableFile};

/// How deep directories under the instances path are walked.
pub(crate) const MAX_DIR_DEPTH: usize = 8;

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
    pub(super) fn absorb(&mut self, found: Scan) {
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

/// `path` relative to `root`, for reports.
pub(crate) fn relative_display(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}
