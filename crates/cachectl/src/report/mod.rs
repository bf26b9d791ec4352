//! Reports: a stable, versioned JSON object for scripts, and aligned text for people.
//!
//! The JSON types are here, with schema [`SCHEMA`]: a field never changes meaning or goes away
//! within a schema version. Their vocabularies are enums that serialize to the names the README
//! documents: the policy's [`FileState`], [`ReadAs`] and [`DoubtOutcome`], the naming crate's
//! [`EntryKind`], the command's [`ChecksumState`], each through its one `as_str`, and
//! [`WarningCode`]. [`output`] writes a report (JSON, or the text for people), [`build`] makes a
//! report out of a pass.

pub(crate) mod build;
pub(crate) mod output;

use std::fmt;
use std::sync::Arc;

use cachectl_naming::EntryKind;
use cachectl_policy::{DoubtOutcome, FileState, ReadAs};
use compact_str::CompactString;
use serde::{Serialize, Serializer};

use crate::checksums::ChecksumState;

/// The version of the JSON report; bumped only when a field changes meaning or goes away.
pub(crate) const SCHEMA: u32 = 1;

/// Serializes a vocabulary enum as its name (its `Display`, which is its `as_str`).
pub(crate) fn by_name<T: fmt::Display, S: Serializer>(
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// Aligned text for people.
    Text,
    /// A versioned JSON object for scripts.
    Json,
}

/// The command a report is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum PassCommand {
    /// `audit`: read-only.
    Audit,
    /// `clean`, perhaps `--dry-run`.
    Clean,
}

impl PassCommand {
    /// Its name on the command line.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Audit => "audit",
            Self::Clean => "clean",
        }
    }
}

/// What a warning is about: a stable code for scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum WarningCode {
    /// A file that may be a disk cannot be read, and stops removals.
    UnreadableFile,
    /// An unreadable file an operator acknowledged: it stops nothing.
    UnreadableAcknowledged,
    /// A file no one declares a disk cannot be read: it stops nothing.
    UnreadableNotADisk,
    /// Nothing is removed because of unreadable files.
    RemovalBlocked,
    /// An image used on this host has no base file in the cache.
    AbsentBaseFile,
    /// A swap or ephemeral base that records name is not in the cache.
    AbsentSwapOrEphemeral,
    /// An image pinned with `--keep` has no file in the cache.
    PinnedImageAbsent,
    /// Records of hosts that are not storage users were not counted.
    RecordsIgnored,
    /// The inventory's shape lacks fields the cache uses.
    InventoryIncomplete,
    /// Nova's own pass, as nova.conf sets it, removes unused base files.
    NovaPassDeletes,
    /// `[libvirt] images_type` keeps instance disks out of the instances path: nothing to do.
    NoLocalCache,
    /// A libvirt domain names a disk that is not there.
    LibvirtDiskMissing,
    /// The backing chain libvirt states for a disk is not the one its headers say.
    LibvirtChainDiffers,
    /// libvirt's domains and `disk.info` give a disk different formats.
    LibvirtFormatDiffers,
    /// Who shares the storage is unknown: every record counted.
    StorageUsersUnknown,
    /// `compute_nodes` is empty.
    ComputeNodesEmpty,
    /// `compute_nodes` cannot be read.
    ComputeNodesMalformed,
    /// This host could not be registered in `compute_nodes`.
    RegisterFailed,
    /// A base file does not match its checksum.
    CorruptBaseFile,
    /// A base file could not be checked against its checksum.
    ChecksumUnchecked,
    /// A removal failed.
    RemoveFailed,
    /// An mtime could not be refreshed.
    TouchFailed,
    /// There is no cache directory.
    NoBaseDir,
    /// `verify`: a file given is not a regular file.
    NotAFile,
}

/// Something the operator should know.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct WarningEntry {
    /// A stable snake_case code.
    pub code: WarningCode,
    /// The sentence.
    pub message: String,
    /// Whether a text report shows it in a file's row already (it is not repeated there).
    #[serde(skip)]
    in_a_row: bool,
}

impl WarningEntry {
    /// A warning with `code` saying `message`.
    pub(crate) fn new(code: WarningCode, message: impl fmt::Display) -> Self {
        Self {
            code,
            message: message.to_string(),
            in_a_row: false,
        }
    }

    /// The same warning, shown in a file's row of the text report already.
    pub(crate) fn shown_in_a_row(self) -> Self {
        Self {
            in_a_row: true,
            ..self
        }
    }

    /// Whether the text report shows it in a file's row already.
    pub(crate) fn is_shown_in_a_row(&self) -> bool {
        self.in_a_row
    }
}

