//! Nova's metadata in a domain: `<metadata><nova:instance>`, as Nova's libvirt driver writes it.
//!
//! Nova 34 (`nova/virt/libvirt/config.py`, `LibvirtConfigGuestMetaNova*`, filled in by
//! `LibvirtDriver._get_guest_config_meta` and `ComputeDriver.get_instance_driver_metadata`):
//!
//! ```xml
//! <nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1">
//!   <nova:package version="34.0.0"/>
//!   <nova:name>web-1</nova:name>                          <!-- display name, else the uuid -->
//!   <nova:creationTime>2026-11-30 09:12:44</nova:creationTime>
//!   <nova:flavor name="m1.small" id="2">                 <!-- id: Nova 32 on -->
//!     <nova:memory>2048</nova:memory>                     <!-- MB -->
//!     <nova:disk>20</nova:disk>                           <!-- root, GB -->
//!     <nova:swap>512</nova:swap>                          <!-- MB -->
//!     <nova:ephemeral>10</nova:ephemeral>                 <!-- GB -->
//!     <nova:vcpus>1</nova:vcpus>
//!     <nova:extraSpecs>                                   <!-- Nova 32 on -->
//!       <nova:extraSpec name="hw_rng:allowed">True</nova:extraSpec>
//!     </nova:extraSpecs>
//!   </nova:flavor>
//!   <nova:image uuid="…">                                 <!-- Nova 32 on -->
//!     <nova:containerFormat>bare</nova:containerFormat> <nova:diskFormat>qcow2</nova:diskFormat>
//!     <nova:minDisk>0</nova:minDisk> <nova:minRam>0</nova:minRam>
//!     <nova:properties><nova:property name="os_type">linux</nova:property></nova:properties>
//!   </nova:image>
//!   <nova:owner>
//!     <nova:user uuid="…">demo</nova:user>
//!     <nova:project uuid="…">demo</nova:project>
//!   </nova:owner>
//!   <nova:root type="image" uuid="<image id>"/>            <!-- or type="volume" -->
//!   <nova:ports>                                          <!-- Nova 23 on -->
//!     <nova:port uuid="…"><nova:ip type="fixed" address="…" ipVersion="4"/></nova:port>
//!   </nova:ports>
//! </nova:instance>
//! ```
//!
//! Elements are matched by namespace, never by prefix. Nova 2014.2 (Juno) to 22 (Victoria)
//! wrote the same shape (less the ports, image, flavor id and extra specs) in the namespace
//! `…/nova/1.0`. A guest defined before an upgrade to Wallaby and not defined again since, and
//! any `libvirt.xml` Nova wrote into an instance directory (up to Newton), still carry it, so
//! both namespaces are read.

use std::path::Path;

use roxmltree::Node;

use super::error::DomainError;
use super::xml::{attribute, tag, text};

/// The namespace of Nova's metadata since Nova 23 (Wallaby), which added the ports.
pub const NOVA_NAMESPACE: &str = "http://openstack.org/xmlns/libvirt/nova/1.1";

/// The namespace of Nova's metadata from Nova 2014.2 (Juno) to 22 (Victoria).
pub const NOVA_NAMESPACE_1_0: &str = "http://openstack.org/xmlns/libvirt/nova/1.0";

/// What Nova recorded about the instance when it wrote the domain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NovaMetadata {
    /// The namespace the metadata is in: [`NOVA_NAMESPACE`] or [`NOVA_NAMESPACE_1_0`].
    pub namespace: &'static str,
    /// The version of Nova that wrote it (`<nova:package version>`).
    pub package: Option<String>,
    /// The instance's display name (`<nova:name>`; Nova writes the uuid when there is none).
    pub display_name: Option<String>,
    /// When Nova wrote the domain (`<nova:creationTime>`, UTC, `%Y-%m-%d %H:%M:%S`), as written.
    pub creation_time: Option<String>,
    /// The flavor (`<nova:flavor>`).
    pub flavor: Option<Flavor>,
    /// The image's `os_type` property (`<nova:image><nova:properties><nova:property
    /// name="os_type">`, Nova 32 on), from which Nova sets the instance's `os_type`.
    pub os_type: Option<String>,
    /// Who owns the instance (`<nova:owner>`).
    pub owner: Option<Owner>,
    /// What the instance boots from (`<nova:root>`).
    pub root: Option<Root>,
    /// The uuids of its Neutron ports (`<nova:ports><nova:port uuid>`), in order.
    pub ports: Vec<String>,
}

