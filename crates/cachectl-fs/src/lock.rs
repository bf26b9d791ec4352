//! POSIX record locks on lock files, as oslo.concurrency takes them for Nova.
//!
//! oslo's external locks are `fcntl` write locks on the whole lock file (Python's
//! `fcntl.lockf`). A waiter opens the file, blocks in `lockf`, and never checks afterwards that
//! the name still names the inode it locked. So a lock file that another process may be waiting
//! on is never unlinked: the waiter would lock a file with no name, and the next process to open
//! the name would lock another one, at the same time. Nothing here unlinks a lock file.
//!
//! These locks belong to the process, not the thread or the descriptor: closing any descriptor
//! of a lock file releases the process's lock on it. Open each lock file once.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::fs::{FlockOperation, Mode, OFlags, fcntl_lock};
use rustix::io::Errno;

use crate::dir::{Dir, refused};
use crate::stat::{FileStat, Kind};

/// How many times a lock is taken again when its file was replaced under it.
const LOCK_ATTEMPTS: usize = 16;

const LOCK_FILE_FLAGS: OFlags = OFlags::WRONLY
    .union(OFlags::APPEND)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::NONBLOCK)
    .union(OFlags::CLOEXEC);

/// A held lock; dropping it releases the lock (the file stays).
#[derive(Debug)]
pub struct Lock {
    _file: File,
    path: PathBuf,
}

impl Lock {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Dir {
    /// Takes the lock on the lock file `name` (created if missing, mode 0644, and then given to
    /// the directory's owner when running as root) if no other process holds it; `Ok(None)` if
    /// one does.
    ///
    /// The lock counts only if, once taken, `name` still names the file locked (open → lock →
    /// check that `fstat` of the descriptor is `lstat` of the name → retry): a lock on a file
    /// that was unlinked or replaced meanwhile excludes nobody who opens the name now. A
    /// symlink, FIFO, device or hard-linked file in its place is an error, never opened for
    /// writing.
    pub fn try_lock(&self, name: &OsStr) -> io::Result<Option<Lock>> {
        for _ in 0..LOCK_ATTEMPTS {
            let file = self.open_lock_file(name)?;
            match fcntl_lock(&file, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => {}
                Err(Errno::AGAIN | Errno::ACCESS) => return Ok(None),
                Err(err) => return Err(err.into()),
            }
            let locked = FileStat::of(&rustix::fs::fstat(&file)?);
            if self.stat(name)?.is_some_and(|now| now.id() == locked.id()) {
                return Ok(Some(Lock {
                    _file: file,
                    path: self.join(name),
                }));
            }
            // Replaced or unlinked after we opened it: dropping `file` releases that lock.
        }
        Err(io::Error::other(
            "the lock file was replaced every time it was locked",
        ))
    }

