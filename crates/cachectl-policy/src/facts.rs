//! What the policy decides from: plain values the command gathered.

use std::collections::BTreeSet;
use std::sync::Arc;

use cachectl_naming::EntryKind;
use compact_str::CompactString;

use crate::space::{RemovalCap, SpaceFacts};
use crate::time::UnixTime;

/// Minimum ages, in seconds, before an unused file may go; counted from the file's mtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ages {
    /// Originals (`remove_unused_original_minimum_age_seconds`, 24 h).
    pub original: u64,
    /// Resized and small copies, leftovers and orphan sidecars
    /// (`remove_unused_resized_minimum_age_seconds`, 1 h).
    pub resized: u64,
    /// Swap and ephemeral bases (Nova uses the originals' age: 24 h).
    pub swap_ephemeral: u64,
}

impl Default for Ages {
    fn default() -> Self {
        Self {
            original: 86_400,
            resized: 3_600,
            swap_ephemeral: 86_400,
        }
    }
}

/// The filesystem settings that decide ephemeral base names (nova.conf).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EphemeralConfig {
    /// `default_ephemeral_format`.
    pub default_ephemeral_format: Option<String>,
    /// `virt_mkfs` as `(os_type, command)`.
    pub mkfs_commands: Vec<(String, String)>,
}

/// What kind of directory entry a cache entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    /// A regular file: the only kind the cache holds.
    Regular,
    /// A directory.
    Directory,
    /// A symbolic link (never followed, never removed).
    Symlink,
    /// A FIFO, socket or device.
    Other,
}

/// One entry of the cache directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheFile {
    /// The entry's name (lossily decoded if not UTF-8; such names are never the cache's).
    pub name: String,
    /// Its kind by name ([`cachectl_naming::classify_os`]: `Foreign` for a name that is not
    /// UTF-8, which is left alone), classified once, where the fact is made.
    pub kind: EntryKind,
    /// The entry's type.
    pub file_type: FileType,
    /// Size in bytes.
    pub size: u64,
    /// Bytes allocated to it on disk (what removing it frees).
    pub allocated: u64,
    /// Last modification.
    pub mtime: UnixTime,
    /// Its inode: with its size, what tells an acknowledged unreadable cache file is the same.
    pub ino: u64,
    /// The other cache files this file's own backing chain reaches (a cache file may be an overlay).
    pub backed_by: Vec<String>,
    /// Why its own header or chain cannot be read, if so: should it stay, what it is backed by
    /// is unknown, and nothing may be removed.
    pub chain_problem: Option<String>,
}

impl CacheFile {
    /// A regular file with a UTF-8 name and no backing chain.
    pub fn regular(name: &str, size: u64, mtime: UnixTime) -> Self {
        Self {
            name: name.to_owned(),
            kind: cachectl_naming::classify(name).kind(),
            file_type: FileType::Regular,
            size,
            allocated: size,
            mtime,
            ino: 0,
            backed_by: Vec::new(),
            chain_problem: None,
        }
    }
}

/// The bytes on disk the cache's own files take: regular files with cache names (foreign
/// entries, directories and symlinks are not the cache's to remove, so they do not count).
pub fn cache_bytes(files: &[CacheFile]) -> u64 {
    files
        .iter()
        .filter(|f| f.file_type == FileType::Regular && f.kind != EntryKind::Foreign)
        .map(|f| f.allocated)
        .sum()
}

/// An instance record from the inventory (Nova's `instances` table, as far as the cache cares).
///
/// Its strings are [`CompactString`]s: names, hosts and states are short and held inline, so a
/// record of a host of 50,000 instances costs two allocations (uuid, image), not seven.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Instance {
    /// The instance's uuid: the name of its directory on modern hosts.
    pub uuid: CompactString,
    /// The instance's name (`instance-0000002a`): its directory on old hosts.
    pub name: CompactString,
    /// The compute host it runs on.
    pub host: CompactString,
    /// The image it was booted from; `None` or empty when it boots from a volume.
    pub image_ref: Option<CompactString>,
    /// Its kernel image, if any.
    pub kernel_id: Option<CompactString>,
    /// Its ramdisk image, if any.
    pub ramdisk_id: Option<CompactString>,
    /// Nova's task state (`resize_prep`, …).
    pub task_state: Option<CompactString>,
    /// Nova's VM state (`active`, `resized`, …).
    pub vm_state: Option<CompactString>,
    /// The size of its swap disk in MB.
    pub swap_mb: Option<u64>,
    /// The size of its first ephemeral disk in GB.
    pub ephemeral_gb: Option<u64>,
    /// Its OS type (`linux`, `windows`), which names ephemeral bases.
    pub os_type: Option<CompactString>,
}

/// How a disk depends on a cache file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum UseKind {
    /// The file is in the disk's backing chain, `depth` levels down (1: its backing file).
    Backing {
        /// 1 for the disk's own backing file, 2 for that file's, and so on.
        depth: u32,
    },
    /// The file is the external data file of the disk or of an image in its chain.
    DataFile {
        /// 0 for the disk's own data file, 1 for its backing file's, and so on.
        depth: u32,
    },
}

/// A cache file a disk uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskUse {
    /// The cache file's name (shared by the disks that use it, not copied).
    pub file: Arc<str>,
    /// How the disk reaches it.
    pub kind: UseKind,
    /// True when the reference names another path whose file name is the cache file's (Nova's
    /// rule), rather than the cache file itself.
    pub by_name_only: bool,
}

/// A regular file under the instances path whose backing chain reaches the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    /// Its path relative to the instances path (`<uuid>/disk`): shared with the decisions that
    /// name it, not copied.
    pub path: Arc<str>,
    /// The cache files it uses.
    pub uses: Vec<DiskUse>,
}

