//! Checksum sidecars of Nova's image cache, and the SHA-1 they hold.
//!
//! Next to a cached image `X`, Essex wrote `X.sha1` (the bare hex digest, maybe with a newline)
//! and Folsom on writes `X.info` (JSON `{"sha1": "<hex>", "sha1-timestamp": <unix float>}`).
//! [`read_stored_checksum`] reads whichever is there (`.info` first), [`write_info`] writes an
//! `.info` atomically (temporary file, fsync, rename) and retires a legacy `.sha1`, and
//! [`hash_file`] streams the SHA-1 of a file of any size in bounded memory, leaving the page
//! cache as it found it (pages it brought in are dropped behind it).
//!
//! Sidecars are read and written relative to the open cache directory ([`cachectl_fs::Dir`]):
//! a sidecar that is a symlink or a hard link is refused, never read through, and a write never
//! follows a name planted in the directory.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::ffi::OsStr;
//! let temp = tempfile::tempdir()?;
//! let base = cachectl_fs::Dir::open(temp.path())?;
//! let image = OsStr::new("356a192b7913b04c54574d18c28d46e6395428ab");
//! std::fs::write(temp.path().join(image), b"data")?;
//! let digest = cachectl_sidecar::hash_file(&temp.path().join(image))?;
//! cachectl_sidecar::write_info(&base, image, &digest, 1_700_000_000.0)?;
//! let stored = cachectl_sidecar::read_stored_checksum(&base, image)?.expect("just written");
//! assert_eq!(stored.sha1, digest);
//! let verified = cachectl_sidecar::verify(&base, image, &stored)?;
//! assert_eq!(verified, cachectl_sidecar::Verification::Valid);
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

mod hash;
mod spare;
mod stored;

pub use hash::{
    HASH_BUFFER_LEN, Sha1Hex, hash_entry_with, hash_file, hash_reader, hash_reader_with,
};
pub use stored::{
    SidecarError, SidecarFormat, StoredChecksum, Verification, info_path, read_stored_checksum,
    sha1_path, verify, verify_with, write_info,
};
