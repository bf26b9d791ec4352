//! Where a backing file name points, resolved as QEMU resolves it; pure, no file system access.
//!
//! QEMU (block.c `bdrv_get_full_backing_filename_from_filename`, util/cutils.c `path_combine`)
//! keeps a name with a protocol prefix or an absolute name as it is, and puts a relative name
//! after the directory part of the path the image was opened by: everything up to and including
//! its last `/`. It does not canonicalise, follow symlinks or fold `..`.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Where a backing (or external data) file name points.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BackingTarget {
    /// A file: an absolute name, a relative name joined to the image's directory, or the
    /// rest of a `file:` name.
    File(PathBuf),
    /// A name with another protocol prefix (`nbd:`, `rbd:`, `host_device:`...): not a file here.
    Protocol {
        /// The part before the first `:` (lossily UTF-8 if it is not).
        protocol: String,
        /// The rest after that `:`, raw bytes.
        name: Vec<u8>,
    },
    /// A `json:` pseudo-protocol name: the JSON text after `json:`, raw bytes.
    Json(Vec<u8>),
}

/// Resolves the backing file name `name` of the image opened as `image_path`, as QEMU does.
///
/// - A protocol prefix (QEMU's `path_has_protocol`: a `:` comes before any `/`) makes the name
///   no plain path: `json:` gives [`BackingTarget::Json`], `file:` gives the rest as a file name,
///   any other protocol gives [`BackingTarget::Protocol`]. QEMU opens the rest of a `file:`
///   name as it is, so a relative one is relative to QEMU's working directory, not to the image:
///   it is returned unchanged (relative).
/// - An absolute name is returned as it is.
/// - A relative name is appended to `image_path` up to and including its last `/` (nothing if
///   there is none: then it is relative to the working directory, as for QEMU). A `/` in a
///   protocol prefix of `image_path` does not count, as in QEMU's `path_combine`.
///
/// `name` is the non-empty name from the header ([`crate::DiskHeader`] never holds an empty
/// one: QEMU reads an empty name as no backing file).
pub fn resolve_backing(image_path: &Path, name: &[u8]) -> BackingTarget {
    if let Some((protocol, rest)) = split_protocol(name) {
        return match protocol {
            b"file" => BackingTarget::File(path_from_bytes(rest)),
            b"json" => BackingTarget::Json(rest.to_vec()),
            _ => BackingTarget::Protocol {
                protocol: String::from_utf8_lossy(protocol).into_owned(),
                name: rest.to_vec(),
            },
        };
    }
    if name.starts_with(b"/") {
        return BackingTarget::File(path_from_bytes(name));
    }
    let base = image_path.as_os_str().as_bytes();
    let mut joined = directory_prefix(base).to_vec();
    joined.extend_from_slice(name);
    BackingTarget::File(PathBuf::from(OsStr::from_bytes(&joined).to_os_string()))
}

/// Where a VMDK extent name points, as QEMU's `vmdk_parse_extents` resolves it: an absolute
/// name as it is, any other appended to the image's directory as for [`resolve_backing`]; an
/// extent name has no protocol prefix (`nbd:x` is a file name there).
pub(crate) fn resolve_extent(image_path: &Path, name: &[u8]) -> PathBuf {
    if name.starts_with(b"/") {
        return path_from_bytes(name);
    }
    let mut joined = directory_prefix(image_path.as_os_str().as_bytes()).to_vec();
    joined.extend_from_slice(name);
    path_from_bytes(&joined)
}

/// QEMU's `path_has_protocol`: the name up to a `:` that comes before any `/`, and the rest.
fn split_protocol(name: &[u8]) -> Option<(&[u8], &[u8])> {
    let stop = name.iter().position(|&b| b == b':' || b == b'/')?;
    match name.split_at(stop) {
        (protocol, [b':', rest @ ..]) => Some((protocol, rest)),
        _ => None,
    }
}

/// The part of `base` that QEMU's `path_combine` keeps: up to and including the last `/`, but
/// at least the protocol prefix (`proto:`) if `base` has one.
fn directory_prefix(base: &[u8]) -> &[u8] {
    let after_protocol = split_protocol(base).map_or(0, |(protocol, _)| protocol.len() + 1);
    let after_slash = base
        .iter()
        .rposition(|&b| b == b'/')
        .map_or(0, |slash| slash + 1);
    base.get(..after_protocol.max(after_slash)).unwrap_or(base)
}

