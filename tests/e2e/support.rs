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

impl Run {
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
        let mut all = vec![
            "--instances-path",
            instances.to_str().expect("a UTF-8 path"),
        ];
        all.extend_from_slice(args);
        Command::new(cachectl_bin())
            .args(&all)
            .args(["--host", HOST])
            .env("CACHECTL_NOW", NOW.to_string())
            .output()
            .map(|output| Run {
                code: output.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            })
            .expect("cachectl runs")
    }

    /// Like [`Host::run`], feeding `stdin`.
    pub fn run_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let mut command = Command::new(cachectl_bin());
        command
            .arg("--instances-path")
            .arg(&self.instances)
            .args(["--host", HOST])
            .args(args)
            .env("CACHECTL_NOW", NOW.to_string())
            .env_remove("CACHECTL_LOG")
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
        let output = child.wait_with_output().expect("cachectl finishes");
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// The insta filters that hide this host's temporary directory.
    pub fn filters(&self) -> Vec<(String, &'static str)> {
        vec![(regex_escape(&self.root().display().to_string()), "[HOST]")]
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