impl Disk {
    /// The top-level directory it is in (`<uuid>`): `None` for a file directly in the instances
    /// path, or a path out of it (absolute).
    #[must_use]
    pub fn dir(&self) -> Option<&str> {
        self.path
            .split_once('/')
            .map(|(dir, _)| dir)
            .filter(|dir| !dir.is_empty())
    }
}

/// Why a file was read as a possible disk, which decides what it means that it cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReadAs {
    /// It has a name Nova gives disks (`disk`, `disk.local`, `disk.eph0`, `kernel`, ...): QEMU
    /// opens it, so while it cannot be read nothing is removed.
    NovaDiskName,
    /// Its instance's `disk.info` lists it: QEMU opens it, as above.
    DiskInfo,
    /// A libvirt domain names it as a disk or in a disk's backing chain: QEMU opens it, as
    /// above.
    Libvirt,
    /// A domain definition of libvirt's (`/etc/libvirt/qemu`, `/run/libvirt/qemu`): what its
    /// guest opens is not known, as above.
    LibvirtDomain,
    /// A directory that cannot be walked: it may hold disks, as above.
    Directory,
    /// A cache file that stays, whose own backing chain cannot be read: what it is backed by is
    /// unknown, as above.
    CacheFile,
    /// Any other file (`libvirt.xml`, a file a tenant's guest writes...): read in case it is a
    /// disk, so what it references counts, but that it cannot be read is only a warning.
    OtherFile,
}

impl ReadAs {
    /// Whether a file read this way that cannot be read stops every removal.
    pub fn blocks(self) -> bool {
        self != Self::OtherFile
    }

    /// The snake_case name reports use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NovaDiskName => "nova_disk_name",
            Self::DiskInfo => "disk_info",
            Self::Libvirt => "libvirt",
            Self::LibvirtDomain => "libvirt_domain",
            Self::Directory => "directory",
            Self::CacheFile => "cache_file",
            Self::OtherFile => "other_file",
        }
    }
}

impl std::fmt::Display for ReadAs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What tells that a file is still the one an operator looked at: inode, size and mtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileIdentity {
    /// Inode.
    pub ino: u64,
    /// Size in bytes.
    pub size: u64,
    /// Last modification.
    pub mtime: UnixTime,
}

/// A file under the instances path that may be a disk but cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadableFile {
    /// Its path relative to the instances path.
    pub path: String,
    /// Why it cannot be read.
    pub problem: String,
    /// Why it was read.
    pub read_as: ReadAs,
    /// Which file it is, if it could be `stat`ed.
    pub identity: Option<FileIdentity>,
}

/// An unreadable file an operator has looked at (`--ack-unreadable`): while it stays the same
/// file, unchanged, it stops nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledged {
    /// Its path relative to the instances path (a cache file: its name), as reports show it.
    pub path: String,
    /// The file as the operator saw it.
    pub identity: FileIdentity,
}

/// The hosts whose instance records count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageUsers {
    /// The hosts registered in `compute_nodes` in the last 24 h (this host among them).
    Known(BTreeSet<String>),
    /// `compute_nodes` could not be read: every record counts, whatever its host.
    Unknown,
}

/// Everything the policy decides from.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    /// This host's name, as Nova's `host` option.
    pub host: String,
    /// The time of the pass.
    pub now: UnixTime,
    /// The minimum ages.
    pub ages: Ages,
    /// The entries of the cache directory.
    pub files: Vec<CacheFile>,
    /// The instance records, `None` without an inventory or libvirt's domains.
    pub instances: Option<Vec<Instance>>,
    /// Whether the records are this host's instances only (libvirt's domains, no inventory):
    /// then, where other hosts share the storage, a directory no record claims may be theirs,
    /// and is not called an orphan.
    pub records_of_this_host_only: bool,
    /// Who shares the storage.
    pub storage_users: StorageUsers,
    /// The disks that use cache files.
    pub disks: Vec<Disk>,
    /// The top-level directories of the instances path that may hold instances.
    pub instance_dirs: Vec<String>,
    /// The files that may be disks but cannot be read.
    pub unreadable: Vec<UnreadableFile>,
    /// Unreadable files the operator has looked at (`--ack-unreadable`).
    pub acknowledged: Vec<Acknowledged>,
    /// The settings behind ephemeral base names.
    pub ephemeral: EphemeralConfig,
    /// `--max-remove`: the most this run removes, if capped.
    pub removal_cap: Option<RemovalCap>,
    /// Image ids an operator pinned (`--keep`, `--keep-file`): their originals, small and
    /// resized copies are never removed.
    pub pinned: BTreeSet<String>,
    /// Space pressure (`--min-free`, `--max-cache-size`), if asked: unused files younger than
    /// their minimum age then go too, the longest unused first, until the target is met.
    pub space: Option<SpaceFacts>,
}

impl Facts {
    /// Empty facts for `host` at time 0, with Nova's default ages.
    pub fn new(host: &str) -> Self {
        Self {
            host: host.to_owned(),
            now: UnixTime(0),
            ages: Ages::default(),
            files: Vec::new(),
            instances: None,
            records_of_this_host_only: false,
            storage_users: StorageUsers::Known(BTreeSet::from([host.to_owned()])),
            disks: Vec::new(),
            instance_dirs: Vec::new(),
            unreadable: Vec::new(),
            acknowledged: Vec::new(),
            ephemeral: EphemeralConfig::default(),
            pinned: BTreeSet::new(),
            removal_cap: None,
            space: None,
        }
    }
}
