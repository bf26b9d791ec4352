//! Reading, verifying and writing the checksum a sidecar stores for an image.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

use crate::atomic::atomic_write;
use crate::hash::{Sha1Hex, hash_file_with};
use crate::regular::read_small_file;

/// The largest sidecar we read; a real one is under 100 bytes.
const MAX_SIDECAR_LEN: u64 = 64 * 1024;

/// Which file a stored checksum came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SidecarFormat {
    /// `<image>.info`, JSON.
    Info,
    /// `<image>.sha1`, the bare digest (Essex).
    Sha1,
}

/// A checksum stored beside an image.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredChecksum {
    /// The digest as stored, trimmed of surrounding white space; not necessarily valid hex.
    pub sha1: String,
    /// When the digest was written (`sha1-timestamp`, unix seconds), for `.info` sidecars that say.
    pub timestamp: Option<f64>,
    /// The sidecar it came from.
    pub format: SidecarFormat,
    /// The sidecar's path.
    pub path: PathBuf,
}

/// What hashing an image says of its stored checksum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// The image hashes to the stored digest.
    Valid,
    /// It does not: the image (or its sidecar) is corrupt.
    Mismatch {
        /// The digest stored in the sidecar.
        stored: String,
        /// The digest of the image as it is now.
        actual: Sha1Hex,
    },
}

