//! Verifying base files against their checksum sidecars, and writing the missing ones.

use std::path::Path;

use cachectl_sidecar::{
    SidecarFormat, Verification, hash_file, read_stored_checksum, verify, write_info,
};
use serde::Serialize;

/// What a command does about checksums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumMode {
    /// Nothing: every file is `not_checked`.
    Off,
    /// `audit --checksum`: verify files that have a sidecar; write nothing.
    Audit,
    /// `clean --checksum`: verify, except files whose `.info` was written less than
    /// `interval` seconds ago; write missing sidecars.
    Clean {
        /// `checksum_interval_seconds`.
        interval: u64,
    },
    /// `verify`: always hash; write missing sidecars.
    Verify,
}

/// The checksum state of a file, as reports name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChecksumState {
    /// Not hashed in this run.
    NotChecked,
    /// Hashes to its stored digest.
    Valid,
    /// Does not: image verification failed.
    Corrupt,
    /// No sidecar, and none written.
    Missing,
    /// No sidecar: one was written now.
    Written,
}

/// What checking one file found.
#[derive(Debug, Clone, PartialEq)]
pub struct ChecksumOutcome {
    /// The state.
    pub state: ChecksumState,
    /// The digest stored, if any.
    pub stored: Option<String>,
    /// The digest computed, if hashed.
    pub actual: Option<String>,
    /// A note for the report (why not checked), or a problem for the warnings.
    pub note: Option<String>,
    /// Whether `note` is a problem the operator should see.
    pub problem: bool,
}

impl ChecksumOutcome {
    fn of(state: ChecksumState) -> Self {
        Self {
            state,
            stored: None,
            actual: None,
            note: None,
            problem: false,
        }
    }

    fn problem(message: String) -> Self {
        Self {
            note: Some(message),
            problem: true,
            ..Self::of(ChecksumState::NotChecked)
        }
    }
}

/// Checks one image file as `mode` says, at time `now` (unix seconds).
pub fn check(image: &Path, mode: ChecksumMode, now: f64) -> ChecksumOutcome {
    if mode == ChecksumMode::Off {
        return ChecksumOutcome::of(ChecksumState::NotChecked);
    }
    let stored = match read_stored_checksum(image) {
        Ok(stored) => stored,
        Err(err) => return ChecksumOutcome::problem(err.to_string()),
    };
    let Some(stored) = stored else {
        if mode == ChecksumMode::Audit {
            return ChecksumOutcome::of(ChecksumState::Missing);
        }
        return match hash_file(image) {
            Ok(digest) => match write_info(image, &digest, now) {
                Ok(()) => ChecksumOutcome {
                    actual: Some(digest),
                    ..ChecksumOutcome::of(ChecksumState::Written)
                },
                Err(err) => ChecksumOutcome::problem(err.to_string()),
            },
            Err(err) => ChecksumOutcome::problem(format!("cannot hash {}: {err}", image.display())),
        };
    };
    if let (ChecksumMode::Clean { interval }, Some(written)) = (mode, stored.timestamp) {
        let since = now - written;
        if (0.0..interval as f64).contains(&since) {
            return ChecksumOutcome {
                stored: Some(stored.sha1),
                note: Some(format!(
                    "checksum written {} ago, not re-hashed before {}",
                    cachectl_policy::HumanDuration(since as u64),
                    cachectl_policy::HumanDuration(interval)
                )),
                ..ChecksumOutcome::of(ChecksumState::NotChecked)
            };
        }
    }
    match verify(image, &stored) {
        Ok(Verification::Valid) => {
            // Writing a legacy digest into .info retires the .sha1 (Folsom's migration).
            if stored.format == SidecarFormat::Sha1
                && mode != ChecksumMode::Audit
                && let Err(err) = write_info(image, &stored.sha1, now)
            {
                return ChecksumOutcome::problem(err.to_string());
            }
            ChecksumOutcome {
                actual: Some(stored.sha1.to_ascii_lowercase()),
                stored: Some(stored.sha1),
                ..ChecksumOutcome::of(ChecksumState::Valid)
            }
        }
        Ok(Verification::Mismatch {
            stored: expected,
            actual,
        }) => ChecksumOutcome {
            note: Some(format!(
                "image verification failed: {} has sha1 {actual}, its sidecar {} says {expected}",
                image.display(),
                stored.path.display()
            )),
            problem: true,
            stored: Some(expected),
            actual: Some(actual),
            state: ChecksumState::Corrupt,
        },
        Err(err) => ChecksumOutcome::problem(err.to_string()),
    }
}
