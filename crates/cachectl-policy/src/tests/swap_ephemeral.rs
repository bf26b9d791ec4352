//! Policy tests: swap and ephemeral bases.

use super::*;

#[test]
fn swap_bases_named_by_records_are_kept() {
    let facts = cache(vec![
        file("swap_512", 30 * DAY),
        file("swap_1024", 30 * DAY),
    ])
    .records(vec![
        vm("vm1").swap(512),
        vm("vm2").swap(512).on(OTHER_HOST),
    ])
    .shared_with(&[OTHER_HOST]);
    let plan = check(
        &facts,
        "
        swap_512 InUse touch: swap disk of vm1 and vm2@compute-2
        swap_1024 Remove: unused for 30d (swap bases are kept 1d)
        ",
    );
    assert_eq!(
        decision(&plan, "swap_512").users.instances,
        BTreeSet::from(["vm1".into(), "vm2@compute-2".into()])
    );
}

#[test]
fn ephemeral_bases_are_named_after_vfat_by_default() {
    let facts = cache(vec![
        file("ephemeral_20_0706d66", 30 * DAY),
        file("ephemeral_20_40d1d2c", 30 * DAY),
    ])
    .records(vec![vm("vm1").ephemeral(20)]);
    check(
        &facts,
        "
        ephemeral_20_0706d66 InUse touch: ephemeral disk of vm1
        ephemeral_20_40d1d2c Remove: unused for 30d (ephemeral bases are kept 1d)
        ",
    );
}

#[test]
fn linux_instances_also_keep_the_ext4_name_older_releases_gave() {
    let facts = cache(vec![
        file("ephemeral_20_0706d66", 30 * DAY),
        file("ephemeral_20_40d1d2c", 30 * DAY),
        file("ephemeral_10_40d1d2c", 30 * DAY),
    ])
    .records(vec![vm("vm1").ephemeral(20).os("linux")]);
    check(
        &facts,
        "
        ephemeral_20_0706d66 InUse touch: ephemeral disk of vm1
        ephemeral_20_40d1d2c InUse touch: ephemeral disk of vm1
        ephemeral_10_40d1d2c Remove: unused for 30d (ephemeral bases are kept 1d)
        ",
    );
}

#[test]
fn a_configured_ephemeral_format_names_the_base() {
    let mut facts = cache(vec![
        file("ephemeral_20_0706d66", 30 * DAY),
        file("ephemeral_20_40d1d2c", 30 * DAY),
    ])
    .records(vec![vm("vm1").ephemeral(20)]);
    facts.ephemeral.default_ephemeral_format = Some("ext4".to_owned());
    check(
        &facts,
        "
        ephemeral_20_0706d66 Remove: unused for 30d (ephemeral bases are kept 1d)
        ephemeral_20_40d1d2c InUse touch: ephemeral disk of vm1
        ",
    );
}

#[test]
fn zero_sized_swap_and_ephemeral_disks_name_no_base() {
    let facts = cache(vec![file("swap_0", 30 * DAY)]).records(vec![vm("vm1").swap(0).ephemeral(0)]);
    check(
        &facts,
        "swap_0 Remove: unused for 30d (swap bases are kept 1d)",
    );
}
