//! The Debian package `cargo xtask dist` builds, built here from the binary under test with the
//! same layout (xtask/src/dist_layout.rs): `dpkg-deb` must list every file, its control fields
//! must be Debian's, and the binary it installs must run.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::support::cachectl_bin;

#[path = "../../xtask/src/dist_layout.rs"]
#[allow(dead_code, unreachable_pub)]
mod dist_layout;

/// `dpkg-deb <option> DEB [then...]`: what it printed (it must succeed).
fn dpkg_deb(option: &str, deb: &Path, then: &[&Path]) -> String {
    let output = Command::new("dpkg-deb")
        .arg(option)
        .arg(deb)
        .args(then)
        .output()
        .expect("dpkg-deb (Debian package dpkg)");
    assert!(
        output.status.success(),
        "dpkg-deb {option}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_deb_holds_the_binary_man_page_completions_units_and_dashboard_and_installs() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let arch = dist_layout::debian_arch().expect("dpkg --print-architecture");
    // Stripped, as the dist profile ships it (and 20 times faster to compress).
    let binary = dir.path().join("cachectl");
    fs::copy(cachectl_bin(), &binary).expect("copied");
    let strip = Command::new("strip")
        .arg(&binary)
        .status()
        .expect("strip (binutils)");
    assert!(strip.success());
    let package = dist_layout::Package {
        binary: &binary,
        repo: &repo,
        version: env!("CARGO_PKG_VERSION"),
        arch: &arch,
    };
    let deb = dist_layout::build(&package, &dir.path().join("root"), dir.path())
        .expect("the package builds");
    assert!(
        deb.ends_with(format!("cachectl_{}_{arch}.deb", env!("CARGO_PKG_VERSION"))),
        "{}",
        deb.display()
    );

    let listing = dpkg_deb("-c", &deb, &[]);
    for file in dist_layout::INSTALLED {
        assert!(
            listing.lines().any(|l| l.ends_with(&format!("./{file}"))),
            "{file} is not in the package:\n{listing}"
        );
    }
    assert!(
        listing.lines().all(|l| l.contains("root/root")),
        "every file root's:\n{listing}"
    );
    let info = dpkg_deb("-f", &deb, &[]);
    for field in [
        "Package: cachectl",
        "Architecture: ",
        "Depends: libc6 (>= 2.",
        "Description: ",
    ] {
        assert!(info.contains(field), "no {field:?} in\n{info}");
    }

    // Installed into a scratch root, the binary runs and its files are what they say.
    let scratch = dir.path().join("installed");
    dpkg_deb("-x", &deb, &[&scratch]);
    let installed = scratch.join("usr/bin/cachectl");
    let version = Command::new(&installed)
        .arg("--version")
        .output()
        .expect("the installed binary runs");
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("cachectl {}", env!("CARGO_PKG_VERSION"))
    );
    let bash = Command::new("bash")
        .arg("-n")
        .arg(scratch.join("usr/share/bash-completion/completions/cachectl"))
        .status()
        .expect("bash");
    assert!(bash.success(), "the bash completion does not parse");
    let man = Command::new("sh")
        .arg("-c")
        .arg("zcat \"$1\" | groff -man -Tutf8 -ww -z 2>&1")
        .arg("sh")
        .arg(scratch.join("usr/share/man/man1/cachectl.1.gz"))
        .output()
        .expect("groff");
    assert!(
        man.status.success() && man.stdout.is_empty(),
        "groff warns about the man page: {}",
        String::from_utf8_lossy(&man.stdout)
    );
    let unit = fs::read_to_string(scratch.join("lib/systemd/system/cachectl-clean.service"))
        .expect("the unit");
    assert!(unit.contains("ExecStart=/usr/bin/cachectl clean"), "{unit}");
}
