//! The magic numbers at offset 0 that tell the formats apart: each parser checks its own, and
//! the probe (`probe.rs`) matches them all.

/// The magic number that opens every qcow (v1) and qcow2 image: `QFI\xfb`.
pub const QCOW2_MAGIC: [u8; 4] = *b"QFI\xfb";
/// The magic of QED images.
pub(crate) const QED_MAGIC: [u8; 4] = *b"QED\0";
/// The magic of VMDK4 sparse extents (monolithicSparse, streamOptimized...).
pub(crate) const VMDK4_MAGIC: [u8; 4] = *b"KDMV";
/// The magic of VMDK3 (VMFS) sparse extents.
pub(crate) const VMDK3_MAGIC: [u8; 4] = *b"COWD";
/// The cookie that opens a VHD footer.
pub(crate) const VPC_MAGIC: [u8; 8] = *b"conectix";
/// The signature that opens a VHDX file.
pub(crate) const VHDX_MAGIC: [u8; 8] = *b"vhdxfile";
/// The magic of a LUKS (1 or 2) header.
pub(crate) const LUKS_MAGIC: [u8; 6] = *b"LUKS\xba\xbe";
