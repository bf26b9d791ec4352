//! The storage registry: `read_registry` on any `compute_nodes`, then `register`.
//!
//! Check-in times read are finite numbers. Registering this host either refuses a file that is
//! not a registry, leaving it as it was, or keeps every host already there and adds this one.

#![no_main]

use std::collections::BTreeMap;
use std::fs;

use cachectl_sources::registry::{Registry, StorageError, read_registry, register};
use cachectl_policy::{StorageUsers, UnixTime, storage_users};
use libfuzzer_sys::fuzz_target;

/// This host, and the time it registers at.
const HOST: &str = "compute-fuzz";
const NOW: UnixTime = UnixTime(1_700_000_000);

fuzz_target!(|data: &[u8]| {
    let dir = cachectl_fuzz::scratch_dir();
    let path = dir.path().join("compute_nodes");
    fs::write(&path, data).expect("writing to the scratch directory");

    let instances = cachectl_fs::Dir::open(dir.path()).expect("the scratch directory");
    let locks = instances
        .create_child(std::ffi::OsStr::new("locks"))
        .expect("a lock directory");
    let registry = read_registry(&instances).expect("compute_nodes is a readable file");
    let users = storage_users(registry.check_ins().as_ref(), HOST, NOW);
    match (&registry, users) {
        (Registry::Hosts(hosts), StorageUsers::Known(users)) => {
            for (host, seen) in hosts {
                assert!(seen.is_finite(), "{host:?} checked in at {seen}");
            }
            assert!(users.contains(HOST));
        }
        // Whatever else a compute_nodes that is there reads as (malformed, or empty), who
        // shares the storage is unknown.
        (Registry::Hosts(_) | Registry::Absent, users) | (_, users @ StorageUsers::Known(_)) => {
            panic!("{registry:?} has users {users:?}")
        }
        (_, StorageUsers::Unknown) => {}
    }
    // A file of white space is what an interrupted in-place rewrite leaves: nothing to keep.
    let blank = std::str::from_utf8(data).is_ok_and(|text| text.trim().is_empty());

    match register(&instances, &locks, HOST, NOW) {
        Ok(()) => {
            let before = match registry {
                Registry::Hosts(hosts) => hosts,
                _ if blank => BTreeMap::new(),
                other => panic!("registered over {other:?}"),
            };
            let after = read_registry(&instances).expect("reading what register wrote");
            let Registry::Hosts(after) = after else {
                panic!("register wrote {after:?}");
            };
            let mut expected: Vec<&String> = before.keys().collect();
            let host = HOST.to_owned();
            if !before.contains_key(HOST) {
                expected.push(&host);
                expected.sort();
            }
            assert_eq!(
                after.keys().collect::<Vec<_>>(),
                expected,
                "register lost or added hosts"
            );
            assert_eq!(after.get(HOST), Some(&NOW.as_f64()));
        }
        Err(StorageError::Malformed(_)) => {
            assert!(
                matches!(registry, Registry::Malformed(_)),
                "refused {registry:?}"
            );
            let now = fs::read(&path).expect("reading compute_nodes");
            assert_eq!(now, data, "register changed a compute_nodes it refused");
        }
        Err(err) => panic!("register: {err}"),
    }
});
