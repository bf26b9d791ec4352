//! qcow2 headers (versions 2 and 3): pure, never panics.
//!
//! The checks follow QEMU's `qcow2_do_open` and `qcow2_read_extensions` (block/qcow2.c), so that
//! an image this parser accepts is one QEMU opens, and a name it reports is the name QEMU reads.
//! One difference: QEMU reads bytes past the end of the file as zeros; this parser reports a
//! truncated header or a name that lies past the end of the file as an error instead (it does
//! follow QEMU where zeros past the end of the file would end the header extensions).

use nom::Parser;
use nom::bytes::complete::tag;
use nom::number::complete::{be_u8, be_u32, be_u64};

use crate::disk::{
    AUTOCLEAR_BITMAPS, DiskHeader, Format, INCOMPAT_COMPRESSION, INCOMPAT_EXTL2, INCOMPAT_KNOWN,
};
use crate::error::HeaderError;
use crate::magic::QCOW2_MAGIC;
use crate::source::{
    MAX_BACKING_NAME_LEN, MAX_HEADER_BYTES, Short, Source, backing_name, c_string, non_empty,
    truncated,
};

/// The smallest `cluster_bits` QEMU accepts (512-byte clusters).
pub const MIN_CLUSTER_BITS: u32 = 9;
/// The largest `cluster_bits` QEMU accepts (2 MiB clusters).
pub const MAX_CLUSTER_BITS: u32 = 21;
// The largest first cluster is all a header may need.
const _: () = assert!(MAX_HEADER_BYTES == 1 << MAX_CLUSTER_BITS);
/// Length of the version 2 header (QEMU's `offsetof(QCowHeader, incompatible_features)`).
pub(crate) const V2_HEADER_LEN: u32 = 72;
/// The shortest version 3 header.
pub(crate) const V3_HEADER_LEN: u32 = 104;
/// Length of QEMU's `QCowHeader` (with the compression type and its padding): what QEMU reads
/// and what it writes as `header_length` in the images it creates.
pub(crate) const QEMU_HEADER_LEN: u32 = 112;
/// Offset of the one-byte compression type, present when `header_length` is larger.
const COMPRESSION_TYPE_OFFSET: u32 = 104;

/// Header extension: end of the extensions.
pub(crate) const EXT_END: u32 = 0;
/// Header extension: backing file format name.
pub(crate) const EXT_BACKING_FORMAT: u32 = 0xE279_2ACA;
/// Header extension: feature name table.
pub(crate) const EXT_FEATURE_TABLE: u32 = 0x6803_F857;
/// Header extension: persistent dirty bitmaps.
pub(crate) const EXT_BITMAPS: u32 = 0x2385_2875;
/// Header extension: full disk encryption header pointer.
pub(crate) const EXT_CRYPTO: u32 = 0x0537_BE77;
/// Header extension: external data file name.
pub(crate) const EXT_DATA_FILE: u32 = 0x4441_5441;

/// Largest backing format name QEMU keeps (`sizeof(bs->backing_format) - 1`).
pub(crate) const MAX_BACKING_FORMAT_LEN: u32 = 15;
/// Length of one feature name table entry: type, bit, 46 bytes of name.
const FEATURE_ENTRY_LEN: usize = 48;
/// Length of the bitmaps extension data.
const BITMAPS_EXT_LEN: u32 = 24;
/// Most bitmaps QEMU accepts.
const MAX_BITMAPS: u32 = 65535;
/// Largest bitmap directory QEMU accepts.
const MAX_BITMAP_DIRECTORY_SIZE: u64 = 1024 * MAX_BITMAPS as u64;
/// Length of the encryption extension data.
const CRYPTO_EXT_LEN: u32 = 16;
/// `crypt_method` of LUKS encryption; 0 is none and 1 is the old AES-CBC.
const CRYPT_LUKS: u32 = 2;
/// The largest reference count table QEMU opens (`QCOW_MAX_REFTABLE_SIZE`).
const MAX_REFTABLE_BYTES: u64 = 8 << 20;
/// The largest L1 table QEMU opens (`QCOW_MAX_L1_SIZE`).
pub(crate) const MAX_L1_BYTES: u64 = 32 << 20;
/// Length of an L1 table entry.
const L1_ENTRY_LEN: u64 = 8;
/// Length of a snapshot table entry's fixed part (`QCowSnapshotHeader`).
const SNAPSHOT_HEADER_LEN: u64 = 40;
/// The most snapshots QEMU opens (`QCOW_MAX_SNAPSHOTS`).
const MAX_SNAPSHOTS: u64 = 65536;
/// Subclusters per cluster with extended L2 entries.
const EXTL2_SUBCLUSTER_BITS: u32 = 5;

