//! Reading a header from a file: the crate's only I/O, safe on FIFOs, devices and huge files.

use std::fs::{File, FileType, Metadata};
use std::io::{self, Read, Seek};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};

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
/// Anything but a regular file is refused without being read: the path is `stat`ed first so
/// that a device is not even opened (opening some devices has effects), then opened with
/// `O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC` (a FIFO or device swapped in meanwhile never
/// blocks the open) and checked again with `fstat`. The identity and size come from that
/// `fstat`. At most [`MAX_HEADER_BYTES`] + 4 KiB are read.
pub fn read_header(path: &Path) -> Result<ReadHeader, ReadError> {
    let io_error = |source: io::Error| match source.kind() {
        io::ErrorKind::NotFound => ReadError::NotFound(path.to_path_buf()),
        _ => ReadError::Io {
            path: path.to_path_buf(),
            source,
        },
    };
    regular_file(path, &std::fs::metadata(path).map_err(io_error)?)?;
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let fd = rustix::fs::open(path, flags, Mode::empty()).map_err(|e| io_error(e.into()))?;
    let file = File::from(fd);
    let meta = file.metadata().map_err(io_error)?;
    regular_file(path, &meta)?;
    let len = meta.len();

    let mut buf = Vec::with_capacity(PREFIX_LEN);
    read_up_to(&file, &mut buf, PREFIX_LEN).map_err(io_error)?;
    let header_error = |source| ReadError::Header {
        path: path.to_path_buf(),
        source,
    };
    let needed = bytes_needed(&buf)
        .map_err(header_error)?
        .min(MAX_HEADER_BYTES);
    if needed > buf.len() {
        read_up_to(&file, &mut buf, needed).map_err(io_error)?;
    }
    let header = match parse_header(&buf, len) {
        // A VHDX keeps its sizes in a metadata region further in: read its first bytes too.
        Err(HeaderError::VhdxMetadata { offset, len: want }) => {
            let mut region = Vec::new();
            let mut reader = &file;
            reader.seek(io::SeekFrom::Start(offset)).map_err(io_error)?;
            reader
                .take(want.min(MAX_METADATA_READ))
                .read_to_end(&mut region)
                .map_err(io_error)?;
            parse_vhdx_metadata(&region, offset)
        }
        other => other,
    }
    .map_err(header_error)?;
    Ok(ReadHeader {
        header,
        dev: meta.dev(),
        ino: meta.ino(),
        len,
        allocated: meta.blocks().saturating_mul(512),
        mtime: meta.mtime(),
    })
}

/// Refuses anything that is not a regular file.
fn regular_file(path: &Path, meta: &Metadata) -> Result<(), ReadError> {
    let file_type = meta.file_type();
    if file_type.is_file() {
        Ok(())
    } else {
        Err(ReadError::NotRegularFile {
            path: path.to_path_buf(),
            kind: kind_name(file_type),
        })
    }
}

/// What to call a file of this type in a message.
pub(crate) fn kind_name(file_type: FileType) -> &'static str {
    if file_type.is_dir() {
        "directory"
    } else if file_type.is_fifo() {
        "fifo"
    } else if file_type.is_socket() {
        "socket"
    } else if file_type.is_block_device() {
        "block device"
    } else if file_type.is_char_device() {
        "character device"
    } else if file_type.is_symlink() {
        "symlink"
    } else if file_type.is_file() {
        "regular file"
    } else {
        "unknown file type"
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
    use std::time::{Duration, Instant};

    use super::*;
    use crate::create::{Qcow2Spec, create_image};
    use crate::disk::Format;

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
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &path,
            rustix::fs::FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .expect("mkfifo");
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
