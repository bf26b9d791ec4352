//! `cachectl inspect`: what `qemu-img info` says of a disk, read by cachectl's own parser.
//!
//! The JSON has `qemu-img info --output=json`'s keys, in the order qemu-img 10 prints them,
//! and the human output has its lines; both are rendered from one ordered tree, as qemu-img
//! renders both from one QObject. What cachectl does not read (snapshot tables, bitmaps,
//! the LUKS header behind an encrypted qcow2's first cluster, VMDK extent headers) is left
//! out rather than guessed; README.md lists it.

use std::io::Write;
use std::path::{Path, PathBuf};

use cachectl_naming::escape_controls;
use cachectl_qcow2::{BackingTarget, ChainError, DiskHeader, Format, Link, walk_chain};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::error::CommandError;
use crate::exit::ExitCode;

/// The most backing files `--backing-chain` follows below a disk.
pub(crate) const MAX_CHAIN_LEN: u32 = cachectl_qcow2::DEFAULT_MAX_DEPTH;

/// `inspect` output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum InspectOutput {
    /// Like `qemu-img info`.
    Human,
    /// qemu-img's JSON.
    Json,
}

/// What `inspect` is asked to do.
#[derive(Debug, Clone)]
pub(crate) struct InspectConfig {
    /// The output format.
    pub output: InspectOutput,
    /// Every image of each chain, top first, not only the top one.
    pub backing_chain: bool,
    /// The disk images.
    pub disks: Vec<PathBuf>,
}

