//! The header parser: the first bytes of a disk image in, a [`DiskHeader`] out; pure, never panics.
//!
//! The checks follow QEMU's `qcow2_do_open` and `qcow2_read_extensions` (block/qcow2.c), so that
//! an image this parser accepts is one QEMU opens, and a name it reports is the name QEMU reads.
//! One difference: QEMU reads bytes past the end of the file as zeros; this parser reports a
//! truncated header or a name that lies past the end of the file as an error instead (it does
//! follow QEMU where zeros past the end of the file would end the header extensions).

use nom::Parser;
use nom::bytes::complete::tag;
use nom::number::complete::{be_u8, be_u16, be_u32, be_u64};

/// The magic number that opens every qcow (v1) and qcow2 image: `QFI\xfb`.
pub const QCOW2_MAGIC: [u8; 4] = *b"QFI\xfb";
/// The smallest `cluster_bits` QEMU accepts (512-byte clusters).
pub const MIN_CLUSTER_BITS: u32 = 9;
/// The largest `cluster_bits` QEMU accepts (2 MiB clusters).
pub const MAX_CLUSTER_BITS: u32 = 21;
/// The most bytes [`bytes_needed`] ever asks for: the largest first cluster.
pub const MAX_HEADER_BYTES: usize = 1 << MAX_CLUSTER_BITS;
/// The longest backing file name QEMU reads.
pub const MAX_BACKING_NAME_LEN: u32 = 1023;

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

/// Incompatible feature bit 0: the refcounts may be inconsistent.
pub(crate) const INCOMPAT_DIRTY: u64 = 1 << 0;
/// Incompatible feature bit 1: the image is corrupt.
pub(crate) const INCOMPAT_CORRUPT: u64 = 1 << 1;
/// Incompatible feature bit 2: guest data lives in an external data file.
pub(crate) const INCOMPAT_DATA_FILE: u64 = 1 << 2;
/// Incompatible feature bit 3: the compression type field is not zlib.
pub(crate) const INCOMPAT_COMPRESSION: u64 = 1 << 3;
/// Incompatible feature bit 4: extended L2 entries (subclusters).
pub(crate) const INCOMPAT_EXTL2: u64 = 1 << 4;
/// Every incompatible feature bit QEMU knows.
const INCOMPAT_KNOWN: u64 =
    INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_DATA_FILE | INCOMPAT_COMPRESSION | INCOMPAT_EXTL2;
/// Compatible feature bit 0: lazy refcounts.
const COMPAT_LAZY_REFCOUNTS: u64 = 1 << 0;
/// Autoclear feature bit 0: the bitmaps extension is consistent.
const AUTOCLEAR_BITMAPS: u64 = 1 << 0;
/// Autoclear feature bit 1: the external data file is a valid raw image on its own.
const AUTOCLEAR_DATA_FILE_RAW: u64 = 1 << 1;

/// Largest backing format name QEMU keeps (`sizeof(bs->backing_format) - 1`).
const MAX_BACKING_FORMAT_LEN: u32 = 15;
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
const MAX_L1_BYTES: u64 = 32 << 20;
/// Length of an L1 table entry.
const L1_ENTRY_LEN: u64 = 8;
/// Length of a snapshot table entry's fixed part (`QCowSnapshotHeader`).
const SNAPSHOT_HEADER_LEN: u64 = 40;
/// The most snapshots QEMU opens (`QCOW_MAX_SNAPSHOTS`).
const MAX_SNAPSHOTS: u64 = 65536;
/// Subclusters per cluster with extended L2 entries.
const EXTL2_SUBCLUSTER_BITS: u32 = 5;

/// What kind of image a header says the file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// No known magic: the bytes are the disk itself.
    Raw,
    /// QEMU's qcow2 (versions 2 and 3).
    Qcow2,
    /// QEMU's original qcow (version 1 of the qcow magic).
    Qcow,
    /// QEMU Enhanced Disk (`QED\0`).
    Qed,
    /// VMware VMDK: a sparse extent (`KDMV`, `COWD`) or a text descriptor file.
    Vmdk,
    /// Microsoft VHD (`conectix`) with its footer copy at the start: a dynamic or
    /// differencing disk. A fixed VHD has its footer only at the end and reads as raw, as in QEMU.
    Vpc,
    /// Microsoft VHDX (`vhdxfile`).
    Vhdx,
    /// VirtualBox VDI.
    Vdi,
    /// A LUKS encrypted volume (`LUKS\xba\xbe`).
    Luks,
}

