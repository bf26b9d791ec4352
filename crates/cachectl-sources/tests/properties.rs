//! Property tests of the command's own parsers, on every `cargo test`: the inventory,
//! `compute_nodes` and acknowledgement files never panic, and their errors say where; servers
//! written as Nova's API writes them read back as the records they are. Nor do libvirt's domain
//! XML and nova.conf panic; the disks a well-formed domain lists are the ones read, and
//! nova.conf's entries print back as a file that parses to them.

use std::fs;
use std::path::Path;

use cachectl_policy::{ReadAs, UnreadableFile};
use cachectl_sources::ack::{self, AckError};
use cachectl_sources::inventory::{InventoryError, parse};
use cachectl_sources::nova_conf::{self, ConfigError, Defaults, NovaConf, ParsedFile, Provenance};
use cachectl_sources::registry::{Registry, read_registry};
use proptest::prelude::*;

/// JSON-ish input around the keys the inventory and the registry use.
fn json_ish() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just(",".to_owned()),
        Just(":".to_owned()),
        Just("\n".to_owned()),
        Just(r#""instances""#.to_owned()),
        Just(r#""uuid""#.to_owned()),
        Just(r#""image_ref""#.to_owned()),
        Just(r#""swap_mb""#.to_owned()),
        Just(r#""ephemeral_gb""#.to_owned()),
        Just(r#""host""#.to_owned()),
        Just(r#""servers""#.to_owned()),
        Just(r#""servers_links""#.to_owned()),
        Just(r#""id""#.to_owned()),
        Just(r#""OS-EXT-SRV-ATTR:host""#.to_owned()),
        Just(r#""image""#.to_owned()),
        Just(r#""flavor""#.to_owned()),
        Just(r#""swap""#.to_owned()),
        Just(r#""ephemeral""#.to_owned()),
        Just(r#""ID""#.to_owned()),
        Just(r#""Host""#.to_owned()),
        Just(r#""Task State""#.to_owned()),
        Just(r#""Image ID""#.to_owned()),
        Just(r#""""#.to_owned()),
        Just("null".to_owned()),
        Just("1e999".to_owned()),
        Just("-1".to_owned()),
        Just("18446744073709551616".to_owned()),
        "\"[^\"]{0,8}\"",
    ];
    prop_oneof![
        proptest::collection::vec(token, 0..40).prop_map(|t| t.concat().into_bytes()),
        proptest::collection::vec(any::<u8>(), 0..200),
    ]
}

/// A server as the API may give it: uuid, host (null when never scheduled), image id (`""` when
/// it boots from a volume), swap MB, ephemeral GB, task state.
type ServerFields = (String, Option<String>, String, u64, u64, Option<String>);

fn server_fields() -> impl Strategy<Value = ServerFields> {
    (
        "[0-9a-f-]{1,36}",
        proptest::option::of("[a-z0-9.-]{0,12}"),
        "[0-9a-f-]{0,36}",
        0..1u64 << 20,
        0..1u64 << 12,
        proptest::option::of("[a-z_]{1,20}"),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn servers_detail_reads_back_as_the_records_it_was_written_from(
        servers in proptest::collection::vec(server_fields(), 0..8)
    ) {
        let json: Vec<serde_json::Value> = servers
            .iter()
            .map(|(id, host, image, swap, ephemeral, task)| {
                let image = if image.is_empty() {
                    serde_json::json!("")
                } else {
                    serde_json::json!({"id": image, "links": []})
                };
                serde_json::json!({
                    "id": id, "OS-EXT-SRV-ATTR:host": host, "image": image,
                    "flavor": {"swap": swap, "ephemeral": ephemeral, "ram": 512},
                    "OS-EXT-STS:task_state": task, "status": "ACTIVE",
                })
            })
            .collect();
        let bytes = serde_json::to_vec_pretty(&serde_json::json!({"servers": json}))
            .expect("JSON");
        let inventory = parse(Path::new("servers.json"), &bytes).expect("an inventory");
        let placed: Vec<&ServerFields> = servers
            .iter()
            .filter(|(_, host, ..)| host.as_deref().is_some_and(|h| !h.is_empty()))
            .collect();
        prop_assert_eq!(inventory.on_no_host, servers.len() - placed.len());
        prop_assert_eq!(inventory.instances.len(), placed.len());
        for (record, (id, host, image, swap, ephemeral, task)) in
            inventory.instances.iter().zip(placed)
        {
            prop_assert_eq!(&record.uuid, id);
            prop_assert_eq!(&record.name, id);
            prop_assert_eq!(Some(record.host.as_str()), host.as_deref());
            prop_assert_eq!(record.image_ref.as_deref(), Some(image.as_str()).filter(|i| !i.is_empty()));
            prop_assert_eq!((record.swap_mb, record.ephemeral_gb), (Some(*swap), Some(*ephemeral)));
            prop_assert_eq!(record.task_state.as_deref(), task.as_deref());
        }
    }

    #[test]
    fn an_inventory_parses_or_names_a_line_of_it(bytes in json_ish()) {
        match parse(Path::new("inventory.json"), &bytes) {
            Ok(_) => {}
            Err(InventoryError::Malformed { line, .. }) => {
                let lines = 1 + bytes.iter().filter(|&&b| b == b'\n').count();
                prop_assert!((1..=lines).contains(&line), "line {} of {}", line, lines);
            }
            Err(other) => prop_assert!(!other.to_string().is_empty()),
        }
    }

    #[test]
    fn any_compute_nodes_reads_without_panicking(bytes in json_ish()) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        fs::write(dir.path().join("compute_nodes"), &bytes).expect("a registry");
        // A registry that reads names exactly the hosts of a JSON object (`{}` names none).
        let instances = cachectl_fs::Dir::open(dir.path()).expect("the directory");
        if let Ok(Registry::Hosts(hosts)) = read_registry(&instances) {
            let object: serde_json::Map<String, serde_json::Value> =
                serde_json::from_slice(&bytes).expect("a registry that reads is a JSON object");
            prop_assert_eq!(hosts.len(), object.len());
            prop_assert!(hosts.keys().all(|host| object.contains_key(host)));
        }
    }

    #[test]
    fn acknowledgements_parse_or_name_a_line_and_read_back_as_printed(
        bytes in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..200),
            (any::<u64>(), any::<u64>(), any::<i64>(), ".{0,24}", any::<bool>()).prop_map(
                |(ino, size, mtime, path, quoted)| {
                    let path = if quoted { format!("{path:?}") } else { path };
                    format!("# a comment\n{ino} {size} {mtime} {path}\n").into_bytes()
                },
            ),
        ]
    ) {
        match ack::parse(Path::new("acks"), &bytes) {
            Ok(acks) => {
                for acknowledged in acks {
                    let file = UnreadableFile {
                        path: acknowledged.path.clone(),
                        problem: String::new(),
                        read_as: ReadAs::NovaDiskName,
                        identity: Some(acknowledged.identity),
                    };
                    let printed = ack::line(&file).expect("an identity");
                    prop_assert!(!printed.contains('\n'));
                    let again = ack::parse(Path::new("acks"), printed.as_bytes())
                        .expect("a printed line reads back");
                    prop_assert_eq!(&again, &vec![acknowledged]);
                }
            }
            Err(AckError::Malformed { line, .. }) => {
                let lines = 1 + bytes.iter().filter(|&&b| b == b'\n').count();
                prop_assert!((1..=lines).contains(&line), "line {} of {}", line, lines);
            }
            Err(other) => prop_assert!(false, "{}", other),
        }
    }
}

/// XML-ish token soup around the elements and attributes the domain reader looks at.
fn xml_ish() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        proptest::sample::select(vec![
            "<domain type='kvm'>",
            "</domain>",
            "<domstatus state='running'>",
            "</domstatus>",
            "<uuid>u-1</uuid>",
            "<name>instance-0000002a</name>",
            "<devices>",
            "</devices>",
            "<disk type='file' device='disk'>",
            "<disk type='network'>",
            "<disk>",
            "</disk>",
            "<driver name='qemu' type='qcow2'/>",
            "<source file='/var/lib/nova/instances/_base/x'/>",
            "<source protocol='rbd' name='vms/x'>",
            "</source>",
            "<source file=''/>",
            "<backingStore type='file'>",
            "<backingStore/>",
            "</backingStore>",
            "<format type='raw'/>",
            "<metadata>",
            "</metadata>",
            "<nova:instance xmlns:nova='http://openstack.org/xmlns/libvirt/nova/1.1'>",
            "</nova:instance>",
            "<nova:flavor name='f'>",
            "</nova:flavor>",
            "<nova:swap>",
            "</nova:swap>",
            "<nova:root type='image' uuid='i'/>",
            "<nova:root type='volume'/>",
            "512",
            "-1",
            "18446744073709551616",
            "&amp;",
            "&lol;",
            "&#0;",
            "<!DOCTYPE domain [<!ENTITY lol 'lol'>]>",
            "<![CDATA[x]]>",
            "<!-- c -->",
            "<?xml version='1.0'?>",
            "\n",
            "é",
            "\u{feff}",
        ])
        .prop_map(str::to_owned),
        "[a-z<>/=' \n\"&;:]{0,8}",
    ];
    prop_oneof![
        proptest::collection::vec(token, 0..48).prop_map(|t| t.concat().into_bytes()),
        proptest::collection::vec(any::<u8>(), 0..200),
    ]
}

/// `text` escaped for an XML attribute in single quotes.
fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('\'', "&apos;")
}

/// A domain of Nova's with this swap and these disks: (kind, name of the source, depth of the
/// backing chain, which libvirt ends).
fn domain_with(disks: &[(&str, String, usize)], swap: u64) -> String {
    let mut xml = String::from(
        "<domain type='kvm'><uuid>u</uuid><name>n</name><metadata>\
         <o:instance xmlns:o='http://openstack.org/xmlns/libvirt/nova/1.1'>",
    );
    xml += &format!("<o:flavor><o:swap>{swap}</o:swap></o:flavor></o:instance></metadata>");
    xml += "<devices>";
    for (kind, name, depth) in disks {
        let attribute = match *kind {
            "file" => "file",
            "block" => "dev",
            _ => "name",
        };
        xml += &format!(
            "<disk type='{kind}'><source protocol='rbd' {attribute}='{}'/>",
            escaped(name)
        );
        xml += &"<backingStore type='file'><format type='raw'/><source file='/b'/>".repeat(*depth);
        xml += "<backingStore/>";
        xml += &"</backingStore>".repeat(*depth);
        xml += "</disk>";
    }
    xml + "</devices></domain>"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_domain_xml_parses_or_names_a_line_of_it(bytes in xml_ish()) {
        use cachectl_sources::libvirt::{DiskKind, DomainError, Root, parse_domain};
        match parse_domain(Path::new("d.xml"), &bytes) {
            Ok(domain) => {
                for disk in &domain.disks {
                    prop_assert!(!disk.described.is_empty());
                    if let Some(file) = disk.file() {
                        prop_assert_eq!(&disk.kind, &DiskKind::File);
                        prop_assert_eq!(file.to_string_lossy(), disk.described.as_str());
                    }
                }
                match domain.instance("compute-1") {
                    Some(instance) => {
                        prop_assert_eq!(Some(instance.uuid.as_str()), domain.uuid.as_deref());
                        prop_assert_eq!(Some(instance.name.as_str()), domain.name.as_deref());
                        let root = domain.nova.as_ref().and_then(|n| n.root.clone());
                        let image = match root {
                            Some(Root::Image(image)) => Some(image),
                            _ => None,
                        };
                        prop_assert_eq!(instance.image_ref.as_deref(), image.as_deref());
                    }
                    None => prop_assert!(
                        domain.nova.is_none() || domain.uuid.is_none() || domain.name.is_none()
                    ),
                }
            }
            Err(DomainError::Malformed { line, column, .. }) => {
                let lines = 1 + bytes.iter().filter(|&&b| b == b'\n').count();
                prop_assert!((1..=lines).contains(&line), "line {} of {}", line, lines);
                prop_assert!(column >= 1);
            }
            Err(other) => prop_assert!(false, "{}", other),
        }
    }

    #[test]
    fn the_disks_written_in_a_domain_are_the_disks_read(
        disks in proptest::collection::vec(
            (
                prop_oneof![Just("file"), Just("block"), Just("network")],
                "[ -~é\n]{1,24}",
                0..3usize,
            ),
            0..6,
        ),
        swap in any::<u64>(),
    ) {
        use cachectl_sources::libvirt::parse_domain;
        let xml = domain_with(&disks, swap);
        let domain =
            parse_domain(Path::new("d.xml"), xml.as_bytes()).expect("a well-formed domain");
        prop_assert_eq!(domain.disks.len(), disks.len());
        // XML normalises a newline in an attribute to a space.
        for (disk, (kind, name, depth)) in domain.disks.iter().zip(&disks) {
            let name = name.replace('\n', " ");
            let expected = match *kind {
                "network" => format!("rbd:{name}"),
                _ => name.clone(),
            };
            prop_assert_eq!(disk.kind.as_str(), *kind);
            prop_assert_eq!(&disk.described, &expected);
            prop_assert_eq!(disk.file().is_some(), *kind == "file");
            prop_assert_eq!(disk.backing.stores.len(), *depth);
            prop_assert!(disk.backing.complete);
        }
        let instance = domain.instance("h").expect("Nova's domain");
        prop_assert_eq!(instance.swap_mb, Some(swap));
    }
}

/// nova.conf-ish input: headers, separators, quotes, continuation, `$` forms and option names.
fn nova_conf_ish() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        Just("[DEFAULT]\n"),
        Just("[image_cache]\n"),
        Just("[LIBVIRT]\n"),
        Just("["),
        Just("]"),
        Just("\n"),
        Just("\r\n"),
        Just("\r"),
        Just("  "),
        Just("\t"),
        Just(" = "),
        Just(":"),
        Just("#"),
        Just(";"),
        Just("\""),
        Just("'"),
        Just("$"),
        Just("${"),
        Just("}"),
        Just("$$"),
        Just("\\$"),
        Just("\u{c}"),
        Just("\u{feff}"),
        Just("é"),
        Just("state_path"),
        Just("instances_path"),
        Just("host"),
        Just("my_ip"),
        Just("subdirectory_name"),
        Just("manager_interval"),
        Just("image_cache_manager_interval"),
        Just("remove_unused_base_images"),
        Just("virt_mkfs"),
        Just("images_type"),
        Just("true"),
        Just("-1"),
        Just("qcow2"),
        Just("default=mkfs.ext4 -L %(fs_label)s"),
        Just("$state_path"),
        Just("${DEFAULT.host}"),
        Just("${image_cache.manager_interval}"),
        Just("/srv/nova"),
    ];
    prop_oneof![
        // Half of them start in a section, so that values get as far as being resolved.
        (any::<bool>(), proptest::collection::vec(token, 0..60)).prop_map(|(header, tokens)| {
            let start = if header { "[DEFAULT]\n" } else { "" };
            format!("{start}{}", tokens.concat()).into_bytes()
        }),
        proptest::collection::vec(any::<u8>(), 0..200),
    ]
}

/// The lines of `bytes` as Python counts them (`\n`, `\r\n` and `\r` end a line).
fn python_lines(bytes: &[u8]) -> usize {
    let breaks = bytes
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n')))
        .count();
    1 + breaks
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_nova_conf_parses_or_names_a_line_of_it_and_what_parses_prints_back(
        bytes in nova_conf_ish()
    ) {
        let path = Path::new("nova.conf");
        let lines = python_lines(&bytes);
        let entries = match nova_conf::parse(path, &bytes) {
            Ok(entries) => entries,
            Err(ConfigError::Malformed { line, .. }) => {
                prop_assert!((1..=lines).contains(&line), "line {} of {}", line, lines);
                return Ok(());
            }
            Err(other) => return Err(TestCaseError::fail(other.to_string())),
        };
        for entry in &entries {
            prop_assert!((1..=lines).contains(&entry.line));
            prop_assert!(!entry.key.is_empty() && !entry.section.is_empty());
        }
        let printed = nova_conf::render(&entries);
        let again = nova_conf::parse(path, printed.as_bytes())
            .map_err(|err| TestCaseError::fail(format!("{err}\n{printed}")))?;
        let strip = |es: &[nova_conf::Entry]| -> Vec<(String, String, String)> {
            es.iter().map(|e| (e.section.clone(), e.key.clone(), e.value.clone())).collect()
        };
        prop_assert_eq!(strip(&again), strip(&entries));

        // Resolving never panics; an error names a line of the file, or a default.
        let defaults = Defaults { host: "compute-1".to_owned(), my_ip: None };
        let files = [ParsedFile { path: path.to_owned(), entries }];
        let in_file = |from: &Provenance| match from {
            Provenance::File { path: p, line } => p == path && (1..=lines).contains(line),
            Provenance::Default => true,
        };
        match NovaConf::from_parsed(&files, &defaults) {
            Ok(conf) => {
                prop_assert!(conf.manager_interval.value >= -1);
                prop_assert!(in_file(&conf.instances_path.from) && in_file(&conf.host.from));
                prop_assert!(conf.virt_mkfs.iter().all(|s| in_file(&s.from)));
            }
            Err(ConfigError::BadValue { from, .. } | ConfigError::Substitution { from, .. }) => {
                prop_assert!(in_file(&from), "{:?}", from);
            }
            Err(other) => return Err(TestCaseError::fail(other.to_string())),
        }
    }
}