    /// Takes the lock on `name` as [`Dir::try_lock`] does, waiting up to `timeout` for another
    /// process to release it; `Ok(None)` if it did not.
    pub fn lock_within(&self, name: &OsStr, timeout: Duration) -> io::Result<Option<Lock>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(lock) = self.try_lock(name)? {
                return Ok(Some(lock));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether another process holds the lock on `name` now. Creates nothing: a lock file that
    /// does not exist is held by nobody. The file is opened read-only (a read-only audit may not
    /// be allowed to write it) and tested with a shared lock, which another process's write lock
    /// (Nova's) refuses; it is closed at once, which also releases any lock this process holds
    /// on it: never ask this of a lock this process holds.
    pub fn lock_held_elsewhere(&self, name: &OsStr) -> io::Result<bool> {
        let Some(stat) = self.stat(name)? else {
            return Ok(false);
        };
        check_lock_file(&stat)?;
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let file = match rustix::fs::openat(self, name, flags, Mode::empty()) {
            Ok(fd) => File::from(fd),
            Err(Errno::NOENT) => return Ok(false),
            Err(err) => return Err(lock_open_error(err)),
        };
        check_lock_file(&FileStat::of(&rustix::fs::fstat(&file)?))?;
        match fcntl_lock(&file, FlockOperation::NonBlockingLockShared) {
            Ok(()) => Ok(false),
            Err(Errno::AGAIN | Errno::ACCESS) => Ok(true),
            Err(err) => Err(err.into()),
        }
    }

    /// Opens the lock file `name` for writing (as oslo opens it, in append mode), creating it
    /// with `O_EXCL` if it does not exist. Only a file created here is chowned.
    fn open_lock_file(&self, name: &OsStr) -> io::Result<File> {
        for _ in 0..LOCK_ATTEMPTS {
            match rustix::fs::openat(
                self,
                name,
                LOCK_FILE_FLAGS | OFlags::CREATE | OFlags::EXCL,
                Mode::from_raw_mode(0o644),
            ) {
                Ok(fd) => {
                    self.give_to_owner(&fd)?;
                    return Ok(File::from(fd));
                }
                Err(Errno::EXIST) => {}
                Err(err) => return Err(lock_open_error(err)),
            }
            // It exists: look before opening, so that a device is never opened.
            let Some(stat) = self.stat(name)? else {
                continue;
            };
            check_lock_file(&stat)?;
            match rustix::fs::openat(self, name, LOCK_FILE_FLAGS, Mode::empty()) {
                Ok(fd) => {
                    let file = File::from(fd);
                    check_lock_file(&FileStat::of(&rustix::fs::fstat(&file)?))?;
                    return Ok(file);
                }
                // Removed in between: create it.
                Err(Errno::NOENT) => continue,
                Err(err) => return Err(lock_open_error(err)),
            }
        }
        Err(io::Error::other("the lock file keeps vanishing"))
    }
}

/// A lock file must be a regular file with no other name.
fn check_lock_file(stat: &FileStat) -> io::Result<()> {
    if stat.kind == Kind::Symlink {
        return Err(lock_open_error(Errno::LOOP));
    }
    if stat.kind != Kind::Regular {
        return Err(refused(format!(
            "is a {}, not a regular file: not used as a lock file",
            stat.kind.name()
        )));
    }
    if stat.nlink > 1 {
        return Err(refused(format!(
            "has {} hard links: not used as a lock file (it may be a link to a file outside the tree)",
            stat.nlink
        )));
    }
    Ok(())
}

fn lock_open_error(err: Errno) -> io::Error {
    match err {
        Errno::LOOP => refused("is a symlink: not followed".to_owned()),
        // O_WRONLY | O_NONBLOCK on a FIFO with no reader.
        Errno::NXIO => refused("is a fifo, not a regular file: not used as a lock file".to_owned()),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{MetadataExt, symlink};
    use std::process::{Command, Stdio};

    use super::*;
    use crate::dir::is_root;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    /// A child process, killed if the test ends before it does.
    struct Guard(std::process::Child);

    impl Drop for Guard {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    #[test]
    fn a_lock_excludes_another_process_and_its_file_stays() -> TestResult {
        let temp = tempfile::tempdir()?;
        let dir = Dir::open(temp.path())?;
        let name = OsStr::new("nova-x");
        let lock = dir.try_lock(name)?.expect("free");
        // Another process (flock(1) takes BSD locks, not these): python's fcntl.lockf.
        let script = "import fcntl, sys\nf = open(sys.argv[1], 'a')\ntry:\n    fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\n    print('free')\nexcept OSError:\n    print('held')\n";
        let run = || -> io::Result<String> {
            let out = Command::new("python3")
                .arg("-c")
                .arg(script)
                .arg(temp.path().join("nova-x"))
                .stderr(Stdio::inherit())
                .output()?;
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        };
        assert_eq!(run()?, "held");
        drop(lock);
        // And the other way round: a lock Nova holds is seen, without writing to its file.
        let holder = Command::new("python3")
            .arg("-c")
            .arg("import fcntl, sys\nf = open(sys.argv[1], 'a')\nfcntl.lockf(f, fcntl.LOCK_EX)\nprint('locked', flush=True)\nsys.stdin.readline()\n")
            .arg(temp.path().join("nova-x"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let mut holder = Guard(holder);
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(holder.0.stdout.as_mut().ok_or("stdout")?),
            &mut line,
        )?;
        assert_eq!(line.trim(), "locked");
        assert!(dir.lock_held_elsewhere(name)?);
        assert!(dir.try_lock(name)?.is_none());
        drop(holder.0.stdin.take());
        holder.0.wait()?;
        assert_eq!(run()?, "free");
        assert!(temp.path().join("nova-x").is_file());
        assert!(!dir.lock_held_elsewhere(name)?);
        assert!(!dir.lock_held_elsewhere(OsStr::new("nova-missing"))?);
        assert!(!temp.path().join("nova-missing").exists());
        Ok(())
    }

    #[test]
    fn planted_lock_files_are_refused_and_their_targets_untouched() -> TestResult {
        let temp = tempfile::tempdir()?;
        let outside = tempfile::tempdir()?;
        let dir = Dir::open(temp.path())?;
        // A symlink to a file that does not exist: it must not be created.
        let created = outside.path().join("created");
        symlink(&created, temp.path().join("cachectl-clean"))?;
        let err = dir
            .try_lock(OsStr::new("cachectl-clean"))
            .expect_err("a symlink");
        assert_eq!(err.to_string(), "is a symlink: not followed");
        assert!(!created.exists());
        assert!(
            dir.lock_held_elsewhere(OsStr::new("cachectl-clean"))
                .is_err()
        );
        // A hard link to a file outside.
        let victim = outside.path().join("victim");
        std::fs::write(&victim, b"keep")?;
        std::fs::hard_link(&victim, temp.path().join("nova-y"))?;
        let err = dir.try_lock(OsStr::new("nova-y")).expect_err("a link");
        assert!(err.to_string().starts_with("has 2 hard links"), "{err}");
        // A FIFO.
        crate::test_support::make_fifo(temp.path().join("nova-z"))?;
        let err = dir.try_lock(OsStr::new("nova-z")).expect_err("a fifo");
        assert!(err.to_string().starts_with("is a fifo"), "{err}");
        assert_eq!(std::fs::read(&victim)?, b"keep");
        Ok(())
    }

    #[test]
    fn a_new_lock_file_takes_the_owner_of_its_directory_an_old_one_keeps_its_own() -> TestResult {
        let temp = tempfile::tempdir()?;
        if !is_root() {
            return Ok(());
        }
        std::os::unix::fs::chown(temp.path(), Some(65534), Some(65534))?;
        let existing = temp.path().join("nova-old");
        std::fs::write(&existing, b"")?;
        std::os::unix::fs::chown(&existing, Some(123), Some(123))?;
        let dir = Dir::open(temp.path())?;
        drop(dir.try_lock(OsStr::new("nova-new"))?.expect("free"));
        drop(dir.try_lock(OsStr::new("nova-old"))?.expect("free"));
        assert_eq!(
            std::fs::metadata(temp.path().join("nova-new"))?.uid(),
            65534
        );
        assert_eq!(std::fs::metadata(&existing)?.uid(), 123);
        Ok(())
    }
}