/// [`crate::bytes_needed`] for a prefix with the qcow2 magic: at least 112 (QEMU's header
/// structure) and never more than the first cluster. The prefix is only known up to its own
/// end (`src.eof` is `u64::MAX`): anything past it is "not read yet".
pub(crate) fn bytes_needed(src: &Source<'_>) -> Result<usize, HeaderError> {
    let qemu_header = QEMU_HEADER_LEN as usize;
    let fixed = match parse_fixed(src) {
        Ok(fixed) => fixed,
        Err(HeaderError::Truncated { needed, .. }) => return Ok(needed.max(qemu_header)),
        Err(e) => return Err(e),
    };
    fixed.validate()?;
    let cluster_size = fixed.cluster_size();
    let mut needed = u64::from(QEMU_HEADER_LEN);
    needed = needed.max(match walk_extensions(src, &fixed, |_| Ok(())) {
        Ok(end) => end,
        Err(HeaderError::Truncated { .. }) => fixed.extension_end(),
        // Whatever the walk refuses lies in the prefix: keep all of it.
        Err(_) => u64::try_from(src.buf.len()).unwrap_or(u64::MAX),
    });
    if fixed.backing_file_offset != 0 && fixed.backing_file_size <= MAX_BACKING_NAME_LEN {
        let end = fixed
            .backing_file_offset
            .saturating_add(u64::from(fixed.backing_file_size));
        if end <= cluster_size {
            needed = needed.max(end);
        }
    }
    let needed = needed.min(cluster_size.max(u64::from(QEMU_HEADER_LEN)));
    Ok(usize::try_from(needed).map_or(MAX_HEADER_BYTES, |n| n.min(MAX_HEADER_BYTES)))
}

/// Parses a qcow2 header (the magic is there, the version is not 1), as QEMU opens it.
pub(crate) fn parse(src: &Source<'_>) -> Result<DiskHeader, HeaderError> {
    let fixed = parse_fixed(src)?;
    fixed.validate()?;

    let mut header = DiskHeader {
        version: Some(fixed.version),
        cluster_size: Some(fixed.cluster_size()),
        incompatible_features: fixed.incompatible,
        compatible_features: fixed.compatible,
        autoclear_features: fixed.autoclear,
        refcount_order: Some(fixed.refcount_order),
        header_length: Some(fixed.header_length),
        compression_type: Some(fixed.compression_type),
        crypt_method: Some(fixed.crypt_method),
        ..DiskHeader::bare(Format::Qcow2, Some(fixed.size))
    };

    walk_extensions(src, &fixed, |ext| visit_extension(&fixed, &mut header, ext))?;

    if header.data_file_raw() && !header.has_external_data_file() {
        return Err(HeaderError::DataFileRawWithoutDataFile);
    }

    if fixed.backing_file_offset != 0 {
        let (offset, size) = (fixed.backing_file_offset, fixed.backing_file_size);
        if size > MAX_BACKING_NAME_LEN {
            return Err(HeaderError::BackingNameTooLong(size));
        }
        // validate() made sure that offset <= cluster size.
        if u64::from(size) > fixed.cluster_size() - offset {
            return Err(HeaderError::BackingNameOutOfBounds { offset, size });
        }
        header.backing_file = backing_name(src, offset, size)?;
    }
    Ok(header)
}

