//! The libvirt fixtures checked by libvirt itself, and read back as libvirt writes them.
//!
//! Every domain fixture (`tests/fixtures/libvirt/*.xml`) must pass `virt-xml-validate FILE
//! domain` (libvirt's RelaxNG schema), and `virsh -c test:///default` (libvirt's test driver,
//! in process, no daemon) must define it and `dumpxml` it back as a domain `parse_domain` reads
//! the same. libvirt's status XML has no schema: its `<domain>` without the driver's
//! `<privateData>` is validated instead. The tools come with Debian's `libvirt-clients` (and
//! `libxml2-utils` for `xmllint`, which `virt-xml-validate` runs); `.ci/run` installs them, and
//! this test fails without them rather than skip.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cachectl_sources::libvirt::{Domain, parse_domain};

/// libvirt's status XML, which holds a domain but is none.
const STATUS_XML: &str = "run-libvirt-qemu.xml";

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/libvirt");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "xml"))
        .collect();
    files.sort();
    assert!(files.len() >= 6, "fixtures: {files:?}");
    files
}

/// Runs a tool, failing the test with what to install when it is missing.
fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|err| {
            panic!(
                "cannot run {program} ({err}): install Debian's libvirt-clients and libxml2-utils \
             (apt-get install libvirt-clients libxml2-utils; .ci/run does)"
            )
        })
}

fn parse_file(path: &Path) -> Domain {
    let bytes = fs::read(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    parse_domain(path, &bytes).unwrap_or_else(|err| panic!("{err}"))
}

#[track_caller]
fn validate(path: &Path) {
    let shown = path.display().to_string();
    let output = run("virt-xml-validate", &[&shown, "domain"]);
    // xmllint says "FILE validates" on standard error.
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success() && said.contains("validates"),
        "virt-xml-validate {shown} domain: {}\n{said}",
        output.status
    );
}

#[test]
fn virt_xml_validate_accepts_every_domain_fixture() {
    // xmllint is what virt-xml-validate runs: say so when it is missing, not "not found" at 144.
    run("xmllint", &["--version"]);
    for fixture in fixtures() {
        if fixture.file_name().is_some_and(|name| name == STATUS_XML) {
            continue;
        }
        validate(&fixture);
    }
}

#[test]
fn the_domain_in_the_status_xml_is_a_valid_domain_without_its_private_data() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/libvirt")
        .join(STATUS_XML);
    let text = fs::read_to_string(&path).expect("the status XML");
    let document = roxmltree::Document::parse(&text).expect("well-formed");
    let root = document.root_element();
    assert_eq!(root.tag_name().name(), "domstatus");
    let domain = root
        .children()
        .find(|n| n.has_tag_name("domain"))
        .expect("a <domain> in <domstatus>");
    // The domain's text, less every <privateData> in it (cut by the ranges roxmltree gives).
    let mut cuts: Vec<_> = domain
        .descendants()
        .filter(|n| n.has_tag_name("privateData"))
        .map(|n| n.range())
        .collect();
    cuts.sort_by_key(|range| range.start);
    let mut public = String::new();
    let mut at = domain.range().start;
    for cut in cuts {
        public.push_str(&text[at..cut.start]);
        at = cut.end;
    }
    public.push_str(&text[at..domain.range().end]);

    let temp = tempfile::tempdir().expect("a temporary directory");
    let public_path = temp.path().join("domain.xml");
    fs::File::create(&public_path)
        .and_then(|mut file| file.write_all(public.as_bytes()))
        .expect("the domain written");
    validate(&public_path);
    // The private data changes nothing of what is read.
    assert_eq!(parse_file(&path), parse_file(&public_path));
}

#[test]
fn virsh_defines_each_fixture_and_dumps_it_back_as_the_same_domain() {
    for fixture in fixtures() {
        if fixture.file_name().is_some_and(|name| name == STATUS_XML) {
            continue;
        }
        let domain = parse_file(&fixture);
        let name = domain.name.clone().expect("a fixture names its domain");
        let script = format!("define {}; dumpxml {name}", fixture.display());
        let output = run("virsh", &["-q", "-c", "test:///default", &script]);
        assert!(
            output.status.success(),
            "virsh {script}: {}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        let shown = format!("virsh dumpxml {name}");
        let dumped = parse_domain(Path::new(&shown), &output.stdout)
            .unwrap_or_else(|err| panic!("{err}\n{}", String::from_utf8_lossy(&output.stdout)));
        assert_eq!(dumped, domain, "{}", fixture.display());
        if domain.nova.is_some() {
            // libvirt keeps Nova's metadata as Nova wrote it.
            assert!(
                dumped.instance("compute-1").is_some(),
                "{}",
                fixture.display()
            );
        }
    }
}
