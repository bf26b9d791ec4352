//! A pass's scan with libvirt's domains brought in: the cache files their disks' live chains
//! reach are in use (whatever the headers say), unreadable domain files of libvirt's are in doubt,
//! and warnings say where a live chain and the headers disagree and which disks are not there.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs;
use std::io;
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::Arc;

use cachectl_fs::Dir;
use cachectl_naming::quote;
use cachectl_policy::{Disk, DiskUse, UseKind};
use cachectl_sources::libvirt::DomainDisk;

use crate::domains::{DomainFile, Domains, InstanceRoots, LibvirtSource, file_disks};
use crate::report::{WarningCode, WarningEntry};
use crate::scan::{Reuse, Scan, ScanConfig, ScanError, scan_with_jobs};

/// A scan with libvirt's domains brought in.
#[derive(Debug)]
pub(crate) struct Surveyed {
    /// What the scan found, with the uses libvirt states.
    pub scan: Scan,
    /// The domains read.
    pub domains: Domains,
    /// Where libvirt and the disks disagree.
    pub warnings: Vec<WarningEntry>,
}

/// Scans the cache and the instances path with libvirt's domains as they are now (see
/// [`bring_into`]): a pass's first scan, and each scan again under Nova's locks.
pub(crate) fn survey(
    libvirt: &LibvirtSource,
    config: &ScanConfig,
    base: &Dir,
    jobs: NonZeroUsize,
    reuse: Option<&Reuse<'_>>,
) -> Result<Surveyed, ScanError> {
    let domains = libvirt.read_now(jobs);
    let declared = domains.declared_disks(&InstanceRoots::of(&config.instances_path));
    let mut scan = scan_with_jobs(config, base, jobs, declared, reuse)?;
    let warnings = bring_into(&domains, &mut scan, config);
    Ok(Surveyed {
        scan,
        domains,
        warnings,
    })
}

/// Brings the domains into a scan: the cache files their disks' live chains reach are in
/// use by those disks (whatever the headers say), unreadable domain files are in doubt, and
/// the warnings say where a live chain and the headers disagree and which disks are not
/// there.
fn bring_into(domains: &Domains, scan: &mut Scan, config: &ScanConfig) -> Vec<WarningEntry> {
    let roots = InstanceRoots::of(&config.instances_path);
    let cache = CacheNames::of(scan, &roots, &config.base_dir_name);
    let mut disk_index: HashMap<Arc<str>, usize> = scan
        .disks
        .iter()
        .enumerate()
        .map(|(i, disk)| (disk.path.clone(), i))
        .collect();
    let unreadable: HashSet<&str> = scan.unreadable.iter().map(|u| u.path.as_str()).collect();
    let mut warnings = Vec::new();
    let mut missing_said = HashSet::new();
    let mut compared = HashSet::new();
    let mut live_uses: Vec<(String, Vec<DiskUse>)> = Vec::new();
    for file in &domains.files {
        for disk in file_disks(&file.domain) {
            let Some(source) = disk.file() else { continue };
            let relative = roots.relative(source);
            let uses = cache.live_uses(source, disk);
            if let Some(relative) = &relative
                && cache.name_of(source).is_none()
            {
                if is_missing(&config.instances_path.join(relative))
                    && missing_said.insert(relative.clone())
                {
                    warnings.push(missing_disk(file, relative));
                }
                let comparable = file.origin.states_live_chains()
                    && disk.backing.is_known()
                    && !unreadable.contains(relative.as_str())
                    && compared.insert(relative.clone());
                if comparable {
                    let read = disk_index
                        .get(relative.as_str())
                        .map(|&i| cache.reached(&scan.disks[i].uses))
                        .unwrap_or_default();
                    let live = cache.reached(&uses);
                    if read != live {
                        warnings.push(chain_differs(file, relative, &live, &read));
                    }
                }
            } else if relative.is_none() {
                tracing::info!(
                    "domain {}: disk {} is outside the instances path: not read",
                    file.label(),
                    quote(source)
                );
            }
            if !uses.is_empty() {
                let shown = relative.unwrap_or_else(|| source.display().to_string());
                live_uses.push((shown, uses));
            }
        }
    }
    for (path, uses) in live_uses {
        let path: Arc<str> = path.into();
        let index = *disk_index.entry(Arc::clone(&path)).or_insert_with(|| {
            scan.disks.push(Disk {
                path,
                uses: Vec::new(),
            });
            scan.disks.len() - 1
        });
        let disk = &mut scan.disks[index];
        for found in uses {
            if !disk.uses.iter().any(|u| u.file == found.file) {
                disk.uses.push(found);
            }
        }
    }
    scan.unreadable.extend(domains.unreadable.iter().cloned());
    for dispute in std::mem::take(&mut scan.format_disputes) {
        warnings.push(WarningEntry::new(
            WarningCode::LibvirtFormatDiffers,
            format_args!("the formats of {dispute}"),
        ));
    }
    warnings
}

