//! [`DomainError`]: a domain XML that cannot be read or used, said on one line that names the file.

use std::io;
use std::path::{Path, PathBuf};

use cachectl_naming::quote;
use roxmltree::Node;

/// The largest domain XML read. A domain XML is a few KiB, libvirt's status XML of a running
/// guest some tens; anything past 4 MiB is not one.
pub const MAX_DOMAIN_LEN: u64 = 4 << 20;

/// A domain XML that cannot be read, or is not a domain libvirt could have written.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// It cannot be read (a directory, a FIFO nobody writes to, a symlink where one is refused).
    #[error("cannot read the domain XML {}: {source}", quote(.path))]
    Read {
        /// The file (`-` for standard input).
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// It is larger than any domain XML ([`MAX_DOMAIN_LEN`]).
    #[error(
        "{}: {len} bytes, larger than a domain XML may be ({} MiB)",
        quote(.path),
        MAX_DOMAIN_LEN >> 20
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its length in bytes.
        len: u64,
    },
    /// It is not well-formed XML, not a `<domain>`, or holds a value libvirt or Nova never
    /// writes there.
    #[error("{}:{line}:{column}: {message}", quote(.path))]
    Malformed {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column, in characters.
        column: usize,
        /// What is wrong.
        message: String,
    },
}

impl DomainError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            Self::Read { path, .. }
            | Self::TooLarge { path, .. }
            | Self::Malformed { path, .. } => path,
        }
    }

    /// A [`DomainError::Malformed`] at the start of `node`.
    pub(super) fn at(path: &Path, node: Node<'_, '_>, message: String) -> Self {
        let pos = node.document().text_pos_at(node.range().start);
        Self::Malformed {
            path: path.to_owned(),
            line: pos.row as usize,
            column: pos.col as usize,
            message,
        }
    }
}
