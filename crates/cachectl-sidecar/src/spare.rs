//! Reading a file once from start to end without leaving it in the page cache.
//!
//! Hashing a base image of tens of GiB through the page cache would evict the memory that the
//! host's running VMs depend on. [`SparingReader`] reads the file as any reader does (with the
//! kernel's sequential read-ahead), and drops every page it has consumed that was not cached
//! before it came near (`POSIX_FADV_DONTNEED`); pages that were cached before stay cached.

use std::fs::File;
use std::io::{self, Read};

use cachectl_fs::{cached_pages, drop_cached, page_size};

/// How many bytes of the file one look at the page cache covers (`mincore` on a mapping of that
/// size, one byte of answer per page: 16 KiB for 4 KiB pages).
///
/// The page cache of a window is looked at while the reader is still a whole window before it:
/// the kernel's read-ahead (twice `read_ahead_kb` for a sequential reader, and up to twice that
/// ahead of it: 32 MiB on the bench machine, 512 KiB at the usual 128 KiB) has then brought in
/// none of its pages, so what is cached there was cached before the reader came. Were the
/// read-ahead longer than a window, pages it brought in would be taken for cached before and
/// kept: more memory used, never a page of someone else's dropped.
const WINDOW: u64 = 64 << 20;

/// Which pages of one window of the file were cached before the reader came near.
#[derive(Debug)]
struct Window {
    /// Its first byte in the file.
    start: u64,
    /// One entry per page; `None` if the page cache could not be asked (then nothing is dropped).
    cached: Option<Vec<bool>>,
}

impl Window {
    /// Whether the page at byte `offset` of the file (in this window) was cached, or unknown.
    fn keeps(&self, offset: u64, page: u64) -> bool {
        let index = ((offset - self.start) / page) as usize;
        self.cached
            .as_ref()
            .is_none_or(|cached| cached.get(index).copied().unwrap_or(true))
    }
}

/// A reader of a whole file, front to back, that leaves the page cache as it found it.
///
/// The bytes a `read` returned count as consumed when `read` is called again: only then are
/// their pages dropped (at the end of the file, in the call that returns 0).
#[derive(Debug)]
pub(crate) struct SparingReader {
    file: File,
    /// The file's size when opened: windows past it are not looked at.
    size: u64,
    page: u64,
    /// Bytes read so far.
    position: u64,
    /// Pages before this byte have been dropped or kept.
    settled: u64,
    /// Where the run of pages not cached before that ends at `settled` starts, if one does.
    run_start: Option<u64>,
    /// The window the reader is in, and the next one.
    windows: [Window; 2],
}

impl SparingReader {
    /// A reader of `file` (of `size` bytes, positioned at its start) that spares the page cache.
    pub(crate) fn new(file: File, size: u64) -> Self {
        let page = page_size();
        let windows = [look(&file, size, 0), look(&file, size, WINDOW)];
        Self {
            file,
            size,
            page,
            position: 0,
            settled: 0,
            run_start: None,
            windows,
        }
    }

    /// Drops or keeps every whole page before byte `end`, as the windows say.
    fn settle(&mut self, end: u64) {
        let end = end - end % self.page;
        while self.settled < end {
            if self.settled >= self.windows[1].start {
                self.advance();
            }
            let stop = end.min(self.windows[1].start);
            self.settle_within(stop);
        }
    }

    /// Moves to the next window, and looks at the one after it.
    fn advance(&mut self) {
        let next = look(&self.file, self.size, self.windows[1].start + WINDOW);
        self.windows.swap(0, 1);
        self.windows[1] = next;
    }

    /// Settles the pages up to `stop` (within the current window): drops the pages of each run
    /// that were not cached before, in one call per run.
    ///
    /// A run that goes on from the last call is dropped again from its start: the kernel drops
    /// only the folios that lie wholly in the range, and read-ahead brings a file in as folios
    /// of up to a few MiB, which straddle the end of what the reader had consumed. (Pages
    /// already dropped cost the kernel nothing to skip.)
    fn settle_within(&mut self, stop: u64) {
        let window = &self.windows[0];
        let mut offset = self.settled;
        while offset < stop {
            let kept = window.keeps(offset, self.page);
            let mut run_end = offset + self.page;
            while run_end < stop && window.keeps(run_end, self.page) == kept {
                run_end += self.page;
            }
            self.run_start = match (kept, self.run_start) {
                (true, _) => None,
                (false, Some(start)) if offset == self.settled => Some(start),
                (false, _) => Some(offset),
            };
            if let Some(start) = self.run_start {
                // Only advice: a page that cannot be dropped now stays; the hash is the same.
                let _ = drop_cached(&self.file, start, run_end - start);
            }
            offset = run_end;
        }
        self.settled = stop;
    }
}

/// Which pages of the window of `file` (of `size` bytes) that starts at `start` are cached.
fn look(file: &File, size: u64, start: u64) -> Window {
    let len = size.saturating_sub(start).min(WINDOW) as usize;
    Window {
        start,
        cached: cached_pages(file, start, len).ok(),
    }
}

impl Read for SparingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.settle(self.position);
        let n = self.file.read(buf)?;
        self.position += n as u64;
        if n == 0 {
            // The end: the last page too, however little of it the file fills.
            self.settle(self.position.next_multiple_of(self.page));
        }
        Ok(n)
    }
}
