//! libvirt's domains in a pass: records from Nova's metadata, disks read in the format libvirt
//! gives, live backing chains in use and checked against the headers, missing disks, orphans,
//! and domain files that cannot be read. Each test writes domains into the host's own
//! `etc/libvirt/qemu` and `run/libvirt/qemu` (see [`Host::domain`]).

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::support::*;

const UUID_A: &str = "0c6b7a52-3b7e-4c9d-a2f1-5e6b7c8d9e01";
const UUID_B: &str = "1d7c8b63-4c8f-4dae-b3a2-6f7c8d9eaf02";
const IMAGE_A: &str = "155d900f-4e14-4e4c-a73d-069cbf4541e6";
const IMAGE_B: &str = "0b1f3c7e-28a9-4d52-9e6c-5a1b2c3d4e5f";

/// A domain of instance `uuid`, defined, whose root disk is `<uuid>/disk` in `format`.
fn defined(host: &Host, uuid: &str, name: &str, image: &str, format: &str) {
    let disk = host.instances.join(uuid).join("disk");
    let disks = [DomainDiskSpec {
        file: &disk,
        format,
        chain: None,
    }];
    host.domain(
        name,
        &nova_domain(uuid, name, image, 0, &disks, false),
        false,
    );
}

#[test]
fn domains_make_the_records_an_inventory_would() {
    // Instance A's disk is an overlay on image A; instance B's is a copy of image B (no
    // backing file): only its record says B is in use.
    let host = Host::new();
    host.base_file(&fp(IMAGE_A), 1 << 20, 30 * DAY);
    host.base_file(&fp(IMAGE_B), 1 << 20, 30 * DAY);
    host.base_file("swap_512", 1 << 20, 30 * DAY);
    host.overlay(&format!("{UUID_A}/disk"), &fp(IMAGE_A));
    host.file(&format!("{UUID_B}/disk"), b"a copy of image B");
    host.file("9a8b7c6d-orphan/disk", b"left behind");
    let disk_a = host.instances.join(UUID_A).join("disk");
    let disks = [DomainDiskSpec {
        file: &disk_a,
        format: "qcow2",
        chain: None,
    }];
    let xml = nova_domain(UUID_A, "instance-0000002a", IMAGE_A, 512, &disks, false);
    host.domain("instance-0000002a", &xml, false);
    defined(&host, UUID_B, "instance-0000002b", IMAGE_B, "raw");
    let records = host.inventory(&[
        json!({"uuid": UUID_A, "name": "instance-0000002a", "host": HOST, "image_ref": IMAGE_A,
               "swap_mb": 512}),
        json!({"uuid": UUID_B, "name": "instance-0000002b", "host": HOST, "image_ref": IMAGE_B}),
    ]);
    let with_domains = host.run(&["audit", "--format", "json"]).json();
    let with_inventory = host
        .run(&[
            "audit",
            "--format",
            "json",
            "--no-libvirt",
            "--inventory",
            &records.display().to_string(),
        ])
        .json();
    for name in host.cache_names() {
        assert_eq!(
            (
                state_of(&with_domains, &name),
                reason_of(&with_domains, &name)
            ),
            (
                state_of(&with_inventory, &name),
                reason_of(&with_inventory, &name)
            ),
            "{name}"
        );
    }
    assert_eq!(state_of(&with_domains, &fp(IMAGE_B)), "in_use");
    assert_eq!(state_of(&with_domains, "swap_512"), "in_use");
    assert_eq!(with_domains["orphan_dirs"], with_inventory["orphan_dirs"]);
    assert_eq!(with_domains["orphan_dirs"][0]["name"], "9a8b7c6d-orphan");
    // Without libvirt's domains (nor an inventory), no record: B's image is unused.
    let without = host
        .run(&["audit", "--format", "json", "--no-libvirt"])
        .json();
    assert_eq!(state_of(&without, &fp(IMAGE_B)), "removable");
    assert_eq!(without["orphan_dirs"], json!([]));
}

