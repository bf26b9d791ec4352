//! The rules of a pass: from facts to a plan.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use compact_str::CompactString;

use cachectl_naming::{
    EntryKind, EntryName, EphemeralFs, FINGERPRINT_LEN, classify, ephemeral_name, fingerprint,
    swap_name,
};

use crate::facts::cache_bytes;
use crate::facts::{
    CacheFile, Disk, Facts, FileIdentity, FileType, Instance, ReadAs, StorageUsers, UnreadableFile,
    UseKind,
};
use crate::plan::{
    DoubtOutcome, FileDecision, Names, OrphanDir, Plan, Reason, State, Users, Warning,
};
use crate::space::{Candidate, RemovalCap, SPACE_MIN_AGE, SpaceFacts, make_room, within_cap};
use crate::usage::image_usage;

/// Nova's resize task states: an instance in one of them may have a `<dir>_resize` directory.
const RESIZE_TASK_STATES: [&str; 4] = [
    "resize_prep",
    "resize_migrating",
    "resize_migrated",
    "resize_finish",
];

/// Decides the fate of every cache entry in `facts`.
pub fn plan(facts: &Facts) -> Plan {
    let mut warnings = Vec::new();
    let records = counted_records(facts, &mut warnings);
    let claims = Claims::from_records(facts, &records);
    let disk_uses = DiskUses::from_facts(facts);

    let mut files: Vec<FileDecision> = facts
        .files
        .iter()
        .map(|file| first_decision(facts, file, &claims, &disk_uses))
        .collect();

    keep_what_kept_files_are_backed_by(facts, &mut files);
    let mut removal_blocked = keep_everything_in_doubt(facts, &mut files, &mut warnings);
    if !removal_blocked && let Some(space) = facts.space {
        make_room_for_space(facts, space, &mut files);
    }
    if !removal_blocked && let Some(cap) = facts.removal_cap {
        defer_beyond_cap(facts, cap, &mut files);
        // What the cap keeps keeps its own chain, and is in doubt if that cannot be read: the
        // two rules again, over the files it deferred (the rest is as it was).
        keep_what_kept_files_are_backed_by(facts, &mut files);
        let mut again = Vec::new();
        removal_blocked = keep_everything_in_doubt(facts, &mut files, &mut again);
        if removal_blocked {
            for warning in again {
                if !warnings.contains(&warning) {
                    warnings.push(warning);
                }
            }
        }
    }
    sidecars_follow_their_images(&mut files);
    claims.warn_about_absent_files(facts, &mut warnings);
    claims.warn_about_absent_pins(facts, &mut warnings);
    let orphans = claims.orphans(facts);
    Plan {
        files,
        warnings,
        orphans,
        removal_blocked,
    }
}

/// A file's decision from its name, type, age and direct users, before chains and doubt.
fn first_decision(
    facts: &Facts,
    file: &CacheFile,
    claims: &Claims,
    disk_uses: &DiskUses<'_>,
) -> FileDecision {
    // The one place a cache entry's name is taken apart; later rules use its kind and what
    // it belongs to.
    let entry = if file.kind == EntryKind::Foreign {
        EntryName::Foreign
    } else {
        classify(&file.name)
    };
    let mut decision = FileDecision {
        name: file.name.clone(),
        kind: file.kind,
        belongs_to: entry.belongs_to().map(str::to_owned),
        state: State::InUse,
        reasons: Vec::new(),
        users: Users::default(),
        image_id: entry
            .fingerprint()
            .and_then(|fp| claims.image_of_fingerprint.get(fp).cloned()),
        age: facts.now.seconds_since(file.mtime),
        touch: false,
    };
    let what = match file.file_type {
        FileType::Regular => None,
        FileType::Directory => Some("directory"),
        FileType::Symlink => Some("symlink"),
        FileType::Other => Some("special file"),
    };
    if let Some(what) = what {
        decision.state = State::Ignore;
        decision.reasons.push(Reason::NotRegularFile { what });
        return decision;
    }
    if entry.kind() == EntryKind::Foreign {
        decision.state = State::Ignore;
        decision.reasons.push(Reason::NotCacheName);
    }
    claims.add_record_reasons(&entry, &file.name, &mut decision);
    disk_uses.add_reasons(&file.name, &mut decision);
    if decision.reasons.iter().any(is_use) {
        decision
            .reasons
            .retain(|r| !matches!(r, Reason::CopyOfUsedImage { .. }));
    }
    if decision.state == State::Ignore {
        return decision;
    }
    match entry {
        EntryName::DownloadLeftover { of, .. } => decision.reasons.insert(
            0,
            Reason::DownloadLeftover {
                image: of.to_owned(),
            },
        ),
        EntryName::InterruptedWrite { file, .. } => decision.reasons.insert(
            0,
            Reason::InterruptedWrite {
                file: file.to_owned(),
            },
        ),
        _ => {}
    }
    if decision.reasons.iter().any(is_use) {
        decision.touch = true;
        return decision;
    }
    let pinned = entry
        .fingerprint()
        .filter(|_| {
            matches!(
                entry.kind(),
                EntryKind::Original | EntryKind::Resized | EntryKind::LegacySmall
            )
        })
        .and_then(|fp| claims.pinned.get(fp));
    if let Some(image_id) = pinned {
        decision.state = State::Pinned;
        decision.reasons.push(Reason::Pinned {
            image_id: (*image_id).to_owned(),
        });
        return decision;
    }
    decide_by_age(facts, &entry, decision)
}

