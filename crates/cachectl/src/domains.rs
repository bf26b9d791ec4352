//! libvirt's domains in a pass: the disks they declare (each read in the format libvirt gives
//! it), the live backing chains of running guests checked against what the headers say, disks
//! that are not there, and the instance records Nova's metadata makes.
//!
//! Domains come from, in the order of trust: libvirt's status XML of running guests
//! (`/run/libvirt/qemu`), files the operator gives (`--libvirt-xml`, `virsh dumpxml`), the
//! definitions (`/etc/libvirt/qemu`), and last each instance directory's `libvirt.xml`, a snapshot
//! Nova stopped writing in Ocata (it may only add caution: see [`DeclaredDisks`]).

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fs;
use std::num::NonZeroUsize;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use cachectl_fs::Dir;

use cachectl_naming::quote;
use cachectl_policy::{FileIdentity, Instance, ReadAs, UnixTime, UnreadableFile};
use cachectl_sources::libvirt::{self, DiskKind, Domain, DomainDisk, DomainError};

use crate::pool;

/// Where libvirt's domains are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LibvirtConfig {
    /// Whether they are read at all (`--no-libvirt`: not).
    pub enabled: bool,
    /// The definitions (`--libvirt-config-dir`, `/etc/libvirt/qemu`).
    pub config_dir: PathBuf,
    /// The status XML of running guests (`--libvirt-run-dir`, `/run/libvirt/qemu`).
    pub run_dir: PathBuf,
    /// Domain XML files given (`--libvirt-xml`, `-` for standard input).
    pub xml_files: Vec<PathBuf>,
}

/// Where a domain was read from, most trusted first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Origin {
    /// libvirt's status XML of a running guest: what QEMU has open now.
    Running,
    /// A file the operator gave (`--libvirt-xml`).
    Given,
    /// libvirt's definition of the guest.
    Defined,
    /// An instance directory's `libvirt.xml`, written by Nova up to Newton: a snapshot.
    InstanceDir,
}

impl Origin {
    /// How reports call a domain from here.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Given => "given",
            Self::Defined => "defined",
            Self::InstanceDir => "snapshot",
        }
    }

    /// Whether its disks carry the backing chain libvirt probed (a running guest's do).
    pub(crate) fn states_live_chains(self) -> bool {
        matches!(self, Self::Running | Self::Given)
    }
}

/// One domain read, and where from.
#[derive(Debug, Clone)]
pub(crate) struct DomainFile {
    /// The file.
    pub path: PathBuf,
    /// Which of libvirt's places it is.
    pub origin: Origin,
    /// What it says (shared with the domains read before).
    pub domain: Arc<Domain>,
}

impl DomainFile {
    /// The domain's name for reports: its name, else its uuid, else its file.
    pub(crate) fn label(&self) -> String {
        match (&self.domain.name, &self.domain.uuid) {
            (Some(name), _) => quote(name).to_string(),
            (None, Some(uuid)) => quote(uuid).to_string(),
            (None, None) => quote(&self.path).to_string(),
        }
    }
}

/// What libvirt says, read for one scan.
#[derive(Debug, Clone, Default)]
pub(crate) struct Domains {
    /// Every domain read, most trusted first.
    pub files: Vec<DomainFile>,
    /// Files of libvirt's directories that cannot be read: what they open is not known.
    pub unreadable: Vec<UnreadableFile>,
    /// Whether libvirt's definitions were read: a directory of them exists, or files were given.
    pub read: bool,
    /// Whether libvirt is read at all (not with `--no-libvirt`).
    pub enabled: bool,
}

/// libvirt's domains as a pass reads them: the files given, read once (standard input cannot
/// be read twice), and libvirt's directories, read again for each scan (a file that is still
/// the one read before, same inode, size and mtime, is not parsed again).
#[derive(Debug)]
pub(crate) struct LibvirtSource {
    config: LibvirtConfig,
    given: Vec<DomainFile>,
    read_before: Mutex<HashMap<PathBuf, (Identity, Arc<Domain>)>>,
}

/// What tells a domain file is the one read before.
type Identity = (u64, u64, u64, i64, u32);

