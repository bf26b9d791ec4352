//! What `stat` says of a file, in types that are the same on every architecture.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;

use rustix::fs::{FileType, Stat};

/// The type of a directory entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A regular file.
    Regular,
    /// A directory.
    Directory,
    /// A symbolic link.
    Symlink,
    /// A FIFO.
    Fifo,
    /// A Unix socket.
    Socket,
    /// A block device.
    BlockDevice,
    /// A character device.
    CharDevice,
    /// Anything else.
    Unknown,
}

impl Kind {
    /// What to call a file of this kind in a message: "regular file", "fifo", ...
    pub fn name(self) -> &'static str {
        match self {
            Self::Regular => "regular file",
            Self::Directory => "directory",
            Self::Symlink => "symlink",
            Self::Fifo => "fifo",
            Self::Socket => "socket",
            Self::BlockDevice => "block device",
            Self::CharDevice => "character device",
            Self::Unknown => "unknown file type",
        }
    }

    pub(crate) fn of(file_type: FileType) -> Self {
        match file_type {
            FileType::RegularFile => Self::Regular,
            FileType::Directory => Self::Directory,
            FileType::Symlink => Self::Symlink,
            FileType::Fifo => Self::Fifo,
            FileType::Socket => Self::Socket,
            FileType::BlockDevice => Self::BlockDevice,
            FileType::CharacterDevice => Self::CharDevice,
            _ => Self::Unknown,
        }
    }
}

/// The parts of `struct stat` cachectl uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStat {
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
    /// Its type.
    pub kind: Kind,
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
    /// Hard links.
    pub nlink: u64,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes.
    pub size: u64,
    /// Bytes allocated on disk (`st_blocks * 512`).
    pub allocated: u64,
    /// Last modification, seconds since the Unix epoch.
    pub mtime: i64,
    /// The nanoseconds of the last modification.
    pub mtime_nsec: u32,
}

impl FileStat {
    /// Device and inode: which file this is.
    pub fn id(&self) -> (u64, u64) {
        (self.dev, self.ino)
    }

    /// What `std::fs::metadata` says, in the same terms as [`FileStat::of`].
    pub(crate) fn of_metadata(meta: &Metadata) -> Self {
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
            kind: Kind::of(FileType::from_raw_mode(meta.mode())),
            mode: meta.mode() & 0o7777,
            nlink: meta.nlink(),
            uid: meta.uid(),
            gid: meta.gid(),
            size: meta.size(),
            allocated: meta.blocks().saturating_mul(512),
            mtime: meta.mtime(),
            mtime_nsec: u32::try_from(meta.mtime_nsec()).unwrap_or(0),
        }
    }

    // `st_nlink` is a u64 on x86-64 and a u32 on aarch64.
    #[allow(clippy::useless_conversion)]
    pub(crate) fn of(stat: &Stat) -> Self {
        let blocks = u64::try_from(stat.st_blocks).unwrap_or(0);
        Self {
            dev: stat.st_dev,
            ino: stat.st_ino,
            kind: Kind::of(FileType::from_raw_mode(stat.st_mode)),
            mode: stat.st_mode & 0o7777,
            nlink: u64::from(stat.st_nlink),
            uid: stat.st_uid,
            gid: stat.st_gid,
            size: u64::try_from(stat.st_size).unwrap_or(0),
            allocated: blocks.saturating_mul(512),
            mtime: stat.st_mtime,
            mtime_nsec: u32::try_from(stat.st_mtime_nsec).unwrap_or(0),
        }
    }
}
