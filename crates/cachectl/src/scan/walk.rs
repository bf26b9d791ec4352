//! Walking the instances path: each directory read from the descriptor it is opened with, each
//! file opened relative to it and read once, and what Nova (`disk.info`) and an old
//! `libvirt.xml` declare of an instance's disks read before the disks themselves.

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use cachectl_fs::{Dir, Kind, Prefix};
use cachectl_naming::{EntryKind, classify_os, is_console_log, quote};
use cachectl_policy::{Disk, FileIdentity, ReadAs, UnixTime, UnreadableFile};
use cachectl_sources::libvirt;

use super::declared::Declared;
use super::found::{MAX_DIR_DEPTH, Scan, relative_display};
use super::index::CacheIndex;
use super::probe::{PREFIX_LEN, Probe, chain_uses, chain_uses_by_path, top_from_prefix, unopened};
use crate::domains::DeclaredDisks;

/// The largest `disk.info` read; a real one is a few hundred bytes.
const MAX_DISK_INFO_LEN: u64 = 1 << 20;
/// Nova's record of the formats it gave libvirt for an instance's disks.
const DISK_INFO: &str = "disk.info";
/// The copy of an instance's domain Nova wrote up to Newton.
const LIBVIRT_XML: &str = "libvirt.xml";

/// An entry of the instances path to scan: an instance directory (or another directory), or a
/// file.
pub(super) struct TopEntry {
    pub name: OsString,
    /// Its name as reports show it.
    pub shown: String,
    pub kind: Kind,
    pub is_dir: bool,
}

/// One thread's walk.
pub(super) struct Scanner<'a> {
    index: &'a CacheIndex,
    root: &'a Path,
    /// Directories walked, by device and inode.
    pub visited_dirs: HashSet<(u64, u64)>,
    /// The same, in the order walked.
    pub walked: Vec<(u64, u64)>,
    /// Whether a directory already walked was met again.
    pub revisited: bool,
}

/// Where a file being scanned is, and why it is read.
struct Place<'p> {
    dir: &'p Dir,
    name: &'p OsStr,
    kind: Kind,
    /// Its path relative to the instances path.
    relative: String,
    declared: Declared<'p>,
}

impl<'a> Scanner<'a> {
    pub(super) fn new(index: &'a CacheIndex, root: &'a Path) -> Self {
        Self {
            index,
            root,
            visited_dirs: HashSet::new(),
            walked: Vec::new(),
            revisited: false,
        }
    }

    /// Scans one entry of the instances path.
    pub(super) fn scan_entry(&mut self, instances: &Dir, entry: &TopEntry, scan: &mut Scan) {
        if entry.is_dir {
            // An instance directory may be a symlink, as Nova follows it.
            match instances.open_subdir(&entry.name, true) {
                Ok(Some(dir)) => self.walk(dir, 1, scan),
                Ok(None) => {}
                Err(err) => self.unwalkable(&instances.join(&entry.name), &err, scan),
            }
            return;
        }
        let (no_disk_info, no_snapshot) = (HashMap::new(), DeclaredDisks::default());
        let index = self.index;
        let (declared, dispute) =
            index.declared(&entry.shown, &entry.name, &no_disk_info, &no_snapshot);
        scan.format_disputes.extend(dispute);
        let place = Place {
            dir: instances,
            name: &entry.name,
            kind: entry.kind,
            relative: entry.shown.clone(),
            declared,
        };
        self.scan_file(&place, None, scan);
    }

