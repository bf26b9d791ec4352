//! Reports: a stable, versioned JSON object for scripts, and aligned text for people.
//!
//! The text quotes every name that comes from outside (the filesystem, a disk header, the
//! inventory) with [`quote`], and passes every cell, reason and warning through
//! [`escape_controls`], so that no control character reaches a terminal. The JSON carries the
//! names as they are: its escapes are JSON's own.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write};

use cachectl_naming::{escape_controls, quote};
use cachectl_policy::{DoubtOutcome, HumanDuration, ReadAs};
use serde::Serialize;

use crate::checksums::ChecksumState;

/// The version of the JSON report; bumped only when a field changes meaning or goes away.
pub const SCHEMA: u32 = 1;

/// The state of a cache entry in a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileState {
    /// Something uses it (or may): kept, and in `clean` its mtime refreshed.
    InUse,
    /// Unused, but not long enough: kept.
    TooYoung,
    /// Would be removed (`audit`, `clean --dry-run`).
    Removable,
    /// Removed by this `clean`.
    Removed,
    /// `clean` tried and failed to remove it.
    RemoveFailed,
    /// Not the cache's: left alone.
    Ignored,
}

impl FileState {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InUse => "in_use",
            Self::TooYoung => "too_young",
            Self::Removable => "removable",
            Self::Removed => "removed",
            Self::RemoveFailed => "remove_failed",
            Self::Ignored => "ignored",
        }
    }
}

impl ChecksumState {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotChecked => "not_checked",
            Self::Valid => "valid",
            Self::Corrupt => "corrupt",
            Self::Missing => "missing",
            Self::Written => "written",
        }
    }
}

/// Who uses a file.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UsedBy {
    /// Instance names; `name@host` for other hosts' instances.
    pub instances: Vec<String>,
    /// Disks, relative to the instances path.
    pub disks: Vec<String>,
}

/// One cache entry.
#[derive(Debug, Clone, Serialize)]
pub struct FileEntry {
    /// Its name in the cache directory.
    pub name: String,
    /// Its full path.
    pub path: String,
    /// `original`, `resized`, `legacy_small`, `swap`, `ephemeral`, `sidecar`, `download_leftover`, `foreign`.
    pub kind: &'static str,
    /// What happens to it.
    pub state: FileState,
    /// Its checksum state.
    pub checksum: ChecksumState,
    /// Apparent size.
    pub size_bytes: u64,
    /// Bytes allocated on disk.
    pub allocated_bytes: u64,
    /// Seconds since its mtime, when the pass looked.
    pub age_seconds: u64,
    /// The reasons as one sentence.
    pub reason: String,
    /// The reasons, most important first.
    pub reasons: Vec<String>,
    /// The image id, when an instance record names the image.
    pub image_id: Option<String>,
    /// Who uses it.
    pub used_by: UsedBy,
}

/// Something the operator should know.
#[derive(Debug, Clone, Serialize)]
pub struct WarningEntry {
    /// A stable snake_case code.
    pub code: &'static str,
    /// The sentence.
    pub message: String,
}

/// A directory of the instances path that no instance record claims.
#[derive(Debug, Clone, Serialize)]
pub struct OrphanEntry {
    /// Its name.
    pub name: String,
    /// Its full path.
    pub path: String,
    /// The cache files its disks keep in use.
    pub keeps: Vec<String>,
    /// Its disks that use cache files.
    pub disks: Vec<String>,
}

/// Why an unreadable file was read as a possible disk: the rule that decides what follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnreadableRule {
    /// A name Nova gives disks: blocks.
    NovaDiskName,
    /// Listed in its instance's `disk.info`: blocks.
    DiskInfo,
    /// A directory that cannot be walked: blocks.
    Directory,
    /// A cache file that stays: blocks.
    CacheFile,
    /// Anything else: a warning only.
    OtherFile,
}

impl From<ReadAs> for UnreadableRule {
    fn from(read_as: ReadAs) -> Self {
        match read_as {
            ReadAs::NovaDiskName => Self::NovaDiskName,
            ReadAs::DiskInfo => Self::DiskInfo,
            ReadAs::Directory => Self::Directory,
            ReadAs::CacheFile => Self::CacheFile,
            ReadAs::OtherFile => Self::OtherFile,
        }
    }
}

