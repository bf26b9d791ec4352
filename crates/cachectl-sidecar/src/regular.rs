//! Opening and reading files that must be regular, without ever blocking on a FIFO or device.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use rustix::fs::OFlags;

/// Opens `path` for reading without blocking (a FIFO or device named like the file cannot hang
/// the caller) and refuses anything but a regular file (`InvalidInput`, "not a regular file").
pub fn open_regular(path: &Path) -> io::Result<File> {
    open_regular_sized(path).map(|(file, _)| file)
}

/// [`open_regular`], and the file's size as `fstat` said it.
fn open_regular_sized(path: &Path) -> io::Result<(File, u64)> {
    let file = File::options()
        .read(true)
        .custom_flags((OFlags::NONBLOCK | OFlags::NOCTTY).bits() as i32)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok((file, meta.len()))
}

/// The whole of a small regular file: `Ok(None)` if it does not exist; `InvalidData` if it is
/// larger than `max_len` bytes.
pub fn read_small_file(path: &Path, max_len: u64) -> io::Result<Option<Vec<u8>>> {
    let (file, len) = match open_regular_sized(path) {
        Ok(opened) => opened,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err),
    };
    // Room for the whole file and one byte more: one read, and one that finds the end (a scan
    // reads one disk.info per instance).
    let capacity = usize::try_from(len.min(max_len)).map_or(0, |n| n.saturating_add(1));
    let mut bytes = Vec::with_capacity(capacity);
    file.take(max_len.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max_len {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {max_len} bytes"),
        ));
    }
    Ok(Some(bytes))
}
