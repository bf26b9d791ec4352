//! Gathering facts from disk: the cache directory's entries and every disk's backing chain.
//!
//! Every regular file under the instances path counts as a possible disk, in any directory, not
//! only `<instance>/disk`: its header is read (its first 16 KiB, more only where the header asks
//! for it, never the data), its backing chain is followed, and every cache file the chain
//! reaches is in use. A file whose header cannot be read is recorded as unreadable (doubt
//! keeps); a file that vanishes mid-scan is skipped.
//!
//! The scan counts its system calls, as shared instances paths live on NFS or CephFS where each
//! is a network round trip: directories are read from the descriptor they are opened with, files
//! are opened relative to their directory and read in one `read`, a small file read whole is not
//! `fstat`ed unless it must be (see [`probe`]), and each base file a disk names is looked up once.
//! It waits on the storage more than it computes, so it runs many walks at once
//! ([`DEFAULT_SCAN_JOBS`]); the cache's entries are read at once too ([`cache`]).
//!
//! The result is the one a single thread gets (see [`scan_with_jobs`]).

mod cache;
mod declared;
mod found;
mod index;
mod probe;
mod walk;

use std::num::NonZeroUsize;

use cachectl_fs::{Dir, Kind};
use cachectl_sources::registry::{COMPUTE_NODES, is_registry_leftover};

use crate::domains::{DeclaredDisks, InstanceRoots};
use crate::locks::LOCKS_DIR;
use crate::pool;
pub(crate) use cache::Reuse;
use cache::list_cache;
pub use found::{Scan, ScanConfig, ScanError, ScannedFile};
use index::CacheIndex;
use walk::{Scanner, TopEntry};

/// Entries of the instances path walked on several threads before their results are merged.
const SCAN_CHUNK: usize = 1024;
/// How many directories and files a scan reads at once by default: it waits on the storage
/// (0.1–1 ms a call on NFS or CephFS), not on the processor. Measured with `cargo xtask bench`
/// (README, Performance).
pub(crate) const DEFAULT_SCAN_JOBS: NonZeroUsize = NonZeroUsize::new(32).expect("not zero");

/// Scans the cache directory `base` and everything else under the instances path, on one
/// thread.
pub fn scan(config: &ScanConfig, base: &Dir) -> Result<Scan, ScanError> {
    scan_with_jobs(
        config,
        base,
        NonZeroUsize::MIN,
        DeclaredDisks::default(),
        None,
    )
}

/// Scans the cache directory and everything else under the instances path, reading up to `jobs`
/// entries of the cache, then of the instances path, at a time; the files libvirt's domains name
/// are read as they declare them (`declared`). With `reuse` (a scan again under Nova's locks),
/// cache entries found unchanged are not read again (see [`cache::list_cache`]).
///
/// The result is the one a single thread gets. Each entry of the instances path is walked by a
/// thread of its own with a directory set of its own; the results are then merged in sorted
/// order, and an entry that reached a directory already walked (under another name: a symlinked
/// instance directory, a bind mount) is walked again there, on the merging thread, against every
/// directory walked before it, exactly as one thread would have walked it.
pub(crate) fn scan_with_jobs(
    config: &ScanConfig,
    base: &Dir,
    jobs: NonZeroUsize,
    declared: DeclaredDisks,
    reuse: Option<&Reuse<'_>>,
) -> Result<Scan, ScanError> {
    let base_dir = config.base_dir();
    let listed = list_cache(base, jobs, reuse)?;
    let mut index = CacheIndex::of(&listed.files, base_dir.clone());
    index.roots = Some(InstanceRoots::of(&config.instances_path));
    index.declared = declared;
    let files = cache::note_what_cache_files_use(&index, listed, jobs);
    let mut scan = Scan {
        base_dir,
        files,
        ..Scan::default()
    };
    let list_error = |source| ScanError {
        path: config.instances_path.clone(),
        source,
    };
    let mut instances = Dir::open(&config.instances_path).map_err(list_error)?;
    let entries = top_entries(config, &mut instances, &mut scan)?;
    let root = config.instances_path.as_path();
    // A disk or more an instance: room for one each at once, not a list grown by doubling.
    scan.disks.reserve(entries.len());
    let mut scanner = Scanner::new(&index, root);
    if jobs.get() == 1 || entries.len() < 2 {
        for entry in &entries {
            scanner.scan_entry(&instances, entry, &mut scan);
        }
        scan.disks.shrink_to_fit();
        return Ok(scan);
    }
    // In chunks, so that what the threads found waits for the merge a chunk at a time, not a
    // host at a time.
    for chunk in entries.chunks(SCAN_CHUNK) {
        let walked = pool::map(
            chunk,
            jobs,
            |_| 0,
            |entry| {
                let mut own = Scanner::new(&index, root);
                let mut found = Scan::default();
                own.scan_entry(&instances, entry, &mut found);
                (found, own.walked, own.revisited)
            },
        );
        for (entry, (found, dirs, revisited)) in chunk.iter().zip(walked) {
            if revisited || dirs.iter().any(|dir| scanner.visited_dirs.contains(dir)) {
                scanner.scan_entry(&instances, entry, &mut scan);
            } else {
                scanner.visited_dirs.extend(dirs);
                scan.absorb(found);
            }
        }
    }
    scan.disks.shrink_to_fit();
    Ok(scan)
}

/// The entries of the instances path to walk, sorted: instance directories (noted in `scan`)
/// and other directories and files; not the cache itself, Nova's locks, `compute_nodes` (whose
/// interrupted writes' leftovers are noted in `scan`) or a mount point's `lost+found`.
fn top_entries(
    config: &ScanConfig,
    instances: &mut Dir,
    scan: &mut Scan,
) -> Result<Vec<TopEntry>, ScanError> {
    let listed = instances.list().map_err(|source| ScanError {
        path: config.instances_path.clone(),
        source,
    })?;
    let mut entries = Vec::new();
    for (name, kind) in listed {
        let shown = name.to_string_lossy().into_owned();
        // fsck's lost+found is root's only.
        if shown == config.base_dir_name || shown == LOCKS_DIR || shown == "lost+found" {
            continue;
        }
        let is_dir = match kind {
            Kind::Directory => true,
            // An instance directory may be a symlink, as Nova follows it.
            Kind::Symlink => {
                std::fs::metadata(config.instances_path.join(&name)).is_ok_and(|meta| meta.is_dir())
            }
            _ => false,
        };
        if is_dir {
            if !shown.starts_with("_base") && shown != "snapshots" {
                scan.instance_dirs.push(shown.clone());
            }
        } else if name == COMPUTE_NODES {
            continue;
        } else if is_registry_leftover(&name) {
            scan.registry_leftovers.push(name);
            continue;
        }
        entries.push(TopEntry {
            name,
            shown,
            kind,
            is_dir,
        });
    }
    Ok(entries)
}
