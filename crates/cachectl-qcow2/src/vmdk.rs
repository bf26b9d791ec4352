//! VMDK headers and descriptors: pure, never panics.
//!
//! The checks follow QEMU's `vmdk_open` (block/vmdk.c). A VMDK is either a sparse extent
//! (`KDMV`, little-endian header, its descriptor embedded from offset 0x200; or the old
//! `COWD`) or a text descriptor file (`# Disk DescriptorFile`, `version=1`, `createType=...`,
//! extent lines such as `RW 2048 SPARSE "disk-s001.vmdk"`). QEMU reads the parent from the
//! first 10 KiB of the descriptor (`parentFileNameHint="..."`, the parent is then always
//! VMDK) whatever `parentCID` says, requires `CID` and `parentCID`, and opens every `RW`
//! extent of a descriptor file as a further file of the disk. An embedded descriptor's
//! extent lines name the file itself and are not read, as in QEMU.

use nom::Parser;
use nom::bytes::complete::take;
use nom::number::complete::{le_u16, le_u32, le_u64};

use crate::disk::{DiskHeader, Format};
use crate::error::HeaderError;
use crate::magic::{VMDK3_MAGIC, VMDK4_MAGIC};
use crate::source::{Source, c_string, non_empty, truncated};

/// How much of the descriptor QEMU reads for the parent and the CIDs (`DESC_SIZE`).
const DESC_SIZE: u64 = 20 * 512;
/// Where QEMU reads the descriptor of a sparse extent opened as the image.
const EMBEDDED_DESC_OFFSET: u64 = 0x200;
/// The most of a descriptor file QEMU reads (`vmdk_read_desc`).
const MAX_DESC_LEN: u64 = (1 << 20) - 1;
/// How many bytes QEMU's probe looks at.
const PROBE_LEN: usize = 2048;
/// Length of the VMDK4 header with its magic.
const VMDK4_HEADER_LEN: u64 = 79;
/// Length of the VMDK3 header with its magic.
const VMDK3_HEADER_LEN: u64 = 44;
/// `gd_offset` meaning "the grain directory and the real header are at the end".
const GD_AT_END: u64 = u64::MAX;
/// Compression algorithm: deflate (streamOptimized).
const COMPRESSION_DEFLATE: u16 = 1;
/// The longest backing name QEMU keeps (`sizeof(bs->backing_file) - 1`).
const MAX_PARENT_LEN: usize = 4095;
/// The longest `createType` value QEMU keeps.
const MAX_CREATE_TYPE_LEN: usize = 127;
/// The create types QEMU opens from a descriptor file.
const DESCRIPTOR_TYPES: [&[u8]; 6] = [
    b"monolithicFlat",
    b"vmfs",
    b"vmfsSparse",
    b"seSparse",
    b"twoGbMaxExtentSparse",
    b"twoGbMaxExtentFlat",
];
/// The extent types QEMU opens; the first two are flat (the line gives the size).
const EXTENT_TYPES: [&[u8]; 5] = [b"FLAT", b"VMFS", b"SPARSE", b"VMFSSPARSE", b"SESPARSE"];