/// Whether nothing is at `path` (a dangling symlink is something: the scan says what).
fn is_missing(path: &Path) -> bool {
    matches!(fs::symlink_metadata(path), Err(err) if err.kind() == io::ErrorKind::NotFound)
}

/// The cache as domains name it.
struct CacheNames<'a> {
    roots: &'a InstanceRoots,
    base_dir_name: &'a str,
    names: HashSet<&'a str>,
    /// What each cache file's own chain reaches.
    backed_by: HashMap<&'a str, &'a [String]>,
}

impl<'a> CacheNames<'a> {
    fn of(scan: &'a Scan, roots: &'a InstanceRoots, base_dir_name: &'a str) -> Self {
        Self {
            roots,
            base_dir_name,
            names: scan.files.iter().map(|f| f.fact.name.as_str()).collect(),
            backed_by: scan
                .files
                .iter()
                .map(|f| (f.fact.name.as_str(), f.fact.backed_by.as_slice()))
                .collect(),
        }
    }

    /// The cache file `path` is, if it is one (`<instances>/<base dir>/<name>`).
    fn name_of(&self, path: &Path) -> Option<&'a str> {
        let relative = self.roots.relative(path)?;
        let (dir, name) = relative.split_once('/')?;
        if dir != self.base_dir_name {
            return None;
        }
        self.names.get(name).copied()
    }

    /// The cache files a disk uses by libvirt's word: itself, if it is one, and each file of its
    /// stated chain that is one.
    fn live_uses(&self, source: &Path, disk: &DomainDisk) -> Vec<DiskUse> {
        let stores = disk
            .backing
            .stores
            .iter()
            .map(|store| store.source.as_deref());
        let mut uses = Vec::new();
        for (depth, path) in std::iter::once(Some(source)).chain(stores).enumerate() {
            let Some(name) = path.and_then(|path| self.name_of(path)) else {
                continue;
            };
            uses.push(DiskUse {
                file: name.into(),
                kind: UseKind::Backing {
                    depth: u32::try_from(depth).unwrap_or(u32::MAX),
                },
                by_name_only: false,
            });
        }
        uses
    }

    /// The cache files some uses reach, with every cache file their own chains reach.
    fn reached(&self, uses: &[DiskUse]) -> BTreeSet<String> {
        let mut reached = BTreeSet::new();
        let mut next: Vec<&str> = uses.iter().map(|u| &*u.file).collect();
        while let Some(name) = next.pop() {
            if reached.insert(name.to_owned()) {
                let below = self.backed_by.get(name).copied().unwrap_or_default();
                next.extend(below.iter().map(String::as_str));
            }
        }
        reached
    }
}

fn missing_disk(file: &DomainFile, relative: &str) -> WarningEntry {
    WarningEntry::new(
        WarningCode::LibvirtDiskMissing,
        format_args!(
            "domain {} ({}) names the disk {}, which is not there",
            file.label(),
            quote(&file.path),
            quote(relative)
        ),
    )
}

fn chain_differs(
    file: &DomainFile,
    relative: &str,
    live: &BTreeSet<String>,
    read: &BTreeSet<String>,
) -> WarningEntry {
    let list = |names: &BTreeSet<String>| {
        if names.is_empty() {
            "no cache file".to_owned()
        } else {
            names
                .iter()
                .map(|n| quote(n).to_string())
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    WarningEntry::new(
        WarningCode::LibvirtChainDiffers,
        format_args!(
            "the backing chain of {} that libvirt states for domain {} ({}) reaches {}, its \
             headers reach {}: both are kept",
            quote(relative),
            file.label(),
            quote(&file.path),
            list(live),
            list(read)
        ),
    )
}
