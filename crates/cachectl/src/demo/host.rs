//! The sample host on disk: its cache, instance directories, records, storage registry,
//! nova.conf and libvirt domains.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use cachectl_naming::fingerprint;
use cachectl_policy::UnixTime;
use cachectl_qcow2::{Qcow2Spec, create_image};

use super::libvirt::{Guest, LibvirtDirs, nova_conf, write_domains};

/// The sample host's name.
pub(super) const DEMO_HOST: &str = "compute-01";
/// Its peer on the shared storage.
pub(super) const DEMO_PEER: &str = "compute-02";

const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;
const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

/// Where the sample host is.
#[derive(Debug, Clone)]
pub(crate) struct SampleHost {
    /// The inventory file.
    pub inventory: PathBuf,
    /// Its nova.conf.
    pub nova_conf: PathBuf,
    /// Where its libvirt keeps its domains.
    pub libvirt: LibvirtDirs,
}

/// One image of the sample host.
struct Image {
    id: &'static str,
    fp: String,
}

impl Image {
    fn new(id: &'static str) -> Self {
        Self {
            id,
            fp: fingerprint(id).to_string(),
        }
    }
}

/// The images of the sample host.
struct Images {
    ubuntu: Image,
    cirros: Image,
    centos: Image,
    windows: Image,
    debian: Image,
    fedora: Image,
}

impl Images {
    fn new() -> Self {
        Self {
            ubuntu: Image::new("5f0b3c1e-6a57-4a8e-9d1b-2b6a1f0c9e11"),
            cirros: Image::new("b2173dd3-7ad6-4362-baa6-a68bce3565cb"),
            centos: Image::new("0e3f8b91-2c4d-4f4a-8e6b-7d9a1c2b3e4f"),
            windows: Image::new("a4c2e6f8-1b3d-4e5f-8a9b-c0d1e2f3a4b5"),
            debian: Image::new("d3b1a5c7-9e2f-4a6b-8c0d-1e2f3a4b5c6d"),
            fedora: Image::new("f6e5d4c3-b2a1-4098-8765-4321fedcba98"),
        }
    }
}

/// The sample host's instance directories.
const WEB1: &str = "8d1f6a52-3b7e-4c9d-a2f1-5e6b7c8d9e01";
const WEB2: &str = "8d1f6a52-3b7e-4c9d-a2f1-5e6b7c8d9e02";
const DB1: &str = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f";
const PEER1: &str = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a";
const ORPHAN: &str = "3a4b5c6d-7e8f-4091-a2b3-c4d5e6f7a8b9";

/// Builds the sample host under `dir` (which must not exist, or be empty), with ages counted
/// back from `now`.
pub(crate) fn build(dir: &Path, now: UnixTime) -> io::Result<SampleHost> {
    let now = now.0;
    if dir.exists() && fs::read_dir(dir)?.next().is_some() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "the directory is not empty",
        ));
    }
    let instances = dir.join("instances");
    let base = instances.join("_base");
    fs::create_dir_all(&base)?;
    fs::create_dir_all(instances.join("locks"))?;
    let images = Images::new();
    fill_cache(&base, &images, now)?;
    checksum_sidecar(&base, &images.cirros, now)?;
    instance_disks(&instances, &base, &images)?;
    let inventory = dir.join("inventory.json");
    fs::write(&inventory, inventory_json(&images))?;
    let nova_conf_path = dir.join("nova.conf");
    fs::write(&nova_conf_path, nova_conf(&instances, DEMO_HOST))?;
    let libvirt = LibvirtDirs::under(dir);
    write_domains(&libvirt, &instances, &guests(&images))?;
    fs::write(
        instances.join("compute_nodes"),
        format!(
            r#"{{"{DEMO_HOST}": {}.0, "{DEMO_PEER}": {}.0}}"#,
            now - 600,
            now - 900
        ),
    )?;
    Ok(SampleHost {
        inventory,
        nova_conf: nova_conf_path,
        libvirt,
    })
}

/// The cache: originals, copies, swap and ephemeral bases, a stale download and a stray file,
/// sparse, of the ages a real host's have.
fn fill_cache(base: &Path, images: &Images, now: i64) -> io::Result<()> {
    let sparse = |name: &str, size: u64, age: i64| sparse_file(&base.join(name), size, now - age);
    let Images {
        ubuntu,
        cirros,
        centos,
        windows,
        debian,
        fedora,
        ..
    } = images;
    sparse(&ubuntu.fp, 2 * GIB + 316 * MIB, 2 * HOUR)?;
    sparse(&cirros.fp, 16 * MIB, 3 * DAY)?;
    sparse(&format!("{}_10737418240", cirros.fp), 10 * GIB, 3 * DAY)?;
    sparse(&centos.fp, GIB + 700 * MIB, 3 * DAY)?;
    sparse(&windows.fp, 14 * GIB, 5 * HOUR)?;
    sparse(&debian.fp, 2 * GIB, 4 * DAY)?;
    sparse(&format!("{}_5", fedora.fp), 5 * GIB, 9 * DAY)?;
    sparse(&format!("{}_sm", fedora.fp), 900 * MIB, 9 * DAY)?;
    sparse(&format!("{}.part", fedora.fp), 300 * MIB, 6 * HOUR)?;
    sparse("swap_512", 512 * MIB, 4 * DAY)?;
    sparse("ephemeral_20_0706d66", 20 * GIB, 2 * DAY)?;
    sparse("ephemeral_10_0706d66", 10 * GIB, 2 * DAY)?;
    sparse("ephemeral_40_0706d66", 40 * GIB, 3 * DAY)?;
    sparse("README", 1_200, 40 * DAY)
}

