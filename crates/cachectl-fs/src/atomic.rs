//! Replacing a small file so that a crash leaves the old contents or the new, never half, and
//! no planted name can redirect the write.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{AtFlags, CWD, Mode, OFlags};
use rustix::io::Errno;

use crate::dir::Dir;
use crate::stat::Kind;

/// How many fresh temporary names are tried before giving up (each is random: a collision
/// means someone planted that very name).
const NAME_ATTEMPTS: usize = 16;

impl Dir {
    /// Replaces the entry `name` with a regular file holding `contents`, atomically: the new
    /// file is written and fsynced before it gets a name, then renamed over `name`, and the
    /// directory is fsynced.
    ///
    /// The new file is created by this call and nothing else: with `O_TMPFILE` where the file
    /// system has it (no name at all until it is complete), else under a fresh random name
    /// `.<name>.tmp-<pid>-<random>` with `O_CREAT | O_EXCL | O_NOFOLLOW`, so that a symlink or
    /// file planted under any name is never opened. When running as root it takes the owner and
    /// group of the directory (it was just created: nothing else is ever chowned); its mode is
    /// that of the file it replaces (without set-id bits), or 0644. If `name` is a symlink, the
    /// symlink is replaced, its target untouched.
    pub fn write_atomic(&self, name: &OsStr, contents: &[u8]) -> io::Result<()> {
        let mode = match self.stat(name)? {
            Some(stat) if stat.kind == Kind::Regular => stat.mode & 0o777,
            _ => 0o644,
        };
        let temp = match self.write_unnamed(contents, mode) {
            Ok(file) => self.link_unnamed(&file, name)?,
            Err(err) if unnamed_unsupported(&err) => self.write_named(name, contents, mode)?,
            Err(err) => return Err(err),
        };
        if let Err(err) = rustix::fs::renameat(self, &temp, self, name) {
            // Best effort: the temporary file is ours and useless now.
            let _ = self.remove(&temp);
            return Err(err.into());
        }
        rustix::fs::fsync(self).map_err(io::Error::from)
    }

    /// A file with no name in this directory (`O_TMPFILE`), holding `contents`.
    fn write_unnamed(&self, contents: &[u8], mode: u32) -> io::Result<File> {
        let fd = rustix::fs::openat(
            self,
            ".",
            OFlags::WRONLY | OFlags::TMPFILE | OFlags::CLOEXEC,
            Mode::from_raw_mode(mode),
        )?;
        let file = File::from(fd);
        self.fill(&file, contents, mode)?;
        Ok(file)
    }

    /// Gives the unnamed `file` a fresh temporary name; returns the name.
    fn link_unnamed(&self, file: &File, name: &OsStr) -> io::Result<OsString> {
        for _ in 0..NAME_ATTEMPTS {
            let temp = temp_name(name)?;
            let linked = match rustix::fs::linkat(file, "", self, &temp, AtFlags::EMPTY_PATH) {
                // Linking by descriptor needs CAP_DAC_READ_SEARCH; without it, through /proc.
                Err(Errno::NOENT | Errno::PERM) => rustix::fs::linkat(
                    CWD,
                    format!("/proc/self/fd/{}", file.as_raw_fd()),
                    self,
                    &temp,
                    AtFlags::SYMLINK_FOLLOW,
                ),
                other => other,
            };
            match linked {
                Ok(()) => return Ok(temp),
                Err(Errno::EXIST) => continue,
                Err(err) => return Err(err.into()),
            }
        }
        Err(names_taken())
    }

    /// A new file under a fresh temporary name, holding `contents`; returns the name.
    fn write_named(&self, name: &OsStr, contents: &[u8], mode: u32) -> io::Result<OsString> {
        for _ in 0..NAME_ATTEMPTS {
            let temp = temp_name(name)?;
            let fd = match rustix::fs::openat(
                self,
                &temp,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(mode),
            ) {
                Ok(fd) => fd,
                Err(Errno::EXIST) => continue,
                Err(err) => return Err(err.into()),
            };
            if let Err(err) = self.fill(&File::from(fd), contents, mode) {
                let _ = self.remove(&temp);
                return Err(err);
            }
            return Ok(temp);
        }
        Err(names_taken())
    }

