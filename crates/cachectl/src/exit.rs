//! The exit codes of `cachectl`, documented in README.md, and the one rule that picks one.

/// How a run of `cachectl` ended, as its exit code says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExitCode {
    /// 0: everything done, nothing to report (also: no cache directory, nothing to do).
    Success,
    /// 1: an operational error: the instances path or a file could not be read or written.
    Failure,
    /// 2: the command line (or the environment it reads) is wrong.
    Usage,
    /// 3: bad input: a malformed inventory or acknowledgement file, a disk `inspect` cannot
    /// read.
    BadInput,
    /// 4: files that may be disks could not be read, so nothing was removed.
    Unreadable,
    /// 5: a base file does not match its stored checksum.
    Corrupt,
    /// 6: some removals failed.
    RemoveFailed,
    /// 7: another `cachectl clean` holds the pass lock.
    Busy,
}

impl ExitCode {
    /// The number the process exits with.
    pub fn code(self) -> u8 {
        match self {
            Self::Success => 0,
            Self::Failure => 1,
            Self::Usage => 2,
            Self::BadInput => 3,
            Self::Unreadable => 4,
            Self::Corrupt => 5,
            Self::RemoveFailed => 6,
            Self::Busy => 7,
        }
    }

    /// The code of a run in which all of `happened` happened: the first of 1, 3, 4, 6, 5 (then
    /// 2, 7) among them, or 0 if nothing did.
    pub fn first_of(happened: impl IntoIterator<Item = ExitCode>) -> ExitCode {
        const ORDER: [ExitCode; 7] = [
            ExitCode::Failure,
            ExitCode::BadInput,
            ExitCode::Unreadable,
            ExitCode::RemoveFailed,
            ExitCode::Corrupt,
            ExitCode::Usage,
            ExitCode::Busy,
        ];
        let happened: Vec<ExitCode> = happened.into_iter().collect();
        ORDER
            .into_iter()
            .find(|code| happened.contains(code))
            .unwrap_or(ExitCode::Success)
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_that_applies_in_the_documented_order() {
        use ExitCode::*;
        assert_eq!(ExitCode::first_of([]), Success);
        assert_eq!(ExitCode::first_of([Corrupt, RemoveFailed]), RemoveFailed);
        assert_eq!(ExitCode::first_of([Corrupt, Unreadable]), Unreadable);
        assert_eq!(ExitCode::first_of([Unreadable, BadInput, Failure]), Failure);
        assert_eq!(ExitCode::first_of([Corrupt, Success]), Corrupt);
        let codes = [
            Success,
            Failure,
            Usage,
            BadInput,
            Unreadable,
            Corrupt,
            RemoveFailed,
            Busy,
        ];
        assert_eq!(codes.map(ExitCode::code), [0, 1, 2, 3, 4, 5, 6, 7]);
    }
}
