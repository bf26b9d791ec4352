//! The page cache's view of a file: which of its pages are in memory, and dropping pages.

use std::fs::File;
use std::io;
use std::num::NonZeroU64;
use std::os::fd::AsRawFd;

/// The size of a page of the page cache, in bytes: the unit of [`cached_pages`].
pub fn page_size() -> u64 {
    rustix::param::page_size() as u64
}

/// Which pages of `file` are in the page cache, from `offset` (a multiple of [`page_size`]) for
/// `len` bytes: one `bool` per page, `true` for a page in memory.
///
/// Asked with `mincore(2)` on a read-only mapping of the range that is never read: no page is
/// brought in, none counts as the process's memory, and a file truncated meanwhile cannot fault
/// (SIGBUS comes only from touching a page). A range past the end of the file reads as not
/// cached. `len` 0 gives no pages.
pub fn cached_pages(file: &File, offset: u64, len: usize) -> io::Result<Vec<bool>> {
    if len == 0 {
        return Ok(Vec::new());
    }
    let page = page_size();
    if !offset.is_multiple_of(page) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("offset {offset} is not a multiple of the page size {page}"),
        ));
    }
    let mut vector = vec![0u8; len.div_ceil(page as usize)];
    mincore_of(file, offset, len, &mut vector)?;
    // The kernel sets the lowest bit of a page's byte if it is resident; the others are reserved.
    Ok(vector.iter().map(|byte| byte & 1 == 1).collect())
}

/// `mmap`, `mincore`, `munmap`: the residency of `len` bytes of `file` from `offset` in `vector`
/// (one byte per page, as long as `len` needs).
///
/// The one place this crate calls the kernel unsafely: rustix wraps neither `mincore` nor a safe
/// `mmap` (a mapping is memory that the file can change or truncate under the program), and no
/// other call says which pages of a file are cached on every kernel and filesystem (`cachestat`
/// needs Linux 6.5; `preadv2(RWF_NOWAIT)` is refused with `EOPNOTSUPP` where a filesystem has no
/// non-blocking reads, and tells nothing about pages it does not read, so it cannot tell the
/// reader's own read-ahead from pages cached before). Sound because the mapping never leaves
/// this function and is never read or written: it exists only so that `mincore` can be asked
/// about its pages.
#[allow(unsafe_code)]
fn mincore_of(file: &File, offset: u64, len: usize, vector: &mut [u8]) -> io::Result<()> {
    let page = page_size() as usize;
    assert!(
        vector.len() >= len.div_ceil(page),
        "one byte per page of the range"
    );
    let offset =
        libc::off_t::try_from(offset).map_err(|_| io::Error::from_raw_os_error(libc::EOVERFLOW))?;
    // SAFETY: a new read-only shared mapping at an address the kernel chooses: it cannot overlap
    // memory the program uses. The file descriptor is open for reading (and borrowed for the
    // call); the result is checked before use.
    let address = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            offset,
        )
    };
    if address == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `address` is the start of the `len` bytes just mapped, and `vector` holds at least
    // one byte for each of their pages (asserted above), which is all mincore writes.
    let asked = unsafe { libc::mincore(address, len, vector.as_mut_ptr()) };
    let error = (asked != 0).then(io::Error::last_os_error);
    // SAFETY: unmaps exactly the mapping made above, which nothing refers to: it was never read
    // and its address does not leave this function.
    unsafe { libc::munmap(address, len) };
    error.map_or(Ok(()), Err)
}

/// Drops the pages of `file` from `offset` for `len` bytes from the page cache
/// (`POSIX_FADV_DONTNEED`): those that are clean and nobody maps; the others stay. Only whole
/// pages in the range are dropped; a range that runs past the end of the file covers its last
/// page.
pub fn drop_cached(file: &File, offset: u64, len: u64) -> io::Result<()> {
    let Some(len) = NonZeroU64::new(len) else {
        return Ok(());
    };
    rustix::fs::fadvise(file, offset, Some(len), rustix::fs::Advice::DontNeed)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn past_the_end_is_not_cached_and_a_bad_offset_is_refused() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("file");
        File::create(&path)?.write_all(b"one page")?;
        let file = File::open(&path)?;
        let past = cached_pages(&file, 4 * page_size(), 2 * page_size() as usize)?;
        assert_eq!(past, vec![false; 2]);
        assert_eq!(cached_pages(&file, 0, 0)?, Vec::<bool>::new());
        let err = cached_pages(&file, 1, 1).expect_err("an offset inside a page");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        Ok(())
    }
}