/// QEMU's `vmdk_probe` on a file without a sparse magic: only comment lines and blank lines
/// (spaces) before a `version=1`, `2` or `3` line, within the first 2 KiB.
pub(crate) fn probe_descriptor(buf: &[u8]) -> bool {
    let buf = buf.get(..buf.len().min(PROBE_LEN)).unwrap_or(buf);
    let mut p = 0;
    while let Some(&c) = buf.get(p) {
        match c {
            b'#' => {
                p += buf[p..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .unwrap_or(buf.len() - p)
                    + 1;
            }
            b' ' => {
                p += buf[p..].iter().take_while(|&&b| b == b' ').count();
                if buf.get(p) == Some(&b'\r') {
                    p += 1;
                }
                if buf.get(p) != Some(&b'\n') {
                    return false;
                }
                p += 1;
            }
            _ => {
                let rest = &buf[p..];
                return [&b"1"[..], b"2", b"3"].iter().any(|v| {
                    let line = [&b"version="[..], v].concat();
                    rest.strip_prefix(&line[..])
                        .is_some_and(|r| r.starts_with(b"\n") || r.starts_with(b"\r\n"))
                });
            }
        }
    }
    false
}

/// Parses a VMDK: a sparse extent or a descriptor file.
pub(crate) fn parse(src: &Source<'_>) -> Result<DiskHeader, HeaderError> {
    if src.buf.starts_with(&VMDK4_MAGIC) {
        parse_vmdk4(src)
    } else if src.buf.starts_with(&VMDK3_MAGIC) {
        parse_vmdk3(src)
    } else {
        parse_descriptor_file(src)
    }
}

/// How many bytes [`parse`] reads.
pub(crate) fn bytes_needed(src: &Source<'_>) -> Result<usize, HeaderError> {
    let needed = if src.buf.starts_with(&VMDK4_MAGIC) {
        let embedded = match vmdk4_fields(src) {
            Ok(f) if f.capacity == 0 && f.desc_offset != 0 => f
                .desc_offset
                .checked_mul(512)
                .map_or(0, |offset| offset.saturating_add(MAX_DESC_LEN)),
            Ok(_) | Err(HeaderError::Truncated { .. }) => 0,
            Err(e) => return Err(e),
        };
        embedded.max(EMBEDDED_DESC_OFFSET + DESC_SIZE)
    } else if src.buf.starts_with(&VMDK3_MAGIC) {
        EMBEDDED_DESC_OFFSET + DESC_SIZE
    } else {
        // Up to the end of the descriptor (its first NUL), and the parent's window.
        let end = src
            .buf
            .iter()
            .position(|&b| b == 0)
            .map_or(MAX_DESC_LEN, |nul| nul as u64 + 1);
        end.max(DESC_SIZE)
    };
    Ok(usize::try_from(needed).unwrap_or(usize::MAX))
}

/// The VMDK4 header fields.
struct Vmdk4 {
    version: u32,
    capacity: u64,
    granularity: u64,
    desc_offset: u64,
    num_gtes_per_gt: u32,
    gd_offset: u64,
    grain_offset: u64,
    compression: u16,
}

/// nom: the VMDK4 header after the magic.
fn vmdk4(input: &[u8]) -> nom::IResult<&[u8], Vmdk4> {
    let (input, (version, _flags, capacity, granularity, desc_offset, _desc_size)) =
        (le_u32, le_u32, le_u64, le_u64, le_u64, le_u64).parse(input)?;
    let (input, (num_gtes_per_gt, _rgd_offset, gd_offset, grain_offset, _check, compression)) =
        (le_u32, le_u64, le_u64, le_u64, take(5usize), le_u16).parse(input)?;
    let fields = Vmdk4 {
        version,
        capacity,
        granularity,
        desc_offset,
        num_gtes_per_gt,
        gd_offset,
        grain_offset,
        compression,
    };
    Ok((input, fields))
}

/// Reads the VMDK4 header.
fn vmdk4_fields(src: &Source<'_>) -> Result<Vmdk4, HeaderError> {
    let bytes = src.need(4, VMDK4_HEADER_LEN - 4)?;
    let (_, f) = vmdk4(bytes).map_err(|_| truncated(VMDK4_HEADER_LEN, src.buf))?;
    Ok(f)
}

/// An error in a VMDK at `offset`.
fn invalid(offset: u64, reason: &'static str) -> HeaderError {
    HeaderError::Invalid {
        format: "vmdk",
        offset,
        reason,
    }
}

/// A `KDMV` sparse extent opened as the image (`vmdk_open_vmdk4`).
fn parse_vmdk4(src: &Source<'_>) -> Result<DiskHeader, HeaderError> {
    let f = vmdk4_fields(src)?;
    if f.capacity == 0 && f.desc_offset != 0 {
        // Only a descriptor in a sparse header: read as a descriptor file.
        let offset = f
            .desc_offset
            .checked_mul(512)
            .ok_or_else(|| invalid(28, "descriptor offset overflows"))?;
        let desc = c_string_window(src, offset, MAX_DESC_LEN.min(src.eof))?;
        let mut header = descriptor(desc, offset)?;
        parent_and_cids(src, EMBEDDED_DESC_OFFSET, &mut header)?;
        return Ok(header);
    }
    let mut header = DiskHeader::bare(Format::Vmdk, None);
    header.create_type = Some(if f.compression == COMPRESSION_DEFLATE {
        b"streamOptimized".to_vec()
    } else {
        b"monolithicSparse".to_vec()
    });
    // With the grain directory at the end, the header that counts is the footer's, near the
    // end of the file: the size is then unknown here, and QEMU's checks are left to it.
    if f.gd_offset != GD_AT_END {
        if f.version > 3 {
            return Err(invalid(4, "unsupported version"));
        }
        if f.num_gtes_per_gt > 512 {
            return Err(invalid(44, "L2 table size too big"));
        }
        let l1_entry_sectors = u64::from(f.num_gtes_per_gt).wrapping_mul(f.granularity);
        if l1_entry_sectors == 0 {
            return Err(invalid(44, "L1 entry size is invalid"));
        }
        if src.eof / 512 < f.grain_offset {
            return Err(invalid(64, "file truncated before the first grain"));
        }
        if f.granularity > 0x20_0000 {
            return Err(invalid(20, "invalid granularity"));
        }
        let l1_size = f.capacity.div_ceil(l1_entry_sectors);
        if l1_size > 32 * 1024 * 1024 {
            return Err(invalid(12, "L1 size too big"));
        }
        header.virtual_size = f.capacity.checked_mul(512);
        header.cluster_size = Some(f.granularity * 512);
    }
    parent_and_cids(src, EMBEDDED_DESC_OFFSET, &mut header)?;
    Ok(header)
}

/// A `COWD` (VMDK3, VMFS sparse) extent opened as the image.
fn parse_vmdk3(src: &Source<'_>) -> Result<DiskHeader, HeaderError> {
    let bytes = src.need(4, VMDK3_HEADER_LEN - 4)?;
    let (_, (_version, _flags, disk_sectors, granularity)) = (
        le_u32::<_, nom::error::Error<&[u8]>>,
        le_u32,
        le_u32,
        le_u32,
    )
        .parse(bytes)
        .map_err(|_| truncated(VMDK3_HEADER_LEN, src.buf))?;
    let mut header = DiskHeader::bare(Format::Vmdk, Some(u64::from(disk_sectors) * 512));
    header.cluster_size = Some(u64::from(granularity) * 512);
    parent_and_cids(src, EMBEDDED_DESC_OFFSET, &mut header)?;
    Ok(header)
}

/// A text descriptor file (`vmdk_open_desc_file`).
fn parse_descriptor_file(src: &Source<'_>) -> Result<DiskHeader, HeaderError> {
    let desc = c_string_window(src, 0, MAX_DESC_LEN)?;
    let mut header = descriptor(desc, 0)?;
    parent_and_cids(src, 0, &mut header)?;
    Ok(header)
}

/// The C string at `offset`, read as QEMU reads a descriptor: at most `max` bytes, cut at the
/// end of the file; only as far as its first NUL need be in `buf`.
fn c_string_window<'a>(src: &Source<'a>, offset: u64, max: u64) -> Result<&'a [u8], HeaderError> {
    if offset >= src.eof {
        return Ok(&[]);
    }
    let end = offset.saturating_add(max).min(src.eof);
    let start = usize::try_from(offset).unwrap_or(usize::MAX);
    let stop = usize::try_from(end)
        .unwrap_or(usize::MAX)
        .min(src.buf.len());
    let there = src.buf.get(start..stop).unwrap_or_default();
    match there.iter().position(|&b| b == 0) {
        Some(nul) => Ok(there.get(..nul).unwrap_or_default()),
        None if stop as u64 == end => Ok(there),
        None => Err(truncated(end, src.buf)),
    }
}

