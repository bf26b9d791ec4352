//! Errors that end a command, each with its exit code.

use std::io;
use std::path::PathBuf;

use cachectl_naming::quote;
use cachectl_sources::ack::AckError;
use cachectl_sources::inventory::InventoryError;
use cachectl_sources::libvirt::DomainError;
use cachectl_sources::nova_conf::ConfigError;
use cachectl_sources::registry::StorageError;

use crate::exit::ExitCode;
use crate::scan::ScanError;

/// A command that could not do its work.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CommandError {
    /// The pass failed.
    #[error(transparent)]
    Pass(#[from] PassError),
    /// Writing the output failed.
    #[error("cannot write the output: {0}")]
    Output(#[from] io::Error),
    /// nova.conf cannot be used.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Anything else, with its exit code.
    #[error("{message}")]
    Other {
        /// The one-line message.
        message: String,
        /// The exit code.
        code: ExitCode,
    },
}

impl CommandError {
    /// An error saying `message`, exiting with `code`.
    pub(crate) fn new(code: ExitCode, message: String) -> Self {
        Self::Other { message, code }
    }

    /// The exit code for this error.
    pub(crate) fn exit_code(&self) -> ExitCode {
        match self {
            Self::Pass(err) => err.exit_code(),
            Self::Output(_) => ExitCode::Failure,
            Self::Config(_) => ExitCode::BadInput,
            Self::Other { code, .. } => *code,
        }
    }
}

/// A pass that could not run.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PassError {
    /// The inventory is unusable: nothing was done.
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    /// The acknowledgements are unusable: nothing was done.
    #[error(transparent)]
    Ack(#[from] AckError),
    /// A domain XML given with `--libvirt-xml` is unusable: nothing was done.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The instances path or the cache directory cannot be opened: nothing was done.
    #[error("cannot open {}: {source}", quote(.path))]
    Open {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A directory cannot be listed: nothing was done.
    #[error(transparent)]
    Scan(#[from] ScanError),
    /// `compute_nodes` cannot be read.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A lock file cannot be opened.
    #[error("cannot take lock {}: {source}", quote(.path))]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Another `cachectl clean` is running.
    #[error("another cachectl clean is running on this storage (lock {} is held)", quote(.0))]
    Busy(PathBuf),
}

impl PassError {
    /// The exit code for this error.
    pub(crate) fn exit_code(&self) -> ExitCode {
        match self {
            Self::Inventory(_) | Self::Ack(_) | Self::Domain(_) => ExitCode::BadInput,
            Self::Busy(_) => ExitCode::Busy,
            Self::Scan(_) | Self::Storage(_) | Self::Lock { .. } | Self::Open { .. } => {
                ExitCode::Failure
            }
        }
    }
}
