//! Logs on stderr: colours only on a terminal, a timestamp on each line except where the journal
//! takes stderr (it stamps lines itself), and control characters in every message and field
//! value escaped (they carry names from outside).

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
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal())
        .fmt_fields(fields)
        .with_target(false);
    let _ = if stderr_is_the_journal() {
        logs.without_time().try_init()
    } else {
        logs.try_init()
    };
}

/// Whether stderr is connected to the journal: systemd says so in `JOURNAL_STREAM`
/// (`<device>:<inode>` of the stream it gave), which must be stderr's own, not one inherited
/// by a process whose stderr was redirected since.
fn stderr_is_the_journal() -> bool {
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = stream.to_str().and_then(|s| s.split_once(':')) else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
        return false;
    };
    rustix::fs::fstat(io::stderr()).is_ok_and(|stat| stat.st_dev == dev && stat.st_ino == ino)
}
