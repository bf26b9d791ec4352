//! Disk headers: `parse_header` and `bytes_needed` on any file, and the two reads `read_header` makes.
//!
//! The input is a whole file. Besides never panicking, the parse of what `bytes_needed` asks for
//! (from the whole file, and from the 4 KiB prefix `read_header` reads first) must be the parse
//! of the whole file: `bytes_needed` covers every byte the parser reads.

#![no_main]

use cachectl_qcow2::{
    DiskHeader, Format, HeaderError, MAX_BACKING_NAME_LEN, MAX_CLUSTER_BITS, MAX_HEADER_BYTES,
    MIN_CLUSTER_BITS, bytes_needed, parse_header,
};
use libfuzzer_sys::fuzz_target;

/// What `read_header` reads before it asks `bytes_needed` (cachectl-qcow2 src/read.rs).
const READER_PREFIX_LEN: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let file_len = data.len() as u64;
    let whole = parse_header(data, file_len);
    if let Ok(header) = &whole {
        check_header(header, file_len);
    }

    // What bytes_needed asks for is enough: judging from the whole file, and as read_header
    // asks, from a 4 KiB prefix, keeping that prefix.
    check_needed(data, data, 0, &whole);
    let prefix = &data[..data.len().min(READER_PREFIX_LEN)];
    check_needed(data, prefix, prefix.len(), &whole);
});

/// Checks that parsing the first `bytes_needed(prefix)` bytes of `data` (at least `at_least`)
/// gives `whole`, the parse of all of `data`.
fn check_needed(
    data: &[u8],
    prefix: &[u8],
    at_least: usize,
    whole: &Result<DiskHeader, HeaderError>,
) {
    let from = prefix.len();
    match bytes_needed(prefix) {
        Ok(needed) => {
            assert!(
                needed <= MAX_HEADER_BYTES + 4096,
                "bytes_needed asks for {needed} bytes"
            );
            let read = needed.max(at_least).min(data.len());
            let part = parse_header(&data[..read], data.len() as u64);
            assert_eq!(
                &part, whole,
                "the first {read} bytes (bytes_needed asks for {needed}, judging from {from}) \
                 parse differently from the whole file"
            );
        }
        Err(err) => assert_eq!(
            &Err(err),
            whole,
            "bytes_needed fails (judging from {from} bytes) where parse_header does not"
        ),
    }
}

/// What any header the parser accepts must look like.
fn check_header(header: &DiskHeader, file_len: u64) {
    let no_nul = |name: &[u8]| !name.is_empty() && !name.contains(&0);
    match header.format {
        Format::Raw => assert_eq!(header, &DiskHeader::raw(file_len)),
        Format::Qcow2 => {
            assert!(matches!(header.version, Some(2 | 3)), "{header:?}");
            let cluster_size = header.cluster_size.unwrap_or(0);
            assert!(
                cluster_size.is_power_of_two()
                    && (1 << MIN_CLUSTER_BITS..=1 << MAX_CLUSTER_BITS).contains(&cluster_size),
                "cluster size {cluster_size}"
            );
            let header_length = u64::from(header.header_length.unwrap_or(0));
            assert!(
                header_length >= 72 && header_length <= cluster_size,
                "header length {header_length}"
            );
            if let Some(name) = &header.backing_file {
                assert!(no_nul(name), "backing file {name:?}");
                assert!(name.len() <= MAX_BACKING_NAME_LEN as usize);
            }
            if let Some(format) = &header.backing_format {
                assert!(
                    no_nul(format) && format.len() <= 15,
                    "backing format {format:?}"
                );
            }
            if let Some(name) = &header.data_file {
                assert!(!name.contains(&0), "data file {name:?}");
            }
            if let Some(name) = header.external_data_file() {
                assert!(header.has_external_data_file() && !name.contains(&0));
            }
            assert!(header.refcount_bits().is_some_and(|bits| bits <= 64));
            for (_, _, name) in &header.feature_names {
                assert!(no_nul(name) && name.len() <= 46, "feature name {name:?}");
            }
            let _ = (
                header.is_dirty(),
                header.is_corrupt(),
                header.data_file_raw(),
            );
            let _ = (header.lazy_refcounts(), header.extended_l2());
        }
        _ => {}
    }
}
