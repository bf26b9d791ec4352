//! The storage registry Nova keeps in `instances_path/compute_nodes`: which hosts share this
//! storage, each with the unix time it last checked in.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use cachectl_fs::Dir;
use cachectl_naming::{nova_lock_name, quote};
use cachectl_policy::UnixTime;

/// Nova's storage registry file, under the instances path.
pub const COMPUTE_NODES: &str = "compute_nodes";

/// The largest `compute_nodes` read (one line per host: this is hundreds of thousands).
const MAX_REGISTRY_LEN: u64 = 16 << 20;
/// The lock Nova takes around `compute_nodes`.
pub const REGISTRY_LOCK: &str = "storage-registry-lock";
/// How long to wait for another process to release the registry lock.
const REGISTRY_LOCK_TIMEOUT: Duration = Duration::from_secs(30);

/// What `compute_nodes` says.
#[derive(Debug, Clone, PartialEq)]
pub enum Registry {
    /// No `compute_nodes` file: only this host uses the storage.
    Absent,
    /// An empty `compute_nodes` (what an interrupted in-place rewrite leaves): who shares the
    /// storage is unknown, but there is nothing to lose by rewriting it.
    Empty,
    /// Host -> last check-in, unix seconds.
    Hosts(BTreeMap<String, f64>),
    /// The file cannot be understood; the reason names the file and the problem.
    Malformed(String),
}

/// `compute_nodes` could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// An I/O error.
    #[error("{}: {source}", quote(.path))]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Another process held the registry lock too long.
    #[error("{}: lock held by another process for over {secs} s", quote(.path), secs = REGISTRY_LOCK_TIMEOUT.as_secs())]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// The file is malformed: cachectl will not overwrite what it cannot read.
    #[error("{0}; not registering this host, so as not to drop the other hosts")]
    Malformed(String),
}

/// Reads `compute_nodes` in the instances path.
pub fn read_registry(instances: &Dir) -> Result<Registry, StorageError> {
    let path = instances.join(OsStr::new(COMPUTE_NODES));
    // Never blocks, never follows: a FIFO or a symlink named compute_nodes is malformed, not a
    // hang or a read of another file.
    let bytes = match instances.read_small(OsStr::new(COMPUTE_NODES), MAX_REGISTRY_LEN) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Ok(Registry::Absent),
        Err(err)
            if matches!(
                err.kind(),
                io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData
            ) =>
        {
            return Ok(Registry::Malformed(format!("{}: {err}", quote(&path))));
        }
        Err(source) => return Err(StorageError::Io { path, source }),
    };
    let Ok(text) = String::from_utf8(bytes) else {
        return Ok(Registry::Malformed(format!(
            "{}: not UTF-8 text",
            quote(&path)
        )));
    };
    if text.trim().is_empty() {
        return Ok(Registry::Empty);
    }
    let value: serde_json::Value = match serde_json::from_str(&text) {
        Ok(value) => value,
        Err(err) => {
            return Ok(Registry::Malformed(format!(
                "{}:{}:{}: {}",
                quote(&path),
                err.line(),
                err.column(),
                crate::inventory::json_error_message(&err)
            )));
        }
    };
    let Some(object) = value.as_object() else {
        return Ok(Registry::Malformed(format!(
            "{}: not a JSON object",
            quote(&path)
        )));
    };
    let mut hosts = BTreeMap::new();
    for (host, seen) in object {
        let Some(seen) = seen.as_f64() else {
            return Ok(Registry::Malformed(format!(
                "{}: the check-in time of {host:?} is not a number",
                quote(&path)
            )));
        };
        hosts.insert(host.clone(), seen);
    }
    Ok(Registry::Hosts(hosts))
}