impl Format {
    /// Every format, as QEMU names them in [`Format::as_str`] order.
    pub const ALL: [Format; 9] = [
        Format::Raw,
        Format::Qcow2,
        Format::Qcow,
        Format::Qed,
        Format::Vmdk,
        Format::Vpc,
        Format::Vhdx,
        Format::Vdi,
        Format::Luks,
    ];

    /// The name QEMU gives the format (`raw`, `qcow2`, `qed`, `vmdk`...), as in `qemu-img info`
    /// and `-F`.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Raw => "raw",
            Format::Qcow2 => "qcow2",
            Format::Qcow => "qcow",
            Format::Qed => "qed",
            Format::Vmdk => "vmdk",
            Format::Vpc => "vpc",
            Format::Vhdx => "vhdx",
            Format::Vdi => "vdi",
            Format::Luks => "luks",
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a disk image's header says: its format, size, and the other files it depends on.
///
/// Names are raw bytes exactly as QEMU reads them (a C string: the first NUL ends it); they
/// need not be UTF-8. Fields a format does not have are `None` (or zero, for the feature bits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskHeader {
    /// The format the header declares.
    pub format: Format,
    /// The qcow2 version: 2 (`compat=0.10`) or 3 (`compat=1.1`).
    pub version: Option<u32>,
    /// The size of the virtual disk in bytes; for raw, the file's size.
    pub virtual_size: Option<u64>,
    /// The cluster size in bytes.
    pub cluster_size: Option<u64>,
    /// The backing file name; `None` when there is none (QEMU treats an empty name as none).
    pub backing_file: Option<Vec<u8>>,
    /// The backing format from the backing format extension; `None` when absent or empty.
    pub backing_format: Option<Vec<u8>>,
    /// The name in the external data file extension, as stored; QEMU uses it only when the
    /// external data file bit is set (see [`DiskHeader::external_data_file`]).
    pub data_file: Option<Vec<u8>>,
    /// Incompatible feature bits (always 0 for version 2).
    pub incompatible_features: u64,
    /// Compatible feature bits (always 0 for version 2).
    pub compatible_features: u64,
    /// Autoclear feature bits (always 0 for version 2).
    pub autoclear_features: u64,
    /// Refcount entry width as a power of two (4 for version 2).
    pub refcount_order: Option<u32>,
    /// The header length (72 for version 2).
    pub header_length: Option<u32>,
    /// Compression type in effect: 0 zlib, 1 zstd (0 when the header has no such field).
    pub compression_type: Option<u8>,
    /// Encryption method: 0 none, 1 AES-CBC, 2 LUKS.
    pub crypt_method: Option<u32>,
    /// The header has a persistent bitmaps extension.
    pub has_bitmaps_extension: bool,
    /// The header has a full disk encryption extension.
    pub has_encryption_extension: bool,
    /// The feature name table: (type 0 incompatible, 1 compatible, 2 autoclear; bit; name).
    pub feature_names: Vec<(u8, u8, Vec<u8>)>,
    /// Further files holding the disk's data, as named (raw bytes, relative names relative to
    /// the image's directory, like backing names): the extents of a VMDK descriptor file, in
    /// order. Empty for every other format (a qcow2 external data file is in `data_file`).
    pub extent_files: Vec<Vec<u8>>,
    /// The VMDK `createType` (`monolithicSparse`, `twoGbMaxExtentFlat`...), as QEMU reports it.
    pub create_type: Option<Vec<u8>>,
    /// The VMDK descriptor's `CID`: the content id that a child's `parentCID` names.
    pub cid: Option<u32>,
    /// The VMDK descriptor's `parentCID` (`0xffffffff` for none).
    pub parent_cid: Option<u32>,
}

impl DiskHeader {
    /// The header of a raw file of `len` bytes: no metadata, the virtual size is the file size.
    pub fn raw(len: u64) -> Self {
        DiskHeader::bare(Format::Raw, Some(len))
    }

