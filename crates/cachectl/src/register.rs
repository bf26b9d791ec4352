//! Who shares the storage, read from Nova's `compute_nodes` (the rule is the policy's), and this
//! host's registration in it.

use std::ffi::{OsStr, OsString};

use cachectl_fs::Dir;
use cachectl_naming::quote;
use cachectl_policy::{StorageUsers, UnixTime, storage_users};
use cachectl_sources::registry::{self, COMPUTE_NODES, Registry, StorageError};

use crate::report::{WarningCode, WarningEntry};

/// Who shares the storage, and what the operator should know about it.
#[derive(Debug)]
pub(crate) struct Registration {
    /// The hosts whose records count.
    pub users: StorageUsers,
    /// Warnings about `compute_nodes`.
    pub warnings: Vec<WarningEntry>,
    /// Whether registering this host failed (an operational error).
    pub failed: bool,
}

/// Who shares the storage, from `compute_nodes` as it is before this pass registers this host
/// (so an empty or malformed registry still means "unknown" for this pass); then, when given
/// Nova's lock directory (a `clean`), registers `host` at `now`.
pub(crate) fn register(
    instances: &Dir,
    locks: Option<&Dir>,
    host: &str,
    now: UnixTime,
) -> Result<Registration, StorageError> {
    let read = registry::read_registry(instances)?;
    let mut registration = Registration {
        users: storage_users(read.check_ins().as_ref(), host, now),
        warnings: Vec::new(),
        failed: false,
    };
    let changes = locks.is_some();
    match &read {
        Registry::Empty => registration.warnings.push(WarningEntry::new(
            WarningCode::ComputeNodesEmpty,
            format_args!(
                "{} is empty (an interrupted rewrite?): every instance record counts{}",
                quote(&instances.join(OsStr::new(COMPUTE_NODES))),
                if changes {
                    "; this host registered itself in it"
                } else {
                    ""
                }
            ),
        )),
        Registry::Malformed(problem) => registration.warnings.push(WarningEntry::new(
            WarningCode::ComputeNodesMalformed,
            format_args!(
                "the storage registry is unreadable ({problem}){}",
                if changes {
                    "; this host was not registered, so as not to drop the others"
                } else {
                    ""
                }
            ),
        )),
        Registry::Absent | Registry::Hosts(_) => {}
    }
    if let Some(locks) = locks {
        match registry::register(instances, locks, host, now) {
            // Said above, with the malformed file.
            Ok(()) | Err(StorageError::Malformed(_)) => {}
            Err(err) => {
                registration.failed = true;
                registration.warnings.push(WarningEntry::new(
                    WarningCode::RegisterFailed,
                    format_args!("cannot register this host: {err}"),
                ));
            }
        }
    }
    Ok(registration)
}

/// Removes the temporary files of interrupted writes of `compute_nodes` (under the registry
/// lock); a warning if that fails.
pub(crate) fn remove_registry_leftovers(
    instances: &Dir,
    locks: &Dir,
    leftovers: &[OsString],
) -> Option<WarningEntry> {
    if leftovers.is_empty() {
        return None;
    }
    let err = registry::remove_leftovers(instances, locks, leftovers).err()?;
    Some(WarningEntry::new(
        WarningCode::RemoveFailed,
        format_args!("cannot remove the leftovers of interrupted writes of {COMPUTE_NODES}: {err}"),
    ))
}
