//! libvirt's domain definitions, read for what they say about an instance and its disks.
//!
//! A compute host's libvirt knows every guest Nova runs there: its uuid and name, each disk
//! (the files, block devices and network images QEMU opens, with the backing chain libvirt
//! probed for a running guest) and the metadata Nova stored in it (display name, flavor, root
//! image, owner, ports). cachectl reads three forms of it:
//!
//! - `/etc/libvirt/qemu/<name>.xml`: the persistent definition (`<domain>`), no live state;
//! - `/run/libvirt/qemu/<name>.xml`: libvirt's status XML of a running guest (`<domstatus>` with
//!   the live `<domain>` in it, whose disks carry their `<backingStore>` chains);
//! - a file given with `--libvirt-xml` (`virsh dumpxml <name>`, or an instance's `libvirt.xml`).
//!
//! XML is parsed with roxmltree (no DTD, no entity expansion, at most [`MAX_DOMAIN_LEN`]
//! bytes); the parser never panics. Errors name the file, line and column.
//!
//! ```
//! use std::path::Path;
//! use cachectl_sources::libvirt::{Root, parse_domain};
//!
//! let xml = br#"<domain type='kvm'>
//!   <uuid>4f0e2b0c-5f39-4a55-9d6c-0c9b1f3f8a11</uuid>
//!   <name>instance-0000002a</name>
//!   <metadata>
//!     <n:instance xmlns:n="http://openstack.org/xmlns/libvirt/nova/1.1">
//!       <n:flavor name="m1.small" id="2">
//!         <n:swap>512</n:swap><n:ephemeral>0</n:ephemeral>
//!       </n:flavor>
//!       <n:root type="image" uuid="155d900f-4e14-4e4c-a73d-069cbf4541e6"/>
//!     </n:instance>
//!   </metadata>
//!   <devices>
//!     <disk type='file' device='disk'>
//!       <driver name='qemu' type='qcow2'/>
//!       <source file='/var/lib/nova/instances/4f0e2b0c-5f39-4a55-9d6c-0c9b1f3f8a11/disk'/>
//!       <backingStore type='file'>
//!         <format type='raw'/>
//!         <source file='/var/lib/nova/instances/_base/0a5f9d1d1e27a0bbd0d4d5f3f8c0c5a7a34e8c11'/>
//!         <backingStore/>
//!       </backingStore>
//!       <target dev='vda' bus='virtio'/>
//!     </disk>
//!   </devices>
//! </domain>"#;
//! let domain = parse_domain(Path::new("instance-0000002a.xml"), xml)?;
//! let disk = &domain.disks[0];
//! assert_eq!(disk.backing.stores[0].format.as_deref(), Some("raw"));
//! assert!(disk.backing.complete);
//! let instance = domain.instance("compute-1").expect("Nova's domain");
//! assert_eq!(instance.image_ref.as_deref(), Some("155d900f-4e14-4e4c-a73d-069cbf4541e6"));
//! assert_eq!(instance.swap_mb, Some(512));
//!
//! let err = parse_domain(Path::new("bad.xml"), b"<domain>\n  <name>x</nam>").unwrap_err();
//! assert_eq!(err.to_string(), "bad.xml:2:10: expected 'name' tag, not 'nam'");
//! # Ok::<(), cachectl_sources::libvirt::DomainError>(())
//! ```

mod disk;
mod domain;
mod error;
mod nova;
mod parse;
mod read;
mod xml;

#[cfg(test)]
mod tests;

pub use disk::{BackingChain, BackingStore, DiskKind, DomainDisk};
pub use domain::Domain;
pub use error::{DomainError, MAX_DOMAIN_LEN};
pub use nova::{Flavor, NOVA_NAMESPACE, NOVA_NAMESPACE_1_0, NovaMetadata, Owner, Root};
pub use parse::parse_domain;
pub use read::{list_domains, load_domain, read_domains, read_listed};
