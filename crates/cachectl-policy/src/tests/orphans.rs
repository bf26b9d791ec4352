//! Policy tests: orphan directories.

use super::*;

#[test]
fn without_an_inventory_no_directory_is_an_orphan() {
    check(&cache(vec![]).dirs(&["u1", "u2"]), "");
}

#[test]
fn records_of_this_host_alone_call_orphans_only_where_no_other_host_shares_the_storage() {
    let this_host_only = |facts: Facts| Facts {
        records_of_this_host_only: true,
        ..facts
    };
    let facts = cache(vec![])
        .records(vec![vm("vm1")])
        .dirs(&["vm1-uuid", "vm2-uuid"]);
    check(&this_host_only(facts.clone()), "orphan vm2-uuid");
    // vm2 may be another host's instance on the shared storage.
    check(
        &this_host_only(facts.clone().shared_with(&["compute-2"])),
        "",
    );
    let unknown = Facts {
        storage_users: StorageUsers::Unknown,
        ..facts.clone()
    };
    check(
        &this_host_only(unknown),
        "warning: cannot tell which hosts share this storage: every instance record counts",
    );
    // An inventory names every host's instances.
    check(&facts.shared_with(&["compute-2"]), "orphan vm2-uuid");
}

#[test]
fn directories_no_record_claims_are_orphans() {
    let facts = cache(vec![]).records(vec![vm("vm1")]).dirs(&[
        "vm1-uuid",
        "vm1",
        "vm2-uuid",
        "vm1-uuid_resize",
        "vm1_resize",
    ]);
    check(
        &facts,
        "
        orphan vm2-uuid
        orphan vm1-uuid_resize
        orphan vm1_resize
        ",
    );
}

#[test]
fn resize_directories_are_claimed_only_while_resizing() {
    let facts = cache(vec![])
        .records(vec![
            vm("vm1").task("resize_prep"),
            vm("vm2").task("resize_migrating"),
            vm("vm3").task("resize_migrated"),
            vm("vm4").task("resize_finish"),
            vm("vm5").vm_state("resized"),
            vm("vm6").task("migrating").vm_state("active"),
        ])
        .dirs(&[
            "vm1-uuid_resize",
            "vm1_resize",
            "vm2-uuid_resize",
            "vm3_resize",
            "vm4-uuid_resize",
            "vm5-uuid_resize",
            "vm5_resize",
            "vm6-uuid_resize",
            "vm6_resize",
        ]);
    check(
        &facts,
        "
        orphan vm6-uuid_resize
        orphan vm6_resize
        ",
    );
}

#[test]
fn records_of_hosts_that_do_not_count_still_claim_their_directories() {
    let facts = cache(vec![])
        .records(vec![vm("vm9").on("compute-9")])
        .dirs(&["vm9-uuid"]);
    check(
        &facts,
        "warning: records of hosts not registered in compute_nodes in the last 24 h do not count: compute-9 (1 record)",
    );
}

#[test]
fn an_orphan_lists_what_its_disks_keep_and_they_keep_it() {
    let facts = cache(vec![
        file("{1}_5", 30 * DAY),
        file("{1}", 30 * DAY),
        file("ephemeral_20_0706d66", 30 * DAY),
        file("{2}", 30 * DAY),
    ])
    .records(vec![vm("vm1")])
    .dirs(&["vm1-uuid", "lost"])
    .disks(vec![
        disk("lost/disk", &["{1}_5", "{1}"]),
        disk("lost/disk.local", &["ephemeral_20_0706d66"]),
        disk("vm1-uuid/disk", &["{2}"]),
    ]);
    check(
        &facts,
        "
        {1}_5 InUse touch: backing file of lost/disk
        {1} InUse touch: backing file of lost/disk
        ephemeral_20_0706d66 InUse touch: backing file of lost/disk.local
        {2} InUse touch: backing file of vm1-uuid/disk
        orphan lost disks [lost/disk, lost/disk.local] keeps [{1}, {1}_5, ephemeral_20_0706d66]
        ",
    );
}
