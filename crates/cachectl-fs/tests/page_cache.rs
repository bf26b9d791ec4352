//! Page-cache residency and dropping, on a file on disk (under the target directory: a tmpfs
//! keeps every page in memory, whatever is dropped).

use std::fs::File;
use std::io::{self, Read, Write};

use cachectl_fs::{cached_pages, drop_cached, page_size};

#[test]
fn dropped_pages_are_not_cached_and_read_pages_are() -> io::Result<()> {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR"))?;
    let path = dir.path().join("file");
    let page = page_size();
    let len = 8 * page;
    let mut written = File::create(&path)?;
    written.write_all(&vec![b'x'; len as usize])?;
    // Written through, so that its pages are clean: dirty pages are never dropped.
    written.sync_all()?;
    let mut file = File::open(&path)?;

    drop_cached(&file, 0, len)?;
    assert_eq!(cached_pages(&file, 0, len as usize)?, vec![false; 8]);

    let mut first_two = vec![0u8; 2 * page as usize];
    file.read_exact(&mut first_two)?;
    let cached = cached_pages(&file, 0, len as usize)?;
    assert!(cached[0] && cached[1], "read pages are cached: {cached:?}");

    drop_cached(&file, page, page)?;
    let cached = cached_pages(&file, 0, len as usize)?;
    assert!(cached[0], "a page outside the range stays: {cached:?}");
    assert!(!cached[1], "the page in the range is dropped: {cached:?}");
    Ok(())
}
