//! Property tests of the command's own parsers, on every `cargo test`: the inventory,
//! `compute_nodes` and acknowledgement files never panic, and their errors say where.
//! Neither does nova.conf, whose entries also print back as a file that parses to them.

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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

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
