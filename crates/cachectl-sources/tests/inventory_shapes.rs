//! The three inventory shapes, read from files in the shapes Nova's API and `openstack server
//! list --long -f json` write (`tests/fixtures/`): the same servers give the same records, less
//! what the listing lacks.

use std::path::Path;

use cachectl_policy::Instance;
use cachectl_sources::inventory::{self, Inventory, InventoryError, Shape};

const SERVERS_DETAIL: &str = "tests/fixtures/servers-detail.json";
const SERVER_LIST: &str = "tests/fixtures/server-list-long.json";

fn by_uuid<'a>(inventory: &'a Inventory, uuid: &str) -> &'a Instance {
    let found = inventory.instances.iter().find(|i| i.uuid == uuid);
    found.unwrap_or_else(|| panic!("no record of {uuid} in {:?}", inventory.instances))
}

#[test]
fn servers_detail_gives_every_field_the_cache_uses() -> Result<(), InventoryError> {
    let inventory = inventory::load(Path::new(SERVERS_DETAIL))?;
    assert_eq!(inventory.shape, Shape::ServersDetail);
    assert!(inventory.shape.lacks().is_empty());
    assert_eq!((inventory.instances.len(), inventory.on_no_host), (4, 1));

    let web = by_uuid(&inventory, "2f1c6a0e-5b7d-4c1e-9a3f-0d8e7b6c5a41");
    assert_eq!(web.name, "instance-0000002a");
    assert_eq!(web.host, "compute-1");
    assert_eq!(
        web.image_ref.as_deref(),
        Some("155d900f-4e14-4e4c-a73d-069cbf4541e6")
    );
    assert_eq!((web.swap_mb, web.ephemeral_gb), (Some(512), Some(20)));
    assert_eq!(
        (web.kernel_id.as_deref(), web.ramdisk_id.as_deref()),
        (None, None)
    );

    let from_volume = by_uuid(&inventory, "7c9e4b12-0a3d-4f5e-8b6c-1d2e3f4a5b6c");
    assert_eq!(from_volume.image_ref, None);

    let resizing = by_uuid(&inventory, "a41d7e3b-9c2f-4b8a-b6d5-3e0f1c2a9d87");
    assert_eq!(resizing.task_state.as_deref(), Some("resize_migrating"));
    assert_eq!(resizing.kernel_id.as_deref(), Some("aki-0001"));

    let resized = by_uuid(&inventory, "d3b07384-d9a0-4f6c-8f2e-6a1b5c9e0f12");
    assert_eq!(
        (resized.host.as_str(), resized.vm_state.as_deref()),
        ("compute-2", Some("resized"))
    );
    Ok(())
}

#[test]
fn server_list_gives_hosts_images_and_resizes_and_says_what_it_lacks() -> Result<(), InventoryError>
{
    let detail = inventory::load(Path::new(SERVERS_DETAIL))?;
    let list = inventory::load(Path::new(SERVER_LIST))?;
    assert_eq!(list.shape, Shape::ServerList);
    assert_eq!((list.instances.len(), list.on_no_host), (4, 1));
    for listed in &list.instances {
        let full = by_uuid(&detail, &listed.uuid);
        assert_eq!(listed.host, full.host);
        assert_eq!(listed.image_ref, full.image_ref);
        assert_eq!(listed.task_state, full.task_state);
        let resizing = |i: &Instance| i.vm_state.as_deref() == Some("resized");
        assert_eq!(resizing(listed), resizing(full), "{}", listed.uuid);
        // What it lacks: the instance name (the uuid stands for it), sizes, kernel and ramdisk.
        assert_eq!(listed.name, listed.uuid);
        assert_eq!((listed.swap_mb, listed.ephemeral_gb), (None, None));
        assert_eq!(
            (listed.kernel_id.as_ref(), listed.ramdisk_id.as_ref()),
            (None, None)
        );
    }
    let lacks: Vec<&str> = list.shape.lacks().iter().map(|l| l.field).collect();
    assert_eq!(
        lacks,
        [
            "OS-EXT-SRV-ATTR:instance_name",
            "flavor.swap, flavor.ephemeral",
            "OS-EXT-SRV-ATTR:kernel_id, OS-EXT-SRV-ATTR:ramdisk_id",
            "OS-EXT-STS:vm_state",
        ]
    );
    Ok(())
}

#[track_caller]
fn check_error(json: &str, expected_end: &str) {
    let err = inventory::parse(Path::new("servers.json"), json.as_bytes());
    let message = err.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.starts_with("servers.json:"), "{message}");
    assert!(message.ends_with(expected_end), "{message}");
}

#[test]
fn a_server_of_a_cell_that_is_down_is_refused_with_the_reason() {
    // Microversion 2.69: a server whose cell does not answer has no host, image or flavor.
    check_error(
        r#"{"servers": [{"id": "u", "status": "UNKNOWN", "tenant_id": "t", "links": []}]}"#,
        "missing field `OS-EXT-SRV-ATTR:host` (Nova's API gives it to admins only, and not for \
         servers of a cell that is down)",
    );
}

#[test]
fn servers_without_an_embedded_flavor_ask_for_microversion_2_47() {
    check_error(
        r#"{"servers": [{"id": "u", "OS-EXT-SRV-ATTR:host": "h", "image": "",
            "flavor": {"id": "1", "links": []}}]}"#,
        "missing field `swap` (servers embed their flavor from microversion 2.47: ask with \
         `OpenStack-API-Version: compute 2.47` or later)",
    );
    check_error(
        r#"{"servers": [{"id": "u", "OS-EXT-SRV-ATTR:host": "h", "image": "x", "flavor": {}}]}"#,
        r#"invalid value: string "x", expected an image {"id": …}, or "" for a server booted from a volume"#,
    );
}

#[test]
fn one_page_of_several_is_refused() {
    let page = r#"{"servers": [], "servers_links": [{"href": "http://nova/servers/detail?marker=u", "rel": "next"}]}"#;
    check_error(
        page,
        "this is one page of the servers (servers_links has a \"next\" link): give them all \
         (follow the links and merge the pages, or ask for fewer with ?host=HOST)",
    );
}

#[test]
fn a_server_list_with_no_host_at_all_is_a_non_admins_and_refused() {
    check_error(
        r#"[{"ID": "u1", "Task State": null, "Image ID": "i", "Host": null},
            {"ID": "u2", "Task State": null, "Image ID": "i", "Host": null}]"#,
        "no server has a Host: `openstack server list` shows it to admins only",
    );
}

#[test]
fn a_server_list_without_long_asks_for_it() {
    check_error(
        r#"[{"ID": "u", "Name": "web-1", "Status": "ACTIVE", "Networks": {}, "Image": "cirros",
            "Flavor": "m1.small"}]"#,
        "missing field `Task State` (`openstack server list` shows it with `--long`)",
    );
}