    /// Walks a directory under the instances path: `depth` 1 is an instance directory, deeper
    /// ones are real directories only, so a walk never leaves the instances path through a
    /// symlink. A directory too deep to walk is in doubt, not skipped.
    fn walk(&mut self, mut dir: Dir, depth: usize, scan: &mut Scan) {
        // Each directory once (two names for one instance directory, a bind mount).
        if let Ok(stat) = dir.stat_self() {
            if !self.visited_dirs.insert(stat.id()) {
                self.revisited = true;
                return;
            }
            self.walked.push(stat.id());
        }
        let path = dir.path().to_owned();
        if depth > MAX_DIR_DEPTH {
            scan.unreadable.push(UnreadableFile {
                path: relative_display(self.root, &path),
                problem: format!("a directory deeper than {MAX_DIR_DEPTH} levels: not read"),
                read_as: ReadAs::Directory,
                identity: identity_of_file(&path),
            });
            return;
        }
        let entries = match dir.list() {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return,
            Err(err) => return self.unwalkable(&path, &err, scan),
        };
        // What Nova declares of this instance's disks, read first (and kept, to be probed as
        // possible disks too, without a second read).
        let mut held: HashMap<OsString, Prefix> = HashMap::new();
        let (disk_info, snapshot) = if depth == 1 {
            self.read_declarations(&dir, &entries, &mut held)
        } else {
            (HashMap::new(), DeclaredDisks::default())
        };
        for (name, kind) in &entries {
            if is_console_log(name) && *kind != Kind::Directory {
                // The guest writes it from its first byte: never a disk, whatever it looks like.
                tracing::debug!(path = %dir.join(name).display(), "the guest's console log: not a disk");
                continue;
            }
            let relative = relative_display(self.root, &dir.join(name));
            let index = self.index;
            let (declared, dispute) = index.declared(&relative, name, &disk_info, &snapshot);
            scan.format_disputes.extend(dispute);
            if *kind == Kind::Directory {
                match dir.open_subdir(name, false) {
                    Ok(Some(sub)) => self.walk(sub, depth + 1, scan),
                    Ok(None) => {}
                    Err(err) => self.unwalkable(&dir.join(name), &err, scan),
                }
                continue;
            }
            let place = Place {
                dir: &dir,
                name,
                kind: *kind,
                relative,
                declared,
            };
            self.scan_file(&place, held.remove(name), scan);
        }
    }

    /// A directory that cannot be opened or listed: it may hold disks.
    fn unwalkable(&self, path: &Path, err: &std::io::Error, scan: &mut Scan) {
        scan.unreadable.push(UnreadableFile {
            path: relative_display(self.root, path),
            problem: format!("cannot list the directory: {err}"),
            read_as: ReadAs::Directory,
            identity: identity_of_file(path),
        });
    }

    /// Reads an instance directory's `disk.info` and (where libvirt is read) `libvirt.xml`: the
    /// formats `disk.info` declares by file name, and the disks the snapshot names. Their first
    /// bytes go to `held`, to be probed as possible disks like any file.
    fn read_declarations(
        &self,
        dir: &Dir,
        entries: &[(OsString, Kind)],
        held: &mut HashMap<OsString, Prefix>,
    ) -> (HashMap<OsString, String>, DeclaredDisks) {
        let regular = |wanted: &str| {
            entries
                .iter()
                .any(|(name, kind)| name == wanted && *kind == Kind::Regular)
        };
        let mut read = |name: &str, max: u64| -> Option<Vec<u8>> {
            let name = OsString::from(name);
            let mut prefix = dir.read_prefix(&name, PREFIX_LEN).ok()??;
            // A declaration with other hard links may be a link to a file outside the tree: it
            // declares nothing (its bytes are still probed, as any file's, for a disk header).
            let whole = match prefix.stat() {
                Ok(stat) if stat.nlink == 1 => whole_file(&mut prefix, max),
                Ok(stat) => {
                    tracing::debug!(
                        "{}: has {} hard links: not read",
                        quote(&dir.join(&name)),
                        stat.nlink
                    );
                    None
                }
                Err(_) => None,
            };
            held.insert(name, prefix);
            whole
        };
        let disk_info = if regular(DISK_INFO) {
            read(DISK_INFO, MAX_DISK_INFO_LEN).map_or_else(HashMap::new, |b| disk_info_formats(&b))
        } else {
            HashMap::new()
        };
        let snapshot = match &self.index.roots {
            Some(roots) if self.index.declared.reads_snapshots() && regular(LIBVIRT_XML) => {
                let path = dir.join(OsStr::new(LIBVIRT_XML));
                match read(LIBVIRT_XML, libvirt::MAX_DOMAIN_LEN)
                    .map(|bytes| libvirt::parse_domain(&path, &bytes))
                {
                    Some(Ok(domain)) => DeclaredDisks::of_instance_dir(roots, path, domain),
                    Some(Err(err)) => {
                        tracing::debug!("{err}: its disks are read as any other file");
                        DeclaredDisks::default()
                    }
                    None => {
                        tracing::debug!("cannot read {}: not a snapshot", quote(&path));
                        DeclaredDisks::default()
                    }
                }
            }
            _ => DeclaredDisks::default(),
        };
        (disk_info, snapshot)
    }