#[test]
fn a_disk_libvirt_opens_raw_is_never_probed() {
    // The guest wrote a qcow2 header naming image A into its raw disk: QEMU never reads it as
    // one, and neither does cachectl.
    let host = Host::new();
    host.base_file(&fp(IMAGE_A), 1 << 20, 30 * DAY);
    host.overlay(&format!("{UUID_A}/disk"), &fp(IMAGE_A));
    let probed = host.run(&["audit", "--format", "json"]).json();
    assert_eq!(state_of(&probed, &fp(IMAGE_A)), "in_use");
    defined(&host, UUID_A, "instance-0000002a", IMAGE_B, "raw");
    let declared = host.run(&["audit", "--format", "json"]).json();
    assert_eq!(state_of(&declared, &fp(IMAGE_A)), "removable");
}

/// Instance A running, its qcow2 `disk` on `base` by the chain libvirt states; the status file.
fn running_with_chain(host: &Host, disk: &Path, base: &Path) -> PathBuf {
    let chain = [(base, "raw")];
    let disks = [DomainDiskSpec {
        file: disk,
        format: "qcow2",
        chain: Some(&chain),
    }];
    let xml = nova_domain(UUID_A, "instance-0000002a", IMAGE_A, 0, &disks, true);
    host.domain("instance-0000002a", &xml, true)
}

/// A domain of instance `uuid` whose root disk is `<uuid>/disk` in `format`, defined or running.
fn domain_of(host: &Host, uuid: &str, format: &str, running: bool) {
    let disk = host.instances.join(uuid).join("disk");
    let disks = [DomainDiskSpec {
        file: &disk,
        format,
        chain: None,
    }];
    let xml = nova_domain(uuid, "instance-0000002a", IMAGE_A, 0, &disks, running);
    host.domain("instance-0000002a", &xml, running);
}

#[test]
fn a_raw_that_not_every_declarer_says_spares_no_probe_and_the_disagreement_is_reported() {
    // The running guest was started raw; its definition (fixed with `virsh edit`, for the
    // next boot) and Nova's disk.info say qcow2: at the next start QEMU opens the overlay and
    // needs its base.
    for (run, etc, disk_info) in [
        (Some("raw"), "qcow2", Some("qcow2")),
        (None, "raw", Some("qcow2")),
        (None, "qcow2", Some("raw")),
    ] {
        let host = Host::new();
        host.base_file(&fp(IMAGE_A), 1 << 20, 30 * DAY);
        let disk = host.overlay(&format!("{UUID_A}/disk"), &fp(IMAGE_A));
        if let Some(format) = run {
            domain_of(&host, UUID_A, format, true);
        }
        domain_of(&host, UUID_A, etc, false);
        if let Some(format) = disk_info {
            let info = json!({ disk.display().to_string(): format }).to_string();
            host.file(&format!("{UUID_A}/disk.info"), info.as_bytes());
        }
        let run_ = host.run(&["clean", "--format", "json"]);
        assert_eq!(run_.code, 0, "{}", run_.stderr);
        let report = run_.json();
        assert_eq!(
            state_of(&report, &fp(IMAGE_A)),
            "in_use",
            "{run:?} {etc} {disk_info:?}"
        );
        assert!(host.has(&fp(IMAGE_A)));
        let warning = warning(&report, "libvirt_format_differs");
        assert!(
            warning.starts_with(&format!("the formats of {UUID_A}/disk: "))
                && warning.ends_with("; read as its header says"),
            "{warning}"
        );
    }
}

