//! Policy tests: doubt: disks that cannot be read.

use super::*;

#[test]
fn an_unreadable_disk_keeps_everything_that_would_go() {
    let facts = cache(vec![
        file("{1}", 30 * DAY),
        file("{2}", 10 * MINUTE),
        file("{3}", 30 * DAY),
    ])
    .records(vec![vm("vm1").image("3")])
    .unreadable(&[("u9/disk", "permission denied")]);
    check(
        &facts,
        "
        {1} InUse: may be in use: 1 file under the instances path could not be read, so nothing is removed | unused for 30d (originals are kept 1d)
        {2} TooYoung: unused for 10m, kept until unused for 1d
        {3} InUse touch: image 3 is used by vm1 on this host
        warning: cannot read u9/disk (a disk by Nova's name for one; nothing is removed while it cannot be read): permission denied
        warning: nothing is removed: 1 file that may be a disk could not be read; fix or remove it, or once you have looked, acknowledge it with --ack-unreadable FILE
        removal blocked
        ",
    );
}

#[test]
fn a_cache_file_whose_own_chain_is_unreadable_blocks_removals_only_if_it_stays() {
    let unreadable = |mut file: CacheFile| {
        file.chain_problem = Some("invalid disk header: truncated".to_owned());
        file
    };
    // It goes: what it is backed by no longer matters.
    check(
        &cache(vec![
            unreadable(file("{1}", 30 * DAY)),
            file("{2}", 30 * DAY),
        ]),
        "
        {1} Remove: unused for 30d (originals are kept 1d)
        {2} Remove: unused for 30d (originals are kept 1d)
        ",
    );
    // It stays: it may be backed by any cache file.
    check(
        &cache(vec![unreadable(file("{1}", 10 * MINUTE)), file("{2}", 30 * DAY)]),
        "
        {1} TooYoung: unused for 10m, kept until unused for 1d
        {2} InUse: may be in use: 1 file under the instances path could not be read, so nothing is removed | unused for 30d (originals are kept 1d)
        warning: cannot read {1} (a cache file that stays, backed by what cannot be told; nothing is removed while it cannot be read): invalid disk header: truncated
        warning: nothing is removed: 1 file that may be a disk could not be read; fix or remove it, or once you have looked, acknowledge it with --ack-unreadable FILE
        removal blocked
        ",
    );
}

#[test]
fn only_declared_disks_directories_and_cache_files_block_removals() {
    // A guest writes its console log; anything else that is no declared disk only warns.
    let facts = cache(vec![file("{1}", 30 * DAY)]).unreadable_as(&[
        ("u1/console.bin", ReadAs::OtherFile),
        ("u1/libvirt.xml", ReadAs::OtherFile),
    ]);
    check(
        &facts,
        "
        {1} Remove: unused for 30d (originals are kept 1d)
        warning: cannot read u1/console.bin (not a declared disk; cleaning goes on): invalid disk header
        warning: cannot read u1/libvirt.xml (not a declared disk; cleaning goes on): invalid disk header
        ",
    );
    for read_as in [ReadAs::NovaDiskName, ReadAs::DiskInfo, ReadAs::Directory] {
        let facts = cache(vec![file("{1}", 30 * DAY)])
            .unreadable_as(&[("u1/x", read_as), ("u1/libvirt.xml", ReadAs::OtherFile)]);
        let plan = crate::plan(&facts);
        assert!(plan.removal_blocked, "{read_as:?}");
        assert_eq!(
            plan.warnings.last().map(ToString::to_string).as_deref(),
            Some(
                "nothing is removed: 1 file that may be a disk could not be read; fix or remove it, or once you have looked, acknowledge it with --ack-unreadable FILE"
            )
        );
    }
}

#[test]
fn an_acknowledged_unreadable_disk_stops_nothing_while_it_is_unchanged() {
    let facts = cache(vec![file("{1}", 30 * DAY)])
        .unreadable(&[("u8/disk", "permission denied")])
        .acknowledged(&[("u8/disk", IDENTITY)]);
    check(
        &facts,
        "
        {1} Remove: unused for 30d (originals are kept 1d)
        warning: cannot read u8/disk (a disk by Nova's name for one; acknowledged with --ack-unreadable: cleaning goes on): permission denied
        ",
    );
    // Any change raises the doubt again, and an acknowledgement covers its file only.
    let changes = [
        FileIdentity {
            ino: 43,
            ..IDENTITY
        },
        FileIdentity {
            size: 1,
            ..IDENTITY
        },
        FileIdentity {
            mtime: NOW,
            ..IDENTITY
        },
    ];
    for seen in changes {
        let facts = cache(vec![file("{1}", 30 * DAY)])
            .unreadable(&[
                ("u8/disk", "permission denied"),
                ("u9/disk", "permission denied"),
            ])
            .acknowledged(&[("u8/disk", seen), ("u9/disk", IDENTITY)]);
        let plan = crate::plan(&facts);
        assert!(plan.removal_blocked, "{seen:?}");
        let outcomes: Vec<DoubtOutcome> = plan
            .warnings
            .iter()
            .filter_map(|w| match w {
                Warning::UnreadableFile { outcome, .. } => Some(*outcome),
                _ => None,
            })
            .collect();
        assert_eq!(
            outcomes,
            [
                DoubtOutcome::BlocksChangedSinceAcknowledged,
                DoubtOutcome::Acknowledged
            ]
        );
    }
    let other = cache(vec![file("{1}", 30 * DAY)])
        .unreadable(&[("u9/disk", "permission denied")])
        .acknowledged(&[("u8/disk", IDENTITY)]);
    assert!(crate::plan(&other).removal_blocked);
}

#[test]
fn an_acknowledged_cache_file_stays_acknowledged_when_a_pass_touches_it() {
    // In use, so every clean refreshes its mtime: inode and size tell it is the same file.
    let mut kept = file("{1}", 10 * MINUTE);
    kept.chain_problem = Some("invalid disk header: truncated".to_owned());
    kept.ino = 7;
    let facts = cache(vec![kept.clone(), file("{2}", 30 * DAY)]).acknowledged(&[(
        "{1}",
        FileIdentity {
            ino: 7,
            size: kept.size,
            mtime: NOW - 5 * DAY,
        },
    )]);
    let plan = crate::plan(&facts);
    assert!(!plan.removal_blocked);
    assert_eq!(decision(&plan, "{2}").state, State::Remove);
    let replaced = cache(vec![kept.clone(), file("{2}", 30 * DAY)]).acknowledged(&[(
        "{1}",
        FileIdentity {
            ino: 8,
            size: kept.size,
            mtime: kept.mtime,
        },
    )]);
    assert!(crate::plan(&replaced).removal_blocked);
}
