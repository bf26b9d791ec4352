//! A `<devices><disk>` of a domain: its kind, format, source, target and `<backingStore>` chain.
//!
//! ```xml
//! <disk type='file' device='disk'>
//!   <driver name='qemu' type='qcow2' cache='none'/>
//!   <source file='/var/lib/nova/instances/4f0e…/disk' index='2'/>
//!   <backingStore type='file' index='3'>
//!     <format type='raw'/>
//!     <source file='/var/lib/nova/instances/_base/9b1c…'/>
//!     <backingStore/>
//!   </backingStore>
//!   <target dev='vda' bus='virtio'/>
//! </disk>
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use roxmltree::Node;

use super::xml::{attribute, child};

/// The `type` of a disk or backing store: where its data lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DiskKind {
    /// `file`: a file (`<source file>`), the kind whose backing chain can reach the cache.
    File,
    /// `block`: a block device (`<source dev>`), such as a logical volume of Nova's `lvm`
    /// images type.
    Block,
    /// `dir`: a directory exposed as a disk (`<source dir>`).
    Dir,
    /// `network`: a network disk (`<source protocol name>`), such as an `rbd` image.
    Network,
    /// `volume`: a volume of a libvirt storage pool (`<source pool volume>`).
    Volume,
    /// Any other type (`nvme`, `vhostuser`, …), as written.
    Other(String),
}

impl DiskKind {
    /// The kind a `type` attribute names; libvirt takes a disk without one as a file.
    fn from_attribute(value: Option<&str>) -> Self {
        match value {
            None | Some("file") => Self::File,
            Some("block") => Self::Block,
            Some("dir") => Self::Dir,
            Some("network") => Self::Network,
            Some("volume") => Self::Volume,
            Some(other) => Self::Other(other.to_owned()),
        }
    }

    /// The `type` attribute that names this kind.
    pub fn as_str(&self) -> &str {
        match self {
            Self::File => "file",
            Self::Block => "block",
            Self::Dir => "dir",
            Self::Network => "network",
            Self::Volume => "volume",
            Self::Other(other) => other,
        }
    }
}

impl fmt::Display for DiskKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One disk of a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainDisk {
    /// Its `type`: where its data lives.
    pub kind: DiskKind,
    /// What the guest sees (`device`): `disk` (libvirt's default), `cdrom`, `floppy` or `lun`.
    pub device: String,
    /// The format QEMU opens it in (`<driver type>`): `qcow2`, `raw`, …
    pub format: Option<String>,
    /// The file of a `file` disk (`<source file>`), as written; `None` for other kinds, and for a
    /// drive with no medium (an empty cdrom).
    pub source: Option<PathBuf>,
    /// What identifies the disk for a log line, whatever its kind: the file or device path, the
    /// network `protocol:name`, the volume `pool/volume`, or `no source`. Not quoted: quote it
    /// when printing it.
    pub described: String,
    /// The device name in the guest (`<target dev>`): `vda`, `sda`, …
    pub target: Option<String>,
    /// What libvirt says is under it (`<backingStore>`).
    pub backing: BackingChain,
}

impl DomainDisk {
    /// The file of a `file` disk, if it has one.
    pub fn file(&self) -> Option<&Path> {
        self.source.as_deref()
    }
}

/// One image of a backing chain (`<backingStore type>` with its `<format>` and `<source>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackingStore {
    /// Its `type`.
    pub kind: DiskKind,
    /// Its format (`<format type>`).
    pub format: Option<String>,
    /// Its file, for a `file` backing store (`<source file>`), as written.
    pub source: Option<PathBuf>,
    /// What identifies it for a log line, as [`DomainDisk::described`].
    pub described: String,
}

