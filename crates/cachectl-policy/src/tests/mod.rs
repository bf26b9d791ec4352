//! Data-driven tests of the policy: compact facts in, the rendered plan out.
//!
//! Names in facts and in expectations are written with `{id}` for the fingerprint of image `id`
//! (`{1}_sm` is `356a192b…_sm`), so a test reads like the cache directory it describes. [`check`]
//! renders a plan one line per entry (`name State[ touch]: reason | reason`), then warnings,
//! orphans and `removal blocked`, and compares it with the expectation line by line.

use std::collections::BTreeSet;

use cachectl_naming::{EntryKind, fingerprint};

use crate::{
    Acknowledged, Ages, CacheFile, Disk, DiskUse, DoubtOutcome, Facts, FileIdentity, FileType,
    ImageUsage, Instance, Plan, ReadAs, Reason, State, StorageUsers, UnixTime, UnreadableFile,
    UseKind, Warning, files_for_fingerprint, image_usage,
};

const HOST: &str = "compute-1";
const OTHER_HOST: &str = "compute-2";
const MINUTE: i64 = 60;
const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;
const NOW: UnixTime = UnixTime(1_700_000_000);
/// The inode, size and mtime of the unreadable files of a test.
const IDENTITY: FileIdentity = FileIdentity {
    ino: 42,
    size: 1 << 20,
    mtime: UnixTime(NOW.0 - DAY),
};

/// The image ids whose fingerprints are written `{id}`.
const IDS: [&str; 7] = ["", "1", "2", "3", "4", "k", "r"];

mod absent;
mod ages;
mod disks;
mod doubt;
mod not_the_caches;
mod orphans;
mod overlays;
mod pins;
mod records;
mod sidecars;
mod space;
mod swap_ephemeral;
mod touching;
mod usage;
mod words;

// ---------------------------------------------------------------------------------------------
// Building facts

/// Expands `{id}` in `spec` to the fingerprint of image `id`.
fn name(spec: &str) -> String {
    let mut out = String::new();
    let mut rest = spec;
    while let Some(open) = rest.find('{') {
        let Some(len) = rest[open..].find('}') else {
            break;
        };
        out.push_str(&rest[..open]);
        out.push_str(fingerprint(&rest[open + 1..open + len]).as_str());
        rest = &rest[open + len + 1..];
    }
    out.push_str(rest);
    out
}

/// A regular cache file last modified `age` seconds before `NOW`.
fn file(spec: &str, age: i64) -> CacheFile {
    CacheFile::regular(&name(spec), 1 << 20, NOW - age)
}

trait FileExt {
    fn backed_by(self, specs: &[&str]) -> Self;
    fn of_type(self, file_type: FileType) -> Self;
}

impl FileExt for CacheFile {
    fn backed_by(mut self, specs: &[&str]) -> Self {
        self.backed_by = specs.iter().map(|s| name(s)).collect();
        self
    }

    fn of_type(mut self, file_type: FileType) -> Self {
        self.file_type = file_type;
        self
    }
}

/// An instance on this host, in directory `<name>-uuid`.
fn vm(name: &str) -> Instance {
    Instance {
        uuid: format!("{name}-uuid").into(),
        name: name.into(),
        host: HOST.into(),
        ..Instance::default()
    }
}

trait InstanceExt {
    fn image(self, id: &str) -> Self;
    fn kernel(self, id: &str) -> Self;
    fn ramdisk(self, id: &str) -> Self;
    fn on(self, host: &str) -> Self;
    fn swap(self, mb: u64) -> Self;
    fn ephemeral(self, gb: u64) -> Self;
    fn os(self, os_type: &str) -> Self;
    fn task(self, task_state: &str) -> Self;
    fn vm_state(self, vm_state: &str) -> Self;
}