impl LibvirtSource {
    /// Reads the files `config` gives: one that cannot be read or parsed is bad input.
    pub(crate) fn open(config: &LibvirtConfig) -> Result<Self, DomainError> {
        let mut given = Vec::new();
        if config.enabled {
            for path in &config.xml_files {
                given.push(DomainFile {
                    domain: Arc::new(libvirt::load_domain(path)?),
                    path: path.clone(),
                    origin: Origin::Given,
                });
            }
        }
        Ok(Self {
            config: config.clone(),
            given,
            read_before: Mutex::new(HashMap::new()),
        })
    }

    /// The domains now: libvirt's directories read again (`jobs` files at a time), and the
    /// files given.
    pub(crate) fn read_now(&self, jobs: NonZeroUsize) -> Domains {
        let mut domains = Domains {
            enabled: self.config.enabled,
            ..Domains::default()
        };
        if !self.config.enabled {
            return domains;
        }
        domains.read = !self.given.is_empty();
        for (dir, origin) in [
            (&self.config.run_dir, Origin::Running),
            (&self.config.config_dir, Origin::Defined),
        ] {
            if origin == Origin::Defined {
                domains.files.extend(self.given.iter().cloned());
            }
            domains.read |= dir.is_dir();
            self.read_dir(dir, origin, jobs, &mut domains);
        }
        domains
    }

    /// Reads the domain files of `dir` into `domains`, up to `jobs` at a time, in the order of
    /// their names.
    fn read_dir(&self, dir: &Path, origin: Origin, jobs: NonZeroUsize, domains: &mut Domains) {
        let (opened, names) = match libvirt::list_domains(dir) {
            Ok(Some(listed)) => listed,
            Ok(None) => return,
            Err(source) => {
                let path = dir.to_owned();
                domains
                    .unreadable
                    .push(unreadable_domain(&DomainError::Read { path, source }));
                return;
            }
        };
        let read = pool::map(&names, jobs, |_| 0, |name| self.read_file(&opened, name));
        for (name, result) in names.iter().zip(read) {
            match result {
                Ok(Some(domain)) => domains.files.push(DomainFile {
                    path: opened.join(name),
                    origin,
                    domain,
                }),
                // Gone since the listing: no longer a domain.
                Ok(None) => {}
                Err(err) => domains.unreadable.push(unreadable_domain(&err)),
            }
        }
    }

    /// One domain file of a listed directory: the domain read before, if the file is still the
    /// same, else read now.
    fn read_file(&self, dir: &Dir, name: &OsStr) -> Result<Option<Arc<Domain>>, DomainError> {
        let path = dir.join(name);
        let stat = dir.stat(name).map_err(|source| DomainError::Read {
            path: path.clone(),
            source,
        })?;
        let Some(stat) = stat else { return Ok(None) };
        let identity = (stat.dev, stat.ino, stat.size, stat.mtime, stat.mtime_nsec);
        let cache = || {
            self.read_before
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
        };
        if let Some((known, domain)) = cache().get(&path)
            && *known == identity
        {
            return Ok(Some(Arc::clone(domain)));
        }
        let domain = libvirt::read_listed(dir, name)?.map(|d| Arc::new(slim(d)));
        if let Some(domain) = &domain {
            cache().insert(path, (identity, Arc::clone(domain)));
        }
        Ok(domain)
    }
}

/// What a pass keeps of a domain (for its scans under Nova's locks too): its disks, and the
/// metadata an instance record takes (uuid, name, flavor sizes, OS type, root image). Nova's
/// other metadata (owner, ports, display name, package) goes: a shared-storage host may hold
/// tens of thousands of domains for the whole pass.
fn slim(mut domain: Domain) -> Domain {
    if let Some(nova) = &mut domain.nova {
        nova.package = None;
        nova.display_name = None;
        nova.creation_time = None;
        nova.owner = None;
        nova.ports = Vec::new();
        if let Some(flavor) = &mut nova.flavor {
            flavor.name = None;
            flavor.id = None;
        }
    }
    domain.disks.shrink_to_fit();
    domain
}

/// A domain file of libvirt's that cannot be read: a declared source whose disks are unknown.
fn unreadable_domain(err: &DomainError) -> UnreadableFile {
    let path = err.path();
    UnreadableFile {
        path: path.display().to_string(),
        problem: err.to_string(),
        read_as: ReadAs::LibvirtDomain,
        identity: fs::metadata(path).ok().map(|meta| FileIdentity {
            ino: meta.ino(),
            size: meta.len(),
            mtime: UnixTime(meta.mtime()),
        }),
    }
}

