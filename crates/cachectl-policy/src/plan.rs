//! What the policy decides: a state and its reasons for every cache entry, warnings, orphans.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use cachectl_naming::{EntryKind, quote};
use compact_str::CompactString;

use crate::duration::{HumanBytes, HumanDuration};
use crate::facts::{ReadAs, UnreadableFile};
use crate::space::{RemovalCap, SpaceTarget};

/// At most this many names are spelled out in a reason; the rest are counted.
const NAMES_SHOWN: usize = 3;

/// The decision for one cache entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Something uses it (or may): kept.
    InUse,
    /// Unused, but not for long enough: kept.
    TooYoung,
    /// Unused for long enough: to be removed.
    Remove,
    /// Unused, but an operator pinned its image (`--keep`): kept, whatever its age and the
    /// space asked.
    Pinned,
    /// Removable, but left for the next run: this run's `--max-remove` is reached.
    Deferred,
    /// Not the cache's: left alone.
    Ignore,
}

/// Who uses a cache file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Users {
    /// Instance names (`name` of the records), with `@host` for other hosts' instances.
    pub instances: BTreeSet<CompactString>,
    /// Disks, relative to the instances path (shared with the facts' disks).
    pub disks: BTreeSet<Arc<str>>,
}

/// Why a cache entry is in its state. `Display` is the sentence reports print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// The image it is a copy of is used by instance records.
    ImageInUse {
        /// The image id.
        image_id: String,
        /// Instances on this host.
        local: Names,
        /// Instances on other hosts sharing the storage, as `name@host`.
        remote: Names,
    },
    /// A resized copy of an image instance records use, which no disk uses.
    CopyOfUsedImage {
        /// The image id.
        image_id: String,
    },
    /// A swap base the records of these instances name.
    SwapInUse {
        /// The instances.
        instances: Names,
    },
    /// An ephemeral base the records of these instances name.
    EphemeralInUse {
        /// The instances.
        instances: Names,
    },
    /// Disks have it in their backing chain.
    BackingFileOf {
        /// The disks, relative to the instances path.
        disks: Names,
        /// Some references name another path with this file's name (Nova's matching rule).
        by_name_only: bool,
    },
    /// Disks (or images in their chains) have it as their external data file.
    DataFileOf {
        /// The disks, relative to the instances path.
        disks: Names,
    },
    /// Another cache file that is kept is an overlay on it.
    BacksCacheFile {
        /// That cache file.
        file: String,
    },
    /// A disk could not be read, so any cache file may be in use.
    MayBeInUse {
        /// How many files could not be read.
        unreadable: usize,
    },
    /// Unused for at least its minimum age.
    Unused {
        /// Seconds since its mtime.
        age: u64,
        /// The minimum age for its kind.
        min_age: u64,
        /// Its kind, to name the rule.
        kind: EntryKind,
    },
    /// It would go, but the run's removals are capped (`--max-remove`) and it is not among the
    /// first.
    CapReached {
        /// The cap.
        cap: RemovalCap,
    },
    /// Its image is pinned (`--keep`, `--keep-file`).
    Pinned {
        /// The image id pinned.
        image_id: String,
    },
    /// Unused, but for less than its minimum age.
    TooYoung {
        /// Seconds since its mtime.
        age: u64,
        /// The minimum age for its kind.
        min_age: u64,
    },
    /// Unused for less than its minimum age, and removed for space: the file system holding
    /// the cache had less free space than asked, or the cache was larger than allowed.
    ForSpace {
        /// Seconds since its mtime.
        age: u64,
        /// The minimum age for its kind.
        min_age: u64,
        /// What was asked.
        target: SpaceTarget,
    },
    /// The checksum sidecar of an image that is kept.
    SidecarOfKept {
        /// The image.
        image: String,
    },
    /// The checksum sidecar of an image that is removed: it goes with it.
    SidecarOfRemoved {
        /// The image.
        image: String,
    },
    /// The checksum sidecar of an image that is not in the cache.
    SidecarOfMissing {
        /// The image.
        image: String,
    },
    /// What an interrupted download of an image left.
    DownloadLeftover {
        /// The image.
        image: String,
    },
    /// The temporary file of a sidecar write that was cut off (a crash, a kill).
    InterruptedWrite {
        /// The sidecar being written.
        file: String,
    },
    /// The name is not one the cache gives.
    NotCacheName,
    /// Not a regular file.
    NotRegularFile {
        /// `directory`, `symlink` or `special file`.
        what: &'static str,
    },
}

