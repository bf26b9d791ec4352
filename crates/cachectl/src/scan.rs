//! Gathering facts from disk: the cache directory's entries and every disk's backing chain.
//!
//! Every regular file under the instances path counts as a possible disk, in any directory, not
//! only `<instance>/disk`: its header is read (a few hundred bytes, never the data), its backing
//! chain is followed, and every cache file the chain reaches is in use. A file whose header cannot
//! be read is recorded as unreadable (doubt keeps); a file that vanishes mid-scan is skipped.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use cachectl_naming::{EntryKind, classify_os};
use cachectl_policy::{CacheFile, Disk, DiskUse, FileType, UnreadableFile, UseKind};
use cachectl_qcow2::{BackingTarget, ReadError, read_header, resolve_backing};

/// The deepest backing chain followed; deeper chains are reported unreadable.
pub const MAX_CHAIN_DEPTH: u32 = 64;
/// How deep directories under the instances path are walked.
pub const MAX_DIR_DEPTH: usize = 8;
/// The directory Nova keeps its lock files in, under the instances path.
pub const LOCKS_DIR: &str = "locks";
/// Nova's storage registry file, under the instances path.
pub const COMPUTE_NODES: &str = "compute_nodes";

/// Where to look.
#[derive(Debug, Clone)]
pub struct ScanConfig {
    /// Nova's `instances_path`.
    pub instances_path: PathBuf,
    /// `[image_cache] subdirectory_name` (`_base`).
    pub base_dir_name: String,
}

impl ScanConfig {
    /// `instances_path/base_dir_name`.
    pub fn base_dir(&self) -> PathBuf {
        self.instances_path.join(&self.base_dir_name)
    }
}

/// A cache entry as found on disk.
#[derive(Debug, Clone)]
pub struct ScannedFile {
    /// What the policy needs.
    pub fact: CacheFile,
    /// Its full path.
    pub path: PathBuf,
    /// Bytes allocated on disk (`st_blocks * 512`).
    pub allocated: u64,
    /// Device and inode, to tell it is still the same file later.
    pub dev_ino: (u64, u64),
}

/// Everything a scan found.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    /// The cache directory.
    pub base_dir: PathBuf,
    /// The cache entries, sorted by name.
    pub files: Vec<ScannedFile>,
    /// The disks that use cache files.
    pub disks: Vec<Disk>,
    /// Files that may be disks and cannot be read.
    pub unreadable: Vec<UnreadableFile>,
    /// Top-level directories that may hold instances.
    pub instance_dirs: Vec<String>,
    /// How many files under the instances path were probed.
    pub probed: usize,
}

/// The cache directory or the instances path cannot be listed.
#[derive(Debug, thiserror::Error)]
#[error("cannot list {path}: {source}")]
pub struct ScanError {
    /// The directory.
    pub path: PathBuf,
    /// Why.
    pub source: io::Error,
}

/// A reference from one image to another file, before it is matched to the cache.
#[derive(Debug, Clone)]
struct Reference {
    target: PathBuf,
    kind: UseKind,
}

/// What following one file's chain found, cached by device and inode.
#[derive(Debug, Clone)]
enum ChainResult {
    Refs(Vec<Reference>),
    Unreadable(String),
}

