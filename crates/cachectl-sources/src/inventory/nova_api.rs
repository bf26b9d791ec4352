//! Nova's API as an inventory: the JSON of `GET /servers/detail?all_tenants=1` at microversion
//! 2.47 or later, where each server embeds its flavor (so its swap and ephemeral sizes).
//!
//! ```json
//! {"servers": [{"id": "…", "OS-EXT-SRV-ATTR:host": "compute-1",
//!               "OS-EXT-SRV-ATTR:instance_name": "instance-0000002a",
//!               "image": {"id": "…", "links": […]}, "flavor": {"swap": 512, "ephemeral": 20, …},
//!               "OS-EXT-STS:task_state": null, "OS-EXT-STS:vm_state": "active", …}],
//!  "servers_links": […]}
//! ```
//! A server booted from a volume has `"image": ""`; a server never scheduled has a null host and
//! uses nothing on any host.

use cachectl_policy::Instance;
use compact_str::CompactString;
use serde::de::{Error as _, Unexpected};
use serde::{Deserialize, Deserializer};

use super::fields::{non_empty, nullable, without_empty};

/// One server of `{"servers": [...]}`. Its other fields are ignored.
#[derive(Deserialize)]
pub(super) struct Server {
    #[serde(deserialize_with = "non_empty")]
    id: CompactString,
    /// Required, and null for a server never scheduled.
    #[serde(rename = "OS-EXT-SRV-ATTR:host", deserialize_with = "nullable")]
    host: Option<CompactString>,
    #[serde(rename = "OS-EXT-SRV-ATTR:instance_name", default)]
    instance_name: Option<CompactString>,
    #[serde(rename = "OS-EXT-SRV-ATTR:kernel_id", default)]
    kernel_id: Option<CompactString>,
    #[serde(rename = "OS-EXT-SRV-ATTR:ramdisk_id", default)]
    ramdisk_id: Option<CompactString>,
    #[serde(rename = "OS-EXT-STS:task_state", default)]
    task_state: Option<CompactString>,
    #[serde(rename = "OS-EXT-STS:vm_state", default)]
    vm_state: Option<CompactString>,
    /// Required: `""` for a server booted from a volume.
    #[serde(deserialize_with = "image_id")]
    image: Option<CompactString>,
    flavor: EmbeddedFlavor,
}

/// The flavor embedded from microversion 2.47: only its sizes are read.
#[derive(Deserialize)]
struct EmbeddedFlavor {
    /// MB.
    #[serde(deserialize_with = "size")]
    swap: Option<u64>,
    /// GB.
    #[serde(deserialize_with = "size")]
    ephemeral: Option<u64>,
}

/// A server's `image`: `{"id": …}`, or `""` when it boots from a volume.
fn image_id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<CompactString>, D::Error> {
    #[derive(Deserialize)]
    #[serde(
        untagged,
        expecting = r#"an image {"id": …}, or "" for a server booted from a volume"#
    )]
    enum ImageField {
        Image { id: CompactString },
        Text(CompactString),
    }
    match ImageField::deserialize(deserializer)? {
        ImageField::Image { id } => Ok(without_empty(Some(id))),
        ImageField::Text(text) if text.is_empty() => Ok(None),
        ImageField::Text(text) => Err(D::Error::invalid_value(
            Unexpected::Str(&text),
            &r#"an image {"id": …}, or "" for a server booted from a volume"#,
        )),
    }
}

/// A flavor's size: a number, or `""` (some releases' way of saying none).
fn size<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged, expecting = r#"a size: a number, or "" for none"#)]
    enum Size {
        Number(u64),
        Text(String),
    }
    match Size::deserialize(deserializer)? {
        Size::Number(n) => Ok(Some(n)),
        Size::Text(text) if text.is_empty() => Ok(None),
        Size::Text(text) => Err(D::Error::invalid_value(
            Unexpected::Str(&text),
            &r#"a size: a number, or "" for none"#,
        )),
    }
}

impl Server {
    /// The server as an instance record, or `None` when it is on no host.
    pub(super) fn into_instance(self) -> Option<Instance> {
        let host = without_empty(self.host)?;
        Some(Instance {
            name: without_empty(self.instance_name).unwrap_or_else(|| self.id.clone()),
            uuid: self.id,
            host,
            image_ref: self.image,
            kernel_id: without_empty(self.kernel_id),
            ramdisk_id: without_empty(self.ramdisk_id),
            task_state: self.task_state,
            vm_state: self.vm_state,
            swap_mb: self.flavor.swap,
            ephemeral_gb: self.flavor.ephemeral,
            os_type: None,
        })
    }
}