/// The flavor of the instance (`<nova:flavor name id>`), sizes as Nova writes them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flavor {
    /// Its name (`name`).
    pub name: Option<String>,
    /// Its flavor id (`id`, Nova 32 on).
    pub id: Option<String>,
    /// Memory in MB (`<nova:memory>`).
    pub memory_mb: Option<u64>,
    /// The root disk in GB (`<nova:disk>`).
    pub disk_gb: Option<u64>,
    /// The swap disk in MB (`<nova:swap>`; 0: none).
    pub swap_mb: Option<u64>,
    /// The ephemeral disk in GB (`<nova:ephemeral>`; 0: none).
    pub ephemeral_gb: Option<u64>,
    /// Virtual CPUs (`<nova:vcpus>`).
    pub vcpus: Option<u64>,
}

/// The owner of the instance (`<nova:owner>`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Owner {
    /// The user's id (`<nova:user uuid>`).
    pub user_uuid: Option<String>,
    /// The user's name (the text of `<nova:user>`).
    pub user_name: Option<String>,
    /// The project's id (`<nova:project uuid>`).
    pub project_uuid: Option<String>,
    /// The project's name (the text of `<nova:project>`).
    pub project_name: Option<String>,
}

/// What the instance boots from (`<nova:root type uuid>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Root {
    /// `type="image"`: booted from this image. Nova 34 writes the image the instance was
    /// first booted from (`image_base_image_ref`, which survives a shelve), else `image_ref`.
    Image(String),
    /// `type="volume"`: booted from a volume. The uuid Nova writes is not the volume's: it is
    /// the image the volume was made from, if any.
    Volume(Option<String>),
    /// A type Nova does not write today, with its uuid.
    Other {
        /// The `type`.
        kind: String,
        /// The `uuid`.
        uuid: Option<String>,
    },
}

/// Nova's metadata among the children of `<metadata>`: the first `<instance>` in either of
/// Nova's namespaces.
pub(super) fn find(
    path: &Path,
    metadata: Node<'_, '_>,
) -> Result<Option<NovaMetadata>, DomainError> {
    for node in metadata.children().filter(|c| c.is_element()) {
        let name = node.tag_name();
        let namespace = match name.namespace() {
            Some(NOVA_NAMESPACE) => NOVA_NAMESPACE,
            Some(NOVA_NAMESPACE_1_0) => NOVA_NAMESPACE_1_0,
            _ => continue,
        };
        if name.name() == "instance" {
            return parse_instance(path, node, namespace).map(Some);
        }
    }
    Ok(None)
}

/// `<nova:instance>`. Elements of other namespaces, and Nova's elements cachectl has no use for
/// (extra specs, image properties other than `os_type`, the ports' addresses), are skipped.
fn parse_instance(
    path: &Path,
    instance: Node<'_, '_>,
    namespace: &'static str,
) -> Result<NovaMetadata, DomainError> {
    let mut meta = NovaMetadata {
        namespace,
        ..NovaMetadata::default()
    };
    for node in nova_children(instance, namespace) {
        match node.tag_name().name() {
            "package" => meta.package = attribute(node, "version").map(str::to_owned),
            "name" => meta.display_name = text(node),
            "creationTime" => meta.creation_time = text(node),
            "flavor" => meta.flavor = Some(parse_flavor(path, node, namespace)?),
            "image" => meta.os_type = image_os_type(node, namespace),
            "owner" => meta.owner = Some(parse_owner(node, namespace)),
            "root" => meta.root = Some(parse_root(path, node)?),
            "ports" => {
                meta.ports = nova_children(node, namespace)
                    .filter(|port| port.tag_name().name() == "port")
                    .filter_map(|port| attribute(port, "uuid").map(str::to_owned))
                    .collect();
            }
            _ => {}
        }
    }
    Ok(meta)
}