    /// Writes a file this call created: mode, owner, contents, fsync.
    fn fill(&self, mut file: &File, contents: &[u8], mode: u32) -> io::Result<()> {
        // The umask may have taken bits away.
        rustix::fs::fchmod(file, Mode::from_raw_mode(mode))?;
        self.give_to_owner(file)?;
        file.write_all(contents)?;
        file.sync_all()
    }
}

/// Whether `O_TMPFILE` is unknown to the kernel or the file system.
fn unnamed_unsupported(err: &io::Error) -> bool {
    [Errno::OPNOTSUPP, Errno::ISDIR, Errno::INVAL, Errno::NOSYS]
        .iter()
        .any(|errno| err.raw_os_error() == Some(errno.raw_os_error()))
}

fn names_taken() -> io::Error {
    io::Error::new(
        io::ErrorKind::AlreadyExists,
        "every temporary name tried was already taken",
    )
}

/// `.<name>.tmp-<pid>-<16 random hex digits>`.
fn temp_name(name: &OsStr) -> io::Result<OsString> {
    let mut random = [0u8; 8];
    rustix::rand::getrandom(&mut random, rustix::rand::GetRandomFlags::empty())?;
    let mut temp = b".".to_vec();
    temp.extend_from_slice(name.as_bytes());
    temp.extend_from_slice(
        format!(
            ".tmp-{}-{:016x}",
            std::process::id(),
            u64::from_ne_bytes(random)
        )
        .as_bytes(),
    );
    Ok(OsStr::from_bytes(&temp).to_owned())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};

    use super::*;
    use crate::dir::is_root;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn replaces_contents_and_leaves_no_temporary_file() -> TestResult {
        let temp = tempfile::tempdir()?;
        let dir = Dir::open(temp.path())?;
        dir.write_atomic(OsStr::new("compute_nodes"), b"{}")?;
        dir.write_atomic(OsStr::new("compute_nodes"), b"{\"a\": 1.0}")?;
        assert_eq!(
            std::fs::read(temp.path().join("compute_nodes"))?,
            b"{\"a\": 1.0}"
        );
        assert_eq!(std::fs::read_dir(temp.path())?.count(), 1);
        Ok(())
    }

    #[test]
    fn the_fallback_with_names_leaves_no_temporary_file() -> TestResult {
        let temp = tempfile::tempdir()?;
        let dir = Dir::open(temp.path())?;
        let name = dir.write_named(OsStr::new("x.info"), b"{}", 0o640)?;
        assert!(
            name.to_string_lossy().starts_with(".x.info.tmp-"),
            "{name:?}"
        );
        let meta = std::fs::symlink_metadata(temp.path().join(&name))?;
        assert_eq!(meta.mode() & 0o777, 0o640);
        Ok(())
    }

    #[test]
    fn keeps_the_mode_of_the_file_it_replaces() -> TestResult {
        let temp = tempfile::tempdir()?;
        let path = temp.path().join("x");
        std::fs::write(&path, b"old")?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        Dir::open(temp.path())?.write_atomic(OsStr::new("x"), b"new")?;
        assert_eq!(std::fs::metadata(&path)?.mode() & 0o777, 0o600);
        Ok(())
    }

    #[test]
    fn a_planted_symlink_is_replaced_and_its_target_untouched() -> TestResult {
        let temp = tempfile::tempdir()?;
        let outside = tempfile::tempdir()?;
        let victim = outside.path().join("victim");
        std::fs::write(&victim, b"secret")?;
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600))?;
        symlink(&victim, temp.path().join("compute_nodes"))?;
        if is_root() {
            std::os::unix::fs::chown(temp.path(), Some(65534), Some(65534))?;
        }
        Dir::open(temp.path())?.write_atomic(OsStr::new("compute_nodes"), b"{}")?;
        assert_eq!(std::fs::read(&victim)?, b"secret");
        let victim_meta = std::fs::metadata(&victim)?;
        assert_eq!(victim_meta.mode() & 0o777, 0o600);
        assert_eq!(victim_meta.uid(), rustix::process::geteuid().as_raw());
        let written = std::fs::symlink_metadata(temp.path().join("compute_nodes"))?;
        assert!(written.is_file());
        if is_root() {
            assert_eq!(written.uid(), 65534);
        }
        Ok(())
    }
}
