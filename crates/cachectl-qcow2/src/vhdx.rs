//! VHDX headers: pure, never panic; checked as QEMU's `vhdx_open` checks them (block/vhdx.c).
//!
//! A VHDX keeps what `qemu-img info` reports in a metadata region that QEMU places at 3 MiB,
//! past the first bytes [`crate::parse_header`] sees. Reading one therefore takes two steps:
//! [`crate::parse_header`] checks the two headers (64 and 128 KiB, CRC-32C, the current one
//! by sequence number) and the region table (192 KiB, CRC-32C), and answers
//! [`HeaderError::VhdxMetadata`] with where the metadata region is; [`parse_vhdx_metadata`]
//! then reads the region's first bytes (at most [`MAX_METADATA_READ`]): the table, the file
//! parameters, the virtual size and the sector sizes. A differencing VHDX (the file parameters'
//! `has_parent` bit) is [`HeaderError::ParentNotReadable`]: QEMU does not open those either.
//! All fields are little-endian.

use nom::Parser;
use nom::bytes::complete::take;
use nom::number::complete::{le_u16, le_u32, le_u64};

use crate::disk::{DiskHeader, Format};
use crate::error::HeaderError;
use crate::source::Source;

/// Where the two headers are, and the length each checksum covers.
const HEADER_OFFSETS: [u64; 2] = [64 << 10, 128 << 10];
const HEADER_LEN: u64 = 4 << 10;
/// Where the region table is, and its length (what its checksum covers).
const REGION_TABLE_OFFSET: u64 = 192 << 10;
const REGION_TABLE_LEN: u64 = 64 << 10;
/// How many bytes from offset 0 the headers and the region table take.
pub(crate) const BYTES_NEEDED: usize = (REGION_TABLE_OFFSET + REGION_TABLE_LEN) as usize;
/// Entries a region or metadata table may have (`VHDX_METADATA_MAX_ENTRIES`).
const MAX_ENTRIES: u32 = 2047;
/// The most bytes of the metadata region [`parse_vhdx_metadata`] is given and looks at; QEMU
/// puts the items in its second 64 KiB.
pub const MAX_METADATA_READ: u64 = 1 << 20;
/// Length of the metadata table (header and every possible entry).
const METADATA_TABLE_LEN: usize = 64 << 10;

/// Region table entry: the region is required (an unknown required region is refused).
const REGION_REQUIRED: u32 = 1;
/// Metadata entry: the item is required.
const METADATA_REQUIRED: u32 = 1 << 2;
/// File parameters: the disk has a parent.
const HAS_PARENT: u32 = 1 << 1;
/// The block sizes QEMU opens.
const MIN_BLOCK_SIZE: u32 = 1 << 20;
const MAX_BLOCK_SIZE: u32 = 256 << 20;

/// GUIDs as stored (the first three fields little-endian).
type Guid = [u8; 16];
const BAT_REGION: Guid = guid("6677c22d23f600429d64115e9bfd4a08");
const METADATA_REGION: Guid = guid("06a27c8b90479a4bb8fe575f050f886e");
const FILE_PARAMETERS: Guid = guid("3767a1ca36fa434db3b633f0aa44e76b");
const VIRTUAL_DISK_SIZE: Guid = guid("2442a52f1bcd7648b2115dbed83bf4b8");
const PAGE_83: Guid = guid("ab12cabee6b2234593efc309e000c746");
const LOGICAL_SECTOR_SIZE: Guid = guid("1dbf41816fa90947ba47f233a8faab5f");
const PHYSICAL_SECTOR_SIZE: Guid = guid("c748a3cd5d4471449cc9e9885251c556");
const PARENT_LOCATOR: Guid = guid("2d5fd3a80bb34d45abf7d3d84834ab0c");

/// A GUID from the hex of its stored bytes.
const fn guid(hex: &str) -> Guid {
    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("not a lowercase hex digit"),
        }
    }
    let hex = hex.as_bytes();
    let mut out = [0u8; 16];
    let mut i = 0;
    while i < 16 {
        out[i] = nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1]);
        i += 1;
    }
    out
}

fn invalid(offset: u64, reason: &'static str) -> HeaderError {
    HeaderError::Invalid {
        format: "vhdx",
        offset,
        reason,
    }
}

/// CRC-32C of `block` with its 4-byte checksum at `at` taken as zero, as VHDX stores it.
fn checksum_is_valid(block: &[u8], at: usize) -> bool {
    const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);
    let Some(stored) = block.get(at..at + 4) else {
        return false;
    };
    let mut digest = CRC.digest();
    digest.update(&block[..at]);
    digest.update(&[0; 4]);
    digest.update(&block[at + 4..]);
    digest.finalize().to_le_bytes() == stored
}

