//! Nova's inter-process locks: POSIX record locks on `instances_path/locks/nova-<name>`.
//!
//! oslo.concurrency's external locks (which Nova takes around creating and removing a base file,
//! and around `compute_nodes`) are `fcntl` write locks on the whole lock file, as Python's
//! `fcntl.lockf` takes them. These are the same locks, so Nova and cachectl exclude each other.
//! They belong to the process: closing any descriptor of a lock file releases them, so lock files
//! are opened only here, once each.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;

use cachectl_sidecar::match_directory_owner;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use rustix::fs::{FlockOperation, fcntl_lock};

/// The prefix oslo.concurrency gives Nova's lock files.
pub const NOVA_PREFIX: &str = "nova-";

/// A held lock; dropping it releases the lock.
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

/// The lock file Nova uses for `name` (a base file name, or `storage-registry-lock`).
pub fn nova_lock_path(lock_dir: &Path, name: &str) -> PathBuf {
    lock_dir.join(format!("{NOVA_PREFIX}{name}"))
}

/// Takes the lock at `path` if no other process holds it; `Ok(None)` if one does.
pub fn try_lock(path: &Path) -> io::Result<Option<Lock>> {
    let file = open_lock_file(path)?;
    match fcntl_lock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(Some(Lock {
            _file: file,
            path: path.to_owned(),
        })),
        Err(err) if err == rustix::io::Errno::AGAIN || err == rustix::io::Errno::ACCESS => Ok(None),
        Err(err) => Err(err.into()),
    }
}

/// Whether another process holds the lock at `path` now. Creates nothing: a lock file that does
/// not exist is held by nobody. (Used by read-only passes, to say what a `clean` would keep.)
pub fn held_elsewhere(path: &Path) -> io::Result<bool> {
    let file = match OpenOptions::new().append(true).open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(err) => return Err(err),
    };
    match fcntl_lock(&file, FlockOperation::NonBlockingLockExclusive) {
        // Released when `file` closes, at once.
        Ok(()) => Ok(false),
        Err(err) if err == rustix::io::Errno::AGAIN || err == rustix::io::Errno::ACCESS => Ok(true),
        Err(err) => Err(err.into()),
    }
}

/// Takes the lock at `path`, waiting up to `timeout` for another process to release it.
pub fn lock_within(path: &Path, timeout: Duration) -> io::Result<Option<Lock>> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(lock) = try_lock(path)? {
            return Ok(Some(lock));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Opens (creating if needed) a lock file as oslo.concurrency does, in append mode. What root
/// creates (the lock directory, the lock file) takes the owner of its parent, so Nova can still
/// open it.
fn open_lock_file(path: &Path) -> io::Result<File> {
    if let Some(dir) = path.parent()
        && !dir.is_dir()
    {
        fs::create_dir_all(dir)?;
        if let Some(parent) = dir.parent() {
            match_directory_owner(File::open(dir)?, parent)?;
        }
    }
    let existed = path.exists();
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o644)
        .open(path)?;
    if !existed && let Some(dir) = path.parent() {
        match_directory_owner(&file, dir)?;
    }
    Ok(file)
}