/// The element children of `node` in `namespace`.
fn nova_children<'a, 'input>(
    node: Node<'a, 'input>,
    namespace: &'static str,
) -> impl Iterator<Item = Node<'a, 'input>> {
    node.children()
        .filter(move |c| c.is_element() && c.tag_name().namespace() == Some(namespace))
}

/// `<nova:flavor name id>` and its sizes.
fn parse_flavor(
    path: &Path,
    flavor: Node<'_, '_>,
    namespace: &'static str,
) -> Result<Flavor, DomainError> {
    let mut parsed = Flavor {
        name: attribute(flavor, "name").map(str::to_owned),
        id: attribute(flavor, "id").map(str::to_owned),
        ..Flavor::default()
    };
    for node in nova_children(flavor, namespace) {
        let field = match node.tag_name().name() {
            "memory" => &mut parsed.memory_mb,
            "disk" => &mut parsed.disk_gb,
            "swap" => &mut parsed.swap_mb,
            "ephemeral" => &mut parsed.ephemeral_gb,
            "vcpus" => &mut parsed.vcpus,
            _ => continue,
        };
        *field = number(path, node)?;
    }
    Ok(parsed)
}

/// The number an element holds (Nova writes `str(int)`); an empty element is none.
fn number(path: &Path, node: Node<'_, '_>) -> Result<Option<u64>, DomainError> {
    let Some(value) = text(node) else {
        return Ok(None);
    };
    match value.parse::<u64>() {
        Ok(number) if value.bytes().all(|b| b.is_ascii_digit()) => Ok(Some(number)),
        _ => Err(DomainError::at(
            path,
            node,
            format!("{} is not a number of 0 or more: {value:?}", tag(node)),
        )),
    }
}

/// The `os_type` property of `<nova:image>`.
fn image_os_type(image: Node<'_, '_>, namespace: &'static str) -> Option<String> {
    nova_children(image, namespace)
        .filter(|node| node.tag_name().name() == "properties")
        .flat_map(|properties| nova_children(properties, namespace))
        .find(|property| {
            property.tag_name().name() == "property"
                && property.attribute("name") == Some("os_type")
        })
        .and_then(text)
}

/// `<nova:owner>`: `<nova:user uuid>name</nova:user>`, `<nova:project uuid>name</nova:project>`.
fn parse_owner(owner: Node<'_, '_>, namespace: &'static str) -> Owner {
    let mut parsed = Owner::default();
    for node in nova_children(owner, namespace) {
        let uuid = attribute(node, "uuid").map(str::to_owned);
        match node.tag_name().name() {
            "user" => (parsed.user_uuid, parsed.user_name) = (uuid, text(node)),
            "project" => (parsed.project_uuid, parsed.project_name) = (uuid, text(node)),
            _ => {}
        }
    }
    parsed
}

/// `<nova:root type uuid>`. Nova writes it only with both; an image root without an image is
/// not Nova's.
fn parse_root(path: &Path, root: Node<'_, '_>) -> Result<Root, DomainError> {
    let uuid = attribute(root, "uuid").map(str::to_owned);
    match (attribute(root, "type"), uuid) {
        (Some("image"), Some(image)) => Ok(Root::Image(image)),
        (Some("image"), None) => Err(DomainError::at(
            path,
            root,
            format!("{} of type image names no image (no uuid)", tag(root)),
        )),
        (Some("volume"), uuid) => Ok(Root::Volume(uuid)),
        (Some(kind), uuid) => Ok(Root::Other {
            kind: kind.to_owned(),
            uuid,
        }),
        (None, _) => Err(DomainError::at(
            path,
            root,
            format!("{} has no type (image or volume)", tag(root)),
        )),
    }
}
