//! `--ack-unreadable FILE`: the unreadable files an operator has looked at.
//!
//! One file a line, `<inode> <size> <mtime> <path>`: what reports print for each unreadable
//! file, and what `stat -c '%i %s %Y %n' PATH` prints in the instances path. The path is relative
//! to the instances path (for a cache file: its name), as reports show it; a path that reports
//! quote (`"a\nb"`) may be written quoted. Lines that start with `#` and blank lines are skipped.
//!
//! ```text
//! # looked at by jane, 2026-11-30: the disk of a deleted instance, kept for forensics
//! 1835029 10737418240 1764460800 8d1f6a52-3b7e-4c9d-a2f1-5e6b7c8d9e01/disk
//! ```
//!
//! While such a file keeps its inode, size and mtime, it stops no removal; any change to it
//! raises the doubt again.

use std::path::{Path, PathBuf};

use cachectl_policy::{Acknowledged, FileIdentity, UnixTime, UnreadableFile};

use crate::input::read_input;

/// The largest acknowledgement file read.
const MAX_ACK_LEN: u64 = 1 << 20;

/// An acknowledgement file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AckError {
    /// It cannot be read.
    #[error("cannot read the acknowledgements {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line is not an acknowledgement.
    #[error("{path}:{line}: {message}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// Reads the acknowledgements in `path` (`-`: standard input).
pub fn load(path: &Path) -> Result<Vec<Acknowledged>, AckError> {
    let bytes = read_input(path, MAX_ACK_LEN).map_err(|source| AckError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(path, &bytes)
}

/// Parses acknowledgements; `path` names them in errors.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Vec<Acknowledged>, AckError> {
    let text = String::from_utf8_lossy(bytes);
    let mut acknowledged = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let malformed = |message: String| AckError::Malformed {
            path: path.to_owned(),
            line: index + 1,
            message,
        };
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut rest = line;
        let mut next = |what: &str| -> Result<&str, AckError> {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let (value, after) = rest.split_at(end);
            if value.is_empty() {
                return Err(malformed(format!("no {what}: {}", expected())));
            }
            rest = after.trim_start();
            Ok(value)
        };
        let ino = next("inode")?;
        let size = next("size")?;
        let mtime = next("mtime")?;
        let number = |what: &str, text: &str| {
            malformed(format!(
                "the {what} {text:?} is not a number: {}",
                expected()
            ))
        };
        let identity = FileIdentity {
            ino: digits(ino).ok_or_else(|| number("inode", ino))?,
            size: digits(size).ok_or_else(|| number("size", size))?,
            mtime: UnixTime(
                match mtime.strip_prefix('-') {
                    Some(magnitude) => digits(magnitude).and_then(|n: i64| n.checked_neg()),
                    None => digits(mtime),
                }
                .ok_or_else(|| number("mtime", mtime))?,
            ),
        };
        let written = rest.trim_end();
        if written.is_empty() {
            return Err(malformed(format!("no path: {}", expected())));
        }
        let path = if written.starts_with('"') {
            unquote(written).ok_or_else(|| {
                malformed(format!(
                    "the quoted path {written} does not end where it should"
                ))
            })?
        } else {
            written.to_owned()
        };
        if path.is_empty() {
            return Err(malformed(format!("the path is empty: {}", expected())));
        }
        acknowledged.push(Acknowledged { path, identity });
    }
    Ok(acknowledged)
}

/// A number written in decimal digits only (no sign: `stat` writes none).
fn digits<T: std::str::FromStr>(text: &str) -> Option<T> {
    let plain = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    plain.then(|| text.parse().ok()).flatten()
}

fn expected() -> &'static str {
    "expected `<inode> <size> <mtime> <path>`, as reports print them"
}

/// The acknowledgement line of an unreadable file, if it could be `stat`ed.
pub fn line(file: &UnreadableFile) -> Option<String> {
    let identity = file.identity?;
    Some(format!(
        "{} {} {} {}",
        identity.ino,
        identity.size,
        identity.mtime,
        cachectl_naming::quote(&file.path)
    ))
}

