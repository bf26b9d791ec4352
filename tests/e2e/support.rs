//! Building real compute hosts in temporary directories, and running the real `cachectl` on them.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use cachectl_qcow2::{Qcow2Spec, create_image};
use tempfile::TempDir;

/// The time every test pins the command to (`CACHECTL_NOW`): 2027-01-15T08:00:00Z.
pub const NOW: i64 = 1_800_000_000;
/// This host's name in every test.
pub const HOST: &str = "compute-1";
pub const HOUR: i64 = 3_600;
pub const DAY: i64 = 86_400;
/// Where a test host keeps libvirt's definitions, under its root.
pub const LIBVIRT_CONFIG_DIR: &str = "etc/libvirt/qemu";
/// Where a test host keeps libvirt's status XML, under its root.
pub const LIBVIRT_RUN_DIR: &str = "run/libvirt/qemu";

/// The directory at `path`, open.
pub fn open_dir(path: &Path) -> cachectl_fs::Dir {
    cachectl_fs::Dir::open(path).expect("an open directory")
}

/// The file name of `path`.
pub fn name_of(path: &Path) -> &std::ffi::OsStr {
    path.file_name().expect("a file name")
}

/// The `cachectl` binary built from the command's own main.rs.
pub fn cachectl_bin() -> &'static str {
    env!("CARGO_BIN_EXE_cachectl-under-test")
}

/// A compute host: `<tmp>/instances` with `_base`, and room for inventories beside it.
pub struct Host {
    dir: TempDir,
    pub instances: PathBuf,
    pub base: PathBuf,
}

/// What a run of the command printed, and its exit code.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// `cachectl --instances-path <instances> --host compute-1 <args>` at [`NOW`], under
/// `timeout <secs>` if given.
fn command(timeout: Option<u32>, instances: &Path, args: &[&str]) -> Command {
    let mut command = match timeout {
        Some(secs) => {
            let mut command = Command::new("timeout");
            command.arg(secs.to_string()).arg(cachectl_bin());
            command
        }
        None => Command::new(cachectl_bin()),
    };
    command
        .arg("--instances-path")
        .arg(instances)
        .args(["--host", HOST]);
    // Hermetic: no nova.conf of the machine, and libvirt's directories beside the instances
    // path (where a test puts domains), unless the test says otherwise.
    let given = |flags: &[&str]| args.iter().any(|a| flags.contains(a));
    if !given(&["--config-file", "--config-dir", "--no-config"]) {
        command.arg("--no-config");
    }
    if !given(&["--libvirt-config-dir", "--libvirt-run-dir", "--no-libvirt"]) {
        let root = instances.parent().unwrap_or(instances);
        command
            .arg("--libvirt-config-dir")
            .arg(root.join(LIBVIRT_CONFIG_DIR))
            .arg("--libvirt-run-dir")
            .arg(root.join(LIBVIRT_RUN_DIR));
    }
    command
        .args(args)
        .env("CACHECTL_NOW", NOW.to_string())
        .env_remove("CACHECTL_LOG");
    command
}

