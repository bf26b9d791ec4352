//! Reading a file the operator names on the command line (`--inventory`, `--ack-unreadable`):
//! `-` for standard input, a regular file, or a pipe such as `<(openstack server list ...)`.
//!
//! Reads are bounded: a file larger than the limit is an error that says so, not a confusing
//! parse error at the cut. A FIFO that nobody writes to does not hang the command: it is read
//! without blocking, waiting at most [`IDLE_TIMEOUT`] for each piece of data.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

/// How long a pipe may stay silent before its reading is given up.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// The contents of `path` (`-`: standard input), at most `max_len` bytes.
pub fn read_input(path: &Path, max_len: u64) -> io::Result<Vec<u8>> {
    if path == Path::new("-") {
        return read_bounded(io::stdin().lock(), max_len);
    }
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let file = File::from(fd);
    let meta = file.metadata()?;
    if meta.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "is a directory, not a file",
        ));
    }
    if meta.is_file() {
        if meta.len() > max_len {
            return Err(too_large(max_len));
        }
        return read_bounded(file, max_len);
    }
    read_bounded(
        PatientReader {
            file,
            timeout: IDLE_TIMEOUT,
        },
        max_len,
    )
}

/// Everything `reader` yields, or an error if that is more than `max_len` bytes.
fn read_bounded(reader: impl Read, max_len: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader
        .take(max_len.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max_len {
        return Err(too_large(max_len));
    }
    Ok(bytes)
}

fn too_large(max_len: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("larger than {} MiB", max_len >> 20),
    )
}

/// A non-blocking pipe or FIFO read as a blocking one, that gives up after `timeout` without
/// data. (A FIFO opened before any writer reads as ended at once; waiting in `poll` first makes
/// it wait for its writer instead.)
struct PatientReader {
    file: File,
    timeout: Duration,
}

impl Read for PatientReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let timeout = Timespec::try_from(self.timeout).map_err(io::Error::other)?;
        loop {
            let mut fds = [PollFd::new(&self.file, PollFlags::IN)];
            match poll(&mut fds, Some(&timeout)) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "nothing was written to it for {} s (is anything writing to it?)",
                            self.timeout.as_secs()
                        ),
                    ));
                }
                Ok(_) => {}
                Err(Errno::INTR) => continue,
                Err(err) => return Err(err.into()),
            }
            match (&self.file).read(buf) {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
                other => return other,
            }
        }
    }
}

/// The 1-based line and column (in characters) of byte `at` of `bytes`, whose bytes before `at`
/// are UTF-8.
pub(crate) fn line_column(bytes: &[u8], at: usize) -> (usize, usize) {
    let before = &bytes[..at.min(bytes.len())];
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |nl| nl + 1);
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let column = 1 + String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count();
    (line, column)
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::time::Instant;

    use super::*;

    #[test]
    fn regular_files_are_bounded_with_a_clear_error() -> io::Result<()> {
        let temp = tempfile::tempdir()?;
        let path = temp.path().join("inventory.json");
        std::fs::write(&path, vec![b' '; 3 << 20])?;
        assert_eq!(read_input(&path, 3 << 20)?.len(), 3 << 20);
        let err = read_input(&path, 2 << 20).expect_err("too large");
        assert_eq!(err.to_string(), "larger than 2 MiB");
        let err = read_input(temp.path(), 1 << 20).expect_err("a directory");
        assert_eq!(err.to_string(), "is a directory, not a file");
        Ok(())
    }

    #[test]
    fn a_fifo_waits_for_its_writer_but_not_forever() -> io::Result<()> {
        let temp = tempfile::tempdir()?;
        let path = temp.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &path,
            rustix::fs::FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )?;
        // A writer that comes late and writes in two pieces.
        let writer_path = path.clone();
        let writer = std::thread::spawn(move || -> io::Result<()> {
            std::thread::sleep(Duration::from_millis(200));
            let mut fifo = std::fs::OpenOptions::new().write(true).open(writer_path)?;
            fifo.write_all(b"{\"instances\": ")?;
            std::thread::sleep(Duration::from_millis(100));
            fifo.write_all(b"[]}")
        });
        assert_eq!(read_input(&path, 1 << 20)?, b"{\"instances\": []}");
        writer
            .join()
            .map_err(|_| io::Error::other("writer panicked"))??;

        // Nobody writes: the reading gives up.
        let fd = rustix::fs::open(
            &path,
            OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let start = Instant::now();
        let mut silent = PatientReader {
            file: File::from(fd),
            timeout: Duration::from_millis(300),
        };
        let err = silent.read(&mut [0; 16]).expect_err("nobody writes");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(start.elapsed() < Duration::from_secs(5));
        Ok(())
    }
}
