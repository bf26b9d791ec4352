//! Walking a backing chain, one image at a time, as QEMU opens it.
//!
//! [`walk_chain`] yields the top image, then its backing file, and so on: each read the way
//! [`read_header`] reads (never blocking, at most the first cluster), each with its backing
//! and external data file names (and VMDK extent names) resolved. It is lazy, so a caller that reaches a file it already
//! knows stops without reading further. A backing file declared `raw` is never probed for a
//! format. A loop (by device and inode) or a chain deeper than the limit is an error naming the
//! files, never a hang.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use cachectl_naming::quote;

use crate::disk::DiskHeader;
use crate::read::{ReadError, read_header, stat_declared_raw};
use crate::resolve::{BackingTarget, resolve_backing, resolve_extent};

/// The default limit on how many backing files below the top image are followed.
pub const DEFAULT_MAX_DEPTH: u32 = 256;

/// One image of a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The path it was opened by (the top's as given, then as the backing names resolve).
    pub path: PathBuf,
    /// 0 for the top image, 1 for its backing file, and so on.
    pub depth: u32,
    /// Device and inode.
    pub dev_ino: (u64, u64),
    /// Allocated bytes on disk (`st_blocks * 512`).
    pub allocated: u64,
    /// The file's length in bytes (`st_size`).
    pub len: u64,
    /// Its header: for a backing file declared raw, [`DiskHeader::raw`] without probing.
    pub header: DiskHeader,
    /// Where its backing file name points, if it has one.
    pub backing: Option<BackingTarget>,
    /// Where its external data file name points, if it has one.
    pub data_file: Option<BackingTarget>,
    /// The further files holding its data, in order: a VMDK descriptor's extents (always
    /// [`BackingTarget::File`]). Empty for other formats.
    pub extents: Vec<BackingTarget>,
}

impl Link {
    /// Every file this image needs besides its backing file: its external data file, then its
    /// extents. A file any of these names must be kept as long as the image is.
    pub fn dependencies(&self) -> impl Iterator<Item = &BackingTarget> {
        self.data_file.iter().chain(&self.extents)
    }
}

/// Why a chain cannot be walked further.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// An image of the chain cannot be read.
    #[error("{source}{}", via(.top, .depth))]
    Read {
        /// The top image.
        top: PathBuf,
        /// The depth of the image that failed.
        depth: u32,
        /// Why.
        #[source]
        source: ReadError,
    },
    /// The chain comes back to an image it went through.
    #[error("the backing chain of {top} loops: {again} is {first} again", top = .top.display(), again = .again.display(), first = .first.display())]
    Loop {
        /// The top image.
        top: PathBuf,
        /// The image first met.
        first: PathBuf,
        /// The path that leads to it again.
        again: PathBuf,
    },
    /// The chain is deeper than the limit.
    #[error("the backing chain of {top} is deeper than {limit} images (at {at})", top = .top.display(), at = .at.display())]
    TooDeep {
        /// The top image.
        top: PathBuf,
        /// The limit.
        limit: u32,
        /// The first image past it.
        at: PathBuf,
    },
}

impl ChainError {
    /// What is wrong, on one line and without the top image's path: for a message or a report
    /// that names the disk already.
    ///
    /// The top image's own failure is [`ReadError::problem`] ("does not exist", "is a fifo, not
    /// a regular file", "invalid disk header: ..."). An image below it is named, as text reports
    /// name files ([`cachectl_naming::quote`]): "its backing file /b: does not exist". A loop or
    /// a chain deeper than the limit is the whole error, which names the top image too.
    pub fn problem(&self) -> String {
        match self {
            Self::Read {
                depth: 0, source, ..
            } => source.problem(),
            Self::Read { source, .. } => {
                format!(
                    "its backing file {}: {}",
                    quote(source.path()),
                    source.problem()
                )
            }
            other => other.to_string(),
        }
    }

    /// Whether the error is an image of the chain (below the top) that does not exist.
    pub fn is_missing_backing_file(&self) -> bool {
        matches!(self, Self::Read { depth, source: ReadError::NotFound(_), .. } if *depth > 0)
    }
}

fn via(top: &Path, depth: &u32) -> String {
    if *depth == 0 {
        String::new()
    } else {
        format!(" (in the backing chain of {})", top.display())
    }
}

/// A lazy walk down the backing chain of `top`; see the module documentation.
#[derive(Debug)]
pub struct ChainWalk {
    top: PathBuf,
    next: Option<(PathBuf, bool)>,
    depth: u32,
    max_depth: u32,
    seen: HashSet<(u64, u64)>,
    first_seen: Vec<((u64, u64), PathBuf)>,
}

/// Walks the backing chain of the image at `top`, top first.
pub fn walk_chain(top: &Path) -> ChainWalk {
    ChainWalk {
        top: top.to_path_buf(),
        next: Some((top.to_path_buf(), false)),
        depth: 0,
        max_depth: DEFAULT_MAX_DEPTH,
        seen: HashSet::new(),
        first_seen: Vec::new(),
    }
}