/// A sidecar that cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SidecarError {
    /// Reading failed.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The sidecar.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The contents are not a sidecar.
    #[error("{path}: {problem}")]
    Malformed {
        /// The sidecar.
        path: PathBuf,
        /// What is wrong, with the line and column for JSON.
        problem: String,
    },
    /// Writing failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The sidecar.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Hashing the image failed.
    #[error("cannot hash {path}: {source}")]
    Hash {
        /// The image.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

/// `<image>.info`.
pub fn info_path(image: &Path) -> PathBuf {
    with_suffix(image, ".info")
}

/// `<image>.sha1`.
pub fn sha1_path(image: &Path) -> PathBuf {
    with_suffix(image, ".sha1")
}

fn with_suffix(image: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(image.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

/// The checksum stored for `image`: from `<image>.info` when it holds a `sha1`, else from a legacy
/// `<image>.sha1` (an empty one means none). `None` when neither says anything.
pub fn read_stored_checksum(image: &Path) -> Result<Option<StoredChecksum>, SidecarError> {
    let info = info_path(image);
    if let Some(text) = read_small(&info)? {
        let object = parse_info(&info, &text)?;
        if let Some(sha1) = object.get("sha1") {
            let sha1 = sha1.as_str().ok_or_else(|| SidecarError::Malformed {
                path: info.clone(),
                problem: "\"sha1\" is not a string".to_owned(),
            })?;
            let timestamp = object
                .get("sha1-timestamp")
                .and_then(serde_json::Value::as_f64);
            return Ok(Some(StoredChecksum {
                sha1: sha1.trim().to_owned(),
                timestamp,
                format: SidecarFormat::Info,
                path: info,
            }));
        }
    }
    let legacy = sha1_path(image);
    Ok(read_small(&legacy)?.and_then(|text| {
        let sha1 = text.trim();
        (!sha1.is_empty()).then(|| StoredChecksum {
            sha1: sha1.to_owned(),
            timestamp: None,
            format: SidecarFormat::Sha1,
            path: legacy,
        })
    }))
}

/// Hashes `image` and compares it with `stored`.
pub fn verify(image: &Path, stored: &StoredChecksum) -> Result<Verification, SidecarError> {
    verify_with(image, stored, &mut |_| {})
}

/// Like [`verify`], calling `progress` with the number of bytes of each read as it hashes.
pub fn verify_with(
    image: &Path,
    stored: &StoredChecksum,
    progress: &mut dyn FnMut(u64),
) -> Result<Verification, SidecarError> {
    let actual = hash_file_with(image, progress).map_err(|source| SidecarError::Hash {
        path: image.to_owned(),
        source,
    })?;
    Ok(if actual.eq_ignore_ascii_case(&stored.sha1) {
        Verification::Valid
    } else {
        Verification::Mismatch {
            stored: stored.sha1.clone(),
            actual,
        }
    })
}

/// Stores `sha1` for `image` in `<image>.info` with `timestamp`, atomically, keeping any other keys
/// an existing `.info` has; then removes a legacy `<image>.sha1`, whose digest the `.info` now carries.
pub fn write_info(image: &Path, sha1: &str, timestamp: f64) -> Result<(), SidecarError> {
    let info = info_path(image);
    let mut object = match read_small(&info)? {
        Some(text) => parse_info(&info, &text)?,
        None => serde_json::Map::new(),
    };
    object.insert("sha1".to_owned(), serde_json::Value::from(sha1));
    object.insert(
        "sha1-timestamp".to_owned(),
        serde_json::Value::from(timestamp),
    );
    let contents = serde_json::Value::Object(object).to_string();
    atomic_write(&info, contents.as_bytes())
        .map_err(|source| SidecarError::Write { path: info, source })?;
    let legacy = sha1_path(image);
    match std::fs::remove_file(&legacy) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(SidecarError::Write {
            path: legacy,
            source: err,
        }),
        _ => Ok(()),
    }
}

/// A sidecar's text, `None` if it does not exist.
fn read_small(path: &Path) -> Result<Option<String>, SidecarError> {
    let malformed = |problem: String| SidecarError::Malformed {
        path: path.to_owned(),
        problem,
    };
    let bytes = match read_small_file(path, MAX_SIDECAR_LEN) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == io::ErrorKind::InvalidInput => {
            return Err(malformed("not a regular file".to_owned()));
        }
        Err(err) if err.kind() == io::ErrorKind::InvalidData => {
            return Err(malformed(format!("{err}, not a checksum sidecar")));
        }
        Err(source) => {
            return Err(SidecarError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    bytes
        .map(String::from_utf8)
        .transpose()
        .map_err(|_| malformed("not UTF-8 text".to_owned()))
}

fn parse_info(
    path: &Path,
    text: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, SidecarError> {
    match serde_json::from_str(text) {
        Ok(serde_json::Value::Object(object)) => Ok(object),
        Ok(_) => Err(SidecarError::Malformed {
            path: path.to_owned(),
            problem: "not a JSON object".to_owned(),
        }),
        Err(err) => Err(SidecarError::Malformed {
            path: path.to_owned(),
            problem: format!("line {} column {}: {err}", err.line(), err.column()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn info_wins_over_legacy_and_keeps_its_other_keys() -> TestResult {
        let dir = tempfile::tempdir()?;
        let image = dir.path().join("img");
        fs::write(&image, b"data")?;
        fs::write(sha1_path(&image), "old\n")?;
        fs::write(
            info_path(&image),
            r#"{"sha1": "abc", "sha1-timestamp": 12.5, "note": "x"}"#,
        )?;
        let stored = read_stored_checksum(&image)?.ok_or("no checksum")?;
        assert_eq!(
            (stored.sha1.as_str(), stored.timestamp, stored.format),
            ("abc", Some(12.5), SidecarFormat::Info)
        );

        write_info(&image, "a17c9aaa61e80a1bf71d0d850af4e5baa9800bbd", 99.0)?;
        let object: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(info_path(&image))?)?;
        assert_eq!(object["note"], "x");
        assert_eq!(object["sha1-timestamp"], 99.0);
        assert!(
            !sha1_path(&image).exists(),
            "the legacy sidecar is migrated away"
        );
        Ok(())
    }

    #[test]
    fn legacy_sha1_is_trimmed_and_empty_means_none() -> TestResult {
        let dir = tempfile::tempdir()?;
        let image = dir.path().join("img");
        fs::write(sha1_path(&image), "")?;
        assert_eq!(read_stored_checksum(&image)?, None);
        fs::write(sha1_path(&image), "DEADBEEF\r\n")?;
        let stored = read_stored_checksum(&image)?.ok_or("no checksum")?;
        assert_eq!(
            (stored.sha1.as_str(), stored.format),
            ("DEADBEEF", SidecarFormat::Sha1)
        );
        Ok(())
    }

    #[test]
    fn info_without_sha1_falls_back_to_legacy() -> TestResult {
        let dir = tempfile::tempdir()?;
        let image = dir.path().join("img");
        fs::write(info_path(&image), "{}")?;
        fs::write(sha1_path(&image), "abc")?;
        assert_eq!(
            read_stored_checksum(&image)?.map(|s| s.format),
            Some(SidecarFormat::Sha1)
        );
        Ok(())
    }

    #[test]
    fn malformed_sidecars_name_the_file_and_the_problem() -> TestResult {
        let dir = tempfile::tempdir()?;
        let image = dir.path().join("img");
        fs::write(info_path(&image), "{\"sha1\": ")?;
        let err = read_stored_checksum(&image)
            .err()
            .ok_or("accepted")?
            .to_string();
        assert!(
            err.starts_with(&format!("{}: line 1 column 9", info_path(&image).display())),
            "{err}"
        );
        fs::write(info_path(&image), "[1]")?;
        assert!(
            read_stored_checksum(&image)
                .err()
                .ok_or("accepted")?
                .to_string()
                .ends_with("not a JSON object")
        );
        fs::write(info_path(&image), r#"{"sha1": 5}"#)?;
        assert!(read_stored_checksum(&image).is_err());
        fs::write(info_path(&image), vec![b' '; 70_000])?;
        assert!(
            read_stored_checksum(&image)
                .err()
                .ok_or("accepted")?
                .to_string()
                .contains("larger than")
        );
        // Writing does not clobber a sidecar it cannot understand.
        fs::write(info_path(&image), "{oops")?;
        assert!(write_info(&image, "abc", 1.0).is_err());
        assert_eq!(fs::read_to_string(info_path(&image))?, "{oops");
        Ok(())
    }

    #[test]
    fn a_fifo_named_like_a_sidecar_is_refused_without_blocking() -> TestResult {
        let dir = tempfile::tempdir()?;
        let image = dir.path().join("img");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            info_path(&image),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )?;
        let err = read_stored_checksum(&image)
            .err()
            .ok_or("accepted")?
            .to_string();
        assert!(err.ends_with("not a regular file"), "{err}");
        Ok(())
    }

    #[test]
    fn verify_compares_case_insensitively() -> TestResult {
        let dir = tempfile::tempdir()?;
        let image = dir.path().join("img");
        fs::write(&image, b"data")?;
        let mut stored = StoredChecksum {
            sha1: "A17C9AAA61E80A1BF71D0D850AF4E5BAA9800BBD".to_owned(),
            timestamp: None,
            format: SidecarFormat::Sha1,
            path: sha1_path(&image),
        };
        assert_eq!(verify(&image, &stored)?, Verification::Valid);
        stored.sha1 = "banana".to_owned();
        assert!(matches!(
            verify(&image, &stored)?,
            Verification::Mismatch { .. }
        ));
        Ok(())
    }
}
