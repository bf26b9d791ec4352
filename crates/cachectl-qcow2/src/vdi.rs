//! VirtualBox VDI headers: pure, never panics.
//!
//! The header is little-endian: a text line, the signature `0xbeda107f` (u32 @0x40), the
//! version (@0x44), the image type (@0x4c: 1 dynamic, 2 static, 4 differencing), the disk
//! size (u64 @0x170), the block size (@0x178) and the parent's UUID (@0x1b8). A differencing
//! image names its parent by UUID, not by file: it is [`HeaderError::ParentNotReadable`]
//! (QEMU refuses it, VirtualBox would need the parent).

use nom::Parser;
use nom::bytes::complete::take;
use nom::number::complete::{le_u32, le_u64};

use crate::disk::{DiskHeader, Format};
use crate::error::HeaderError;
use crate::source::{Source, truncated};

/// Length of the VDI header QEMU reads.
pub(crate) const HEADER_LEN: usize = 512;
/// Offset of the signature.
const SIGNATURE_OFFSET: usize = 0x40;
/// The VDI signature.
const SIGNATURE: u32 = 0xbeda_107f;
/// The only version QEMU opens: 1.1.
const VERSION_1_1: u32 = 0x0001_0001;
/// Image type: dynamically allocated.
const TYPE_DYNAMIC: u32 = 1;
/// Image type: preallocated.
const TYPE_STATIC: u32 = 2;
/// Image type: differencing (a parent by UUID).
const TYPE_DIFFERENCING: u32 = 4;

/// Whether the bytes carry the VDI signature at 0x40.
pub(crate) fn probe(buf: &[u8]) -> bool {
    buf.get(SIGNATURE_OFFSET..SIGNATURE_OFFSET + 4) == Some(&SIGNATURE.to_le_bytes()[..])
}

/// The header fields used here.
struct Fields<'a> {
    version: u32,
    image_type: u32,
    disk_size: u64,
    block_size: u32,
    uuid_parent: &'a [u8],
}

/// nom: the header from offset 0x44 (after the signature).
fn fields(input: &[u8]) -> nom::IResult<&[u8], Fields<'_>> {
    let (input, (version, _header_size, image_type, _skip)) =
        (le_u32, le_u32, le_u32, take(0x170usize - 0x50)).parse(input)?;
    let (input, (disk_size, block_size, _skip, uuid_parent)) =
        (le_u64, le_u32, take(0x1b8usize - 0x17c), take(16usize)).parse(input)?;
    let fields = Fields {
        version,
        image_type,
        disk_size,
        block_size,
        uuid_parent,
    };
    Ok((input, fields))
}

/// Parses a VDI header; the signature is there.
pub(crate) fn parse(src: &Source<'_>) -> Result<DiskHeader, HeaderError> {
    let bytes = src.need(0, HEADER_LEN as u64)?;
    let (_, f) = bytes
        .get(SIGNATURE_OFFSET + 4..)
        .and_then(|rest| fields(rest).ok())
        .ok_or_else(|| truncated(HEADER_LEN as u64, src.buf))?;
    if f.image_type == TYPE_DIFFERENCING || f.uuid_parent.iter().any(|&b| b != 0) {
        return Err(HeaderError::ParentNotReadable { format: "vdi" });
    }
    let invalid = |offset, reason| HeaderError::Invalid {
        format: "vdi",
        offset,
        reason,
    };
    if f.version != VERSION_1_1 {
        return Err(invalid(0x44, "unsupported version (QEMU opens 1.1 only)"));
    }
    if f.image_type != TYPE_DYNAMIC && f.image_type != TYPE_STATIC {
        return Err(invalid(0x4c, "unsupported image type"));
    }
    let mut header = DiskHeader::bare(Format::Vdi, Some(f.disk_size));
    header.cluster_size = Some(u64::from(f.block_size));
    Ok(header)
}
