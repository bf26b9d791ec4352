//! Property tests of backing name resolution, on every `cargo test`: the same properties the
//! `backing_name` fuzz target checks, on arbitrary image paths and names.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use cachectl_qcow2::{BackingTarget, resolve_backing};
use proptest::prelude::*;

/// Names as they come: mostly path-like bytes, with protocols, colons, slashes and NULs.
fn name() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"/".to_vec()),
        Just(b":".to_vec()),
        Just(b"..".to_vec()),
        Just(b"file:".to_vec()),
        Just(b"json:".to_vec()),
        Just(b"nbd:".to_vec()),
        Just(b"\0".to_vec()),
        proptest::collection::vec(any::<u8>(), 1..8),
    ];
    proptest::collection::vec(piece, 0..6).prop_map(|pieces| pieces.concat())
}

proptest! {
    #[test]
    fn a_name_resolves_as_qemu_joins_it(image in name(), name in name()) {
        match resolve_backing(Path::new(OsStr::from_bytes(&image)), &name) {
            BackingTarget::File(path) => {
                let path = path.as_os_str().as_bytes();
                if let Some(rest) = name.strip_prefix(b"file:") {
                    prop_assert_eq!(path, rest);
                } else if name.starts_with(b"/") {
                    prop_assert_eq!(path, name.as_slice());
                } else {
                    // A relative name goes after the image's directory, unnormalised.
                    prop_assert!(path.ends_with(&name));
                    let directory = &path[..path.len() - name.len()];
                    prop_assert!(image.starts_with(directory));
                    prop_assert!(
                        directory.is_empty() || directory.ends_with(b"/") || directory.ends_with(b":")
                    );
                }
            }
            BackingTarget::Protocol { protocol, name: rest } => {
                let head = name
                    .strip_suffix(rest.as_slice())
                    .and_then(|head| head.strip_suffix(b":"));
                prop_assert!(head.is_some(), "{:?} is not <protocol>:{:?}", name, rest);
                let head = head.unwrap_or_default();
                prop_assert!(!head.contains(&b'/') && !head.contains(&b':'));
                prop_assert_eq!(protocol, String::from_utf8_lossy(head));
            }
            BackingTarget::Json(rest) => {
                prop_assert_eq!(Some(rest.as_slice()), name.strip_prefix(b"json:"));
            }
        }
    }
}
