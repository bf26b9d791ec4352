//! `openstack server list --long --all-projects -f json` as an inventory: an array of rows named
//! by the table's column headers.
//!
//! ```json
//! [{"ID": "…", "Name": "web-1", "Status": "ACTIVE", "Task State": null, "Power State": "Running",
//!   "Networks": {…}, "Image Name": "cirros", "Image ID": "…", "Flavor": "m1.small",
//!   "Availability Zone": "nova", "Host": "compute-1", "Properties": {…}}]
//! ```
//! The listing lacks what [`super::Shape::lacks`] says: instance names, swap and ephemeral sizes,
//! kernel and ramdisk ids, and the VM state (read from the status where it shows a resize).

use cachectl_policy::Instance;
use compact_str::CompactString;
use serde::Deserialize;

use super::fields::{non_empty, nullable, without_empty};

/// What the listing shows in "Image ID" for a server booted from a volume.
const BOOTED_FROM_VOLUME: &str = "N/A (booted from volume)";

/// The statuses Nova's API shows for `vm_state` "resized" (`nova/api/openstack/common.py`).
const RESIZED_STATUSES: [&str; 2] = ["VERIFY_RESIZE", "REVERT_RESIZE"];

/// One row. "Host", "Task State" and "Image ID" are required: they are the columns `--long`
/// adds, without which the listing cannot say where a server runs or what it uses.
#[derive(Deserialize)]
pub(super) struct Row {
    #[serde(rename = "ID", deserialize_with = "non_empty")]
    id: CompactString,
    #[serde(rename = "Status", default)]
    status: Option<CompactString>,
    #[serde(rename = "Task State", deserialize_with = "nullable")]
    task_state: Option<CompactString>,
    #[serde(rename = "Image ID", deserialize_with = "nullable")]
    image_id: Option<CompactString>,
    /// The hypervisor's name for its node: for libvirt, the host's name.
    #[serde(rename = "Host", deserialize_with = "nullable")]
    host: Option<CompactString>,
}

impl Row {
    /// The row as an instance record (named by its uuid), or `None` when it is on no host.
    pub(super) fn into_instance(self) -> Option<Instance> {
        let host = without_empty(self.host)?;
        let image_ref = without_empty(self.image_id).filter(|id| id != BOOTED_FROM_VOLUME);
        let resized = self
            .status
            .as_deref()
            .is_some_and(|status| RESIZED_STATUSES.contains(&status));
        Some(Instance {
            name: self.id.clone(),
            uuid: self.id,
            host,
            image_ref,
            kernel_id: None,
            ramdisk_id: None,
            task_state: without_empty(self.task_state),
            vm_state: resized.then(|| "resized".into()),
            swap_mb: None,
            ephemeral_gb: None,
            os_type: None,
        })
    }
}
