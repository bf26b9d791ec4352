//! Telling the format from the first bytes, and how many bytes the parser needs.

use super::{image, overlay, parse, parse_like_the_reader, with_backing_name};
use crate::create::Qcow2Spec;
use crate::{DiskHeader, HeaderError, MAX_HEADER_BYTES, bytes_needed, parse_header};

#[test]
fn files_without_the_magic_are_raw() {
    for bytes in [
        &b""[..],
        b"Q",
        b"QF",
        b"QFI",
        b"QFI\xfa",
        b"\x00\x00\x00\x00",
        b"KDM",
    ] {
        assert_eq!(
            parse(bytes),
            Ok(DiskHeader::raw(bytes.len() as u64)),
            "{bytes:?}"
        );
    }
    assert_eq!(
        parse_header(b"hello", 1 << 40),
        Ok(DiskHeader::raw(1 << 40))
    );
    // A prefix of the magic with more file to come: too little was read.
    assert_eq!(
        parse_header(b"QF", 100),
        Err(HeaderError::Truncated { needed: 4, have: 2 })
    );
    // A whole magic is that format, as QEMU probes it, even with nothing after it.
    assert!(matches!(
        parse(b"KDMV"),
        Err(HeaderError::Truncated { needed: 79, .. })
    ));
}

#[test]
fn bytes_needed_sizes() {
    assert_eq!(bytes_needed(b""), Ok(112));
    assert_eq!(bytes_needed(b"QFI"), Ok(112));
    assert_eq!(bytes_needed(b"QFI\xfb"), Ok(112));
    assert_eq!(bytes_needed(b"raw data"), Ok(8));
    assert_eq!(bytes_needed(&[7; 10_000]), Ok(10_000));
    let bare = image(&Qcow2Spec::new(1 << 20));
    // Feature table (8 + 384) then the end marker.
    assert_eq!(bytes_needed(&bare), Ok(112 + 392 + 8));
    assert_eq!(
        bytes_needed(&bare[..200]),
        Ok(65536),
        "the walk ran out: the whole area"
    );
    let ov = overlay();
    let name_end = u64::from_be_bytes(ov[8..16].try_into().expect("8 bytes")) + 4;
    assert_eq!(bytes_needed(&ov), Ok(name_end as usize));
    // The largest cluster, with the name at its very end.
    let big = image(&Qcow2Spec {
        cluster_bits: 21,
        ..Qcow2Spec::new(1 << 30)
    });
    let big = with_backing_name(big, (1 << 21) - 4, b"base");
    assert_eq!(bytes_needed(&big[..4096]), Ok(MAX_HEADER_BYTES));
    assert_eq!(
        parse_like_the_reader(&big).map(|h| h.backing_file),
        Ok(Some(b"base".to_vec()))
    );
}
