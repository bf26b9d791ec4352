//! Classifying the entries of the cache directory by name.

use std::ffi::OsStr;
use std::fmt;

use crate::fingerprint::{FINGERPRINT_LEN, is_fingerprint};

/// What a `_base` entry is, judged by its name alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryName<'a> {
    /// `<fingerprint>`: an image as downloaded.
    Original {
        /// The 40 hex digits.
        fingerprint: &'a str,
    },
    /// `<fingerprint>_<digits>`: a copy resized to a size (GB in Essex, bytes later). Includes
    /// `_1`…`_9`, which Nova's own pass never recognises.
    Resized {
        /// The 40 hex digits.
        fingerprint: &'a str,
        /// The digits after the underscore, as written.
        size: &'a str,
    },
    /// `<fingerprint>_sm`: the legacy "small" copy.
    LegacySmall {
        /// The 40 hex digits.
        fingerprint: &'a str,
    },
    /// `swap_<MB>`: a blank swap base.
    Swap {
        /// The size in MB, as written.
        size_mb: &'a str,
    },
    /// `ephemeral_<GB>_<7 hex>`: a formatted ephemeral base.
    Ephemeral {
        /// The size in GB, as written.
        size_gb: &'a str,
        /// The first 7 hex digits of the md5 of the filesystem or mkfs command.
        fs_suffix: &'a str,
    },
    /// `<image>.info` or `<image>.sha1`: the checksum of another cache entry.
    Sidecar {
        /// The name of the image file the sidecar belongs to.
        of: &'a str,
        /// Which sidecar format.
        kind: SidecarKind,
    },
    /// `<image>.part` or `<image>.converted`: what an interrupted download leaves.
    DownloadLeftover {
        /// The name of the image file being downloaded.
        of: &'a str,
        /// Which stage of the download left it.
        kind: LeftoverKind,
    },
    /// `.<sidecar>.tmp-<tag>`: the temporary file of a sidecar write that was cut off (cachectl
    /// writes a sidecar under a temporary name, then renames it). Its kind is
    /// [`EntryKind::DownloadLeftover`].
    InterruptedWrite {
        /// The name of the image file whose sidecar was being written.
        of: &'a str,
        /// The sidecar being written.
        file: &'a str,
        /// What follows `.tmp-`: the writer's process id and a random part.
        tag: &'a str,
    },
    /// Anything else: not the cache's, left alone.
    Foreign,
}

/// The kind of an entry, without its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntryKind {
    /// See [`EntryName::Original`].
    Original,
    /// See [`EntryName::Resized`].
    Resized,
    /// See [`EntryName::LegacySmall`].
    LegacySmall,
    /// See [`EntryName::Swap`].
    Swap,
    /// See [`EntryName::Ephemeral`].
    Ephemeral,
    /// See [`EntryName::Sidecar`].
    Sidecar,
    /// See [`EntryName::DownloadLeftover`] and [`EntryName::InterruptedWrite`].
    DownloadLeftover,
    /// See [`EntryName::Foreign`].
    Foreign,
}

/// The two checksum sidecar formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SidecarKind {
    /// `.info`: JSON with `sha1` and `sha1-timestamp` (Folsom on).
    Info,
    /// `.sha1`: the bare hex digest (Essex).
    Sha1,
}

/// The two download leftovers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LeftoverKind {
    /// `.part`: a download cut off.
    Part,
    /// `.converted`: a conversion to raw cut off.
    Converted,
}

impl SidecarKind {
    /// The file name suffix, with its dot.
    pub fn suffix(self) -> &'static str {
        match self {
            Self::Info => ".info",
            Self::Sha1 => ".sha1",
        }
    }
}

impl LeftoverKind {
    /// The file name suffix, with its dot.
    pub fn suffix(self) -> &'static str {
        match self {
            Self::Part => ".part",
            Self::Converted => ".converted",
        }
    }
}

impl EntryKind {
    /// Every kind, in report order (for series that must exist when zero).
    pub const ALL: [Self; 8] = [
        Self::Original,
        Self::Resized,
        Self::LegacySmall,
        Self::Swap,
        Self::Ephemeral,
        Self::Sidecar,
        Self::DownloadLeftover,
        Self::Foreign,
    ];

    /// A stable snake_case name, as reports print it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Original => "original",
            Self::Resized => "resized",
            Self::LegacySmall => "legacy_small",
            Self::Swap => "swap",
            Self::Ephemeral => "ephemeral",
            Self::Sidecar => "sidecar",
            Self::DownloadLeftover => "download_leftover",
            Self::Foreign => "foreign",
        }
    }

    /// Whether entries of this kind are images a disk may be backed by.
    pub fn is_image(self) -> bool {
        matches!(
            self,
            Self::Original | Self::Resized | Self::LegacySmall | Self::Swap | Self::Ephemeral
        )
    }
}

