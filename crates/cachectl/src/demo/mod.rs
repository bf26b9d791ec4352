//! `cachectl demo`: builds a realistic sample compute host and audits it.
//!
//! The host has what real ones have: originals in use by instance records, resized copies and
//! swap and ephemeral bases that only the instances' overlays use, images unused for hours or
//! days, a legacy small copy, a `_5` copy Nova never cleans, a stale download, checksum sidecars,
//! a file that is not the cache's, an orphan instance directory whose disk still uses an image,
//! and a storage registry shared with a second host. Big files are sparse: the demo takes a few
//! MiB of disk, whatever sizes it shows.

mod host;
mod libvirt;

use std::collections::{HashMap, HashSet};
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;

use cachectl_naming::{EntryKind, classify};
use cachectl_policy::FileState;

use crate::checksums::ChecksumMode;
use crate::clock::now;
use crate::error::CommandError;
use crate::exit::ExitCode;
use crate::pass::{Action, PassConfig, run as run_pass};
use crate::report::{Format, Report};
use crate::settings::{Settings, SettingsArgs};
use host::{DEMO_PEER, SampleHost, build};

/// Runs `demo`: builds the host in `dir` (or a new temporary directory) and audits it.
pub(crate) fn run(dir: Option<&Path>, out: &mut dyn Write) -> Result<ExitCode, CommandError> {
    let dir = match dir {
        Some(dir) => dir.to_owned(),
        None => std::env::temp_dir().join(format!("cachectl-demo-{}", std::process::id())),
    };
    let now = now()?;
    let host = build(&dir, now).map_err(|err| {
        CommandError::new(
            ExitCode::Failure,
            format!(
                "cannot build the sample host in {}: {err}",
                cachectl_naming::quote(&dir)
            ),
        )
    })?;
    let with_inventory = PassConfig {
        inventory: Some(host.inventory.clone()),
        checksum: ChecksumMode::Audit,
        ..settings(&host, false)?.pass_config(Action::Audit, now)
    };
    let from_libvirt = PassConfig {
        checksum: ChecksumMode::Audit,
        ..settings(&host, true)?.pass_config(Action::Audit, now)
    };
    let outcome = run_pass(&with_inventory)?;
    outcome.report.write(Format::Text, out)?;
    let root = dir.display();
    writeln!(
        out,
        "\nThis was `cachectl audit --checksum --inventory inventory.json` of a sample host built in {root}."
    )?;
    let libvirt_outcome = run_pass(&from_libvirt)?;
    write_comparison(&outcome.report, &libvirt_outcome.report, out)?;
    let misses = nova_would_remove(&outcome.report);
    if !misses.is_empty() {
        writeln!(
            out,
            "Nova's own pass would remove {} of the files in use here, as it looks only at the `disk` of\n\
             the instances its records know: {}.",
            misses.len(),
            misses.join(", ")
        )?;
    }
    let never = nova_never_cleans(&outcome.report);
    if !never.is_empty() {
        writeln!(
            out,
            "Nova never cleans these, which cachectl can remove: {}.",
            never.join(", ")
        )?;
    }
    let libvirt = format!(
        "--libvirt-config-dir {} --libvirt-run-dir {}",
        host.libvirt.config.display(),
        host.libvirt.run.display()
    );
    write!(
        out,
        "Try:\n  \
         cachectl --config-file {root}/nova.conf config\n  \
         cachectl --config-file {root}/nova.conf {libvirt} audit\n  \
         cachectl --config-file {root}/nova.conf --no-libvirt audit --inventory {root}/inventory.json --format json\n  \
         cachectl --config-file {root}/nova.conf {libvirt} clean --dry-run\n",
    )?;
    out.flush()?;
    Ok(outcome.exit_code)
}

/// The sample host's settings: its nova.conf, and its libvirt's directories unless
/// `libvirt` is false (an audit by the inventory alone).
fn settings(host: &SampleHost, libvirt: bool) -> Result<Settings, CommandError> {
    let args = SettingsArgs {
        config_file: vec![host.nova_conf.clone()],
        libvirt_config_dir: Some(host.libvirt.config.clone()),
        libvirt_run_dir: Some(host.libvirt.run.clone()),
        no_libvirt: !libvirt,
        ..SettingsArgs::default()
    };
    Ok(args.resolve()?)
}

/// Says whether the audit from nova.conf and libvirt's domains alone decided as the one with
/// the inventory, file by file, and what it could not tell.
fn write_comparison(
    by_inventory: &Report,
    by_libvirt: &Report,
    out: &mut dyn Write,
) -> io::Result<()> {
    let states: HashMap<&str, FileState> = by_libvirt
        .files
        .iter()
        .map(|f| (f.name.as_str(), f.state))
        .collect();
    let differing: Vec<String> = by_inventory
        .files
        .iter()
        .filter(|f| states.get(f.name.as_str()) != Some(&f.state))
        .map(|f| {
            let other = states.get(f.name.as_str()).map_or("absent", |s| s.as_str());
            format!(
                "{} ({} by the inventory, {other} by libvirt)",
                f.name,
                f.state.as_str()
            )
        })
        .collect();
    let total = by_inventory.files.len();
    if differing.is_empty() {
        writeln!(
            out,
            "The same audit from nova.conf and libvirt's domains alone, with no --inventory, gives \
             every file the same state ({total} of {total})."
        )?;
    } else {
        writeln!(
            out,
            "The same audit from nova.conf and libvirt's domains alone, with no --inventory, gives \
             {} of {total} files another state: {}.",
            differing.len(),
            differing.join(", ")
        )?;
    }
    if by_inventory.orphan_dirs.len() != by_libvirt.orphan_dirs.len() {
        writeln!(
            out,
            "libvirt's domains name only this host's instances: with {DEMO_PEER} on the same \
             storage, no directory is called an orphan without an inventory."
        )?;
    }
    Ok(())
}

/// The files in use that only disks Nova does not look at use: neither an instance record nor
/// the `disk` of a directory some record claims.
pub(crate) fn nova_would_remove(report: &Report) -> Vec<String> {
    let orphans: HashSet<&str> = report.orphan_dirs.iter().map(|o| o.name.as_str()).collect();
    let nova_sees = |disk: &Arc<str>| match disk.split_once('/') {
        Some((dir, "disk")) => !orphans.contains(dir),
        _ => false,
    };
    report
        .files
        .iter()
        .filter(|f| {
            f.state == FileState::InUse
                && f.kind != EntryKind::Sidecar
                && f.used_by.instances.is_empty()
        })
        .filter(|f| !f.used_by.disks.is_empty() && !f.used_by.disks.iter().any(nova_sees))
        .map(|f| f.name.clone())
        .collect()
}

/// The removable files Nova's pass never even considers.
pub(crate) fn nova_never_cleans(report: &Report) -> Vec<String> {
    report
        .files
        .iter()
        .filter(|f| f.state == FileState::Removable && !classify(&f.name).nova_recognises())
        .filter(|f| !matches!(f.kind, EntryKind::Sidecar | EntryKind::Foreign))
        .map(|f| f.name.clone())
        .collect()
}
