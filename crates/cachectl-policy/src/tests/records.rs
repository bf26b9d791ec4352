//! Policy tests: instance records.

use super::*;

#[test]
fn an_image_in_use_keeps_its_original_and_small_copy() {
    let facts = cache(vec![
        file("{1}", 30 * DAY),
        file("{1}_sm", 30 * DAY),
        file("{2}", 30 * DAY),
    ])
    .records(vec![vm("vm1").image("1")]);
    let plan = check(
        &facts,
        "
        {1} InUse touch: image 1 is used by vm1 on this host
        {1}_sm InUse touch: image 1 is used by vm1 on this host
        {2} Remove: unused for 30d (originals are kept 1d)
        ",
    );
    assert_eq!(decision(&plan, "{1}_sm").image_id.as_deref(), Some("1"));
    assert_eq!(decision(&plan, "{2}").image_id, None);
    assert_eq!(
        decision(&plan, "{1}").users.instances,
        BTreeSet::from(["vm1".into()])
    );
}

#[test]
fn resized_copies_of_a_used_image_go_unless_a_disk_uses_them() {
    // The seeds' rule: Nova makes a resized copy again from the original when it needs one.
    let facts = cache(vec![
        file("{1}", 30 * DAY),
        file("{1}_10737418240", 30 * DAY),
        file("{1}_5", 30 * MINUTE),
    ])
    .records(vec![vm("vm1").image("1")]);
    let plan = check(
        &facts,
        "
        {1} InUse touch: image 1 is used by vm1 on this host
        {1}_10737418240 Remove: a resized copy of image 1, which is in use, but no disk uses this copy | unused for 30d (resized copies are kept 1h)
        {1}_5 TooYoung: a resized copy of image 1, which is in use, but no disk uses this copy | unused for 30m, kept until unused for 1h
        ",
    );
    let copy = decision(&plan, "{1}_10737418240");
    assert_eq!(copy.image_id.as_deref(), Some("1"));
    assert!(copy.users.instances.is_empty());
}

/// Bug: a resized copy of a used image that a disk does use is still said to be used by no disk.
#[test]
fn a_resized_copy_a_disk_uses_is_not_said_to_be_unused_by_disks() {
    let facts = cache(vec![
        file("{1}", 30 * DAY),
        file("{1}_10737418240", 30 * DAY),
        file("{1}_3", 30 * DAY),
    ])
    .records(vec![vm("vm1").image("1")])
    .disks(vec![
        disk("vm1-uuid/disk", &["{1}_10737418240", "{1}"]),
        disk("vm2-uuid/disk", &["{1}_3", "{1}"]),
    ]);
    let plan = crate::plan(&facts);
    assert_invariants(&facts, &plan);
    for copy in ["{1}_10737418240", "{1}_3"] {
        let copy = decision(&plan, copy);
        assert_eq!((copy.state, copy.touch), (State::InUse, true));
        let reasons: Vec<String> = copy.reasons.iter().map(ToString::to_string).collect();
        assert!(
            reasons
                .iter()
                .all(|r| !r.contains("no disk uses this copy")),
            "{}: {reasons:?}",
            copy.name
        );
    }
}

#[test]
fn kernel_and_ramdisk_images_are_kept() {
    let facts = cache(vec![
        file("{k}", 30 * DAY),
        file("{r}", 30 * DAY),
        file("{1}", 30 * DAY),
    ])
    .records(vec![vm("vm1").image("1").kernel("k").ramdisk("r")]);
    check(
        &facts,
        "
        {k} InUse touch: image k is used by vm1 on this host
        {r} InUse touch: image r is used by vm1 on this host
        {1} InUse touch: image 1 is used by vm1 on this host
        ",
    );
}

#[test]
fn instances_on_other_hosts_sharing_the_storage_keep_images() {
    let facts = cache(vec![file("{1}", 30 * DAY), file("{2}", 30 * DAY)])
        .records(vec![
            vm("vm1").image("1"),
            vm("vm2").image("2").on(OTHER_HOST),
            vm("vm3").image("1").on(OTHER_HOST),
        ])
        .shared_with(&[OTHER_HOST]);
    let plan = check(
        &facts,
        "
        {1} InUse touch: image 1 is used by vm1 on this host and vm3@compute-2 on other hosts
        {2} InUse touch: image 2 is used by vm2@compute-2 on other hosts
        ",
    );
    assert_eq!(
        decision(&plan, "{1}").users.instances,
        BTreeSet::from(["vm1".into(), "vm3@compute-2".into()])
    );
}