impl fmt::Display for EntryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'a> EntryName<'a> {
    /// The kind, without its parts.
    pub fn kind(&self) -> EntryKind {
        match self {
            Self::Original { .. } => EntryKind::Original,
            Self::Resized { .. } => EntryKind::Resized,
            Self::LegacySmall { .. } => EntryKind::LegacySmall,
            Self::Swap { .. } => EntryKind::Swap,
            Self::Ephemeral { .. } => EntryKind::Ephemeral,
            Self::Sidecar { .. } => EntryKind::Sidecar,
            Self::DownloadLeftover { .. } | Self::InterruptedWrite { .. } => {
                EntryKind::DownloadLeftover
            }
            Self::Foreign => EntryKind::Foreign,
        }
    }

    /// The fingerprint of the image this entry is a copy of, for originals, resized and small copies.
    pub fn fingerprint(&self) -> Option<&'a str> {
        match *self {
            Self::Original { fingerprint }
            | Self::Resized { fingerprint, .. }
            | Self::LegacySmall { fingerprint } => Some(fingerprint),
            _ => None,
        }
    }

    /// The image file a sidecar or a download leftover belongs to.
    pub fn belongs_to(&self) -> Option<&'a str> {
        match *self {
            Self::Sidecar { of, .. }
            | Self::DownloadLeftover { of, .. }
            | Self::InterruptedWrite { of, .. } => Some(of),
            _ => None,
        }
    }

    /// Whether Nova's own pass (modern, `_scan_base_images`) would consider this entry at all.
    /// Nova never sees `<fp>_1`…`<fp>_9`, sidecars or leftovers, so it never cleans them.
    pub fn nova_recognises(&self) -> bool {
        match self {
            Self::Resized { size, .. } => size.len() > 1,
            Self::Original { .. }
            | Self::LegacySmall { .. }
            | Self::Swap { .. }
            | Self::Ephemeral { .. } => true,
            Self::Sidecar { .. }
            | Self::DownloadLeftover { .. }
            | Self::InterruptedWrite { .. }
            | Self::Foreign => false,
        }
    }
}

/// Classifies a `_base` entry by its name. Names that are not UTF-8 are never the cache's.
pub fn classify_os(name: &OsStr) -> EntryName<'_> {
    name.to_str().map_or(EntryName::Foreign, classify)
}

/// Classifies a `_base` entry by its name.
pub fn classify(name: &str) -> EntryName<'_> {
    if let Some(entry) = classify_image(name) {
        return entry;
    }
    for kind in [SidecarKind::Info, SidecarKind::Sha1] {
        if let Some(of) = name.strip_suffix(kind.suffix())
            && classify_image(of).is_some()
        {
            return EntryName::Sidecar { of, kind };
        }
    }
    for kind in [LeftoverKind::Part, LeftoverKind::Converted] {
        if let Some(of) = name.strip_suffix(kind.suffix())
            && classify_image(of).is_some()
        {
            return EntryName::DownloadLeftover { of, kind };
        }
    }
    if let Some((file, tag)) = name.strip_prefix('.').and_then(|n| n.rsplit_once(".tmp-"))
        && !tag.is_empty()
        && tag
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f' | b'-'))
        && let EntryName::Sidecar { of, .. } = classify(file)
    {
        return EntryName::InterruptedWrite { of, file, tag };
    }
    EntryName::Foreign
}

/// The image kinds: originals, resized and small copies, swap and ephemeral bases.
fn classify_image(name: &str) -> Option<EntryName<'_>> {
    if is_fingerprint(name) {
        return Some(EntryName::Original { fingerprint: name });
    }
    if let Some((fingerprint, rest)) = name.split_at_checked(FINGERPRINT_LEN)
        && is_fingerprint(fingerprint)
    {
        let suffix = rest.strip_prefix('_')?;
        return if suffix == "sm" {
            Some(EntryName::LegacySmall { fingerprint })
        } else if is_digits(suffix) {
            Some(EntryName::Resized {
                fingerprint,
                size: suffix,
            })
        } else {
            None
        };
    }
    if let Some(size_mb) = name.strip_prefix("swap_") {
        return is_digits(size_mb).then_some(EntryName::Swap { size_mb });
    }
    if let Some(rest) = name.strip_prefix("ephemeral_") {
        let (size_gb, fs_suffix) = rest.split_once('_')?;
        let hex7 = fs_suffix.len() == 7
            && fs_suffix
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        return (is_digits(size_gb) && hex7).then_some(EntryName::Ephemeral { size_gb, fs_suffix });
    }
    None
}