/// Who uses a file.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct UsedBy {
    /// Instance names; `name@host` for other hosts' instances (short: held inline).
    pub instances: Vec<CompactString>,
    /// Disks, relative to the instances path (shared with the scan's disks).
    pub disks: Vec<Arc<str>>,
}

/// One cache entry.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct FileEntry {
    /// Its name in the cache directory.
    pub name: String,
    /// Its full path.
    pub path: String,
    /// What it is by its name.
    #[serde(serialize_with = "by_name")]
    pub kind: EntryKind,
    /// What became of it.
    #[serde(serialize_with = "by_name")]
    pub state: FileState,
    /// Its checksum state.
    #[serde(serialize_with = "by_name")]
    pub checksum: ChecksumState,
    /// Apparent size.
    pub size_bytes: u64,
    /// Bytes allocated on disk.
    pub allocated_bytes: u64,
    /// Seconds since its mtime, when the pass looked.
    pub age_seconds: u64,
    /// The reasons as one sentence.
    pub reason: String,
    /// The reasons, most important first.
    pub reasons: Vec<String>,
    /// The image id, when an instance record names the image.
    pub image_id: Option<String>,
    /// Who uses it.
    pub used_by: UsedBy,
}

/// A directory of the instances path that no instance record claims.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct OrphanEntry {
    /// Its name.
    pub name: String,
    /// Its full path.
    pub path: String,
    /// The cache files its disks keep in use.
    pub keeps: Vec<String>,
    /// Its disks that use cache files.
    pub disks: Vec<String>,
}

/// A file under the instances path (or a cache file that stays) that may be a disk and cannot be
/// read.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct UnreadableEntry {
    /// Relative to the instances path; a cache file's name.
    pub path: String,
    /// Why it cannot be read.
    pub problem: String,
    /// Why it was read: the rule that decides what follows.
    #[serde(serialize_with = "by_name")]
    pub rule: ReadAs,
    /// What followed.
    #[serde(serialize_with = "by_name")]
    pub outcome: DoubtOutcome,
    /// Its inode, when it could be `stat`ed.
    pub inode: Option<u64>,
    /// Its size.
    pub size_bytes: Option<u64>,
    /// Its mtime, unix seconds.
    pub mtime: Option<i64>,
    /// The line of an `--ack-unreadable` file that acknowledges it as it is now.
    pub ack: Option<String>,
}

/// Totals.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Summary {
    /// Cache entries.
    pub files: usize,
    /// Entries per state.
    pub in_use: usize,
    /// Entries too young to remove.
    pub too_young: usize,
    /// Unused entries kept because their image is pinned (`--keep`).
    pub pinned: usize,
    /// Removable entries left for the next run (`--max-remove`).
    pub deferred: usize,
    /// Entries that would be removed.
    pub removable: usize,
    /// Entries removed.
    pub removed: usize,
    /// Entries whose removal failed.
    pub remove_failed: usize,
    /// Entries left alone.
    pub ignored: usize,
    /// Entries whose checksum does not match.
    pub corrupt: usize,
    /// Apparent bytes of all regular entries.
    pub bytes_total: u64,
    /// Apparent bytes in use.
    pub bytes_in_use: u64,
    /// Apparent bytes that would be removed.
    pub bytes_reclaimable: u64,
    /// Apparent bytes removed.
    pub bytes_reclaimed: u64,
    /// Bytes allocated on disk by the files that would be removed: what removing them frees.
    pub allocated_bytes_reclaimable: u64,
    /// Bytes allocated on disk by the files removed: what was freed.
    pub allocated_bytes_reclaimed: u64,
    /// Files hashed and compared with their sidecar.
    pub checksums_checked: usize,
    /// Sidecars written.
    pub checksums_written: usize,
    /// Images checked for a sidecar that have none (audit).
    pub checksums_missing: usize,
    /// Files under the instances path read as possible disks.
    pub files_probed: usize,
    /// Files under the instances path that could not be read.
    pub unreadable: usize,
    /// Nova's lock files whose cache file is gone: they stay, as a process may wait on one.
    pub stale_lock_files: usize,
}

impl Summary {
    /// Adds one entry to the totals.
    fn count(&mut self, file: &FileEntry) {
        let size = file.size_bytes;
        if file.state != FileState::Ignored {
            self.bytes_total += size;
        }
        match file.state {
            FileState::InUse => {
                self.in_use += 1;
                self.bytes_in_use += size;
            }
            FileState::TooYoung => self.too_young += 1,
            FileState::Pinned => self.pinned += 1,
            FileState::Deferred => self.deferred += 1,
            FileState::Removable => {
                self.removable += 1;
                self.bytes_reclaimable += size;
                self.allocated_bytes_reclaimable += file.allocated_bytes;
            }
            FileState::Removed => {
                self.removed += 1;
                self.bytes_reclaimed += size;
                self.allocated_bytes_reclaimed += file.allocated_bytes;
            }
            FileState::RemoveFailed => self.remove_failed += 1,
            FileState::Ignored => self.ignored += 1,
        }
        match file.checksum {
            ChecksumState::Corrupt => {
                self.corrupt += 1;
                self.checksums_checked += 1;
            }
            ChecksumState::Valid => self.checksums_checked += 1,
            ChecksumState::Written => self.checksums_written += 1,
            ChecksumState::Missing => self.checksums_missing += 1,
            ChecksumState::NotChecked => {}
        }
    }
}

