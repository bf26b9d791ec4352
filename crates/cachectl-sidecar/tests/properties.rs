//! Property tests of sidecar reading, on every `cargo test`: whatever a `.info` or `.sha1`
//! holds, reading it never panics, and what it reads is the stored digest, trimmed (not
//! necessarily hex: as in Nova, a digest that is not one makes the image fail verification).

use std::ffi::OsStr;
use std::fs;

use cachectl_sidecar::{SidecarError, info_path, read_stored_checksum, sha1_path};
use proptest::prelude::*;

/// Contents: arbitrary bytes, or JSON-ish text around the keys Nova writes.
fn contents() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200),
        (
            "[0-9a-fA-F]{0,42}",
            prop_oneof![Just("sha1"), Just("SHA1"), Just("sha"), Just("")],
            ".{0,12}",
        )
            .prop_map(|(digest, key, extra)| {
                format!(r#"{{"{key}": "{digest}", "sha1-timestamp": {extra}}}"#).into_bytes()
            }),
        "[0-9a-f]{40}[ \n]{0,3}".prop_map(String::into_bytes),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn any_sidecar_reads_as_a_digest_or_a_clear_error(bytes in contents(), legacy in any::<bool>()) {
        let temp = tempfile::tempdir().expect("a temporary directory");
        let name = OsStr::new("356a192b7913b04c54574d18c28d46e6395428ab");
        let image = temp.path().join(name);
        let sidecar = if legacy { sha1_path(&image) } else { info_path(&image) };
        fs::write(&sidecar, &bytes).expect("a sidecar");
        let dir = cachectl_fs::Dir::open(temp.path()).expect("the directory");
        match read_stored_checksum(&dir, name) {
            Ok(Some(stored)) => {
                prop_assert!(!legacy || !stored.sha1.is_empty());
                prop_assert_eq!(stored.sha1.trim(), stored.sha1.as_str());
                prop_assert_eq!(&stored.path, &sidecar);
                if legacy {
                    prop_assert_eq!(Ok(stored.sha1.as_str()), std::str::from_utf8(&bytes).map(str::trim));
                }
            }
            Ok(None) => prop_assert!(legacy || !bytes.is_empty()),
            Err(SidecarError::Malformed { path, .. }) => prop_assert_eq!(path, sidecar),
            Err(other) => prop_assert!(false, "{other}"),
        }
    }
}
