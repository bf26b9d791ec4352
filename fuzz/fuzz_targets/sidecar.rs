//! Checksum sidecars: `read_stored_checksum` on any `.info` and any `.sha1`, and `write_info` after.
//!
//! The input is written as an image's `.info` alone, as its `.sha1` alone, then as both, and read
//! each time; `.info` wins when it holds a `sha1`. Then `write_info` must either refuse an `.info`
//! it cannot read, leaving it as it was, or write one that reads back as written, keeping the
//! other keys and retiring the `.sha1`.

#![no_main]

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs;
use std::path::Path;

use cachectl_sidecar::{
    SidecarError, SidecarFormat, StoredChecksum, info_path, read_stored_checksum, sha1_path,
    write_info,
};
use libfuzzer_sys::fuzz_target;

/// The digest and time `write_info` stores.
const DIGEST: &str = "a17c9aaa61e80a1bf71d0d850af4e5baa9800bbd";
const TIMESTAMP: f64 = 1_700_000_000.5;

fuzz_target!(|data: &[u8]| {
    let dir = cachectl_fuzz::scratch_dir();
    let name = OsStr::new("356a192b7913b04c54574d18c28d46e6395428ab");
    let image = dir.path().join(name);
    let (info, sha1) = (info_path(&image), sha1_path(&image));
    let base = cachectl_fs::Dir::open(dir.path()).expect("the scratch directory");
    let write = |path: &Path| fs::write(path, data).expect("writing to the scratch directory");
    let remove = |path: &Path| fs::remove_file(path).expect("removing from the scratch directory");

    write(&info);
    let from_info = read_stored_checksum(&base, name);
    match &from_info {
        Ok(Some(stored)) => check(stored, SidecarFormat::Info),
        Ok(None) | Err(SidecarError::Malformed { .. }) => {}
        Err(err) => panic!("reading a .info: {err}"),
    }

    remove(&info);
    write(&sha1);
    let from_sha1 = read_stored_checksum(&base, name);
    match &from_sha1 {
        Ok(Some(stored)) => {
            check(stored, SidecarFormat::Sha1);
            assert_eq!(
                Ok(stored.sha1.as_str()),
                std::str::from_utf8(data).map(str::trim)
            );
        }
        Ok(None) => assert_eq!(std::str::from_utf8(data).map(str::trim), Ok("")),
        Err(SidecarError::Malformed { .. }) => {}
        Err(err) => panic!("reading a .sha1: {err}"),
    }

    write(&info);
    let from_both = read_stored_checksum(&base, name);
    match (&from_info, &from_both) {
        (Ok(Some(alone)), Ok(Some(both))) => assert_eq!(alone, both, ".info comes first"),
        (Ok(None), both) => assert_eq!(
            both.as_ref().ok(),
            from_sha1.as_ref().ok(),
            "a .info without sha1 falls back to the .sha1"
        ),
        (Err(_), Err(_)) => {}
        (alone, both) => panic!(".info alone read {alone:?}, with a .sha1 {both:?}"),
    }

    // write_info rewrites any .info that is a JSON object (even one whose "sha1" is no string),
    // and nothing else.
    let keys_before = info_keys(&info);
    match write_info(&base, name, DIGEST, TIMESTAMP) {
        Ok(()) => {
            let Some(mut expected) = keys_before else {
                panic!("write_info replaced a .info that is not a JSON object");
            };
            let stored = read_stored_checksum(&base, name)
                .expect("reading what write_info wrote")
                .expect("write_info wrote a checksum");
            assert_eq!(
                (stored.sha1.as_str(), stored.timestamp, stored.format),
                (DIGEST, Some(TIMESTAMP), SidecarFormat::Info)
            );
            assert!(!sha1.exists(), "write_info keeps the legacy .sha1");
            expected.extend(["sha1".to_owned(), "sha1-timestamp".to_owned()]);
            assert_eq!(info_keys(&info), Some(expected), "write_info drops keys");
        }
        Err(SidecarError::Malformed { .. }) => {
            assert!(
                keys_before.is_none(),
                "write_info refuses a .info that is a JSON object"
            );
            let now = fs::read(&info).expect("reading the .info");
            assert_eq!(now, data, "write_info changed a .info it refused");
        }
        Err(err) => panic!("write_info: {err}"),
    }
});

/// What any stored checksum read from a sidecar must look like.
fn check(stored: &StoredChecksum, format: SidecarFormat) {
    assert_eq!(stored.format, format);
    assert_eq!(stored.sha1.trim(), stored.sha1, "the digest is trimmed");
    if format == SidecarFormat::Sha1 {
        assert!(!stored.sha1.is_empty() && stored.timestamp.is_none());
    }
}

/// The keys of the JSON object in `path`, if it is one.
fn info_keys(path: &Path) -> Option<BTreeSet<String>> {
    let text = fs::read_to_string(path).ok()?;
    match serde_json::from_str(&text).ok()? {
        serde_json::Value::Object(object) => Some(object.keys().cloned().collect()),
        _ => None,
    }
}
