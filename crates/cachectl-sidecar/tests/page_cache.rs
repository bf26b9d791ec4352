//! Hashing leaves the page cache as it found it: a file that was not cached is not cached
//! afterwards, pages that were cached stay cached, and the digest is the same either way.
//!
//! On a real file on disk, under the target directory (a tmpfs keeps every page in memory,
//! whatever is dropped).

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use cachectl_fs::{cached_pages, drop_cached, page_size};
use cachectl_sidecar::hash_file;

const MIB: u64 = 1 << 20;
/// More than two of the 64 MiB windows the hash looks at the page cache in, and not a whole
/// number of pages: the window after the first is looked at while hashing, and the last page is
/// a partial one.
const LEN: u64 = 144 * MIB + 100;
/// The SHA-1 of [`contents`] of [`LEN`] bytes, as `sha1sum` gives it.
const DIGEST: &str = "29f23705f83e7a9466803b4957643d2b1ba0fffd";

/// `len` bytes from a xorshift generator, written through to the disk (dirty pages cannot be
/// dropped).
fn contents(path: &Path, len: u64) -> io::Result<()> {
    let mut file = io::BufWriter::new(File::create(path)?);
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..len / 8 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        file.write_all(&state.to_le_bytes())?;
    }
    file.write_all(&vec![b'.'; (len % 8) as usize])?;
    file.into_inner()
        .map_err(|err| err.into_error())?
        .sync_all()
}

/// Which pages of the file at `path` are in the page cache.
fn cached(path: &Path) -> io::Result<Vec<bool>> {
    cached_pages(&File::open(path)?, 0, LEN as usize)
}

/// Reads `len` bytes of the file from `offset`, in a way that brings in no page beyond them
/// (no read-ahead).
fn read_range(path: &Path, offset: u64, len: u64) -> io::Result<()> {
    let file = File::open(path)?;
    rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::Random)?;
    let mut buffer = vec![0u8; len as usize];
    file.read_exact_at(&mut buffer, offset)
}

/// Pages cached after that were not before; panics if a page cached before is not cached after.
fn brought_in(before: &[bool], after: &[bool]) -> usize {
    let lost: Vec<usize> = (0..before.len())
        .filter(|&page| before[page] && !after[page])
        .collect();
    assert!(
        lost.is_empty(),
        "pages cached before were dropped: {lost:?}"
    );
    (0..before.len())
        .filter(|&page| !before[page] && after[page])
        .count()
}

#[test]
fn hashing_leaves_the_page_cache_as_it_found_it() -> io::Result<()> {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR"))?;
    let path = dir.path().join("image");
    contents(&path, LEN)?;
    let pages = LEN.div_ceil(page_size()) as usize;
    // Slack for the page cache's own work: a page or so of a read that raced the drop.
    let slack = (MIB / page_size()) as usize;

    // Not cached at all: hashed, and still not cached.
    drop_cached(&File::open(&path)?, 0, LEN)?;
    assert_eq!(cached(&path)?, vec![false; pages]);
    assert_eq!(hash_file(&path)?, DIGEST);
    let after = cached(&path)?;
    let left = after.iter().filter(|&&page| page).count();
    assert!(left <= slack, "{left} of {pages} pages left cached");

    // Cached in part, across the first window's end: that part stays, the rest goes.
    read_range(&path, 40 * MIB, 60 * MIB)?;
    let before = cached(&path)?;
    let part = before.iter().filter(|&&page| page).count();
    assert!(part >= (60 * MIB / page_size()) as usize && part < pages);
    assert_eq!(hash_file(&path)?, DIGEST);
    let new = brought_in(&before, &cached(&path)?);
    assert!(new <= slack, "{new} pages brought in and left");

    // Cached whole: it stays cached whole.
    File::open(&path)?.read_to_end(&mut Vec::new())?;
    assert_eq!(cached(&path)?, vec![true; pages]);
    assert_eq!(hash_file(&path)?, DIGEST);
    assert_eq!(cached(&path)?, vec![true; pages]);
    Ok(())
}
