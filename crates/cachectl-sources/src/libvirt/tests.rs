//! Unit tests of the domain reader: every field, namespaces, disk kinds, backing chains, the
//! status XML, errors with their place, and the bounds on what is read.

use std::path::{Path, PathBuf};

use super::*;

const INSTANCE: &str = "4f0e2b0c-5f39-4a55-9d6c-0c9b1f3f8a11";
const IMAGE: &str = "155d900f-4e14-4e4c-a73d-069cbf4541e6";

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/libvirt")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

#[track_caller]
fn parse(xml: &str) -> Domain {
    parse_domain(Path::new("d.xml"), xml.as_bytes()).unwrap_or_else(|err| panic!("{err}"))
}

#[track_caller]
fn check_error(xml: &[u8], expected: &str) {
    let err = parse_domain(Path::new("d.xml"), xml)
        .map(|_| ())
        .map_err(|e| e.to_string());
    assert_eq!(err, Err(expected.to_owned()));
}

/// The disks of `<domain><devices>{disks}</devices></domain>`.
#[track_caller]
fn disks(disks: &str) -> Vec<DomainDisk> {
    parse(&format!(
        "<domain type='kvm'><devices>{disks}</devices></domain>"
    ))
    .disks
}

fn file_disk(name: &str, format: &str, target: &str, device: &str) -> DomainDisk {
    let path = format!("/var/lib/nova/instances/{INSTANCE}/{name}");
    DomainDisk {
        kind: DiskKind::File,
        device: device.to_owned(),
        format: Some(format.to_owned()),
        source: Some(PathBuf::from(&path)),
        described: path,
        target: Some(target.to_owned()),
        backing: BackingChain::default(),
    }
}

fn store(kind: DiskKind, format: &str, file: Option<&str>, described: &str) -> BackingStore {
    BackingStore {
        kind,
        format: Some(format.to_owned()),
        source: file.map(PathBuf::from),
        described: described.to_owned(),
    }
}

fn base(name: &str) -> BackingStore {
    let path = format!("/var/lib/nova/instances/_base/{name}");
    store(DiskKind::File, "raw", Some(&path), &path)
}

fn nova_34_metadata() -> NovaMetadata {
    NovaMetadata {
        namespace: NOVA_NAMESPACE,
        package: Some("34.0.0".to_owned()),
        display_name: Some("web-1".to_owned()),
        creation_time: Some("2026-11-30 09:12:44".to_owned()),
        flavor: Some(Flavor {
            name: Some("m1.small.eph".to_owned()),
            id: Some("7c3a1e55-2f0b-4d55-8f43-7b1de0c1a9e2".to_owned()),
            memory_mb: Some(2048),
            disk_gb: Some(20),
            swap_mb: Some(512),
            ephemeral_gb: Some(10),
            vcpus: Some(2),
        }),
        os_type: Some("linux".to_owned()),
        owner: Some(Owner {
            user_uuid: Some("3472c2a6-de91-4fb5-b618-42bc781ef670".to_owned()),
            user_name: Some("demo".to_owned()),
            project_uuid: Some("f241e906-010e-4917-ae81-53f4fb8aa021".to_owned()),
            project_name: Some("demo".to_owned()),
        }),
        root: Some(Root::Image(IMAGE.to_owned())),
        ports: vec!["8b3d4e2a-1c6f-4b7e-9a0d-2e5f6a7b8c9d".to_owned()],
    }
}

#[test]
fn every_field_of_the_domain_nova_34_writes() -> Result<(), DomainError> {
    let domain = parse_domain(Path::new("nova-qcow2.xml"), &fixture("nova-qcow2.xml"))?;
    let expected = Domain {
        uuid: Some(INSTANCE.to_owned()),
        name: Some("instance-0000002a".to_owned()),
        disks: vec![
            file_disk("disk", "qcow2", "vda", "disk"),
            file_disk("disk.local", "qcow2", "vdb", "disk"),
            file_disk("disk.swap", "qcow2", "vdc", "disk"),
            file_disk("disk.config", "raw", "sda", "cdrom"),
        ],
        nova: Some(nova_34_metadata()),
    };
    assert_eq!(domain, expected);
    Ok(())
}