/// A valid checksum sidecar for an image, written the way Nova's .info files are.
fn checksum_sidecar(base: &Path, image: &Image, now: i64) -> io::Result<()> {
    let path = base.join(&image.fp);
    let digest = cachectl_sidecar::hash_file(&path)?;
    let base_dir = cachectl_fs::Dir::open(base)?;
    let name = std::ffi::OsStr::new(&image.fp);
    cachectl_sidecar::write_info(&base_dir, name, &digest, (now - 2 * DAY) as f64)
        .map_err(io::Error::other)?;
    touch(&path, now - 3 * DAY)?;
    touch(&cachectl_sidecar::info_path(&path), now - 2 * DAY)
}

/// This host's guests, as libvirt knows them (the peer's run on the peer).
fn guests(images: &Images) -> [Guest<'_>; 3] {
    [
        Guest {
            uuid: WEB1,
            name: "instance-0000a001",
            display_name: "web-1",
            image: images.ubuntu.id,
            os_type: "linux",
            swap_mb: 0,
            ephemeral_gb: 0,
            disks: vec![("disk", images.ubuntu.fp.clone())],
            running: true,
        },
        Guest {
            uuid: WEB2,
            name: "instance-0000a002",
            display_name: "web-2",
            image: images.ubuntu.id,
            os_type: "linux",
            swap_mb: 0,
            ephemeral_gb: 0,
            disks: vec![("disk", images.ubuntu.fp.clone())],
            running: false,
        },
        Guest {
            uuid: DB1,
            name: "instance-0000a003",
            display_name: "db-1",
            image: images.cirros.id,
            os_type: "linux",
            swap_mb: 512,
            ephemeral_gb: 20,
            disks: vec![
                ("disk", format!("{}_10737418240", images.cirros.fp)),
                ("disk.swap", "swap_512".to_owned()),
                ("disk.local", "ephemeral_20_0706d66".to_owned()),
            ],
            running: true,
        },
    ]
}

/// Instances: two of this host's on ubuntu (records keep the original), one on cirros through
/// its resized copy, with swap and ephemeral overlays; one of the peer host's; an orphan.
fn instance_disks(instances: &Path, base: &Path, images: &Images) -> io::Result<()> {
    let overlay = |dir: &str, disk: &str, backing: &str, size: u64| {
        let dir = instances.join(dir);
        fs::create_dir_all(&dir)?;
        let backing = base.join(backing);
        let spec = Qcow2Spec {
            backing_file: Some(backing.as_os_str().as_encoded_bytes()),
            backing_format: Some("raw"),
            ..Qcow2Spec::new(size)
        };
        let bytes = create_image(&spec).map_err(io::Error::other)?;
        fs::write(dir.join(disk), bytes)?;
        fs::write(
            dir.join("console.log"),
            b"[    0.000000] Linux version 6.8.0\n",
        )
    };
    overlay(WEB1, "disk", &images.ubuntu.fp, 20 * GIB)?;
    overlay(WEB2, "disk", &images.ubuntu.fp, 20 * GIB)?;
    let resized = format!("{}_10737418240", images.cirros.fp);
    overlay(DB1, "disk", &resized, 10 * GIB)?;
    overlay(DB1, "disk.swap", "swap_512", 512 * MIB)?;
    overlay(DB1, "disk.local", "ephemeral_20_0706d66", 20 * GIB)?;
    overlay(PEER1, "disk", &images.windows.fp, 40 * GIB)?;
    // Its record says nothing of an ephemeral disk (a flavor changed under it): only the
    // overlay says the base is in use.
    overlay(PEER1, "disk.local", "ephemeral_10_0706d66", 10 * GIB)?;
    overlay(ORPHAN, "disk", &images.debian.fp, 20 * GIB)
}

/// The instance records of the sample host (none for the orphan).
fn inventory_json(images: &Images) -> String {
    let record = |uuid: &str, name: &str, host: &str, image: &Image, extra: &str| {
        format!(
            r#"    {{"uuid": "{uuid}", "name": "{name}", "host": "{host}", "image_ref": "{}", "vm_state": "active"{extra}}}"#,
            image.id
        )
    };
    let records = [
        record(WEB1, "instance-0000a001", DEMO_HOST, &images.ubuntu, ""),
        record(WEB2, "instance-0000a002", DEMO_HOST, &images.ubuntu, ""),
        record(
            DB1,
            "instance-0000a003",
            DEMO_HOST,
            &images.cirros,
            r#", "swap_mb": 512, "ephemeral_gb": 20, "os_type": "linux""#,
        ),
        record(
            PEER1,
            "instance-0000b001",
            DEMO_PEER,
            &images.windows,
            r#", "os_type": "windows""#,
        ),
    ];
    format!("{{\"instances\": [\n{}\n]}}\n", records.join(",\n"))
}

fn sparse_file(path: &Path, size: u64, mtime: i64) -> io::Result<()> {
    let file = File::create(path)?;
    file.set_len(size)?;
    drop(file);
    touch(path, mtime)
}

/// Sets the access and modification times of a file of the sample host.
fn touch(path: &Path, mtime: i64) -> io::Result<()> {
    let time =
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(mtime).unwrap_or(0));
    File::options()
        .write(true)
        .open(path)?
        .set_times(fs::FileTimes::new().set_accessed(time).set_modified(time))
}
