//! cachectl's own inventory shape: `{"instances": [...]}`, one record per instance, named as
//! Nova's instance objects name their fields.

use cachectl_policy::Instance;
use compact_str::CompactString;
use serde::Deserialize;

use super::fields::non_empty;

/// One record of `{"instances": [...]}`. Unknown fields are ignored, so a dump of Nova's
/// instance objects can be given as it is.
#[derive(Deserialize)]
pub(super) struct Record {
    #[serde(deserialize_with = "non_empty")]
    uuid: CompactString,
    #[serde(deserialize_with = "non_empty")]
    name: CompactString,
    #[serde(deserialize_with = "non_empty")]
    host: CompactString,
    #[serde(default)]
    image_ref: Option<CompactString>,
    #[serde(default)]
    kernel_id: Option<CompactString>,
    #[serde(default)]
    ramdisk_id: Option<CompactString>,
    #[serde(default)]
    task_state: Option<CompactString>,
    #[serde(default)]
    vm_state: Option<CompactString>,
    #[serde(default)]
    swap_mb: Option<u64>,
    #[serde(default)]
    ephemeral_gb: Option<u64>,
    #[serde(default)]
    os_type: Option<CompactString>,
}

impl Record {
    pub(super) fn into_instance(self) -> Instance {
        Instance {
            uuid: self.uuid,
            name: self.name,
            host: self.host,
            image_ref: self.image_ref,
            kernel_id: self.kernel_id,
            ramdisk_id: self.ramdisk_id,
            task_state: self.task_state,
            vm_state: self.vm_state,
            swap_mb: self.swap_mb,
            ephemeral_gb: self.ephemeral_gb,
            os_type: self.os_type,
        }
    }
}
