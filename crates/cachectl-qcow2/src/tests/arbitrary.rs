//! Property tests: arbitrary and mutated bytes never panic, `bytes_needed` stays bounded, and
//! reading what it asks for gives what reading the whole file gives.

use proptest::prelude::*;

use super::{image, overlay, parse, parse_like_the_reader};
use crate::create::Qcow2Spec;
use crate::{MAX_HEADER_BYTES, QCOW2_MAGIC, bytes_needed, parse_header};

/// A valid header to mutate: small clusters so that whole images stay small.
fn seeds() -> Vec<Vec<u8>> {
    vec![
        overlay(),
        image(&Qcow2Spec {
            cluster_bits: 12,
            version: 2,
            backing_file: Some(b"../_base/abc"),
            backing_format: Some("raw"),
            ..Qcow2Spec::new(1 << 30)
        }),
        image(&Qcow2Spec {
            cluster_bits: 13,
            data_file: Some(b"data"),
            backing_file: Some(b"b"),
            ..Qcow2Spec::new(1 << 20)
        }),
    ]
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..700), extra in 0u64..100_000) {
        let needed = bytes_needed(&bytes);
        if let Ok(n) = needed {
            prop_assert!(n <= MAX_HEADER_BYTES + 4096 || n == bytes.len());
        }
        let _ = parse_header(&bytes, bytes.len() as u64);
        let _ = parse_header(&bytes, bytes.len() as u64 + extra);
        let _ = parse_header(&bytes, 0);
    }

    #[test]
    fn arbitrary_bytes_after_the_magic_never_panic(
        version in prop_oneof![Just(2u32), Just(3u32), any::<u32>()],
        bytes in proptest::collection::vec(any::<u8>(), 0..700),
    ) {
        let mut whole = QCOW2_MAGIC.to_vec();
        whole.extend_from_slice(&version.to_be_bytes());
        whole.extend_from_slice(&bytes);
        if let Ok(n) = bytes_needed(&whole) {
            prop_assert!(n <= MAX_HEADER_BYTES + 4096);
        }
        let _ = parse_header(&whole, whole.len() as u64);
        let _ = parse_header(&whole, u64::MAX);
    }

    #[test]
    fn arbitrary_bytes_after_other_magics_never_panic(
        magic in prop_oneof![
            Just(&b"QED\0"[..]),
            Just(&b"KDMV"[..]),
            Just(&b"COWD"[..]),
            Just(&b"conectix"[..]),
            Just(&b"vhdxfile"[..]),
            Just(&b"LUKS\xba\xbe"[..]),
            Just(&b"QFI\xfb\0\0\0\x01"[..]),
            Just(&b"# Disk DescriptorFile\nversion=1\ncreateType=\"monolithicFlat\"\nCID=1\nparentCID=2\nRW "[..]),
        ],
        bytes in proptest::collection::vec(any::<u8>(), 0..700),
        vdi in any::<bool>(),
    ) {
        let mut whole = magic.to_vec();
        whole.extend_from_slice(&bytes);
        if vdi && whole.len() >= 0x44 {
            whole[0x40..0x44].copy_from_slice(&0xbeda_107fu32.to_le_bytes());
        }
        if let Ok(n) = bytes_needed(&whole) {
            prop_assert!(n <= MAX_HEADER_BYTES);
        }
        let all = parse(&whole);
        prop_assert_eq!(parse_like_the_reader(&whole), all);
        let _ = parse_header(&whole, u64::MAX);
    }

    #[test]
    fn mutated_headers_never_panic_and_need_no_more_than_bytes_needed(
        seed in 0usize..3,
        mutations in proptest::collection::vec((0usize..1024, any::<u8>()), 1..8),
        cut in proptest::option::of(0usize..8192),
    ) {
        let mut whole = seeds().swap_remove(seed);
        for (at, byte) in mutations {
            // Aim most mutations at the fixed header, where every byte matters.
            let at = if at % 2 == 0 { at % 112 } else { at };
            if let Some(b) = whole.get_mut(at) {
                *b = byte;
            }
        }
        if let Some(cut) = cut {
            whole.truncate(cut);
        }
        let needed = bytes_needed(&whole[..whole.len().min(4096)]);
        if let Ok(n) = needed {
            prop_assert!(n <= MAX_HEADER_BYTES + 4096);
        }
        // Reading what bytes_needed asks for gives what reading everything gives.
        let all = parse(&whole);
        let limited = parse_like_the_reader(&whole);
        prop_assert_eq!(&limited, &all);
        if let Err(e) = needed {
            prop_assert_eq!(Err(e), all);
        }
    }
}