/// An unused entry: removable once unused for its kind's minimum age, too young until then.
fn decide_by_age(facts: &Facts, entry: &EntryName<'_>, mut decision: FileDecision) -> FileDecision {
    let min_age = match entry.kind() {
        EntryKind::Original => facts.ages.original,
        EntryKind::Swap | EntryKind::Ephemeral => facts.ages.swap_ephemeral,
        _ => facts.ages.resized,
    };
    if let EntryName::Sidecar { of, .. } = entry {
        decision.reasons.push(Reason::SidecarOfMissing {
            image: (*of).to_owned(),
        });
    }
    let age = decision.age;
    if age < min_age {
        decision.state = State::TooYoung;
        decision.reasons.push(Reason::TooYoung { age, min_age });
    } else {
        decision.state = State::Remove;
        decision.reasons.push(Reason::Unused {
            age,
            min_age,
            kind: entry.kind(),
        });
    }
    decision
}

fn is_use(reason: &Reason) -> bool {
    matches!(
        reason,
        Reason::ImageInUse { .. }
            | Reason::SwapInUse { .. }
            | Reason::EphemeralInUse { .. }
            | Reason::BackingFileOf { .. }
            | Reason::DataFileOf { .. }
            | Reason::BacksCacheFile { .. }
    )
}

/// The records whose hosts share the storage (all of them when that is unknown).
fn counted_records<'a>(facts: &'a Facts, warnings: &mut Vec<Warning>) -> Vec<&'a Instance> {
    let Some(records) = &facts.instances else {
        return Vec::new();
    };
    let users = match &facts.storage_users {
        StorageUsers::Known(users) => users,
        StorageUsers::Unknown => {
            warnings.push(Warning::StorageUsersUnknown);
            return records.iter().collect();
        }
    };
    let mut ignored: BTreeMap<String, usize> = BTreeMap::new();
    let counted = records
        .iter()
        .filter(|record| {
            let counts = record.host == facts.host || users.contains(record.host.as_str());
            if !counts {
                *ignored.entry(record.host.to_string()).or_default() += 1;
            }
            counts
        })
        .collect();
    if !ignored.is_empty() {
        warnings.push(Warning::RecordsIgnored {
            hosts: ignored.into_iter().collect(),
        });
    }
    counted
}

/// The directory names instance records claim: an instance's uuid and name, and their
/// `_resize` forms while it resizes (every record, counted or not).
fn claimed_dirs<'a>(records: impl Iterator<Item = &'a Instance>) -> HashSet<Cow<'a, str>> {
    let mut dirs = HashSet::new();
    for record in records {
        let resizing = record
            .task_state
            .as_deref()
            .is_some_and(|s| RESIZE_TASK_STATES.contains(&s))
            || record.vm_state.as_deref() == Some("resized");
        for dir in [&record.name, &record.uuid] {
            dirs.insert(Cow::Borrowed(dir.as_str()));
            if resizing {
                dirs.insert(Cow::Owned(format!("{dir}_resize")));
            }
        }
    }
    dirs
}

