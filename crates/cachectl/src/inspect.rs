//! `cachectl inspect`: what `qemu-img info` says of a disk, read by cachectl's own parser.

use std::collections::HashSet;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use cachectl_qcow2::{BackingTarget, DiskHeader, Format, read_header, resolve_backing};
use serde_json::{Map, Value, json};

use crate::cli::{CommandError, InspectArgs, InspectOutput};
use crate::exit;
use crate::report::human_bytes;

/// The deepest chain `--backing-chain` follows.
pub const MAX_CHAIN_LEN: usize = 256;

/// One image of a chain, as `qemu-img info` describes it.
#[derive(Debug, Clone)]
pub struct ImageInfo {
    /// The path it was opened by.
    pub filename: PathBuf,
    /// Its header.
    pub header: DiskHeader,
    /// Bytes allocated on disk.
    pub actual_size: u64,
    /// Where its backing name points, if it has one.
    pub backing: Option<BackingTarget>,
}

/// Runs `inspect`; returns the exit code.
pub fn run(args: &InspectArgs, out: &mut dyn Write) -> Result<u8, CommandError> {
    let mut chains = Vec::new();
    for disk in &args.disks {
        chains.push(chain(disk, args.backing_chain)?);
    }
    match args.output {
        InspectOutput::Json => {
            let mut values: Vec<Value> = chains
                .iter()
                .map(|chain| {
                    let infos: Vec<Value> = chain.iter().map(to_json).collect();
                    if args.backing_chain {
                        Value::Array(infos)
                    } else {
                        infos.into_iter().next().unwrap_or(Value::Null)
                    }
                })
                .collect();
            let value = if values.len() == 1 {
                values.remove(0)
            } else {
                Value::Array(values)
            };
            serde_json::to_writer_pretty(&mut *out, &value).map_err(std::io::Error::from)?;
            writeln!(out)?;
        }
        InspectOutput::Human => {
            let mut first = true;
            for info in chains.iter().flatten() {
                if !first {
                    writeln!(out)?;
                }
                first = false;
                out.write_all(to_human(info).as_bytes())?;
            }
        }
    }
    out.flush()?;
    Ok(exit::SUCCESS)
}

/// Reads `disk` and, with `follow`, every image below it; a loop, an over-long chain or an
/// unreadable image is an error naming the file.
pub fn chain(disk: &Path, follow: bool) -> Result<Vec<ImageInfo>, CommandError> {
    let mut infos = Vec::new();
    let mut seen = HashSet::new();
    let mut path = disk.to_path_buf();
    loop {
        let read = read_header(&path).map_err(|err| CommandError::Other {
            message: describe(&err),
            code: exit::BAD_INPUT,
        })?;
        if !seen.insert((read.dev, read.ino)) {
            return Err(CommandError::Other {
                message: format!(
                    "{}: backing chain loops back to {}",
                    disk.display(),
                    path.display()
                ),
                code: exit::BAD_INPUT,
            });
        }
        let actual_size = std::fs::metadata(&path)
            .map(|m| m.blocks() * 512)
            .unwrap_or(0);
        let backing = read
            .header
            .backing_file
            .as_deref()
            .map(|name| resolve_backing(&path, name));
        let declared_raw = read.header.backing_format.as_deref() == Some(b"raw".as_slice());
        let next = match &backing {
            Some(BackingTarget::File(next)) => Some(next.clone()),
            _ => None,
        };
        infos.push(ImageInfo {
            filename: path.clone(),
            header: read.header,
            actual_size,
            backing,
        });
        let Some(next) = next.filter(|_| follow) else {
            break;
        };
        if infos.len() >= MAX_CHAIN_LEN {
            return Err(CommandError::Other {
                message: format!(
                    "{}: backing chain longer than {MAX_CHAIN_LEN} images",
                    disk.display()
                ),
                code: exit::BAD_INPUT,
            });
        }
        if declared_raw {
            // A backing file declared raw is never probed for a format.
            let meta = std::fs::metadata(&next).map_err(|err| CommandError::Other {
                message: format!("{}: {err}", next.display()),
                code: exit::BAD_INPUT,
            })?;
            infos.push(ImageInfo {
                filename: next,
                header: DiskHeader::raw(meta.len()),
                actual_size: meta.blocks() * 512,
                backing: None,
            });
            break;
        }
        path = next;
    }
    Ok(infos)
}