impl Registry {
    /// The check-ins it holds, for [`cachectl_policy::storage_users`]: none when there is no
    /// `compute_nodes` (no host has checked in), `None` when who shares the storage cannot be
    /// told (an empty or malformed file). A check-in that is not a finite time is no check-in.
    pub fn check_ins(&self) -> Option<BTreeMap<String, UnixTime>> {
        match self {
            Self::Absent => Some(BTreeMap::new()),
            Self::Hosts(hosts) => Some(
                hosts
                    .iter()
                    .filter_map(|(host, seen)| {
                        Some((host.clone(), UnixTime::from_f64_ceil(*seen)?))
                    })
                    .collect(),
            ),
            Self::Empty | Self::Malformed(_) => None,
        }
    }
}

/// Records that `host` uses the storage at `now`, as Nova's `register_storage_use` does, but
/// atomically: under Nova's `storage-registry-lock` (in `locks`), the file is read, updated and
/// replaced by rename ([`Dir::write_atomic`]), so a crash never leaves it empty and nothing
/// planted in the instances path can redirect the write. A malformed file is left as it is.
pub fn register(
    instances: &Dir,
    locks: &Dir,
    host: &str,
    now: UnixTime,
) -> Result<(), StorageError> {
    let _lock = registry_lock(locks)?;
    let mut hosts = match read_registry(instances)? {
        Registry::Absent | Registry::Empty => BTreeMap::new(),
        Registry::Hosts(hosts) => hosts,
        Registry::Malformed(problem) => return Err(StorageError::Malformed(problem)),
    };
    hosts.insert(host.to_owned(), now.as_f64());
    let path = instances.join(OsStr::new(COMPUTE_NODES));
    let text = serde_json::to_string(&hosts).map_err(|err| StorageError::Io {
        path: path.clone(),
        source: err.into(),
    })?;
    instances
        .write_atomic(OsStr::new(COMPUTE_NODES), text.as_bytes())
        .map_err(|source| StorageError::Io { path, source })
}

/// Removes `leftovers`, temporary files of writes of `compute_nodes` that were cut off
/// (`.compute_nodes.tmp-…`, see [`is_registry_leftover`]). Every writer holds the registry lock
/// while its temporary file exists, so under that lock they are nobody's.
pub fn remove_leftovers(
    instances: &Dir,
    locks: &Dir,
    leftovers: &[OsString],
) -> Result<(), StorageError> {
    let _lock = registry_lock(locks)?;
    for leftover in leftovers {
        instances
            .remove(leftover)
            .map_err(|source| StorageError::Io {
                path: instances.join(leftover),
                source,
            })?;
    }
    Ok(())
}

/// Takes Nova's registry lock, waiting for it a while.
fn registry_lock(locks: &Dir) -> Result<cachectl_fs::Lock, StorageError> {
    let lock_name = OsString::from(nova_lock_name(REGISTRY_LOCK));
    let lock_path = locks.join(&lock_name);
    locks
        .lock_within(&lock_name, REGISTRY_LOCK_TIMEOUT)
        .map_err(|source| StorageError::Io {
            path: lock_path.clone(),
            source,
        })?
        .ok_or(StorageError::Locked { path: lock_path })
}

