//! An effective setting and where it came from: the line of a file, or Nova's default.

use std::fmt;
use std::path::PathBuf;

use cachectl_naming::quote;

/// Where an effective setting came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provenance {
    /// The line of the file whose value won (for a value over several lines, the line of its key).
    File {
        /// The file, as it was named or found in a config dir.
        path: PathBuf,
        /// 1-based line.
        line: usize,
    },
    /// Nova's default (or the caller's, for `host` and `my_ip`), also when it substitutes a value
    /// from a file: `instances_path` is `$state_path/instances` by default.
    Default,
}

/// `<path>:<line>`, or `default`.
impl fmt::Display for Provenance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Provenance::File { path, line } => write!(f, "{}:{line}", quote(path)),
            Provenance::Default => f.write_str("default"),
        }
    }
}

/// An effective setting: its value, typed, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting<T> {
    /// The value, after substitution and conversion.
    pub value: T,
    /// Where it came from.
    pub from: Provenance,
}
