//! Why a file of an instance directory is read as a possible disk, and in which format.

use std::ffi::OsStr;

use cachectl_naming::is_nova_disk_name;
use cachectl_policy::ReadAs;
use cachectl_qcow2::Format;

/// Why a file of an instance directory is read as a possible disk.
#[derive(Debug, Clone, Copy)]
pub(super) enum Declared<'a> {
    /// Its instance's `disk.info` lists it, in this format.
    DiskInfo(&'a str),
    /// A libvirt domain names it, in this format (`None`: probe it).
    Libvirt(Option<&'a str>),
    /// It has a name Nova gives disks.
    NovaDiskName,
    /// Neither.
    No,
}

impl Declared<'_> {
    pub(super) fn by_name(name: &OsStr) -> Self {
        if is_nova_disk_name(name) {
            Self::NovaDiskName
        } else {
            Self::No
        }
    }

    /// Whether QEMU opens it raw, so that its bytes are guest data and never probed.
    pub(super) fn is_raw(self) -> bool {
        matches!(self, Self::DiskInfo("raw") | Self::Libvirt(Some("raw")))
    }

    pub(super) fn read_as(self) -> ReadAs {
        match self {
            Self::DiskInfo(_) => ReadAs::DiskInfo,
            Self::Libvirt(_) => ReadAs::Libvirt,
            Self::NovaDiskName => ReadAs::NovaDiskName,
            Self::No => ReadAs::OtherFile,
        }
    }

    /// The format it must read as, and who declares it: what `disk.info` or libvirt says,
    /// when cachectl reads that format.
    pub(super) fn format(self) -> Option<(Format, &'static str)> {
        let (declared, declarer) = match self {
            Self::DiskInfo(declared) => (declared, "its disk.info"),
            Self::Libvirt(Some(declared)) => (declared, "libvirt"),
            Self::Libvirt(None) | Self::NovaDiskName | Self::No => return None,
        };
        Format::ALL
            .into_iter()
            .find(|format| format.as_str() == declared)
            .map(|format| (format, declarer))
    }
}
