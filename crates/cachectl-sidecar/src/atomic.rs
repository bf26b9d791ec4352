//! Writing a small file so that a crash leaves either the old contents or the new, never half.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

/// Replaces `path` with `contents` atomically: a temporary file in the same directory is written,
/// fsynced and renamed over `path`, and the directory is fsynced.
///
/// When run as root, the new file takes the owner and group of its directory, so that a Nova
/// running as its own user can still read and rewrite it; its mode is that of the file it
/// replaces, or 0644.
pub fn atomic_write(path: &Path, contents: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"))?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(".tmp-{}", std::process::id()));
    let temp = dir.join(temp_name);
    let mode = fs::metadata(path)
        .map(|m| m.mode() & 0o7777)
        .unwrap_or(0o644);

    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&temp)?;
        match_directory_owner(&file, dir)?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&temp, path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        // Best effort: the temporary file is ours and useless now.
        let _ = fs::remove_file(&temp);
    }
    result
}

/// When run as root, gives the file open as `file` the owner and group of `dir`, so that Nova,
/// running as its own user, can still read and replace what cachectl creates. Does nothing for
/// other users, whose files are theirs anyway.
pub fn match_directory_owner(file: impl std::os::fd::AsFd, dir: &Path) -> io::Result<()> {
    if !rustix::process::geteuid().is_root() {
        return Ok(());
    }
    let owner = fs::metadata(dir)?;
    rustix::fs::fchown(
        file,
        Some(rustix::fs::Uid::from_raw(owner.uid())),
        Some(rustix::fs::Gid::from_raw(owner.gid())),
    )
    .map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_contents_and_leaves_no_temporary_file() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("compute_nodes");
        atomic_write(&path, b"{}")?;
        atomic_write(&path, b"{\"a\": 1.0}")?;
        assert_eq!(fs::read(&path)?, b"{\"a\": 1.0}");
        let names: Vec<_> = fs::read_dir(dir.path())?.collect::<Result<_, _>>()?;
        assert_eq!(names.len(), 1);
        Ok(())
    }

    #[test]
    fn keeps_the_mode_of_the_file_it_replaces() -> io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("x");
        fs::write(&path, b"old")?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600))?;
        atomic_write(&path, b"new")?;
        assert_eq!(fs::metadata(&path)?.mode() & 0o777, 0o600);
        Ok(())
    }
}