impl Run {
    fn of(output: &std::process::Output) -> Self {
        Self {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// stdout parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|err| {
            panic!(
                "stdout is not JSON ({err}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

impl Host {
    /// An empty host with an empty cache directory.
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("cachectl-e2e-")
            .tempdir()
            .expect("a temporary directory");
        let instances = dir.path().join("instances");
        let base = instances.join("_base");
        fs::create_dir_all(&base).expect("the cache directory");
        Self {
            dir,
            instances,
            base,
        }
    }

    /// The temporary directory everything is in.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// A cache file of `size` zero bytes (sparse), last modified `age` seconds before [`NOW`].
    pub fn base_file(&self, name: &str, size: u64, age: i64) -> PathBuf {
        let path = self.base.join(name);
        File::create(&path)
            .and_then(|f| f.set_len(size))
            .expect("a base file");
        set_age(&path, age);
        path
    }

    /// A cache file with these contents, `age` seconds old.
    pub fn base_file_with(&self, name: &str, contents: &[u8], age: i64) -> PathBuf {
        let path = self.base.join(name);
        fs::write(&path, contents).expect("a base file");
        set_age(&path, age);
        path
    }

    /// A qcow2 overlay at `instances/<rel>` backed by `backing` (a name in the cache, or any
    /// path), made by cachectl's own minimal writer; the backing format is `raw`.
    pub fn overlay(&self, rel: &str, backing: &str) -> PathBuf {
        let target = if backing.contains('/') {
            PathBuf::from(backing)
        } else {
            self.base.join(backing)
        };
        self.overlay_named(rel, target.as_os_str().as_encoded_bytes(), Some("raw"))
    }

    /// A qcow2 overlay whose backing name is exactly `name` (relative names resolve against the
    /// overlay's directory, as QEMU does).
    pub fn overlay_named(&self, rel: &str, name: &[u8], format: Option<&str>) -> PathBuf {
        let path = self.instances.join(rel);
        fs::create_dir_all(path.parent().expect("a parent")).expect("the instance directory");
        let spec = Qcow2Spec {
            backing_file: Some(name),
            backing_format: format,
            ..Qcow2Spec::new(1 << 30)
        };
        fs::write(&path, create_image(&spec).expect("a qcow2 image")).expect("an overlay");
        path
    }

    /// A qcow2 overlay made by `qemu-img create`, as Nova makes them.
    pub fn qemu_img_overlay(&self, rel: &str, backing: &str) -> PathBuf {
        let path = self.instances.join(rel);
        fs::create_dir_all(path.parent().expect("a parent")).expect("the instance directory");
        let backing = self.base.join(backing);
        let status = Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2", "-F", "raw", "-b"])
            .arg(&backing)
            .arg(&path)
            .status()
            .expect("qemu-img (Debian package qemu-utils) is installed");
        assert!(status.success(), "qemu-img create failed");
        path
    }

    /// A plain file under the instances path.
    pub fn file(&self, rel: &str, contents: &[u8]) -> PathBuf {
        let path = self.instances.join(rel);
        fs::create_dir_all(path.parent().expect("a parent")).expect("its directory");
        fs::write(&path, contents).expect("a file");
        path
    }

    /// An inventory file beside the instances path, from records given as JSON objects.
    pub fn inventory(&self, records: &[serde_json::Value]) -> PathBuf {
        let path = self.root().join("inventory.json");
        let json = serde_json::json!({ "instances": records });
        fs::write(&path, serde_json::to_string_pretty(&json).expect("JSON")).expect("an inventory");
        path
    }

    /// `instances/compute_nodes` with hosts last seen `age` seconds before [`NOW`].
    pub fn compute_nodes(&self, hosts: &[(&str, i64)]) {
        let map: serde_json::Map<String, serde_json::Value> = hosts
            .iter()
            .map(|(h, age)| ((*h).to_owned(), serde_json::json!((NOW - age) as f64)))
            .collect();
        fs::write(
            self.instances.join("compute_nodes"),
            serde_json::Value::Object(map).to_string(),
        )
        .expect("compute_nodes");
    }

    /// Whether a cache file exists.
    pub fn has(&self, name: &str) -> bool {
        self.base.join(name).exists()
    }

    /// The cache directory's entries, sorted.
    pub fn cache_names(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(&self.base)
            .expect("the cache directory")
            .map(|e| {
                e.expect("an entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    }

    /// Runs `cachectl --instances-path <instances> --host compute-1 <args>` at [`NOW`].
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_stdin(args, None)
    }

    /// Like [`Host::run`], with another instances path.
    pub fn run_in(&self, instances: &Path, args: &[&str]) -> Run {
        let output = command(None, instances, args)
            .stdin(Stdio::null())
            .output()
            .expect("cachectl runs");
        Run::of(&output)
    }

    /// Like [`Host::run`], feeding `stdin`.
    pub fn run_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let mut command = command(None, &self.instances, args);
        command
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("cachectl runs");
        if let Some(input) = stdin {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(input.as_bytes())
                .expect("stdin written");
        }
        Run::of(&child.wait_with_output().expect("cachectl finishes"))
    }

    /// The insta filters that hide this host's temporary directory.
    pub fn filters(&self) -> Vec<(String, &'static str)> {
        vec![
            (regex_escape(&self.root().display().to_string()), "[HOST]"),
            // Allocated sizes depend on the filesystem the test runs on.
            (
                r"[\d.]+ [KMGTP]?i?B of it allocated".to_owned(),
                "[ALLOCATED] of it allocated",
            ),
        ]
    }
}

/// The entry called `name` in a JSON report's `files`.
pub fn file_entry<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["files"]
        .as_array()
        .and_then(|files| files.iter().find(|f| f["name"] == name))
        .unwrap_or_else(|| panic!("no entry {name} in the report"))
}

/// The state of the entry called `name` in a JSON report.
pub fn state_of(report: &serde_json::Value, name: &str) -> String {
    file_entry(report, name)["state"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Names of the entries in `state`.
pub fn names_in(report: &serde_json::Value, state: &str) -> Vec<String> {
    report["files"]
        .as_array()
        .map(|files| {
            files
                .iter()
                .filter(|f| f["state"] == state)
                .filter_map(|f| f["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Sets a file's mtime to `age` seconds before [`NOW`].
pub fn set_age(path: &Path, age: i64) {
    use rustix::fs::{AtFlags, CWD, Timespec, Timestamps, utimensat};
    let time = Timespec {
        tv_sec: NOW - age,
        tv_nsec: 0,
    };
    utimensat(
        CWD,
        path,
        &Timestamps {
            last_access: time,
            last_modification: time,
        },
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .expect("mtime set");
}

/// The mtime of a file, unix seconds.
pub fn mtime(path: &Path) -> i64 {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(path).expect("metadata").mtime()
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if "\\.+*?()|[]{}^$".contains(c) {
                vec!['\\', c]
            } else {
                vec![c]
            }
        })
        .collect()
}

/// A record as the inventory takes it.
pub fn record(uuid: &str, name: &str, host: &str, image_ref: &str) -> serde_json::Value {
    serde_json::json!({"uuid": uuid, "name": name, "host": host, "image_ref": image_ref})
}

impl Host {
    /// A symbolic link at `instances/<rel>` pointing to `target` (which need not exist).
    pub fn symlink(&self, rel: &str, target: &Path) -> PathBuf {
        let path = self.instances.join(rel);
        fs::create_dir_all(path.parent().expect("a parent")).expect("its directory");
        std::os::unix::fs::symlink(target, &path).expect("a symlink");
        path
    }

    /// A FIFO at `instances/<rel>`: reading one without care blocks forever.
    pub fn fifo(&self, rel: &str) -> PathBuf {
        let path = self.instances.join(rel);
        fs::create_dir_all(path.parent().expect("a parent")).expect("its directory");
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            &path,
            rustix::fs::Mode::from_raw_mode(0o644),
        )
        .expect("a FIFO");
        path
    }

    /// Every entry under the host's directory with its type, size and mtime, sorted by path: two
    /// listings are equal when a command changed nothing on disk.
    pub fn listing(&self) -> Vec<(String, char, u64, i64)> {
        fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, char, u64, i64)>) {
            use std::os::unix::fs::MetadataExt;
            for entry in fs::read_dir(dir).expect("a directory") {
                let path = entry.expect("an entry").path();
                let meta = fs::symlink_metadata(&path).expect("metadata");
                let kind = if meta.is_dir() {
                    'd'
                } else if meta.is_symlink() {
                    'l'
                } else if meta.is_file() {
                    'f'
                } else {
                    '?'
                };
                let shown = path
                    .strip_prefix(root)
                    .expect("under the root")
                    .display()
                    .to_string();
                // A directory's mtime changes with its entries, which the entries already show.
                let mtime = if kind == 'd' { 0 } else { meta.mtime() };
                out.push((shown, kind, meta.size(), mtime));
                if kind == 'd' {
                    walk(root, &path, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(self.root(), self.root(), &mut out);
        out.sort();
        out
    }

    /// Starts `cachectl --instances-path <instances> --host compute-1 <args>` at [`NOW`], its
    /// standard input, output and error piped: for a test that looks at the running process.
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        command(None, &self.instances, args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cachectl runs")
    }

    /// Like [`Host::run`], killed after `secs` seconds (exit code 124) so a hang fails the test
    /// instead of blocking the suite.
    pub fn run_with_timeout(&self, secs: u32, args: &[&str]) -> Run {
        let output = command(Some(secs), &self.instances, args)
            .stdin(Stdio::null())
            .output()
            .expect("timeout (coreutils) runs cachectl");
        Run::of(&output)
    }
}

/// Another process holding an oslo.concurrency-style lock (`fcntl.lockf(f, LOCK_EX)` on a file
/// opened for appending), as Nova holds `locks/nova-<name>`; released when dropped.
pub struct LockHolder {
    child: std::process::Child,
}

impl LockHolder {
    /// Starts `python3`, which takes the lock at `path` and says so before this returns.
    pub fn hold(path: &Path) -> Self {
        use std::io::BufRead;
        const SCRIPT: &str = "import fcntl, sys, time\n\
                              f = open(sys.argv[1], 'a')\n\
                              fcntl.lockf(f, fcntl.LOCK_EX)\n\
                              print('locked', flush=True)\n\
                              time.sleep(600)\n";
        fs::create_dir_all(path.parent().expect("a parent")).expect("the lock directory");
        let child = Command::new("python3")
            .args(["-c", SCRIPT])
            .arg(path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        // Owned first, so that the child is killed whatever happens next.
        let mut holder = Self { child };
        let mut line = String::new();
        std::io::BufReader::new(holder.child.stdout.as_mut().expect("its stdout"))
            .read_line(&mut line)
            .expect("python3 says it holds the lock");
        assert_eq!(line.trim(), "locked", "python3 did not take the lock");
        holder
    }
}

impl Drop for LockHolder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The cache files of `report` in `state`, as a sorted list.
pub fn sorted_names_in(report: &serde_json::Value, state: &str) -> Vec<String> {
    let mut names = names_in(report, state);
    names.sort();
    names
}

/// The codes of a JSON report's warnings.
pub fn warning_codes(report: &serde_json::Value) -> Vec<String> {
    report["warnings"]
        .as_array()
        .map(|warnings| {
            warnings
                .iter()
                .filter_map(|w| w["code"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The message of the first warning with `code` in a JSON report.
pub fn warning(report: &serde_json::Value, code: &str) -> String {
    report["warnings"]
        .as_array()
        .and_then(|warnings| warnings.iter().find(|w| w["code"] == code))
        .and_then(|w| w["message"].as_str())
        .unwrap_or_else(|| panic!("no warning {code} in {}", report["warnings"]))
        .to_owned()
}

/// The fingerprint (cache name of the original) of an image id.
pub fn fp(image_id: &str) -> String {
    cachectl_naming::fingerprint(image_id).to_string()
}

/// What `qemu-img info --force-share --output=json [--backing-chain] <path>` says.
pub fn qemu_img_info(path: &Path, backing_chain: bool) -> serde_json::Value {
    let mut command = Command::new("qemu-img");
    command.args(["info", "--force-share", "--output=json"]);
    if backing_chain {
        command.arg("--backing-chain");
    }
    let output = command
        .arg(path)
        .output()
        .expect("qemu-img (Debian package qemu-utils) is installed");
    assert!(
        output.status.success(),
        "qemu-img info {}: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("qemu-img's JSON")
}

/// The disks that keep a file, as the JSON report lists them.
pub fn disks_of(report: &serde_json::Value, name: &str) -> Vec<String> {
    file_entry(report, name)["used_by"]["disks"]
        .as_array()
        .expect("disks")
        .iter()
        .filter_map(|d| d.as_str().map(str::to_owned))
        .collect()
}

/// Why the report says a file is kept or removed.
pub fn reason_of(report: &serde_json::Value, name: &str) -> String {
    file_entry(report, name)["reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// A disk of a domain for [`nova_domain`]: its file, the format libvirt opens it in (`""`: no
/// `type` in its `<driver>`), and, for a running guest, the backing chain libvirt states (files
/// and formats, top first).
pub struct DomainDiskSpec<'a> {
    pub file: &'a Path,
    pub format: &'a str,
    pub chain: Option<&'a [(&'a Path, &'a str)]>,
}

/// A domain as Nova 34 defines it (Nova's metadata with the flavor's swap and the root image),
/// with `disks`; as libvirt's status XML of a running guest (`<domstatus>`) when `running`.
pub fn nova_domain(
    uuid: &str,
    name: &str,
    image: &str,
    swap_mb: u64,
    disks: &[DomainDiskSpec<'_>],
    running: bool,
) -> String {
    let mut devices = String::new();
    for (i, disk) in disks.iter().enumerate() {
        let mut chain = String::new();
        if let Some(stores) = disk.chain {
            for (file, format) in stores {
                chain.push_str(&format!(
                    "<backingStore type='file'><format type='{format}'/><source file='{}'/>",
                    file.display()
                ));
            }
            chain.push_str("<backingStore/>");
            chain.push_str(&"</backingStore>".repeat(stores.len()));
        }
        devices.push_str(&format!(
            "<disk type='file' device='disk'><driver name='qemu'{} cache='none'/>\
             <source file='{}'/>{chain}<target dev='vd{}' bus='virtio'/></disk>\n",
            if disk.format.is_empty() {
                String::new()
            } else {
                format!(" type='{}'", disk.format)
            },
            disk.file.display(),
            char::from(b'a' + u8::try_from(i).expect("a few disks")),
        ));
    }
    let domain = format!(
        "<domain type='kvm'{id}>\n  <name>{name}</name>\n  <uuid>{uuid}</uuid>\n  <metadata>\n    \
         <nova:instance xmlns:nova='http://openstack.org/xmlns/libvirt/nova/1.1'>\n      \
         <nova:package version='34.0.0'/>\n      <nova:name>server-{name}</nova:name>\n      \
         <nova:flavor name='m1.small'><nova:memory>2048</nova:memory><nova:disk>20</nova:disk>\
         <nova:swap>{swap_mb}</nova:swap><nova:ephemeral>0</nova:ephemeral><nova:vcpus>1</nova:vcpus></nova:flavor>\n      \
         <nova:root type='image' uuid='{image}'/>\n    </nova:instance>\n  </metadata>\n  \
         <memory unit='KiB'>2097152</memory>\n  <vcpu>1</vcpu>\n  \
         <os><type arch='x86_64' machine='q35'>hvm</type><boot dev='hd'/></os>\n  \
         <devices>\n{devices}  </devices>\n</domain>\n",
        id = if running { " id='7'" } else { "" },
    );
    if running {
        format!("<domstatus state='running' reason='booted' pid='4242'>\n{domain}</domstatus>\n")
    } else {
        domain
    }
}

impl Host {
    /// Writes a domain into this host's libvirt definitions (`etc/libvirt/qemu/<name>.xml`), or
    /// its running guests' status XML (`run/libvirt/qemu/<name>.xml`).
    pub fn domain(&self, name: &str, xml: &str, running: bool) -> PathBuf {
        let dir = self.root().join(if running {
            LIBVIRT_RUN_DIR
        } else {
            LIBVIRT_CONFIG_DIR
        });
        fs::create_dir_all(&dir).expect("libvirt's directory");
        let path = dir.join(format!("{name}.xml"));
        fs::write(&path, xml).expect("a domain");
        path
    }
}

/// Asserts that a checking tool (`promtool`, `systemd-analyze`) passed: it exited 0 and said
/// nothing, on stdout or stderr (both exit 0 on some findings, but say so). `about` is shown
/// with what it said.
#[track_caller]
pub fn assert_tool_silent(tool: &str, output: &std::process::Output, about: &str) {
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success() && said.trim().is_empty(),
        "{tool}: {said}\n{about}"
    );
}
