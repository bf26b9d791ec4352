//! Policy tests: the words reports print.

use super::*;
use crate::Names;

#[test]
fn every_reason_reads_as_written() {
    let strings = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let unused = |kind| Reason::Unused {
        age: 7_200,
        min_age: 3_600,
        kind,
    };
    let cases = [
        (
            Reason::ImageInUse {
                image_id: "1".into(),
                local: strings(&["vm1"]).into(),
                remote: Names::default(),
            },
            "image 1 is used by vm1 on this host",
        ),
        (
            Reason::ImageInUse {
                image_id: "1".into(),
                local: Names::default(),
                remote: strings(&["vm2@c2"]).into(),
            },
            "image 1 is used by vm2@c2 on other hosts",
        ),
        (
            Reason::ImageInUse {
                image_id: "1".into(),
                local: strings(&["vm1", "vm3"]).into(),
                remote: strings(&["vm2@c2"]).into(),
            },
            "image 1 is used by vm1 and vm3 on this host and vm2@c2 on other hosts",
        ),
        (
            Reason::CopyOfUsedImage {
                image_id: "1".into(),
            },
            "a resized copy of image 1, which is in use, but no disk uses this copy",
        ),
        (
            Reason::SwapInUse {
                instances: strings(&["vm1"]).into(),
            },
            "swap disk of vm1",
        ),
        (
            Reason::EphemeralInUse {
                instances: strings(&["vm1", "vm2@c2"]).into(),
            },
            "ephemeral disk of vm1 and vm2@c2",
        ),
        (
            Reason::BackingFileOf {
                disks: strings(&["u1/disk"]).into(),
                by_name_only: false,
            },
            "backing file of u1/disk",
        ),
        (
            Reason::BackingFileOf {
                disks: strings(&["u1/disk", "u2/disk"]).into(),
                by_name_only: true,
            },
            "backing file of u1/disk and u2/disk (a reference names another path with this file name: kept, as Nova does)",
        ),
        (
            Reason::DataFileOf {
                disks: strings(&["u1/disk"]).into(),
            },
            "external data file of u1/disk",
        ),
        (
            Reason::BacksCacheFile { file: "f_5".into() },
            "backing file of cache file f_5, which is kept",
        ),
        (
            Reason::MayBeInUse { unreadable: 1 },
            "may be in use: 1 file under the instances path could not be read, so nothing is removed",
        ),
        (
            Reason::MayBeInUse { unreadable: 3 },
            "may be in use: 3 files under the instances path could not be read, so nothing is removed",
        ),
        (
            unused(EntryKind::Original),
            "unused for 2h (originals are kept 1h)",
        ),
        (
            Reason::Pinned {
                image_id: "9b1f-golden".into(),
            },
            "pinned: image 9b1f-golden is kept by --keep",
        ),
        (
            Reason::CapReached {
                cap: crate::RemovalCap::Files(100),
            },
            "left for the next run: this one removes at most 100 files (--max-remove)",
        ),
        (
            Reason::CapReached {
                cap: crate::RemovalCap::Bytes(50 << 30),
            },
            "left for the next run: this one removes at most 50.0 GiB (--max-remove)",
        ),
        (
            Reason::ForSpace {
                age: 7_200,
                min_age: 86_400,
                target: crate::SpaceTarget {
                    min_free: Some(10 << 30),
                    max_cache: None,
                },
            },
            "space: unused for 2h (less than 1d), the longest unused while 10.0 GiB must stay free",
        ),
        (
            Reason::ForSpace {
                age: 60,
                min_age: 3_600,
                target: crate::SpaceTarget {
                    min_free: Some(1 << 30),
                    max_cache: Some(500 << 30),
                },
            },
            "space: unused for 1m (less than 1h), the longest unused while 1.0 GiB must stay free and the cache take at most 500.0 GiB",
        ),
        (
            Reason::ForSpace {
                age: 60,
                min_age: 3_600,
                target: crate::SpaceTarget {
                    min_free: None,
                    max_cache: Some(2 << 40),
                },
            },
            "space: unused for 1m (less than 1h), the longest unused while the cache must take at most 2.0 TiB",
        ),
        (
            unused(EntryKind::Resized),
            "unused for 2h (resized copies are kept 1h)",
        ),
        (
            unused(EntryKind::LegacySmall),
            "unused for 2h (small copies are kept 1h)",
        ),
        (
            unused(EntryKind::Swap),
            "unused for 2h (swap bases are kept 1h)",
        ),
        (
            unused(EntryKind::Ephemeral),
            "unused for 2h (ephemeral bases are kept 1h)",
        ),
        (
            unused(EntryKind::Sidecar),
            "unused for 2h (orphan sidecars are kept 1h)",
        ),
        (
            unused(EntryKind::DownloadLeftover),
            "unused for 2h (download leftovers are kept 1h)",
        ),
        (
            unused(EntryKind::Foreign),
            "unused for 2h (other files are kept 1h)",
        ),
        (
            Reason::TooYoung {
                age: 59,
                min_age: 3_600,
            },
            "unused for 59s, kept until unused for 1h",
        ),
        (
            Reason::SidecarOfKept { image: "f".into() },
            "checksum of f, kept with it",
        ),
        (
            Reason::SidecarOfRemoved { image: "f".into() },
            "checksum of f, removed with it",
        ),
        (
            Reason::SidecarOfMissing { image: "f".into() },
            "checksum of f, which is not in the cache",
        ),
        (
            Reason::DownloadLeftover { image: "f".into() },
            "left by an interrupted download of f",
        ),
        (
            Reason::InterruptedWrite {
                file: "f.info".into(),
            },
            "left by an interrupted write of f.info",
        ),
        (
            Reason::NotCacheName,
            "not a name the cache gives: left alone",
        ),
        (
            Reason::NotRegularFile { what: "directory" },
            "a directory, not a regular file: left alone",
        ),
    ];
    let mut variants = BTreeSet::new();
    for (reason, expected) in &cases {
        assert_eq!(reason.to_string(), *expected);
        variants.insert(reason_variant(reason));
    }
    assert_eq!(variants.len(), 20, "every variant once: {variants:?}");
}