/// The create type and the extents of a descriptor (`vmdk_open_desc_file`,
/// `vmdk_parse_extents`); `base` is the descriptor's offset in the file, for errors.
fn descriptor(desc: &[u8], base: u64) -> Result<DiskHeader, HeaderError> {
    let create_type = description(desc, b"createType", MAX_CREATE_TYPE_LEN)
        .ok_or_else(|| invalid(base, "invalid VMDK image descriptor (no createType)"))?;
    if !DESCRIPTOR_TYPES.contains(&create_type) {
        return Err(invalid(base, "unsupported create type"));
    }
    let mut header = DiskHeader::bare(Format::Vmdk, None);
    header.create_type = Some(create_type.to_vec());
    let mut sectors = Some(0u64);
    let mut p = 0;
    while p < desc.len() {
        let rest = &desc[p..];
        let line = scan_extent_line(rest);
        let line_offset = base + p as u64;
        p += rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |n| n + 1);
        let Some(extent) = line else { continue };
        if extent.access != b"RW" {
            continue;
        }
        let well_formed = match extent.kind {
            b"FLAT" => extent.flat_offset.is_some_and(|o| o >= 0),
            b"VMFS" => extent.flat_offset.is_none(),
            _ => extent.flat_offset.is_none(),
        };
        if !well_formed {
            return Err(invalid(line_offset, "invalid extent line"));
        }
        if extent.sectors <= 0 || !EXTENT_TYPES.contains(&extent.kind) {
            continue;
        }
        header.extent_files.push(extent.file.to_vec());
        sectors = sectors.and_then(|sum| sum.checked_add(extent.sectors.unsigned_abs()));
    }
    // The size is the sum of the extents' lines. QEMU takes a sparse extent's size from the
    // extent's own header, which is not read here; `qemu-img create` writes the same number
    // in both places.
    header.virtual_size = sectors.and_then(|sectors| sectors.checked_mul(512));
    Ok(header)
}