/// Something the operator should know, beyond the per-file decisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// A file that may be a disk cannot be read; its rule ([`ReadAs`]) and the operator's
    /// acknowledgements decide what follows.
    UnreadableFile {
        /// The file, why it cannot be read and why it was read.
        file: UnreadableFile,
        /// What follows.
        outcome: DoubtOutcome,
    },
    /// Nothing is removed because of unreadable files.
    RemovalBlocked {
        /// How many files stop removals.
        unreadable: usize,
    },

    /// An image used on this host has no base file in the cache.
    AbsentBaseFile {
        /// The image id.
        image_id: String,
        /// The instances on this host that use it.
        instances: Vec<String>,
    },
    /// A swap or ephemeral base that records name is not in the cache.
    AbsentSwapOrEphemeral {
        /// The base name.
        name: String,
    },
    /// An image pinned (`--keep`) has no file in the cache: the pin keeps nothing (an image id
    /// is asked for, not a file name).
    PinnedImageAbsent {
        /// The image id pinned.
        image_id: String,
    },
    /// Records of hosts that have not registered in the storage's `compute_nodes` in the last
    /// 24 h were not counted (Nova's rule; their disks still count).
    RecordsIgnored {
        /// The hosts, with how many records each.
        hosts: Vec<(String, usize)>,
    },
    /// `compute_nodes` could not be read; every record counted.
    StorageUsersUnknown,
}

/// What an unreadable file means for the pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DoubtOutcome {
    /// It may be a disk QEMU opens, using any cache file: nothing is removed.
    Blocks,
    /// As [`DoubtOutcome::Blocks`]; an operator acknowledged it, but it has changed since.
    BlocksChangedSinceAcknowledged,
    /// An operator acknowledged it, and it is unchanged: removals go on.
    Acknowledged,
    /// Not a declared disk: a warning, and removals go on.
    WarnsOnly,
}

impl DoubtOutcome {
    /// Whether the file stops every removal.
    pub fn blocks(self) -> bool {
        matches!(self, Self::Blocks | Self::BlocksChangedSinceAcknowledged)
    }

    /// The snake_case name reports use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Blocks => "blocks",
            Self::BlocksChangedSinceAcknowledged => "blocks_changed_since_acknowledged",
            Self::Acknowledged => "acknowledged",
            Self::WarnsOnly => "warns",
        }
    }
}

impl fmt::Display for DoubtOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A top-level directory of the instances path that no instance record claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrphanDir {
    /// Its name.
    pub name: String,
    /// The cache files its disks keep in use.
    pub keeps: BTreeSet<String>,
    /// Its disks that use cache files.
    pub disks: BTreeSet<String>,
}

/// The decision for one cache entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDecision {
    /// The entry's name.
    pub name: String,
    /// Its kind by name.
    pub kind: EntryKind,
    /// For a sidecar or a download leftover: the image file it belongs to (whose Nova lock
    /// guards it, and with which it stays or goes).
    pub belongs_to: Option<String>,
    /// The decision.
    pub state: State,
    /// Why, most important first; never empty.
    pub reasons: Vec<Reason>,
    /// Who uses it.
    pub users: Users,
    /// The image id it is a copy of, when an instance record names it.
    pub image_id: Option<String>,
    /// Seconds since its mtime (0 if in the future).
    pub age: u64,
    /// Whether a pass refreshes its mtime (it is known to be in use).
    pub touch: bool,
}

/// The whole plan of a pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// One decision per cache entry, in the order of the facts.
    pub files: Vec<FileDecision>,
    /// Warnings, in the order found.
    pub warnings: Vec<Warning>,
    /// Directories no record claims (only with an inventory).
    pub orphans: Vec<OrphanDir>,
    /// True when unreadable files stopped every removal.
    pub removal_blocked: bool,
}

/// Lookups the tests use.
#[cfg(test)]
impl Plan {
    /// The decision for the entry called `name`.
    pub fn file(&self, name: &str) -> Option<&FileDecision> {
        self.files.iter().find(|f| f.name == name)
    }