/// Scans the cache directory and everything else under the instances path.
pub fn scan(config: &ScanConfig) -> Result<Scan, ScanError> {
    let base_dir = config.base_dir();
    let mut scanner = Scanner::default();
    let mut files = list_cache(&base_dir)?;

    // Cache files by identity and by name, to match references.
    for file in &files {
        scanner
            .cache_ids
            .insert(file.dev_ino, file.fact.name.clone());
        scanner.cache_names.insert(file.fact.name.clone());
    }
    scanner.base_dir = base_dir.clone();

    let mut scan = Scan {
        base_dir,
        ..Scan::default()
    };
    // A cache file may itself be an overlay: note which cache files its chain reaches.
    for file in &mut files {
        let name = file
            .path
            .file_name()
            .map(OsStr::to_owned)
            .unwrap_or_default();
        let kind = classify_os(&name).kind();
        if file.fact.file_type != FileType::Regular || matches!(kind, EntryKind::Sidecar) {
            continue;
        }
        match scanner.follow_from_cache_file(&file.path) {
            Ok(Some(refs)) => {
                let uses = scanner.match_references(&refs);
                file.fact.backed_by = uses
                    .into_iter()
                    .map(|u| u.file)
                    .filter(|f| *f != file.fact.name)
                    .collect();
            }
            Ok(None) => {}
            Err(problem) => scan.unreadable.push(UnreadableFile {
                path: relative_display(&config.instances_path, &file.path),
                problem,
            }),
        }
    }
    scan.files = files;

    let entries = read_dir_sorted(&config.instances_path)?;
    for (name, file_type) in entries {
        let path = config.instances_path.join(&name);
        let name_str = name.to_string_lossy().into_owned();
        if name_str == config.base_dir_name || name_str == LOCKS_DIR {
            continue;
        }
        if file_type.is_dir() {
            if !name_str.starts_with("_base") && name_str != "snapshots" {
                scan.instance_dirs.push(name_str.clone());
            }
            scanner.walk(&config.instances_path, &path, Some(&name_str), 1, &mut scan);
        } else if name_str != COMPUTE_NODES {
            scanner.probe(&config.instances_path, &path, None, file_type, &mut scan);
        }
    }
    Ok(scan)
}

#[derive(Default)]
struct Scanner {
    base_dir: PathBuf,
    cache_ids: HashMap<(u64, u64), String>,
    cache_names: HashSet<String>,
    /// Chains already followed, by the device and inode of their top.
    memo: HashMap<(u64, u64), ChainResult>,
    /// `stat` of reference targets, by path.
    target_ids: HashMap<PathBuf, Option<(u64, u64)>>,
}

impl Scanner {
    fn walk(&mut self, root: &Path, dir: &Path, top: Option<&str>, depth: usize, scan: &mut Scan) {
        let entries = match read_dir_sorted(dir) {
            Ok(entries) => entries,
            Err(err) if err.source.kind() == io::ErrorKind::NotFound => return,
            Err(err) => {
                scan.unreadable.push(UnreadableFile {
                    path: relative_display(root, dir),
                    problem: format!("cannot list the directory: {}", err.source),
                });
                return;
            }
        };
        for (name, file_type) in entries {
            let path = dir.join(&name);
            if file_type.is_dir() {
                if depth < MAX_DIR_DEPTH {
                    self.walk(root, &path, top, depth + 1, scan);
                } else {
                    tracing::debug!(path = %path.display(), "not descending: deeper than {MAX_DIR_DEPTH}");
                }
            } else {
                self.probe(root, &path, top, file_type, scan);
            }
        }
    }

    /// Reads one possible disk and records what it uses.
    fn probe(
        &mut self,
        root: &Path,
        path: &Path,
        top: Option<&str>,
        file_type: fs::FileType,
        scan: &mut Scan,
    ) {
        if !file_type.is_file() && !file_type.is_symlink() {
            tracing::debug!(path = %path.display(), "not a regular file: skipped");
            return;
        }
        let shown = relative_display(root, path);
        let refs = match read_header(path) {
            Ok(read) => {
                scan.probed += 1;
                if let Some(file) = self.cache_ids.get(&(read.dev, read.ino)) {
                    // A link to a cache file (a symlink or a hard link) uses it directly.
                    let uses = vec![DiskUse {
                        file: file.clone(),
                        kind: UseKind::Backing { depth: 0 },
                        by_name_only: false,
                    }];
                    scan.disks.push(Disk {
                        path: shown.clone(),
                        dir: top.map(str::to_owned),
                        uses,
                    });
                    return;
                }
                self.follow(path, (read.dev, read.ino), &read.header)
            }
            Err(ReadError::NotFound(_)) => {
                tracing::debug!(path = %shown, "vanished during the scan: skipped");
                return;
            }
            Err(ReadError::NotRegularFile { kind, .. }) => {
                tracing::debug!(path = %shown, kind, "not a regular file: skipped");
                return;
            }
            Err(err) => ChainResult::Unreadable(problem_of(&err)),
        };
        match refs {
            ChainResult::Unreadable(problem) => scan.unreadable.push(UnreadableFile {
                path: shown,
                problem,
            }),
            ChainResult::Refs(refs) => {
                let uses = self.match_references(&refs);
                if !uses.is_empty() {
                    scan.disks.push(Disk {
                        path: shown.clone(),
                        dir: top.map(str::to_owned),
                        uses,
                    });
                }
            }
        }
    }