/// An image the instance records that count use, and the instances that use it.
struct ImageClaim {
    image_id: String,
    /// Instances on this host, by name.
    local: Vec<CompactString>,
    /// Instances on other hosts, as `name@host`.
    remote: Vec<CompactString>,
}

/// What the instance records say is in use, and which directories they claim.
struct Claims<'a> {
    /// By the image's fingerprint.
    images: HashMap<String, ImageClaim>,
    image_of_fingerprint: HashMap<String, String>,
    swap: BTreeMap<String, Vec<CompactString>>,
    ephemeral: BTreeMap<String, Vec<CompactString>>,
    /// The swap and ephemeral bases local instances need, each as the names it may have.
    local_bases: Vec<Vec<String>>,
    /// Directory names records claim (every record, counted or not), borrowed from them.
    dirs: HashSet<Cow<'a, str>>,
    /// Pinned image ids, by fingerprint.
    pinned: HashMap<String, &'a str>,
}

impl<'a> Claims<'a> {
    fn from_records(facts: &'a Facts, records: &[&Instance]) -> Self {
        let mut images = HashMap::new();
        let mut image_of_fingerprint = HashMap::new();
        for (image_id, usage) in image_usage(records.iter().copied(), &facts.host) {
            let (local, remote) = usage
                .instances
                .iter()
                .partition::<Vec<_>, _>(|(_, host)| *host == facts.host);
            let local = unique(local.into_iter().map(|(name, _)| CompactString::from(name)));
            let remote = unique(
                remote
                    .into_iter()
                    .map(|(name, host)| compact_str::format_compact!("{name}@{host}")),
            );
            let fp = fingerprint(image_id).to_string();
            image_of_fingerprint.insert(fp.clone(), image_id.to_owned());
            images.insert(
                fp,
                ImageClaim {
                    image_id: image_id.to_owned(),
                    local,
                    remote,
                },
            );
        }
        let mkfs: Vec<(&str, &str)> = facts
            .ephemeral
            .mkfs_commands
            .iter()
            .map(|(os, cmd)| (os.as_str(), cmd.as_str()))
            .collect();
        let fs = EphemeralFs {
            default_ephemeral_format: facts.ephemeral.default_ephemeral_format.as_deref(),
            mkfs_commands: &mkfs,
        };
        let mut swap: BTreeMap<String, Vec<CompactString>> = BTreeMap::new();
        let mut ephemeral: BTreeMap<String, Vec<CompactString>> = BTreeMap::new();
        let mut local_bases = Vec::new();
        for record in records {
            let who = display_instance(record, &facts.host);
            let local = record.host == facts.host;
            if let Some(mb) = record.swap_mb.filter(|&mb| mb > 0) {
                let name = swap_name(mb);
                swap.entry(name.clone()).or_default().push(who.clone());
                if local {
                    local_bases.push(vec![name]);
                }
            }
            if let Some(gb) = record.ephemeral_gb.filter(|&gb| gb > 0) {
                let names = ephemeral_name(gb, record.os_type.as_deref(), &fs);
                for name in &names {
                    ephemeral.entry(name.clone()).or_default().push(who.clone());
                }
                if local {
                    local_bases.push(names);
                }
            }
        }
        for users in swap.values_mut().chain(ephemeral.values_mut()) {
            *users = unique(std::mem::take(users));
        }
        let dirs = claimed_dirs(facts.instances.iter().flatten());
        let pinned = facts
            .pinned
            .iter()
            .map(|id| (fingerprint(id).to_string(), id.as_str()))
            .collect();
        Self {
            pinned,
            images,
            image_of_fingerprint,
            swap,
            ephemeral,
            local_bases,
            dirs,
        }
    }