fn describe(err: &cachectl_qcow2::ReadError) -> String {
    use std::error::Error;
    match err.source() {
        Some(source) => format!("{err}: {source}"),
        None => err.to_string(),
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn full_backing(info: &ImageInfo) -> Option<String> {
    match info.backing.as_ref()? {
        BackingTarget::File(path) => Some(path.display().to_string()),
        BackingTarget::Protocol { name, .. } => Some(lossy(name)),
        BackingTarget::Json(json) => Some(format!("json:{}", lossy(json))),
    }
}

fn format_specific(header: &DiskHeader) -> Option<Value> {
    if header.format != Format::Qcow2 {
        return None;
    }
    let mut data = Map::new();
    data.insert(
        "compat".into(),
        json!(if header.version == Some(2) {
            "0.10"
        } else {
            "1.1"
        }),
    );
    if header.version != Some(2) {
        let compression = if header.compression_type == Some(1) {
            "zstd"
        } else {
            "zlib"
        };
        data.insert("compression-type".into(), json!(compression));
        if let Some(file) = header.external_data_file() {
            data.insert("data-file".into(), json!(lossy(file)));
            data.insert("data-file-raw".into(), json!(header.data_file_raw()));
        }
        data.insert("lazy-refcounts".into(), json!(header.lazy_refcounts()));
    } else {
        data.insert("compression-type".into(), json!("zlib"));
    }
    if let Some(bits) = header.refcount_bits() {
        data.insert("refcount-bits".into(), json!(bits));
    }
    if header.version != Some(2) {
        data.insert("corrupt".into(), json!(header.is_corrupt()));
        data.insert("extended-l2".into(), json!(header.extended_l2()));
    }
    Some(json!({"type": "qcow2", "data": data}))
}

fn to_json(info: &ImageInfo) -> Value {
    let header = &info.header;
    let mut object = Map::new();
    object.insert(
        "virtual-size".into(),
        json!(header.virtual_size.unwrap_or(0)),
    );
    object.insert(
        "filename".into(),
        json!(info.filename.display().to_string()),
    );
    if let Some(cluster) = header.cluster_size {
        object.insert("cluster-size".into(), json!(cluster));
    }
    object.insert("format".into(), json!(header.format.as_str()));
    object.insert("actual-size".into(), json!(info.actual_size));
    if let Some(specific) = format_specific(header) {
        object.insert("format-specific".into(), specific);
    }
    if let Some(full) = full_backing(info) {
        object.insert("full-backing-filename".into(), json!(full));
    }
    if let Some(name) = &header.backing_file {
        object.insert("backing-filename".into(), json!(lossy(name)));
    }
    if let Some(format) = &header.backing_format {
        object.insert("backing-filename-format".into(), json!(lossy(format)));
    }
    object.insert("dirty-flag".into(), json!(header.is_dirty()));
    Value::Object(object)
}

fn to_human(info: &ImageInfo) -> String {
    let header = &info.header;
    let size = header.virtual_size.unwrap_or(0);
    let mut text = format!(
        "image: {}\nfile format: {}\nvirtual size: {} ({size} bytes)\ndisk size: {}\n",
        info.filename.display(),
        header.format,
        human_bytes(size),
        human_bytes(info.actual_size)
    );
    if let Some(cluster) = header.cluster_size {
        text.push_str(&format!("cluster_size: {cluster}\n"));
    }
    if let Some(name) = &header.backing_file {
        let full = full_backing(info).unwrap_or_default();
        let name = lossy(name);
        if full == name {
            text.push_str(&format!("backing file: {name}\n"));
        } else {
            text.push_str(&format!("backing file: {name} (actual path: {full})\n"));
        }
    }
    if let Some(format) = &header.backing_format {
        text.push_str(&format!("backing file format: {}\n", lossy(format)));
    }
    if let Some(Value::Object(specific)) = format_specific(header) {
        text.push_str("Format specific information:\n");
        if let Some(Value::Object(data)) = specific.get("data") {
            for (key, value) in data {
                let shown = match value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                text.push_str(&format!("    {}: {shown}\n", key.replace('-', " ")));
            }
        }
    }
    text
}