    /// The references of a cache file's own chain, `None` if it has none.
    fn follow_from_cache_file(&mut self, path: &Path) -> Result<Option<Vec<Reference>>, String> {
        match read_header(path) {
            Ok(read) => match self.follow(path, (read.dev, read.ino), &read.header) {
                ChainResult::Refs(refs) if refs.is_empty() => Ok(None),
                ChainResult::Refs(refs) => Ok(Some(refs)),
                ChainResult::Unreadable(problem) => Err(problem),
            },
            Err(ReadError::NotFound(_) | ReadError::NotRegularFile { .. }) => Ok(None),
            Err(err) => Err(problem_of(&err)),
        }
    }

    /// Follows the chain below an image whose header is read: every file it references, down to
    /// the first file in the cache (whose own chain the cache scan covers), a raw file, or the end.
    fn follow(
        &mut self,
        top: &Path,
        top_id: (u64, u64),
        header: &cachectl_qcow2::DiskHeader,
    ) -> ChainResult {
        if let Some(known) = self.memo.get(&top_id) {
            return known.clone();
        }
        let result = self.follow_uncached(top, top_id, header);
        self.memo.insert(top_id, result.clone());
        result
    }

    fn follow_uncached(
        &mut self,
        top: &Path,
        top_id: (u64, u64),
        header: &cachectl_qcow2::DiskHeader,
    ) -> ChainResult {
        let mut refs = Vec::new();
        let mut seen = HashSet::from([top_id]);
        let mut current = top.to_path_buf();
        let mut current_header = header.clone();
        for depth in 0..MAX_CHAIN_DEPTH {
            if let Some(name) = current_header.external_data_file() {
                match self.target_of(&current, name) {
                    Ok(Some(target)) => refs.push(Reference {
                        target,
                        kind: UseKind::DataFile { depth },
                    }),
                    Ok(None) => {}
                    Err(problem) => return ChainResult::Unreadable(problem),
                }
            }
            let Some(name) = &current_header.backing_file else {
                return ChainResult::Refs(refs);
            };
            let target = match self.target_of(&current, name) {
                Ok(Some(target)) => target,
                Ok(None) => return ChainResult::Refs(refs),
                Err(problem) => return ChainResult::Unreadable(problem),
            };
            refs.push(Reference {
                target: target.clone(),
                kind: UseKind::Backing { depth: depth + 1 },
            });
            let declared_raw = current_header.backing_format.as_deref() == Some(b"raw".as_slice());
            if declared_raw || self.is_cache_file(&target) {
                return ChainResult::Refs(refs);
            }
            let read = match read_header(&target) {
                Ok(read) => read,
                // A backing file that is not there uses nothing further.
                Err(ReadError::NotFound(_)) => return ChainResult::Refs(refs),
                Err(err) => {
                    return ChainResult::Unreadable(format!(
                        "its backing file {}: {}",
                        target.display(),
                        problem_of(&err)
                    ));
                }
            };
            if !seen.insert((read.dev, read.ino)) {
                return ChainResult::Unreadable(format!(
                    "backing chain loops at {}",
                    target.display()
                ));
            }
            current = target;
            current_header = read.header;
        }
        ChainResult::Unreadable(format!(
            "backing chain deeper than {MAX_CHAIN_DEPTH} levels"
        ))
    }

    /// The file a backing or data file name points to; `None` for network protocols.
    fn target_of(&self, image: &Path, name: &[u8]) -> Result<Option<PathBuf>, String> {
        match resolve_backing(image, name) {
            BackingTarget::File(path) => Ok(Some(path)),
            BackingTarget::Protocol { protocol, .. } => {
                tracing::debug!(image = %image.display(), protocol, "backing file on a network protocol: not a cache file");
                Ok(None)
            }
            BackingTarget::Json(json) => json_file_name(&json).map(Some).ok_or_else(|| {
                format!(
                    "backing name {:?} is a json: name that does not name a single file",
                    String::from_utf8_lossy(&json)
                )
            }),
        }
    }

