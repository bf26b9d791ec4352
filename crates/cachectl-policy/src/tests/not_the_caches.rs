//! Policy tests: what is not the cache's.

use super::*;

#[test]
fn entries_that_are_not_regular_files_are_left_alone() {
    let facts = cache(vec![
        file("{1}", 30 * DAY).of_type(FileType::Directory),
        file("{1}.info", 30 * DAY),
        file("{2}_sm", 30 * DAY).of_type(FileType::Symlink),
        file("swap_512", 30 * DAY).of_type(FileType::Other),
        file("{3}", 30 * DAY).of_type(FileType::Symlink),
    ])
    .disks(vec![disk("u1/disk", &["{3}"])]);
    check(
        &facts,
        "
        {1} Ignore: a directory, not a regular file: left alone
        {1}.info InUse: checksum of {1}, kept with it
        {2}_sm Ignore: a symlink, not a regular file: left alone
        swap_512 Ignore: a special file, not a regular file: left alone
        {3} Ignore: a symlink, not a regular file: left alone
        ",
    );
}

#[test]
fn names_that_are_not_utf8_are_left_alone() {
    let mut facts = cache(vec![
        file("{1}", 30 * DAY),
        file("\u{fffd}\u{fffd}", 30 * DAY),
    ])
    .disks(vec![disk("u1/disk", &["{1}"])]);
    // What the scan makes of a name that is not UTF-8 (shown lossily): a foreign entry.
    for f in &mut facts.files {
        f.kind = EntryKind::Foreign;
    }
    check(
        &facts,
        "
        {1} Ignore: not a name the cache gives: left alone | backing file of u1/disk
        \u{fffd}\u{fffd} Ignore: not a name the cache gives: left alone
        ",
    );
}

#[test]
fn names_the_cache_does_not_give_are_left_alone() {
    check(
        &cache(vec![
            file("README", 30 * DAY),
            file("00000001", 30 * DAY),
            file("ephemeral_0_20_None", 30 * DAY),
            file("{1}_abc", 30 * DAY),
        ]),
        "
        README Ignore: not a name the cache gives: left alone
        00000001 Ignore: not a name the cache gives: left alone
        ephemeral_0_20_None Ignore: not a name the cache gives: left alone
        {1}_abc Ignore: not a name the cache gives: left alone
        ",
    );
}
