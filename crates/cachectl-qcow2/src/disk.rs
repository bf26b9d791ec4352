//! What a header says, for every format: [`Format`] and [`DiskHeader`], with the qcow2 feature
//! bits its fields hold.

// The qcow2 feature bits (`DiskHeader::{incompatible,compatible,autoclear}_features`).
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
pub(crate) const INCOMPAT_KNOWN: u64 =
    INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_DATA_FILE | INCOMPAT_COMPRESSION | INCOMPAT_EXTL2;
/// Compatible feature bit 0: lazy refcounts.
const COMPAT_LAZY_REFCOUNTS: u64 = 1 << 0;
/// Autoclear feature bit 0: the bitmaps extension is consistent.
pub(crate) const AUTOCLEAR_BITMAPS: u64 = 1 << 0;
/// Autoclear feature bit 1: the external data file is a valid raw image on its own.
const AUTOCLEAR_DATA_FILE_RAW: u64 = 1 << 1;

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
