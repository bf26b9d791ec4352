//! Logs on stderr: colours only on a terminal, and control characters in every message and
//! field value escaped (they carry names from outside).

use std::io::{self, IsTerminal};

use cachectl_naming::escape_controls;
use tracing_subscriber::field::MakeExt as _;

/// How much to log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verbosity {
    /// `-q`: errors only.
    Quiet,
    /// Warnings (the default), and with `-v` what the pass does, `-vv` more.
    Verbose(u8),
}

/// Starts logging to stderr at `verbosity`, unless `CACHECTL_LOG` gives a `tracing` filter.
pub(crate) fn init(verbosity: Verbosity) {
    let level = match verbosity {
        Verbosity::Quiet => "error",
        Verbosity::Verbose(0) => "warn",
        Verbosity::Verbose(1) => "info",
        Verbosity::Verbose(_) => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CACHECTL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let fields = tracing_subscriber::fmt::format::debug_fn(|writer, field, value| {
        let value = format!("{value:?}");
        let value = escape_controls(&value);
        if field.name() == "message" {
            write!(writer, "{value}")
        } else {
            write!(writer, "{field}={value}")
        }
    })
    .delimited(" ");
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal())
        .fmt_fields(fields)
        .with_target(false)
        .without_time()
        .try_init();
}