    fn add_record_reasons(&self, entry: &EntryName<'_>, name: &str, decision: &mut FileDecision) {
        let mut instances = Vec::new();
        if let Some(ImageClaim {
            image_id,
            local,
            remote,
        }) = entry.fingerprint().and_then(|fp| self.images.get(fp))
        {
            if entry.kind() == EntryKind::Resized {
                // A resized copy is in use only while a disk uses it (the seeds' rule): the
                // scan of every disk says which. Nova re-creates it from the original on demand.
                decision.reasons.push(Reason::CopyOfUsedImage {
                    image_id: image_id.clone(),
                });
            } else {
                instances.extend(local.iter().chain(remote).cloned());
                decision.reasons.push(Reason::ImageInUse {
                    image_id: image_id.clone(),
                    local: Names::of(local),
                    remote: Names::of(remote),
                });
            }
        }
        match entry.kind() {
            EntryKind::Swap => {
                if let Some(users) = self.swap.get(name) {
                    instances.extend(users.iter().cloned());
                    decision.reasons.push(Reason::SwapInUse {
                        instances: Names::of(users),
                    });
                }
            }
            EntryKind::Ephemeral => {
                if let Some(users) = self.ephemeral.get(name) {
                    instances.extend(users.iter().cloned());
                    decision.reasons.push(Reason::EphemeralInUse {
                        instances: Names::of(users),
                    });
                }
            }
            _ => {}
        }
        decision.users.instances.extend(instances);
    }

    fn warn_about_absent_files(&self, facts: &Facts, warnings: &mut Vec<Warning>) {
        // Any entry by that name counts as present: a symlinked base is there, if left alone.
        // (A name that is not UTF-8 is held lossily, with U+FFFD: it names no cache file.)
        let present: HashSet<&str> = facts.files.iter().map(|f| f.name.as_str()).collect();
        let present_fingerprints: HashSet<&str> = facts
            .files
            .iter()
            .filter(|f| {
                matches!(
                    f.kind,
                    EntryKind::Original | EntryKind::Resized | EntryKind::LegacySmall
                )
            })
            .filter_map(|f| f.name.get(..FINGERPRINT_LEN))
            .collect();
        let mut absent: Vec<_> = self
            .images
            .iter()
            .filter(|(fp, claim)| {
                !claim.local.is_empty() && !present_fingerprints.contains(fp.as_str())
            })
            .map(|(_, claim)| Warning::AbsentBaseFile {
                image_id: claim.image_id.clone(),
                instances: claim.local.iter().map(ToString::to_string).collect(),
            })
            .collect();
        absent.sort_by_key(ToString::to_string);
        warnings.extend(absent);
        // One warning per base a local instance needs, whichever of its names is present.
        let mut warned = BTreeSet::new();
        for candidates in &self.local_bases {
            if !candidates
                .iter()
                .any(|name| present.contains(name.as_str()))
                && let Some(name) = candidates.first()
                && warned.insert(name.clone())
            {
                warnings.push(Warning::AbsentSwapOrEphemeral { name: name.clone() });
            }
        }
    }

    /// A pin whose image has no file in the cache keeps nothing: said, as it is most likely a
    /// file name or a mistyped id.
    fn warn_about_absent_pins(&self, facts: &Facts, warnings: &mut Vec<Warning>) {
        let present: HashSet<&str> = facts
            .files
            .iter()
            .filter_map(|f| classify(&f.name).fingerprint())
            .collect();
        let mut absent: Vec<&str> = self
            .pinned
            .iter()
            .filter(|(fp, _)| !present.contains(fp.as_str()))
            .map(|(_, id)| *id)
            .collect();
        absent.sort_unstable();
        warnings.extend(absent.into_iter().map(|id| Warning::PinnedImageAbsent {
            image_id: id.to_owned(),
        }));
    }

