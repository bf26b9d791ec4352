//! Policy tests: space pressure (`--min-free`, `--max-cache-size`).

use super::*;
use crate::{SpaceFacts, SpaceTarget};

const MIB: u64 = 1 << 20;

/// `facts` under space pressure: `avail` free on the file system, the cache as its files say.
fn pressed(mut facts: Facts, avail: u64, target: SpaceTarget) -> Facts {
    let cache_bytes = crate::cache_bytes(&facts.files);
    facts.space = Some(SpaceFacts {
        target,
        avail_bytes: avail,
        cache_bytes,
    });
    facts
}

fn min_free(bytes: u64) -> SpaceTarget {
    SpaceTarget {
        min_free: Some(bytes),
        max_cache: None,
    }
}

#[test]
fn short_of_space_the_longest_unused_young_files_go_and_no_more() {
    // Each file is 1 MiB; 2.5 MiB short: three go, the oldest unused first.
    let facts = pressed(
        cache(vec![
            file("{1}", HOUR),
            file("{2}", 3 * HOUR),
            file("{3}", 2 * HOUR),
            file("{4}", 4 * HOUR),
            file("{k}", 5 * HOUR),
        ]),
        10 * MIB,
        min_free(12 * MIB + MIB / 2),
    );
    check(
        &facts,
        "
        {1} TooYoung: unused for 1h, kept until unused for 1d
        {2} Remove: space: unused for 3h (less than 1d), the longest unused while 12.5 MiB must stay free
        {3} TooYoung: unused for 2h, kept until unused for 1d
        {4} Remove: space: unused for 4h (less than 1d), the longest unused while 12.5 MiB must stay free
        {k} Remove: space: unused for 5h (less than 1d), the longest unused while 12.5 MiB must stay free
        ",
    );
}

#[test]
fn what_goes_by_age_counts_first_and_files_in_use_never_go() {
    let mut facts = cache(vec![
        file("{1}", 2 * DAY),
        file("{2}", HOUR),
        file("{3}", 30 * DAY),
    ]);
    facts.instances = Some(vec![vm("vm1").image("3")]);
    // 1 MiB short: the unused original old enough covers it.
    let check_short = pressed(facts.clone(), 0, min_free(MIB));
    check(
        &check_short,
        "
        {1} Remove: unused for 2d (originals are kept 1d)
        {2} TooYoung: unused for 1h, kept until unused for 1d
        {3} InUse touch: image 3 is used by vm1 on this host
        ",
    );
    // Asking for everything: the young one goes, the one in use stays whatever the pressure.
    let everything = pressed(facts, 0, min_free(u64::MAX));
    let plan = check(
        &everything,
        "
        {1} Remove: unused for 2d (originals are kept 1d)
        {2} Remove: space: unused for 1h (less than 1d), the longest unused while 16384.0 PiB must stay free
        {3} InUse touch: image 3 is used by vm1 on this host
        ",
    );
    assert_eq!(decision(&plan, "{3}").state, State::InUse);
}

#[test]
fn a_cache_limit_and_a_sidecar_that_follows_its_image() {
    let facts = pressed(
        cache(vec![
            file("{1}", 2 * HOUR),
            file("{1}.info", 2 * HOUR),
            file("{2}", HOUR),
        ]),
        u64::MAX / 2,
        SpaceTarget {
            min_free: None,
            max_cache: Some(2 * MIB),
        },
    );
    check(
        &facts,
        "
        {1} Remove: space: unused for 2h (less than 1d), the longest unused while the cache must take at most 2.0 MiB
        {1}.info Remove: checksum of {1}, removed with it
        {2} TooYoung: unused for 1h, kept until unused for 1d
        ",
    );
}

#[test]
fn doubt_stops_space_removals_too() {
    let mut facts = pressed(cache(vec![file("{1}", HOUR)]), 0, min_free(u64::MAX));
    facts.unreadable = vec![UnreadableFile {
        path: "u1/disk".into(),
        problem: "permission denied".into(),
        read_as: ReadAs::NovaDiskName,
        identity: None,
    }];
    let plan = crate::plan(&facts);
    assert!(plan.removal_blocked);
    assert_ne!(decision(&plan, "{1}").state, State::Remove);
}

