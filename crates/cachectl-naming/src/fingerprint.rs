//! Fingerprints: the SHA-1 hex digest of an image id, the name of the image's original in the cache.

use std::fmt;

use sha1::{Digest, Sha1};

/// Length of a fingerprint: 40 lowercase hex digits.
pub const FINGERPRINT_LEN: usize = 40;

/// The SHA-1 hex digest of an image id, as Nova's `get_cache_fname` computes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(String);

/// A string that is not a fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a fingerprint: expected 40 lowercase hex digits")]
pub struct FingerprintError(pub String);

/// The fingerprint of an image id: `sha1(image_id as UTF-8)` in lowercase hex.
pub fn fingerprint(image_id: &str) -> Fingerprint {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha1::digest(image_id.as_bytes());
    let mut hex = String::with_capacity(FINGERPRINT_LEN);
    for byte in digest.iter() {
        hex.extend([HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 15)]].map(char::from));
    }
    Fingerprint(hex)
}

impl Fingerprint {
    /// Validates a string as a fingerprint (40 lowercase hex digits).
    pub fn parse(text: &str) -> Result<Self, FingerprintError> {
        if is_fingerprint(text) {
            Ok(Self(text.to_owned()))
        } else {
            Err(FingerprintError(text.to_owned()))
        }
    }

    /// The 40 hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `text` is exactly 40 lowercase hex digits.
pub(crate) fn is_fingerprint(text: &str) -> bool {
    text.len() == FINGERPRINT_LEN && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_match_nova() {
        // The values the 2012 seed tests use for image ids "1" and "42".
        assert_eq!(
            fingerprint("1").as_str(),
            "356a192b7913b04c54574d18c28d46e6395428ab"
        );
        assert_eq!(
            fingerprint("42").as_str(),
            "92cfceb39d57d914ed8b14d0e37643de0797ae56"
        );
    }

    #[test]
    fn parse_rejects_upper_case_and_wrong_lengths() {
        assert!(Fingerprint::parse("356a192b7913b04c54574d18c28d46e6395428ab").is_ok());
        assert!(Fingerprint::parse("356A192B7913B04C54574D18C28D46E6395428AB").is_err());
        assert!(Fingerprint::parse("549867354867").is_err());
        assert_eq!(
            Fingerprint::parse("zz").expect_err("not hex").to_string(),
            r#""zz" is not a fingerprint: expected 40 lowercase hex digits"#
        );
    }
}