    /// The names of the entries in `state`.
    pub fn names_in(&self, state: State) -> Vec<&str> {
        self.files
            .iter()
            .filter(|f| f.state == state)
            .map(|f| f.name.as_str())
            .collect()
    }
}

#[cfg(test)]
impl State {
    /// Whether the entry stays.
    pub fn is_kept(self) -> bool {
        self != Self::Remove
    }
}

/// The names a reason shows, and how many there are: a reason names the first few of the
/// instances or disks that use a file ("a, b, c and 1,557 more"), and [`Users`] holds them all,
/// so that a host of many instances holds each name once more, not once per list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names {
    /// The first names, in order.
    pub shown: Vec<String>,
    /// How many names there are in all.
    pub total: usize,
}

impl Names {
    /// The names of `all`, in order: the first few kept, all counted.
    pub fn of<'n, N: AsRef<str> + ?Sized + 'n>(all: impl IntoIterator<Item = &'n N>) -> Self {
        let mut names = Self::default();
        for name in all {
            if names.shown.len() < NAMES_SHOWN {
                names.shown.push(name.as_ref().to_owned());
            }
            names.total += 1;
        }
        names
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }
}

impl From<Vec<String>> for Names {
    fn from(all: Vec<String>) -> Self {
        Self::of(&all)
    }
}

/// "a, b, c and 4 more", each name quoted if need be.
struct NameList<'a, T>(&'a [T], usize);

impl<'a> NameList<'a, String> {
    fn of(names: &'a Names) -> Self {
        NameList(&names.shown, names.total)
    }
}

/// What a [`NameList`] shows of each of its items.
trait ListItem {
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

/// A name: quoted if need be.
impl ListItem for String {
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", quote(self))
    }
}

/// A host, and how many of its records: `compute-9 (2 records)`.
impl ListItem for (String, usize) {
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (host, n) = self;
        write!(
            f,
            "{} ({n} {})",
            quote(host),
            plural(*n, "record", "records")
        )
    }
}

impl<T: ListItem> fmt::Display for NameList<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = &self.0[..self.0.len().min(NAMES_SHOWN)];
        let rest = self.1.max(self.0.len()) - shown.len();
        for (i, item) in shown.iter().enumerate() {
            let last = i + 1 == shown.len();
            let sep = if i == 0 {
                ""
            } else if last && rest == 0 {
                " and "
            } else {
                ", "
            };
            f.write_str(sep)?;
            item.show(f)?;
        }
        if rest > 0 {
            write!(f, " and {rest} more")?;
        }
        Ok(())
    }
}

fn plural(n: usize, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}