/// The fields of a header that matter here.
struct Header {
    sequence: u64,
    log_guid: Guid,
    version: u16,
}

fn header(block: &[u8]) -> Option<Header> {
    let parsed: nom::IResult<&[u8], _> = (
        nom::bytes::complete::tag(&b"head"[..]),
        le_u32,
        le_u64,
        take(32usize),
        take(16usize),
        le_u16,
        le_u16,
    )
        .parse(block);
    let (_, (_, _, sequence, _, log_guid, _log_version, version)) = parsed.ok()?;
    Some(Header {
        sequence,
        log_guid: log_guid.try_into().ok()?,
        version,
    })
}

/// The headers and the region table (`vhdx_parse_header`, `vhdx_open_region_tables`): where the
/// metadata region is, as the error [`HeaderError::VhdxMetadata`].
pub(crate) fn parse(src: &Source<'_>) -> Result<DiskHeader, HeaderError> {
    let mut current: Option<Header> = None;
    for offset in HEADER_OFFSETS {
        let block = src.need(offset, HEADER_LEN)?;
        let valid = checksum_is_valid(block, 4).then(|| header(block)).flatten();
        if let Some(h) = valid
            && current.as_ref().is_none_or(|c| h.sequence > c.sequence)
        {
            current = Some(h);
        }
    }
    let current = current.ok_or(invalid(HEADER_OFFSETS[0], "no valid header"))?;
    if current.version != 1 {
        return Err(invalid(HEADER_OFFSETS[0] + 66, "unsupported version"));
    }
    if current.log_guid != [0; 16] {
        return Err(invalid(
            HEADER_OFFSETS[0] + 48,
            "the log may need replaying, which needs write access",
        ));
    }

    let table = src.need(REGION_TABLE_OFFSET, REGION_TABLE_LEN)?;
    if !table.starts_with(b"regi") || !checksum_is_valid(table, 4) {
        return Err(invalid(REGION_TABLE_OFFSET, "invalid region table"));
    }
    let count = u32::from_le_bytes([table[8], table[9], table[10], table[11]]);
    if count > MAX_ENTRIES {
        return Err(invalid(REGION_TABLE_OFFSET + 8, "too many regions"));
    }
    let (mut bat, mut metadata) = (false, None);
    for entry in table[16..].chunks_exact(32).take(count as usize) {
        let parsed: nom::IResult<&[u8], _> = (take(16usize), le_u64, le_u32, le_u32).parse(entry);
        let Ok((_, (id, offset, len, bits))) = parsed else {
            return Err(invalid(REGION_TABLE_OFFSET, "invalid region table"));
        };
        if id == BAT_REGION {
            if bat {
                return Err(invalid(REGION_TABLE_OFFSET, "two BAT regions"));
            }
            bat = true;
        } else if id == METADATA_REGION {
            if metadata.is_some() {
                return Err(invalid(REGION_TABLE_OFFSET, "two metadata regions"));
            }
            metadata = Some((offset, len));
        } else if bits & REGION_REQUIRED != 0 {
            return Err(invalid(REGION_TABLE_OFFSET, "an unknown required region"));
        }
    }
    match (bat, metadata) {
        (true, Some((offset, len))) if offset < src.eof => Err(HeaderError::VhdxMetadata {
            offset,
            len: u64::from(len).min(MAX_METADATA_READ),
        }),
        (true, Some(_)) => Err(invalid(
            REGION_TABLE_OFFSET,
            "the metadata region is past the end of the file",
        )),
        _ => Err(invalid(REGION_TABLE_OFFSET, "no BAT or no metadata region")),
    }
}

