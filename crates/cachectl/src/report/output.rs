//! Writing a report: JSON for scripts, and the text report for people (a summary, one aligned
//! line per cache entry, orphans and warnings).
//!
//! Every name that comes from outside (the filesystem, a disk header, the inventory) is quoted
//! with [`quote`], and every cell, reason and warning passes through [`escape_controls`], so that
//! no control character reaches a terminal.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write};

use cachectl_naming::{escape_controls, quote};
use cachectl_policy::HumanDuration;

use serde::Serialize;

use super::{Format, PassCommand, Report, Summary, count, human_bytes};
use crate::checksums::ChecksumState;

impl Report {
    /// Writes the report in `format`.
    pub(crate) fn write(&self, format: Format, out: &mut dyn Write) -> io::Result<()> {
        match format {
            Format::Json => write_json(self, out),
            Format::Text => out.write_all(render(self).as_bytes()),
        }
    }
}

/// Writes `value` as pretty-printed JSON with a final newline.
pub(crate) fn write_json(value: &impl Serialize, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)
}

/// The text of `report`.
fn render(report: &Report) -> String {
    let mut text = String::new();
    let mode = match (report.command, report.dry_run) {
        (PassCommand::Audit, _) => " (read-only)",
        (PassCommand::Clean, true) => " (dry run: nothing changed)",
        (PassCommand::Clean, false) => "",
    };
    let _ = writeln!(
        text,
        "cachectl {} of {} on {}{mode}",
        report.command.as_str(),
        quote(&report.base_dir),
        quote(&report.host)
    );
    if report.base_dir_exists {
        render_summary(report, &mut text);
        render_files(report, &mut text);
        render_orphans(report, &mut text);
    } else {
        let _ = writeln!(
            text,
            "no base directory at {}: nothing to do",
            quote(&report.base_dir)
        );
    }
    render_warnings(report, &mut text);
    text
}

/// The lines of totals.
fn render_summary(report: &Report, text: &mut String) {
    let s = &report.summary;
    let _ = writeln!(
        text,
        "{}: {}",
        count(s.files, "file", "files"),
        state_counts(report, s).join(", ")
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
    if let Some(fs) = &report.filesystem {
        let asked: Vec<String> = [
            fs.min_free_bytes
                .map(|b| format!("{} free", human_bytes(b))),
            fs.max_cache_bytes
                .map(|b| format!("a cache of at most {}", human_bytes(b))),
        ]
        .into_iter()
        .flatten()
        .collect();
        let _ = writeln!(
            text,
            "file system: {}, {} free before, {} {} (asked: {})",
            human_bytes(fs.size_bytes),
            human_bytes(fs.avail_bytes_before),
            human_bytes(fs.avail_bytes_after),
            if report.dry_run {
                "after, if removed"
            } else {
                "after"
            },
            asked.join(" and ")
        );
    }
    if s.stale_lock_files > 0 {
        let one = s.stale_lock_files == 1;
        let _ = writeln!(
            text,
            "{} of Nova's lock files {} cache files that are gone, and {} (a process may be \
             waiting on one: unlinking it would break Nova's locking; Nova bug 1256306)",
            s.stale_lock_files,
            if one { "names" } else { "name" },
            if one { "stays" } else { "stay" }
        );
    }
}

/// `10 in use (58.9 GiB), 5 removable (...), 1 ignored, 0 corrupt`.
fn state_counts(report: &Report, s: &Summary) -> Vec<String> {
    let mut parts = vec![format!(
        "{} in use ({})",
        s.in_use,
        human_bytes(s.bytes_in_use)
    )];
    if s.pinned > 0 {
        parts.push(format!("{} pinned", s.pinned));
    }
    if s.too_young > 0 {
        parts.push(format!("{} too young", s.too_young));
    }
    if report.command == PassCommand::Clean && !report.dry_run {
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
    if s.removable > 0 || report.dry_run {
        parts.push(format!(
            "{} removable ({} reclaimable, {} of it allocated on disk)",
            s.removable,
            human_bytes(s.bytes_reclaimable),
            human_bytes(s.allocated_bytes_reclaimable)
        ));
    }
    if s.deferred > 0 {
        parts.push(format!(
            "{} left for the next run (--max-remove)",
            s.deferred
        ));
    }
    if s.ignored > 0 {
        parts.push(format!("{} ignored", s.ignored));
    }
    parts.push(format!("{} corrupt", s.corrupt));
    parts
}

/// One aligned line per cache entry, under a header.
fn render_files(report: &Report, text: &mut String) {
    if report.files.is_empty() {
        return;
    }
    text.push('\n');
    let rows: Vec<[String; 6]> = report
        .files
        .iter()
        .map(|f| {
            let checksum = match f.checksum {
                ChecksumState::NotChecked | ChecksumState::Missing => String::new(),
                other => format!(" [checksum {other}]"),
            };
            [
                f.state.to_string(),
                f.kind.to_string(),
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

/// The directories no record claims, and what they keep.
fn render_orphans(report: &Report, text: &mut String) {
    if report.orphan_dirs.is_empty() {
        return;
    }
    let _ = writeln!(
        text,
        "\norphan directories (no instance record claims them):"
    );
    for orphan in &report.orphan_dirs {
        let keeps = if orphan.keeps.is_empty() {
            "uses no cache file".to_owned()
        } else {
            let names: Vec<String> = orphan.keeps.iter().map(|n| quote(n).to_string()).collect();
            format!("keeps {} in use", names.join(", "))
        };
        let line = format!("{}: {keeps}", quote(&orphan.name));
        let _ = writeln!(text, "  {}", escape_controls(&line));
    }
}

/// The warnings, then the `--ack-unreadable` lines of the files that stopped removals.
fn render_warnings(report: &Report, text: &mut String) {
    if !report.warnings.is_empty() {
        let _ = writeln!(text, "\nwarnings:");
        for warning in &report.warnings {
            let _ = writeln!(text, "  {}", escape_controls(&warning.message));
        }
    }
    let acks: Vec<&str> = report
        .unreadable_files
        .iter()
        .filter(|file| file.outcome.blocks())
        .filter_map(|file| file.ack.as_deref())
        .collect();
    if acks.is_empty() {
        return;
    }
    let one = acks.len() == 1;
    let _ = writeln!(
        text,
        "\nonce you have looked at {}, {} in a file given to --ack-unreadable {} cleaning go on \
         while {} unchanged:",
        if one { "it" } else { "them" },
        if one { "this line" } else { "these lines" },
        if one { "lets" } else { "let" },
        if one { "it stays" } else { "they stay" }
    );
    for ack in acks {
        let _ = writeln!(text, "  {ack}");
    }
}
