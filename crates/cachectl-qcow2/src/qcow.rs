//! QEMU's original qcow format (version 1 of the qcow magic): pure, never panics.
//!
//! The checks follow QEMU's `qcow_open` (block/qcow.c). The header is big-endian: magic,
//! version 1, `backing_file_offset` (u64 @8), `backing_file_size` (u32 @16), `mtime` (@20),
//! `size` (u64 @24), `cluster_bits` (u8 @32), `l2_bits` (u8 @33), `crypt_method` (u32 @36),
//! `l1_table_offset` (u64 @40). The backing name may lie anywhere in the file.

use nom::Parser;
use nom::bytes::complete::{tag, take};
use nom::number::complete::{be_u8, be_u32, be_u64};

use crate::disk::{DiskHeader, Format};
use crate::error::HeaderError;
use crate::magic::QCOW2_MAGIC;
use crate::source::{MAX_BACKING_NAME_LEN, Source, backing_name, truncated};

/// Length of the qcow header.
const HEADER_LEN: u64 = 48;
/// The cluster sizes QEMU accepts: 512 bytes to 64 KiB.
const CLUSTER_BITS: std::ops::RangeInclusive<u8> = 9..=16;
/// The L2 table sizes QEMU accepts: 512 bytes to 64 KiB of 8-byte entries.
const L2_BITS: std::ops::RangeInclusive<u8> = 6..=13;
/// `crypt_method` AES-CBC (0 is none); `qemu-img` still opens it.
const CRYPT_AES: u32 = 1;
/// QEMU's limit on the L1 table: `INT_MAX / sizeof(uint64_t)` entries.
const MAX_L1_ENTRIES: u64 = i32::MAX as u64 / 8;

/// The fields of the header QEMU uses.
struct Fields {
    backing_file_offset: u64,
    backing_file_size: u32,
    size: u64,
    cluster_bits: u8,
    l2_bits: u8,
    crypt_method: u32,
}

/// nom: the header (magic and version checked).
fn fields(input: &[u8]) -> nom::IResult<&[u8], Fields> {
    let (input, (_, _, backing_file_offset, backing_file_size, _mtime, size)) = (
        tag(&QCOW2_MAGIC[..]),
        tag(&[0u8, 0, 0, 1][..]),
        be_u64,
        be_u32,
        be_u32,
        be_u64,
    )
        .parse(input)?;
    let (input, (cluster_bits, l2_bits, _padding, crypt_method, _l1_table_offset)) =
        (be_u8, be_u8, take(2usize), be_u32, be_u64).parse(input)?;
    let fields = Fields {
        backing_file_offset,
        backing_file_size,
        size,
        cluster_bits,
        l2_bits,
        crypt_method,
    };
    Ok((input, fields))
}

/// Reads and checks the header, in QEMU's order.
fn header(src: &Source<'_>) -> Result<Fields, HeaderError> {
    let bytes = src.need(0, HEADER_LEN)?;
    let (_, f) = fields(bytes).map_err(|_| truncated(HEADER_LEN, src.buf))?;
    let invalid = |offset, reason| HeaderError::Invalid {
        format: "qcow",
        offset,
        reason,
    };
    if f.size <= 1 {
        return Err(invalid(
            24,
            "image size is too small (must be at least 2 bytes)",
        ));
    }
    if !CLUSTER_BITS.contains(&f.cluster_bits) {
        return Err(invalid(32, "cluster size must be between 512 and 64k"));
    }
    if !L2_BITS.contains(&f.l2_bits) {
        return Err(invalid(33, "L2 table size must be between 512 and 64k"));
    }
    if f.crypt_method > CRYPT_AES {
        return Err(invalid(36, "invalid encryption method"));
    }
    // shift <= 29: no overflow.
    let shift = u32::from(f.cluster_bits) + u32::from(f.l2_bits);
    let span = 1u64 << shift;
    if f.size > u64::MAX - span || (f.size + span - 1) >> shift > MAX_L1_ENTRIES {
        return Err(invalid(24, "image too large"));
    }
    Ok(f)
}

/// Parses a qcow (version 1) header; the magic and version are there.
pub(crate) fn parse(src: &Source<'_>) -> Result<DiskHeader, HeaderError> {
    let f = header(src)?;
    let mut header = DiskHeader::bare(Format::Qcow, Some(f.size));
    header.version = Some(1);
    header.cluster_size = Some(1u64 << f.cluster_bits);
    header.crypt_method = Some(f.crypt_method);
    if f.backing_file_offset != 0 {
        let (offset, size) = (f.backing_file_offset, f.backing_file_size);
        if size > MAX_BACKING_NAME_LEN {
            return Err(HeaderError::BackingNameTooLong(size));
        }
        header.backing_file = backing_name(src, offset, size)?;
    }
    Ok(header)
}

/// How many bytes [`parse`] reads: the header and the backing name.
pub(crate) fn bytes_needed(src: &Source<'_>) -> Result<usize, HeaderError> {
    let f = match header(src) {
        Ok(f) => f,
        Err(HeaderError::Truncated { .. }) => return Ok(HEADER_LEN as usize),
        Err(e) => return Err(e),
    };
    let mut needed = HEADER_LEN;
    if f.backing_file_offset != 0 && f.backing_file_size <= MAX_BACKING_NAME_LEN {
        needed = needed.max(
            f.backing_file_offset
                .saturating_add(u64::from(f.backing_file_size)),
        );
    }
    Ok(usize::try_from(needed).unwrap_or(usize::MAX))
}
