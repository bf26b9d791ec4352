//! Who shares the storage: the hosts that checked in to Nova's `compute_nodes` recently.

use std::collections::{BTreeMap, BTreeSet};

use crate::facts::StorageUsers;
use crate::time::UnixTime;

/// Hosts that checked in within this many seconds share the storage (Nova's rule, 24 h).
pub const STORAGE_USER_WINDOW: u64 = 24 * 3600;

/// The hosts whose instance records count at `now`: those that checked in less than
/// [`STORAGE_USER_WINDOW`] ago, and this `host`. `check_ins` is `None` when who shares the
/// storage cannot be told (`compute_nodes` empty or malformed): then every record counts. A
/// missing `compute_nodes` is no check-in at all: this host alone.
pub fn storage_users(
    check_ins: Option<&BTreeMap<String, UnixTime>>,
    host: &str,
    now: UnixTime,
) -> StorageUsers {
    let Some(check_ins) = check_ins else {
        return StorageUsers::Unknown;
    };
    let mut users: BTreeSet<String> = check_ins
        .iter()
        .filter(|(_, seen)| **seen > now - STORAGE_USER_WINDOW as i64)
        .map(|(h, _)| h.clone())
        .collect();
    users.insert(host.to_owned());
    StorageUsers::Known(users)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: UnixTime = UnixTime(100_000);

    fn users(check_ins: &[(&str, i64)]) -> StorageUsers {
        let map = check_ins
            .iter()
            .map(|(h, t)| ((*h).to_owned(), UnixTime(*t)))
            .collect();
        storage_users(Some(&map), "me", NOW)
    }

    fn known(hosts: &[&str]) -> StorageUsers {
        StorageUsers::Known(hosts.iter().map(|h| (*h).to_owned()).collect())
    }

    #[test]
    fn hosts_seen_in_the_last_24_hours_and_this_one() {
        assert_eq!(
            users(&[("old", 1_000), ("peer", 99_000), ("edge", 100_000 - 86_400)]),
            known(&["me", "peer"])
        );
        assert_eq!(users(&[("edge", 100_000 - 86_399)]), known(&["edge", "me"]));
        assert_eq!(users(&[]), known(&["me"]));
        assert_eq!(storage_users(None, "me", NOW), StorageUsers::Unknown);
    }
}