/// Whether a name in the instances path is the temporary file of an interrupted write of
/// `compute_nodes` (`.compute_nodes.tmp-<pid>[-<random>]`).
pub fn is_registry_leftover(name: &OsStr) -> bool {
    name.to_str()
        .and_then(|n| n.strip_prefix(".compute_nodes.tmp-"))
        .is_some_and(|tag| {
            !tag.is_empty()
                && tag
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f' | b'-'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    /// An instances path with its lock directory, open.
    fn instances() -> Result<(tempfile::TempDir, Dir, Dir), io::Error> {
        let temp = tempfile::tempdir()?;
        let instances = Dir::open(temp.path())?;
        let locks = instances.create_child(OsStr::new("locks"))?;
        Ok((temp, instances, locks))
    }

    #[test]
    fn register_keeps_other_hosts_and_users_are_recent_hosts() -> TestResult {
        let (dir, instances, locks) = instances()?;
        std::fs::write(
            dir.path().join(COMPUTE_NODES),
            r#"{"old": 1000.0, "peer": 99000.0}"#,
        )?;
        register(&instances, &locks, "me", UnixTime(100_000))?;
        let registry = read_registry(&instances)?;
        let Registry::Hosts(hosts) = &registry else {
            return Err("not hosts".into());
        };
        assert_eq!(hosts.len(), 3);
        assert_eq!(
            registry.check_ins(),
            Some(BTreeMap::from([
                ("me".to_owned(), UnixTime(100_000)),
                ("old".to_owned(), UnixTime(1_000)),
                ("peer".to_owned(), UnixTime(99_000)),
            ]))
        );
        Ok(())
    }

    #[test]
    fn an_empty_registry_counts_every_record_and_is_rewritten() -> TestResult {
        let (dir, instances, locks) = instances()?;
        let path = dir.path().join(COMPUTE_NODES);
        std::fs::write(&path, "")?;
        assert_eq!(read_registry(&instances)?, Registry::Empty);
        assert_eq!(Registry::Empty.check_ins(), None);
        register(&instances, &locks, "me", UnixTime(5))?;
        assert_eq!(std::fs::read_to_string(&path)?, r#"{"me":5.0}"#);
        Ok(())
    }

    #[test]
    fn leftovers_of_interrupted_writes_go_under_the_registry_lock() -> TestResult {
        let (dir, instances, locks) = instances()?;
        let leftover = OsString::from(".compute_nodes.tmp-4242");
        std::fs::write(dir.path().join(&leftover), "{\"half")?;
        assert!(is_registry_leftover(&leftover));
        assert!(!is_registry_leftover(OsStr::new(".compute_nodes.tmp-")));
        assert!(!is_registry_leftover(OsStr::new("compute_nodes")));
        register(&instances, &locks, "me", UnixTime(5))?;
        remove_leftovers(&instances, &locks, std::slice::from_ref(&leftover))?;
        assert!(!dir.path().join(&leftover).exists());
        let names: Vec<_> = std::fs::read_dir(dir.path())?.collect::<Result<_, _>>()?;
        assert_eq!(names.len(), 2, "compute_nodes and locks: {names:?}");
        Ok(())
    }

    #[test]
    fn a_malformed_registry_is_never_overwritten() -> TestResult {
        let (dir, instances, locks) = instances()?;
        let path = dir.path().join(COMPUTE_NODES);
        std::fs::write(&path, "{\"a\": ")?;
        let err = register(&instances, &locks, "me", UnixTime(1))
            .err()
            .ok_or("registered")?;
        assert!(err.to_string().contains("compute_nodes:1:6:"), "{err}");
        assert_eq!(std::fs::read_to_string(&path)?, "{\"a\": ");
        assert_eq!(read_registry(&instances)?.check_ins(), None);
        std::fs::write(&path, r#"{"a": "yesterday"}"#)?;
        assert!(
            matches!(read_registry(&instances)?, Registry::Malformed(m) if m.contains("\"a\" is not a number"))
        );
        Ok(())
    }

    #[test]
    fn a_symlinked_registry_is_malformed_and_never_written_through() -> TestResult {
        let (dir, instances, locks) = instances()?;
        let outside = tempfile::tempdir()?;
        let victim = outside.path().join("victim");
        std::fs::write(&victim, "{}")?;
        std::os::unix::fs::symlink(&victim, dir.path().join(COMPUTE_NODES))?;
        assert!(
            matches!(read_registry(&instances)?, Registry::Malformed(m) if m.ends_with("is a symlink: not followed"))
        );
        assert!(register(&instances, &locks, "me", UnixTime(1)).is_err());
        assert_eq!(std::fs::read_to_string(&victim)?, "{}");
        Ok(())
    }
}
