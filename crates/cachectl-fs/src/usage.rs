//! How full a file system is (`statvfs(3)`), as `df` shows it: what metrics and space pressure
//! read of the file system that holds the cache.

use std::io;
use std::path::Path;

use crate::dir::Dir;

/// The size and free space of a file system, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsUsage {
    /// Its size (`df`'s "Size").
    pub size_bytes: u64,
    /// Free space, the blocks reserved for root included.
    pub free_bytes: u64,
    /// Free space an unprivileged user can take (`df`'s "Avail"): what Nova's downloads get.
    pub avail_bytes: u64,
}

impl FsUsage {
    fn of(stat: &rustix::fs::StatVfs) -> Self {
        let bytes = |blocks: u64| blocks.saturating_mul(stat.f_frsize);
        Self {
            size_bytes: bytes(stat.f_blocks),
            free_bytes: bytes(stat.f_bfree),
            avail_bytes: bytes(stat.f_bavail),
        }
    }

    /// Of the file system that holds `path` (followed if a symlink: a path the operator chose).
    pub fn of_path(path: &Path) -> io::Result<Self> {
        Ok(Self::of(&rustix::fs::statvfs(path)?))
    }
}

impl Dir {
    /// How full the file system that holds this directory is.
    pub fn fs_usage(&self) -> io::Result<FsUsage> {
        Ok(FsUsage::of(&rustix::fs::fstatvfs(&self.fd)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_and_its_path_see_one_file_system_as_df_does() -> io::Result<()> {
        let tmp = tempfile::tempdir()?;
        let dir = Dir::open(tmp.path())?;
        let by_fd = dir.fs_usage()?;
        let by_path = FsUsage::of_path(tmp.path())?;
        assert_eq!(by_fd.size_bytes, by_path.size_bytes);
        assert!(by_fd.size_bytes > 0);
        assert!(by_fd.avail_bytes <= by_fd.free_bytes && by_fd.free_bytes <= by_fd.size_bytes);
        // df's own figures, in 1K blocks, as a cross-check of the units.
        let df = std::process::Command::new("df")
            .args(["--output=size", "-k"])
            .arg(tmp.path())
            .output()?;
        let text = String::from_utf8_lossy(&df.stdout);
        if let Some(kib) = text
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse::<u64>().ok())
        {
            assert_eq!(by_fd.size_bytes / 1024, kib, "{text}");
        }
        Ok(())
    }
}