/// What an unreadable file meant for the pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnreadableOutcome {
    /// Nothing was removed because of it.
    Blocks,
    /// It was acknowledged, but has changed since: nothing was removed because of it.
    BlocksChangedSinceAcknowledged,
    /// Acknowledged and unchanged: it stopped nothing.
    Acknowledged,
    /// Not a declared disk: it stopped nothing.
    Warns,
}

impl From<DoubtOutcome> for UnreadableOutcome {
    fn from(outcome: DoubtOutcome) -> Self {
        match outcome {
            DoubtOutcome::Blocks => Self::Blocks,
            DoubtOutcome::BlocksChangedSinceAcknowledged => Self::BlocksChangedSinceAcknowledged,
            DoubtOutcome::Acknowledged => Self::Acknowledged,
            DoubtOutcome::WarnsOnly => Self::Warns,
        }
    }
}

impl UnreadableOutcome {
    /// Whether the file stopped every removal.
    pub fn blocks(self) -> bool {
        matches!(self, Self::Blocks | Self::BlocksChangedSinceAcknowledged)
    }
}

/// A file under the instances path (or a cache file that stays) that may be a disk and cannot be
/// read.
#[derive(Debug, Clone, Serialize)]
pub struct UnreadableEntry {
    /// Relative to the instances path; a cache file's name.
    pub path: String,
    /// Why it cannot be read.
    pub problem: String,
    /// Why it was read.
    pub rule: UnreadableRule,
    /// What followed.
    pub outcome: UnreadableOutcome,
    /// Its inode, when it could be `stat`ed.
    pub inode: Option<u64>,
    /// Its size.
    pub size_bytes: Option<u64>,
    /// Its mtime, unix seconds.
    pub mtime: Option<i64>,
    /// The line of an `--ack-unreadable` file that acknowledges it as it is now.
    pub ack: Option<String>,
}

/// Totals.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Cache entries.
    pub files: usize,
    /// Entries per state.
    pub in_use: usize,
    /// Entries too young to remove.
    pub too_young: usize,
    /// Entries that would be removed.
    pub removable: usize,
    /// Entries removed.
    pub removed: usize,
    /// Entries whose removal failed.
    pub remove_failed: usize,
    /// Entries left alone.
    pub ignored: usize,
    /// Entries whose checksum does not match.
    pub corrupt: usize,
    /// Apparent bytes of all regular entries.
    pub bytes_total: u64,
    /// Apparent bytes in use.
    pub bytes_in_use: u64,
    /// Apparent bytes that would be removed.
    pub bytes_reclaimable: u64,
    /// Apparent bytes removed.
    pub bytes_reclaimed: u64,
    /// Bytes allocated on disk by the files that would be removed: what removing them frees.
    pub allocated_bytes_reclaimable: u64,
    /// Bytes allocated on disk by the files removed: what was freed.
    pub allocated_bytes_reclaimed: u64,
    /// Files hashed and compared with their sidecar.
    pub checksums_checked: usize,
    /// Sidecars written.
    pub checksums_written: usize,
    /// Images checked for a sidecar that have none (audit).
    pub checksums_missing: usize,
    /// Files under the instances path read as possible disks.
    pub files_probed: usize,
    /// Files under the instances path that could not be read.
    pub unreadable: usize,
    /// Nova's lock files whose cache file is gone: they stay, as a process may wait on one.
    pub stale_lock_files: usize,
}

/// The report of `audit` or `clean`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// [`SCHEMA`].
    pub schema: u32,
    /// `audit` or `clean`.
    pub command: &'static str,
    /// True when nothing was changed (`audit`, `clean --dry-run`).
    pub dry_run: bool,
    /// This host.
    pub host: String,
    /// The instances path.
    pub instances_path: String,
    /// The cache directory.
    pub base_dir: String,
    /// Whether the cache directory exists (if not, there is nothing to do).
    pub base_dir_exists: bool,
    /// The hosts whose instance records counted (`null` when unknown: all did).
    pub storage_users: Option<Vec<String>>,
    /// Totals.
    pub summary: Summary,
    /// Warnings.
    pub warnings: Vec<WarningEntry>,
    /// Every entry of the cache directory, by name.
    pub files: Vec<FileEntry>,
    /// Directories no record claims (only with an inventory).
    pub orphan_dirs: Vec<OrphanEntry>,
    /// Files that may be disks and cannot be read, with the rule that applied to each.
    pub unreadable_files: Vec<UnreadableEntry>,
}