fn kind_rule(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::Original => "originals",
        EntryKind::Resized => "resized copies",
        EntryKind::LegacySmall => "small copies",
        EntryKind::Swap => "swap bases",
        EntryKind::Ephemeral => "ephemeral bases",
        EntryKind::Sidecar => "orphan sidecars",
        EntryKind::DownloadLeftover => "download leftovers",
        EntryKind::Foreign => "other files",
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ImageInUse {
                image_id,
                local,
                remote,
            } => image_in_use(f, image_id, local, remote),
            Self::CopyOfUsedImage { image_id } => {
                write!(
                    f,
                    "a resized copy of image {}, which is in use, but no disk uses this copy",
                    quote(image_id)
                )
            }
            Self::SwapInUse { instances } => {
                write!(f, "swap disk of {}", NameList::of(instances))
            }
            Self::EphemeralInUse { instances } => {
                write!(f, "ephemeral disk of {}", NameList::of(instances))
            }
            Self::BackingFileOf {
                disks,
                by_name_only,
            } => {
                write!(f, "backing file of {}", NameList::of(disks))?;
                let by_name =
                    " (a reference names another path with this file name: kept, as Nova does)";
                f.write_str(if *by_name_only { by_name } else { "" })
            }
            Self::DataFileOf { disks } => {
                write!(f, "external data file of {}", NameList::of(disks))
            }
            Self::BacksCacheFile { file } => {
                write!(
                    f,
                    "backing file of cache file {}, which is kept",
                    quote(file)
                )
            }
            Self::MayBeInUse { unreadable } => write!(
                f,
                "may be in use: {unreadable} {} under the instances path could not be read, so nothing is removed",
                plural(*unreadable, "file", "files")
            ),
            Self::Unused { age, min_age, kind } => write!(
                f,
                "unused for {} ({} are kept {})",
                HumanDuration(*age),
                kind_rule(*kind),
                HumanDuration(*min_age)
            ),
            Self::CapReached { cap } => match cap {
                RemovalCap::Files(n) => write!(
                    f,
                    "left for the next run: this one removes at most {n} {} (--max-remove)",
                    if *n == 1 { "file" } else { "files" }
                ),
                RemovalCap::Bytes(bytes) => write!(
                    f,
                    "left for the next run: this one removes at most {} (--max-remove)",
                    HumanBytes(*bytes)
                ),
            },
            Self::Pinned { image_id } => {
                write!(f, "pinned: image {} is kept by --keep", quote(image_id))
            }
            Self::TooYoung { age, min_age } => write!(
                f,
                "unused for {}, kept until unused for {}",
                HumanDuration(*age),
                HumanDuration(*min_age)
            ),
            Self::ForSpace {
                age,
                min_age,
                target,
            } => {
                write!(
                    f,
                    "space: unused for {} (less than {}), the longest unused while ",
                    HumanDuration(*age),
                    HumanDuration(*min_age)
                )?;
                match (target.min_free, target.max_cache) {
                    (Some(free), Some(max)) => write!(
                        f,
                        "{} must stay free and the cache take at most {}",
                        HumanBytes(free),
                        HumanBytes(max)
                    ),
                    (Some(free), None) => write!(f, "{} must stay free", HumanBytes(free)),
                    (None, Some(max)) => {
                        write!(f, "the cache must take at most {}", HumanBytes(max))
                    }
                    (None, None) => write!(f, "space is asked"),
                }
            }
            Self::SidecarOfKept { image } => {
                write!(f, "checksum of {}, kept with it", quote(image))
            }
            Self::SidecarOfRemoved { image } => {
                write!(f, "checksum of {}, removed with it", quote(image))
            }
            Self::SidecarOfMissing { image } => {
                write!(f, "checksum of {}, which is not in the cache", quote(image))
            }
            Self::DownloadLeftover { image } => {
                write!(f, "left by an interrupted download of {}", quote(image))
            }
            Self::InterruptedWrite { file } => {
                write!(f, "left by an interrupted write of {}", quote(file))
            }
            Self::NotCacheName => f.write_str("not a name the cache gives: left alone"),
            Self::NotRegularFile { what } => write!(f, "a {what}, not a regular file: left alone"),
        }
    }
}

/// "image 1 is used by vm1 on this host and vm2@c2 on other hosts".
fn image_in_use(
    f: &mut fmt::Formatter<'_>,
    image_id: &str,
    local: &Names,
    remote: &Names,
) -> fmt::Result {
    write!(f, "image {} is used by ", quote(image_id))?;
    match (local.is_empty(), remote.is_empty()) {
        (false, true) => write!(f, "{} on this host", NameList::of(local)),
        (true, false) => write!(f, "{} on other hosts", NameList::of(remote)),
        _ => write!(
            f,
            "{} on this host and {} on other hosts",
            NameList::of(local),
            NameList::of(remote)
        ),
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnreadableFile { file, outcome } => write!(
                f,
                "cannot read {} ({}; {}): {}",
                quote(&file.path),
                read_as_rule(file.read_as),
                outcome_rule(*outcome),
                file.problem
            ),
            Self::RemovalBlocked { unreadable } => write!(
                f,
                "nothing is removed: {unreadable} {} that may be {} could not be read; fix or \
                 remove {}, or once you have looked, acknowledge {} with --ack-unreadable FILE",
                plural(*unreadable, "file", "files"),
                plural(*unreadable, "a disk", "disks"),
                plural(*unreadable, "it", "them"),
                plural(*unreadable, "it", "them")
            ),
            Self::AbsentBaseFile {
                image_id,
                instances,
            } => write!(
                f,
                "image {} is used by {} on this host but has an absent base file in the cache",
                quote(image_id),
                NameList(instances, instances.len())
            ),
            Self::PinnedImageAbsent { image_id } => write!(
                f,
                "pinned image {} has no file in the cache (--keep takes image ids, whose \
                 fingerprint names the cache's files)",
                quote(image_id)
            ),
            Self::AbsentSwapOrEphemeral { name } => {
                write!(
                    f,
                    "{} is named by instance records but is not in the cache",
                    quote(name)
                )
            }
            Self::RecordsIgnored { hosts } => write!(
                f,
                "records of hosts not registered in compute_nodes in the last 24 h do not count: {}",
                NameList(hosts, hosts.len())
            ),
            Self::StorageUsersUnknown => f.write_str(
                "cannot tell which hosts share this storage: every instance record counts",
            ),
        }
    }
}