#[test]
fn many_users_are_counted_not_listed() {
    let facts = cache(vec![file("{1}", 30 * DAY)])
        .records((1..=5).map(|i| vm(&format!("vm{i}")).image("1")).collect());
    check(
        &facts,
        "{1} InUse touch: image 1 is used by vm1, vm2, vm3 and 2 more on this host",
    );
}

#[test]
fn an_empty_image_ref_boots_from_a_volume_and_uses_no_image() {
    // sha1("") would be the name if the empty id counted.
    let facts =
        cache(vec![file("{}", 30 * DAY)]).records(vec![vm("vm1").image(""), vm("vm2").kernel("")]);
    check(&facts, "{} Remove: unused for 30d (originals are kept 1d)");
}

#[test]
fn records_of_hosts_not_sharing_the_storage_do_not_count() {
    let facts = cache(vec![file("{1}", 30 * DAY), file("{2}", 30 * DAY)]).records(vec![
        vm("vm9").image("1").on("compute-9"),
        vm("vm8").image("1").on("compute-9"),
        vm("vm7").image("2").on("compute-8"),
    ]);
    check(
        &facts,
        "
        {1} Remove: unused for 30d (originals are kept 1d)
        {2} Remove: unused for 30d (originals are kept 1d)
        warning: records of hosts not registered in compute_nodes in the last 24 h do not count: compute-8 (1 record) and compute-9 (2 records)
        ",
    );
}

#[test]
fn unknown_storage_users_count_every_record_and_say_so() {
    let facts = Facts {
        storage_users: StorageUsers::Unknown,
        ..cache(vec![file("{1}", 30 * DAY)]).records(vec![vm("vm9").image("1").on("compute-9")])
    };
    check(
        &facts,
        "
        {1} InUse touch: image 1 is used by vm9@compute-9 on other hosts
        warning: cannot tell which hosts share this storage: every instance record counts
        ",
    );
}

#[test]
fn this_hosts_records_count_even_before_it_registers() {
    let facts = Facts {
        storage_users: StorageUsers::Known(BTreeSet::new()),
        ..cache(vec![file("{1}", 30 * DAY)]).records(vec![vm("vm1").image("1")])
    };
    check(
        &facts,
        "{1} InUse touch: image 1 is used by vm1 on this host",
    );
}

#[test]
fn single_digit_resized_copies_are_cleaned_like_other_resized_copies() {
    let mut files: Vec<CacheFile> = (1..=9)
        .map(|n| file(&format!("{{1}}_{n}"), 2 * HOUR))
        .collect();
    files.push(file("{2}", 30 * DAY));
    files.push(file("{2}_3", 2 * HOUR));
    files.push(file("{3}_7", 2 * HOUR));
    let facts = cache(files)
        .records(vec![vm("vm1").image("2")])
        .disks(vec![disk("vm1-uuid/disk", &["{3}_7"])]);
    check(
        &facts,
        "
        {1}_1 Remove: unused for 2h (resized copies are kept 1h)
        {1}_2 Remove: unused for 2h (resized copies are kept 1h)
        {1}_3 Remove: unused for 2h (resized copies are kept 1h)
        {1}_4 Remove: unused for 2h (resized copies are kept 1h)
        {1}_5 Remove: unused for 2h (resized copies are kept 1h)
        {1}_6 Remove: unused for 2h (resized copies are kept 1h)
        {1}_7 Remove: unused for 2h (resized copies are kept 1h)
        {1}_8 Remove: unused for 2h (resized copies are kept 1h)
        {1}_9 Remove: unused for 2h (resized copies are kept 1h)
        {2} InUse touch: image 2 is used by vm1 on this host
        {2}_3 Remove: a resized copy of image 2, which is in use, but no disk uses this copy | unused for 2h (resized copies are kept 1h)
        {3}_7 InUse touch: backing file of vm1-uuid/disk
        ",
    );
}