/// QEMU's `vmdk_parse_description`: the text between `name` + 2 bytes (`="`) and the next `"`.
fn description<'a>(desc: &'a [u8], name: &[u8], max: usize) -> Option<&'a [u8]> {
    let at = find(desc, name)? + name.len() + 2;
    let rest = desc.get(at..).filter(|r| !r.is_empty())?;
    let len = rest.iter().position(|&b| b == b'"')?;
    (len <= max).then(|| &rest[..len])
}

/// Reads the parent hint and checks the CIDs from the descriptor window at `offset`
/// (`vmdk_parent_open`, `vmdk_read_cid`): the window is `DESC_SIZE` bytes, zeros past the end
/// of the file, and read as a C string.
fn parent_and_cids(
    src: &Source<'_>,
    offset: u64,
    header: &mut DiskHeader,
) -> Result<(), HeaderError> {
    let window = src.window(offset, DESC_SIZE)?;
    let text = c_string(window);
    // QEMU skips `parentFileNameHint` and two more bytes (`="`), then takes all up to a `"`,
    // which it may look for past the end of the string (in the rest of the window).
    if let Some(at) = find(text, b"parentFileNameHint") {
        let from = at + b"parentFileNameHint".len() + 2;
        let tail = window.get(from..).unwrap_or_default();
        let end = tail
            .iter()
            .position(|&b| b == b'"' || b == 0)
            .filter(|&end| tail.get(end) == Some(&b'"'))
            .ok_or_else(|| {
                invalid(
                    offset + at as u64,
                    "parentFileNameHint has no closing quote",
                )
            })?;
        if end > MAX_PARENT_LEN {
            return Err(invalid(
                offset + at as u64,
                "parentFileNameHint is too long",
            ));
        }
        header.backing_file = non_empty(&tail[..end]);
        if header.backing_file.is_some() {
            header.backing_format = Some(b"vmdk".to_vec());
        }
    }
    // `desc[DESC_SIZE - 1] = '\0'` for the CIDs.
    let cid_window = window
        .get(..window.len().min(DESC_SIZE as usize - 1))
        .unwrap_or(window);
    let cid_text = c_string(cid_window);
    let mut cids = [0u32; 2];
    for (name, cid) in [&b"CID"[..], b"parentCID"].into_iter().zip(&mut cids) {
        let at =
            find(cid_text, name).ok_or_else(|| invalid(offset, "the descriptor has no CID"))?;
        let tail = cid_window.get(at + name.len() + 1..).unwrap_or_default();
        *cid = scan_hex(c_string(tail))
            .ok_or_else(|| invalid(offset + at as u64, "the descriptor has an invalid CID"))?;
    }
    header.cid = Some(cids[0]);
    header.parent_cid = Some(cids[1]);
    Ok(())
}