#[test]
fn a_domain_that_gives_no_format_leaves_disk_infos_raw_unprobed() {
    // The guest wrote a broken qcow2 header into its raw disk: read, it would stop every
    // removal; disk.info says raw and libvirt gives no format, so it is not read.
    let host = Host::new();
    host.base_file(&fp(IMAGE_B), 1 << 20, 30 * DAY);
    let mut header = b"QFI\xfb\x00\x00\x00\x03".to_vec();
    header.extend([0u8; 12]);
    header.extend(40u32.to_be_bytes());
    header.resize(4096, 0);
    let disk = host.file(&format!("{UUID_A}/disk"), &header);
    let info = json!({ disk.display().to_string(): "raw" }).to_string();
    host.file(&format!("{UUID_A}/disk.info"), info.as_bytes());
    domain_of(&host, UUID_A, "", false);
    let run = host.run(&["clean", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(state_of(&run.json(), &fp(IMAGE_B)), "removed");
}

#[test]
fn a_disk_libvirt_opens_as_qcow2_that_reads_as_another_format_stops_removals() {
    let host = Host::new();
    host.base_file(&fp(IMAGE_B), 1 << 20, 30 * DAY);
    host.file(&format!("{UUID_A}/disk"), &[0u8; 4096]);
    defined(&host, UUID_A, "instance-0000002a", IMAGE_A, "qcow2");
    let run = host.run(&["clean", "--format", "json"]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    let report = run.json();
    let warning = warning(&report, "unreadable_file");
    assert!(
        warning.contains("libvirt declares it qcow2, but it reads as raw"),
        "{warning}"
    );
    assert!(
        warning.contains("a disk a libvirt domain names"),
        "{warning}"
    );
    assert!(host.has(&fp(IMAGE_B)));
}

#[test]
fn a_running_guests_chain_keeps_what_it_names_and_a_disagreement_is_reported() {
    // The header of A's disk names image A; the chain libvirt states for the running guest
    // names image B (a block job under way, or a header rewritten behind QEMU's back).
    let host = Host::new();
    host.base_file(&fp(IMAGE_A), 1 << 20, 30 * DAY);
    let image_b = host.base_file(&fp(IMAGE_B), 1 << 20, 30 * DAY);
    host.overlay(&format!("{UUID_A}/disk"), &fp(IMAGE_A));
    let disk = host.instances.join(UUID_A).join("disk");
    let status = running_with_chain(&host, &disk, &image_b);
    let run = host.run(&["clean", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    assert_eq!(state_of(&report, &fp(IMAGE_A)), "in_use");
    assert_eq!(state_of(&report, &fp(IMAGE_B)), "in_use");
    assert!(host.has(&fp(IMAGE_A)) && host.has(&fp(IMAGE_B)));
    assert_eq!(
        warning(&report, "libvirt_chain_differs"),
        format!(
            "the backing chain of {UUID_A}/disk that libvirt states for domain instance-0000002a \
             ({}) reaches {}, its headers reach {}: both are kept",
            status.display(),
            fp(IMAGE_B),
            fp(IMAGE_A)
        )
    );
}

#[test]
fn domains_that_name_the_instances_path_another_way_still_count() {
    // libvirt names `/var/lib/nova/instances`, a symlink to the directory given to cachectl.
    let host = Host::new();
    host.base_file(&fp(IMAGE_A), 1 << 20, 30 * DAY);
    host.base_file(&fp(IMAGE_B), 1 << 20, 30 * DAY);
    host.overlay(&format!("{UUID_A}/disk"), &fp(IMAGE_A));
    let link = host.root().join("nova-instances");
    std::os::unix::fs::symlink(&host.instances, &link).expect("a symlink");
    let disk = link.join(UUID_A).join("disk");
    let image_b = link.join("_base").join(fp(IMAGE_B));
    running_with_chain(&host, &disk, &image_b);
    let report = host.run(&["audit", "--format", "json"]).json();
    assert_eq!(state_of(&report, &fp(IMAGE_B)), "in_use");
    assert!(warning_codes(&report).contains(&"libvirt_chain_differs".to_owned()));
}

#[test]
fn a_running_guests_chain_that_agrees_says_nothing() {
    let host = Host::new();
    let image_a = host.base_file(&fp(IMAGE_A), 1 << 20, 30 * DAY);
    host.overlay(&format!("{UUID_A}/disk"), &fp(IMAGE_A));
    let disk = host.instances.join(UUID_A).join("disk");
    running_with_chain(&host, &disk, &image_a);
    let report = host.run(&["audit", "--format", "json"]).json();
    assert_eq!(warning_codes(&report), Vec::<String>::new());
}

#[test]
fn a_domain_naming_a_disk_that_is_not_there_is_reported() {
    let host = Host::new();
    host.base_file(&fp(IMAGE_A), 1 << 20, 30 * DAY);
    let path = host
        .root()
        .join(LIBVIRT_CONFIG_DIR)
        .join("instance-0000002a.xml");
    defined(&host, UUID_A, "instance-0000002a", IMAGE_A, "qcow2");
    let report = host.run(&["audit", "--format", "json"]).json();
    assert_eq!(
        warning(&report, "libvirt_disk_missing"),
        format!(
            "domain instance-0000002a ({}) names the disk {UUID_A}/disk, which is not there",
            path.display()
        )
    );
    // Its record still keeps its image.
    assert_eq!(state_of(&report, &fp(IMAGE_A)), "in_use");
}

#[test]
fn a_domain_file_of_libvirts_that_cannot_be_read_stops_removals() {
    let host = Host::new();
    host.base_file(&fp(IMAGE_A), 1 << 20, 30 * DAY);
    let path = host.domain(
        "instance-0000002a",
        "<domain type='kvm'>\n  <name>x</nam>",
        false,
    );
    let run = host.run(&["clean", "--format", "json"]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    let report = run.json();
    let warning = warning(&report, "unreadable_file");
    assert!(
        warning.contains(&format!("{}:2:10: expected 'name' tag", path.display())),
        "{warning}"
    );
    assert_eq!(report["unreadable_files"][0]["rule"], "libvirt_domain");
    assert_eq!(
        report["unreadable_files"][0]["path"],
        path.display().to_string()
    );
    assert!(host.has(&fp(IMAGE_A)));
}

#[test]
fn libvirt_xml_reads_virsh_dumpxml_from_a_file_or_standard_input() {
    let host = Host::new();
    host.base_file(&fp(IMAGE_B), 1 << 20, 30 * DAY);
    host.file(&format!("{UUID_B}/disk"), b"a copy of image B");
    let disk = host.instances.join(UUID_B).join("disk");
    let disks = [DomainDiskSpec {
        file: &disk,
        format: "raw",
        chain: Some(&[]),
    }];
    let xml = nova_domain(UUID_B, "instance-0000002b", IMAGE_B, 0, &disks, false);
    let run = host.run_with_stdin(
        &["audit", "--format", "json", "--libvirt-xml", "-"],
        Some(&xml),
    );
    assert_eq!(
        state_of(&run.json(), &fp(IMAGE_B)),
        "in_use",
        "{}",
        run.stderr
    );
    let given = host.file("dumpxml.xml", xml.as_bytes());
    let given = given.display().to_string();
    let report = host
        .run(&["audit", "--format", "json", "--libvirt-xml", &given])
        .json();
    assert_eq!(state_of(&report, &fp(IMAGE_B)), "in_use");
    // Standard input is read once.
    let run = host.run(&["audit", "--libvirt-xml", "-", "--inventory", "-"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("standard input can be read once"),
        "{}",
        run.stderr
    );
    // Bad input: one line naming the file and the place, exit 3, nothing done.
    fs::write(&given, "<domain>\n<name>").expect("written");
    let run = host.run(&["clean", "--libvirt-xml", &given]);
    assert_eq!(run.code, 3);
    assert!(
        run.stderr
            .starts_with(&format!("cachectl: error: {given}:2:")),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(host.has(&fp(IMAGE_B)));
}

#[test]
fn with_no_libvirt_domains_are_not_read() {
    let host = Host::new();
    host.base_file(&fp(IMAGE_B), 1 << 20, 30 * DAY);
    defined(&host, UUID_B, "instance-0000002b", IMAGE_B, "raw");
    host.domain("broken", "<domain", false);
    let run = host.run(&["audit", "--format", "json", "--no-libvirt"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(state_of(&run.json(), &fp(IMAGE_B)), "removable");
    // Domains given with --no-libvirt: a contradiction, said as one.
    let run = host.run(&["--no-libvirt", "audit", "--libvirt-xml", "dumpxml.xml"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(
        run.stderr,
        "cachectl: error: --libvirt-xml gives domains to read, --no-libvirt reads none: give one\n"
    );
}

/// Runs a libvirt tool, failing with what to install when it is missing.
fn tool(program: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|err| {
            panic!("cannot run {program} ({err}): apt-get install libvirt-clients libxml2-utils")
        })
}

#[track_caller]
fn validates(path: &std::path::Path) {
    let output = tool(
        "virt-xml-validate",
        &[&path.display().to_string(), "domain"],
    );
    let said = String::from_utf8_lossy(&output.stderr).into_owned()
        + &String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && said.contains("validates"),
        "{}: {said}",
        path.display()
    );
}

#[test]
fn the_demos_domains_are_libvirts_and_an_audit_by_them_decides_as_one_by_the_inventory() {
    let host = Host::new();
    let dir = host.root().join("demo");
    let shown = dir.display().to_string();
    let run = host.run(&["demo", &shown]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let listed = |sub: &str| -> Vec<std::path::PathBuf> {
        let mut files: Vec<_> = fs::read_dir(dir.join(sub))
            .expect("a directory of domains")
            .map(|e| e.expect("an entry").path())
            .collect();
        files.sort();
        files
    };
    // Defined domains and instance directories' libvirt.xml: libvirt's schema, and libvirt's
    // test driver defines each and dumps it back.
    let defined = listed("etc/libvirt/qemu");
    assert_eq!(defined.len(), 3);
    let instances = dir.join("instances");
    let mut snapshots = Vec::new();
    for entry in fs::read_dir(&instances).expect("instances") {
        let file = entry.expect("an entry").path().join("libvirt.xml");
        if file.exists() {
            snapshots.push(file);
        }
    }
    assert_eq!(snapshots.len(), 3);
    for file in defined.iter().chain(&snapshots) {
        validates(file);
    }
    for file in &defined {
        let name = file.file_stem().and_then(|s| s.to_str()).expect("a name");
        let script = format!("define {}; dumpxml {name}", file.display());
        let output = tool("virsh", &["-q", "-c", "test:///default", &script]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(String::from_utf8_lossy(&output.stdout).contains("nova:instance"));
    }
    // Running guests' status XML: the domain in it is one.
    for file in listed("run/libvirt/qemu") {
        let xml = fs::read_to_string(&file).expect("a status XML");
        let start = xml.find("<domain ").expect("a domain in it");
        let end = xml.rfind("</domain>").expect("its end") + "</domain>".len();
        let inner = host.file("inner-domain.xml", &xml.as_bytes()[start..end]);
        validates(&inner);
    }
    // The audits the demo compares, as an operator runs them.
    let conf = dir.join("nova.conf").display().to_string();
    let etc = dir.join("etc/libvirt/qemu").display().to_string();
    let run_dir = dir.join("run/libvirt/qemu").display().to_string();
    let inventory = dir.join("inventory.json").display().to_string();
    let bare = |args: &[&str]| {
        let output = std::process::Command::new(cachectl_bin())
            .args(args)
            .output()
            .expect("cachectl runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&output.stdout).expect("JSON")
    };
    let by_libvirt = bare(&[
        "--config-file",
        &conf,
        "--libvirt-config-dir",
        &etc,
        "--libvirt-run-dir",
        &run_dir,
        "audit",
        "--format",
        "json",
    ]);
    let by_inventory = bare(&[
        "--config-file",
        &conf,
        "--no-libvirt",
        "audit",
        "--format",
        "json",
        "--inventory",
        &inventory,
    ]);
    let states = |report: &serde_json::Value| -> Vec<(String, String)> {
        report["files"]
            .as_array()
            .expect("files")
            .iter()
            .map(|f| (f["name"].to_string(), f["state"].to_string()))
            .collect()
    };
    assert_eq!(states(&by_libvirt), states(&by_inventory));
    assert!(states(&by_libvirt).len() > 10);
    assert!(run.stdout.contains(
        "The same audit from nova.conf and libvirt's domains alone, with no --inventory, gives \
         every file the same state"
    ));
}