#[test]
fn the_status_xml_of_a_running_guest_gives_its_live_domain_and_chains() -> Result<(), DomainError> {
    let status = parse_domain(
        Path::new("run-libvirt-qemu.xml"),
        &fixture("run-libvirt-qemu.xml"),
    )?;
    let mut disks = vec![
        file_disk("disk", "qcow2", "vda", "disk"),
        file_disk("disk.local", "qcow2", "vdb", "disk"),
        file_disk("disk.swap", "qcow2", "vdc", "disk"),
        file_disk("disk.config", "raw", "sda", "cdrom"),
    ];
    let bases = [
        "f2d1a8250ed3d4b744a8250dab8f6840179d502a",
        "ephemeral_10_40d1d2c",
        "swap_512",
    ];
    for (disk, name) in disks.iter_mut().zip(bases) {
        disk.backing.stores = vec![base(name)];
    }
    for disk in &mut disks {
        disk.backing.complete = true;
    }
    assert_eq!(
        status,
        Domain {
            uuid: Some(INSTANCE.to_owned()),
            name: Some("instance-0000002a".to_owned()),
            disks,
            nova: Some(nova_34_metadata()),
        }
    );
    // `virsh dumpxml` of the same guest says the same; libvirt's stored definition says the
    // same without the chains.
    let live = parse_domain(Path::new("live.xml"), &fixture("virsh-dumpxml-running.xml"))?;
    assert_eq!(live, status);
    let defined = parse_domain(Path::new("etc.xml"), &fixture("etc-libvirt-qemu.xml"))?;
    assert!(defined.disks.iter().all(|d| !d.backing.is_known()));
    assert_eq!(defined.nova, status.nova);
    Ok(())
}

#[test]
fn a_domstatus_is_read_only_through_its_domain() {
    let domain = parse(
        "<domstatus state='running'>
           <devices><disk type='file'><source file='/not/the/domain'/></disk></devices>
           <domain type='kvm'><name>instance-00000001</name></domain>
         </domstatus>",
    );
    assert_eq!(domain.name.as_deref(), Some("instance-00000001"));
    assert!(domain.disks.is_empty());
    check_error(
        b"<domstatus state='running'>\n  <devices/>\n</domstatus>",
        "d.xml:1:1: libvirt's status XML <domstatus> holds no <domain>",
    );
}