/// Raw bytes as a path, unchanged.
fn path_from_bytes(bytes: &[u8]) -> PathBuf {
    PathBuf::from(OsStr::from_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Resolves `name` against `image` and checks the result is the file `expected`.
    fn check_file(image: &str, name: &[u8], expected: &[u8]) {
        assert_eq!(
            resolve_backing(Path::new(image), name),
            BackingTarget::File(path_from_bytes(expected)),
            "image {image:?}, name {:?}",
            String::from_utf8_lossy(name)
        );
    }

    #[test]
    fn relative_names_join_the_image_directory_as_written() {
        check_file(
            "/var/lib/nova/instances/u1/disk",
            b"../_base/abc",
            b"/var/lib/nova/instances/u1/../_base/abc",
        );
        check_file("/a/b/disk", b"base", b"/a/b/base");
        check_file("/a/b/disk", b"./x/../base", b"/a/b/./x/../base");
        check_file("/disk", b"base", b"/base");
        check_file("a//b/disk", b"base", b"a//b/base");
        check_file("dir/", b"base", b"dir/base");
    }

    #[test]
    fn an_image_without_a_directory_keeps_the_name_relative() {
        check_file("disk", b"base", b"base");
        check_file("disk", b"../base", b"../base");
    }

    #[test]
    fn absolute_names_are_kept() {
        check_file("/a/b/disk", b"/c/base", b"/c/base");
        check_file("/a/b/disk", b"//c/../base", b"//c/../base");
    }

    #[test]
    fn non_utf8_names_stay_bytes() {
        check_file("/a/disk", b"b\xfe\xfd", b"/a/b\xfe\xfd");
        let image = PathBuf::from(OsStr::from_bytes(b"/x\x80/disk"));
        assert_eq!(
            resolve_backing(&image, b"\x81"),
            BackingTarget::File(path_from_bytes(b"/x\x80/\x81"))
        );
    }

    #[test]
    fn protocols() {
        assert_eq!(
            resolve_backing(Path::new("/a/disk"), b"nbd:localhost:10809"),
            BackingTarget::Protocol {
                protocol: "nbd".into(),
                name: b"localhost:10809".to_vec()
            }
        );
        assert_eq!(
            resolve_backing(Path::new("/a/disk"), b"rbd:pool/image"),
            BackingTarget::Protocol {
                protocol: "rbd".into(),
                name: b"pool/image".to_vec()
            }
        );
        assert_eq!(
            resolve_backing(Path::new("/a/disk"), br#"json:{"file":{"driver":"file"}}"#),
            BackingTarget::Json(br#"{"file":{"driver":"file"}}"#.to_vec())
        );
        assert_eq!(
            resolve_backing(Path::new("/a/disk"), b":odd"),
            BackingTarget::Protocol {
                protocol: String::new(),
                name: b"odd".to_vec()
            }
        );
    }

    #[test]
    fn a_colon_after_a_slash_is_no_protocol() {
        check_file("/a/disk", b"dir/nbd:x", b"/a/dir/nbd:x");
        check_file("/a/disk", b"/abs/x:y", b"/abs/x:y");
    }

    #[test]
    fn file_protocol_is_stripped_and_not_joined() {
        check_file("/a/disk", b"file:/b/base", b"/b/base");
        check_file("/a/disk", b"file:base", b"base");
    }

    #[test]
    fn extent_names_join_the_image_directory_without_protocols() {
        let extent = |image: &str, name: &[u8]| resolve_extent(Path::new(image), name);
        assert_eq!(
            extent("/a/disk.vmdk", b"disk-s001.vmdk"),
            PathBuf::from("/a/disk-s001.vmdk")
        );
        assert_eq!(extent("/a/disk.vmdk", b"nbd:x"), PathBuf::from("/a/nbd:x"));
        assert_eq!(extent("/a/disk.vmdk", b"/b/flat"), PathBuf::from("/b/flat"));
        assert_eq!(
            extent("disk.vmdk", b"../_base/f"),
            PathBuf::from("../_base/f")
        );
    }

    #[test]
    fn a_protocol_prefix_of_the_image_path_is_kept_like_path_combine() {
        check_file("nbd:disk", b"base", b"nbd:base");
        check_file("file:/a/disk", b"base", b"file:/a/base");
    }
}
