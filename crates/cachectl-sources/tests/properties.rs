//! Property tests of the command's own parsers, on every `cargo test`: the inventory,
//! `compute_nodes` and acknowledgement files never panic, and their errors say where; servers
//! written as Nova's API writes them read back as the records they are.

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
            prop_assert_eq!(Some(&record.host), host.as_ref());
            prop_assert_eq!(record.image_ref.as_deref(), Some(image.as_str()).filter(|i| !i.is_empty()));
            prop_assert_eq!((record.swap_mb, record.ephemeral_gb), (Some(*swap), Some(*ephemeral)));
            prop_assert_eq!(&record.task_state, task);
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