#[test]
fn nova_metadata_is_found_by_namespace_never_by_prefix() {
    let with = |metadata: &str| {
        parse(&format!(
            "<domain><uuid>u</uuid><name>n</name><metadata>{metadata}</metadata></domain>"
        ))
        .nova
    };
    let root = |nova: Option<NovaMetadata>| nova.and_then(|n| n.root);
    let image = Some(Root::Image("i".to_owned()));
    // Any prefix, or none.
    assert_eq!(
        root(with(
            r#"<os:instance xmlns:os="http://openstack.org/xmlns/libvirt/nova/1.1"><os:root type="image" uuid="i"/></os:instance>"#
        )),
        image
    );
    assert_eq!(
        root(with(
            r#"<instance xmlns="http://openstack.org/xmlns/libvirt/nova/1.1"><root type="image" uuid="i"/></instance>"#
        )),
        image
    );
    // The prefix `nova` bound to another namespace is not Nova's.
    assert_eq!(
        with(
            r#"<nova:instance xmlns:nova="urn:not-nova"><nova:root type="image" uuid="i"/></nova:instance>"#
        ),
        None
    );
    // Nova's element names in no namespace, or children in another one, are not Nova's.
    assert_eq!(
        with(r#"<instance><root type="image" uuid="i"/></instance>"#),
        None
    );
    assert_eq!(
        root(with(
            r#"<n:instance xmlns:n="http://openstack.org/xmlns/libvirt/nova/1.1"><x:root xmlns:x="urn:x" type="image" uuid="i"/></n:instance>"#
        )),
        None
    );
    // Other applications' metadata first, then Nova's in the 1.0 namespace (Nova 2014.2 to 22).
    let old = with(
        r#"<app:x xmlns:app="urn:app"/><nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.0"><nova:name>old</nova:name></nova:instance>"#,
    );
    assert_eq!(
        old.map(|n| (n.namespace, n.display_name)),
        Some((NOVA_NAMESPACE_1_0, Some("old".to_owned())))
    );
}

#[test]
fn libvirt_elements_are_in_no_namespace() {
    let domain = parse(
        r#"<domain xmlns:x="urn:x"><x:uuid>u</x:uuid><devices><x:disk type="file"><source file="/f"/></x:disk></devices></domain>"#,
    );
    assert_eq!((domain.uuid, domain.disks.len()), (None, 0));
    check_error(
        b"<domain xmlns='urn:x'/>",
        "d.xml:1:1: expected <domain> (a domain XML) or <domstatus> (libvirt's status XML), found <domain> (in urn:x)",
    );
    check_error(
        b"\n<network><name>default</name></network>",
        "d.xml:2:1: expected <domain> (a domain XML) or <domstatus> (libvirt's status XML), found <network>",
    );
}

#[test]
fn disks_that_are_not_files_say_what_they_are() {
    let found = disks(
        "<disk type='block' device='disk'><driver name='qemu' type='raw'/><source dev='/dev/nova-vg/u_disk'/><target dev='vda'/></disk>
         <disk type='network' device='disk'><driver type='raw'/><source protocol='rbd' name='vms/u_disk'><host name='10.0.0.1' port='6789'/></source></disk>
         <disk type='network'><source protocol='nbd'><host name='example.org' port='10809'/></source></disk>
         <disk type='network'><source protocol='nbd'><host transport='unix' socket='/run/nbd.sock'/></source></disk>
         <disk type='volume' device='lun'><source pool='pool-a' volume='vol-1'/></disk>
         <disk type='dir' device='floppy'><source dir='/srv/floppy'/></disk>
         <disk type='nvme'><source type='pci' managed='yes' namespace='1'/></disk>
         <disk type='file' device='cdrom'><target dev='sda'/></disk>
         <disk type='file' device='cdrom'><source file=''/></disk>
         <disk><source file='/no/type'/></disk>",
    );
    let seen: Vec<(&str, &str, Option<&Path>, &str)> = found
        .iter()
        .map(|d| {
            (
                d.kind.as_str(),
                d.device.as_str(),
                d.file(),
                d.described.as_str(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("block", "disk", None, "/dev/nova-vg/u_disk"),
            ("network", "disk", None, "rbd:vms/u_disk"),
            ("network", "disk", None, "nbd://example.org:10809"),
            ("network", "disk", None, "nbd:///run/nbd.sock"),
            ("volume", "lun", None, "pool-a/vol-1"),
            ("dir", "floppy", None, "/srv/floppy"),
            ("nvme", "disk", None, "type=pci managed=yes namespace=1"),
            ("file", "cdrom", None, "no source"),
            ("file", "cdrom", None, "no source"),
            ("file", "disk", Some(Path::new("/no/type")), "/no/type"),
        ]
    );
    assert_eq!(found[0].format.as_deref(), Some("raw"));
    assert_eq!(found[0].target.as_deref(), Some("vda"));
    assert_eq!(found[6].kind, DiskKind::Other("nvme".to_owned()));
}

#[test]
fn fixtures_of_other_images_types_have_no_file_disks_but_the_config_drive()
-> Result<(), DomainError> {
    let rbd = parse_domain(Path::new("rbd.xml"), &fixture("nova-rbd.xml"))?;
    let described: Vec<&str> = rbd.disks.iter().map(|d| d.described.as_str()).collect();
    let u = "a8c2d6b4-7e1f-4c3a-b5d9-0f2e4a6c8b1d";
    assert_eq!(
        described,
        [
            format!("rbd:vms/{u}_disk"),
            format!("rbd:vms/{u}_disk.local"),
            format!("rbd:vms/{u}_disk.swap"),
            format!("rbd:vms/{u}_disk.config"),
        ]
    );
    assert!(
        rbd.disks
            .iter()
            .all(|d| d.kind == DiskKind::Network && d.file().is_none())
    );

    let lvm = parse_domain(Path::new("lvm.xml"), &fixture("nova-lvm.xml"))?;
    let kinds: Vec<(&str, bool)> = lvm
        .disks
        .iter()
        .map(|d| (d.kind.as_str(), d.file().is_some()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("block", false),
            ("block", false),
            ("block", false),
            ("file", true)
        ]
    );

    let volume = parse_domain(Path::new("bfv.xml"), &fixture("nova-volume-backed.xml"))?;
    let nova = volume.nova.as_ref().expect("Nova's metadata");
    assert_eq!(nova.root, Some(Root::Volume(None)));
    let instance = volume.instance("compute-1").expect("an instance");
    assert_eq!(
        (instance.image_ref, instance.swap_mb, instance.ephemeral_gb),
        (None, Some(512), Some(0))
    );
    Ok(())
}

#[test]
fn an_absent_backing_store_is_not_known_an_empty_one_ends_the_chain() {
    let chain = |inner: &str| {
        disks(&format!(
            "<disk type='file'><driver type='qcow2'/><source file='/top'/>{inner}</disk>"
        ))
        .remove(0)
        .backing
    };
    let unknown = chain("");
    assert_eq!(unknown, BackingChain::default());
    assert!(!unknown.is_known());
    let none = chain("<backingStore/>");
    assert_eq!(
        none,
        BackingChain {
            stores: vec![],
            complete: true
        }
    );
    assert!(none.is_known());

    let two = chain(
        "<backingStore type='file' index='2'>
           <format type='qcow2'/><source file='/mid'/>
           <backingStore type='block' index='3'><format type='raw'/><source dev='/dev/sdb'/><backingStore/></backingStore>
         </backingStore>",
    );
    assert_eq!(
        two,
        BackingChain {
            stores: vec![
                store(DiskKind::File, "qcow2", Some("/mid"), "/mid"),
                store(DiskKind::Block, "raw", None, "/dev/sdb"),
            ],
            complete: true,
        }
    );
    // A chain that stops without its terminator: what is below is not known.
    let partial = chain(
        "<backingStore type='file'><format type='raw'/><source file='/base'/></backingStore>",
    );
    assert_eq!(partial.stores.len(), 1);
    assert!(!partial.complete);
    // As libvirt reads it, a <backingStore> without a type is the terminator, whatever it holds.
    let untyped = chain("<backingStore><format type='raw'/><source file='/base'/></backingStore>");
    assert_eq!(
        untyped,
        BackingChain {
            stores: vec![],
            complete: true
        }
    );
}

#[test]
fn a_chain_nested_deeper_than_any_real_one_is_read_without_recursion() {
    let depth = 50_000;
    let xml = format!(
        "<domain><devices><disk type='file'><source file='/top'/>{}<backingStore/>{}</disk></devices></domain>",
        "<backingStore type='file'><source file='/b'/>".repeat(depth),
        "</backingStore>".repeat(depth)
    );
    let domain = parse(&xml);
    assert_eq!(domain.disks[0].backing.stores.len(), depth);
    assert!(domain.disks[0].backing.complete);
}

#[test]
fn malformed_xml_is_an_error_at_its_line_and_column() {
    check_error(
        b"<domain>\n  <name>x</nam>",
        "d.xml:2:10: expected 'name' tag, not 'nam'",
    );
    check_error(
        b"<domain>\n  <name>x</name>\n",
        "d.xml:3:1: the root node was opened but never closed",
    );
    check_error(b"", "d.xml:1:1: the document does not have a root node");
    check_error(
        b"<domain>\n<name>\xff</name></domain>",
        "d.xml:2:7: not UTF-8: libvirt writes domain XML in UTF-8",
    );
    check_error(
        b"<domain a='1' a='2'/>",
        "d.xml:1:15: attribute 'a' at 1:15 is already defined",
    );
    check_error(
        b"<domain>&nbsp;</domain>",
        "d.xml:1:9: unknown entity reference 'nbsp'",
    );
    check_error(
        b"<domain><metadata>\n<n:instance xmlns:n='http://openstack.org/xmlns/libvirt/nova/1.1'>\n  <n:flavor><n:swap>-1</n:swap></n:flavor></n:instance></metadata></domain>",
        "d.xml:3:13: <n:swap> is not a number of 0 or more: \"-1\"",
    );
    check_error(
        b"<domain><metadata><n:instance xmlns:n='http://openstack.org/xmlns/libvirt/nova/1.1'><n:root type='image' uuid=''/></n:instance></metadata></domain>",
        "d.xml:1:85: <n:root> of type image names no image (no uuid)",
    );
    check_error(
        b"<domain><metadata><n:instance xmlns:n='http://openstack.org/xmlns/libvirt/nova/1.1'><n:root uuid='i'/></n:instance></metadata></domain>",
        "d.xml:1:85: <n:root> has no type (image or volume)",
    );
}

#[test]
fn a_dtd_and_its_entities_are_refused() {
    let laughs = br#"<?xml version="1.0"?>
<!DOCTYPE domain [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<domain><name>&lol3;</name></domain>"#;
    let refused = "d.xml:1:1: a DTD (<!DOCTYPE>): refused, libvirt writes none and its entities are never expanded";
    check_error(laughs, refused);
    check_error(
        b"<!DOCTYPE domain SYSTEM \"file:///etc/shadow\"><domain/>",
        refused,
    );
}

#[test]
fn what_is_read_is_bounded() {
    // Exactly the limit parses; one byte more is refused before any parsing.
    let open = b"<domain><name>big</name><!--";
    let close = b"--></domain>";
    let mut xml = open.to_vec();
    xml.resize(MAX_DOMAIN_LEN as usize - close.len(), b' ');
    xml.extend_from_slice(close);
    assert_eq!(xml.len() as u64, MAX_DOMAIN_LEN);
    assert!(parse_domain(Path::new("d.xml"), &xml).is_ok());
    xml.insert(open.len(), b' ');
    check_error(
        &xml,
        "d.xml: 4194305 bytes, larger than a domain XML may be (4 MiB)",
    );
    // Many small nodes within the limit.
    let many = format!("<domain>{}</domain>", "<a/>".repeat(300_000));
    check_error(
        many.as_bytes(),
        "d.xml:1:1: more than 200000 XML nodes: not a domain",
    );
}

#[test]
fn the_instance_record_comes_from_nova_s_metadata() -> Result<(), DomainError> {
    let domain = parse_domain(Path::new("nova-qcow2.xml"), &fixture("nova-qcow2.xml"))?;
    let instance = domain.instance("compute-1").expect("Nova's domain");
    assert_eq!(
        instance,
        cachectl_policy::Instance {
            uuid: INSTANCE.into(),
            name: "instance-0000002a".into(),
            host: "compute-1".into(),
            image_ref: Some(IMAGE.into()),
            kernel_id: None,
            ramdisk_id: None,
            task_state: None,
            vm_state: None,
            swap_mb: Some(512),
            ephemeral_gb: Some(10),
            os_type: Some("linux".into()),
        }
    );
    // The cache names the record keeps are the ones the live chains reach.
    let fp = cachectl_naming::fingerprint(IMAGE);
    assert_eq!(fp.as_str(), "f2d1a8250ed3d4b744a8250dab8f6840179d502a");
    let ephemeral = cachectl_naming::ephemeral_name(10, Some("linux"), &Default::default());
    assert!(
        ephemeral.iter().any(|name| name == "ephemeral_10_40d1d2c"),
        "{ephemeral:?}"
    );

    let not_nova = parse("<domain><uuid>u</uuid><name>n</name></domain>");
    assert_eq!(not_nova.instance("h"), None);
    let no_uuid = Domain {
        uuid: None,
        ..domain.clone()
    };
    assert_eq!(no_uuid.instance("h"), None);
    Ok(())
}

#[test]
fn the_libvirt_xml_of_an_old_instance_directory_reads_in_the_1_0_namespace()
-> Result<(), DomainError> {
    let domain = parse_domain(Path::new("libvirt.xml"), &fixture("instance-libvirt.xml"))?;
    let nova = domain.nova.as_ref().expect("Nova's metadata");
    assert_eq!(nova.namespace, NOVA_NAMESPACE_1_0);
    assert_eq!(nova.package.as_deref(), Some("14.0.3"));
    assert_eq!(nova.flavor.as_ref().and_then(|f| f.id.as_deref()), None);
    assert!(nova.ports.is_empty());
    let instance = domain.instance("compute-1").expect("an instance");
    assert_eq!(
        (instance.image_ref.as_deref(), instance.swap_mb),
        (Some("9f3e2d1c-0b4a-4c5d-8e6f-7a8b9c0d1e2f"), Some(0))
    );
    assert_eq!(domain.disks.len(), 2);
    Ok(())
}

#[test]
fn a_directory_of_domains_reads_each_xml_and_lists_what_fails() -> std::io::Result<()> {
    let temp = tempfile::tempdir()?;
    let dir = temp.path();
    std::fs::write(dir.join("b.xml"), fixture("nova-rbd.xml"))?;
    std::fs::write(dir.join("a.xml"), fixture("nova-qcow2.xml"))?;
    std::fs::write(dir.join("c.xml"), b"<domain>\n<uuid>")?;
    std::fs::write(dir.join("notes.txt"), b"not a domain")?;
    std::fs::write(dir.join(".xml"), b"no name")?;
    std::fs::create_dir(dir.join("autostart.xml"))?;
    std::os::unix::fs::symlink(dir.join("a.xml"), dir.join("link.xml"))?;
    rustix::fs::mknodat(
        rustix::fs::CWD,
        dir.join("pipe.xml"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )?;
    let (domains, errors) = read_domains(dir);
    let names: Vec<_> = domains
        .iter()
        .map(|(path, d)| (path.clone(), d.name.clone()))
        .collect();
    assert_eq!(
        names,
        [
            (dir.join("a.xml"), Some("instance-0000002a".to_owned())),
            (dir.join("b.xml"), Some("instance-0000002b".to_owned())),
        ]
    );
    let errors: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    let d = dir.display();
    assert_eq!(
        errors,
        [
            format!("{d}/c.xml:2:7: the root node was opened but never closed"),
            format!("cannot read the domain XML {d}/link.xml: is a symlink: not followed"),
            format!("cannot read the domain XML {d}/pipe.xml: is a fifo, not a regular file"),
        ]
    );

    let (none, errors) = read_domains(&dir.join("absent"));
    assert!(none.is_empty() && errors.is_empty(), "{errors:?}");
    let (none, errors) = read_domains(&dir.join("notes.txt"));
    assert!(none.is_empty());
    assert_eq!(errors.len(), 1, "{errors:?}");
    Ok(())
}

#[test]
fn a_file_given_by_the_operator_is_bounded() -> std::io::Result<()> {
    let temp = tempfile::tempdir()?;
    let path = temp.path().join("dumpxml.xml");
    std::fs::write(&path, fixture("virsh-dumpxml-running.xml"))?;
    let domain = load_domain(&path).map_err(std::io::Error::other)?;
    assert_eq!(domain.disks.len(), 4);

    std::fs::write(&path, vec![b' '; MAX_DOMAIN_LEN as usize + 1])?;
    let err = load_domain(&path).map(|_| ()).map_err(|e| e.to_string());
    assert_eq!(
        err,
        Err(format!(
            "cannot read the domain XML {}: larger than 4 MiB",
            path.display()
        ))
    );
    let err = load_domain(temp.path())
        .map(|_| ())
        .map_err(|e| e.to_string());
    assert_eq!(
        err,
        Err(format!(
            "cannot read the domain XML {}: is a directory, not a file",
            temp.path().display()
        ))
    );
    Ok(())
}

#[test]
fn an_error_names_its_file_quoted() {
    let err = parse_domain(Path::new("bad\nname.xml"), b"<x/>")
        .map(|_| ())
        .map_err(|e| e.to_string());
    assert_eq!(
        err,
        Err(r#""bad\nname.xml":1:1: expected <domain> (a domain XML) or <domstatus> (libvirt's status XML), found <x>"#.to_owned())
    );
}
