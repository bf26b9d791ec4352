//! Reading a tree in few system calls, for a scan on storage where each one is a network round
//! trip: a directory's entries with their types from the descriptor it was opened with, a
//! subdirectory opened relative to it, and a file's first bytes in one `read`.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read};
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{Mode, OFlags, RawDir, SeekFrom};
use rustix::io::Errno;

use crate::dir::{DIR_FLAGS, Dir, READ_FLAGS, symlink_refused};
use crate::stat::{FileStat, Kind};

thread_local! {
    /// What [`Dir::read_prefix`] reads into before it keeps the bytes read.
    static READ_BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The first buffer a listing reads entries into; it grows for a name that does not fit.
const LISTING_BUFFER: usize = 32 * 1024;

/// The first bytes of a file, and the file, still open.
#[derive(Debug)]
pub struct Prefix {
    /// The open file.
    pub file: File,
    /// Its first bytes.
    pub bytes: Vec<u8>,
    /// Whether `bytes` is the whole file: the one `read` returned fewer bytes than asked for.
    pub whole: bool,
    /// What `fstat` said, once asked.
    stat: std::cell::OnceCell<FileStat>,
}

impl Prefix {
    /// What `fstat` says of the open file (one `fstat`, however often asked).
    pub fn stat(&self) -> io::Result<FileStat> {
        if let Some(stat) = self.stat.get() {
            return Ok(*stat);
        }
        let stat = FileStat::of(&rustix::fs::fstat(&self.file)?);
        Ok(*self.stat.get_or_init(|| stat))
    }
}

impl Dir {
    /// Opens the subdirectory `name`: following a symlink in its place if `follow` (an
    /// instance directory, as Nova follows it), else refusing one (`ELOOP`, an error). `None`
    /// when there is nothing of that name.
    pub fn open_subdir(&self, name: &OsStr, follow: bool) -> io::Result<Option<Dir>> {
        let flags = if follow {
            DIR_FLAGS
        } else {
            DIR_FLAGS | OFlags::NOFOLLOW
        };
        match rustix::fs::openat(&self.fd, name, flags, Mode::empty()) {
            Ok(fd) => Ok(Some(Dir {
                fd,
                path: self.path.join(name),
                listed: false,
            })),
            Err(Errno::NOENT) => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    /// The entries of this directory, sorted by name, with their types, read from its own
    /// descriptor (no second open): `.` and `..` are left out, and an entry whose type the
    /// listing does not give is `stat`ed. `&mut`: reading moves the descriptor's position, which
    /// is rewound for a second listing.
    pub fn list(&mut self) -> io::Result<Vec<(OsString, Kind)>> {
        if self.listed {
            rustix::fs::seek(&self.fd, SeekFrom::Start(0))?;
        }
        self.listed = true;
        let mut entries = Vec::new();
        let mut buf: Vec<MaybeUninit<u8>> = Vec::with_capacity(LISTING_BUFFER);
        buf.resize(LISTING_BUFFER, MaybeUninit::uninit());
        let mut unknown = Vec::new();
        'grow: loop {
            let mut listing = RawDir::new(&self.fd, &mut buf);
            while let Some(entry) = listing.next() {
                let entry = match entry {
                    // One entry does not fit: a larger buffer, from where it stopped.
                    Err(Errno::INVAL) => {
                        let len = buf.len() * 2;
                        buf.resize(len, MaybeUninit::uninit());
                        continue 'grow;
                    }
                    other => other?,
                };
                let name = OsStr::from_bytes(entry.file_name().to_bytes());
                if name == "." || name == ".." {
                    continue;
                }
                match Kind::of(entry.file_type()) {
                    Kind::Unknown => unknown.push(name.to_owned()),
                    kind => entries.push((name.to_owned(), kind)),
                }
            }
            break;
        }
        for name in unknown {
            // The file system does not say in the listing: ask it.
            if let Some(stat) = self.stat(&name)? {
                entries.push((name, stat.kind));
            }
        }
        entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        Ok(entries)
    }

    /// The first `len` bytes of the file `name`, read in one `read`, with the file still open
    /// (for `fstat`, or a further read). A symlink is refused (an error), never followed; a
    /// FIFO or device is never blocked on (`O_NONBLOCK`), but it is opened: call this for names
    /// the listing says are regular files. `None` when there is nothing of that name.
    pub fn read_prefix(&self, name: &OsStr, len: usize) -> io::Result<Option<Prefix>> {
        let fd = match rustix::fs::openat(&self.fd, name, READ_FLAGS, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(None),
            Err(err) => return Err(symlink_refused(err)),
        };
        let mut file = File::from(fd);
        let bytes = READ_BUFFER.with_borrow_mut(|buffer| -> io::Result<Vec<u8>> {
            // A buffer of the thread's, zeroed once, not once a file.
            if buffer.len() < len {
                buffer.resize(len, 0);
            }
            let read = loop {
                match file.read(&mut buffer[..len]) {
                    Ok(read) => break read,
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                    // A FIFO with no writer (swapped in since the listing): nothing to read.
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => break 0,
                    Err(err) => return Err(err),
                }
            };
            Ok(buffer[..read].to_vec())
        })?;
        let read = bytes.len();
        Ok(Some(Prefix {
            file,
            whole: read < len,
            bytes,
            stat: std::cell::OnceCell::new(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::symlink;

    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn a_listing_has_the_types_and_reads_again_from_the_start() -> TestResult {
        let temp = tempfile::tempdir()?;
        fs::create_dir(temp.path().join("sub"))?;
        fs::write(temp.path().join("disk"), b"x")?;
        symlink("disk", temp.path().join("link"))?;
        crate::test_support::make_fifo(temp.path().join("fifo"))?;
        let mut dir = Dir::open(temp.path())?;
        let expected = vec![
            (OsString::from("disk"), Kind::Regular),
            (OsString::from("fifo"), Kind::Fifo),
            (OsString::from("link"), Kind::Symlink),
            (OsString::from("sub"), Kind::Directory),
        ];
        assert_eq!(dir.list()?, expected);
        assert_eq!(dir.list()?, expected, "a second listing starts again");
        Ok(())
    }

    #[test]
    fn many_entries_and_long_names_are_all_listed() -> TestResult {
        let temp = tempfile::tempdir()?;
        let long = "n".repeat(255);
        fs::write(temp.path().join(&long), b"")?;
        for i in 0..3000 {
            fs::write(temp.path().join(format!("entry-{i:05}")), b"")?;
        }
        let mut dir = Dir::open(temp.path())?;
        let listed = dir.list()?;
        assert_eq!(listed.len(), 3001);
        assert!(
            listed
                .iter()
                .any(|(name, _)| *name == OsString::from(&long))
        );
        Ok(())
    }

    #[test]
    fn a_prefix_is_one_read_and_says_whether_it_is_the_whole_file() -> TestResult {
        let temp = tempfile::tempdir()?;
        fs::write(temp.path().join("small"), b"{\"a\": 1}")?;
        fs::write(temp.path().join("large"), vec![7u8; 10_000])?;
        symlink("small", temp.path().join("link"))?;
        let dir = Dir::open(temp.path())?;
        let small = dir.read_prefix(OsStr::new("small"), 4096)?.ok_or("small")?;
        assert_eq!(
            (small.bytes.as_slice(), small.whole),
            (&b"{\"a\": 1}"[..], true)
        );
        let large = dir.read_prefix(OsStr::new("large"), 4096)?.ok_or("large")?;
        assert_eq!((large.bytes.len(), large.whole), (4096, false));
        assert_eq!(large.stat()?.size, 10_000);
        assert!(dir.read_prefix(OsStr::new("missing"), 4096)?.is_none());
        let refused = dir
            .read_prefix(OsStr::new("link"), 4096)
            .err()
            .map(|e| e.to_string());
        assert_eq!(refused.as_deref(), Some("is a symlink: not followed"));
        Ok(())
    }

    #[test]
    fn a_fifo_in_place_of_a_file_is_read_as_empty_without_blocking() -> TestResult {
        let temp = tempfile::tempdir()?;
        crate::test_support::make_fifo(temp.path().join("fifo"))?;
        let dir = Dir::open(temp.path())?;
        let read = dir.read_prefix(OsStr::new("fifo"), 4096)?.ok_or("fifo")?;
        assert!(read.bytes.is_empty() && read.whole);
        assert_eq!(read.stat()?.kind, Kind::Fifo);
        Ok(())
    }

    #[test]
    fn a_subdirectory_symlink_is_followed_only_when_asked() -> TestResult {
        let temp = tempfile::tempdir()?;
        fs::create_dir(temp.path().join("real"))?;
        symlink("real", temp.path().join("link"))?;
        let dir = Dir::open(temp.path())?;
        assert!(dir.open_subdir(OsStr::new("link"), true)?.is_some());
        assert!(dir.open_subdir(OsStr::new("link"), false).is_err());
        assert!(dir.open_subdir(OsStr::new("absent"), false)?.is_none());
        Ok(())
    }
}