impl ChainWalk {
    /// Follows at most `max_depth` backing files below the top.
    pub fn max_depth(mut self, max_depth: u32) -> Self {
        self.max_depth = max_depth;
        self
    }

    fn read(&mut self, path: PathBuf, declared_raw: bool) -> Result<Link, ChainError> {
        let depth = self.depth;
        let read_error = |source| ChainError::Read {
            top: self.top.clone(),
            depth,
            source,
        };
        let read = if declared_raw {
            // Never probe a file declared raw: its bytes are guest data.
            stat_declared_raw(&path)
        } else {
            read_header(&path)
        }
        .map_err(read_error)?;
        let (header, dev_ino, allocated, len) =
            (read.header, (read.dev, read.ino), read.allocated, read.len);
        if !self.seen.insert(dev_ino) {
            let first = self
                .first_seen
                .iter()
                .find(|(id, _)| *id == dev_ino)
                .map(|(_, p)| p.clone());
            return Err(ChainError::Loop {
                top: self.top.clone(),
                first: first.unwrap_or_default(),
                again: path,
            });
        }
        self.first_seen.push((dev_ino, path.clone()));
        Ok(Link::of(path, depth, dev_ino, allocated, len, header))
    }
}

impl Link {
    /// An image of a chain, with its backing file, external data file and extent names
    /// resolved against `path`, as QEMU resolves them.
    pub fn of(
        path: PathBuf,
        depth: u32,
        dev_ino: (u64, u64),
        allocated: u64,
        len: u64,
        header: DiskHeader,
    ) -> Link {
        let backing = header
            .backing_file
            .as_deref()
            .map(|name| resolve_backing(&path, name));
        let data_file = header
            .external_data_file()
            .map(|name| resolve_backing(&path, name));
        let extents = header
            .extent_files
            .iter()
            .map(|name| BackingTarget::File(resolve_extent(&path, name)))
            .collect();
        Link {
            path,
            depth,
            dev_ino,
            allocated,
            len,
            header,
            backing,
            data_file,
            extents,
        }
    }
}

/// Walks the chain below `top`, an image the caller read itself ([`Link::of`] at depth 0):
/// its backing file first, at depth 1, with `top` counted for loops.
pub fn walk_below(top: &Link) -> ChainWalk {
    let raw = top.header.backing_format.as_deref() == Some(b"raw".as_slice());
    ChainWalk {
        top: top.path.clone(),
        next: top
            .backing
            .as_ref()
            .and_then(BackingTarget::file_path)
            .map(|next| (next, raw)),
        depth: top.depth + 1,
        max_depth: DEFAULT_MAX_DEPTH,
        seen: HashSet::from([top.dev_ino]),
        first_seen: vec![(top.dev_ino, top.path.clone())],
    }
}

impl Iterator for ChainWalk {
    type Item = Result<Link, ChainError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (path, declared_raw) = self.next.take()?;
        if self.depth > self.max_depth {
            return Some(Err(ChainError::TooDeep {
                top: self.top.clone(),
                limit: self.max_depth,
                at: path,
            }));
        }
        let link = match self.read(path, declared_raw) {
            Ok(link) => link,
            Err(err) => return Some(Err(err)),
        };
        let raw = link.header.backing_format.as_deref() == Some(b"raw".as_slice());
        self.next = link
            .backing
            .as_ref()
            .and_then(BackingTarget::file_path)
            .map(|next| (next, raw));
        self.depth += 1;
        Some(Ok(link))
    }
}

impl BackingTarget {
    /// The file this target names: a file name, or a `json:` name whose only file is a plain
    /// `file.filename` (nested `{"file": {"filename": ...}}` or flattened `"file.filename"`).
    pub fn file_path(&self) -> Option<PathBuf> {
        match self {
            Self::File(path) => Some(path.clone()),
            Self::Protocol { .. } => None,
            Self::Json(json) => json_file_name(json),
        }
    }
}

