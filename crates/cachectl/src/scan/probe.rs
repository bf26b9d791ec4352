//! Reading one possible disk: its header from the first bytes read of it (once), the chain below
//! it by the names it gives, and which cache files it uses.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use cachectl_fs::{Dir, FileStat, Kind, Prefix};
use cachectl_naming::quote;
use cachectl_policy::{DiskUse, UseKind};
use cachectl_qcow2::{
    BackingTarget, ChainError, Format, Link, ReadError, header_from_prefix, walk_below,
};

use super::index::{CacheIndex, Reference};

/// The bytes first read of a file, in one `read`: any header but a rare few (a VHDX, a qcow2
/// whose backing name lies further in, whose further bytes are read then), and the whole of a
/// small file (`disk.info`, an old `libvirt.xml`). More would cost a warm cache its copying (a
/// sparse image reads as zeroed pages) and buy a network read nothing.
pub(super) const PREFIX_LEN: usize = 16 * 1024;

/// What reading one possible disk found.
#[derive(Debug, Clone)]
pub(super) enum Probe {
    /// Not a disk after all (not a regular file, or gone): why.
    Skipped(&'static str),
    /// Its chain cannot be read: why.
    Unreadable(String),
    /// The cache files its chain uses.
    Uses(Vec<DiskUse>),
}

/// The top image of a chain, read by the scan.
#[derive(Debug, Clone)]
pub(super) struct Top {
    pub link: Link,
    /// Its device and inode, where it was `fstat`ed: a small file read whole that names no
    /// other file and has no cache file's size is not (it cannot be a link to a cache file).
    pub identity: Option<(u64, u64)>,
}

impl Top {
    /// Whether it names other files: a backing file, a data file, extents.
    pub(super) fn references_files(&self) -> bool {
        self.link.backing.is_some()
            || self.link.data_file.is_some()
            || !self.link.extents.is_empty()
    }
}

/// Reads the image `name` of `dir` (at `path`) and its `stat`: a cache entry.
pub(super) fn read_top(
    dir: &Dir,
    name: &OsStr,
    path: PathBuf,
) -> Result<Option<(Top, FileStat)>, ChainError> {
    let prefix = match dir.read_prefix(name, PREFIX_LEN) {
        Ok(Some(prefix)) => prefix,
        Ok(None) => return Ok(None),
        Err(err) => return Err(read_failed(&path, err)),
    };
    let stat = regular_stat(&prefix, &path)?;
    let top = top_from_prefix(&prefix, path, Some(stat), None)?;
    Ok(Some((top, stat)))
}

/// The top image from its first bytes (`prefix`), with its `stat` if the caller took it; else
/// `fstat`ed only where it must be: it was not read whole, it names other files, or a cache
/// file has its size (`sizes`: it may be a hard link to one).
pub(super) fn top_from_prefix(
    prefix: &Prefix,
    path: PathBuf,
    stat: Option<FileStat>,
    sizes: Option<&HashSet<u64>>,
) -> Result<Top, ChainError> {
    let mut stat = match stat {
        None if !prefix.whole => Some(regular_stat(prefix, &path)?),
        stat => stat,
    };
    let len = stat
        .as_ref()
        .map_or(prefix.bytes.len() as u64, |stat| stat.size);
    let header = header_from_prefix(&prefix.file, &prefix.bytes, len, &path)
        .map_err(|source| at_top(&path, source))?;
    let mut top = Top {
        link: Link::of(path, 0, (0, 0), 0, len, header),
        identity: None,
    };
    if stat.is_none() && (top.references_files() || sizes.is_some_and(|s| s.contains(&len))) {
        stat = Some(regular_stat(prefix, &top.link.path)?);
    }
    if let Some(stat) = stat {
        top.link.dev_ino = stat.id();
        top.link.allocated = stat.allocated;
        top.identity = Some(stat.id());
    }
    Ok(top)
}

/// `fstat` of an opened file, which must be a regular file.
fn regular_stat(prefix: &Prefix, path: &Path) -> Result<FileStat, ChainError> {
    let stat = prefix.stat().map_err(|err| read_failed(path, err))?;
    if stat.kind != Kind::Regular {
        return Err(at_top(
            path,
            ReadError::NotRegularFile {
                path: path.to_owned(),
                kind: stat.kind.name(),
            },
        ));
    }
    Ok(stat)
}

fn at_top(path: &Path, source: ReadError) -> ChainError {
    ChainError::Read {
        top: path.to_owned(),
        depth: 0,
        source,
    }
}

/// What it means that the top image cannot be opened or read.
pub(super) fn unopened(path: &Path, err: std::io::Error) -> Probe {
    failed_top(&read_failed(path, err))
}

/// A failure to open or read the top image.
fn read_failed(path: &Path, err: std::io::Error) -> ChainError {
    let source = if err.kind() == std::io::ErrorKind::NotFound {
        ReadError::NotFound(path.to_owned())
    } else {
        ReadError::Io {
            path: path.to_owned(),
            source: err,
        }
    };
    at_top(path, source)
}

/// Which cache files the chain of `top` uses: the files it references, down to the first cache
/// file (whose own chain the cache scan covers) or a raw file; `below` gives the images under
/// `top`. A disk declared in a format (`declared`, and who declares it) that reads as another
/// cannot be read. A file that is a cache file (a link to one) uses it directly.
pub(super) fn chain_uses(
    index: &CacheIndex,
    top: Result<Top, ChainError>,
    is_cache_file: bool,
    declared: Option<(Format, &'static str)>,
) -> Probe {
    let top = match top {
        Ok(top) => top,
        Err(err) => return failed_top(&err),
    };
    let below = walk_below(&top.link);
    uses_of(index, top, below, is_cache_file, declared)
}

/// As [`chain_uses`], for a file reached through a symlink: opened by its path, as QEMU opens
/// it.
pub(super) fn chain_uses_by_path(
    index: &CacheIndex,
    path: &Path,
    declared: Option<(Format, &'static str)>,
) -> Probe {
    let mut walk = cachectl_qcow2::walk_chain(path);
    let link = match walk.next() {
        Some(Ok(link)) => link,
        Some(Err(err)) => return failed_top(&err),
        None => return Probe::Uses(Vec::new()),
    };
    let top = Top {
        identity: Some(link.dev_ino),
        link,
    };
    uses_of(index, top, walk, false, declared)
}

/// Why a top image cannot be read: gone or not a file (skipped), or anything else.
fn failed_top(err: &ChainError) -> Probe {
    match err {
        ChainError::Read {
            depth: 0,
            source: ReadError::NotFound(_),
            ..
        } => Probe::Skipped("vanished during the scan"),
        ChainError::Read {
            depth: 0,
            source: ReadError::NotRegularFile { kind, .. },
            ..
        } => Probe::Skipped(kind),
        other => Probe::Unreadable(other.problem()),
    }
}

fn uses_of(
    index: &CacheIndex,
    top: Top,
    below: impl Iterator<Item = Result<Link, ChainError>>,
    is_cache_file: bool,
    declared: Option<(Format, &'static str)>,
) -> Probe {
    if let Some((format, declarer)) = declared
        && top.link.header.format != format
    {
        return Probe::Unreadable(format!(
            "{declarer} declares it {}, but it reads as {}",
            format.as_str(),
            top.link.header.format.as_str()
        ));
    }
    if !is_cache_file
        && let Some(identity) = top.identity
        && let Some(uses) = index.uses_as_link(identity)
    {
        return Probe::Uses(uses);
    }
    let mut refs = Vec::new();
    match follow(index, &top.link, &mut refs) {
        Step::Down => {}
        Step::End => return Probe::Uses(index.match_references(&refs)),
        Step::Unreadable(problem) => return Probe::Unreadable(problem),
    }
    // As deep as `inspect` follows (the crate's limit): a deeper chain cannot be read.
    for link in below {
        let link = match link {
            Ok(link) => link,
            Err(err) if err.is_missing_backing_file() => break,
            Err(err) => return Probe::Unreadable(err.problem()),
        };
        match follow(index, &link, &mut refs) {
            Step::Down => {}
            Step::End => break,
            Step::Unreadable(problem) => return Probe::Unreadable(problem),
        }
    }
    Probe::Uses(index.match_references(&refs))
}

/// What one image of a chain says of what is below it.
enum Step {
    /// Its backing file is to be read.
    Down,
    /// The chain ends here, or reaches the cache.
    End,
    /// It names what cannot be followed.
    Unreadable(String),
}

/// Notes the files `link` references (data files, extents, its backing file) in `refs`.
fn follow(index: &CacheIndex, link: &Link, refs: &mut Vec<Reference>) -> Step {
    if let Some(target) = &link.data_file
        && depends_on_working_directory(link.header.external_data_file(), target)
    {
        return Step::Unreadable(unresolvable(&link.path, target));
    }
    // External data files, and the extent files of a VMDK descriptor.
    for target in link.dependencies() {
        match target.file_path() {
            Some(file) => refs.push(Reference {
                target: file,
                kind: UseKind::DataFile { depth: link.depth },
            }),
            None => return Step::Unreadable(unresolvable(&link.path, target)),
        }
    }
    let Some(target) = &link.backing else {
        return Step::End;
    };
    if depends_on_working_directory(link.header.backing_file.as_deref(), target) {
        return Step::Unreadable(unresolvable(&link.path, target));
    }
    let Some(file) = target.file_path() else {
        if let BackingTarget::Json(_) = target {
            return Step::Unreadable(unresolvable(&link.path, target));
        }
        tracing::debug!(image = %link.path.display(), "backing file on a network protocol: not a cache file");
        return Step::End;
    };
    let reaches_cache = index.is_cache_file(&file);
    refs.push(Reference {
        target: file,
        kind: UseKind::Backing {
            depth: link.depth + 1,
        },
    });
    if reaches_cache { Step::End } else { Step::Down }
}

/// A relative `file:` name is relative to QEMU's working directory, which cachectl cannot know.
fn depends_on_working_directory(name: Option<&[u8]>, target: &BackingTarget) -> bool {
    let file_protocol = name.is_some_and(|n| n.starts_with(b"file:"));
    file_protocol && target.file_path().is_some_and(|p| p.is_relative())
}

fn unresolvable(image: &Path, target: &BackingTarget) -> String {
    let name = match target {
        BackingTarget::Json(json) => format!("json:{}", String::from_utf8_lossy(json)),
        // Only a relative `file:` name is unresolvable: it depends on QEMU's working directory.
        BackingTarget::File(path) => format!("file:{}", path.display()),
        other => format!("{other:?}"),
    };
    format!(
        "{}: the name {name:?} does not name a single file cachectl can follow",
        quote(image)
    )
}