#[test]
fn a_cap_defers_the_youngest_removals_and_space_ones_before_those_by_age() {
    let mut facts = pressed(
        cache(vec![
            file("{1}", 3 * DAY),
            file("{1}.info", 3 * DAY),
            file("{2}", 2 * DAY),
            file("{3}", 5 * HOUR),
            file("{4}", 4 * DAY),
        ]),
        0,
        min_free(u64::MAX),
    );
    facts.removal_cap = Some(crate::RemovalCap::Files(2));
    check(
        &facts,
        "
        {1} Remove: unused for 3d (originals are kept 1d)
        {1}.info Remove: checksum of {1}, removed with it
        {2} Deferred: left for the next run: this one removes at most 2 files (--max-remove) | unused for 2d (originals are kept 1d)
        {3} Deferred: left for the next run: this one removes at most 2 files (--max-remove) | space: unused for 5h (less than 1d), the longest unused while 16384.0 PiB must stay free
        {4} Remove: unused for 4d (originals are kept 1d)
        ",
    );
}

#[test]
fn a_cap_never_removes_the_base_of_a_file_it_defers_and_takes_overlays_first() {
    let mut facts = cache(vec![
        file("{1}", 30 * DAY),
        file("{1}_5368709120", 10 * DAY).backed_by(&["{1}"]),
        file("{2}", 20 * DAY),
    ]);
    facts.removal_cap = Some(crate::RemovalCap::Files(1));
    let plan = crate::plan(&facts);
    // The longest unused that backs no other removal goes first; the overlay is deferred, and
    // keeps its base, the oldest of all, which would otherwise have gone first.
    assert_eq!(decision(&plan, "{2}").state, State::Remove);
    assert_eq!(decision(&plan, "{1}_5368709120").state, State::Deferred);
    assert_eq!(
        decision(&plan, "{1}").state,
        State::InUse,
        "{:?}",
        decision(&plan, "{1}")
    );

    // A cap that cuts between an overlay and its base: the deferred overlay keeps its base.
    facts.files[1].backed_by = vec![name("{1}")];
    facts.files[2] = file("{2}", 20 * DAY).backed_by(&["{1}"]);
    facts.files.push(file("{k}", 40 * DAY));
    facts.removal_cap = Some(crate::RemovalCap::Files(2));
    let plan = crate::plan(&facts);
    assert_eq!(
        decision(&plan, "{1}").state,
        State::InUse,
        "{:?}",
        decision(&plan, "{1}")
    );
    assert!(
        plan.files
            .iter()
            .filter(|d| d.state == State::Remove)
            .all(|d| d.name != name("{1}"))
    );
}

#[test]
fn a_deferred_file_whose_chain_cannot_be_read_stops_the_removals() {
    let mut broken = file("{1}_5", 2 * DAY);
    broken.chain_problem = Some("invalid header".into());
    let mut facts = cache(vec![file("{1}", 30 * DAY), broken]);
    facts.removal_cap = Some(crate::RemovalCap::Files(1));
    let plan = crate::plan(&facts);
    assert!(plan.removal_blocked, "{:?}", plan.files);
    assert!(plan.files.iter().all(|d| d.state != State::Remove));
}

#[test]
fn space_leaves_files_unused_for_less_than_ten_minutes() {
    let facts = pressed(
        cache(vec![file("{1}", 599), file("{2}", 600)]),
        0,
        min_free(u64::MAX),
    );
    let plan = crate::plan(&facts);
    assert_eq!(decision(&plan, "{1}").state, State::TooYoung);
    assert_eq!(decision(&plan, "{2}").state, State::Remove);
}

#[test]
fn a_cap_of_zero_removes_nothing_not_even_orphan_sidecars() {
    let mut facts = cache(vec![file("{1}.info", 30 * DAY), file("{2}", 30 * DAY)]);
    facts.removal_cap = Some(crate::RemovalCap::Files(0));
    let plan = crate::plan(&facts);
    assert!(
        plan.files.iter().all(|d| d.state != State::Remove),
        "{:?}",
        plan.files
    );
}
