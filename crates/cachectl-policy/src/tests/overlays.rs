//! Policy tests: cache files that are overlays on other cache files.

use super::*;

#[test]
fn a_kept_overlay_keeps_the_cache_file_it_is_backed_by() {
    let facts = cache(vec![
        file("{1}_10737418240", 30 * DAY).backed_by(&["{1}"]),
        file("{1}", 30 * DAY),
        file("{1}.info", 30 * DAY),
    ])
    .disks(vec![disk("u1/disk", &["{1}_10737418240"])]);
    check(
        &facts,
        "
        {1}_10737418240 InUse touch: backing file of u1/disk
        {1} InUse touch: backing file of cache file {1}_10737418240, which is kept
        {1}.info InUse: checksum of {1}, kept with it
        ",
    );
}

#[test]
fn a_too_young_overlay_keeps_the_cache_file_it_is_backed_by() {
    // The backing file is touched: it is in use by a file that is still there.
    check(
        &cache(vec![
            file("{2}_5", 10 * MINUTE).backed_by(&["{2}"]),
            file("{2}", 30 * DAY),
        ]),
        "
        {2}_5 TooYoung: unused for 10m, kept until unused for 1h
        {2} InUse touch: backing file of cache file {2}_5, which is kept
        ",
    );
}

#[test]
fn a_chain_of_cache_files_is_kept_to_its_end() {
    let facts = cache(vec![
        file("{3}", 30 * DAY),
        file("{3}_sm", 30 * DAY).backed_by(&["{3}"]),
        file("{3}_10737418240", 30 * DAY).backed_by(&["{3}_sm"]),
    ])
    .disks(vec![disk("u1/disk", &["{3}_10737418240"])]);
    check(
        &facts,
        "
        {3} InUse touch: backing file of cache file {3}_sm, which is kept
        {3}_sm InUse touch: backing file of cache file {3}_10737418240, which is kept
        {3}_10737418240 InUse touch: backing file of u1/disk
        ",
    );
}

#[test]
fn a_removable_overlay_does_not_keep_its_backing_file() {
    check(
        &cache(vec![
            file("{1}_5", 30 * DAY).backed_by(&["{1}", "not-in-the-cache"]),
            file("{1}", 30 * DAY),
        ]),
        "
        {1}_5 Remove: unused for 30d (resized copies are kept 1h)
        {1} Remove: unused for 30d (originals are kept 1d)
        ",
    );
}

#[test]
fn overlays_on_themselves_and_cycles_of_overlays_end() {
    let facts = cache(vec![
        file("{1}", 30 * DAY).backed_by(&["{1}"]),
        file("{2}", 30 * DAY).backed_by(&["{2}"]),
        file("{3}_5", 30 * DAY).backed_by(&["{3}_6"]),
        file("{3}_6", 30 * DAY).backed_by(&["{3}_5"]),
        file("{4}_5", 30 * DAY).backed_by(&["{4}_6"]),
        file("{4}_6", 30 * DAY).backed_by(&["{4}_5"]),
    ])
    .disks(vec![disk("u1/disk", &["{1}"]), disk("u3/disk", &["{3}_5"])]);
    check(
        &facts,
        "
        {1} InUse touch: backing file of u1/disk
        {2} Remove: unused for 30d (originals are kept 1d)
        {3}_5 InUse touch: backing file of u3/disk | backing file of cache file {3}_6, which is kept
        {3}_6 InUse touch: backing file of cache file {3}_5, which is kept
        {4}_5 Remove: unused for 30d (resized copies are kept 1h)
        {4}_6 Remove: unused for 30d (resized copies are kept 1h)
        ",
    );
}

#[test]
fn a_file_left_alone_keeps_the_cache_file_it_is_backed_by() {
    check(
        &cache(vec![
            file("custom.qcow2", 30 * DAY).backed_by(&["{1}"]),
            file("{1}", 30 * DAY),
        ]),
        "
        custom.qcow2 Ignore: not a name the cache gives: left alone
        {1} InUse touch: backing file of cache file custom.qcow2, which is kept
        ",
    );
}
