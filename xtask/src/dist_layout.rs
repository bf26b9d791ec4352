//! What cachectl's Debian package holds, and building it from a binary with `dpkg-deb`: the
//! binary, its manual page and shell completions (which the binary prints itself), the systemd
//! units and the Grafana dashboard of `contrib/`, the README and the copyright.
//!
//! Standard library only: `cargo xtask dist` uses it, and the end-to-end tests include it
//! (`#[path]`) to package the binary they test.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Every file the package installs, relative to `/`.
pub const INSTALLED: [&str; 13] = [
    "usr/bin/cachectl",
    "usr/share/man/man1/cachectl.1.gz",
    "usr/share/bash-completion/completions/cachectl",
    "usr/share/zsh/vendor-completions/_cachectl",
    "usr/share/fish/vendor_completions.d/cachectl.fish",
    "lib/systemd/system/cachectl-clean.service",
    "lib/systemd/system/cachectl-clean.timer",
    "lib/systemd/system/cachectl-verify.service",
    "lib/systemd/system/cachectl-verify.timer",
    "usr/share/cachectl/grafana/cachectl.json",
    "usr/share/doc/cachectl/README.md",
    "usr/share/doc/cachectl/copyright",
    "usr/share/doc/cachectl/architecture.md",
];

/// A package to build.
pub struct Package<'a> {
    /// The `cachectl` binary to install.
    pub binary: &'a Path,
    /// The source tree (for `contrib/`, the README, the docs).
    pub repo: &'a Path,
    /// The package version (the workspace's).
    pub version: &'a str,
    /// Debian's name of the architecture (`dpkg --print-architecture`).
    pub arch: &'a str,
}

/// Stages the package's files under `root` (which must not exist) and builds
/// `<out>/cachectl_<version>_<arch>.deb`; returns its path.
pub fn build(package: &Package<'_>, root: &Path, out: &Path) -> Result<PathBuf, String> {
    stage(package, root)?;
    let deb = out.join(format!("cachectl_{}_{}.deb", package.version, package.arch));
    run(Command::new("dpkg-deb")
        .args(["--root-owner-group", "-Zgzip", "--build"])
        .arg(root)
        .arg(&deb))?;
    Ok(deb)
}

/// Debian's name of this machine's architecture.
pub fn debian_arch() -> Result<String, String> {
    let arch = run(Command::new("dpkg").arg("--print-architecture"))?;
    Ok(String::from_utf8_lossy(&arch).trim().to_owned())
}

fn stage(package: &Package<'_>, root: &Path) -> Result<(), String> {
    let binary = package.binary;
    let file = |rel: &str, bytes: &[u8], mode: u32| write(&root.join(rel), bytes, mode);
    file(INSTALLED[0], &read(binary)?, 0o755)?;
    let man = run(Command::new(binary).arg("man"))?;
    file(INSTALLED[1], &gzip(&man)?, 0o644)?;
    for (shell, rel) in [
        ("bash", INSTALLED[2]),
        ("zsh", INSTALLED[3]),
        ("fish", INSTALLED[4]),
    ] {
        file(
            rel,
            &run(Command::new(binary).args(["completions", shell]))?,
            0o644,
        )?;
    }
    for rel in &INSTALLED[5..9] {
        let name = Path::new(rel).file_name().expect("a unit's name");
        let unit = read(&package.repo.join("contrib/systemd").join(name))?;
        file(rel, &unit, 0o644)?;
    }
    let dashboard = read(&package.repo.join("contrib/grafana/cachectl.json"))?;
    file(INSTALLED[9], &dashboard, 0o644)?;
    file(
        INSTALLED[10],
        &read(&package.repo.join("README.md"))?,
        0o644,
    )?;
    file(INSTALLED[11], COPYRIGHT.as_bytes(), 0o644)?;
    let architecture = read(&package.repo.join("docs/architecture.md"))?;
    file(INSTALLED[12], &architecture, 0o644)?;
    let control = control(package, installed_kib(root)?, &glibc_needed(binary)?);
    file("DEBIAN/control", control.as_bytes(), 0o644)
}

