//! `--keep-file`: image ids an operator pins, one a line, `#` comments, blank lines ignored.

use std::io;
use std::path::{Path, PathBuf};

use cachectl_naming::{escape_controls, quote};

/// The largest pin file read.
const MAX_PINS_LEN: u64 = 16 << 20;

/// A pin file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PinsError {
    /// It cannot be read.
    #[error("cannot read the pin file {}: {source}", quote(.path))]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A line is not one image id.
    #[error("{}:{line}: {message}", quote(.path))]
    Malformed {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// Whether `text` can be one image id as a pin names it: not empty, no white space, no control
/// character, no `#` (which starts a comment in a pin file).
pub fn is_image_id(text: &str) -> bool {
    !text.is_empty()
        && !text
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '#')
}

/// Reads the image ids pinned in `path` (`-`: standard input).
pub fn load(path: &Path) -> Result<Vec<String>, PinsError> {
    let bytes = crate::input::read_input(path, MAX_PINS_LEN).map_err(|source| PinsError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(path, &bytes)
}

/// The image ids in a pin file's bytes; `path` names it in errors.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Vec<String>, PinsError> {
    let malformed = |line: usize, message: String| PinsError::Malformed {
        path: path.to_owned(),
        line,
        message,
    };
    let text = std::str::from_utf8(bytes).map_err(|err| {
        let line = bytes[..err.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        malformed(line, "not UTF-8: image ids are text".to_owned())
    })?;
    let mut ids = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let content = line
            .split_once('#')
            .map_or(line, |(before, _)| before)
            .trim();
        if content.is_empty() {
            continue;
        }
        if !is_image_id(content) {
            return Err(malformed(
                index + 1,
                format!(
                    "{} is not one image id (one a line; # starts a comment)",
                    escape_controls(content)
                ),
            ));
        }
        ids.push(content.to_owned());
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_comments_and_blank_lines() {
        let text = b"# golden images\n9b1f-aaaa\n\n  c0ffee  # the CI image\n\t# none\n";
        let ids = parse(Path::new("pins"), text).expect("valid");
        assert_eq!(ids, ["9b1f-aaaa", "c0ffee"]);
    }

    #[test]
    fn a_line_of_two_words_or_bad_bytes_names_its_line() {
        let err = parse(Path::new("pins"), b"a\nb c\n").expect_err("two ids on a line");
        assert_eq!(
            err.to_string(),
            "pins:2: b c is not one image id (one a line; # starts a comment)"
        );
        let err = parse(Path::new("pins"), b"a\n\xff\n").expect_err("not UTF-8");
        assert_eq!(err.to_string(), "pins:2: not UTF-8: image ids are text");
        let err = parse(Path::new("pins"), b"a\x1b[2Jb\n").expect_err("a control");
        assert!(!err.to_string().contains('\x1b'), "{err}");
    }
}
