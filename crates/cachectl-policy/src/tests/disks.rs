//! Policy tests: disks under the instances path.

use super::*;

#[test]
fn a_disk_keeps_its_whole_backing_chain() {
    let facts = cache(vec![
        file("{1}_10737418240", 30 * DAY),
        file("{1}", 30 * DAY),
    ])
    .disks(vec![disk("u1/disk", &["{1}_10737418240", "{1}"])]);
    let plan = check(
        &facts,
        "
        {1}_10737418240 InUse touch: backing file of u1/disk
        {1} InUse touch: backing file of u1/disk
        ",
    );
    assert_eq!(
        decision(&plan, "{1}").users.disks,
        BTreeSet::from(["u1/disk".into()])
    );
}

#[test]
fn every_disk_counts_not_only_the_root_disk() {
    let facts = cache(vec![
        file("{1}", 30 * DAY),
        file("ephemeral_20_0706d66", 30 * DAY),
        file("swap_512", 30 * DAY),
    ])
    .disks(vec![
        disk("u1/disk", &["{1}"]),
        disk("u1/disk.local", &["ephemeral_20_0706d66"]),
        disk("u1/disk.swap", &["swap_512"]),
        disk("u2/disk.eph1", &["{1}"]),
        disk("u3/disk.rescue", &["{1}"]),
        disk("loose.qcow2", &["{1}"]),
    ]);
    let plan = check(
        &facts,
        "
        {1} InUse touch: backing file of u1/disk, u2/disk.eph1, u3/disk.rescue and 1 more
        ephemeral_20_0706d66 InUse touch: backing file of u1/disk.local
        swap_512 InUse touch: backing file of u1/disk.swap
        ",
    );
    assert_eq!(decision(&plan, "{1}").users.disks.len(), 4);
}

#[test]
fn records_and_disks_both_give_their_reasons() {
    let facts = cache(vec![file("{1}", 30 * DAY)])
        .records(vec![vm("vm1").image("1")])
        .disks(vec![disk("vm1-uuid/disk", &["{1}"])]);
    check(
        &facts,
        "{1} InUse touch: image 1 is used by vm1 on this host | backing file of vm1-uuid/disk",
    );
}

#[test]
fn an_external_data_file_is_kept() {
    let facts = cache(vec![file("{1}", 30 * DAY), file("{2}", 30 * DAY)]).disks(vec![disk_using(
        "u1/disk",
        vec![
            DiskUse {
                file: name("{1}").into(),
                kind: UseKind::DataFile { depth: 0 },
                by_name_only: false,
            },
            DiskUse {
                file: name("{2}").into(),
                kind: UseKind::DataFile { depth: 1 },
                by_name_only: false,
            },
        ],
    )]);
    check(
        &facts,
        "
        {1} InUse touch: external data file of u1/disk
        {2} InUse touch: external data file of u1/disk
        ",
    );
}

#[test]
fn a_reference_by_name_only_keeps_the_file_as_nova_does() {
    let facts = cache(vec![file("{1}", 30 * DAY)]).disks(vec![disk_using(
        "u1/disk",
        vec![DiskUse {
            file: name("{1}").into(),
            kind: UseKind::Backing { depth: 1 },
            by_name_only: true,
        }],
    )]);
    check(
        &facts,
        "{1} InUse touch: backing file of u1/disk (a reference names another path with this file name: kept, as Nova does)",
    );
}

#[test]
fn a_disk_on_a_file_that_is_not_the_caches_leaves_it_alone() {
    let facts = cache(vec![file("README", 30 * DAY)]).disks(vec![disk("u1/disk", &["README"])]);
    check(
        &facts,
        "README Ignore: not a name the cache gives: left alone | backing file of u1/disk",
    );
}