/// A file domains name as a disk or in a disk's chain, as the scan is told of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DeclaredDisk {
    /// What each domain naming it says, most trusted first: the domain (`running domain
    /// "instance-0000002a"`) and the format it gives. `None`: it gives none (libvirt then
    /// probes, or an instance's `libvirt.xml` said `raw`, which is not trusted to spare a file
    /// its probe).
    pub formats: Vec<(String, Option<String>)>,
}

/// The files domains name under the instances path, by their path relative to it.
#[derive(Debug, Clone, Default)]
pub(crate) struct DeclaredDisks {
    by_path: HashMap<String, DeclaredDisk>,
    /// Whether the scan reads instance directories' `libvirt.xml` (not with `--no-libvirt`).
    snapshots: bool,
}

impl DeclaredDisks {
    /// Whether the scan reads instance directories' `libvirt.xml`.
    pub(crate) fn reads_snapshots(&self) -> bool {
        self.snapshots
    }

    /// What the most trusted domain naming `path` (relative to the instances path) says of it.
    pub(crate) fn get(&self, path: &str) -> Option<&DeclaredDisk> {
        self.by_path.get(path)
    }

    /// The files an instance directory's `libvirt.xml` names: each is a declared disk, read in
    /// its format unless that is raw (a snapshot is not trusted to spare a file its probe).
    pub(crate) fn of_instance_dir(roots: &InstanceRoots, path: PathBuf, domain: Domain) -> Self {
        let mut declared = Self::default();
        declared.declare(
            roots,
            &DomainFile {
                path,
                origin: Origin::InstanceDir,
                domain: Arc::new(domain),
            },
        );
        declared
    }

    fn declare(&mut self, roots: &InstanceRoots, file: &DomainFile) {
        for disk in file_disks(&file.domain) {
            let files = disk.file().map(|path| (path, disk.format.as_deref()));
            let stores = disk.backing.stores.iter().filter_map(|store| {
                let path = store.source.as_deref()?;
                (store.kind == DiskKind::File).then_some((path, store.format.as_deref()))
            });
            for (path, format) in files.into_iter().chain(stores) {
                let Some(relative) = roots.relative(path) else {
                    continue;
                };
                let trusted = file.origin != Origin::InstanceDir;
                let format = format.filter(|f| trusted || *f != "raw").map(str::to_owned);
                let who = format!("{} domain {}", file.origin.as_str(), file.label());
                let said = &mut self.by_path.entry(relative).or_default().formats;
                if !said
                    .iter()
                    .any(|(earlier, f)| *earlier == who && *f == format)
                {
                    said.push((who, format));
                }
            }
        }
    }
}

/// The disks of a domain whose data is in a file, the others logged.
pub(crate) fn file_disks(domain: &Domain) -> impl Iterator<Item = &DomainDisk> {
    domain.disks.iter().filter(move |disk| {
        let is_file = disk.kind == DiskKind::File;
        if !is_file {
            tracing::info!(
                "domain {}: {} disk {} is not a file: ignored",
                quote(domain.name.as_deref().unwrap_or("?")),
                disk.kind,
                quote(&disk.described)
            );
        }
        is_file
    })
}

/// The instances path as domains may name it: as given, and as the kernel resolves it.
#[derive(Debug)]
pub(crate) struct InstanceRoots {
    roots: Vec<PathBuf>,
    /// Directories domains name, as the kernel resolves them.
    resolved_dirs: Mutex<HashMap<PathBuf, Option<PathBuf>>>,
}

impl InstanceRoots {
    /// The roots of `instances_path`.
    pub(crate) fn of(instances_path: &Path) -> Self {
        let mut roots = vec![instances_path.to_owned()];
        if let Ok(resolved) = fs::canonicalize(instances_path)
            && resolved != instances_path
        {
            roots.push(resolved);
        }
        Self {
            roots,
            resolved_dirs: Mutex::new(HashMap::new()),
        }
    }

    /// `path` relative to the instances path, as the scan shows paths (`<uuid>/disk`); `None`
    /// for a path elsewhere, or one that climbs out (`..`). A path that names the instances
    /// path another way (libvirt's `/var/lib/nova/instances`, a symlink to the directory given
    /// with `--instances-path`) is matched as the kernel resolves its directory.
    pub(crate) fn relative(&self, path: &Path) -> Option<String> {
        self.relative_as_written(path).or_else(|| {
            let resolved = self.resolved_dir(path.parent()?)?;
            self.relative_as_written(&resolved.join(path.file_name()?))
        })
    }

