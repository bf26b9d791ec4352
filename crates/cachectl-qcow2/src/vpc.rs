//! VHD (QEMU's `vpc`) footers: pure, never panics.
//!
//! A dynamic or differencing VHD keeps a copy of its 512-byte footer at offset 0 (big-endian:
//! cookie `conectix`, `current_size` u64 @48, geometry @56, disk type u32 @60); QEMU probes
//! it by that cookie (block/vpc.c). A fixed VHD has its footer only at the end of the file,
//! so QEMU probes it as raw, and so does this crate: a fixed disk has no parent anyway. A
//! differencing disk names its parent in locators QEMU never reads and that lie beyond the
//! bytes read here: it is [`HeaderError::ParentNotReadable`].

use nom::Parser;
use nom::bytes::complete::take;
use nom::number::complete::{be_u8, be_u16, be_u32, be_u64};

use crate::header::{DiskHeader, Format, HeaderError, Source, truncated};

/// Length of the footer QEMU reads from offset 0.
pub(crate) const FOOTER_LEN: usize = 512;
/// Disk type of a differencing disk.
const DIFFERENCING: u32 = 4;
/// The largest CHS geometry, in sectors: then QEMU uses `current_size`.
const MAX_GEOMETRY: u64 = 65535 * 16 * 255;

/// The footer fields that give the size and the type.
struct Fields<'a> {
    creator_app: &'a [u8],
    current_size: u64,
    cylinders: u16,
    heads: u8,
    sectors_per_track: u8,
    disk_type: u32,
}

/// nom: the footer up to the disk type (the cookie is checked by the caller).
fn fields(input: &[u8]) -> nom::IResult<&[u8], Fields<'_>> {
    let (input, (_cookie_and_more, creator_app, _version_os_orig)) =
        (take(28usize), take(4usize), take(16usize)).parse(input)?;
    let (input, (current_size, cylinders, heads, sectors_per_track, disk_type)) =
        (be_u64, be_u16, be_u8, be_u8, be_u32).parse(input)?;
    let fields = Fields {
        creator_app,
        current_size,
        cylinders,
        heads,
        sectors_per_track,
        disk_type,
    };
    Ok((input, fields))
}

/// Parses the footer copy at the start of a dynamic or differencing VHD.
pub(crate) fn parse(src: &Source<'_>) -> Result<DiskHeader, HeaderError> {
    let bytes = src.need(0, FOOTER_LEN as u64)?;
    let (_, f) = fields(bytes).map_err(|_| truncated(FOOTER_LEN as u64, src.buf))?;
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
    Ok(DiskHeader::bare(Format::Vpc, Some(sectors * 512)))
}