/// `DEBIAN/control`.
fn control(package: &Package<'_>, installed_kib: u64, glibc: &str) -> String {
    format!(
        "Package: cachectl\n\
         Version: {version}\n\
         Architecture: {arch}\n\
         Maintainer: The cachectl developers <cachectl@example.invalid>\n\
         Installed-Size: {installed_kib}\n\
         Depends: libc6 (>= {glibc})\n\
         Suggests: prometheus-node-exporter\n\
         Section: admin\n\
         Priority: optional\n\
         Homepage: https://example.invalid/cachectl\n\
         Description: audit and clean the image cache of Nova's libvirt driver\n \
         cachectl audits and cleans the _base directory of OpenStack Nova's libvirt\n \
         driver on compute hosts: every disk's backing chain is read, files in use\n \
         are never removed, and every file kept or removed says why. It takes\n \
         Nova's locks, reads nova.conf and libvirt's domains, and comes with\n \
         systemd timers, Prometheus metrics and a Grafana dashboard.\n",
        version = package.version,
        arch = package.arch,
    )
}

const COPYRIGHT: &str = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
Upstream-Name: cachectl\n\
\n\
Files: *\n\
Copyright: The cachectl developers\n\
License: Apache-2.0\n \
On Debian systems, the full text of the Apache License, Version 2.0 can be\n \
found in /usr/share/common-licenses/Apache-2.0.\n";

/// The highest version of glibc the binary's symbols name (`objdump -T`), for `Depends`.
fn glibc_needed(binary: &Path) -> Result<String, String> {
    let symbols = run(Command::new("objdump").arg("-T").arg(binary))?;
    let text = String::from_utf8_lossy(&symbols);
    let mut highest: (u32, u32) = (2, 17);
    for word in text.split(|c: char| c.is_whitespace() || c == '(' || c == ')') {
        let Some(version) = word.strip_prefix("GLIBC_") else {
            continue;
        };
        let mut parts = version.split('.').map(str::parse::<u32>);
        if let (Some(Ok(major)), Some(Ok(minor))) = (parts.next(), parts.next()) {
            highest = highest.max((major, minor));
        }
    }
    Ok(format!("{}.{}", highest.0, highest.1))
}

/// The size of what the package installs, in KiB, as `Installed-Size` wants it.
fn installed_kib(root: &Path) -> Result<u64, String> {
    let total: u64 = INSTALLED
        .iter()
        .map(|rel| fs::metadata(root.join(rel)).map(|m| m.len().div_ceil(1024)))
        .sum::<Result<u64, _>>()
        .map_err(|err| format!("{}: {err}", root.display()))?;
    Ok(total)
}

fn gzip(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut child = Command::new("gzip")
        .args(["-9", "-n", "-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|err| format!("gzip: {err}"))?;
    let mut stdin = child.stdin.take().expect("piped");
    let input = bytes.to_vec();
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &input));
    let output = child
        .wait_with_output()
        .map_err(|err| format!("gzip: {err}"))?;
    writer
        .join()
        .map_err(|_| "gzip: the writer panicked".to_owned())?
        .map_err(|err| format!("gzip: {err}"))?;
    if !output.status.success() {
        return Err(format!("gzip: {}", output.status));
    }
    Ok(output.stdout)
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    fs::read(path).map_err(|err| format!("{}: {err}", path.display()))
}

fn write(path: &Path, bytes: &[u8], mode: u32) -> Result<(), String> {
    let failed = |err: std::io::Error| format!("{}: {err}", path.display());
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(failed)?;
        fs::set_permissions(parent, fs::Permissions::from_mode(0o755)).map_err(failed)?;
    }
    fs::write(path, bytes).map_err(failed)?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(failed)
}

/// Runs `command`; its stdout, or an error with what it said.
fn run(command: &mut Command) -> Result<Vec<u8>, String> {
    let shown = format!("{command:?}");
    let output = command.output().map_err(|err| format!("{shown}: {err}"))?;
    if !output.status.success() {
        return Err(format!(
            "{shown}: {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(output.stdout)
}