impl InstanceExt for Instance {
    fn image(self, id: &str) -> Self {
        Self {
            image_ref: Some(id.into()),
            ..self
        }
    }
    fn kernel(self, id: &str) -> Self {
        Self {
            kernel_id: Some(id.into()),
            ..self
        }
    }
    fn ramdisk(self, id: &str) -> Self {
        Self {
            ramdisk_id: Some(id.into()),
            ..self
        }
    }
    fn on(self, host: &str) -> Self {
        Self {
            host: host.into(),
            ..self
        }
    }
    fn swap(self, mb: u64) -> Self {
        Self {
            swap_mb: Some(mb),
            ..self
        }
    }
    fn ephemeral(self, gb: u64) -> Self {
        Self {
            ephemeral_gb: Some(gb),
            ..self
        }
    }
    fn os(self, os_type: &str) -> Self {
        Self {
            os_type: Some(os_type.into()),
            ..self
        }
    }
    fn task(self, task_state: &str) -> Self {
        Self {
            task_state: Some(task_state.into()),
            ..self
        }
    }
    fn vm_state(self, vm_state: &str) -> Self {
        Self {
            vm_state: Some(vm_state.into()),
            ..self
        }
    }
}

/// A disk whose backing chain is `chain`, nearest first.
fn disk(path: &str, chain: &[&str]) -> Disk {
    let uses = chain
        .iter()
        .zip(1..)
        .map(|(spec, depth)| DiskUse {
            file: name(spec).into(),
            kind: UseKind::Backing { depth },
            by_name_only: false,
        })
        .collect();
    disk_using(path, uses)
}

fn disk_using(path: &str, uses: Vec<DiskUse>) -> Disk {
    Disk {
        path: path.into(),
        uses,
    }
}

/// Facts at `NOW` for a cache holding `files`, with nothing else known.
fn cache(files: Vec<CacheFile>) -> Facts {
    Facts {
        now: NOW,
        files,
        ..Facts::new(HOST)
    }
}

trait FactsExt {
    fn records(self, instances: Vec<Instance>) -> Self;
    fn disks(self, disks: Vec<Disk>) -> Self;
    fn shared_with(self, hosts: &[&str]) -> Self;
    fn unreadable(self, paths: &[(&str, &str)]) -> Self;
    fn unreadable_as(self, files: &[(&str, ReadAs)]) -> Self;
    fn acknowledged(self, acks: &[(&str, FileIdentity)]) -> Self;
    fn dirs(self, dirs: &[&str]) -> Self;
}

