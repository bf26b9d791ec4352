//! VHD (QEMU's `vpc`) footers: pure, never panics.
//!
//! A dynamic or differencing VHD keeps a copy of its 512-byte footer at offset 0 (big-endian:
//! cookie `conectix`, `data_offset` u64 @16, `current_size` u64 @48, geometry @56, disk type
//! u32 @60); QEMU probes it by that cookie (block/vpc.c). A dynamic disk's 1 KiB header at
//! `data_offset` (cookie `cxsparse`, `max_table_entries` u32 @28, `block_size` u32 @32) gives
//! the block size, which QEMU reports as the cluster size; it is read when it lies within
//! the first 2 MiB, where `qemu-img` puts it (offset 512), and refused beyond. A fixed VHD has its footer only at the end of the file,
//! so QEMU probes it as raw, and so does this crate: a fixed disk has no parent anyway. A
//! differencing disk names its parent in locators QEMU never reads and that lie beyond the
//! bytes read here: it is [`HeaderError::ParentNotReadable`].

use nom::Parser;
use nom::bytes::complete::{tag, take};
use nom::number::complete::{be_u8, be_u16, be_u32, be_u64};

use crate::disk::{DiskHeader, Format};
use crate::error::HeaderError;
use crate::source::{MAX_HEADER_BYTES, Source, truncated};

/// Length of the footer QEMU reads from offset 0.
pub(crate) const FOOTER_LEN: usize = 512;
/// Disk type of a dynamic disk.
const DYNAMIC: u32 = 3;
/// Disk type of a differencing disk.
const DIFFERENCING: u32 = 4;
/// Length of a dynamic disk's header.
const DYNAMIC_HEADER_LEN: u64 = 1024;
/// The largest CHS geometry, in sectors: then QEMU uses `current_size`.
const MAX_GEOMETRY: u64 = 65535 * 16 * 255;

/// The footer fields that give the size and the type.
struct Fields<'a> {
    data_offset: u64,
    creator_app: &'a [u8],
    current_size: u64,
    cylinders: u16,
    heads: u8,
    sectors_per_track: u8,
    disk_type: u32,
}

/// nom: the footer up to the disk type (the cookie is checked by the caller).
fn fields(input: &[u8]) -> nom::IResult<&[u8], Fields<'_>> {
    let (input, (_cookie_features_version, data_offset, _timestamp, creator_app)) =
        (take(16usize), be_u64, take(4usize), take(4usize)).parse(input)?;
    let (input, _creator_version_os_original_size) = take(16usize).parse(input)?;
    let (input, (current_size, cylinders, heads, sectors_per_track, disk_type)) =
        (be_u64, be_u16, be_u8, be_u8, be_u32).parse(input)?;
    let fields = Fields {
        data_offset,
        creator_app,
        current_size,
        cylinders,
        heads,
        sectors_per_track,
        disk_type,
    };
    Ok((input, fields))
}

/// How many bytes from offset 0 [`parse`] reads: the footer, and a dynamic disk's header.
pub(crate) fn bytes_needed(src: &Source<'_>) -> Result<usize, HeaderError> {
    let f = footer(src)?;
    let end = match f.disk_type {
        DYNAMIC => dynamic_header_end(&f)?,
        _ => FOOTER_LEN as u64,
    };
    Ok(usize::try_from(end).unwrap_or(usize::MAX))
}

fn footer<'a>(src: &Source<'a>) -> Result<Fields<'a>, HeaderError> {
    let bytes = src.need(0, FOOTER_LEN as u64)?;
    let (_, f) = fields(bytes).map_err(|_| truncated(FOOTER_LEN as u64, src.buf))?;
    Ok(f)
}

/// Where a dynamic disk's header ends; refused beyond the first 2 MiB.
fn dynamic_header_end(f: &Fields<'_>) -> Result<u64, HeaderError> {
    f.data_offset
        .checked_add(DYNAMIC_HEADER_LEN)
        .filter(|&end| end <= MAX_HEADER_BYTES as u64)
        .ok_or(invalid(
            16,
            "the dynamic disk header lies beyond the first 2 MiB",
        ))
}

fn invalid(offset: u64, reason: &'static str) -> HeaderError {
    HeaderError::Invalid {
        format: "vpc",
        offset,
        reason,
    }
}

/// Parses the footer copy at the start of a dynamic or differencing VHD.
pub(crate) fn parse(src: &Source<'_>) -> Result<DiskHeader, HeaderError> {
    let f = footer(src)?;
    if f.disk_type == DIFFERENCING {
        return Err(HeaderError::ParentNotReadable { format: "vpc" });
    }
    // QEMU (`vpc_open`, `vpc_ignore_current_size`): Virtual PC and old QEMU size the disk by its
    // geometry, everyone else by `current_size`; the largest geometry means `current_size`.
    let chs = u64::from(f.cylinders) * u64::from(f.heads) * u64::from(f.sectors_per_track);
    let by_geometry = f.creator_app == b"vpc " || f.creator_app == b"qemu";
    let sectors = if by_geometry && chs != MAX_GEOMETRY {
        chs
    } else {
        f.current_size / 512
    };
    let size = sectors * 512;
    let mut header = DiskHeader::bare(Format::Vpc, Some(size));
    if f.disk_type == DYNAMIC {
        dynamic_header_end(&f)?;
        let dynamic = src.need(f.data_offset, DYNAMIC_HEADER_LEN)?;
        header.cluster_size = Some(block_size(dynamic, f.data_offset, size)?);
    }
    Ok(header)
}

/// The block size of a dynamic disk's header at `offset`, checked as `vpc_open` checks it
/// for a disk of `size` bytes.
fn block_size(dynamic: &[u8], offset: u64, size: u64) -> Result<u64, HeaderError> {
    let parsed: nom::IResult<&[u8], _> =
        (tag(&b"cxsparse"[..]), take(20usize), be_u32, be_u32).parse(dynamic);
    let (_, (_, _, max_table_entries, block_size)) =
        parsed.map_err(|_| invalid(offset, "the dynamic disk header has no cxsparse cookie"))?;
    let block_size = u64::from(block_size);
    if !block_size.is_power_of_two() || block_size < 512 {
        return Err(invalid(offset + 32, "invalid block size"));
    }
    if size / block_size > u64::from(u32::MAX) {
        return Err(invalid(offset + 32, "too many blocks"));
    }
    if u64::from(max_table_entries) * block_size < size {
        return Err(invalid(
            offset + 28,
            "the block allocation table is too small",
        ));
    }
    if max_table_entries > i32::MAX as u32 / 4 {
        return Err(invalid(
            offset + 28,
            "too many block allocation table entries",
        ));
    }
    Ok(block_size)
}