    fn orphans(&self, facts: &Facts) -> Vec<OrphanDir> {
        let shared = match &facts.storage_users {
            StorageUsers::Known(users) => users.iter().any(|user| *user != facts.host),
            StorageUsers::Unknown => true,
        };
        if facts.instances.is_none() || (facts.records_of_this_host_only && shared) {
            return Vec::new();
        }
        let orphan_dirs: Vec<&String> = facts
            .instance_dirs
            .iter()
            .filter(|dir| !self.dirs.contains(dir.as_str()))
            .collect();
        if orphan_dirs.is_empty() {
            return Vec::new();
        }
        // The orphans' disks, in one pass over the disks: a host of many orphan directories
        // stays linear, and one of few holds few.
        let mut disks_by_dir: HashMap<&str, Vec<&Disk>> = orphan_dirs
            .iter()
            .map(|dir| (dir.as_str(), Vec::new()))
            .collect();
        for disk in &facts.disks {
            if let Some(disks) = disk.dir().and_then(|dir| disks_by_dir.get_mut(dir)) {
                disks.push(disk);
            }
        }
        orphan_dirs
            .into_iter()
            .map(|dir| {
                let mut orphan = OrphanDir {
                    name: dir.clone(),
                    keeps: BTreeSet::new(),
                    disks: BTreeSet::new(),
                };
                let disks = disks_by_dir
                    .get(dir.as_str())
                    .map_or(&[][..], Vec::as_slice);
                for disk in disks {
                    orphan.disks.insert(disk.path.to_string());
                    orphan
                        .keeps
                        .extend(disk.uses.iter().map(|u| u.file.to_string()));
                }
                orphan
            })
            .collect()
    }
}

/// `names` without repeats (an instance may name one image twice), in the order they come:
/// linear, as thousands of instances may share one image or one swap size.
/// `names` without repeats, in their first order.
fn unique(names: impl IntoIterator<Item = CompactString>) -> Vec<CompactString> {
    let mut seen = HashSet::new();
    names
        .into_iter()
        .filter(|name| seen.insert(name.clone()))
        .collect()
}

/// An instance's name, as `name@host` when it is another host's (names are short: held inline).
fn display_instance(record: &Instance, host: &str) -> CompactString {
    if record.host == host {
        record.name.clone()
    } else {
        compact_str::format_compact!("{}@{}", record.name, record.host)
    }
}

/// Per cache file name, the disks that use it.
struct DiskUses<'a> {
    /// The disks each cache file backs (by their paths, borrowed: a host has thousands), and
    /// whether a reference names it by its file name only.
    backing: HashMap<&'a str, (Vec<&'a Arc<str>>, bool)>,
    data_file: HashMap<&'a str, Vec<&'a Arc<str>>>,
}

impl<'a> DiskUses<'a> {
    fn from_facts(facts: &'a Facts) -> Self {
        let mut uses = Self {
            backing: HashMap::new(),
            data_file: HashMap::new(),
        };
        for disk in &facts.disks {
            for used in &disk.uses {
                match used.kind {
                    UseKind::Backing { .. } => {
                        let (disks, by_name) = uses.backing.entry(&*used.file).or_default();
                        if disks.last() != Some(&&disk.path) {
                            disks.push(&disk.path);
                        }
                        *by_name |= used.by_name_only;
                    }
                    UseKind::DataFile { .. } => {
                        let disks = uses.data_file.entry(&*used.file).or_default();
                        if disks.last() != Some(&&disk.path) {
                            disks.push(&disk.path);
                        }
                    }
                }
            }
        }
        uses
    }

    fn add_reasons(&self, name: &str, decision: &mut FileDecision) {
        if let Some((disks, by_name_only)) = self.backing.get(name) {
            decision
                .users
                .disks
                .extend(disks.iter().map(|d| (*d).clone()));
            decision.reasons.push(Reason::BackingFileOf {
                disks: Names::of(disks.iter().copied()),
                by_name_only: *by_name_only,
            });
        }
        if let Some(disks) = self.data_file.get(name) {
            decision
                .users
                .disks
                .extend(disks.iter().map(|d| (*d).clone()));
            decision.reasons.push(Reason::DataFileOf {
                disks: Names::of(disks.iter().copied()),
            });
        }
    }
}

/// A cache file that stays keeps the cache files its own chain reaches, however far.
fn keep_what_kept_files_are_backed_by(facts: &Facts, files: &mut [FileDecision]) {
    let index: HashMap<&str, usize> = facts
        .files
        .iter()
        .enumerate()
        .map(|(i, f)| (f.name.as_str(), i))
        .collect();
    let mut queue: VecDeque<usize> = (0..files.len())
        .filter(|&i| files[i].state != State::Remove)
        .collect();
    while let Some(kept) = queue.pop_front() {
        for target in &facts.files[kept].backed_by {
            let Some(&j) = index.get(target.as_str()) else {
                continue;
            };
            let reason = Reason::BacksCacheFile {
                file: facts.files[kept].name.clone(),
            };
            if j == kept || files[j].reasons.contains(&reason) {
                continue;
            }
            let was_removable = matches!(
                files[j].state,
                State::Remove | State::TooYoung | State::Deferred
            );
            files[j].reasons.retain(|r| {
                !matches!(
                    r,
                    Reason::Unused { .. } | Reason::TooYoung { .. } | Reason::CapReached { .. }
                )
            });
            files[j].reasons.push(reason);
            if was_removable {
                files[j].state = State::InUse;
                files[j].touch = true;
                queue.push_back(j);
            }
        }
    }
}

