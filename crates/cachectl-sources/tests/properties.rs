//! Property tests of the command's own parsers, on every `cargo test`: the inventory,
//! `compute_nodes` and acknowledgement files never panic, and their errors say where.

use std::fs;
use std::path::Path;

use cachectl_policy::{ReadAs, UnreadableFile};
use cachectl_sources::ack::{self, AckError};
use cachectl_sources::inventory::{InventoryError, parse};
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
