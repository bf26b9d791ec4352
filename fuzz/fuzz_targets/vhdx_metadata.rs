//! VHDX metadata regions: `cachectl_qcow2::parse_vhdx_metadata` on any bytes.
//!
//! The input is the first bytes of a metadata region, as `read_header` reads them (at most
//! 1 MiB). Besides never panicking, an accepted region must give what `qemu-img info` can
//! report: a VHDX with a block size QEMU opens.

#![no_main]

use cachectl_qcow2::{Format, HeaderError, parse_vhdx_metadata};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse_vhdx_metadata(data, 3 << 20) {
        Ok(header) => {
            assert_eq!(header.format, Format::Vhdx);
            let block = header.cluster_size.unwrap_or(0);
            assert!(
                block.is_power_of_two() && (1 << 20..=256 << 20).contains(&block),
                "block size {block}"
            );
            assert!(header.virtual_size.is_some() && header.backing_file.is_none());
        }
        Err(HeaderError::Invalid { format, offset, .. }) => {
            assert_eq!(format, "vhdx");
            assert!(offset >= 3 << 20, "offset {offset} is before the region");
        }
        Err(HeaderError::ParentNotReadable { format }) => assert_eq!(format, "vhdx"),
        Err(other) => panic!("an unexpected error: {other}"),
    }
});
