//! What the fuzz targets share: a scratch directory for the parsers that read files.
//!
//! The targets are in `fuzz_targets/`, one per parser of outside input; `cargo xtask fuzz --list`
//! lists them and `cargo xtask fuzz <target>` runs one.

use std::path::Path;
use std::sync::OnceLock;

/// Where scratch directories go: RAM-backed `/dev/shm` when there is one (no disk writes, cheap
/// fsync), else the usual temporary directory (`None`).
fn scratch_parent() -> Option<&'static Path> {
    static PARENT: OnceLock<Option<&'static Path>> = OnceLock::new();
    *PARENT.get_or_init(|| {
        let shm = Path::new("/dev/shm");
        shm.is_dir().then_some(shm)
    })
}

/// A new empty directory, removed when dropped. One per input, so that nothing one input
/// leaves behind (a lock file, a temporary file) changes what the next one sees.
pub fn scratch_dir() -> tempfile::TempDir {
    let mut builder = tempfile::Builder::new();
    builder.prefix("cachectl-fuzz-");
    let dir = match scratch_parent() {
        Some(parent) => builder.tempdir_in(parent),
        None => builder.tempdir(),
    };
    dir.expect("a fuzzer needs a writable temporary directory")
}
