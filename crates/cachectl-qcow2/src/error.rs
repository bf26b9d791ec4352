//! [`HeaderError`]: why a header was refused, for every format.

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
        /// The format ([`crate::Format::as_str`]).
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
        /// The format ([`crate::Format::as_str`]).
        format: &'static str,
    },
}