/// The text of a quoted path: `"` ... `"` with the escapes reports use (`\n`, `\t`, `\r`, `\0`,
/// `\\`, `\"`, `\'`, `\u{1b}`, and `\xff` for a byte that is not UTF-8). `None` if it is not one
/// quoted string.
fn unquote(written: &str) -> Option<String> {
    let inner = written.strip_prefix('"')?.strip_suffix('"')?;
    let mut bytes = Vec::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '"' {
            return None;
        }
        if c != '\\' {
            let mut utf8 = [0; 4];
            bytes.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            continue;
        }
        match chars.next()? {
            'n' => bytes.push(b'\n'),
            't' => bytes.push(b'\t'),
            'r' => bytes.push(b'\r'),
            '0' => bytes.push(0),
            c @ ('\\' | '"' | '\'') => bytes.push(c as u8),
            'x' => {
                let hex: String = chars.by_ref().take(2).collect();
                bytes.push(hex_number(&hex, 2..=2)?.try_into().ok()?);
            }
            'u' => {
                if chars.next()? != '{' {
                    return None;
                }
                let mut hex = String::new();
                loop {
                    match chars.next()? {
                        '}' => break,
                        c => hex.push(c),
                    }
                }
                let c = char::from_u32(hex_number(&hex, 1..=6)?)?;
                let mut utf8 = [0; 4];
                bytes.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            }
            _ => return None,
        }
    }
    // Paths are compared as reports hold them: bytes that are not UTF-8 lossily.
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// A number of `len` hexadecimal digits, and nothing else (no sign).
fn hex_number(hex: &str, len: std::ops::RangeInclusive<usize>) -> Option<u32> {
    let plain = len.contains(&hex.len()) && hex.bytes().all(|b| b.is_ascii_hexdigit());
    plain.then(|| u32::from_str_radix(hex, 16).ok()).flatten()
}

#[cfg(test)]
mod tests {
    use cachectl_policy::ReadAs;

    use super::*;

    fn parsed(text: &str) -> Result<Vec<Acknowledged>, AckError> {
        parse(Path::new("acks"), text.as_bytes())
    }

    #[test]
    fn lines_comments_and_paths_with_spaces() -> Result<(), AckError> {
        let acks = parsed(
            "# looked at\n\n1835029 10737418240 1764460800 8d1f/disk\n  7 0 -5   u2/my disk  \r\n",
        )?;
        assert_eq!(
            acks,
            [
                Acknowledged {
                    path: "8d1f/disk".into(),
                    identity: FileIdentity {
                        ino: 1_835_029,
                        size: 10_737_418_240,
                        mtime: UnixTime(1_764_460_800)
                    }
                },
                Acknowledged {
                    path: "u2/my disk".into(),
                    identity: FileIdentity {
                        ino: 7,
                        size: 0,
                        mtime: UnixTime(-5)
                    }
                }
            ]
        );
        Ok(())
    }

    #[test]
    fn a_line_as_reports_print_it_reads_back() -> Result<(), AckError> {
        for path in [
            "u1/disk",
            "u1/a b",
            "u\n1/\u{1b}[31m\"x'\\",
            "u1/\u{7}disk\t",
        ] {
            let file = UnreadableFile {
                path: path.to_owned(),
                problem: String::new(),
                read_as: ReadAs::NovaDiskName,
                identity: Some(FileIdentity {
                    ino: 1,
                    size: 2,
                    mtime: UnixTime(3),
                }),
            };
            let line = line(&file).expect("an identity");
            assert!(!line.contains('\n'), "{line:?}");
            let acks = parsed(&line)?;
            assert_eq!(acks.len(), 1, "{line:?}");
            assert_eq!(acks[0].path, path, "{line:?}");
        }
        Ok(())
    }

    #[test]
    fn malformed_lines_say_where_and_what() {
        for (text, message) in [
            ("1 2 3\n", "acks:1: no path: expected"),
            ("x 2 3 u/disk\n", "acks:1: the inode \"x\" is not a number"),
            (
                "# c\n1 2 3 u/disk\n1 2.5 3 u/disk\n",
                "acks:3: the size \"2.5\"",
            ),
            ("1 2\n", "acks:1: no mtime"),
            ("1 2 3 \"u/disk\n", "acks:1: the quoted path"),
            ("1 2 3 \"u/\\q\"\n", "acks:1: the quoted path"),
            ("1 2 3 \"\"\n", "acks:1: the path is empty"),
            (
                "+1 2 3 u/disk\n",
                "acks:1: the inode \"+1\" is not a number",
            ),
            (
                "1 2 +3 u/disk\n",
                "acks:1: the mtime \"+3\" is not a number",
            ),
            ("1 2 3 \"a\\x+1\"\n", "acks:1: the quoted path"),
            ("1 2 3 \"a\\x1\"\n", "acks:1: the quoted path"),
            ("1 2 3 \"a\\u{+1b}\"\n", "acks:1: the quoted path"),
            ("1 2 3 \"a\\u{41\"\n", "acks:1: the quoted path"),
        ] {
            let err = parsed(text).expect_err(text).to_string();
            assert!(err.starts_with(message), "{text:?}: {err}");
        }
    }
}