/// `strstr`: where `needle` first occurs in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `isspace` in the C locale.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// `sscanf(s, "%" SCNx32)` into a `uint32_t`, as glibc does it: `None` when nothing matches,
/// else the number `strtoul` reads (saturated at `u64::MAX`, negated after a `-`), truncated
/// to 32 bits.
fn scan_hex(s: &[u8]) -> Option<u32> {
    let s = &s[s.iter().take_while(|&&b| is_space(b)).count()..];
    let (negative, s) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, s),
    };
    let prefixed = s
        .strip_prefix(b"0x")
        .or_else(|| s.strip_prefix(b"0X"))
        .filter(|rest| rest.first().is_some_and(u8::is_ascii_hexdigit));
    // "0x" with no hex digit after it reads as the number 0.
    let digits = prefixed.unwrap_or(s);
    let len = digits.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if len == 0 {
        return None;
    }
    let value = digits[..len].iter().try_fold(0u64, |acc, &b| {
        let digit = u64::from(char::from(b).to_digit(16).unwrap_or(0));
        acc.checked_mul(16).and_then(|v| v.checked_add(digit))
    });
    let value = match value {
        Some(v) if negative => v.wrapping_neg(),
        Some(v) => v,
        None => u64::MAX,
    };
    Some(value as u32)
}

/// One extent line, as far as `sscanf` matched all four first fields.
struct ExtentLine<'a> {
    access: &'a [u8],
    sectors: i64,
    kind: &'a [u8],
    file: &'a [u8],
    /// The fifth field, when it matched.
    flat_offset: Option<i64>,
}

/// A cursor over the text, with the `sscanf` conversions QEMU's extent format uses.
struct Scanner<'a> {
    s: &'a [u8],
    at: usize,
}

impl<'a> Scanner<'a> {
    fn skip_space(&mut self) {
        self.at += self.s[self.at..]
            .iter()
            .take_while(|&&b| is_space(b))
            .count();
    }

    /// `%Ns`: up to `n` non-space bytes after spaces; at least one.
    fn word(&mut self, n: usize) -> Option<&'a [u8]> {
        self.skip_space();
        let rest = &self.s[self.at..];
        let len = rest.iter().take(n).take_while(|&&b| !is_space(b)).count();
        self.at += len;
        (len > 0).then(|| &rest[..len])
    }

    /// `%ld` (`SCNd64`): a decimal with an optional sign, saturating like `strtoll`.
    fn number(&mut self) -> Option<i64> {
        self.skip_space();
        let rest = &self.s[self.at..];
        let (negative, sign_len) = match rest.first() {
            Some(b'-') => (true, 1),
            Some(b'+') => (false, 1),
            _ => (false, 0),
        };
        let digits = rest[sign_len..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits == 0 {
            return None;
        }
        self.at += sign_len + digits;
        let value = rest[sign_len..sign_len + digits].iter().fold(0i64, |n, d| {
            let d = i64::from(d - b'0');
            if negative {
                n.saturating_mul(10).saturating_sub(d)
            } else {
                n.saturating_mul(10).saturating_add(d)
            }
        });
        Some(value)
    }

    /// A literal byte.
    fn literal(&mut self, b: u8) -> Option<()> {
        (self.s.get(self.at) == Some(&b)).then(|| self.at += 1)
    }

    /// `%511[^\n\r"]`.
    fn quoted_name(&mut self) -> Option<&'a [u8]> {
        let rest = &self.s[self.at..];
        let len = rest
            .iter()
            .take(511)
            .take_while(|&&b| !matches!(b, b'\n' | b'\r' | b'"'))
            .count();
        self.at += len;
        (len > 0).then(|| &rest[..len])
    }
}

