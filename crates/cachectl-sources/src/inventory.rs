//! The inventory: the instance records the operator gives with `--inventory` (Nova's instances).
//!
//! ```json
//! {"instances": [{"uuid": "…", "name": "instance-0000002a", "host": "compute-1",
//!                 "image_ref": "…", "kernel_id": null, "ramdisk_id": null,
//!                 "task_state": null, "vm_state": "active",
//!                 "swap_mb": 512, "ephemeral_gb": 20, "os_type": "linux"}]}
//! ```
//! Unknown fields are ignored, so a dump of Nova's instance objects can be given as it is.

use std::io;
use std::path::{Path, PathBuf};

use cachectl_naming::quote;
use cachectl_policy::Instance;
use serde::Deserialize;

/// The largest inventory read (a record is a few hundred bytes: this is millions of them).
const MAX_INVENTORY_LEN: u64 = 1 << 30;

/// An inventory that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// It cannot be read.
    #[error("cannot read the inventory {}: {source}", quote(.path))]
    Read {
        /// The file (`-` for standard input).
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// It is not a valid inventory.
    #[error("{}:{line}:{column}: {message}", quote(.path))]
    Malformed {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InventoryFile {
    instances: Vec<Record>,
}

#[derive(Deserialize)]
struct Record {
    #[serde(deserialize_with = "non_empty")]
    uuid: String,
    #[serde(deserialize_with = "non_empty")]
    name: String,
    #[serde(deserialize_with = "non_empty")]
    host: String,
    #[serde(default)]
    image_ref: Option<String>,
    #[serde(default)]
    kernel_id: Option<String>,
    #[serde(default)]
    ramdisk_id: Option<String>,
    #[serde(default)]
    task_state: Option<String>,
    #[serde(default)]
    vm_state: Option<String>,
    #[serde(default)]
    swap_mb: Option<u64>,
    #[serde(default)]
    ephemeral_gb: Option<u64>,
    #[serde(default)]
    os_type: Option<String>,
}

/// A string that must not be empty: an empty uuid, name or host names no instance.
fn non_empty<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let text = String::deserialize(deserializer)?;
    if text.is_empty() {
        return Err(serde::de::Error::invalid_value(
            serde::de::Unexpected::Str(""),
            &"a non-empty string",
        ));
    }
    Ok(text)
}

/// Reads an inventory from `path`, or from standard input when `path` is `-` (bounded, and a FIFO
/// nobody writes to is given up after a while: see [`crate::input`]).
pub fn load(path: &Path) -> Result<Vec<Instance>, InventoryError> {
    let read_error = |source| InventoryError::Read {
        path: path.to_owned(),
        source,
    };
    let bytes = crate::input::read_input(path, MAX_INVENTORY_LEN).map_err(read_error)?;
    parse(path, &bytes)
}

/// Parses an inventory's bytes; `path` names it in errors.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Vec<Instance>, InventoryError> {
    // serde would take a top-level array as the struct's fields in order: say what is expected.
    if let Some(at) = bytes.iter().position(|b| !b.is_ascii_whitespace())
        && bytes[at] != b'{'
    {
        let line = 1 + bytes[..at].iter().filter(|&&b| b == b'\n').count();
        let column = at
            - bytes[..at]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |nl| nl + 1)
            + 1;
        return Err(InventoryError::Malformed {
            path: path.to_owned(),
            line,
            column,
            message: r#"expected a JSON object {"instances": [...]}"#.to_owned(),
        });
    }
    let file: InventoryFile =
        serde_json::from_slice(bytes).map_err(|err| InventoryError::Malformed {
            path: path.to_owned(),
            line: err.line(),
            column: err.column(),
            message: json_error_message(&err),
        })?;
    Ok(file
        .instances
        .into_iter()
        .map(|r| Instance {
            uuid: r.uuid,
            name: r.name,
            host: r.host,
            image_ref: r.image_ref,
            kernel_id: r.kernel_id,
            ramdisk_id: r.ramdisk_id,
            task_state: r.task_state,
            vm_state: r.vm_state,
            swap_mb: r.swap_mb,
            ephemeral_gb: r.ephemeral_gb,
            os_type: r.os_type,
        })
        .collect())
}

/// A serde_json error's message without the " at line L column C" it ends with, for messages
/// that say `path:line:column:` first.
pub(crate) fn json_error_message(err: &serde_json::Error) -> String {
    let message = err.to_string();
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_error(json: &str, expected: &str) {
        let err = parse(Path::new("inv.json"), json.as_bytes())
            .err()
            .map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some(expected));
    }

    #[test]
    fn errors_name_file_line_and_column() {
        check_error(
            "{\"instances\": [\n  {\"uuid\": 1}]}",
            "inv.json:2:12: invalid type: integer `1`, expected a string",
        );
        check_error(
            "{\"instances\": [{\"uuid\": \"u\", \"name\": \"n\"}]}",
            "inv.json:1:41: missing field `host`",
        );
        check_error(
            "\n  []",
            r#"inv.json:2:3: expected a JSON object {"instances": [...]}"#,
        );
        check_error("", "inv.json:1:0: EOF while parsing a value");
        check_error(
            r#"{"instances": [{"uuid": "u", "name": "", "host": "h"}]}"#,
            r#"inv.json:1:39: invalid value: string "", expected a non-empty string"#,
        );
        check_error(
            "{\"instance\": []}",
            "inv.json:1:11: unknown field `instance`, expected `instances`",
        );
    }

    #[test]
    fn optional_fields_and_unknown_record_fields() -> Result<(), InventoryError> {
        let records = parse(
            Path::new("-"),
            br#"{"instances": [{"uuid": "u", "name": "n", "host": "h", "image_ref": null, "flavor": {"x": 1}, "swap_mb": 512}]}"#,
        )?;
        assert_eq!(records.len(), 1);
        assert_eq!(
            (records[0].image_ref.as_deref(), records[0].swap_mb),
            (None, Some(512))
        );
        Ok(())
    }
}