/// Unreadable files that may be disks QEMU opens may use anything: nothing is removed, unless
/// an operator acknowledged each of them, unchanged since. Other unreadable files are warnings.
fn keep_everything_in_doubt(
    facts: &Facts,
    files: &mut [FileDecision],
    warnings: &mut Vec<Warning>,
) -> bool {
    // Cache files that stay but whose own chain cannot be read are in doubt too; those that go
    // do not matter.
    let kept_unreadable = facts
        .files
        .iter()
        .zip(files.iter())
        .filter(|(_, decision)| decision.state != State::Remove)
        .filter_map(|(file, _)| {
            Some(UnreadableFile {
                path: file.name.clone(),
                problem: file.chain_problem.clone()?,
                read_as: ReadAs::CacheFile,
                identity: Some(FileIdentity {
                    ino: file.ino,
                    size: file.size,
                    mtime: file.mtime,
                }),
            })
        });
    let mut unreadable = 0;
    for file in facts.unreadable.iter().cloned().chain(kept_unreadable) {
        let outcome = doubt_outcome(facts, &file);
        unreadable += usize::from(outcome.blocks());
        warnings.push(Warning::UnreadableFile { file, outcome });
    }
    if unreadable == 0 {
        return false;
    }
    for file in files.iter_mut().filter(|f| f.state == State::Remove) {
        file.state = State::InUse;
        file.reasons.insert(0, Reason::MayBeInUse { unreadable });
    }
    warnings.push(Warning::RemovalBlocked { unreadable });
    true
}

/// What an unreadable file means: its rule, and whether an operator acknowledged it as it is
/// now (same inode, size and mtime; for a cache file, which a pass touches while it is in use,
/// same inode and size).
fn doubt_outcome(facts: &Facts, file: &UnreadableFile) -> DoubtOutcome {
    if !file.read_as.blocks() {
        return DoubtOutcome::WarnsOnly;
    }
    let mut acknowledged = facts
        .acknowledged
        .iter()
        .filter(|ack| ack.path == file.path)
        .peekable();
    if acknowledged.peek().is_none() {
        return DoubtOutcome::Blocks;
    }
    let unchanged = |seen: &FileIdentity| {
        file.identity.is_some_and(|now| {
            now.ino == seen.ino
                && now.size == seen.size
                && (file.read_as == ReadAs::CacheFile || now.mtime == seen.mtime)
        })
    };
    if acknowledged.any(|ack| unchanged(&ack.identity)) {
        DoubtOutcome::Acknowledged
    } else {
        DoubtOutcome::BlocksChangedSinceAcknowledged
    }
}

/// Space pressure: after what goes by age, unused images younger than their minimum age (but
/// unused for at least [`SPACE_MIN_AGE`]) go too, the longest unused first, until the file
/// system and the cache meet the target. Download leftovers and sidecars are no candidates (a
/// young `.part` may be a download under way; a sidecar follows its image).
fn make_room_for_space(facts: &Facts, space: SpaceFacts, files: &mut [FileDecision]) {
    let cache_now = cache_bytes(&facts.files);
    let by_age = freed_by_age(facts, files);
    let avail = space.avail_now(cache_now).saturating_add(by_age);
    let cache = cache_now.saturating_sub(by_age);
    let (indices, candidates): (Vec<usize>, Vec<Candidate>) = facts
        .files
        .iter()
        .zip(files.iter())
        .enumerate()
        .filter(|(_, (_, d))| {
            d.state == State::TooYoung && d.kind.is_image() && d.age >= SPACE_MIN_AGE
        })
        .map(|(i, (f, d))| {
            let candidate = Candidate {
                age: d.age,
                bytes: f.allocated,
            };
            (i, candidate)
        })
        .unzip();
    for chosen in make_room(&candidates, avail, cache, space.target) {
        let decision = &mut files[indices[chosen]];
        let min_age = decision.reasons.iter().find_map(|r| match r {
            Reason::TooYoung { min_age, .. } => Some(*min_age),
            _ => None,
        });
        decision.state = State::Remove;
        decision.reasons = vec![Reason::ForSpace {
            age: decision.age,
            min_age: min_age.unwrap_or_default(),
            target: space.target,
        }];
    }
}