/// Runs `inspect`; returns the exit code.
pub(crate) fn run(args: &InspectConfig, out: &mut dyn Write) -> Result<ExitCode, CommandError> {
    let mut chains = Vec::new();
    for disk in &args.disks {
        chains.push(chain(disk, args.backing_chain)?);
    }
    match args.output {
        InspectOutput::Json => {
            let mut values: Vec<Node> = chains
                .iter()
                .map(|chain| {
                    let mut infos: Vec<Node> = chain.iter().map(image_info).collect();
                    if args.backing_chain {
                        Node::List(infos)
                    } else {
                        infos.swap_remove(0)
                    }
                })
                .collect();
            let value = if values.len() == 1 {
                values.swap_remove(0)
            } else {
                Node::List(values)
            };
            // qemu-img indents by four spaces.
            let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
            let mut serializer = serde_json::Serializer::with_formatter(&mut *out, formatter);
            value
                .serialize(&mut serializer)
                .map_err(std::io::Error::from)?;
            writeln!(out)?;
        }
        InspectOutput::Human => {
            for (i, link) in chains.iter().flatten().enumerate() {
                if i > 0 {
                    writeln!(out)?;
                }
                out.write_all(human(link).as_bytes())?;
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::Success)
}

/// Reads `disk` and, with `follow`, every image below it (never fewer than one); a loop, an
/// over-long chain or an unreadable image is an error naming the file.
pub(crate) fn chain(disk: &Path, follow: bool) -> Result<Vec<Link>, CommandError> {
    let mut links = Vec::new();
    for link in walk_chain(disk).max_depth(MAX_CHAIN_LEN) {
        let link = link.map_err(|err| CommandError::new(ExitCode::BadInput, with_cause(&err)))?;
        links.push(link);
        if !follow {
            break;
        }
    }
    Ok(links)
}

/// The error and what caused it, on one line.
fn with_cause(err: &ChainError) -> String {
    use std::error::Error;
    match err.source().and_then(Error::source) {
        Some(cause) => format!("{err}: {cause}"),
        None => err.to_string(),
    }
}

/// A JSON value whose objects keep their keys in the order given: qemu-img's order.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    Int(u64),
    Str(String),
    Bool(bool),
    Object(Vec<(&'static str, Node)>),
    List(Vec<Node>),
}

impl Serialize for Node {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Node::Int(n) => serializer.serialize_u64(*n),
            Node::Str(s) => serializer.serialize_str(s),
            Node::Bool(b) => serializer.serialize_bool(*b),
            Node::Object(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
            Node::List(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
        }
    }
}

/// Builds an object, leaving out the entries that are `None`.
#[derive(Default)]
struct ObjectBuilder(Vec<(&'static str, Node)>);

impl ObjectBuilder {
    fn entry(mut self, key: &'static str, value: impl Into<Option<Node>>) -> Self {
        if let Some(value) = value.into() {
            self.0.push((key, value));
        }
        self
    }

    fn build(self) -> Node {
        Node::Object(self.0)
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn text(bytes: &[u8]) -> Node {
    Node::Str(lossy(bytes))
}

/// Where the backing file name points, as qemu-img's `full-backing-filename` says it: a
/// plain name resolved against the image's directory, any name with a protocol (`file:`
/// included) or `json:` as it is.
fn full_backing(link: &Link) -> Option<String> {
    let name = link.header.backing_file.as_deref()?;
    match link.backing.as_ref()? {
        BackingTarget::File(path) if !name.starts_with(b"file:") => {
            Some(path.display().to_string())
        }
        _ => Some(lossy(name)),
    }
}

/// qemu-img's `ImageInfo` of one image of a chain.
fn image_info(link: &Link) -> Node {
    let header = &link.header;
    ObjectBuilder::default()
        .entry("children", Node::List(vec![file_child(link)]))
        .entry(
            "backing-filename-format",
            header.backing_format.as_deref().map(text),
        )
        .entry("virtual-size", Node::Int(virtual_size(link)))
        .entry("filename", Node::Str(link.path.display().to_string()))
        .entry("cluster-size", header.cluster_size.map(Node::Int))
        .entry("format", Node::Str(header.format.as_str().to_owned()))
        .entry("actual-size", Node::Int(disk_size(link)))
        .entry("format-specific", format_specific(header))
        .entry("full-backing-filename", full_backing(link).map(Node::Str))
        .entry("encrypted", encrypted(header).then_some(Node::Bool(true)))
        .entry("backing-filename", header.backing_file.as_deref().map(text))
        .entry("dirty-flag", Node::Bool(header.is_dirty()))
        .build()
}

/// The `file` child every image has: the file the format reads, as the `file` protocol
/// driver describes it.
fn file_child(link: &Link) -> Node {
    let info = ObjectBuilder::default()
        .entry("children", Node::List(Vec::new()))
        .entry("virtual-size", Node::Int(file_length(link)))
        .entry("filename", Node::Str(link.path.display().to_string()))
        .entry("format", Node::Str("file".to_owned()))
        .entry("actual-size", Node::Int(link.allocated))
        .entry(
            "format-specific",
            ObjectBuilder::default()
                .entry("type", Node::Str("file".to_owned()))
                .entry("data", Node::Object(Vec::new()))
                .build(),
        )
        .entry("dirty-flag", Node::Bool(false))
        .build();
    ObjectBuilder::default()
        .entry("name", Node::Str("file".to_owned()))
        .entry("info", info)
        .build()
}

/// The virtual size as QEMU reports it, in whole 512-byte sectors: a raw image's file
/// length rounded up, any other format's header size rounded down.
fn virtual_size(link: &Link) -> u64 {
    match link.header.format {
        Format::Raw => file_length(link),
        _ => link.header.virtual_size.unwrap_or(0) / 512 * 512,
    }
}

/// The file's length as QEMU's `file` driver reports it: rounded up to whole sectors.
fn file_length(link: &Link) -> u64 {
    link.len.div_ceil(512).saturating_mul(512)
}

/// Bytes allocated on disk for the image: its file's, plus its extent files' for a VMDK
/// descriptor (`vmdk_get_allocated_file_size`). An extent that cannot be stat'ed counts 0.
fn disk_size(link: &Link) -> u64 {
    use std::os::unix::fs::MetadataExt;
    link.extents
        .iter()
        .filter_map(|extent| extent.file_path())
        .filter_map(|path| std::fs::metadata(path).ok())
        .fold(link.allocated, |sum, meta| {
            sum.saturating_add(meta.blocks().saturating_mul(512))
        })
}

/// The image encrypts its data: a LUKS volume, or a qcow2 image with AES or LUKS.
fn encrypted(header: &DiskHeader) -> bool {
    header.format == Format::Luks || header.crypt_method.is_some_and(|method| method != 0)
}

/// `format-specific`, for the formats and fields cachectl reads.
fn format_specific(header: &DiskHeader) -> Option<Node> {
    let data = specific_data(header)?;
    Some(
        ObjectBuilder::default()
            .entry("type", Node::Str(header.format.as_str().to_owned()))
            .entry("data", data)
            .build(),
    )
}

/// The `data` of `format-specific`.
fn specific_data(header: &DiskHeader) -> Option<Node> {
    match header.format {
        Format::Qcow2 => Some(qcow2_specific(header)),
        Format::Vmdk => Some(
            ObjectBuilder::default()
                .entry("cid", header.cid.map(|cid| Node::Int(cid.into())))
                .entry(
                    "parent-cid",
                    header.parent_cid.map(|cid| Node::Int(cid.into())),
                )
                .entry("create-type", header.create_type.as_deref().map(text))
                .build(),
        ),
        _ => None,
    }
}

/// qemu-img's `ImageInfoSpecificQCow2`.
fn qcow2_specific(header: &DiskHeader) -> Node {
    let v3 = header.version != Some(2);
    let compression = match header.compression_type {
        Some(1) => "zstd",
        _ => "zlib",
    };
    let data_file = header.external_data_file().filter(|_| v3);
    let encrypt = match header.crypt_method {
        Some(1) => Some("aes"),
        Some(2) => Some("luks"),
        _ => None,
    };
    ObjectBuilder::default()
        .entry(
            "compat",
            Node::Str(if v3 { "1.1" } else { "0.10" }.to_owned()),
        )
        .entry("compression-type", Node::Str(compression.to_owned()))
        .entry(
            "lazy-refcounts",
            v3.then(|| Node::Bool(header.lazy_refcounts())),
        )
        .entry("refcount-bits", header.refcount_bits().map(Node::Int))
        .entry("data-file", data_file.map(text))
        .entry(
            "encrypt",
            encrypt.map(|format| {
                ObjectBuilder::default()
                    .entry("format", Node::Str(format.to_owned()))
                    .build()
            }),
        )
        .entry(
            "data-file-raw",
            data_file.map(|_| Node::Bool(header.data_file_raw())),
        )
        .entry("corrupt", v3.then(|| Node::Bool(header.is_corrupt())))
        .entry("extended-l2", v3.then(|| Node::Bool(header.extended_l2())))
        .build()
}

/// `qemu-img info`'s human output for one image (`bdrv_image_info_dump`). Every value from
/// the disk or its path goes through [`escape_controls`]: a guest writes the backing name of
/// what it sees as a raw disk, and no control character of it may reach a terminal. Printable
/// names stay as qemu-img prints them.
fn human(link: &Link) -> String {
    let header = &link.header;
    let size = virtual_size(link);
    let path = link.path.display().to_string();
    let path = escape_controls(&path);
    let mut text = format!(
        "image: {path}\nfile format: {}\nvirtual size: {} ({size} bytes)\ndisk size: {}\n",
        header.format,
        size_to_str(size),
        size_to_str(disk_size(link))
    );
    if encrypted(header) {
        text.push_str("encrypted: yes\n");
    }
    if let Some(cluster) = header.cluster_size {
        text.push_str(&format!("cluster_size: {cluster}\n"));
    }
    if header.is_dirty() {
        text.push_str("cleanly shut down: no\n");
    }
    if let Some(name) = &header.backing_file {
        let full = full_backing(link).unwrap_or_default();
        let name = lossy(name);
        if full == name {
            text.push_str(&format!("backing file: {}\n", escape_controls(&name)));
        } else {
            text.push_str(&format!(
                "backing file: {} (actual path: {})\n",
                escape_controls(&name),
                escape_controls(&full)
            ));
        }
    }
    if let Some(format) = &header.backing_format {
        text.push_str(&format!(
            "backing file format: {}\n",
            escape_controls(&lossy(format))
        ));
    }
    if let Some(data) = specific_data(header) {
        text.push_str("Format specific information:\n");
        dump(&mut text, 1, &data);
    }
    text.push_str(&format!(
        "Child node '/file':\n    filename: {path}\n    protocol type: file\n    \
         file length: {} ({} bytes)\n    disk size: {}\n",
        size_to_str(file_length(link)),
        file_length(link),
        size_to_str(link.allocated)
    ));
    text
}

/// qemu's `dump_qobject`: one `key: value` line per scalar, nested objects and lists
/// indented by four spaces, dashes in keys shown as spaces.
fn dump(text: &mut String, indent: usize, node: &Node) {
    let pad = " ".repeat(indent * 4);
    let line = |text: &mut String, label: String, value: &Node| {
        if let Node::Object(_) | Node::List(_) = value {
            text.push_str(&format!("{pad}{label}:\n"));
            dump(text, indent + 1, value);
        } else {
            text.push_str(&format!("{pad}{label}: "));
            dump(text, indent + 1, value);
        }
    };
    match node {
        Node::Int(n) => text.push_str(&format!("{n}\n")),
        Node::Str(s) => text.push_str(&format!("{}\n", escape_controls(s))),
        Node::Bool(b) => text.push_str(&format!("{b}\n")),
        Node::Object(entries) => {
            for (key, value) in entries {
                line(text, key.replace('-', " "), value);
            }
        }
        Node::List(items) => {
            for (i, item) in items.iter().enumerate() {
                line(text, format!("[{i}]"), item);
            }
        }
    }
}

/// qemu's `size_to_str`: three significant digits and a binary unit (`1 MiB`, `2.19 MiB`,
/// `512 B`), switching unit once the value would pass 1000.
pub(crate) fn size_to_str(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    // frexp(bytes / (1000 / 1024)): the binary exponent e with 2^(e-1) <= x < 2^e.
    let scaled = bytes as f64 / (1000.0 / 1024.0);
    let exponent = if scaled >= 1.0 {
        scaled.log2().floor() as i32 + 1
    } else {
        0
    };
    let unit = usize::try_from((exponent - 1).max(0) / 10).unwrap_or(0);
    let unit = unit.min(UNITS.len() - 1);
    let value = bytes as f64 / (1u64 << (unit * 10)) as f64;
    format!("{} {}", format_g3(value), UNITS[unit])
}

/// C's `printf("%0.3g", value)` for values from 0 to below 1024.
fn format_g3(value: f64) -> String {
    if value == 0.0 {
        return "0".to_owned();
    }
    // Round to three significant digits first: that decides the notation, as in C.
    let rounded = format!("{value:.2e}");
    let (mantissa, exponent) = rounded.split_once('e').unwrap_or((&rounded, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if !(-4..3).contains(&exponent) {
        // As C: mantissa without trailing zeros, a signed two-digit exponent.
        let mantissa = trim_fraction(mantissa);
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exponent.abs());
    }
    let decimals = usize::try_from(2 - exponent).unwrap_or(0);
    trim_fraction(&format!("{value:.decimals$}")).to_owned()
}

/// `1.50` as `1.5`, `2.00` as `2`.
fn trim_fraction(number: &str) -> &str {
    if number.contains('.') {
        number.trim_end_matches('0').trim_end_matches('.')
    } else {
        number
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_qemu_prints_them() {
        for (bytes, shown) in [
            (0, "0 B"),
            (1, "1 B"),
            (512, "512 B"),
            (999, "999 B"),
            (1000, "0.977 KiB"),
            (1023, "0.999 KiB"),
            (4096, "4 KiB"),
            (221_184, "216 KiB"),
            (459_264, "448 KiB"),
            (1 << 20, "1 MiB"),
            (2_297_856, "2.19 MiB"),
            (1_079_296, "1.03 MiB"),
            (1536 << 20, "1.5 GiB"),
            (10 << 30, "10 GiB"),
            (1023 << 30, "0.999 TiB"),
            // 999.6 KiB: %0.3g rounds it to 1000 and so writes it in C's exponent notation.
            (1_023_590, "1e+03 KiB"),
            (u64::MAX, "16 EiB"),
        ] {
            assert_eq!(size_to_str(bytes), shown, "{bytes} bytes");
        }
    }

    #[test]
    fn objects_keep_their_order_in_json() {
        let node = ObjectBuilder::default()
            .entry("z", Node::Int(1))
            .entry("absent", None)
            .entry("a", Node::List(vec![Node::Bool(true)]))
            .build();
        let json = serde_json::to_string(&node).expect("serialises");
        assert_eq!(json, r#"{"z":1,"a":[true]}"#);
    }

    #[test]
    fn nested_values_dump_as_qemu_dumps_them() {
        let node = ObjectBuilder::default()
            .entry("compat", Node::Str("1.1".into()))
            .entry(
                "encrypt",
                ObjectBuilder::default()
                    .entry("format", Node::Str("luks".into()))
                    .build(),
            )
            .entry("list-of", Node::List(vec![Node::Int(7)]))
            .build();
        let mut text = String::new();
        dump(&mut text, 1, &node);
        assert_eq!(
            text,
            "    compat: 1.1\n    encrypt:\n        format: luks\n    list of:\n        [0]: 7\n"
        );
    }
}
