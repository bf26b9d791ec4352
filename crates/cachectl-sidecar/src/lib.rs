//! Checksum sidecars of Nova's image cache, and the SHA-1 they hold.
//!
//! Next to a cached image `X`, Essex wrote `X.sha1` (the bare hex digest, maybe with a newline)
//! and Folsom on writes `X.info` (JSON `{"sha1": "<hex>", "sha1-timestamp": <unix float>}`).
//! [`read_stored_checksum`] reads whichever is there (`.info` first), [`write_info`] writes an
//! `.info` atomically (temporary file, fsync, rename) and retires a legacy `.sha1`, and
//! [`hash_file`] streams the SHA-1 of a file of any size in bounded memory.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let image = dir.path().join("356a192b7913b04c54574d18c28d46e6395428ab");
//! std::fs::write(&image, b"data")?;
//! let digest = cachectl_sidecar::hash_file(&image)?;
//! cachectl_sidecar::write_info(&image, &digest, 1_700_000_000.0)?;
//! let stored = cachectl_sidecar::read_stored_checksum(&image)?.expect("just written");
//! assert_eq!(stored.sha1, digest);
//! assert_eq!(cachectl_sidecar::verify(&image, &stored)?, cachectl_sidecar::Verification::Valid);
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

mod atomic;
mod hash;
mod regular;
mod stored;

pub use atomic::{atomic_write, match_directory_owner};
pub use hash::{
    HASH_BUFFER_LEN, Sha1Hex, hash_file, hash_file_with, hash_reader, hash_reader_with,
};
pub use regular::{open_regular, read_small_file};
pub use stored::{
    SidecarError, SidecarFormat, StoredChecksum, Verification, info_path, read_stored_checksum,
    sha1_path, verify, verify_with, write_info,
};