    /// A header of `format` with nothing but a virtual size: the start of every parser's result.
    pub(crate) fn bare(format: Format, virtual_size: Option<u64>) -> Self {
        DiskHeader {
            format,
            version: None,
            virtual_size,
            cluster_size: None,
            backing_file: None,
            backing_format: None,
            data_file: None,
            incompatible_features: 0,
            compatible_features: 0,
            autoclear_features: 0,
            refcount_order: None,
            header_length: None,
            compression_type: None,
            crypt_method: None,
            has_bitmaps_extension: false,
            has_encryption_extension: false,
            feature_names: Vec::new(),
            extent_files: Vec::new(),
            create_type: None,
            cid: None,
            parent_cid: None,
        }
    }

    /// The dirty bit: refcounts may be stale (an unclean shutdown with lazy refcounts).
    pub fn is_dirty(&self) -> bool {
        self.incompatible_features & INCOMPAT_DIRTY != 0
    }

    /// The corrupt bit: QEMU refuses to write to the image until it is repaired.
    pub fn is_corrupt(&self) -> bool {
        self.incompatible_features & INCOMPAT_CORRUPT != 0
    }

    /// The guest data lives in an external data file, another file the image depends on.
    pub fn has_external_data_file(&self) -> bool {
        self.incompatible_features & INCOMPAT_DATA_FILE != 0
    }

    /// The external data file name QEMU opens: the extension's name when the external data
    /// file bit is set. `None` with the bit set means the name must come from elsewhere
    /// (QEMU then needs a `data-file` option).
    pub fn external_data_file(&self) -> Option<&[u8]> {
        if self.has_external_data_file() {
            self.data_file.as_deref()
        } else {
            None
        }
    }

    /// The raw external data bit: the data file is a consistent raw image on its own.
    pub fn data_file_raw(&self) -> bool {
        self.autoclear_features & AUTOCLEAR_DATA_FILE_RAW != 0
    }

    /// The lazy refcounts compatible feature.
    pub fn lazy_refcounts(&self) -> bool {
        self.compatible_features & COMPAT_LAZY_REFCOUNTS != 0
    }

    /// Extended L2 entries (subclusters).
    pub fn extended_l2(&self) -> bool {
        self.incompatible_features & INCOMPAT_EXTL2 != 0
    }

    /// The refcount entry width in bits (`1 << refcount_order`).
    pub fn refcount_bits(&self) -> Option<u64> {
        self.refcount_order
            .and_then(|order| 1u64.checked_shl(order))
    }
}

