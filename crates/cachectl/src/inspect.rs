//! `cachectl inspect`: what `qemu-img info` says of a disk, read by cachectl's own parser.

use std::io::Write;
use std::path::Path;

use cachectl_qcow2::{BackingTarget, ChainError, DiskHeader, Format, Link, walk_chain};
use serde_json::{Map, Value, json};

use crate::cli::{CommandError, InspectArgs, InspectOutput};
use crate::exit;
use crate::report::human_bytes;

/// The most backing files `--backing-chain` follows below a disk.
pub const MAX_CHAIN_LEN: u32 = cachectl_qcow2::DEFAULT_MAX_DEPTH;

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
                    let mut infos: Vec<Value> = chain.iter().map(to_json).collect();
                    if args.backing_chain {
                        Value::Array(infos)
                    } else {
                        infos.swap_remove(0)
                    }
                })
                .collect();
            let value = if values.len() == 1 {
                values.swap_remove(0)
            } else {
                Value::Array(values)
            };
            serde_json::to_writer_pretty(&mut *out, &value).map_err(std::io::Error::from)?;
            writeln!(out)?;
        }
        InspectOutput::Human => {
            for (i, link) in chains.iter().flatten().enumerate() {
                if i > 0 {
                    writeln!(out)?;
                }
                out.write_all(to_human(link).as_bytes())?;
            }
        }
    }
    out.flush()?;
    Ok(exit::SUCCESS)
}

/// Reads `disk` and, with `follow`, every image below it (never fewer than one); a loop, an
/// over-long chain or an unreadable image is an error naming the file.
pub fn chain(disk: &Path, follow: bool) -> Result<Vec<Link>, CommandError> {
    let mut links = Vec::new();
    for link in walk_chain(disk).max_depth(MAX_CHAIN_LEN) {
        let link = link.map_err(|err| CommandError::Other {
            message: describe(&err),
            code: exit::BAD_INPUT,
        })?;
        links.push(link);
        if !follow {
            break;
        }
    }
    Ok(links)
}

fn describe(err: &ChainError) -> String {
    use std::error::Error;
    match err.source().and_then(Error::source) {
        Some(cause) => format!("{err}: {cause}"),
        None => err.to_string(),
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn full_backing(info: &Link) -> Option<String> {
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

fn to_json(info: &Link) -> Value {
    let header = &info.header;
    let mut object = Map::new();
    object.insert(
        "virtual-size".into(),
        json!(header.virtual_size.unwrap_or(0)),
    );
    object.insert("filename".into(), json!(info.path.display().to_string()));
    if let Some(cluster) = header.cluster_size {
        object.insert("cluster-size".into(), json!(cluster));
    }
    object.insert("format".into(), json!(header.format.as_str()));
    object.insert("actual-size".into(), json!(info.allocated));
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

fn to_human(info: &Link) -> String {
    let header = &info.header;
    let size = header.virtual_size.unwrap_or(0);
    let mut text = format!(
        "image: {}\nfile format: {}\nvirtual size: {} ({size} bytes)\ndisk size: {}\n",
        info.path.display(),
        header.format,
        human_bytes(size),
        human_bytes(info.allocated)
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
