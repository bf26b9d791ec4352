//! Cache entry names: `classify` and `classify_os` on any directory entry name.
//!
//! Every kind is checked against the name it came from: the parts put back together are the
//! name, a fingerprint is one, and a sidecar or leftover belongs to a name of an image kind.

#![no_main]

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use cachectl_naming::{EntryName, Fingerprint, classify, classify_os};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let from_os = classify_os(OsStr::from_bytes(data));
    let Ok(name) = std::str::from_utf8(data) else {
        assert_eq!(from_os, EntryName::Foreign, "a name that is not UTF-8");
        return;
    };
    let entry = classify(name);
    assert_eq!(entry, from_os);

    let kind = entry.kind();
    if let Some(fingerprint) = entry.fingerprint() {
        assert!(Fingerprint::parse(fingerprint).is_ok(), "{fingerprint:?}");
    }
    if let Some(of) = entry.belongs_to() {
        assert!(classify(of).kind().is_image(), "{name:?} belongs to {of:?}");
        assert!(!kind.is_image());
    }
    if entry.nova_recognises() {
        assert!(kind.is_image(), "Nova recognises {name:?}, a {kind}");
    }
    let rebuilt = match entry {
        EntryName::Original { fingerprint } => fingerprint.to_owned(),
        EntryName::Resized { fingerprint, size } => format!("{fingerprint}_{size}"),
        EntryName::LegacySmall { fingerprint } => format!("{fingerprint}_sm"),
        EntryName::Swap { size_mb } => format!("swap_{size_mb}"),
        EntryName::Ephemeral { size_gb, fs_suffix } => format!("ephemeral_{size_gb}_{fs_suffix}"),
        EntryName::Sidecar { of, kind } => format!("{of}{}", kind.suffix()),
        EntryName::DownloadLeftover { of, kind } => format!("{of}{}", kind.suffix()),
        EntryName::InterruptedWrite { file, tag, .. } => format!(".{file}.tmp-{tag}"),
        EntryName::Foreign => name.to_owned(),
    };
    assert_eq!(rebuilt, name, "the parts of a {kind} put back together");
});
