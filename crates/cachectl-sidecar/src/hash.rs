//! Streaming SHA-1 of whole files, in bounded memory.

use std::io::{self, Read};
use std::path::Path;

use sha1::{Digest, Sha1};

use crate::regular::open_regular;

/// Size of the read buffer: large sequential reads, whatever the file size.
pub const HASH_BUFFER_LEN: usize = 1 << 20;

/// A SHA-1 digest in lowercase hex, as sidecars store it.
pub type Sha1Hex = String;

/// The SHA-1 of a regular file's contents, in lowercase hex. Anything else (a FIFO, a device)
/// is refused without blocking.
pub fn hash_file(path: &Path) -> io::Result<Sha1Hex> {
    hash_reader(open_regular(path)?)
}

/// The SHA-1 of everything `reader` yields, in lowercase hex.
pub fn hash_reader(mut reader: impl Read) -> io::Result<Sha1Hex> {
    let mut hasher = Sha1::new();
    let mut buffer = vec![0u8; HASH_BUFFER_LEN];
    loop {
        match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buffer[..n]),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(format!("{:x}", hasher.finalize()))
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
        assert_eq!(
            hash_reader(&long[..])?,
            format!("{:x}", Sha1::digest(&long))
        );
        Ok(())
    }
}
