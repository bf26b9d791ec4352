//! Reading a header from a file: the crate's only I/O, safe on FIFOs, devices and huge files.

use std::fs::File;
use std::io::{self, Read, Seek};
use std::path::{Path, PathBuf};

use cachectl_fs::{FileStat, Kind, NotRegular, open_regular_path, stat_path};

use crate::disk::DiskHeader;
use crate::error::HeaderError;
use crate::probe::{bytes_needed, parse_header};
use crate::source::MAX_HEADER_BYTES;
use crate::vhdx::{MAX_METADATA_READ, parse_vhdx_metadata};

/// Bytes read before asking [`bytes_needed`] how many more.
const PREFIX_LEN: usize = 4096;

/// A parsed header with the identity of the file it came from (taken from the open file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadHeader {
    /// The parsed header.
    pub header: DiskHeader,
    /// Device of the file.
    pub dev: u64,
    /// Inode of the file.
    pub ino: u64,
    /// Size of the file in bytes.
    pub len: u64,
    /// Bytes allocated on disk (`st_blocks * 512`).
    pub allocated: u64,
    /// Modification time, seconds since the Unix epoch.
    pub mtime: i64,
}

/// Why a header could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// Nothing at that path (or a dangling symlink).
    #[error("{0:?} does not exist")]
    NotFound(PathBuf),
    /// Something other than a regular file; it was not read.
    #[error("{path:?} is a {kind}, not a regular file")]
    NotRegularFile {
        /// The path given.
        path: PathBuf,
        /// "directory", "fifo", "socket", "block device", "character device", "symlink"
        /// or "unknown file type".
        kind: &'static str,
    },
    /// Opening, inspecting or reading the file failed.
    #[error("cannot read {path:?}")]
    Io {
        /// The path given.
        path: PathBuf,
        /// The failure.
        #[source]
        source: io::Error,
    },
    /// The header is not one QEMU would open.
    #[error("invalid disk header in {path:?}")]
    Header {
        /// The path given.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: HeaderError,
    },
}

impl ReadError {
    /// The file that could not be read.
    pub fn path(&self) -> &Path {
        match self {
            Self::NotFound(path)
            | Self::NotRegularFile { path, .. }
            | Self::Io { path, .. }
            | Self::Header { path, .. } => path,
        }
    }

    /// What is wrong, without the path: for messages that name the file already.
    pub fn problem(&self) -> String {
        match self {
            Self::NotFound(_) => "does not exist".to_owned(),
            Self::NotRegularFile { kind, .. } => format!("is a {kind}, not a regular file"),
            Self::Io { source, .. } => source.to_string(),
            Self::Header { source, .. } => format!("invalid disk header: {source}"),
        }
    }
}

/// Reads and parses the header of the file at `path`, following a final symlink.
///
/// Anything but a regular file is refused without being read
/// ([`cachectl_fs::open_regular_path`]): the path is `stat`ed first so that a device is not even
/// opened (opening some devices has effects), then opened with
/// `O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC` (a FIFO or device swapped in meanwhile never
/// blocks the open) and checked again with `fstat`. The identity and size come from that
/// `fstat`. At most the first [`MAX_HEADER_BYTES`] (2 MiB) of the file are read, and for a VHDX
/// at most [`MAX_METADATA_READ`] (1 MiB) more from its metadata region.
pub fn read_header(path: &Path) -> Result<ReadHeader, ReadError> {
    let (file, stat) = open_regular_path(path).map_err(|err| open_error(path, err))?;
    let buf = read_first_bytes(&file, path)?;
    let header = match parse_header(&buf, stat.size) {
        // A VHDX keeps its sizes in a metadata region further in: read its first bytes too.
        Err(HeaderError::VhdxMetadata { offset, len }) => {
            let region = read_at(&file, offset, len.min(MAX_METADATA_READ))
                .map_err(|err| io_error(path, err))?;
            parse_vhdx_metadata(&region, offset)
        }
        other => other,
    }
    .map_err(|source| header_error(path, source))?;
    Ok(ReadHeader::of(header, &stat))
}

/// The header of a file the caller opened and read the first bytes of (`prefix`; `len` is the
/// file's size): what [`read_header`] reads, without opening it again. The bytes the header
/// needs beyond `prefix` (at most [`MAX_HEADER_BYTES`] in all), and a VHDX's metadata, are read
/// from `file`.
pub fn header_from_prefix(
    file: &File,
    prefix: &[u8],
    len: u64,
    path: &Path,
) -> Result<DiskHeader, ReadError> {
    let needed = bytes_needed(prefix)
        .map_err(|source| header_error(path, source))?
        .min(MAX_HEADER_BYTES);
    let more;
    let buf = if needed > prefix.len() && len > prefix.len() as u64 {
        let mut all = prefix.to_vec();
        let rest = read_at(file, prefix.len() as u64, (needed - prefix.len()) as u64)
            .map_err(|err| io_error(path, err))?;
        all.extend(rest);
        more = all;
        more.as_slice()
    } else {
        prefix
    };
    match parse_header(buf, len) {
        // A VHDX keeps its sizes in a metadata region further in: read its first bytes too.
        Err(HeaderError::VhdxMetadata { offset, len }) => {
            let region = read_at(file, offset, len.min(MAX_METADATA_READ))
                .map_err(|err| io_error(path, err))?;
            parse_vhdx_metadata(&region, offset)
        }
        other => other,
    }
    .map_err(|source| header_error(path, source))
}

