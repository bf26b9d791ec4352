//! LUKS volumes (`LUKS\xba\xbe`): pure, never panics.
//!
//! QEMU opens a LUKS volume with its `luks` driver (block/crypto.c): no backing file; for
//! LUKS1 the virtual size is what follows the payload offset, for LUKS2 it is left unknown.

use nom::number::complete::{be_u16, be_u32};

use crate::disk::{DiskHeader, Format};
use crate::error::HeaderError;
use crate::source::{Source, truncated};

/// Offset of the LUKS1 payload offset, in 512-byte sectors (big-endian u32).
const PAYLOAD_OFFSET: u64 = 104;
/// Bytes of a LUKS header read: up to the LUKS1 payload offset.
pub(crate) const BYTES_NEEDED: usize = PAYLOAD_OFFSET as usize + 4;

/// A LUKS volume: no backing file; for LUKS1 the virtual size is what follows the payload
/// offset (QEMU's `block/crypto.c`), for LUKS2 it is left unknown.
pub(crate) fn parse(src: &Source<'_>) -> Result<DiskHeader, HeaderError> {
    let (_, version) = be_u16::<_, nom::error::Error<&[u8]>>(src.need(6, 2)?)
        .map_err(|_| truncated(8, src.buf))?;
    let size = if version == 1 {
        let (_, payload) = be_u32::<_, nom::error::Error<&[u8]>>(src.need(PAYLOAD_OFFSET, 4)?)
            .map_err(|_| truncated(BYTES_NEEDED as u64, src.buf))?;
        src.eof.checked_sub(u64::from(payload) * 512)
    } else {
        None
    };
    let mut header = DiskHeader::bare(Format::Luks, size);
    header.version = Some(u32::from(version));
    Ok(header)
}