fn is_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP: &str = "17d1b00b81642842e514494a78e804e9a511637c";

    #[track_caller]
    fn check(name: &str, expected: EntryName<'_>) {
        assert_eq!(classify(name), expected, "{name}");
    }

    #[test]
    fn images() {
        check(FP, EntryName::Original { fingerprint: FP });
        check(
            &format!("{FP}_10737418240"),
            EntryName::Resized {
                fingerprint: FP,
                size: "10737418240",
            },
        );
        check(
            &format!("{FP}_5"),
            EntryName::Resized {
                fingerprint: FP,
                size: "5",
            },
        );
        check(
            &format!("{FP}_sm"),
            EntryName::LegacySmall { fingerprint: FP },
        );
        check("swap_512", EntryName::Swap { size_mb: "512" });
        check(
            "ephemeral_20_3a3a7b4",
            EntryName::Ephemeral {
                size_gb: "20",
                fs_suffix: "3a3a7b4",
            },
        );
    }

    #[test]
    fn sidecars_and_leftovers_name_their_image() {
        let info = format!("{FP}_5368709120.info");
        assert_eq!(
            classify(&info),
            EntryName::Sidecar {
                of: &info[..info.len() - 5],
                kind: SidecarKind::Info
            }
        );
        check(
            &format!("{FP}.sha1"),
            EntryName::Sidecar {
                of: FP,
                kind: SidecarKind::Sha1,
            },
        );
        check(
            &format!("{FP}.part"),
            EntryName::DownloadLeftover {
                of: FP,
                kind: LeftoverKind::Part,
            },
        );
        check(
            "swap_512.converted",
            EntryName::DownloadLeftover {
                of: "swap_512",
                kind: LeftoverKind::Converted,
            },
        );
    }

    #[test]
    fn temporary_files_of_sidecar_writes_are_leftovers_of_their_image() {
        let name = format!(".{FP}_5.info.tmp-4242-00ff00ff00ff00ff");
        let file = format!("{FP}_5.info");
        let entry = classify(&name);
        assert_eq!(
            entry,
            EntryName::InterruptedWrite {
                of: &file[..file.len() - 5],
                file: &file,
                tag: "4242-00ff00ff00ff00ff",
            }
        );
        assert_eq!(entry.kind(), EntryKind::DownloadLeftover);
        // The names of earlier versions: `.<sidecar>.tmp-<pid>`.
        assert_eq!(
            classify(&format!(".{FP}.info.tmp-77")).belongs_to(),
            Some(FP)
        );
        for foreign in [
            format!(".{FP}.tmp-77"),
            format!(".{FP}.info.tmp-"),
            format!(".{FP}.info.tmp-x"),
            format!("{FP}.info.tmp-77"),
            ".compute_nodes.tmp-77".to_owned(),
        ] {
            check(&foreign, EntryName::Foreign);
        }
    }

    #[test]
    fn foreign_names_are_left_alone() {
        for name in [
            "00000001",
            "00000004",
            "ephemeral_0_20_None",
            "README",
            "",
            "swap_",
            "swap_12a",
            "ephemeral_20_3A3A7B4",
            "ephemeral_20_3a3a7b",
            &format!("{FP}_"),
            &format!("{FP}_abc"),
            &format!("{FP}x"),
            &FP.to_uppercase(),
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaz",
            "README.info",
            &format!("{FP}.info.info"),
            &format!("{FP}.part.sha1"),
            "é",
        ] {
            check(name, EntryName::Foreign);
        }
    }

    #[test]
    fn nova_never_recognises_single_digit_resized_copies() {
        assert!(!classify(&format!("{FP}_7")).nova_recognises());
        assert!(classify(&format!("{FP}_77")).nova_recognises());
        assert!(!classify(&format!("{FP}.part")).nova_recognises());
    }

    #[test]
    fn non_utf8_names_are_foreign() {
        use std::os::unix::ffi::OsStrExt;
        assert_eq!(
            classify_os(OsStr::from_bytes(b"\xff\xfe")),
            EntryName::Foreign
        );
    }

    proptest::proptest! {
        #[test]
        fn classify_never_panics_and_sidecars_point_at_images(name in ".{0,64}") {
            let entry = classify(&name);
            if let Some(of) = entry.belongs_to() {
                proptest::prop_assert!(classify(of).kind().is_image());
            }
        }
    }
}