    /// Scans one file (`prefix`: its first bytes, if read already).
    fn scan_file(&mut self, place: &Place<'_>, prefix: Option<Prefix>, scan: &mut Scan) {
        let path = place.dir.join(place.name);
        if place.declared.is_raw() && matches!(place.kind, Kind::Regular | Kind::Symlink) {
            // QEMU opens it raw, never probing its bytes (guest data: a tenant's to write): it
            // uses a cache file only by being one (a link).
            scan.probed += 1;
            let identity = match place.kind {
                Kind::Symlink => std::fs::metadata(&path).ok().map(|m| (m.dev(), m.ino())),
                _ => place.dir.stat(place.name).ok().flatten().map(|s| s.id()),
            };
            if let Some(uses) = identity.and_then(|id| self.index.uses_as_link(id)) {
                self.record(place, Probe::Uses(uses), scan);
            }
            return;
        }
        // A checksum sidecar or an interrupted download, here or in another host's `_base_<ip>`,
        // backs nothing: its bytes are not a disk's.
        if matches!(
            classify_os(place.name).kind(),
            EntryKind::Sidecar | EntryKind::DownloadLeftover
        ) {
            tracing::debug!(path = %path.display(), "a sidecar or download leftover: not a disk");
            return;
        }
        let probe = match place.kind {
            Kind::Regular => {
                let read = match prefix {
                    Some(prefix) => Ok(Some(prefix)),
                    None => place.dir.read_prefix(place.name, PREFIX_LEN),
                };
                match read {
                    Ok(Some(prefix)) => {
                        let top =
                            top_from_prefix(&prefix, path.clone(), None, Some(&self.index.sizes));
                        chain_uses(self.index, top, false, place.declared.format())
                    }
                    Ok(None) => Probe::Skipped("vanished during the scan"),
                    Err(err) => unopened(&path, err),
                }
            }
            Kind::Symlink => {
                if std::fs::metadata(&path).is_ok_and(|meta| meta.is_dir()) {
                    tracing::debug!(path = %path.display(), "a symlink to a directory inside an instance directory: not followed");
                    return;
                }
                chain_uses_by_path(self.index, &path, place.declared.format())
            }
            _ => Probe::Skipped("not a regular file"),
        };
        self.record(place, probe, scan);
    }

    /// Records what reading one possible disk found.
    fn record(&self, place: &Place<'_>, probe: Probe, scan: &mut Scan) {
        match probe {
            Probe::Skipped(why) => tracing::debug!(path = %place.relative, "{why}: skipped"),
            Probe::Unreadable(problem) => {
                scan.probed += 1;
                scan.unreadable.push(UnreadableFile {
                    path: place.relative.clone(),
                    problem,
                    read_as: place.declared.read_as(),
                    identity: identity_of_file(&place.dir.join(place.name)),
                });
            }
            Probe::Uses(uses) => {
                scan.probed += 1;
                if !uses.is_empty() {
                    scan.disks.push(Disk {
                        path: place.relative.as_str().into(),
                        uses,
                    });
                }
            }
        }
    }
}

/// The whole of a file whose first bytes `prefix` holds (reading the rest, up to `max` bytes in
/// all); `None` if it is larger, or cannot be read.
fn whole_file(prefix: &mut Prefix, max: u64) -> Option<Vec<u8>> {
    if !prefix.whole {
        let left = max
            .saturating_sub(prefix.bytes.len() as u64)
            .saturating_add(1);
        let mut rest = Vec::new();
        (&prefix.file).take(left).read_to_end(&mut rest).ok()?;
        prefix.bytes.extend(rest);
        prefix.whole = true;
    }
    (prefix.bytes.len() as u64 <= max).then(|| prefix.bytes.clone())
}

/// The formats Nova's `disk.info` declares, by file name: JSON `{"<path of the disk>": "qcow2"
/// | "raw" | ...}`. Paths are as the host that wrote them saw them, so only their file names
/// count. Anything unreadable declares nothing.
fn disk_info_formats(bytes: &[u8]) -> HashMap<OsString, String> {
    let Ok(formats) = serde_json::from_slice::<HashMap<String, String>>(bytes) else {
        return HashMap::new();
    };
    formats
        .into_iter()
        .filter_map(|(disk, format)| Some((Path::new(&disk).file_name()?.to_os_string(), format)))
        .collect()
}

/// Inode, size and mtime of a file (following a symlink, as its reading did).
fn identity_of_file(path: &Path) -> Option<FileIdentity> {
    std::fs::metadata(path).ok().map(|meta| FileIdentity {
        ino: meta.ino(),
        size: meta.len(),
        mtime: UnixTime(meta.mtime()),
    })
}