/// The fields of the fixed-size header, before validation. Version 2 values stand in for the
/// version 3 fields of a version 2 header, as in QEMU.
#[derive(Debug)]
struct Fixed {
    version: u32,
    backing_file_offset: u64,
    backing_file_size: u32,
    cluster_bits: u32,
    size: u64,
    crypt_method: u32,
    tables: Tables,
    incompatible: u64,
    compatible: u64,
    autoclear: u64,
    refcount_order: u32,
    header_length: u32,
    compression_type: u8,
}

/// The version 2 fields: everything up to offset 72.
struct V2Fields {
    version: u32,
    backing_file_offset: u64,
    backing_file_size: u32,
    cluster_bits: u32,
    size: u64,
    crypt_method: u32,
    tables: Tables,
}

/// Where the metadata tables are: QEMU checks their sizes and offsets when it opens an image
/// (it reads them later; this parser never does).
#[derive(Debug, Clone, Copy)]
struct Tables {
    l1_size: u32,
    l1_table_offset: u64,
    refcount_table_offset: u64,
    refcount_table_clusters: u32,
    nb_snapshots: u32,
    snapshots_offset: u64,
}

/// The version 3 fields from offset 72 to 104.
struct V3Fields {
    incompatible: u64,
    compatible: u64,
    autoclear: u64,
    refcount_order: u32,
    header_length: u32,
}

/// nom: the version 2 header (magic checked, the table pointers skipped).
fn v2_fields(input: &[u8]) -> nom::IResult<&[u8], V2Fields> {
    let (input, (_, version, backing_file_offset, backing_file_size, cluster_bits, size)) = (
        tag(&QCOW2_MAGIC[..]),
        be_u32,
        be_u64,
        be_u32,
        be_u32,
        be_u64,
    )
        .parse(input)?;
    let (input, (crypt_method, l1_size, l1_table_offset, refcount_table_offset)) =
        (be_u32, be_u32, be_u64, be_u64).parse(input)?;
    let (input, (refcount_table_clusters, nb_snapshots, snapshots_offset)) =
        (be_u32, be_u32, be_u64).parse(input)?;
    let fields = V2Fields {
        version,
        backing_file_offset,
        backing_file_size,
        cluster_bits,
        size,
        crypt_method,
        tables: Tables {
            l1_size,
            l1_table_offset,
            refcount_table_offset,
            refcount_table_clusters,
            nb_snapshots,
            snapshots_offset,
        },
    };
    Ok((input, fields))
}

/// nom: the version 3 fields at offset 72.
fn v3_fields(input: &[u8]) -> nom::IResult<&[u8], V3Fields> {
    let (input, (incompatible, compatible, autoclear, refcount_order, header_length)) =
        (be_u64, be_u64, be_u64, be_u32, be_u32).parse(input)?;
    let fields = V3Fields {
        incompatible,
        compatible,
        autoclear,
        refcount_order,
        header_length,
    };
    Ok((input, fields))
}

/// Reads the fixed header fields (the magic must be there). The version is checked first, so
/// that a header of another version is reported as such rather than as truncated.
fn parse_fixed(src: &Source<'_>) -> Result<Fixed, HeaderError> {
    let version_bytes = src.need(4, 4)?;
    let version =
        be_u32::<_, nom::error::Error<&[u8]>>(version_bytes).map_or(0, |(_, version)| version);
    if version != 2 && version != 3 {
        return Err(HeaderError::UnsupportedVersion(version));
    }
    let fixed_len = if version == 2 {
        V2_HEADER_LEN
    } else {
        V3_HEADER_LEN
    };
    let bytes = src.need(0, u64::from(fixed_len))?;
    let nom_failed = || truncated(u64::from(fixed_len), src.buf);
    let (rest, v2) = v2_fields(bytes).map_err(|_| nom_failed())?;
    let mut fixed = Fixed {
        version: v2.version,
        backing_file_offset: v2.backing_file_offset,
        backing_file_size: v2.backing_file_size,
        cluster_bits: v2.cluster_bits,
        size: v2.size,
        crypt_method: v2.crypt_method,
        tables: v2.tables,
        incompatible: 0,
        compatible: 0,
        autoclear: 0,
        refcount_order: 4,
        header_length: V2_HEADER_LEN,
        compression_type: 0,
    };
    if version == 3 {
        let (_, v3) = v3_fields(rest).map_err(|_| nom_failed())?;
        fixed.incompatible = v3.incompatible;
        fixed.compatible = v3.compatible;
        fixed.autoclear = v3.autoclear;
        fixed.refcount_order = v3.refcount_order;
        fixed.header_length = v3.header_length;
        if v3.header_length > COMPRESSION_TYPE_OFFSET {
            let byte = src.need(u64::from(COMPRESSION_TYPE_OFFSET), 1)?;
            let (_, compression_type) =
                be_u8::<_, nom::error::Error<&[u8]>>(byte).map_err(|_| nom_failed())?;
            fixed.compression_type = compression_type;
        }
    }
    Ok(fixed)
}