    fn relative_as_written(&self, path: &Path) -> Option<String> {
        let rest = self
            .roots
            .iter()
            .find_map(|root| path.strip_prefix(root).ok())?;
        let mut parts = Vec::new();
        for component in rest.components() {
            match component {
                Component::Normal(part) => parts.push(part.to_str()?),
                Component::CurDir => {}
                _ => return None,
            }
        }
        (!parts.is_empty()).then(|| parts.join("/"))
    }

    /// `dir` as the kernel resolves it (once per directory), if it exists.
    fn resolved_dir(&self, dir: &Path) -> Option<PathBuf> {
        let resolved = || {
            self.resolved_dirs
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
        };
        if let Some(known) = resolved().get(dir) {
            return known.clone();
        }
        let found = fs::canonicalize(dir).ok();
        resolved().insert(dir.to_owned(), found.clone());
        found
    }
}

impl Domains {
    /// The disks they declare under the instances path, the most trusted domain's word first.
    pub(crate) fn declared_disks(&self, roots: &InstanceRoots) -> DeclaredDisks {
        let mut declared = DeclaredDisks {
            snapshots: self.enabled,
            ..DeclaredDisks::default()
        };
        for file in &self.files {
            declared.declare(roots, file);
        }
        declared
    }

    /// The instance records Nova's metadata makes, one per uuid (the most trusted domain's),
    /// for instances on `host`.
    pub(crate) fn records(&self, host: &str) -> Vec<Instance> {
        let mut seen = HashSet::new();
        let mut records = Vec::new();
        for file in &self.files {
            let Some(record) = file.domain.instance(host) else {
                continue;
            };
            if seen.insert(record.uuid.clone()) {
                records.push(record);
            }
        }
        records
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source_of(run_dir: &Path) -> LibvirtSource {
        let config = LibvirtConfig {
            enabled: true,
            config_dir: run_dir.join("absent"),
            run_dir: run_dir.to_owned(),
            xml_files: Vec::new(),
        };
        LibvirtSource::open(&config).expect("no files given")
    }

    #[test]
    fn a_slim_domain_makes_the_same_record_and_declares_the_same_disks() {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../cachectl-sources/tests/fixtures/libvirt");
        for name in [
            "nova-qcow2.xml",
            "run-libvirt-qemu.xml",
            "nova-volume-backed.xml",
        ] {
            let path = fixtures.join(name);
            let bytes = fs::read(&path).expect("a fixture");
            let full = libvirt::parse_domain(&path, &bytes).expect("parses");
            let slimmed = slim(full.clone());
            assert_eq!(
                slimmed.instance("compute-1"),
                full.instance("compute-1"),
                "{name}"
            );
            assert_eq!(slimmed.disks, full.disks, "{name}");
            assert!(
                slimmed
                    .nova
                    .as_ref()
                    .is_none_or(|n| n.owner.is_none() && n.ports.is_empty())
            );
        }
        let path = fixtures.join("nova-qcow2.xml");
        let full = libvirt::parse_domain(&path, &fs::read(&path).expect("read")).expect("parses");
        assert!(
            full.nova.as_ref().is_some_and(|n| n.owner.is_some()),
            "the fixture has an owner"
        );
    }

    fn domain(name: &str) -> String {
        format!("<domain type='kvm'><name>{name}</name><uuid>u-{name}</uuid></domain>")
    }

    #[test]
    fn a_domain_file_is_parsed_again_only_once_it_changes() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let file = dir.path().join("guest.xml");
        fs::write(&file, domain("first")).expect("a domain");
        let source = source_of(dir.path());
        let jobs = NonZeroUsize::MIN;
        let first = source.read_now(jobs);
        let again = source.read_now(jobs);
        assert!(Arc::ptr_eq(&first.files[0].domain, &again.files[0].domain));
        // libvirt rewrites a status file by renaming a new one over it.
        let new = dir.path().join(".guest.xml.new");
        fs::write(&new, domain("second")).expect("a domain");
        fs::rename(&new, &file).expect("renamed");
        let changed = source.read_now(jobs);
        assert_eq!(changed.files.len(), 1);
        assert_eq!(changed.files[0].domain.name.as_deref(), Some("second"));
        fs::remove_file(&file).expect("removed");
        assert!(source.read_now(jobs).files.is_empty());
        assert!(source.read_now(jobs).read, "the directory exists");
    }
}