/// The bytes on disk that what goes by age frees: the files it removes, and the sidecars that
/// will go with them or whose image is gone (those of kept images follow them, decided later).
fn freed_by_age(facts: &Facts, files: &[FileDecision]) -> u64 {
    let kept_images: HashSet<&str> = files
        .iter()
        .filter(|d| d.kind.is_image() && d.state != State::Remove)
        .map(|d| d.name.as_str())
        .collect();
    facts
        .files
        .iter()
        .zip(files.iter())
        .filter(|(_, d)| d.state == State::Remove)
        .filter(|(_, d)| {
            d.kind != EntryKind::Sidecar
                || d.belongs_to
                    .as_deref()
                    .is_none_or(|image| !kept_images.contains(image))
        })
        .map(|(f, _)| f.allocated)
        .sum()
}

/// `--max-remove`: the removals of one run, what goes by age first, the longest unused first,
/// then what goes for space (in the order chosen); those beyond the cap are deferred. A file
/// that backs another removal goes after it (a deferred overlay keeps its base: the caller runs
/// the chain rule again). Sidecars of images in the cache follow them and are not counted;
/// those whose image is gone are.
fn defer_beyond_cap(facts: &Facts, cap: RemovalCap, files: &mut [FileDecision]) {
    let present: HashSet<&str> = facts.files.iter().map(|f| f.name.as_str()).collect();
    let follows_an_image = |d: &FileDecision| {
        d.kind == EntryKind::Sidecar
            && d.belongs_to
                .as_deref()
                .is_some_and(|image| present.contains(image))
    };
    let mut order: Vec<usize> = (0..files.len())
        .filter(|&i| files[i].state == State::Remove && !follows_an_image(&files[i]))
        .collect();
    let for_space = |d: &FileDecision| {
        d.reasons
            .iter()
            .any(|r| matches!(r, Reason::ForSpace { .. }))
    };
    let backs_a_removal: HashSet<&str> = order
        .iter()
        .flat_map(|&i| facts.files[i].backed_by.iter().map(String::as_str))
        .collect();
    let key = |i: usize| {
        let d = &files[i];
        (
            backs_a_removal.contains(d.name.as_str()),
            for_space(d),
            std::cmp::Reverse(d.age),
        )
    };
    order.sort_by_key(|&i| key(i));
    let bytes: Vec<u64> = order.iter().map(|&i| facts.files[i].allocated).collect();
    for &i in &order[within_cap(&bytes, cap)..] {
        files[i].state = State::Deferred;
        files[i].reasons.insert(0, Reason::CapReached { cap });
    }
}

/// A sidecar stays or goes with its image; one whose image is gone was decided by age.
fn sidecars_follow_their_images(files: &mut [FileDecision]) {
    let states: HashMap<String, State> = files
        .iter()
        .filter(|f| f.kind.is_image())
        .map(|f| (f.name.clone(), f.state))
        .collect();
    for file in files
        .iter_mut()
        .filter(|f| f.kind == EntryKind::Sidecar && f.state != State::Ignore)
    {
        let Some(image) = file.belongs_to.clone() else {
            continue;
        };
        let Some(&image_state) = states.get(&image) else {
            continue;
        };
        if file.reasons.iter().any(is_use) {
            continue;
        }
        file.touch = false;
        if image_state == State::Remove {
            file.state = State::Remove;
            file.reasons = vec![Reason::SidecarOfRemoved { image }];
        } else {
            file.state = match image_state {
                State::TooYoung | State::Deferred => image_state,
                _ => State::InUse,
            };
            file.reasons = vec![Reason::SidecarOfKept { image }];
        }
    }
}