fn json_file_name(json: &[u8]) -> Option<PathBuf> {
    let value: serde_json::Value = serde_json::from_slice(json).ok()?;
    let object = value.as_object()?;
    let (driver, filename) = match object.get("file") {
        Some(file) => (file.get("driver"), file.get("filename")),
        None => (object.get("file.driver"), object.get("file.filename")),
    };
    if driver.is_some_and(|d| d.as_str() != Some("file")) {
        return None;
    }
    filename?.as_str().map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::create::{Qcow2Spec, create_image};

    fn overlay(path: &Path, backing: &str, format: Option<&str>) {
        let spec = Qcow2Spec {
            backing_file: Some(backing.as_bytes()),
            backing_format: format,
            ..Qcow2Spec::new(1 << 20)
        };
        fs::write(path, create_image(&spec).expect("an image")).expect("written");
    }

    fn paths(walk: ChainWalk) -> Vec<Result<String, String>> {
        walk.map(|r| {
            r.map(|l| l.path.display().to_string())
                .map_err(|e| e.to_string())
        })
        .collect()
    }

    #[test]
    fn walks_top_first_and_stops_at_raw() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let d = dir.path();
        fs::write(
            d.join("base"),
            b"QFI\xfb guest data that must not be probed",
        )
        .expect("written");
        overlay(&d.join("mid"), "base", Some("raw"));
        overlay(&d.join("top"), "mid", None);
        let shown = paths(walk_chain(&d.join("top")));
        let p = |n: &str| Ok(d.join(n).display().to_string());
        assert_eq!(shown, vec![p("top"), p("mid"), p("base")]);
    }

    #[test]
    fn qed_and_vmdk_overlays_keep_their_bases_and_extents() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let d = dir.path();
        fs::write(
            d.join("base"),
            b"QFI\xfb guest data that must not be probed",
        )
        .expect("written");
        let qemu = |args: &[&str]| crate::test_support::qemu_img(d, args);
        qemu(&[
            "create", "-q", "-f", "qed", "-F", "raw", "-b", "base", "qed", "1M",
        ]);
        let shown = paths(walk_chain(&d.join("qed")));
        let p = |n: &str| Ok(d.join(n).display().to_string());
        assert_eq!(shown, vec![p("qed"), p("base")]);

        qemu(&["create", "-q", "-f", "vmdk", "base.vmdk", "1M"]);
        qemu(
            &[
                "create",
                "-q",
                "-f",
                "vmdk",
                "-o",
                "subformat=twoGbMaxExtentSparse",
            ]
            .into_iter()
            .chain(["-F", "vmdk", "-b", "base.vmdk", "top.vmdk", "1M"])
            .collect::<Vec<_>>(),
        );
        let links: Vec<_> = walk_chain(&d.join("top.vmdk"))
            .collect::<Result<_, _>>()
            .expect("a readable chain");
        assert_eq!(links.len(), 2);
        assert_eq!(links[1].path, d.join("base.vmdk"));
        let needed: Vec<_> = links[0].dependencies().cloned().collect();
        assert_eq!(needed, vec![BackingTarget::File(d.join("top-s001.vmdk"))]);
        assert_eq!(links[1].dependencies().count(), 0);
    }

    #[test]
    fn loops_and_depth_are_errors_naming_the_files() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let d = dir.path();
        overlay(&d.join("a"), "b", None);
        overlay(&d.join("b"), "a", None);
        let shown = paths(walk_chain(&d.join("a")));
        assert_eq!(shown.len(), 3);
        let err = shown[2].clone().expect_err("a loop");
        assert!(
            err.contains("loops") && err.contains(&d.join("a").display().to_string()),
            "{err}"
        );

        overlay(&d.join("self"), "self", None);
        assert!(paths(walk_chain(&d.join("self")))[1].is_err());

        let shown = paths(walk_chain(&d.join("a")).max_depth(0));
        assert!(
            shown[1]
                .as_ref()
                .expect_err("too deep")
                .contains("deeper than 0 images")
        );
    }

    #[test]
    fn a_missing_backing_file_ends_the_walk_with_an_error() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        overlay(&dir.path().join("top"), "gone", None);
        let results: Vec<_> = walk_chain(&dir.path().join("top")).collect();
        assert!(
            results[1]
                .as_ref()
                .is_err_and(ChainError::is_missing_backing_file)
        );
    }

    #[test]
    fn the_problem_leaves_out_the_top_image_and_names_a_backing_file() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let d = dir.path();
        let problem = |top: &str| {
            walk_chain(&d.join(top))
                .find_map(Result::err)
                .expect("an error")
                .problem()
        };
        assert_eq!(problem("missing"), "does not exist");
        fs::write(d.join("bad"), b"QFI\xfb\0\0\0\x07").expect("written");
        assert_eq!(
            problem("bad"),
            "invalid disk header: unsupported qcow2 version 7"
        );
        assert_eq!(
            walk_chain(d)
                .find_map(Result::err)
                .expect("an error")
                .problem(),
            "is a directory, not a regular file"
        );
        overlay(&d.join("top"), "gone base", None);
        assert_eq!(
            problem("top"),
            format!(
                "its backing file \"{}\": does not exist",
                d.join("gone base").display()
            )
        );
        overlay(&d.join("over-bad"), "bad", None);
        assert_eq!(
            problem("over-bad"),
            format!(
                "its backing file {}: invalid disk header: unsupported qcow2 version 7",
                d.join("bad").display()
            )
        );
        overlay(&d.join("self"), "self", None);
        let top = d.join("self").display().to_string();
        assert_eq!(
            problem("self"),
            format!("the backing chain of {top} loops: {top} is {top} again")
        );
    }

    #[test]
    fn json_names_with_one_plain_file_resolve_to_it() {
        let target = |json: &str| BackingTarget::Json(json.as_bytes().to_vec()).file_path();
        assert_eq!(
            target(r#"{"file": {"driver": "file", "filename": "/b"}}"#),
            Some(PathBuf::from("/b"))
        );
        assert_eq!(
            target(r#"{"file.filename": "/b"}"#),
            Some(PathBuf::from("/b"))
        );
        assert_eq!(
            target(r#"{"file": {"driver": "nbd", "filename": "/b"}}"#),
            None
        );
        assert_eq!(target(r#"{"driver": "qcow2"}"#), None);
        assert_eq!(target("not json"), None);
    }
}
