//! What the crate's tests share: planting the special files a hostile tree holds.

use std::path::Path;

use rustix::fs::{CWD, FileType, Mode, mknodat};

/// Makes a FIFO at `path` (mode 0600), as a tenant or `nova` could plant one.
pub(crate) fn make_fifo(path: impl AsRef<Path>) -> rustix::io::Result<()> {
    mknodat(
        CWD,
        path.as_ref(),
        FileType::Fifo,
        Mode::from_raw_mode(0o600),
        0,
    )
}