/// Why a header was refused. Offsets are from the start of the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// The bytes end before something the header says is there.
    #[error("the header is truncated: {needed} bytes needed, {have} available")]
    Truncated {
        /// Bytes from offset 0 needed to go on.
        needed: usize,
        /// Bytes there were.
        have: usize,
    },
    /// A version other than 2 or 3.
    #[error("unsupported qcow2 version {0}")]
    UnsupportedVersion(u32),
    /// `cluster_bits` outside 9..=21.
    #[error("unsupported cluster size 2^{0} (cluster_bits must be 9 to 21)")]
    InvalidClusterBits(u32),
    /// `header_length` below 104 (version 3) or larger than a cluster.
    #[error("invalid header length {0} (must be at least 104 and at most the cluster size)")]
    HeaderLengthInvalid(u32),
    /// `backing_file_size` over 1023.
    #[error("backing file name of {0} bytes is too long (at most 1023)")]
    BackingNameTooLong(u32),
    /// The backing file name does not lie within the first cluster, or past the end of the file.
    #[error(
        "backing file name at offset {offset} of {size} bytes lies outside the first cluster or the file"
    )]
    BackingNameOutOfBounds {
        /// `backing_file_offset`.
        offset: u64,
        /// `backing_file_size`.
        size: u32,
    },
    /// A header extension whose length runs past the extension area or the file.
    #[error("header extension at offset {offset} of length {len} overruns the extension area")]
    ExtensionOutOfBounds {
        /// Offset of the extension's type field.
        offset: u64,
        /// Its length field.
        len: u32,
    },
    /// Incompatible feature bits QEMU does not know (the unknown bits only).
    #[error("unsupported incompatible feature bits {0:#x}")]
    UnknownIncompatibleFeatures(u64),
    /// A compression type other than zlib (0) or zstd (1).
    #[error("unsupported compression type {0}")]
    UnsupportedCompressionType(u8),
    /// The compression type feature bit is set with zlib, or clear with another type.
    #[error("compression type {0} does not match the compression type feature bit")]
    CompressionTypeMismatch(u8),
    /// Extended L2 entries with clusters too small for 32 subclusters of 512 bytes.
    #[error("extended L2 entries need clusters of at least 16 KiB, not 2^{0} bytes")]
    SubclusterTooSmall(u32),
    /// `refcount_order` over 6 (refcounts wider than 64 bits).
    #[error("refcount order {0} is too large (at most 6)")]
    RefcountOrderTooLarge(u32),
    /// An encryption method other than none, AES or LUKS.
    #[error("unsupported encryption method {0}")]
    UnsupportedCryptMethod(u32),
    /// A metadata table (L1, reference count or snapshot table) larger than QEMU opens.
    #[error("the {0} is too large")]
    TableTooLarge(&'static str),
    /// A metadata table at an offset that is not cluster-aligned or runs past 2^63.
    #[error("the {table} offset {offset:#x} is invalid")]
    TableOffsetInvalid {
        /// Which table.
        table: &'static str,
        /// Its offset.
        offset: u64,
    },
    /// A virtual size that needs more than 2^31 L1 entries.
    #[error("the image is too big: its virtual size needs more than 2^31 L1 table entries")]
    ImageTooBig,
    /// An L1 table with fewer entries than the virtual size needs.
    #[error("the L1 table is too small: {entries} entries, the virtual size needs {needed}")]
    L1TableTooSmall {
        /// `l1_size`.
        entries: u32,
        /// What the virtual size needs.
        needed: u64,
    },
    /// A backing format extension of 16 bytes or more.
    #[error("backing format of {0} bytes is too long (at most 15)")]
    BackingFormatTooLong(u32),
    /// A bitmaps or encryption extension QEMU refuses.
    #[error("invalid {name} extension at offset {offset}: {reason}")]
    InvalidExtension {
        /// Which extension.
        name: &'static str,
        /// Offset of its data.
        offset: u64,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The raw external data bit without the external data file bit.
    #[error("the raw external data bit is set but the image has no external data file")]
    DataFileRawWithoutDataFile,
    /// A header of another format than qcow2 that QEMU refuses.
    #[error("invalid {format} header at offset {offset}: {reason}")]
    Invalid {
        /// The format ([`Format::as_str`]).
        format: &'static str,
        /// Offset of the offending field or text.
        offset: u64,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A VHDX whose headers and region table are valid: what `qemu-img info` reports is in its
    /// metadata region, `len` bytes at `offset`, which [`crate::read_header`] reads and
    /// [`crate::parse_vhdx_metadata`] parses.
    #[error("the VHDX metadata region at offset {offset} must be read too ({len} bytes)")]
    VhdxMetadata {
        /// The region's offset in the file.
        offset: u64,
        /// How many of its bytes to read (at most 1 MiB).
        len: u64,
    },
    /// The image may have a parent, but where its name is cannot be told from the first bytes
    /// of the file (a differencing VHD, VDI, or any VHDX): treat the image as unreadable.
    #[error("the {format} image may depend on a parent image that cannot be read from its header")]
    ParentNotReadable {
        /// The format ([`Format::as_str`]).
        format: &'static str,
    },
}

/// How many bytes from offset 0 [`parse_header`] needs to see everything it reads, judging
/// from `prefix`, the file's first bytes: at least the first 4 KiB of the file or all of it if
/// it is shorter (what [`crate::read_header`] reads first), so that the format can be told.
///
/// Never more than [`MAX_HEADER_BYTES`]. For qcow2 this is at least 112 (QEMU's header
/// structure) and never more than the first cluster; for QED and qcow the header and the
/// backing name; for VMDK the descriptor QEMU reads (up to 1 MiB for a descriptor file); for
/// VHD, VDI, VHDX and LUKS the fixed header. If the prefix is too short to tell (a part of a
/// magic), it is what is needed to tell more (ask again with the longer prefix, or just read
/// that much). For a prefix of no known format it is the prefix's length: nothing more is
/// needed. Errors are those [`parse_header`] would give for the fixed header fields.
pub fn bytes_needed(prefix: &[u8]) -> Result<usize, HeaderError> {
    let src = Source {
        buf: prefix,
        eof: u64::MAX,
    };
    let needed = match probe(&src) {
        Probe::Raw => return Ok(prefix.len()),
        Probe::MagicPrefix(_) => Ok(QEMU_HEADER_LEN as usize),
        Probe::Format(Format::Qcow2) => qcow2_bytes_needed(prefix),
        Probe::Format(Format::Qcow) => crate::qcow::bytes_needed(&src),
        Probe::Format(Format::Qed) => crate::qed::bytes_needed(&src),
        Probe::Format(Format::Vmdk) => crate::vmdk::bytes_needed(&src),
        Probe::Format(Format::Vpc) => crate::vpc::bytes_needed(&src),
        Probe::Format(Format::Vdi) => Ok(crate::vdi::HEADER_LEN),
        Probe::Format(Format::Luks) => Ok(LUKS_PROBE_LEN),
        Probe::Format(Format::Vhdx) => Ok(crate::vhdx::BYTES_NEEDED),
        Probe::Format(Format::Raw) => Ok(MAGIC_PROBE_LEN),
    }?;
    Ok(needed.min(MAX_HEADER_BYTES))
}

/// Parses a disk image header.
///
/// `buf` holds the file's first bytes: as many as [`bytes_needed`] asked for, or the whole file
/// if it is shorter. `file_len` is the file's size. The format is told as QEMU probes it: by
/// its magic (qcow2, qcow, QED, VMDK, VHD, VHDX, LUKS, VDI) or a VMDK descriptor's first
/// lines; a file of no known format is raw, with the file's size as its virtual size. The
/// header is checked as QEMU checks it when it opens the image; anything QEMU would refuse is
/// an error, and so is a header that refers to bytes past `buf` ([`HeaderError::Truncated`])
/// or past the end of the file. An image that may have a parent this parser cannot name is
/// [`HeaderError::ParentNotReadable`].
pub fn parse_header(buf: &[u8], file_len: u64) -> Result<DiskHeader, HeaderError> {
    let buf_len = u64::try_from(buf.len()).unwrap_or(u64::MAX);
    let src = Source {
        buf,
        eof: file_len.max(buf_len),
    };
    match probe(&src) {
        Probe::Raw => Ok(DiskHeader::raw(file_len)),
        // A prefix of a magic: raw if that is the whole file, else we were given too little.
        Probe::MagicPrefix(_) if src.eof <= buf_len => Ok(DiskHeader::raw(file_len)),
        Probe::MagicPrefix(len) => Err(truncated(len as u64, buf)),
        Probe::Format(Format::Qcow2) => parse_qcow2(&src),
        Probe::Format(Format::Qcow) => crate::qcow::parse(&src),
        Probe::Format(Format::Qed) => crate::qed::parse(&src),
        Probe::Format(Format::Vmdk) => crate::vmdk::parse(&src),
        Probe::Format(Format::Vpc) => crate::vpc::parse(&src),
        Probe::Format(Format::Vdi) => crate::vdi::parse(&src),
        Probe::Format(Format::Vhdx) => crate::vhdx::parse(&src),
        Probe::Format(Format::Luks) => parse_luks(&src),
        Probe::Format(Format::Raw) => Ok(DiskHeader::raw(file_len)),
    }
}

/// The magic of QED images.
pub(crate) const QED_MAGIC: [u8; 4] = *b"QED\0";
/// The magic of VMDK4 sparse extents (monolithicSparse, streamOptimized...).
pub(crate) const VMDK4_MAGIC: [u8; 4] = *b"KDMV";
/// The magic of VMDK3 (VMFS) sparse extents.
pub(crate) const VMDK3_MAGIC: [u8; 4] = *b"COWD";
/// The cookie that opens a VHD footer.
pub(crate) const VPC_MAGIC: [u8; 8] = *b"conectix";
/// The signature that opens a VHDX file.
const VHDX_MAGIC: [u8; 8] = *b"vhdxfile";
/// The magic of a LUKS (1 or 2) header.
const LUKS_MAGIC: [u8; 6] = *b"LUKS\xba\xbe";
/// Bytes enough to see any magic at offset 0 and the qcow version.
const MAGIC_PROBE_LEN: usize = 8;
/// Offset of the LUKS1 payload offset, in 512-byte sectors (big-endian u32).
const LUKS1_PAYLOAD_OFFSET: u64 = 104;
/// Bytes of a LUKS header read: up to the LUKS1 payload offset.
const LUKS_PROBE_LEN: usize = LUKS1_PAYLOAD_OFFSET as usize + 4;
/// The magics at offset 0, longest first within a shared prefix.
const MAGICS: [(&[u8], Format); 7] = [
    (&QCOW2_MAGIC, Format::Qcow2),
    (&QED_MAGIC, Format::Qed),
    (&VMDK4_MAGIC, Format::Vmdk),
    (&VMDK3_MAGIC, Format::Vmdk),
    (&VPC_MAGIC, Format::Vpc),
    (&VHDX_MAGIC, Format::Vhdx),
    (&LUKS_MAGIC, Format::Luks),
];

/// What the first bytes of a file say it is.
enum Probe {
    /// No known format.
    Raw,
    /// The bytes are a proper prefix of a magic this long: more bytes would tell.
    MagicPrefix(usize),
    /// This format (for qcow2 and qcow: their magic; the version tells them apart).
    Format(Format),
}

/// Tells the format from the first bytes as QEMU's probes do (`bdrv_probe_all`): a magic at
/// offset 0 (qcow's version 1 is qcow, any other version is qcow2), then the VDI signature at
/// 0x40, then a VMDK descriptor's first lines. QEMU's probes also need their whole header to
/// be there; here a magic is enough, and a header cut short is an error rather than raw.
fn probe(src: &Source<'_>) -> Probe {
    let buf = src.buf;
    for (magic, format) in MAGICS {
        if buf.starts_with(magic) {
            if format == Format::Qcow2 && buf.get(4..8) == Some(&[0, 0, 0, 1][..]) {
                return Probe::Format(Format::Qcow);
            }
            return Probe::Format(format);
        }
    }
    let prefix_of = MAGICS
        .iter()
        .filter(|(magic, _)| buf.len() < magic.len() && magic.starts_with(buf))
        .map(|(magic, _)| magic.len())
        .max();
    if let Some(len) = prefix_of {
        return Probe::MagicPrefix(len);
    }
    if crate::vdi::probe(buf) {
        return Probe::Format(Format::Vdi);
    }
    if crate::vmdk::probe_descriptor(buf) {
        return Probe::Format(Format::Vmdk);
    }
    Probe::Raw
}

/// A LUKS volume: no backing file; for LUKS1 the virtual size is what follows the payload
/// offset (QEMU's `block/crypto.c`), for LUKS2 it is left unknown.
fn parse_luks(src: &Source<'_>) -> Result<DiskHeader, HeaderError> {
    let (_, version) = be_u16::<_, nom::error::Error<&[u8]>>(src.need(6, 2)?)
        .map_err(|_| truncated(8, src.buf))?;
    let size = if version == 1 {
        let (_, payload) =
            be_u32::<_, nom::error::Error<&[u8]>>(src.need(LUKS1_PAYLOAD_OFFSET, 4)?)
                .map_err(|_| truncated(LUKS_PROBE_LEN as u64, src.buf))?;
        src.eof.checked_sub(u64::from(payload) * 512)
    } else {
        None
    };
    let mut header = DiskHeader::bare(Format::Luks, size);
    header.version = Some(u32::from(version));
    Ok(header)
}

/// [`bytes_needed`] for a prefix with the qcow2 magic: at least 112 (QEMU's header structure)
/// and never more than the first cluster.
fn qcow2_bytes_needed(prefix: &[u8]) -> Result<usize, HeaderError> {
    let qemu_header = QEMU_HEADER_LEN as usize;
    // The prefix is only known up to its own end: anything past it is "not read yet".
    let src = Source {
        buf: prefix,
        eof: u64::MAX,
    };
    let fixed = match parse_fixed(&src) {
        Ok(fixed) => fixed,
        Err(HeaderError::Truncated { needed, .. }) => return Ok(needed.max(qemu_header)),
        Err(e) => return Err(e),
    };
    fixed.validate()?;
    let cluster_size = fixed.cluster_size();
    let mut needed = u64::from(QEMU_HEADER_LEN);
    needed = needed.max(match walk_extensions(&src, &fixed, |_| Ok(())) {
        Ok(end) => end,
        Err(HeaderError::Truncated { .. }) => fixed.extension_end(),
        // Whatever the walk refuses lies in the prefix: keep all of it.
        Err(_) => u64::try_from(prefix.len()).unwrap_or(u64::MAX),
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
fn parse_qcow2(src: &Source<'_>) -> Result<DiskHeader, HeaderError> {
    let fixed = parse_fixed(src)?;
    fixed.validate()?;

    let mut header = DiskHeader {
        format: Format::Qcow2,
        version: Some(fixed.version),
        virtual_size: Some(fixed.size),
        cluster_size: Some(fixed.cluster_size()),
        backing_file: None,
        backing_format: None,
        data_file: None,
        incompatible_features: fixed.incompatible,
        compatible_features: fixed.compatible,
        autoclear_features: fixed.autoclear,
        refcount_order: Some(fixed.refcount_order),
        header_length: Some(fixed.header_length),
        compression_type: Some(fixed.compression_type),
        crypt_method: Some(fixed.crypt_method),
        has_bitmaps_extension: false,
        has_encryption_extension: false,
        feature_names: Vec::new(),
        extent_files: Vec::new(),
        create_type: None,
        cid: None,
        parent_cid: None,
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

/// The bytes before the first NUL, as C reads a string.
pub(crate) fn c_string(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    bytes.get(..end).unwrap_or(bytes)
}

/// `Some` unless empty.
pub(crate) fn non_empty(bytes: &[u8]) -> Option<Vec<u8>> {
    (!bytes.is_empty()).then(|| bytes.to_vec())
}

/// The backing name of `size` bytes at `offset`, read as a C string (empty is none); past the
/// end of the file it is [`HeaderError::BackingNameOutOfBounds`].
pub(crate) fn backing_name(
    src: &Source<'_>,
    offset: u64,
    size: u32,
) -> Result<Option<Vec<u8>>, HeaderError> {
    match src.get(offset, u64::from(size)) {
        Ok(name) => Ok(non_empty(c_string(name))),
        Err(Short::PastEof) => Err(HeaderError::BackingNameOutOfBounds { offset, size }),
        Err(Short::NotRead(needed)) => Err(truncated(needed, src.buf)),
    }
}

/// A [`HeaderError::Truncated`] for `needed` bytes out of `buf`.
pub(crate) fn truncated(needed: u64, buf: &[u8]) -> HeaderError {
    HeaderError::Truncated {
        needed: usize::try_from(needed).unwrap_or(usize::MAX),
        have: buf.len(),
    }
}

/// The bytes at hand and where the file ends.
pub(crate) struct Source<'a> {
    /// The first bytes of the file.
    pub(crate) buf: &'a [u8],
    /// The file's length (at least `buf.len()`), or `u64::MAX` when unknown.
    pub(crate) eof: u64,
}

/// Why [`Source::get`] has no bytes to give.
pub(crate) enum Short {
    /// The range goes past the end of the file.
    PastEof,
    /// The range is in the file but past `buf`: this many bytes from offset 0 are needed.
    NotRead(u64),
}

impl<'a> Source<'a> {
    /// The `len` bytes at `offset`.
    pub(crate) fn get(&self, offset: u64, len: u64) -> Result<&'a [u8], Short> {
        let end = offset.checked_add(len).ok_or(Short::PastEof)?;
        let in_buf = usize::try_from(offset)
            .ok()
            .zip(usize::try_from(end).ok())
            .and_then(|(start, end)| self.buf.get(start..end));
        match in_buf {
            Some(bytes) => Ok(bytes),
            None if end > self.eof => Err(Short::PastEof),
            None => Err(Short::NotRead(end)),
        }
    }

    /// The `len` bytes at `offset`, which are part of the fixed header: missing is truncation.
    pub(crate) fn need(&self, offset: u64, len: u64) -> Result<&'a [u8], HeaderError> {
        self.get(offset, len)
            .map_err(|_| truncated(offset.saturating_add(len), self.buf))
    }

    /// The bytes at `offset`, at most `len` of them, cut at the end of the file (as QEMU reads
    /// past the end of a file: zeros, so the caller reads the end as the end of a C string).
    /// Empty if `offset` is at or past the end of the file; truncation if not all in `buf`.
    pub(crate) fn window(&self, offset: u64, len: u64) -> Result<&'a [u8], HeaderError> {
        if offset >= self.eof {
            return Ok(&[]);
        }
        let end = offset.saturating_add(len).min(self.eof);
        self.need(offset, end - offset)
    }
}