impl FactsExt for Facts {
    fn records(self, instances: Vec<Instance>) -> Self {
        Self {
            instances: Some(instances),
            ..self
        }
    }
    fn disks(self, disks: Vec<Disk>) -> Self {
        Self { disks, ..self }
    }
    fn shared_with(self, hosts: &[&str]) -> Self {
        let users = hosts
            .iter()
            .map(|h| (*h).to_owned())
            .chain([self.host.clone()]);
        Self {
            storage_users: StorageUsers::Known(users.collect()),
            ..self
        }
    }
    /// Disks by Nova's names (`u9/disk`), unreadable for `problem`, as [`IDENTITY`].
    fn unreadable(self, paths: &[(&str, &str)]) -> Self {
        let unreadable = paths
            .iter()
            .map(|(path, problem)| UnreadableFile {
                path: (*path).to_owned(),
                problem: (*problem).to_owned(),
                read_as: ReadAs::NovaDiskName,
                identity: Some(IDENTITY),
            })
            .collect();
        Self { unreadable, ..self }
    }
    /// Files unreadable for `invalid disk header`, read as `read_as`, as [`IDENTITY`].
    fn unreadable_as(self, files: &[(&str, ReadAs)]) -> Self {
        let unreadable = files
            .iter()
            .map(|(path, read_as)| UnreadableFile {
                path: (*path).to_owned(),
                problem: "invalid disk header".to_owned(),
                read_as: *read_as,
                identity: Some(IDENTITY),
            })
            .collect();
        Self { unreadable, ..self }
    }
    fn acknowledged(self, acks: &[(&str, FileIdentity)]) -> Self {
        let acknowledged = acks
            .iter()
            .map(|(path, identity)| Acknowledged {
                path: name(path),
                identity: *identity,
            })
            .collect();
        Self {
            acknowledged,
            ..self
        }
    }
    fn dirs(self, dirs: &[&str]) -> Self {
        Self {
            instance_dirs: dirs.iter().map(|d| (*d).to_owned()).collect(),
            ..self
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Checking plans

/// Plans `facts`, checks the invariants every plan keeps, and compares the rendered plan with
/// `expected` (indentation and blank lines ignored). Returns the plan for further asserts.
#[track_caller]
fn check(facts: &Facts, expected: &str) -> Plan {
    let plan = crate::plan(facts);
    assert_invariants(facts, &plan);
    let actual = render(&plan);
    let expected: Vec<&str> = expected
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let expected = expected.join("\n");
    assert!(
        actual == expected,
        "\n--- expected\n{expected}\n--- actual\n{actual}\n"
    );
    plan
}

fn render(plan: &Plan) -> String {
    let mut lines = Vec::new();
    for f in &plan.files {
        let touch = if f.touch { " touch" } else { "" };
        let reasons: Vec<String> = f.reasons.iter().map(ToString::to_string).collect();
        lines.push(format!(
            "{} {:?}{touch}: {}",
            f.name,
            f.state,
            reasons.join(" | ")
        ));
    }
    lines.extend(plan.warnings.iter().map(|w| format!("warning: {w}")));
    for orphan in &plan.orphans {
        let mut line = format!("orphan {}", orphan.name);
        if !orphan.disks.is_empty() || !orphan.keeps.is_empty() {
            let join = |set: &BTreeSet<String>| set.iter().cloned().collect::<Vec<_>>().join(", ");
            line += &format!(
                " disks [{}] keeps [{}]",
                join(&orphan.disks),
                join(&orphan.keeps)
            );
        }
        lines.push(line);
    }
    if plan.removal_blocked {
        lines.push("removal blocked".to_owned());
    }
    let mut text = lines.join("\n");
    for id in IDS {
        text = text.replace(fingerprint(id).as_str(), &format!("{{{id}}}"));
    }
    text
}

/// The only things a removal may say: why the file is unused, and what it belongs to.
fn may_justify_removal(reason: &Reason) -> bool {
    matches!(
        reason,
        Reason::Unused { .. }
            | Reason::CopyOfUsedImage { .. }
            | Reason::DownloadLeftover { .. }
            | Reason::SidecarOfMissing { .. }
            | Reason::SidecarOfRemoved { .. }
            | Reason::ForSpace { .. }
    )
}

/// What holds for every plan, whatever the facts.
#[track_caller]
fn assert_invariants(facts: &Facts, plan: &Plan) {
    let given: Vec<&str> = facts.files.iter().map(|f| f.name.as_str()).collect();
    let decided: Vec<&str> = plan.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        decided, given,
        "one decision per entry, in the facts' order"
    );
    for (file, decision) in facts.files.iter().zip(&plan.files) {
        let name = &file.name;
        assert!(!decision.reasons.is_empty(), "{name}: no reason");
        if decision.touch {
            assert_eq!(
                decision.state,
                State::InUse,
                "{name}: touched but not in use"
            );
            assert_ne!(decision.kind, EntryKind::Sidecar, "{name}: sidecar touched");
        }
        let not_the_caches = file.file_type != FileType::Regular
            || file.kind == EntryKind::Foreign
            || decision.kind == EntryKind::Foreign;
        if not_the_caches {
            assert_eq!(decision.state, State::Ignore, "{name}: not the cache's");
        }
        if decision.state == State::Remove {
            assert!(!plan.removal_blocked, "{name}: removed while blocked");
            assert!(
                decision.reasons.iter().all(may_justify_removal),
                "{name}: removed for {:?}",
                decision.reasons
            );
        }
    }
}

/// The entry called `spec` (with `{id}` expanded).
#[track_caller]
fn decision<'p>(plan: &'p Plan, spec: &str) -> &'p crate::FileDecision {
    match plan.file(&name(spec)) {
        Some(decision) => decision,
        None => panic!("no decision for {spec}"),
    }
}