/// The rule an unreadable file falls under, as reports say it.
fn read_as_rule(read_as: ReadAs) -> &'static str {
    match read_as {
        ReadAs::NovaDiskName => "a disk by Nova's name for one",
        ReadAs::DiskInfo => "a disk its instance's disk.info lists",
        ReadAs::Libvirt => "a disk a libvirt domain names",
        ReadAs::LibvirtDomain => "a domain of libvirt's: what its guest opens is not known",
        ReadAs::Directory => "a directory that may hold disks",
        ReadAs::CacheFile => "a cache file that stays, backed by what cannot be told",
        ReadAs::OtherFile => "not a declared disk",
    }
}

fn outcome_rule(outcome: DoubtOutcome) -> &'static str {
    match outcome {
        DoubtOutcome::Blocks => "nothing is removed while it cannot be read",
        DoubtOutcome::BlocksChangedSinceAcknowledged => {
            "changed since it was acknowledged: nothing is removed while it cannot be read"
        }
        DoubtOutcome::Acknowledged => "acknowledged with --ack-unreadable: cleaning goes on",
        DoubtOutcome::WarnsOnly => "cleaning goes on",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("i{i}")).collect()
    }

    #[test]
    fn name_lists_count_what_they_do_not_show() {
        let shown: Vec<String> = [1, 2, 3, 5]
            .map(|n| NameList::of(&Names::from(names(n))).to_string())
            .into();
        assert_eq!(
            shown,
            ["i1", "i1 and i2", "i1, i2 and i3", "i1, i2, i3 and 2 more"]
        );
    }

    #[test]
    fn names_from_outside_are_quoted_and_plain_names_are_not() {
        let forged = "y\nremoved  original  9.9 GiB".to_owned();
        let shown = [
            Reason::ImageInUse {
                image_id: "img\x1b[31m".to_owned(),
                local: vec!["instance-1".to_owned(), "bell\x07".to_owned()].into(),
                remote: vec!["instance-2@compute\n2".to_owned()].into(),
            }
            .to_string(),
            Reason::BackingFileOf {
                disks: vec![format!("{forged}/disk"), "uuid-1/disk.local".to_owned()].into(),
                by_name_only: false,
            }
            .to_string(),
            Reason::SidecarOfKept {
                image: forged.clone(),
            }
            .to_string(),
            Warning::UnreadableFile {
                file: UnreadableFile {
                    path: "dir\u{202e}/disk".to_owned(),
                    problem: "not a disk".to_owned(),
                    read_as: ReadAs::OtherFile,
                    identity: None,
                },
                outcome: DoubtOutcome::WarnsOnly,
            }
            .to_string(),
            Warning::RecordsIgnored {
                hosts: vec![("compute-9".to_owned(), 1), ("\x1b]0;x\x07".to_owned(), 2)],
            }
            .to_string(),
        ];
        assert_eq!(
            shown,
            [
                r#"image "img\u{1b}[31m" is used by instance-1 and "bell\u{7}" on this host and "instance-2@compute\n2" on other hosts"#,
                r#"backing file of "y\nremoved  original  9.9 GiB/disk" and uuid-1/disk.local"#,
                r#"checksum of "y\nremoved  original  9.9 GiB", kept with it"#,
                r#"cannot read "dir\u{202e}/disk" (not a declared disk; cleaning goes on): not a disk"#,
                r#"records of hosts not registered in compute_nodes in the last 24 h do not count: compute-9 (1 record) and "\u{1b}]0;x\u{7}" (2 records)"#,
            ]
        );
    }
}