impl Fixed {
    /// The cluster size; only meaningful once `cluster_bits` is validated.
    fn cluster_size(&self) -> u64 {
        1u64.checked_shl(self.cluster_bits).unwrap_or(u64::MAX)
    }

    /// Where the header extensions end: at the backing file name, or at the end of the cluster.
    fn extension_end(&self) -> u64 {
        if self.backing_file_offset != 0 {
            self.backing_file_offset
        } else {
            self.cluster_size()
        }
    }

    /// QEMU's checks of the fixed fields, in QEMU's order.
    fn validate(&self) -> Result<(), HeaderError> {
        if !(MIN_CLUSTER_BITS..=MAX_CLUSTER_BITS).contains(&self.cluster_bits) {
            return Err(HeaderError::InvalidClusterBits(self.cluster_bits));
        }
        let cluster_size = self.cluster_size();
        if (self.version == 3 && self.header_length < V3_HEADER_LEN)
            || u64::from(self.header_length) > cluster_size
        {
            return Err(HeaderError::HeaderLengthInvalid(self.header_length));
        }
        if self.backing_file_offset > cluster_size {
            return Err(HeaderError::BackingNameOutOfBounds {
                offset: self.backing_file_offset,
                size: self.backing_file_size,
            });
        }
        match self.compression_type {
            0 | 1 => {}
            other => return Err(HeaderError::UnsupportedCompressionType(other)),
        }
        if (self.compression_type != 0) != (self.incompatible & INCOMPAT_COMPRESSION != 0) {
            return Err(HeaderError::CompressionTypeMismatch(self.compression_type));
        }
        let unknown = self.incompatible & !INCOMPAT_KNOWN;
        if unknown != 0 {
            return Err(HeaderError::UnknownIncompatibleFeatures(unknown));
        }
        if self.incompatible & INCOMPAT_EXTL2 != 0
            && self.cluster_bits < MIN_CLUSTER_BITS + EXTL2_SUBCLUSTER_BITS
        {
            return Err(HeaderError::SubclusterTooSmall(self.cluster_bits));
        }
        if self.refcount_order > 6 {
            return Err(HeaderError::RefcountOrderTooLarge(self.refcount_order));
        }
        if self.crypt_method > CRYPT_LUKS {
            return Err(HeaderError::UnsupportedCryptMethod(self.crypt_method));
        }
        self.validate_tables()
    }