/// What `stat` says of a backing file declared raw, as a [`ReadHeader`] of a raw disk: the
/// file is never opened, since its bytes are guest data that must not be probed. A raw backing
/// file may be a block device (a volume); anything else that is not a regular file (a FIFO, a
/// directory, a character device) is no disk.
pub(crate) fn stat_declared_raw(path: &Path) -> Result<ReadHeader, ReadError> {
    let stat = stat_path(path).map_err(|err| io_error(path, err))?;
    if stat.kind != Kind::Regular && stat.kind != Kind::BlockDevice {
        return Err(ReadError::NotRegularFile {
            path: path.to_path_buf(),
            kind: stat.kind.name(),
        });
    }
    Ok(ReadHeader::of(DiskHeader::raw(stat.size), &stat))
}

impl ReadHeader {
    fn of(header: DiskHeader, stat: &FileStat) -> Self {
        Self {
            header,
            dev: stat.dev,
            ino: stat.ino,
            len: stat.size,
            allocated: stat.allocated,
            mtime: stat.mtime,
        }
    }
}

/// The first bytes of the file: [`PREFIX_LEN`], then as many as [`bytes_needed`] asks for.
fn read_first_bytes(file: &File, path: &Path) -> Result<Vec<u8>, ReadError> {
    let mut buf = Vec::with_capacity(PREFIX_LEN);
    read_up_to(file, &mut buf, PREFIX_LEN).map_err(|err| io_error(path, err))?;
    let needed = bytes_needed(&buf)
        .map_err(|source| header_error(path, source))?
        .min(MAX_HEADER_BYTES);
    if needed > buf.len() {
        read_up_to(file, &mut buf, needed).map_err(|err| io_error(path, err))?;
    }
    Ok(buf)
}

