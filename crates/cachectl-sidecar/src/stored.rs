//! Reading, verifying and writing the checksum a sidecar stores for an image.

use std::ffi::{OsStr, OsString};
use std::io;
use std::path::{Path, PathBuf};

use cachectl_fs::Dir;

use crate::hash::{Sha1Hex, hash_entry_with};

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
    PathBuf::from(with_suffix(image.as_os_str(), ".info"))
}

/// `<image>.sha1`.
pub fn sha1_path(image: &Path) -> PathBuf {
    PathBuf::from(with_suffix(image.as_os_str(), ".sha1"))
}

fn with_suffix(image: &OsStr, suffix: &str) -> OsString {
    let mut name = image.to_owned();
    name.push(suffix);
    name
}

/// The checksum stored for the image `image` of `dir`: from `<image>.info` when it holds a
/// `sha1`, else from a legacy `<image>.sha1` (an empty one means none). `None` when neither says
/// anything. A sidecar that is a symlink, not a regular file, or a hard link is refused
/// ([`SidecarError::Malformed`]): its target is never read.
pub fn read_stored_checksum(
    dir: &Dir,
    image: &OsStr,
) -> Result<Option<StoredChecksum>, SidecarError> {
    let info = with_suffix(image, ".info");
    if let Some(text) = read_small(dir, &info)? {
        let object = parse_info(&dir.join(&info), &text)?;
        if let Some(sha1) = object.get("sha1") {
            let sha1 = sha1.as_str().ok_or_else(|| SidecarError::Malformed {
                path: dir.join(&info),
                problem: "\"sha1\" is not a string".to_owned(),
            })?;
            let timestamp = object
                .get("sha1-timestamp")
                .and_then(serde_json::Value::as_f64);
            return Ok(Some(StoredChecksum {
                sha1: sha1.trim().to_owned(),
                timestamp,
                format: SidecarFormat::Info,
                path: dir.join(&info),
            }));
        }
    }
    let legacy = with_suffix(image, ".sha1");
    Ok(read_small(dir, &legacy)?.and_then(|text| {
        let sha1 = text.trim();
        (!sha1.is_empty()).then(|| StoredChecksum {
            sha1: sha1.to_owned(),
            timestamp: None,
            format: SidecarFormat::Sha1,
            path: dir.join(&legacy),
        })
    }))
}

/// Hashes the image `image` of `dir` and compares it with `stored`.
pub fn verify(
    dir: &Dir,
    image: &OsStr,
    stored: &StoredChecksum,
) -> Result<Verification, SidecarError> {
    verify_with(dir, image, stored, &mut |_| {})
}

