//! The sample host's nova.conf and libvirt domains, in the shapes Nova 34 and libvirt write
//! them: a definition per guest (`etc/libvirt/qemu/<name>.xml`), libvirt's status XML for the
//! running ones (`run/libvirt/qemu/<name>.xml`, with the backing chains libvirt probed), and the
//! `libvirt.xml` Nova kept in each instance directory up to Newton.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// One guest of the sample host, as Nova defines it.
pub(super) struct Guest<'a> {
    /// The instance's uuid, also its directory's name.
    pub uuid: &'a str,
    /// The domain's name (`instance-%08x`).
    pub name: &'a str,
    /// The display name.
    pub display_name: &'a str,
    /// The root image's id.
    pub image: &'a str,
    /// The image's `os_type` property.
    pub os_type: &'a str,
    /// The flavor's swap size (MB).
    pub swap_mb: u64,
    /// The flavor's ephemeral size (GB).
    pub ephemeral_gb: u64,
    /// Its disks: the file name in the instance directory, and the cache file it is an overlay
    /// on (the chain libvirt states for a running guest).
    pub disks: Vec<(&'a str, String)>,
    /// Whether it runs (libvirt keeps its status XML).
    pub running: bool,
}

/// Where the sample host's libvirt keeps its domains, under the demo's directory.
#[derive(Debug, Clone)]
pub(super) struct LibvirtDirs {
    /// The definitions.
    pub config: PathBuf,
    /// The status XML of running guests.
    pub run: PathBuf,
}

impl LibvirtDirs {
    pub(super) fn under(dir: &Path) -> Self {
        Self {
            config: dir.join("etc/libvirt/qemu"),
            run: dir.join("run/libvirt/qemu"),
        }
    }
}