    fn is_cache_file(&mut self, target: &Path) -> bool {
        self.identity_of(target)
            .is_some_and(|id| self.cache_ids.contains_key(&id))
    }

    fn identity_of(&mut self, target: &Path) -> Option<(u64, u64)> {
        *self
            .target_ids
            .entry(target.to_path_buf())
            .or_insert_with(|| fs::metadata(target).ok().map(|m| (m.dev(), m.ino())))
    }

    /// The cache files some references reach: the same file (device and inode), or, as Nova
    /// matches, a file of the same name as a cache file.
    fn match_references(&mut self, refs: &[Reference]) -> Vec<DiskUse> {
        let mut uses = Vec::new();
        for reference in refs {
            let by_identity = self
                .identity_of(&reference.target)
                .and_then(|id| self.cache_ids.get(&id))
                .cloned();
            let use_ = match by_identity {
                Some(file) => DiskUse {
                    file,
                    kind: reference.kind,
                    by_name_only: false,
                },
                None => {
                    let Some(name) = reference.target.file_name().and_then(OsStr::to_str) else {
                        continue;
                    };
                    if !self.cache_names.contains(name) {
                        continue;
                    }
                    let in_base_dir = reference.target.parent() == Some(self.base_dir.as_path());
                    DiskUse {
                        file: name.to_owned(),
                        kind: reference.kind,
                        by_name_only: !in_base_dir,
                    }
                }
            };
            if !uses.contains(&use_) {
                uses.push(use_);
            }
        }
        uses
    }
}

/// `json:{"file": {"filename": "..."}}` or `json:{"file.filename": "..."}` (QEMU's flattened form).
fn json_file_name(json: &[u8]) -> Option<PathBuf> {
    let text = json.strip_prefix(b"json:").unwrap_or(json);
    let value: serde_json::Value = serde_json::from_slice(text).ok()?;
    let name = value
        .get("file")
        .and_then(|file| file.get("filename"))
        .or_else(|| value.get("file.filename"))?
        .as_str()?;
    Some(PathBuf::from(name))
}

fn problem_of(err: &ReadError) -> String {
    match err {
        ReadError::Io { source, .. } => source.to_string(),
        ReadError::Header { source, .. } => source.to_string(),
        other => other.to_string(),
    }
}

/// `path` relative to `root`, for reports.
pub fn relative_display(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<(std::ffi::OsString, fs::FileType)>, ScanError> {
    let error = |source| ScanError {
        path: dir.to_owned(),
        source,
    };
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir).map_err(error)? {
        let entry = match entry {
            Ok(entry) => entry,
            Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
            Err(err) => return Err(error(err)),
        };
        match entry.file_type() {
            Ok(file_type) => entries.push((entry.file_name(), file_type)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(error(err)),
        }
    }
    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    Ok(entries)
}

/// The entries of the cache directory, with what `lstat` says of them.
fn list_cache(base_dir: &Path) -> Result<Vec<ScannedFile>, ScanError> {
    let mut files = Vec::new();
    for (name, _) in read_dir_sorted(base_dir)? {
        let path = base_dir.join(&name);
        let meta = match fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
            Err(source) => return Err(ScanError { path, source }),
        };
        let file_type = meta.file_type();
        let file_type = if file_type.is_file() {
            FileType::Regular
        } else if file_type.is_dir() {
            FileType::Directory
        } else if file_type.is_symlink() {
            FileType::Symlink
        } else {
            FileType::Other
        };
        let name_is_utf8 = name.to_str().is_some();
        files.push(ScannedFile {
            fact: CacheFile {
                name: name.to_string_lossy().into_owned(),
                name_is_utf8,
                file_type,
                size: meta.size(),
                mtime: meta.mtime(),
                backed_by: Vec::new(),
            },
            path,
            allocated: meta.blocks().saturating_mul(512),
            dev_ino: (meta.dev(), meta.ino()),
        });
    }
    Ok(files)
}