/// The report of `audit` or `clean`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    /// [`SCHEMA`].
    pub schema: u32,
    /// `audit` or `clean`.
    pub command: PassCommand,
    /// True when nothing was changed (`audit`, `clean --dry-run`).
    pub dry_run: bool,
    /// This host.
    pub host: String,
    /// The instances path.
    pub instances_path: String,
    /// The cache directory.
    pub base_dir: String,
    /// Whether the cache directory exists (if not, there is nothing to do).
    pub base_dir_exists: bool,
    /// The hosts whose instance records counted (`null` when unknown: all did).
    pub storage_users: Option<Vec<String>>,
    /// Totals.
    pub summary: Summary,
    /// Warnings.
    pub warnings: Vec<WarningEntry>,
    /// Every entry of the cache directory, by name.
    pub files: Vec<FileEntry>,
    /// Directories no record claims (only with an inventory).
    pub orphan_dirs: Vec<OrphanEntry>,
    /// Files that may be disks and cannot be read, with the rule that applied to each.
    pub unreadable_files: Vec<UnreadableEntry>,
    /// The file system that holds the cache, before and after the pass: only under space
    /// pressure (`--min-free`, `--max-cache-size`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filesystem: Option<FilesystemEntry>,
}

/// The file system that holds the cache, as space pressure saw it.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct FilesystemEntry {
    /// Its size.
    pub size_bytes: u64,
    /// Its free space (`df`'s Avail) when the pass began.
    pub avail_bytes_before: u64,
    /// Its free space after the pass: measured after a `clean`; for `audit` and `clean
    /// --dry-run`, what it would be (before, plus what removing the removable files frees).
    pub avail_bytes_after: u64,
    /// The free space asked (`--min-free`), in bytes.
    pub min_free_bytes: Option<u64>,
    /// The most the cache may take (`--max-cache-size`), in bytes.
    pub max_cache_bytes: Option<u64>,
}

impl Report {
    /// Recomputes the summary from the entries; the counts of the scan are given.
    pub(crate) fn summarize(&mut self, files_probed: usize, stale_lock_files: usize) {
        let mut summary = Summary {
            files: self.files.len(),
            files_probed,
            unreadable: self.unreadable_files.len(),
            stale_lock_files,
            ..Summary::default()
        };
        for file in &self.files {
            summary.count(file);
        }
        self.summary = summary;
    }
}

/// `1 file`, `2 files`.
pub(crate) fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `1.5 GiB`, like qemu-img's sizes.
pub(crate) fn human_bytes(bytes: u64) -> String {
    cachectl_policy::HumanBytes(bytes).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_qemu_img() {
        let shown: Vec<String> = [0, 1023, 1024, 1536, 10 << 30, u64::MAX]
            .map(human_bytes)
            .into();
        assert_eq!(
            shown,
            [
                "0 B",
                "1023 B",
                "1.0 KiB",
                "1.5 KiB",
                "10.0 GiB",
                "16384.0 PiB"
            ]
        );
    }

    #[test]
    fn vocabularies_serialize_to_their_documented_names() {
        let names = |value: serde_json::Value| value.to_string();
        let entry = UnreadableEntry {
            path: "u/disk".into(),
            problem: "bad".into(),
            rule: ReadAs::NovaDiskName,
            outcome: DoubtOutcome::BlocksChangedSinceAcknowledged,
            inode: None,
            size_bytes: None,
            mtime: None,
            ack: None,
        };
        let json = serde_json::to_value(&entry).expect("JSON");
        assert_eq!(names(json["rule"].clone()), r#""nova_disk_name""#);
        assert_eq!(
            names(json["outcome"].clone()),
            r#""blocks_changed_since_acknowledged""#
        );
        let warning = WarningEntry::new(WarningCode::UnreadableNotADisk, "x");
        let json = serde_json::to_value(&warning).expect("JSON");
        assert_eq!(names(json["code"].clone()), r#""unreadable_not_a_disk""#);
        assert_eq!(
            serde_json::to_value(PassCommand::Clean).expect("JSON"),
            serde_json::Value::from(PassCommand::Clean.as_str())
        );
    }
}