impl Report {
    /// Recomputes the summary from the entries.
    pub fn summarize(&mut self, files_probed: usize, unreadable: usize) {
        let mut summary = Summary {
            files: self.files.len(),
            files_probed,
            unreadable,
            ..Summary::default()
        };
        for file in &self.files {
            let size = file.size_bytes;
            if file.state != FileState::Ignored {
                summary.bytes_total += size;
            }
            match file.state {
                FileState::InUse => {
                    summary.in_use += 1;
                    summary.bytes_in_use += size;
                }
                FileState::TooYoung => summary.too_young += 1,
                FileState::Removable => {
                    summary.removable += 1;
                    summary.bytes_reclaimable += size;
                    summary.allocated_bytes_reclaimable += file.allocated_bytes;
                }
                FileState::Removed => {
                    summary.removed += 1;
                    summary.bytes_reclaimed += size;
                    summary.allocated_bytes_reclaimed += file.allocated_bytes;
                }
                FileState::RemoveFailed => summary.remove_failed += 1,
                FileState::Ignored => summary.ignored += 1,
            }
            match file.checksum {
                ChecksumState::Corrupt => {
                    summary.corrupt += 1;
                    summary.checksums_checked += 1;
                }
                ChecksumState::Valid => summary.checksums_checked += 1,
                ChecksumState::Written => summary.checksums_written += 1,
                ChecksumState::Missing => summary.checksums_missing += 1,
                ChecksumState::NotChecked => {}
            }
        }
        self.summary = summary;
    }

