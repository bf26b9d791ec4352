//! Backing file names: `resolve_backing` on any image path and any name a header may hold.
//!
//! The input is `<image path> NUL <name>` (a path has no NUL), or just a name, resolved against
//! a disk of a Nova instance. Whatever the target, it is made of the name and a prefix of the
//! image path, as QEMU's `path_combine` makes it.

#![no_main]

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use cachectl_qcow2::{BackingTarget, resolve_backing};
use libfuzzer_sys::fuzz_target;

/// The image path when the input has no NUL.
const DISK: &[u8] = b"/var/lib/nova/instances/8d1f6a52-3b7e-4c9d-a2f1-5e6b7c8d9e01/disk";

fuzz_target!(|data: &[u8]| {
    let (image, name) = match data.iter().position(|&b| b == 0) {
        Some(nul) => (&data[..nul], &data[nul + 1..]),
        None => (DISK, data),
    };
    match resolve_backing(Path::new(OsStr::from_bytes(image)), name) {
        BackingTarget::File(path) => {
            let path = path.as_os_str().as_bytes();
            if let Some(rest) = name.strip_prefix(b"file:") {
                assert_eq!(path, rest, "a file: name is its rest, unchanged");
            } else if name.starts_with(b"/") {
                assert_eq!(path, name, "an absolute name is kept");
            } else {
                assert!(path.ends_with(name), "{path:?} does not end with {name:?}");
                let directory = &path[..path.len() - name.len()];
                assert!(
                    image.starts_with(directory)
                        && (directory.is_empty()
                            || directory.ends_with(b"/")
                            || directory.ends_with(b":")),
                    "{directory:?} is not the directory part of {image:?}"
                );
            }
        }
        BackingTarget::Protocol {
            protocol,
            name: rest,
        } => {
            let head = name
                .strip_suffix(rest.as_slice())
                .and_then(|head| head.strip_suffix(b":"));
            let head = head.unwrap_or_else(|| panic!("{name:?} is not <protocol>:{rest:?}"));
            assert!(
                !head.contains(&b'/') && !head.contains(&b':'),
                "protocol {head:?}"
            );
            assert_eq!(protocol, String::from_utf8_lossy(head));
            assert!(head != b"file" && head != b"json");
        }
        BackingTarget::Json(rest) => {
            assert_eq!(Some(rest.as_slice()), name.strip_prefix(b"json:"));
        }
    }
});
