//! Telling the format of a file from its first bytes as QEMU probes it, and handing the bytes to
//! that format's parser: [`parse_header`] and [`bytes_needed`], the crate's parsing entry points.

use crate::disk::{DiskHeader, Format};
use crate::error::HeaderError;
use crate::magic::{
    LUKS_MAGIC, QCOW2_MAGIC, QED_MAGIC, VHDX_MAGIC, VMDK3_MAGIC, VMDK4_MAGIC, VPC_MAGIC,
};
use crate::source::{MAX_HEADER_BYTES, Source, truncated};
use crate::{luks, qcow, qcow2, qed, vdi, vhdx, vmdk, vpc};

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
        Probe::MagicPrefix(_) => Ok(qcow2::QEMU_HEADER_LEN as usize),
        Probe::Format(Format::Qcow2) => qcow2::bytes_needed(&src),
        Probe::Format(Format::Qcow) => qcow::bytes_needed(&src),
        Probe::Format(Format::Qed) => qed::bytes_needed(&src),
        Probe::Format(Format::Vmdk) => vmdk::bytes_needed(&src),
        Probe::Format(Format::Vpc) => vpc::bytes_needed(&src),
        Probe::Format(Format::Vdi) => Ok(vdi::HEADER_LEN),
        Probe::Format(Format::Luks) => Ok(luks::BYTES_NEEDED),
        Probe::Format(Format::Vhdx) => Ok(vhdx::BYTES_NEEDED),
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
        Probe::Format(Format::Qcow2) => qcow2::parse(&src),
        Probe::Format(Format::Qcow) => qcow::parse(&src),
        Probe::Format(Format::Qed) => qed::parse(&src),
        Probe::Format(Format::Vmdk) => vmdk::parse(&src),
        Probe::Format(Format::Vpc) => vpc::parse(&src),
        Probe::Format(Format::Vdi) => vdi::parse(&src),
        Probe::Format(Format::Vhdx) => vhdx::parse(&src),
        Probe::Format(Format::Luks) => luks::parse(&src),
        Probe::Format(Format::Raw) => Ok(DiskHeader::raw(file_len)),
    }
}

/// Bytes enough to see any magic at offset 0 and the qcow version.
const MAGIC_PROBE_LEN: usize = 8;
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
    if vdi::probe(buf) {
        return Probe::Format(Format::Vdi);
    }
    if vmdk::probe_descriptor(buf) {
        return Probe::Format(Format::Vmdk);
    }
    Probe::Raw
}
