//! An open directory, and what is done relative to it without following symlinks.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags, Timespec, Timestamps};
use rustix::io::Errno;

use crate::stat::{FileStat, Kind};

/// Flags of every read-only open of a file: never a symlink, never blocking on a FIFO or device,
/// never a controlling terminal.
pub(crate) const READ_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::NOFOLLOW)
    .union(OFlags::NONBLOCK)
    .union(OFlags::NOCTTY)
    .union(OFlags::CLOEXEC);
/// Flags of a read-only open of a path that may end in a symlink ([`open_regular_path`]): never
/// blocking on a FIFO or device, never a controlling terminal.
const PATH_READ_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::NONBLOCK)
    .union(OFlags::NOCTTY)
    .union(OFlags::CLOEXEC);
pub(crate) const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::CLOEXEC);

/// An open directory: every name given to its methods is one entry of it, never a path, and a
/// symlink in its place is never followed (except by [`Dir::open_child`], under its rule).
#[derive(Debug)]
pub struct Dir {
    pub(crate) fd: OwnedFd,
    pub(crate) path: PathBuf,
    /// Whether [`Dir::list`] read the descriptor's entries already (its position moved).
    pub(crate) listed: bool,
}

impl AsFd for Dir {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// An error that says what is wrong with a file, for a caller that names the file.
pub(crate) fn refused(problem: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, problem)
}

/// Whether the process runs as root.
pub(crate) fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

impl Dir {
    /// Opens the directory at `path`, following symlinks: a path the operator chose.
    pub fn open(path: &Path) -> io::Result<Self> {
        let fd = rustix::fs::open(path, DIR_FLAGS, Mode::empty())?;
        Ok(Self {
            fd,
            path: path.to_owned(),
            listed: false,
        })
    }

    /// The path this directory was opened by, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path of an entry, for messages.
    pub fn join(&self, name: &OsStr) -> PathBuf {
        self.path.join(name)
    }