/// Parses the metadata region of a VHDX (`vhdx_parse_metadata`) from its first bytes, as
/// [`HeaderError::VhdxMetadata`] said where they are and how many to read: the virtual size,
/// the block size (QEMU's cluster size), and whether the disk has a parent. `region_offset` is
/// the region's offset in the file, for errors.
pub fn parse_vhdx_metadata(region: &[u8], region_offset: u64) -> Result<DiskHeader, HeaderError> {
    let at = |offset: usize| in_file(region_offset, offset);
    let [params, size, page83, logical, physical, parent] = metadata_items(region, region_offset)?;
    let (Some(params), Some(size), Some(_), Some(logical), Some(_)) =
        (params, size, page83, logical, physical)
    else {
        return Err(invalid(
            region_offset,
            "a mandatory metadata item is missing",
        ));
    };
    let item = |(offset, len): (usize, usize), want: usize| {
        offset
            .checked_add(want)
            .filter(|_| len >= want)
            .and_then(|end| region.get(offset..end))
            .ok_or(invalid(
                at(offset),
                "a metadata item lies outside what was read",
            ))
    };
    let params = item(params, 8)?;
    let block_size = u32::from_le_bytes([params[0], params[1], params[2], params[3]]);
    let bits = u32::from_le_bytes([params[4], params[5], params[6], params[7]]);
    if bits & HAS_PARENT != 0 {
        return match parent {
            Some(_) => Err(HeaderError::ParentNotReadable { format: "vhdx" }),
            None => Err(invalid(region_offset, "a parent without a parent locator")),
        };
    }
    let size = item(size, 8)?;
    let virtual_size = u64::from_le_bytes(size.try_into().unwrap_or([0; 8]));
    let logical = item(logical, 4)?;
    let sector = u32::from_le_bytes([logical[0], logical[1], logical[2], logical[3]]);
    if !(MIN_BLOCK_SIZE..=MAX_BLOCK_SIZE).contains(&block_size) || !block_size.is_power_of_two() {
        return Err(invalid(region_offset, "invalid block size"));
    }
    if sector != 512 && sector != 4096 {
        return Err(invalid(region_offset, "invalid logical sector size"));
    }
    let mut header = DiskHeader::bare(Format::Vhdx, Some(virtual_size));
    header.cluster_size = Some(u64::from(block_size));
    Ok(header)
}

/// The offset in the file of `offset` in the region at `region_offset`, for errors.
fn in_file(region_offset: u64, offset: usize) -> u64 {
    region_offset.saturating_add(offset as u64)
}