/// Like [`verify`], calling `progress` with the number of bytes of each read as it hashes.
pub fn verify_with(
    dir: &Dir,
    image: &OsStr,
    stored: &StoredChecksum,
    progress: &mut dyn FnMut(u64),
) -> Result<Verification, SidecarError> {
    let actual = hash_entry_with(dir, image, progress).map_err(|source| SidecarError::Hash {
        path: dir.join(image),
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

/// Stores `sha1` for the image `image` of `dir` in `<image>.info` with `timestamp`, atomically
/// ([`Dir::write_atomic`]: nothing planted in the directory can redirect the write), keeping any
/// other keys an existing `.info` has; then removes a legacy `<image>.sha1`, whose digest the
/// `.info` now carries. An `.info` that cannot be read (or is a symlink) is left as it is.
pub fn write_info(
    dir: &Dir,
    image: &OsStr,
    sha1: &str,
    timestamp: f64,
) -> Result<(), SidecarError> {
    let info = with_suffix(image, ".info");
    let mut object = match read_small(dir, &info)? {
        Some(text) => parse_info(&dir.join(&info), &text)?,
        None => serde_json::Map::new(),
    };
    object.insert("sha1".to_owned(), serde_json::Value::from(sha1));
    object.insert(
        "sha1-timestamp".to_owned(),
        serde_json::Value::from(timestamp),
    );
    let contents = serde_json::Value::Object(object).to_string();
    dir.write_atomic(&info, contents.as_bytes())
        .map_err(|source| SidecarError::Write {
            path: dir.join(&info),
            source,
        })?;
    let legacy = with_suffix(image, ".sha1");
    dir.remove(&legacy)
        .map(drop)
        .map_err(|source| SidecarError::Write {
            path: dir.join(&legacy),
            source,
        })
}

/// A sidecar's text, `None` if it does not exist.
fn read_small(dir: &Dir, name: &OsStr) -> Result<Option<String>, SidecarError> {
    let path = dir.join(name);
    let malformed = |problem: String| SidecarError::Malformed {
        path: path.clone(),
        problem,
    };
    let bytes = match dir.read_small(name, MAX_SIDECAR_LEN) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == io::ErrorKind::InvalidInput => {
            return Err(malformed(err.to_string()));
        }
        Err(err) if err.kind() == io::ErrorKind::InvalidData => {
            return Err(malformed(format!("{err}, not a checksum sidecar")));
        }
        Err(source) => return Err(SidecarError::Read { path, source }),
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

    const IMAGE: &str = "img";

    /// A temporary cache directory, open, and the path of its image `img`.
    fn cache() -> Result<(tempfile::TempDir, Dir, PathBuf), io::Error> {
        let temp = tempfile::tempdir()?;
        let dir = Dir::open(temp.path())?;
        let image = temp.path().join(IMAGE);
        Ok((temp, dir, image))
    }

    fn read(dir: &Dir) -> Result<Option<StoredChecksum>, SidecarError> {
        read_stored_checksum(dir, OsStr::new(IMAGE))
    }

    #[test]
    fn info_wins_over_legacy_and_keeps_its_other_keys() -> TestResult {
        let (_temp, dir, image) = cache()?;
        fs::write(&image, b"data")?;
        fs::write(sha1_path(&image), "old\n")?;
        fs::write(
            info_path(&image),
            r#"{"sha1": "abc", "sha1-timestamp": 12.5, "note": "x"}"#,
        )?;
        let stored = read(&dir)?.ok_or("no checksum")?;
        assert_eq!(
            (stored.sha1.as_str(), stored.timestamp, stored.format),
            ("abc", Some(12.5), SidecarFormat::Info)
        );

        write_info(
            &dir,
            OsStr::new(IMAGE),
            "a17c9aaa61e80a1bf71d0d850af4e5baa9800bbd",
            99.0,
        )?;
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
        let (_temp, dir, image) = cache()?;
        fs::write(sha1_path(&image), "")?;
        assert_eq!(read(&dir)?, None);
        fs::write(sha1_path(&image), "DEADBEEF\r\n")?;
        let stored = read(&dir)?.ok_or("no checksum")?;
        assert_eq!(
            (stored.sha1.as_str(), stored.format),
            ("DEADBEEF", SidecarFormat::Sha1)
        );
        Ok(())
    }

    #[test]
    fn info_without_sha1_falls_back_to_legacy() -> TestResult {
        let (_temp, dir, image) = cache()?;
        fs::write(info_path(&image), "{}")?;
        fs::write(sha1_path(&image), "abc")?;
        assert_eq!(read(&dir)?.map(|s| s.format), Some(SidecarFormat::Sha1));
        Ok(())
    }

    #[test]
    fn malformed_sidecars_name_the_file_and_the_problem() -> TestResult {
        let (_temp, dir, image) = cache()?;
        fs::write(info_path(&image), "{\"sha1\": ")?;
        let err = read(&dir).err().ok_or("accepted")?.to_string();
        assert!(
            err.starts_with(&format!("{}: line 1 column 9", info_path(&image).display())),
            "{err}"
        );
        fs::write(info_path(&image), "[1]")?;
        assert!(
            read(&dir)
                .err()
                .ok_or("accepted")?
                .to_string()
                .ends_with("not a JSON object")
        );
        fs::write(info_path(&image), r#"{"sha1": 5}"#)?;
        assert!(read(&dir).is_err());
        fs::write(info_path(&image), vec![b' '; 70_000])?;
        assert!(
            read(&dir)
                .err()
                .ok_or("accepted")?
                .to_string()
                .contains("larger than")
        );
        // Writing does not clobber a sidecar it cannot understand.
        fs::write(info_path(&image), "{oops")?;
        assert!(write_info(&dir, OsStr::new(IMAGE), "abc", 1.0).is_err());
        assert_eq!(fs::read_to_string(info_path(&image))?, "{oops");
        Ok(())
    }

    #[test]
    fn a_fifo_named_like_a_sidecar_is_refused_without_blocking() -> TestResult {
        let (_temp, dir, image) = cache()?;
        rustix::fs::mknodat(
            rustix::fs::CWD,
            info_path(&image),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )?;
        let err = read(&dir).err().ok_or("accepted")?.to_string();
        assert!(err.ends_with("not a regular file"), "{err}");
        Ok(())
    }

    #[test]
    fn a_symlinked_sidecar_is_refused_and_never_copied() -> TestResult {
        let (_temp, dir, image) = cache()?;
        let outside = tempfile::tempdir()?;
        let secret = outside.path().join("secret.json");
        fs::write(&secret, r#"{"password": "s3cret"}"#)?;
        std::os::unix::fs::symlink(&secret, info_path(&image))?;
        fs::write(&image, b"data")?;
        let err = read(&dir).err().ok_or("accepted")?.to_string();
        assert!(err.ends_with("is a symlink: not followed"), "{err}");
        assert!(write_info(&dir, OsStr::new(IMAGE), "abc", 1.0).is_err());
        assert!(fs::symlink_metadata(info_path(&image))?.is_symlink());
        assert_eq!(fs::read_to_string(&secret)?, r#"{"password": "s3cret"}"#);
        Ok(())
    }

    #[test]
    fn verify_compares_case_insensitively() -> TestResult {
        let (_temp, dir, image) = cache()?;
        fs::write(&image, b"data")?;
        let mut stored = StoredChecksum {
            sha1: "A17C9AAA61E80A1BF71D0D850AF4E5BAA9800BBD".to_owned(),
            timestamp: None,
            format: SidecarFormat::Sha1,
            path: sha1_path(&image),
        };
        assert_eq!(
            verify(&dir, OsStr::new(IMAGE), &stored)?,
            Verification::Valid
        );
        stored.sha1 = "banana".to_owned();
        assert!(matches!(
            verify(&dir, OsStr::new(IMAGE), &stored)?,
            Verification::Mismatch { .. }
        ));
        Ok(())
    }
}
