//! The exit codes of `cachectl`, documented in README.md.

use std::process::ExitCode;

/// Everything done, nothing to report.
pub const SUCCESS: u8 = 0;
/// An operational error: the instances path or a file could not be read or written.
pub const FAILURE: u8 = 1;
/// The command line is wrong.
pub const USAGE: u8 = 2;
/// Bad input: a malformed inventory, or a disk `inspect` cannot read.
pub const BAD_INPUT: u8 = 3;
/// Files under the instances path could not be read, so nothing was removed.
pub const UNREADABLE: u8 = 4;
/// A base file does not match its stored checksum.
pub const CORRUPT: u8 = 5;
/// Some removals failed.
pub const REMOVE_FAILED: u8 = 6;
/// Another `cachectl clean` holds the pass lock.
pub const BUSY: u8 = 7;

/// Turns one of the codes above into the process's exit code.
pub fn code(value: u8) -> ExitCode {
    ExitCode::from(value)
}
