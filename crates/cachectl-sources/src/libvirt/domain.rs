//! [`Domain`]: what cachectl takes from one libvirt domain, and the instance record it makes.

use cachectl_policy::Instance;

use super::disk::DomainDisk;
use super::nova::{NovaMetadata, Root};

/// One libvirt domain: a Nova instance, when Nova defined it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Domain {
    /// `<uuid>`: the instance's uuid (Nova gives the domain the instance's).
    pub uuid: Option<String>,
    /// `<name>`: the instance's name (`instance-%08x` with Nova's default template).
    pub name: Option<String>,
    /// Every `<devices><disk>`, in order.
    pub disks: Vec<DomainDisk>,
    /// Nova's metadata (`<metadata><nova:instance>`); `None` for a domain Nova did not define.
    pub nova: Option<NovaMetadata>,
}

impl Domain {
    /// The instance record this domain stands for on `host`, from its uuid, its name and Nova's
    /// metadata: `image_ref` is the root image (`None` for a volume-backed instance), `swap_mb`
    /// and `ephemeral_gb` are the flavor's, `os_type` is the image's property. The domain does
    /// not say Nova's task or VM state, nor the image ids of a kernel and ramdisk: those are
    /// `None`. `None` when the domain is not Nova's (no metadata) or lacks a uuid or a name.
    pub fn instance(&self, host: &str) -> Option<Instance> {
        let nova = self.nova.as_ref()?;
        let flavor = nova.flavor.as_ref();
        Some(Instance {
            uuid: self.uuid.as_deref()?.into(),
            name: self.name.as_deref()?.into(),
            host: host.into(),
            image_ref: match &nova.root {
                Some(Root::Image(image)) => Some(image.into()),
                _ => None,
            },
            kernel_id: None,
            ramdisk_id: None,
            task_state: None,
            vm_state: None,
            swap_mb: flavor.and_then(|f| f.swap_mb),
            ephemeral_gb: flavor.and_then(|f| f.ephemeral_gb),
            os_type: nova.os_type.as_deref().map(Into::into),
        })
    }
}