    /// QEMU's checks of the table fields (`qcow2_validate_table` and the L1 size checks of
    /// `qcow2_do_open`), in QEMU's order.
    fn validate_tables(&self) -> Result<(), HeaderError> {
        let t = &self.tables;
        self.validate_table(
            "reference count table",
            t.refcount_table_offset,
            t.refcount_table_clusters,
            self.cluster_size(),
            MAX_REFTABLE_BYTES,
        )?;
        self.validate_table(
            "snapshot table",
            t.snapshots_offset,
            t.nb_snapshots,
            SNAPSHOT_HEADER_LEN,
            SNAPSHOT_HEADER_LEN * MAX_SNAPSHOTS,
        )?;
        self.validate_table(
            "active L1 table",
            t.l1_table_offset,
            t.l1_size,
            L1_ENTRY_LEN,
            MAX_L1_BYTES,
        )?;
        // size_to_l1: the L1 entries the virtual size needs, in QEMU's unsigned arithmetic
        // (which wraps for sizes near 2^64).
        let l2_entry_bits = if self.incompatible & INCOMPAT_EXTL2 != 0 {
            4
        } else {
            3
        };
        let shift = self.cluster_bits * 2 - l2_entry_bits;
        let l1_needed = self.size.wrapping_add((1u64 << shift) - 1) >> shift;
        if l1_needed > i32::MAX as u64 {
            return Err(HeaderError::ImageTooBig);
        }
        if u64::from(t.l1_size) < l1_needed {
            return Err(HeaderError::L1TableTooSmall {
                entries: t.l1_size,
                needed: l1_needed,
            });
        }
        Ok(())
    }

    /// `qcow2_validate_table`: at most `max_bytes` of entries, and a cluster-aligned offset
    /// that leaves the table below 2^63.
    fn validate_table(
        &self,
        table: &'static str,
        offset: u64,
        entries: u32,
        entry_len: u64,
        max_bytes: u64,
    ) -> Result<(), HeaderError> {
        let entries = u64::from(entries);
        if entries > max_bytes / entry_len {
            return Err(HeaderError::TableTooLarge(table));
        }
        let misaligned = offset & (self.cluster_size() - 1) != 0;
        if (i64::MAX as u64) - entries * entry_len < offset || misaligned {
            return Err(HeaderError::TableOffsetInvalid { table, offset });
        }
        Ok(())
    }
}

/// One header extension.
struct Extension<'a> {
    /// Its type.
    magic: u32,
    /// Offset of its data.
    offset: u64,
    /// Its data, without the padding.
    data: &'a [u8],
}

/// Walks the header extensions from `header_length` to [`Fixed::extension_end`] as QEMU's
/// `qcow2_read_extensions` does, calling `visit` for each one before the end marker. Returns
/// the offset just past the last byte read.
fn walk_extensions<'a>(
    src: &Source<'a>,
    fixed: &Fixed,
    mut visit: impl FnMut(Extension<'a>) -> Result<(), HeaderError>,
) -> Result<u64, HeaderError> {
    let end = fixed.extension_end();
    let mut offset = u64::from(fixed.header_length);
    let mut read_up_to = offset;
    while offset < end {
        // QEMU refuses an extension header that does not fit before the end (even an end
        // marker); refusing it before reading it keeps `bytes_needed` exact.
        if end - offset < 8 {
            return Err(HeaderError::ExtensionOutOfBounds { offset, len: 0 });
        }
        let mut head = [0u8; 8];
        match src.get(offset, 8) {
            Ok(bytes) => head.copy_from_slice(bytes),
            // QEMU reads zeros past the end of the file, and a zero type ends the extensions.
            Err(Short::PastEof) => match src.get(offset, src.eof.saturating_sub(offset)) {
                Ok(tail) => head.iter_mut().zip(tail).for_each(|(to, from)| *to = *from),
                Err(Short::NotRead(needed)) => return Err(truncated(needed, src.buf)),
                Err(Short::PastEof) => {}
            },
            Err(Short::NotRead(needed)) => return Err(truncated(needed, src.buf)),
        }
        let (_, (magic, len)) = (be_u32::<_, nom::error::Error<&[u8]>>, be_u32)
            .parse(&head[..])
            .map_err(|_| truncated(offset.saturating_add(8), src.buf))?;
        let data_offset = offset + 8;
        read_up_to = data_offset.min(src.eof);
        if data_offset > end || u64::from(len) > end - data_offset {
            return Err(HeaderError::ExtensionOutOfBounds { offset, len });
        }
        if magic == EXT_END {
            return Ok(read_up_to);
        }
        let data = match src.get(data_offset, u64::from(len)) {
            Ok(data) => data,
            Err(_) if len == 0 => &[],
            Err(Short::PastEof) => return Err(HeaderError::ExtensionOutOfBounds { offset, len }),
            Err(Short::NotRead(needed)) => return Err(truncated(needed, src.buf)),
        };
        visit(Extension {
            magic,
            offset: data_offset,
            data,
        })?;
        read_up_to = data_offset + u64::from(len);
        // len <= end - data_offset <= 2 MiB: no overflow.
        offset = data_offset + u64::from(len).next_multiple_of(8);
    }
    Ok(read_up_to)
}