/// `sscanf(p, "%10s %ld %10s \"%511[^\n\r\"]\" %ld", ...)` with at least four matches; like
/// `sscanf`, it may read on past the end of the line.
fn scan_extent_line(s: &[u8]) -> Option<ExtentLine<'_>> {
    let mut sc = Scanner { s, at: 0 };
    let access = sc.word(10)?;
    let sectors = sc.number()?;
    let kind = sc.word(10)?;
    sc.skip_space();
    sc.literal(b'"')?;
    let file = sc.quoted_name()?;
    let flat_offset = sc.literal(b'"').and_then(|()| sc.number());
    Some(ExtentLine {
        access,
        sectors,
        kind,
        file,
        flat_offset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses a whole descriptor file.
    fn parse_text(text: &[u8]) -> Result<DiskHeader, HeaderError> {
        let src = Source {
            buf: text,
            eof: text.len() as u64,
        };
        parse(&src)
    }

    const HEAD: &str = "# Disk DescriptorFile\nversion=1\nCID=1\nparentCID=ffffffff\n";

    #[test]
    fn the_probe_is_qemus() {
        assert!(probe_descriptor(b"# c\n  \r\nversion=1\n"));
        assert!(probe_descriptor(b"version=3\r\n"));
        assert!(
            !probe_descriptor(b"\nversion=1\n"),
            "an empty line ends the probe"
        );
        assert!(!probe_descriptor(b"version=4\n"));
        assert!(!probe_descriptor(b"version=1"));
        assert!(!probe_descriptor(b"# only a comment"));
        let mut late = vec![b'#'; 2047];
        late.extend_from_slice(b"\nversion=1\n");
        assert!(!probe_descriptor(&late), "past the first 2 KiB");
    }

    #[test]
    fn extents_are_the_rw_lines_qemu_opens() {
        let text = format!(
            "{HEAD}createType=\"twoGbMaxExtentFlat\"\nRW 2048 FLAT \"a-f001.vmdk\" 0\n\
             RDONLY 2048 FLAT \"ro\" 0\nRW 0 FLAT \"empty\" 0\nRW 4096 FLAT \"/abs/b\" 7\n\
             RW 10 ZERO \"z\"\n"
        );
        let header = parse_text(text.as_bytes()).expect("valid");
        assert_eq!(
            header.extent_files,
            vec![b"a-f001.vmdk".to_vec(), b"/abs/b".to_vec()]
        );
        assert_eq!(header.virtual_size, Some((2048 + 4096) * 512));
        assert_eq!(
            header.create_type.as_deref(),
            Some(&b"twoGbMaxExtentFlat"[..])
        );
        assert_eq!(header.backing_file, None);
        for bad in [
            "RW 2048 FLAT \"x\"\n",
            "RW 2048 SPARSE \"x\" 5\n",
            "RW 1 VMFS \"x\" 0\n",
        ] {
            let text = format!("{HEAD}createType=\"vmfs\"\n{bad}");
            assert!(
                matches!(
                    parse_text(text.as_bytes()),
                    Err(HeaderError::Invalid {
                        reason: "invalid extent line",
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_parent_hint_and_cids_are_read_as_qemu_reads_them() {
        let with = |rest: &str| {
            parse_text(format!("{HEAD}createType=\"monolithicFlat\"\n{rest}").as_bytes())
        };
        let header = with("parentFileNameHint=\"../_base/p.vmdk\"\n").expect("valid");
        assert_eq!(
            header.backing_file.as_deref(),
            Some(&b"../_base/p.vmdk"[..])
        );
        assert_eq!(header.backing_format.as_deref(), Some(&b"vmdk"[..]));
        // Two bytes are skipped whatever they are; parentCID=ffffffff does not matter.
        let header = with("parentFileNameHint  x\"\n").expect("valid");
        assert_eq!(header.backing_file.as_deref(), Some(&b"x"[..]));
        assert!(matches!(
            with("parentFileNameHint=\"open\n"),
            Err(HeaderError::Invalid { .. })
        ));
        let long = format!("parentFileNameHint=\"{}\"\n", "a".repeat(4096));
        assert!(matches!(with(&long), Err(HeaderError::Invalid { .. })));
        let no_cid = b"# Disk DescriptorFile\nversion=1\ncreateType=\"vmfs\"\n";
        assert!(matches!(
            parse_text(no_cid),
            Err(HeaderError::Invalid {
                reason: "the descriptor has no CID",
                ..
            })
        ));
        // Unknown create types are refused, as by QEMU.
        let text = format!("{HEAD}createType=\"monolithicSparse\"\n");
        assert!(matches!(
            parse_text(text.as_bytes()),
            Err(HeaderError::Invalid { .. })
        ));
        // A descriptor without its end in the bytes given is truncated.
        let text = format!("{HEAD}createType=\"vmfs\"\n");
        let src = Source {
            buf: text.as_bytes(),
            eof: 1 << 30,
        };
        assert!(matches!(parse(&src), Err(HeaderError::Truncated { .. })));
    }
}
