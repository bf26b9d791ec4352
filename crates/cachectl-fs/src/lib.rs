//! File operations that stay safe in a directory tree that others can write.
//!
//! cachectl runs as root in Nova's instances path, which belongs to the `nova` user: anything
//! that runs as `nova` can plant symlinks, FIFOs and hard links there. Every operation here
//! therefore works relative to an open directory ([`Dir`]) and never follows a symlink in the
//! last component of a name:
//!
//! - reads open with `O_NOFOLLOW | O_NONBLOCK` and refuse anything but a regular file with one
//!   link ([`Dir::read_small`], [`Dir::open_regular`]);
//! - a path the operator or a disk header chose (symlinks followed) is opened by
//!   [`open_regular_path`]: `stat` first, so that a device is never opened, then `O_NONBLOCK`
//!   and `fstat` again; anything but a regular file is refused ([`NotRegular`]);
//! - new files are created with `O_EXCL` (or `O_TMPFILE`), and only a file created in the same
//!   call is ever given to the directory's owner ([`Dir::write_atomic`], lock files);
//! - removals and time stamps act on the directory entry itself (`unlinkat`, `utimensat` with
//!   `AT_SYMLINK_NOFOLLOW`);
//! - a subdirectory that is a symlink is followed only if root (or the user running) owns the
//!   link ([`Dir::open_child`]);
//! - POSIX record locks (the locks oslo.concurrency takes for Nova) are taken with the
//!   open → lock → check that the name still names the locked file → retry pattern, and a lock
//!   file is never unlinked here ([`Dir::try_lock`]).
//!
//! Besides, what a long read of a file needs from the kernel: which of its pages are in the page
//! cache ([`cached_pages`]), dropping pages from it ([`drop_cached`]), and the thread's I/O
//! priority ([`set_io_priority`]). The crate's only unsafe code is there, in two functions that
//! call the kernel where rustix has no safe wrapper (`mincore`, `ioprio_set`).
//!
//! ```
//! # fn main() -> std::io::Result<()> {
//! use std::ffi::OsStr;
//! let temp = tempfile::tempdir()?;
//! let dir = cachectl_fs::Dir::open(temp.path())?;
//! dir.write_atomic(OsStr::new("compute_nodes"), b"{}")?;
//! assert_eq!(dir.read_small(OsStr::new("compute_nodes"), 1024)?, Some(b"{}".to_vec()));
//! std::os::unix::fs::symlink("/etc/hostname", temp.path().join("link"))?;
//! assert!(dir.read_small(OsStr::new("link"), 1024).is_err());
//! let lock = dir.try_lock(OsStr::new("nova-x"))?.expect("nobody else holds it");
//! drop(lock);
//! # Ok(()) }
//! ```

#![deny(unsafe_code)]

mod atomic;
mod dir;
mod io_priority;
mod listing;
mod lock;
mod page_cache;
mod stat;
#[cfg(test)]
mod test_support;
mod usage;

pub use dir::{Dir, NotRegular, open_regular_path, read_small_file, stat_path};
pub use io_priority::{DEFAULT_BEST_EFFORT_LEVEL, IoPriority, io_priority, set_io_priority};
pub use listing::Prefix;
pub use lock::Lock;
pub use page_cache::{cached_pages, drop_cached, page_size};
pub use stat::{FileStat, Kind};
pub use usage::FsUsage;