    /// Opens the subdirectory `name`; `Ok(None)` if there is none.
    ///
    /// A symlink there is followed only if it belongs to root or to the user running: what the
    /// owner of this directory planted is not followed by root. The link is pinned while it is
    /// read (`O_PATH`), so it cannot be swapped between the check of its owner and its reading.
    pub fn open_child(&self, name: &OsStr) -> io::Result<Option<Self>> {
        let path = self.join(name);
        match rustix::fs::openat(&self.fd, name, DIR_FLAGS | OFlags::NOFOLLOW, Mode::empty()) {
            Ok(fd) => {
                return Ok(Some(Self {
                    fd,
                    path,
                    listed: false,
                }));
            }
            Err(Errno::NOENT) => return Ok(None),
            Err(Errno::LOOP | Errno::NOTDIR) => {}
            Err(err) => return Err(err.into()),
        }
        let link = match rustix::fs::openat(
            &self.fd,
            name,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(link) => link,
            Err(Errno::NOENT) => return Ok(None),
            Err(err) => return Err(err.into()),
        };
        let stat = FileStat::of(&rustix::fs::fstat(&link)?);
        if stat.kind != Kind::Symlink {
            return Err(refused(format!(
                "is a {}, not a directory",
                stat.kind.name()
            )));
        }
        let euid = rustix::process::geteuid().as_raw();
        if stat.uid != 0 && stat.uid != euid {
            return Err(refused(format!(
                "is a symlink owned by uid {}: not followed (only links of root{} are)",
                stat.uid,
                if euid == 0 { "" } else { " or of this user" }
            )));
        }
        let target = rustix::fs::readlinkat(&link, "", Vec::new())?;
        let target = Path::new(OsStr::from_bytes(target.as_bytes()));
        let fd = if target.is_absolute() {
            rustix::fs::open(target, DIR_FLAGS, Mode::empty())
        } else {
            rustix::fs::openat(&self.fd, target, DIR_FLAGS, Mode::empty())
        };
        match fd {
            Ok(fd) => Ok(Some(Self {
                fd,
                path,
                listed: false,
            })),
            Err(Errno::NOENT) => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    /// Opens the subdirectory `name`, creating it (mode 0755) if there is none. A directory
    /// created here is given to the owner of this directory when running as root, so that Nova
    /// can use it; an existing one is never chowned.
    pub fn create_child(&self, name: &OsStr) -> io::Result<Self> {
        for _ in 0..8 {
            match rustix::fs::mkdirat(&self.fd, name, Mode::from_raw_mode(0o755)) {
                Ok(()) => {
                    let fd = rustix::fs::openat(
                        &self.fd,
                        name,
                        DIR_FLAGS | OFlags::NOFOLLOW,
                        Mode::empty(),
                    )?;
                    self.give_to_owner(&fd)?;
                    return Ok(Self {
                        fd,
                        path: self.join(name),
                        listed: false,
                    });
                }
                Err(Errno::EXIST) => {
                    if let Some(dir) = self.open_child(name)? {
                        return Ok(dir);
                    }
                    // Removed in between: create it again.
                }
                Err(err) => return Err(err.into()),
            }
        }
        Err(io::Error::other("the directory keeps vanishing"))
    }

    /// What `lstat` says of the entry `name`; `Ok(None)` if there is none.
    pub fn stat(&self, name: &OsStr) -> io::Result<Option<FileStat>> {
        match rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => Ok(Some(FileStat::of(&stat))),
            Err(Errno::NOENT) => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    /// What `fstat` says of this directory.
    pub fn stat_self(&self) -> io::Result<FileStat> {
        Ok(FileStat::of(&rustix::fs::fstat(&self.fd)?))
    }

    /// The entries of the directory (without `.` and `..`), sorted by name, with their type as
    /// `lstat` gives it.
    pub fn entries(&self) -> io::Result<Vec<(OsString, Kind)>> {
        Ok(self
            .entries_with_inodes()?
            .into_iter()
            .map(|(name, kind, _)| (name, kind))
            .collect())
    }

    /// As [`Dir::entries`], with the inode number the listing gives each entry (`d_ino`): a
    /// name whose inode number changed names another file.
    pub fn entries_with_inodes(&self) -> io::Result<Vec<(OsString, Kind, u64)>> {
        let mut entries = Vec::new();
        for entry in rustix::fs::Dir::read_from(&self.fd)? {
            let entry = entry?;
            let name = OsStr::from_bytes(entry.file_name().to_bytes());
            if name == "." || name == ".." {
                continue;
            }
            let kind = match Kind::of(entry.file_type()) {
                // The file system does not say in the listing: ask it.
                Kind::Unknown => match self.stat(name)? {
                    Some(stat) => stat.kind,
                    None => continue,
                },
                kind => kind,
            };
            entries.push((name.to_owned(), kind, entry.ino()));
        }
        entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        Ok(entries)
    }

    /// Opens the regular file `name` for reading. A symlink is refused, not followed; a FIFO or
    /// device is refused without blocking (`O_NONBLOCK`; the type is checked on the open file).
    pub fn open_regular(&self, name: &OsStr) -> io::Result<(File, FileStat)> {
        let fd = rustix::fs::openat(&self.fd, name, READ_FLAGS, Mode::empty())
            .map_err(symlink_refused)?;
        checked_regular(File::from(fd))
    }

    /// The whole of the small regular file `name`: `Ok(None)` if there is none; an error
    /// (`InvalidInput`) if it is a symlink, not a regular file, or has other hard links (a link
    /// to a file outside the tree), and (`InvalidData`) if it is larger than `max_len` bytes.
    pub fn read_small(&self, name: &OsStr, max_len: u64) -> io::Result<Option<Vec<u8>>> {
        match self.open_regular(name) {
            Ok((file, stat)) => read_bounded(file, &stat, max_len).map(Some),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Removes the entry `name` (the entry itself: a symlink, not its target); `Ok(false)` if
    /// there was none.
    pub fn remove(&self, name: &OsStr) -> io::Result<bool> {
        match rustix::fs::unlinkat(&self.fd, name, AtFlags::empty()) {
            Ok(()) => Ok(true),
            Err(Errno::NOENT) => Ok(false),
            Err(err) => Err(err.into()),
        }
    }

    /// Sets the access and modification times of the entry `name` (never a symlink's target)
    /// to `secs` (Unix seconds).
    pub fn set_times(&self, name: &OsStr, secs: i64) -> io::Result<()> {
        let time = Timespec {
            tv_sec: secs,
            tv_nsec: 0,
        };
        rustix::fs::utimensat(
            &self.fd,
            name,
            &Timestamps {
                last_access: time,
                last_modification: time,
            },
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(io::Error::from)
    }

    /// When running as root, gives a file or directory this call just created the owner and
    /// group of this directory, so that Nova, running as its own user, can use it. Never called
    /// on anything that existed before.
    pub(crate) fn give_to_owner(&self, created: impl AsFd) -> io::Result<()> {
        if !is_root() {
            return Ok(());
        }
        let owner = self.stat_self()?;
        rustix::fs::fchown(
            created,
            Some(rustix::fs::Uid::from_raw(owner.uid)),
            Some(rustix::fs::Gid::from_raw(owner.gid)),
        )
        .map_err(io::Error::from)
    }
}

/// Reads the small regular file at `path` as [`Dir::read_small`] does: the directories on the
/// way are followed, the file itself must not be a symlink.
pub fn read_small_file(path: &Path, max_len: u64) -> io::Result<Option<Vec<u8>>> {
    let opened = rustix::fs::open(path, READ_FLAGS, Mode::empty()).map_err(symlink_refused);
    match opened {
        Ok(fd) => {
            let (file, stat) = checked_regular(File::from(fd))?;
            read_bounded(file, &stat, max_len).map(Some)
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}

/// A file that is not a regular file, refused: what the [`io::Error`] (of kind `InvalidInput`)
/// that [`open_regular_path`], [`Dir::open_regular`] and [`Dir::read_small`] return for it
/// carries. Its message is "is a fifo, not a regular file" (with [`Kind::name`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotRegular {
    /// What the file is instead.
    pub kind: Kind,
}

impl NotRegular {
    /// The refusal `err` carries, if it is one.
    pub fn of(err: &io::Error) -> Option<Self> {
        err.get_ref()?.downcast_ref::<Self>().copied()
    }
}

impl fmt::Display for NotRegular {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "is a {}, not a regular file", self.kind.name())
    }
}

impl std::error::Error for NotRegular {}

/// The error that refuses a file of this kind.
fn not_regular(kind: Kind) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, NotRegular { kind })
}

/// What `stat` says of the file at `path`, following symlinks (the last one too): for a path
/// the operator or a disk header chose, not for an entry of a tree others write ([`Dir::stat`]).
/// The errors are `std::fs::metadata`'s.
pub fn stat_path(path: &Path) -> io::Result<FileStat> {
    std::fs::metadata(path).map(|meta| FileStat::of_metadata(&meta))
}

/// Opens the regular file at `path` for reading, following symlinks: a path the operator or a
/// disk header chose, not an entry of a tree others write ([`Dir::open_regular`]).
///
/// Anything but a regular file is refused ([`NotRegular`]) without being read: the path is
/// `stat`ed first ([`stat_path`]), so that a device is not even opened (opening some devices has
/// effects); then opened with `O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC`, so that a FIFO or
/// device swapped in meanwhile never blocks the open, and checked again with `fstat`, whose
/// answer comes with the file. Nothing is there: an error of kind `NotFound`.
pub fn open_regular_path(path: &Path) -> io::Result<(File, FileStat)> {
    let kind = stat_path(path)?.kind;
    if kind != Kind::Regular {
        return Err(not_regular(kind));
    }
    let fd = rustix::fs::open(path, PATH_READ_FLAGS, Mode::empty())?;
    checked_regular(File::from(fd))
}

/// `ELOOP` from an `O_NOFOLLOW` open of one name means the name is a symlink.
pub(crate) fn symlink_refused(err: Errno) -> io::Error {
    if err == Errno::LOOP {
        refused("is a symlink: not followed".to_owned())
    } else {
        err.into()
    }
}

/// The open file, if it is a regular file.
fn checked_regular(file: File) -> io::Result<(File, FileStat)> {
    let stat = FileStat::of(&rustix::fs::fstat(&file)?);
    if stat.kind != Kind::Regular {
        return Err(not_regular(stat.kind));
    }
    Ok((file, stat))
}

/// The contents of a small file, read in one `read` when `fstat` told its size right.
fn read_bounded(file: File, stat: &FileStat, max_len: u64) -> io::Result<Vec<u8>> {
    if stat.nlink > 1 {
        return Err(refused(format!(
            "has {} hard links: not read (it may be a link to a file outside the tree)",
            stat.nlink
        )));
    }
    if stat.size > max_len {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {max_len} bytes"),
        ));
    }
    // Room for the whole file and one byte more: one read, and one that finds the end.
    let capacity = usize::try_from(stat.size).map_or(0, |n| n.saturating_add(1));
    let mut bytes = Vec::with_capacity(capacity);
    file.take(max_len.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max_len {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {max_len} bytes"),
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn name(text: &str) -> &OsStr {
        OsStr::new(text)
    }

    #[test]
    fn reads_refuse_symlinks_fifos_and_hard_links() -> TestResult {
        let temp = tempfile::tempdir()?;
        let outside = tempfile::tempdir()?;
        let secret = outside.path().join("secret.json");
        std::fs::write(&secret, br#"{"password": "s3cret"}"#)?;
        symlink(&secret, temp.path().join("link.info"))?;
        std::fs::hard_link(&secret, temp.path().join("hard.info"))?;
        crate::test_support::make_fifo(temp.path().join("fifo.info"))?;
        let dir = Dir::open(temp.path())?;
        let err = dir
            .read_small(name("link.info"), 1024)
            .expect_err("a symlink");
        assert_eq!(err.to_string(), "is a symlink: not followed");
        let err = dir.read_small(name("hard.info"), 1024).expect_err("a link");
        assert!(err.to_string().starts_with("has 2 hard links"), "{err}");
        let err = dir.read_small(name("fifo.info"), 1024).expect_err("a fifo");
        assert_eq!(err.to_string(), "is a fifo, not a regular file");
        assert_eq!(dir.read_small(name("missing"), 1024)?, None);
        let err = read_small_file(&temp.path().join("link.info"), 1024).expect_err("a symlink");
        assert_eq!(err.to_string(), "is a symlink: not followed");
        Ok(())
    }

    #[test]
    fn a_path_is_opened_only_if_it_is_a_regular_file_following_symlinks() -> TestResult {
        let temp = tempfile::tempdir()?;
        let file = temp.path().join("disk");
        std::fs::write(&file, b"QFI\xfb")?;
        symlink(&file, temp.path().join("link"))?;
        for path in [file.clone(), temp.path().join("link")] {
            let (mut opened, stat) = open_regular_path(&path)?;
            let mut bytes = Vec::new();
            opened.read_to_end(&mut bytes)?;
            assert_eq!(bytes, b"QFI\xfb");
            assert_eq!((stat.kind, stat.size), (Kind::Regular, 4));
            assert_eq!(stat.id(), stat_path(&file)?.id());
            assert_eq!(stat, stat_path(&path)?);
        }
        let fifo = temp.path().join("fifo");
        crate::test_support::make_fifo(&fifo)?;
        symlink(&fifo, temp.path().join("fifo-link"))?;
        let refused = |path: &Path| {
            let err = open_regular_path(path).expect_err("not a regular file");
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
            (NotRegular::of(&err).map(|r| r.kind), err.to_string())
        };
        let fifo_refused = (Some(Kind::Fifo), "is a fifo, not a regular file".to_owned());
        assert_eq!(refused(&fifo), fifo_refused);
        assert_eq!(refused(&temp.path().join("fifo-link")), fifo_refused);
        assert_eq!(
            refused(temp.path()),
            (
                Some(Kind::Directory),
                "is a directory, not a regular file".to_owned()
            )
        );
        assert_eq!(refused(Path::new("/dev/null")).0, Some(Kind::CharDevice));
        assert_eq!(stat_path(Path::new("/dev/null"))?.kind, Kind::CharDevice);
        // Nothing there, or a dangling link: not found.
        let missing = temp.path().join("missing");
        symlink(&missing, temp.path().join("dangling"))?;
        for path in [missing, temp.path().join("dangling")] {
            let err = open_regular_path(&path).expect_err("nothing there");
            assert_eq!(err.kind(), io::ErrorKind::NotFound);
            assert_eq!(NotRegular::of(&err), None);
            assert_eq!(
                stat_path(&path).map_err(|e| e.kind()),
                Err(io::ErrorKind::NotFound)
            );
        }
        Ok(())
    }

    #[test]
    fn the_entry_reads_say_which_kind_they_refused() -> TestResult {
        let temp = tempfile::tempdir()?;
        std::fs::create_dir(temp.path().join("sub"))?;
        let dir = Dir::open(temp.path())?;
        let err = dir.open_regular(name("sub")).expect_err("a directory");
        assert_eq!(
            NotRegular::of(&err),
            Some(NotRegular {
                kind: Kind::Directory
            })
        );
        assert_eq!(err.to_string(), "is a directory, not a regular file");
        Ok(())
    }

    #[test]
    fn small_files_are_bounded() -> TestResult {
        let temp = tempfile::tempdir()?;
        std::fs::write(temp.path().join("big"), vec![b'x'; 100])?;
        let dir = Dir::open(temp.path())?;
        assert_eq!(
            dir.read_small(name("big"), 100)?.map(|b| b.len()),
            Some(100)
        );
        let err = dir.read_small(name("big"), 99).expect_err("too big");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        Ok(())
    }

    #[test]
    fn removal_and_times_act_on_the_link_not_its_target() -> TestResult {
        let temp = tempfile::tempdir()?;
        let outside = tempfile::tempdir()?;
        let victim = outside.path().join("victim");
        std::fs::write(&victim, b"keep")?;
        let before = std::fs::metadata(&victim)?.modified()?;
        symlink(&victim, temp.path().join("entry"))?;
        let dir = Dir::open(temp.path())?;
        dir.set_times(name("entry"), 1_000_000_000)?;
        assert_eq!(std::fs::metadata(&victim)?.modified()?, before);
        assert!(dir.remove(name("entry"))?);
        assert!(!dir.remove(name("entry"))?);
        assert_eq!(std::fs::read(&victim)?, b"keep");
        Ok(())
    }

    #[test]
    fn a_child_symlink_is_followed_only_if_root_or_this_user_owns_it() -> TestResult {
        let temp = tempfile::tempdir()?;
        let outside = tempfile::tempdir()?;
        symlink(outside.path(), temp.path().join("_base"))?;
        let dir = Dir::open(temp.path())?;
        // Made by this process: followed.
        let child = dir.open_child(name("_base"))?.expect("followed");
        assert_eq!(child.stat_self()?.id(), {
            let meta = std::fs::metadata(outside.path())?;
            use std::os::unix::fs::MetadataExt;
            (meta.dev(), meta.ino())
        });
        assert!(dir.open_child(name("missing"))?.is_none());
        if is_root() {
            // Planted by another user: refused.
            std::os::unix::fs::lchown(temp.path().join("_base"), Some(65534), Some(65534))?;
            let err = dir.open_child(name("_base")).expect_err("not followed");
            assert!(
                err.to_string()
                    .starts_with("is a symlink owned by uid 65534: not followed"),
                "{err}"
            );
        }
        Ok(())
    }

    #[test]
    fn a_created_child_takes_the_owner_of_its_parent() -> TestResult {
        let temp = tempfile::tempdir()?;
        let parent = temp.path().join("instances");
        std::fs::create_dir(&parent)?;
        if is_root() {
            std::os::unix::fs::chown(&parent, Some(65534), Some(65534))?;
        }
        let dir = Dir::open(&parent)?;
        let locks = dir.create_child(name("locks"))?;
        let again = dir.create_child(name("locks"))?;
        assert_eq!(locks.stat_self()?.id(), again.stat_self()?.id());
        if is_root() {
            assert_eq!(locks.stat_self()?.uid, 65534);
        }
        Ok(())
    }

    #[test]
    fn entries_are_sorted_with_their_types() -> TestResult {
        let temp = tempfile::tempdir()?;
        std::fs::write(temp.path().join("b"), b"")?;
        std::fs::create_dir(temp.path().join("a"))?;
        symlink("b", temp.path().join("c"))?;
        let dir = Dir::open(temp.path())?;
        assert_eq!(
            dir.entries()?,
            vec![
                ("a".into(), Kind::Directory),
                ("b".into(), Kind::Regular),
                ("c".into(), Kind::Symlink)
            ]
        );
        Ok(())
    }
}
