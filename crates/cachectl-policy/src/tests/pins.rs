//! Policy tests: pinned images (`--keep`, `--keep-file`).

use super::*;

#[test]
fn a_pinned_image_keeps_its_original_and_copies_whatever_their_age_and_the_space_asked() {
    let mut facts = cache(vec![
        file("{1}", 30 * DAY),
        file("{1}_sm", 30 * DAY),
        file("{1}_10737418240", 30 * DAY),
        file("{1}.info", 30 * DAY),
        file("{2}", 30 * DAY),
        file("{3}", HOUR),
    ]);
    facts.pinned = BTreeSet::from(["1".to_owned(), "3".to_owned()]);
    facts.space = Some(crate::SpaceFacts {
        target: crate::SpaceTarget {
            min_free: Some(u64::MAX),
            max_cache: None,
        },
        avail_bytes: 0,
        cache_bytes: 6 << 20,
    });
    check(
        &facts,
        "
        {1} Pinned: pinned: image 1 is kept by --keep
        {1}_sm Pinned: pinned: image 1 is kept by --keep
        {1}_10737418240 Pinned: pinned: image 1 is kept by --keep
        {1}.info InUse: checksum of {1}, kept with it
        {2} Remove: unused for 30d (originals are kept 1d)
        {3} Pinned: pinned: image 3 is kept by --keep
        ",
    );
}

#[test]
fn a_pinned_image_in_use_is_in_use_and_touched() {
    let mut facts = cache(vec![file("{1}", 30 * DAY)]);
    facts.instances = Some(vec![vm("vm1").image("1")]);
    facts.pinned = BTreeSet::from(["1".to_owned()]);
    check(
        &facts,
        "
        {1} InUse touch: image 1 is used by vm1 on this host
        ",
    );
}
