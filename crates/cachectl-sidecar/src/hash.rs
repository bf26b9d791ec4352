//! Streaming SHA-1 of whole files, in bounded memory.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::io::{self, Read};
use std::path::Path;

use cachectl_fs::Dir;
use sha1::{Digest, Sha1};

use crate::spare::SparingReader;

/// Size of the read buffer: one per file being hashed, whatever the file's size.
///
/// Measured on an idle AMD EPYC with SHA-NI (the `cargo xtask bench` machine), four 1 GiB files
/// in a warm page cache, page-aligned buffers, best of three:
///
/// | reads of | 1 thread | 2 threads |
/// | --- | ---: | ---: |
/// | 64 KiB | 1443 MB/s | 2876 MB/s |
/// | 128 KiB | 1449 MB/s | 2901 MB/s |
/// | 256 KiB | 1451 MB/s | 2901 MB/s |
/// | 1 MiB | 1460 MB/s | 2893 MB/s |
/// | 4 MiB | 1458 MB/s | 2876 MB/s |
/// | 8 MiB | 1457 MB/s | 2847 MB/s |
/// | memory map (memmap2) | 1514 MB/s | 2912 MB/s |
///
/// SHA-1 of a buffer already in memory runs at 1677 MB/s (the `sha1` crate picks SHA-NI at run
/// time, or the SHA extensions on ARM; its portable code, 0.10's `force-soft`, ran at 553 MB/s),
/// `openssl speed -evp sha1` at 1666 MB/s. (Table measured with sha1 0.10.7, same speed.) From a
/// warm cache the size makes no difference; 1 MiB makes a cold read reach the disk or the NFS
/// server in large requests. A memory map is no faster on two threads and is not used: mapping
/// takes `unsafe` (the workspace forbids it), a file truncated while mapped (Nova replacing a
/// download) kills the process with SIGBUS, and every mapped page counts as resident memory.
pub const HASH_BUFFER_LEN: usize = 1 << 20;

/// The buffer starts on a page boundary: see [`hash_reader_with`].
const PAGE: usize = 4096;

/// A SHA-1 digest in lowercase hex, as sidecars store it.
pub type Sha1Hex = String;

/// The SHA-1 of the regular file at `path`, in lowercase hex. A symlink in its last component is
/// refused, and so is anything but a regular file (a FIFO, a device), without blocking.
pub fn hash_file(path: &Path) -> io::Result<Sha1Hex> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => Dir::open(parent)?,
        _ => Dir::open(Path::new("."))?,
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"))?;
    hash_entry_with(&dir, name, &mut |_| {})
}

/// The SHA-1 of the regular file `name` of `dir`, as [`hash_file`]; `progress` is called with the
/// number of bytes of each read as it goes.
///
/// The file is read with the kernel's sequential read-ahead, so a file that is not in memory is
/// read at the speed of its disk, and the page cache is left as it was found: the pages that
/// were not cached before are dropped once hashed, those that were stay ([`SparingReader`]).
pub fn hash_entry_with(
    dir: &Dir,
    name: &OsStr,
    progress: &mut dyn FnMut(u64),
) -> io::Result<Sha1Hex> {
    let (file, stat) = dir.open_regular(name)?;
    // Read-ahead for a file read once from start to end; only a hint, so a refusal is no error.
    let _ = rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::Sequential);
    hash_reader_with(SparingReader::new(file, stat.size), progress)
}

/// The SHA-1 of everything `reader` yields, in lowercase hex.
pub fn hash_reader(reader: impl Read) -> io::Result<Sha1Hex> {
    hash_reader_with(reader, &mut |_| {})
}

/// Like [`hash_reader`], calling `progress` with the number of bytes of each read.
pub fn hash_reader_with(
    mut reader: impl Read,
    progress: &mut dyn FnMut(u64),
) -> io::Result<Sha1Hex> {
    let mut hasher = Sha1::new();
    // Page-aligned: `read` copies from the page cache page by page, and a destination 8 or 16
    // bytes past a page boundary (where malloc puts a block this large) made that copy 30 %
    // slower on the bench machine (979 MB/s against 1413 MB/s aligned, one thread).
    let mut storage = vec![0u8; HASH_BUFFER_LEN + PAGE];
    let start = storage.as_ptr().align_offset(PAGE).min(PAGE);
    let buffer = &mut storage[start..start + HASH_BUFFER_LEN];
    loop {
        match reader.read(buffer) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(&buffer[..n]);
                progress(n as u64);
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(lower_hex(&hasher.finalize()))
}

/// Bytes in lowercase hex, as sidecars store digests.
fn lower_hex(bytes: &[u8]) -> Sha1Hex {
    bytes
        .iter()
        .fold(String::with_capacity(40), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests() -> io::Result<()> {
        assert_eq!(
            hash_reader(&b""[..])?,
            "da39a3ee5e6b4b0d3255bfef95601890afd80709"
        );
        assert_eq!(
            hash_reader(&b"data"[..])?,
            "a17c9aaa61e80a1bf71d0d850af4e5baa9800bbd"
        );
        // Longer than one buffer, so the digest spans several reads.
        let long = vec![7u8; HASH_BUFFER_LEN * 2 + 3];
        assert_eq!(hash_reader(&long[..])?, lower_hex(&Sha1::digest(&long)));
        Ok(())
    }
}
