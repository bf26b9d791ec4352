//! The report of a pass, made from what it found, decided and did.

use std::path::{Path, PathBuf};

use cachectl_policy::{DoubtOutcome, FileOutcome, Plan, StorageUsers, Warning};
use cachectl_sources::ack;

use super::{
    FileEntry, OrphanEntry, PassCommand, Report, SCHEMA, UnreadableEntry, UsedBy, WarningCode,
    WarningEntry,
};
use crate::checksums::{ChecksumOutcome, ChecksumState};
use crate::scan::{Scan, ScannedFile};

/// What a report is of: the command, the host and the directories.
#[derive(Debug, Clone)]
pub(crate) struct Header<'a> {
    /// `audit` or `clean`.
    pub command: PassCommand,
    /// Whether nothing is changed (`audit`, `clean --dry-run`).
    pub dry_run: bool,
    /// This host.
    pub host: &'a str,
    /// The instances path.
    pub instances_path: &'a Path,
    /// The cache directory.
    pub base_dir: PathBuf,
}

/// What a pass found, decided and did, for its report.
#[derive(Debug)]
pub(crate) struct PassRecord<'a> {
    /// Who shares the storage.
    pub storage_users: &'a StorageUsers,
    /// The first scan.
    pub scan: &'a Scan,
    /// The plan made from it.
    pub plan: &'a Plan,
    /// What became of each cache entry, in the scan's order (the report takes their names and
    /// users, not copies).
    pub outcomes: Vec<FileOutcome>,
    /// What checking each one's checksum found, in the same order.
    pub checksums: &'a [ChecksumOutcome],
    /// How many of Nova's lock files are those of images gone.
    pub stale_lock_files: usize,
}

/// A report with no entries: what a pass with no cache directory prints.
pub(crate) fn empty(header: &Header<'_>, base_dir_exists: bool) -> Report {
    Report {
        schema: SCHEMA,
        command: header.command,
        dry_run: header.dry_run,
        host: header.host.to_owned(),
        instances_path: header.instances_path.display().to_string(),
        base_dir: header.base_dir.display().to_string(),
        base_dir_exists,
        storage_users: None,
        summary: Default::default(),
        warnings: Vec::new(),
        files: Vec::new(),
        orphan_dirs: Vec::new(),
        unreadable_files: Vec::new(),
        filesystem: None,
    }
}

/// The report of a pass: the plan's warnings, then `command_warnings`, then the checksum
/// problems of the entries in order; one entry per cache entry; the orphans and unreadable
/// files the plan names.
pub(crate) fn pass_report(
    header: &Header<'_>,
    pass: PassRecord<'_>,
    command_warnings: Vec<WarningEntry>,
) -> Report {
    let mut report = empty(header, true);
    report.storage_users = match pass.storage_users {
        StorageUsers::Known(users) => Some(users.iter().cloned().collect()),
        StorageUsers::Unknown => None,
    };
    report.warnings = pass.plan.warnings.iter().map(warning_entry).collect();
    report.warnings.extend(command_warnings);
    for ((file, outcome), checksum) in pass
        .scan
        .files
        .iter()
        .zip(pass.outcomes)
        .zip(pass.checksums)
    {
        if let Some(problem) = checksum.problem() {
            let code = if checksum.state == ChecksumState::Corrupt {
                WarningCode::CorruptBaseFile
            } else {
                WarningCode::ChecksumUnchecked
            };
            report.warnings.push(WarningEntry::new(code, problem));
        }
        report.files.push(file_entry(file, outcome, checksum));
    }
    report.orphan_dirs = pass
        .plan
        .orphans
        .iter()
        .map(|o| OrphanEntry {
            name: o.name.clone(),
            path: header.instances_path.join(&o.name).display().to_string(),
            keeps: o.keeps.iter().cloned().collect(),
            disks: o.disks.iter().cloned().collect(),
        })
        .collect();
    report.unreadable_files = pass
        .plan
        .warnings
        .iter()
        .filter_map(unreadable_entry)
        .collect();
    report.summarize(pass.scan.probed, pass.stale_lock_files);
    report
}

/// One cache entry: its outcome's reasons (the pass's notes, then the plan's), and what
/// checking its checksum says where that is not a warning.
fn file_entry(file: &ScannedFile, outcome: FileOutcome, checksum: &ChecksumOutcome) -> FileEntry {
    let FileOutcome {
        decision,
        state,
        notes,
    } = outcome;
    let mut reasons: Vec<String> = notes.iter().map(ToString::to_string).collect();
    if checksum.state == ChecksumState::Corrupt {
        reasons.insert(0, "checksum mismatch: image verification failed".to_owned());
    }
    reasons.extend(decision.reasons.iter().map(ToString::to_string));
    if let Some(note) = checksum.note.as_ref().filter(|note| !note.is_problem()) {
        reasons.push(note.to_string());
    }
    FileEntry {
        name: decision.name,
        path: file.path.display().to_string(),
        kind: decision.kind,
        state,
        checksum: checksum.state,
        size_bytes: file.fact.size,
        allocated_bytes: file.fact.allocated,
        age_seconds: decision.age,
        reason: reasons.join("; "),
        reasons,
        image_id: decision.image_id,
        used_by: UsedBy {
            instances: decision.users.instances.into_iter().collect(),
            disks: decision.users.disks.into_iter().collect(),
        },
    }
}

/// An unreadable file, from the plan's warning about it.
fn unreadable_entry(warning: &Warning) -> Option<UnreadableEntry> {
    let Warning::UnreadableFile { file, outcome } = warning else {
        return None;
    };
    Some(UnreadableEntry {
        path: file.path.clone(),
        problem: file.problem.clone(),
        rule: file.read_as,
        outcome: *outcome,
        inode: file.identity.map(|id| id.ino),
        size_bytes: file.identity.map(|id| id.size),
        mtime: file.identity.map(|id| id.mtime.0),
        ack: ack::line(file),
    })
}

/// A warning of the plan, with its code.
fn warning_entry(warning: &Warning) -> WarningEntry {
    let code = match warning {
        Warning::UnreadableFile { outcome, .. } => match outcome {
            DoubtOutcome::Blocks | DoubtOutcome::BlocksChangedSinceAcknowledged => {
                WarningCode::UnreadableFile
            }
            DoubtOutcome::Acknowledged => WarningCode::UnreadableAcknowledged,
            DoubtOutcome::WarnsOnly => WarningCode::UnreadableNotADisk,
        },
        Warning::RemovalBlocked { .. } => WarningCode::RemovalBlocked,
        Warning::AbsentBaseFile { .. } => WarningCode::AbsentBaseFile,
        Warning::AbsentSwapOrEphemeral { .. } => WarningCode::AbsentSwapOrEphemeral,
        Warning::PinnedImageAbsent { .. } => WarningCode::PinnedImageAbsent,
        Warning::RecordsIgnored { .. } => WarningCode::RecordsIgnored,
        Warning::StorageUsersUnknown => WarningCode::StorageUsersUnknown,
    };
    WarningEntry::new(code, warning)
}