/// No wildcard: a new variant does not compile until it has a sentence above.
fn reason_variant(reason: &Reason) -> &'static str {
    match reason {
        Reason::ImageInUse { .. } => "ImageInUse",
        Reason::CopyOfUsedImage { .. } => "CopyOfUsedImage",
        Reason::SwapInUse { .. } => "SwapInUse",
        Reason::EphemeralInUse { .. } => "EphemeralInUse",
        Reason::BackingFileOf { .. } => "BackingFileOf",
        Reason::DataFileOf { .. } => "DataFileOf",
        Reason::BacksCacheFile { .. } => "BacksCacheFile",
        Reason::MayBeInUse { .. } => "MayBeInUse",
        Reason::Unused { .. } => "Unused",
        Reason::TooYoung { .. } => "TooYoung",
        Reason::ForSpace { .. } => "ForSpace",
        Reason::Pinned { .. } => "Pinned",
        Reason::CapReached { .. } => "CapReached",
        Reason::SidecarOfKept { .. } => "SidecarOfKept",
        Reason::SidecarOfRemoved { .. } => "SidecarOfRemoved",
        Reason::SidecarOfMissing { .. } => "SidecarOfMissing",
        Reason::DownloadLeftover { .. } => "DownloadLeftover",
        Reason::InterruptedWrite { .. } => "InterruptedWrite",
        Reason::NotCacheName => "NotCacheName",
        Reason::NotRegularFile { .. } => "NotRegularFile",
    }
}

#[test]
fn every_warning_reads_as_written() {
    let cases = [
        (
            Warning::UnreadableFile {
                file: UnreadableFile {
                    path: "u1/disk".into(),
                    problem: "permission denied".into(),
                    read_as: ReadAs::DiskInfo,
                    identity: None,
                },
                outcome: DoubtOutcome::BlocksChangedSinceAcknowledged,
            },
            "cannot read u1/disk (a disk its instance's disk.info lists; changed since it was acknowledged: nothing is removed while it cannot be read): permission denied",
        ),
        (
            Warning::RemovalBlocked { unreadable: 1 },
            "nothing is removed: 1 file that may be a disk could not be read; fix or remove it, or once you have looked, acknowledge it with --ack-unreadable FILE",
        ),
        (
            Warning::RemovalBlocked { unreadable: 2 },
            "nothing is removed: 2 files that may be disks could not be read; fix or remove them, or once you have looked, acknowledge them with --ack-unreadable FILE",
        ),
        (
            Warning::AbsentBaseFile {
                image_id: "1".into(),
                instances: vec!["vm1".into()],
            },
            "image 1 is used by vm1 on this host but has an absent base file in the cache",
        ),
        (
            Warning::PinnedImageAbsent {
                image_id: "golden".into(),
            },
            "pinned image golden has no file in the cache (--keep takes image ids, whose fingerprint names the cache's files)",
        ),
        (
            Warning::AbsentSwapOrEphemeral {
                name: "swap_512".into(),
            },
            "swap_512 is named by instance records but is not in the cache",
        ),
        (
            Warning::RecordsIgnored {
                hosts: vec![("c9".into(), 1), ("c8".into(), 2)],
            },
            "records of hosts not registered in compute_nodes in the last 24 h do not count: c9 (1 record) and c8 (2 records)",
        ),
        (
            Warning::StorageUsersUnknown,
            "cannot tell which hosts share this storage: every instance record counts",
        ),
    ];
    let mut variants = BTreeSet::new();
    for (warning, expected) in &cases {
        assert_eq!(warning.to_string(), *expected);
        variants.insert(warning_variant(warning));
    }
    assert_eq!(variants.len(), 7, "every variant once: {variants:?}");
}

/// No wildcard: a new variant does not compile until it has a sentence above.
fn warning_variant(warning: &Warning) -> &'static str {
    match warning {
        Warning::UnreadableFile { .. } => "UnreadableFile",
        Warning::RemovalBlocked { .. } => "RemovalBlocked",
        Warning::AbsentBaseFile { .. } => "AbsentBaseFile",
        Warning::AbsentSwapOrEphemeral { .. } => "AbsentSwapOrEphemeral",
        Warning::PinnedImageAbsent { .. } => "PinnedImageAbsent",
        Warning::RecordsIgnored { .. } => "RecordsIgnored",
        Warning::StorageUsersUnknown => "StorageUsersUnknown",
    }
}
