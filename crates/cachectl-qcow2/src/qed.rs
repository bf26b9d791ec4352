//! QED (QEMU Enhanced Disk) headers: pure, never panics.
//!
//! The checks follow QEMU's `bdrv_qed_do_open` (block/qed.c). The header is 64 bytes,
//! little-endian: magic `QED\0`, `cluster_size` (@4), `table_size` (@8, in clusters),
//! `header_size` (@12, in clusters), `features` (@16), `compat_features` (@24),
//! `autoclear_features` (@32), `l1_table_offset` (@40), `image_size` (@48), and, with the
//! backing file feature, `backing_filename_offset` (u32 @56) and `backing_filename_size`
//! (u32 @60). QEMU checks the L1 table offset against the file's layout when it reads the
//! tables; nothing here needs it.

use nom::Parser;
use nom::bytes::complete::tag;
use nom::number::complete::{le_u32, le_u64};

use crate::disk::{DiskHeader, Format};
use crate::error::HeaderError;
use crate::magic::QED_MAGIC;
use crate::source::{Source, backing_name, truncated};

/// Length of the QED header.
const HEADER_LEN: u64 = 64;
/// Feature: the image has a backing file.
const F_BACKING_FILE: u64 = 0x01;
/// Feature: the image was not closed cleanly.
const F_NEED_CHECK: u64 = 0x02;
/// Feature: the backing file is raw and must not be probed.
const F_BACKING_FORMAT_NO_PROBE: u64 = 0x04;
/// Every feature bit QEMU knows.
const FEATURE_MASK: u64 = F_BACKING_FILE | F_NEED_CHECK | F_BACKING_FORMAT_NO_PROBE;
/// The cluster sizes QEMU accepts (powers of two).
const CLUSTER_SIZES: std::ops::RangeInclusive<u32> = 4096..=64 << 20;
/// The table sizes QEMU accepts, in clusters (powers of two).
const TABLE_SIZES: std::ops::RangeInclusive<u32> = 1..=16;
/// QEMU reads the backing name into a buffer of `PATH_MAX` bytes, with its NUL.
const MAX_BACKING_NAME_LEN: u32 = 4095;

/// The header fields.
struct Fields {
    cluster_size: u32,
    table_size: u32,
    header_size: u32,
    features: u64,
    image_size: u64,
    backing_filename_offset: u32,
    backing_filename_size: u32,
}

/// nom: the 64-byte header (magic checked).
fn fields(input: &[u8]) -> nom::IResult<&[u8], Fields> {
    let (input, (_, cluster_size, table_size, header_size, features)) =
        (tag(&QED_MAGIC[..]), le_u32, le_u32, le_u32, le_u64).parse(input)?;
    let (input, (_compat, _autoclear, _l1_table_offset, image_size)) =
        (le_u64, le_u64, le_u64, le_u64).parse(input)?;
    let (input, (backing_filename_offset, backing_filename_size)) =
        (le_u32, le_u32).parse(input)?;
    let fields = Fields {
        cluster_size,
        table_size,
        header_size,
        features,
        image_size,
        backing_filename_offset,
        backing_filename_size,
    };
    Ok((input, fields))
}

/// QEMU's `qed_max_image_size`, with its (wrapping) 64-bit arithmetic.
fn max_image_size(cluster_size: u32, table_size: u32) -> u64 {
    let table_entries = u64::from(table_size.wrapping_mul(cluster_size)) / 8;
    let l2_size = table_entries.wrapping_mul(u64::from(cluster_size));
    l2_size.wrapping_mul(table_entries)
}

/// Reads and checks the header, in QEMU's order.
fn header(src: &Source<'_>) -> Result<Fields, HeaderError> {
    let bytes = src.need(0, HEADER_LEN)?;
    let (_, f) = fields(bytes).map_err(|_| truncated(HEADER_LEN, src.buf))?;
    let invalid = |offset, reason| HeaderError::Invalid {
        format: "qed",
        offset,
        reason,
    };
    if f.features & !FEATURE_MASK != 0 {
        return Err(invalid(16, "unsupported feature bits"));
    }
    if !(CLUSTER_SIZES.contains(&f.cluster_size) && f.cluster_size.is_power_of_two()) {
        return Err(invalid(
            4,
            "cluster size must be a power of two from 4 KiB to 64 MiB",
        ));
    }
    if !(TABLE_SIZES.contains(&f.table_size) && f.table_size.is_power_of_two()) {
        return Err(invalid(8, "table size must be a power of two from 1 to 16"));
    }
    if f.image_size % 512 != 0 || f.image_size > max_image_size(f.cluster_size, f.table_size) {
        return Err(invalid(
            48,
            "image size is not a multiple of 512 or too large",
        ));
    }
    if f.header_size > u32::MAX / f.cluster_size {
        return Err(invalid(12, "header size overflows"));
    }
    Ok(f)
}

/// Where the backing name lies, when the header has one QEMU reads; checked as QEMU does.
fn backing_name_range(f: &Fields) -> Result<Option<(u64, u32)>, HeaderError> {
    if f.features & F_BACKING_FILE == 0 {
        return Ok(None);
    }
    let (offset, size) = (f.backing_filename_offset, f.backing_filename_size);
    // header_size * cluster_size fits in a u32 (checked).
    let header_bytes = u64::from(f.header_size) * u64::from(f.cluster_size);
    if u64::from(offset) + u64::from(size) > header_bytes {
        return Err(HeaderError::BackingNameOutOfBounds {
            offset: u64::from(offset),
            size,
        });
    }
    if size > MAX_BACKING_NAME_LEN {
        return Err(HeaderError::Invalid {
            format: "qed",
            offset: 60,
            reason: "backing file name is too long (at most 4095 bytes)",
        });
    }
    Ok(Some((u64::from(offset), size)))
}

/// Parses a QED header; the magic is there.
pub(crate) fn parse(src: &Source<'_>) -> Result<DiskHeader, HeaderError> {
    let f = header(src)?;
    let mut header = DiskHeader::bare(Format::Qed, Some(f.image_size));
    header.cluster_size = Some(u64::from(f.cluster_size));
    if let Some((offset, size)) = backing_name_range(&f)? {
        header.backing_file = backing_name(src, offset, size)?;
        if header.backing_file.is_some() && f.features & F_BACKING_FORMAT_NO_PROBE != 0 {
            header.backing_format = Some(b"raw".to_vec());
        }
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
    let end = match backing_name_range(&f)? {
        Some((offset, size)) => offset + u64::from(size),
        None => 0,
    };
    Ok(usize::try_from(end.max(HEADER_LEN)).unwrap_or(usize::MAX))
}
