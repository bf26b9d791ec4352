//! Why a nova.conf cannot be used: one line naming the file and the line, or the setting.

use std::io;
use std::path::PathBuf;

use cachectl_naming::quote;

use super::setting::Provenance;

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file cannot be read (also: a file named explicitly that does not exist).
    #[error("cannot read the config file {}: {source}", quote(.path))]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A config dir cannot be listed.
    #[error("cannot list the config dir {}: {source}", quote(.path))]
    ReadDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A line is not what oslo.config's parser accepts.
    #[error("{}:{line}: {message}", quote(.path))]
    Malformed {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A value is not one the option takes.
    #[error("{from}: {option} = {}: {problem}", shown(.value))]
    BadValue {
        /// Where the value came from.
        from: Provenance,
        /// `[section] key` as written (maybe a deprecated name; for a default, the option's).
        option: String,
        /// The value, after substitution.
        value: String,
        /// What is wrong.
        problem: String,
    },
    /// A `$name` in a value cannot be substituted (oslo.config refuses it, and so Nova).
    #[error("{from}: {option}: cannot substitute ${}: {problem}", quote(.reference))]
    Substitution {
        /// Where the value that holds the reference came from.
        from: Provenance,
        /// `[section] key` of that value, as written.
        option: String,
        /// The name after `$`.
        reference: String,
        /// Why it cannot be substituted.
        problem: String,
    },
}

/// A value as errors show it: quoted when it is not plain text, `""` when it is empty.
fn shown(value: &str) -> String {
    if value.is_empty() {
        "\"\"".to_owned()
    } else {
        quote(value).to_string()
    }
}
