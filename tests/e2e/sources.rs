//! The sources of truth besides the cache, read as an operator gives them: Nova's API and
//! `openstack server list` as inventories.

use std::collections::BTreeMap;
use std::fs;

use serde_json::{Value, json};

use crate::support::*;

const WEB: &str = "2f1c6a0e-5b7d-4c1e-9a3f-0d8e7b6c5a41";
const DB: &str = "7c9e4b12-0a3d-4f5e-8b6c-1d2e3f4a5b6c";
const IMAGE_DISK: &str = "155d900f-4e14-4e4c-a73d-069cbf4541e6";
const IMAGE_COPIED: &str = "0b1f3c7e-28a9-4d52-9e6c-5a1b2c3d4e5f";
const IMAGE_UNUSED: &str = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";

/// A host where web-1 boots from an overlay on one image and db-1 from a copy of another
/// (no backing file), and web-1's flavor has a 512 MB swap that no disk uses (yet).
fn host_of_two_servers() -> Host {
    let host = Host::new();
    for image in [IMAGE_DISK, IMAGE_COPIED, IMAGE_UNUSED] {
        host.base_file(&fp(image), 1 << 20, 30 * DAY);
    }
    host.base_file("swap_512", 1 << 20, 30 * DAY);
    host.overlay(&format!("{WEB}/disk"), &fp(IMAGE_DISK));
    host.file(&format!("{DB}/disk"), b"a raw copy of the image");
    host
}

/// The same two servers in each shape an inventory may have.
fn inventories(host: &Host) -> BTreeMap<&'static str, String> {
    let records = json!({"instances": [
        {"uuid": WEB, "name": "instance-0000002a", "host": HOST, "image_ref": IMAGE_DISK,
         "swap_mb": 512, "ephemeral_gb": 0, "vm_state": "active"},
        {"uuid": DB, "name": "instance-0000002b", "host": HOST, "image_ref": IMAGE_COPIED,
         "vm_state": "active"},
    ]});
    let server = |uuid: &str, n: u32, image: &str, swap: u64| {
        json!({"id": uuid, "name": format!("server-{n}"), "status": "ACTIVE",
               "OS-EXT-SRV-ATTR:host": HOST,
               "OS-EXT-SRV-ATTR:instance_name": format!("instance-{n:08x}"),
               "OS-EXT-SRV-ATTR:kernel_id": "", "OS-EXT-SRV-ATTR:ramdisk_id": "",
               "OS-EXT-STS:task_state": null, "OS-EXT-STS:vm_state": "active",
               "image": {"id": image, "links": []},
               "flavor": {"disk": 10, "ephemeral": 0, "swap": swap, "ram": 2048, "vcpus": 1,
                          "original_name": "m1.small", "extra_specs": {}}})
    };
    let detail = json!({"servers": [server(WEB, 0x2a, IMAGE_DISK, 512),
                                    server(DB, 0x2b, IMAGE_COPIED, 0)],
                        "servers_links": []});
    let row = |uuid: &str, image: &str| {
        json!({"ID": uuid, "Name": "server", "Status": "ACTIVE", "Task State": null,
               "Power State": "Running", "Networks": {}, "Image Name": "ubuntu",
               "Image ID": image, "Flavor": "m1.small", "Availability Zone": "nova",
               "Host": HOST, "Properties": {}})
    };
    let list = json!([row(WEB, IMAGE_DISK), row(DB, IMAGE_COPIED)]);
    let mut paths = BTreeMap::new();
    for (shape, document) in [("records", records), ("detail", detail), ("list", list)] {
        let path = host.root().join(format!("{shape}.json"));
        fs::write(
            &path,
            serde_json::to_string_pretty(&document).expect("JSON"),
        )
        .expect("written");
        paths.insert(shape, path.display().to_string());
    }
    paths
}

/// Each cache file's state and reason in an audit with `--inventory path`.
fn decisions(host: &Host, path: &str) -> (BTreeMap<String, (String, String)>, Value) {
    let run = host.run(&["audit", "--format", "json", "--inventory", path]);
    let report = run.json();
    let files = host
        .cache_names()
        .into_iter()
        .map(|name| {
            let decision = (state_of(&report, &name), reason_of(&report, &name));
            (name, decision)
        })
        .collect();
    (files, report)
}

#[test]
fn servers_detail_makes_the_decisions_of_the_same_records() {
    let host = host_of_two_servers();
    let paths = inventories(&host);
    let (by_records, _) = decisions(&host, &paths["records"]);
    let (by_detail, report) = decisions(&host, &paths["detail"]);
    assert_eq!(by_detail, by_records);
    assert_eq!(by_detail["swap_512"].0, "in_use", "{by_detail:?}");
    assert_eq!(by_detail[&fp(IMAGE_UNUSED)].0, "removable", "{by_detail:?}");
    assert!(!warning_codes(&report).contains(&"inventory_incomplete".to_owned()));
}

#[test]
fn server_list_decides_alike_but_for_what_it_lacks_and_says_so() {
    let host = host_of_two_servers();
    let paths = inventories(&host);
    let (by_records, _) = decisions(&host, &paths["records"]);
    let (by_list, report) = decisions(&host, &paths["list"]);
    for (name, (state, _)) in &by_records {
        if name != "swap_512" {
            assert_eq!(&by_list[name].0, state, "{name}");
        }
    }
    // Instances are named by uuid: the listing has no instance names.
    assert_eq!(
        by_list[&fp(IMAGE_COPIED)].1,
        format!("image {IMAGE_COPIED} is used by {DB} on this host")
    );
    // It has no flavor: the swap base no disk uses is an unused base, old enough to go.
    assert_eq!(by_list["swap_512"].0, "removable", "{by_list:?}");
    let warning = warning(&report, "inventory_incomplete");
    assert!(
        warning.contains("is `openstack server list` output, which has no instance names"),
        "{warning}"
    );
}

#[test]
fn an_inventory_of_an_unknown_shape_is_one_line_naming_the_file_and_the_shapes() {
    let host = Host::new();
    let path = host.root().join("servers.json");
    fs::write(&path, r#"{"server": {"id": "x"}}"#).expect("written");
    let run = host.run(&["audit", "--inventory", &path.display().to_string()]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    let expected = format!(
        "cachectl: error: {}:1:9: unknown field `server`: expected {{\"instances\": [...]}} \
         (cachectl's inventory), {{\"servers\": [...]}} (Nova's GET /servers/detail, microversion \
         2.47 or later) or [...] (openstack server list --long -f json)\n",
        path.display()
    );
    assert_eq!(run.stderr, expected);
}