/// Writes each guest's definition, its status XML if it runs, and its instance directory's
/// `libvirt.xml`.
pub(super) fn write_domains(
    dirs: &LibvirtDirs,
    instances: &Path,
    guests: &[Guest<'_>],
) -> io::Result<()> {
    fs::create_dir_all(&dirs.config)?;
    fs::create_dir_all(&dirs.run)?;
    for guest in guests {
        let defined = domain_xml(instances, guest, None);
        let header = format!(
            "<!--\nWARNING: THIS IS AN AUTO-GENERATED FILE. CHANGES TO IT ARE LIKELY TO BE\n\
             OVERWRITTEN AND LOST. Changes to this xml configuration should be made using:\n  \
             virsh edit {name}\nor other application using the libvirt API.\n-->\n\n",
            name = guest.name
        );
        fs::write(
            dirs.config.join(format!("{}.xml", guest.name)),
            format!("{header}{defined}"),
        )?;
        fs::write(instances.join(guest.uuid).join("libvirt.xml"), &defined)?;
        if guest.running {
            let live = domain_xml(instances, guest, Some(base_dir(instances)));
            let status = format!(
                "<domstatus state='running' reason='booted' pid='{pid}'>\n  \
                 <monitor path='/var/lib/libvirt/qemu/domain-{id}-{name}/monitor.sock' type='unix'/>\n\
                 {live}</domstatus>\n",
                pid = 4000 + guest.disks.len(),
                id = guest.name.len(),
                name = guest.name,
            );
            fs::write(dirs.run.join(format!("{}.xml", guest.name)), status)?;
        }
    }
    Ok(())
}

fn base_dir(instances: &Path) -> PathBuf {
    instances.join("_base")
}

/// A domain as Nova 34 defines it; with the chains libvirt states when `live` (the cache
/// directory) is given.
fn domain_xml(instances: &Path, guest: &Guest<'_>, live: Option<PathBuf>) -> String {
    let dir = instances.join(guest.uuid);
    let mut disks = String::new();
    for (i, (file, backing)) in guest.disks.iter().enumerate() {
        let chain = match &live {
            Some(base) => format!(
                "      <backingStore type='file'>\n        <format type='raw'/>\n        \
                 <source file='{}'/>\n        <backingStore/>\n      </backingStore>\n",
                base.join(backing).display()
            ),
            None => String::new(),
        };
        let _ = write!(
            disks,
            "    <disk type='file' device='disk'>\n      \
             <driver name='qemu' type='qcow2' cache='none'/>\n      \
             <source file='{}'/>\n{chain}      <target dev='vd{}' bus='virtio'/>\n    </disk>\n",
            dir.join(file).display(),
            char::from(b'a' + u8::try_from(i).unwrap_or(0)),
        );
    }
    let id = if live.is_some() { " id='7'" } else { "" };
    format!(
        "<domain type='kvm'{id}>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  <metadata>
    <nova:instance xmlns:nova=\"http://openstack.org/xmlns/libvirt/nova/1.1\">
      <nova:package version=\"34.0.0\"/>
      <nova:name>{display}</nova:name>
      <nova:creationTime>2026-11-02 09:13:41</nova:creationTime>
      <nova:flavor name=\"m1.demo\" id=\"3\">
        <nova:memory>2048</nova:memory>
        <nova:disk>20</nova:disk>
        <nova:swap>{swap}</nova:swap>
        <nova:ephemeral>{ephemeral}</nova:ephemeral>
        <nova:vcpus>2</nova:vcpus>
      </nova:flavor>
      <nova:image uuid=\"{image}\">
        <nova:containerFormat>bare</nova:containerFormat>
        <nova:diskFormat>qcow2</nova:diskFormat>
        <nova:minDisk>0</nova:minDisk>
        <nova:minRam>0</nova:minRam>
        <nova:properties>
          <nova:property name=\"os_type\">{os_type}</nova:property>
        </nova:properties>
      </nova:image>
      <nova:owner>
        <nova:user uuid=\"9f1c2a7e0c5d4a53b0e4d6f1c7a8b9d0\">demo</nova:user>
        <nova:project uuid=\"0c4e939acacf4376bdcd1129f1a054ad\">demo</nova:project>
      </nova:owner>
      <nova:root type=\"image\" uuid=\"{image}\"/>
    </nova:instance>
  </metadata>
  <memory unit='KiB'>2097152</memory>
  <currentMemory unit='KiB'>2097152</currentMemory>
  <vcpu placement='static'>2</vcpu>
  <sysinfo type='smbios'>
    <system>
      <entry name='manufacturer'>OpenStack Foundation</entry>
      <entry name='product'>OpenStack Nova</entry>
      <entry name='version'>34.0.0</entry>
      <entry name='serial'>{uuid}</entry>
      <entry name='uuid'>{uuid}</entry>
      <entry name='family'>Virtual Machine</entry>
    </system>
  </sysinfo>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <boot dev='hd'/>
    <smbios mode='sysinfo'/>
  </os>
  <features>
    <acpi/>
    <apic/>
  </features>
  <clock offset='utc'/>
  <devices>
{disks}    <serial type='file'>
      <source path='{console}'/>
      <target port='0'/>
    </serial>
  </devices>
</domain>
",
        name = guest.name,
        uuid = guest.uuid,
        display = guest.display_name,
        swap = guest.swap_mb,
        ephemeral = guest.ephemeral_gb,
        image = guest.image,
        os_type = guest.os_type,
        console = dir.join("console.log").display(),
    )
}

/// The sample host's nova.conf: where the instances are, who the host is, and Nova's own pass
/// set to run beside cachectl (it registers the host and refreshes mtimes, and removes nothing).
pub(super) fn nova_conf(instances: &Path, host: &str) -> String {
    format!(
        "[DEFAULT]\n\
         host = {host}\n\
         state_path = {state}\n\
         instances_path = $state_path/instances\n\
         \n\
         [image_cache]\n\
         # cachectl removes what is unused; Nova's pass still registers the host and\n\
         # refreshes the mtimes of the files it sees in use.\n\
         remove_unused_base_images = False\n\
         manager_interval = 2400\n\
         remove_unused_original_minimum_age_seconds = 86400\n\
         \n\
         [libvirt]\n\
         virt_type = kvm\n\
         images_type = qcow2\n",
        state = instances.parent().unwrap_or(instances).display(),
    )
}