/// The backing chain of a disk as libvirt states it, top first.
///
/// libvirt writes the chain it has probed into the XML of a running domain; an empty
/// `<backingStore/>` (one without `type`) ends it: nothing is below the last store. The XML of
/// a domain that only is defined usually has no `<backingStore>` at all: the chain is not known
/// (`stores` empty, `complete` false), which is not the same as "no backing file" (`stores`
/// empty, `complete` true).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackingChain {
    /// The images under the disk, its own backing file first.
    pub stores: Vec<BackingStore>,
    /// Whether the chain ends with an empty `<backingStore/>`: libvirt says nothing is below
    /// the last store. When false, what is below (below the disk, if `stores` is empty) is not
    /// known.
    pub complete: bool,
}

impl BackingChain {
    /// Whether libvirt says anything about what is under the disk.
    pub fn is_known(&self) -> bool {
        self.complete || !self.stores.is_empty()
    }
}

/// The disk `<disk>` describes.
pub(super) fn parse_disk(node: Node<'_, '_>) -> DomainDisk {
    let kind = DiskKind::from_attribute(attribute(node, "type"));
    let (source, described) = source(&kind, child(node, "source"));
    DomainDisk {
        device: attribute(node, "device").unwrap_or("disk").to_owned(),
        format: child(node, "driver")
            .and_then(|driver| attribute(driver, "type"))
            .map(str::to_owned),
        target: child(node, "target")
            .and_then(|target| attribute(target, "dev"))
            .map(str::to_owned),
        backing: backing_chain(node),
        kind,
        source,
        described,
    }
}

/// The chain under `node` (a `<disk>` or a `<backingStore>`): each `<backingStore>` with a
/// `type` is an image, one without ends the chain (as libvirt reads it).
fn backing_chain(node: Node<'_, '_>) -> BackingChain {
    let mut chain = BackingChain::default();
    let mut next = child(node, "backingStore");
    while let Some(store) = next {
        let Some(kind) = attribute(store, "type") else {
            chain.complete = true;
            break;
        };
        let kind = DiskKind::from_attribute(Some(kind));
        let (source, described) = source(&kind, child(store, "source"));
        chain.stores.push(BackingStore {
            format: child(store, "format")
                .and_then(|format| attribute(format, "type"))
                .map(str::to_owned),
            kind,
            source,
            described,
        });
        next = child(store, "backingStore");
    }
    chain
}

/// The file of a `<source>` of this kind (only a `file` has one), and what identifies it.
fn source(kind: &DiskKind, node: Option<Node<'_, '_>>) -> (Option<PathBuf>, String) {
    const NONE: &str = "no source";
    let Some(node) = node else {
        return (None, NONE.to_owned());
    };
    let described = match kind {
        DiskKind::File => {
            let file = attribute(node, "file");
            return (file.map(PathBuf::from), file.unwrap_or(NONE).to_owned());
        }
        DiskKind::Block => attribute(node, "dev").map(str::to_owned),
        DiskKind::Dir => attribute(node, "dir").map(str::to_owned),
        DiskKind::Network => network(node),
        DiskKind::Volume => match (attribute(node, "pool"), attribute(node, "volume")) {
            (None, None) => None,
            (pool, volume) => Some(format!("{}/{}", pool.unwrap_or(""), volume.unwrap_or(""))),
        },
        DiskKind::Other(_) => {
            let attributes: Vec<String> = node
                .attributes()
                .map(|a| format!("{}={}", a.name(), a.value()))
                .collect();
            (!attributes.is_empty()).then(|| attributes.join(" "))
        }
    };
    (None, described.unwrap_or_else(|| NONE.to_owned()))
}

/// `protocol:name` of a network source (`rbd:vms/4f0e…_disk`), or `protocol://host:port` for
/// one without a name (an `nbd` export).
fn network(node: Node<'_, '_>) -> Option<String> {
    let protocol = attribute(node, "protocol").unwrap_or("network");
    if let Some(name) = attribute(node, "name") {
        return Some(format!("{protocol}:{name}"));
    }
    let host = child(node, "host")?;
    let name = attribute(host, "name").or_else(|| attribute(host, "socket"))?;
    Some(match attribute(host, "port") {
        Some(port) => format!("{protocol}://{name}:{port}"),
        None => format!("{protocol}://{name}"),
    })
}