/// Where the known metadata items are in the region (offset and length), as the metadata table
/// says, in the order file parameters, virtual disk size, page 83, logical sector size,
/// physical sector size, parent locator; checked as `vhdx_parse_metadata` checks the table.
fn metadata_items(
    region: &[u8],
    region_offset: u64,
) -> Result<[Option<(usize, usize)>; 6], HeaderError> {
    let at = |offset: usize| in_file(region_offset, offset);
    let table = region
        .get(..METADATA_TABLE_LEN.min(region.len()))
        .unwrap_or_default();
    if !table.starts_with(b"metadata") || table.len() < 32 {
        return Err(invalid(region_offset, "invalid metadata table"));
    }
    let count = u16::from_le_bytes([table[10], table[11]]);
    if u32::from(count) > MAX_ENTRIES {
        return Err(invalid(at(10), "too many metadata entries"));
    }
    let known = [
        FILE_PARAMETERS,
        VIRTUAL_DISK_SIZE,
        PAGE_83,
        LOGICAL_SECTOR_SIZE,
        PHYSICAL_SECTOR_SIZE,
        PARENT_LOCATOR,
    ];
    let mut items: [Option<(usize, usize)>; 6] = [None; 6];
    for (i, entry) in table[32..]
        .chunks_exact(32)
        .take(usize::from(count))
        .enumerate()
    {
        let entry_at = at(32 + 32 * i);
        let parsed: nom::IResult<&[u8], _> = (take(16usize), le_u32, le_u32, le_u32).parse(entry);
        let Ok((_, (id, offset, len, bits))) = parsed else {
            return Err(invalid(entry_at, "invalid metadata entry"));
        };
        match known.iter().position(|k| k == id) {
            Some(k) if items[k].is_some() => {
                return Err(invalid(entry_at, "a metadata item appears twice"));
            }
            Some(k) => items[k] = Some((offset as usize, len as usize)),
            None if bits & METADATA_REQUIRED != 0 => {
                return Err(invalid(entry_at, "an unknown required metadata item"));
            }
            None => {}
        }
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A metadata table with `entries` (id, offset, length, flags) and items at 64 KiB.
    fn region(entries: &[(Guid, u32, u32, u32)], items: &[u8]) -> Vec<u8> {
        let mut region = vec![0u8; METADATA_TABLE_LEN];
        region[..8].copy_from_slice(b"metadata");
        region[10..12].copy_from_slice(&(entries.len() as u16).to_le_bytes());
        for (i, (id, offset, len, bits)) in entries.iter().enumerate() {
            let at = 32 + 32 * i;
            region[at..at + 16].copy_from_slice(id);
            region[at + 16..at + 20].copy_from_slice(&offset.to_le_bytes());
            region[at + 20..at + 24].copy_from_slice(&len.to_le_bytes());
            region[at + 24..at + 28].copy_from_slice(&bits.to_le_bytes());
        }
        region.extend_from_slice(items);
        region
    }

    /// The five mandatory items, as qemu-img writes them.
    fn mandatory() -> Vec<(Guid, u32, u32, u32)> {
        let at = METADATA_TABLE_LEN as u32;
        vec![
            (FILE_PARAMETERS, at, 8, 4),
            (VIRTUAL_DISK_SIZE, at + 8, 8, 6),
            (PAGE_83, at + 16, 16, 6),
            (LOGICAL_SECTOR_SIZE, at + 32, 4, 6),
            (PHYSICAL_SECTOR_SIZE, at + 36, 4, 6),
        ]
    }

    fn items(block_size: u32, bits: u32, size: u64, sector: u32) -> Vec<u8> {
        let mut items = Vec::new();
        items.extend_from_slice(&block_size.to_le_bytes());
        items.extend_from_slice(&bits.to_le_bytes());
        items.extend_from_slice(&size.to_le_bytes());
        items.extend_from_slice(&[0; 16]);
        items.extend_from_slice(&sector.to_le_bytes());
        items.extend_from_slice(&4096u32.to_le_bytes());
        items
    }

    #[test]
    fn the_metadata_gives_size_and_block_size_and_refuses_what_qemu_refuses() {
        let good = region(&mandatory(), &items(32 << 20, 0, 10 << 30, 512));
        let header = parse_vhdx_metadata(&good, 0).expect("valid");
        assert_eq!(header.virtual_size, Some(10 << 30));
        assert_eq!(header.cluster_size, Some(32 << 20));

        let reason = |region: &[u8]| match parse_vhdx_metadata(region, 0) {
            Err(HeaderError::Invalid { reason, .. }) => reason,
            other => panic!("{other:?}"),
        };
        assert!(reason(&region(&mandatory(), &items(3 << 20, 0, 1, 512))).contains("block size"));
        assert!(reason(&region(&mandatory(), &items(1 << 29, 0, 1, 512))).contains("block size"));
        assert!(reason(&region(&mandatory(), &items(1 << 20, 0, 1, 1024))).contains("sector"));
        assert!(reason(&region(&mandatory()[..4], &items(1 << 20, 0, 1, 512))).contains("missing"));
        let mut twice = mandatory();
        twice.push(twice[0]);
        assert!(reason(&region(&twice, &items(1 << 20, 0, 1, 512))).contains("twice"));
        let mut unknown = mandatory();
        unknown.push(([9; 16], 0, 0, METADATA_REQUIRED));
        assert!(reason(&region(&unknown, &items(1 << 20, 0, 1, 512))).contains("unknown"));
        // Items past what was read, or an item shorter than its field.
        assert!(reason(&good[..METADATA_TABLE_LEN + 4]).contains("outside"));
        let mut short = mandatory();
        short[1].2 = 4;
        assert!(reason(&region(&short, &items(1 << 20, 0, 1, 512))).contains("outside"));
        // A parent, with and without a locator.
        assert!(reason(&region(&mandatory(), &items(1 << 20, 2, 1, 512))).contains("locator"));
        let mut with_locator = mandatory();
        with_locator.push((PARENT_LOCATOR, 0, 0, 4));
        assert_eq!(
            parse_vhdx_metadata(&region(&with_locator, &items(1 << 20, 2, 1, 512)), 0),
            Err(HeaderError::ParentNotReadable { format: "vhdx" })
        );
    }

    proptest! {
        #[test]
        fn any_metadata_region_parses_or_is_refused(
            entries in proptest::collection::vec(
                (prop_oneof![Just(FILE_PARAMETERS), Just(VIRTUAL_DISK_SIZE), Just(PAGE_83),
                    Just(LOGICAL_SECTOR_SIZE), Just(PHYSICAL_SECTOR_SIZE), Just(PARENT_LOCATOR),
                    any::<[u8; 16]>()],
                 any::<u32>(), any::<u32>(), any::<u32>()),
                0..8),
            items in proptest::collection::vec(any::<u8>(), 0..64),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut bytes = region(&entries, &items);
            let cut = cut.index(bytes.len() + 1);
            bytes.truncate(cut);
            if let Ok(header) = parse_vhdx_metadata(&bytes, 0) {
                let block = header.cluster_size.unwrap_or(0);
                prop_assert!(block.is_power_of_two() && block >= 1 << 20);
            }
        }
    }

    #[test]
    fn guids_are_the_stored_bytes() {
        assert_eq!(BAT_REGION[0], 0x66);
        assert_eq!(PARENT_LOCATOR[15], 0x0c);
    }

    #[test]
    fn a_checksum_is_crc32c_over_the_block_with_the_field_zeroed() {
        let mut block = vec![7u8; 64];
        block[4..8].fill(0);
        const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);
        let sum = CRC.checksum(&block);
        block[4..8].copy_from_slice(&sum.to_le_bytes());
        assert!(checksum_is_valid(&block, 4));
        block[9] ^= 1;
        assert!(!checksum_is_valid(&block, 4));
        assert!(!checksum_is_valid(&block[..6], 4));
    }
}