/// Takes in one header extension, with QEMU's checks.
fn visit_extension(
    fixed: &Fixed,
    header: &mut DiskHeader,
    ext: Extension<'_>,
) -> Result<(), HeaderError> {
    let len = u32::try_from(ext.data.len()).unwrap_or(u32::MAX);
    let invalid = |name, reason| HeaderError::InvalidExtension {
        name,
        offset: ext.offset,
        reason,
    };
    match ext.magic {
        EXT_BACKING_FORMAT => {
            if len > MAX_BACKING_FORMAT_LEN {
                return Err(HeaderError::BackingFormatTooLong(len));
            }
            header.backing_format = non_empty(c_string(ext.data));
        }
        EXT_DATA_FILE => header.data_file = Some(c_string(ext.data).to_vec()),
        EXT_FEATURE_TABLE => header.feature_names = feature_table(ext.data),
        EXT_CRYPTO => {
            header.has_encryption_extension = true;
            if fixed.crypt_method != CRYPT_LUKS {
                return Err(invalid("encryption", "only expected with LUKS encryption"));
            }
            if len != CRYPTO_EXT_LEN {
                return Err(invalid("encryption", "length is not 16"));
            }
            let (_, (crypto_offset, _length)) = (be_u64::<_, nom::error::Error<&[u8]>>, be_u64)
                .parse(ext.data)
                .map_err(|_| invalid("encryption", "length is not 16"))?;
            if crypto_offset % fixed.cluster_size() != 0 {
                return Err(invalid(
                    "encryption",
                    "header offset is not cluster aligned",
                ));
            }
        }
        EXT_BITMAPS => {
            header.has_bitmaps_extension = true;
            if len != BITMAPS_EXT_LEN {
                return Err(invalid("bitmaps", "length is not 24"));
            }
            // Without the autoclear bit the bitmaps are stale and QEMU ignores them.
            if fixed.autoclear & AUTOCLEAR_BITMAPS != 0 {
                check_bitmaps(fixed, ext.data).map_err(|reason| invalid("bitmaps", reason))?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// QEMU's checks of a bitmaps extension in use.
fn check_bitmaps(fixed: &Fixed, data: &[u8]) -> Result<(), &'static str> {
    let (_, (nb_bitmaps, reserved, directory_size, directory_offset)) = (
        be_u32::<_, nom::error::Error<&[u8]>>,
        be_u32,
        be_u64,
        be_u64,
    )
        .parse(data)
        .map_err(|_| "length is not 24")?;
    if reserved != 0 {
        return Err("reserved field is not zero");
    }
    if nb_bitmaps == 0 {
        return Err("zero bitmaps");
    }
    if nb_bitmaps > MAX_BITMAPS {
        return Err("more than 65535 bitmaps");
    }
    if directory_offset % fixed.cluster_size() != 0 {
        return Err("bitmap directory offset is not cluster aligned");
    }
    if directory_size > MAX_BITMAP_DIRECTORY_SIZE {
        return Err("bitmap directory is too large");
    }
    Ok(())
}

/// The feature name table: 48-byte entries, read up to the first entry without a name (as
/// QEMU does when it names unknown features). A short last entry reads as if zero-padded.
fn feature_table(data: &[u8]) -> Vec<(u8, u8, Vec<u8>)> {
    data.chunks(FEATURE_ENTRY_LEN)
        .map(|entry| {
            let kind = entry.first().copied().unwrap_or(0);
            let bit = entry.get(1).copied().unwrap_or(0);
            let name = c_string(entry.get(2..).unwrap_or_default());
            (kind, bit, name.to_vec())
        })
        .take_while(|(_, _, name)| !name.is_empty())
        .collect()
}
