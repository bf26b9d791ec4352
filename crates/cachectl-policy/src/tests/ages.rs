//! Policy tests: ages.

use super::*;

#[test]
fn unused_originals_go_after_a_day() {
    check(
        &cache(vec![
            file("{1}", DAY),
            file("{2}", DAY - 1),
            file("{3}", 30 * DAY),
        ]),
        "
        {1} Remove: unused for 1d (originals are kept 1d)
        {2} TooYoung: unused for 23h 59m, kept until unused for 1d
        {3} Remove: unused for 30d (originals are kept 1d)
        ",
    );
}

#[test]
fn resized_and_small_copies_go_after_an_hour() {
    check(
        &cache(vec![
            file("{1}_10737418240", HOUR),
            file("{1}_sm", HOUR),
            file("{2}_10737418240", HOUR - 1),
            file("{2}_sm", HOUR - 1),
        ]),
        "
        {1}_10737418240 Remove: unused for 1h (resized copies are kept 1h)
        {1}_sm Remove: unused for 1h (small copies are kept 1h)
        {2}_10737418240 TooYoung: unused for 59m, kept until unused for 1h
        {2}_sm TooYoung: unused for 59m, kept until unused for 1h
        ",
    );
}

#[test]
fn download_leftovers_go_after_an_hour() {
    check(
        &cache(vec![
            file("{1}.part", HOUR),
            file("swap_512.converted", 30 * MINUTE),
        ]),
        "
        {1}.part Remove: left by an interrupted download of {1} | unused for 1h (download leftovers are kept 1h)
        swap_512.converted TooYoung: left by an interrupted download of swap_512 | unused for 30m, kept until unused for 1h
        ",
    );
}

#[test]
fn sidecars_of_missing_images_go_after_an_hour() {
    check(
        &cache(vec![file("{1}.info", HOUR), file("{2}.sha1", 10)]),
        "
        {1}.info Remove: checksum of {1}, which is not in the cache | unused for 1h (orphan sidecars are kept 1h)
        {2}.sha1 TooYoung: checksum of {2}, which is not in the cache | unused for 10s, kept until unused for 1h
        ",
    );
}

#[test]
fn swap_and_ephemeral_bases_go_after_a_day() {
    check(
        &cache(vec![
            file("swap_512", DAY),
            file("swap_1024", 2 * HOUR),
            file("ephemeral_20_0706d66", DAY - 1),
            file("ephemeral_1_40d1d2c", 2 * DAY),
        ]),
        "
        swap_512 Remove: unused for 1d (swap bases are kept 1d)
        swap_1024 TooYoung: unused for 2h, kept until unused for 1d
        ephemeral_20_0706d66 TooYoung: unused for 23h 59m, kept until unused for 1d
        ephemeral_1_40d1d2c Remove: unused for 2d (ephemeral bases are kept 1d)
        ",
    );
}

#[test]
fn a_file_modified_in_the_future_is_too_young() {
    let plan = check(
        &cache(vec![file("{1}", -DAY), file("{1}_sm", -1)]),
        "
        {1} TooYoung: unused for 0s, kept until unused for 1d
        {1}_sm TooYoung: unused for 0s, kept until unused for 1h
        ",
    );
    assert_eq!(decision(&plan, "{1}").age, 0);
}

#[test]
fn configured_ages_replace_novas() {
    let facts = Facts {
        ages: Ages {
            original: 60,
            resized: 120,
            swap_ephemeral: 180,
        },
        ..cache(vec![
            file("{1}", 60),
            file("{1}_sm", 60),
            file("swap_1", 179),
        ])
    };
    check(
        &facts,
        "
        {1} Remove: unused for 1m (originals are kept 1m)
        {1}_sm TooYoung: unused for 1m, kept until unused for 2m
        swap_1 TooYoung: unused for 2m, kept until unused for 3m
        ",
    );
}

#[test]
fn extreme_clocks_do_not_overflow() {
    let mut facts = cache(vec![file("{1}", 0), file("{2}", 0)]);
    facts.now = UnixTime(i64::MAX);
    facts.files[0].mtime = UnixTime(i64::MIN);
    facts.files[1].mtime = UnixTime(i64::MAX);
    let plan = crate::plan(&facts);
    assert_eq!(decision(&plan, "{1}").state, State::Remove);
    assert_eq!(decision(&plan, "{2}").age, 0);
    facts.now = UnixTime(i64::MIN);
    let plan = crate::plan(&facts);
    assert_eq!(plan.names_in(State::TooYoung).len(), 2);
}