/// Up to `len` bytes at `offset` (fewer if the file ends first).
fn read_at(file: &File, offset: u64, len: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let mut reader = file;
    reader.seek(io::SeekFrom::Start(offset))?;
    reader.take(len).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Why `path` could not be opened: not a regular file, not there, or another failure.
fn open_error(path: &Path, err: io::Error) -> ReadError {
    match NotRegular::of(&err) {
        Some(refused) => ReadError::NotRegularFile {
            path: path.to_path_buf(),
            kind: refused.kind.name(),
        },
        None => io_error(path, err),
    }
}

/// A failure to stat, open or read `path`: [`ReadError::NotFound`] if nothing is there.
fn io_error(path: &Path, source: io::Error) -> ReadError {
    match source.kind() {
        io::ErrorKind::NotFound => ReadError::NotFound(path.to_path_buf()),
        _ => ReadError::Io {
            path: path.to_path_buf(),
            source,
        },
    }
}

fn header_error(path: &Path, source: HeaderError) -> ReadError {
    ReadError::Header {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads from the file until `buf` holds `total` bytes or the file ends.
fn read_up_to(file: &File, buf: &mut Vec<u8>, total: usize) -> io::Result<()> {
    let want = total.saturating_sub(buf.len());
    let want = u64::try_from(want).unwrap_or(u64::MAX);
    file.take(want).read_to_end(buf)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;
    use std::time::{Duration, Instant};

    use rustix::fs::Mode;

    use super::*;
    use crate::create::{Qcow2Spec, create_image};
    use crate::disk::Format;

    fn make_fifo(path: &Path) {
        rustix::fs::mknodat(
            rustix::fs::CWD,
            path,
            rustix::fs::FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .expect("mkfifo");
    }

    #[test]
    fn reads_a_qcow2_image_and_its_identity() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("disk");
        let spec = Qcow2Spec {
            backing_file: Some(b"../_base/abc"),
            backing_format: Some("raw"),
            ..Qcow2Spec::new(1 << 30)
        };
        let bytes = create_image(&spec).expect("create");
        std::fs::write(&path, &bytes).expect("write");
        let read = read_header(&path).expect("read");
        assert_eq!(read.header.format, Format::Qcow2);
        assert_eq!(
            read.header.backing_file.as_deref(),
            Some(&b"../_base/abc"[..])
        );
        assert_eq!(read.len, u64::try_from(bytes.len()).expect("len"));
        let meta = std::fs::metadata(&path).expect("metadata");
        assert_eq!(
            (read.dev, read.ino, read.mtime),
            (meta.dev(), meta.ino(), meta.mtime())
        );
    }

    #[test]
    fn reads_raw_files_of_any_size() {
        let dir = tempfile::tempdir().expect("tempdir");
        for len in [0usize, 3, 100, 4096, 70_000] {
            let path = dir.path().join(format!("raw{len}"));
            std::fs::write(&path, vec![0xab; len]).expect("write");
            let read = read_header(&path).expect("read");
            let len = u64::try_from(len).expect("len");
            assert_eq!(read.header, DiskHeader::raw(len));
        }
    }

    #[test]
    fn a_backing_name_past_the_prefix_is_read() {
        // The backing name at the end of a 2 MiB cluster: read in the second round.
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("disk");
        let spec = Qcow2Spec {
            cluster_bits: 21,
            ..Qcow2Spec::new(1 << 30)
        };
        let mut bytes = create_image(&spec).expect("create");
        let offset: u64 = (1 << 21) - 4;
        bytes[8..16].copy_from_slice(&offset.to_be_bytes());
        bytes[16..20].copy_from_slice(&4u32.to_be_bytes());
        bytes[(1 << 21) - 4..1 << 21].copy_from_slice(b"base");
        std::fs::write(&path, &bytes).expect("write");
        let read = read_header(&path).expect("read");
        assert_eq!(read.header.backing_file.as_deref(), Some(&b"base"[..]));
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("disk");
        make_fifo(&path);
        let start = Instant::now();
        let err = read_header(&path).expect_err("a fifo");
        assert!(start.elapsed() < Duration::from_secs(2));
        assert!(
            matches!(err, ReadError::NotRegularFile { kind: "fifo", .. }),
            "{err:?}"
        );
        // Also through a symlink, which is followed.
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&path, &link).expect("symlink");
        let err = read_header(&link).expect_err("a fifo");
        assert!(
            matches!(err, ReadError::NotRegularFile { kind: "fifo", .. }),
            "{err:?}"
        );
    }

    #[test]
    fn a_directory_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = read_header(dir.path()).expect_err("a directory");
        assert!(
            matches!(
                err,
                ReadError::NotRegularFile {
                    kind: "directory",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .ends_with("is a directory, not a regular file"),
            "{err}"
        );
    }

    #[test]
    fn a_character_device_is_refused() {
        let err = read_header(Path::new("/dev/zero")).expect_err("a device");
        assert!(
            matches!(
                err,
                ReadError::NotRegularFile {
                    kind: "character device",
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn a_socket_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sock");
        let _listener = std::os::unix::net::UnixListener::bind(&path).expect("bind");
        let err = read_header(&path).expect_err("a socket");
        assert!(
            matches!(err, ReadError::NotRegularFile { kind: "socket", .. }),
            "{err:?}"
        );
    }

    #[test]
    fn missing_files_and_dangling_links_are_not_found() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("missing");
        let err = read_header(&path).expect_err("missing");
        assert!(
            matches!(&err, ReadError::NotFound(p) if *p == path),
            "{err:?}"
        );
        let link = dir.path().join("dangling");
        std::os::unix::fs::symlink(&path, &link).expect("symlink");
        assert!(matches!(read_header(&link), Err(ReadError::NotFound(_))));
    }

    #[test]
    fn a_file_declared_raw_is_stated_never_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("base");
        // A qcow2 magic in a file declared raw is guest data: not probed.
        let bytes = create_image(&Qcow2Spec::new(1 << 30)).expect("create");
        std::fs::write(&path, &bytes).expect("write");
        let read = stat_declared_raw(&path).expect("a regular file");
        let len = u64::try_from(bytes.len()).expect("len");
        assert_eq!((read.header, read.len), (DiskHeader::raw(len), len));
        let meta = std::fs::metadata(&path).expect("metadata");
        assert_eq!((read.dev, read.ino), (meta.dev(), meta.ino()));
        let fifo = dir.path().join("fifo");
        make_fifo(&fifo);
        for (path, kind) in [
            (fifo.as_path(), "fifo"),
            (dir.path(), "directory"),
            (Path::new("/dev/zero"), "character device"),
        ] {
            let err = stat_declared_raw(path).expect_err("no disk");
            assert!(
                matches!(err, ReadError::NotRegularFile { kind: k, .. } if k == kind),
                "{err:?}"
            );
        }
        let missing = dir.path().join("missing");
        assert!(matches!(
            stat_declared_raw(&missing),
            Err(ReadError::NotFound(p)) if p == missing
        ));
    }

    #[test]
    fn a_bad_header_names_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("disk");
        let mut bytes = create_image(&Qcow2Spec::new(1 << 20)).expect("create");
        bytes[20..24].copy_from_slice(&22u32.to_be_bytes());
        std::fs::write(&path, &bytes).expect("write");
        let err = read_header(&path).expect_err("bad cluster bits");
        assert!(
            matches!(
                &err,
                ReadError::Header {
                    source: HeaderError::InvalidClusterBits(22),
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn a_truncated_image_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("disk");
        let bytes = create_image(&Qcow2Spec::new(1 << 20)).expect("create");
        std::fs::write(&path, &bytes[..50]).expect("write");
        let err = read_header(&path).expect_err("truncated");
        assert!(
            matches!(
                &err,
                ReadError::Header {
                    source: HeaderError::Truncated {
                        needed: 104,
                        have: 50
                    },
                    ..
                }
            ),
            "{err:?}"
        );
    }
}