    /// Writes the JSON report, pretty-printed, with a final newline.
    pub fn write_json(&self, out: &mut dyn Write) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut *out, self)?;
        writeln!(out)
    }

    /// Writes the text report.
    pub fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(self.render_text().as_bytes())
    }

    fn render_text(&self) -> String {
        let mut text = String::new();
        let mode = match (self.command, self.dry_run) {
            ("audit", _) => " (read-only)",
            (_, true) => " (dry run: nothing changed)",
            _ => "",
        };
        let _ = writeln!(
            text,
            "cachectl {} of {} on {}{mode}",
            self.command,
            quote(&self.base_dir),
            quote(&self.host)
        );
        if !self.base_dir_exists {
            let _ = writeln!(
                text,
                "no base directory at {}: nothing to do",
                quote(&self.base_dir)
            );
            self.render_warnings(&mut text);
            return text;
        }
        let s = &self.summary;
        let mut parts = vec![format!(
            "{} in use ({})",
            s.in_use,
            human_bytes(s.bytes_in_use)
        )];
        if s.too_young > 0 {
            parts.push(format!("{} too young", s.too_young));
        }
        if self.command == "clean" && !self.dry_run {
            parts.push(format!(
                "{} removed ({} reclaimed, {} of it allocated on disk)",
                s.removed,
                human_bytes(s.bytes_reclaimed),
                human_bytes(s.allocated_bytes_reclaimed)
            ));
            if s.remove_failed > 0 {
                parts.push(format!("{} failed to remove", s.remove_failed));
            }
        }
        if s.removable > 0 || self.dry_run {
            parts.push(format!(
                "{} removable ({} reclaimable, {} of it allocated on disk)",
                s.removable,
                human_bytes(s.bytes_reclaimable),
                human_bytes(s.allocated_bytes_reclaimable)
            ));
        }
        if s.ignored > 0 {
            parts.push(format!("{} ignored", s.ignored));
        }
        parts.push(format!("{} corrupt", s.corrupt));
        let _ = writeln!(
            text,
            "{}: {}",
            count(s.files, "file", "files"),
            parts.join(", ")
        );
        if s.checksums_checked > 0 || s.checksums_missing > 0 {
            let _ = writeln!(
                text,
                "checksums: {} verified, {} written, {} without a sidecar",
                s.checksums_checked, s.checksums_written, s.checksums_missing
            );
        }
        let _ = writeln!(
            text,
            "{} under the instances path read as possible disks, {} unreadable",
            count(s.files_probed, "file", "files"),
            s.unreadable
        );
        if s.stale_lock_files > 0 {
            let _ = writeln!(
                text,
                "{} of Nova's lock files {} cache files that are gone, and {} (a process may be \
                 waiting on one: unlinking it would break Nova's locking; Nova bug 1256306)",
                s.stale_lock_files,
                if s.stale_lock_files == 1 {
                    "names"
                } else {
                    "name"
                },
                if s.stale_lock_files == 1 {
                    "stays"
                } else {
                    "stay"
                }
            );
        }

        if !self.files.is_empty() {
            text.push('\n');
            let rows: Vec<[String; 6]> = self
                .files
                .iter()
                .map(|f| {
                    let checksum = match f.checksum {
                        ChecksumState::NotChecked | ChecksumState::Missing => String::new(),
                        other => format!(" [checksum {}]", other.as_str()),
                    };
                    [
                        f.state.as_str().to_owned(),
                        f.kind.to_owned(),
                        human_bytes(f.size_bytes),
                        HumanDuration(f.age_seconds).to_string(),
                        quote(&f.name).to_string(),
                        format!("{}{checksum}", f.reason),
                    ]
                    // The safety net: no cell carries a control character, whoever built it.
                    .map(|cell| match escape_controls(&cell) {
                        Cow::Borrowed(_) => cell,
                        Cow::Owned(escaped) => escaped,
                    })
                })
                .collect();
            let header = ["STATE", "KIND", "SIZE", "AGE", "NAME", "REASON"].map(str::to_owned);
            let mut widths = [0usize; 5];
            for row in std::iter::once(&header).chain(&rows) {
                for (width, cell) in widths.iter_mut().zip(row) {
                    *width = (*width).max(cell.chars().count());
                }
            }
            for row in std::iter::once(&header).chain(&rows) {
                let mut line = String::new();
                for (i, cell) in row.iter().enumerate() {
                    match i {
                        // Sizes and ages are right-aligned, like ls.
                        2 | 3 => {
                            let _ = write!(line, "{cell:>w$}  ", w = widths[i]);
                        }
                        5 => line.push_str(cell),
                        _ => {
                            let _ = write!(line, "{cell:<w$}  ", w = widths[i]);
                        }
                    }
                }
                let _ = writeln!(text, "{}", line.trim_end());
            }
        }
        if !self.orphan_dirs.is_empty() {
            let _ = writeln!(
                text,
                "\norphan directories (no instance record claims them):"
            );
            for orphan in &self.orphan_dirs {
                let keeps = if orphan.keeps.is_empty() {
                    "uses no cache file".to_owned()
                } else {
                    let names: Vec<String> =
                        orphan.keeps.iter().map(|n| quote(n).to_string()).collect();
                    format!("keeps {} in use", names.join(", "))
                };
                let line = format!("{}: {keeps}", quote(&orphan.name));
                let _ = writeln!(text, "  {}", escape_controls(&line));
            }
        }
        self.render_warnings(&mut text);
        text
    }

    fn render_warnings(&self, text: &mut String) {
        if !self.warnings.is_empty() {
            let _ = writeln!(text, "\nwarnings:");
            for warning in &self.warnings {
                let _ = writeln!(text, "  {}", escape_controls(&warning.message));
            }
        }
        let acks: Vec<&str> = self
            .unreadable_files
            .iter()
            .filter(|file| file.outcome.blocks())
            .filter_map(|file| file.ack.as_deref())
            .collect();
        if !acks.is_empty() {
            let one = acks.len() == 1;
            let _ = writeln!(
                text,
                "\nonce you have looked at {}, {} in a file given to --ack-unreadable {} cleaning \
                 go on while {} unchanged:",
                if one { "it" } else { "them" },
                if one { "this line" } else { "these lines" },
                if one { "lets" } else { "let" },
                if one { "it stays" } else { "they stay" }
            );
            for ack in acks {
                let _ = writeln!(text, "  {ack}");
            }
        }
    }
}

/// `1 file`, `2 files`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `1.5 GiB`, like qemu-img's sizes.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::human_bytes;

    #[test]
    fn sizes_read_like_qemu_img() {
        let shown: Vec<String> = [0, 1023, 1024, 1536, 10 << 30, u64::MAX]
            .map(human_bytes)
            .into();
        assert_eq!(
            shown,
            [
                "0 B",
                "1023 B",
                "1.0 KiB",
                "1.5 KiB",
                "10.0 GiB",
                "16384.0 PiB"
            ]
        );
    }
}
