//! The inventory (`--inventory FILE`): which instances exist, in one of three shapes.
//!
//! - cachectl's own, `{"instances": [...]}` ([`records`]): every field Nova's image cache uses;
//! - Nova's API, `GET /servers/detail?all_tenants=1` at microversion 2.47 or later,
//!   `{"servers": [...]}` ([`nova_api`]);
//! - `openstack server list --long --all-projects -f json`, `[...]` ([`server_list`]), which
//!   lacks some fields: [`Shape::lacks`] says which, and what that costs.
//!
//! The shape is told by the document's first character and top-level key; any other shape is a
//! one-line error that lists these.

mod fields;
mod nova_api;
mod records;
mod server_list;

use std::io;
use std::path::{Path, PathBuf};

use cachectl_naming::{escape_controls, quote};
use cachectl_policy::Instance;
use serde::Deserialize;

/// The largest inventory read (a record is a few hundred bytes: this is millions of them).
const MAX_INVENTORY_LEN: u64 = 1 << 30;

/// What every shape error ends with.
const SHAPES: &str = r#"expected {"instances": [...]} (cachectl's inventory), {"servers": [...]} (Nova's GET /servers/detail, microversion 2.47 or later) or [...] (openstack server list --long -f json)"#;

/// A page of `GET /servers/detail` with a `next` link: the servers of the other pages are not
/// in it, and what they use would look unused.
const MORE_PAGES: &str = "this is one page of the servers (servers_links has a \"next\" link): \
     give them all (follow the links and merge the pages, or ask for fewer with ?host=HOST)";

/// `openstack server list` by someone who is not an admin: no server has a host.
const NO_HOSTS: &str = "no server has a Host: `openstack server list` shows it to admins only";

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

/// The shape an inventory was given in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// cachectl's own `{"instances": [...]}`.
    Instances,
    /// Nova's `GET /servers/detail`: `{"servers": [...]}`.
    ServersDetail,
    /// `openstack server list --long -f json`: `[...]`.
    ServerList,
}

/// A field an inventory shape does not give, and what its absence costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lack {
    /// The field, as Nova's API names it.
    pub field: &'static str,
    /// What cachectl cannot do without it.
    pub cost: &'static str,
}

/// What `openstack server list --long` does not show.
const SERVER_LIST_LACKS: [Lack; 4] = [
    Lack {
        field: "OS-EXT-SRV-ATTR:instance_name",
        cost: "instances are named by uuid, and an instance directory named after an instance name (hosts older than Nova's Grizzly) is claimed by no record",
    },
    Lack {
        field: "flavor.swap, flavor.ephemeral",
        cost: "a swap or ephemeral base is kept only while a disk backs onto it, not for every instance whose flavor needs one (Nova makes it again when one is needed)",
    },
    Lack {
        field: "OS-EXT-SRV-ATTR:kernel_id, OS-EXT-SRV-ATTR:ramdisk_id",
        cost: "kernel and ramdisk bases age as unused originals (Nova downloads them again when an instance needs them)",
    },
    Lack {
        field: "OS-EXT-STS:vm_state",
        cost: "a resize is seen from the task state and from the statuses VERIFY_RESIZE and REVERT_RESIZE only",
    },
];

impl Shape {
    /// The shape's name in reports and logs.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Instances => "cachectl inventory",
            Self::ServersDetail => "GET /servers/detail",
            Self::ServerList => "openstack server list",
        }
    }

    /// The fields this shape does not give (none for the first two).
    #[must_use]
    pub fn lacks(self) -> &'static [Lack] {
        match self {
            Self::Instances | Self::ServersDetail => &[],
            Self::ServerList => &SERVER_LIST_LACKS,
        }
    }
}

/// An inventory read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inventory {
    /// The shape it was given in.
    pub shape: Shape,
    /// Its instance records.
    pub instances: Vec<Instance>,
    /// Servers it lists on no host (never scheduled): they use nothing on any host.
    pub on_no_host: usize,
}

/// cachectl's shape or the API's, told apart by their one key.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    #[serde(default)]
    instances: Option<Vec<records::Record>>,
    #[serde(default)]
    servers: Option<Vec<nova_api::Server>>,
    /// The API's pagination links: a `next` one means this is one page of several.
    #[serde(default)]
    servers_links: Vec<Link>,
}

/// A link of `servers_links` (its `href` is not read).
#[derive(Deserialize)]
struct Link {
    #[serde(default)]
    rel: Option<String>,
}

/// Reads an inventory from `path`, or from standard input when `path` is `-` (bounded, and a FIFO
/// nobody writes to is given up after a while: see [`crate::input`]).
pub fn load(path: &Path) -> Result<Inventory, InventoryError> {
    let read_error = |source| InventoryError::Read {
        path: path.to_owned(),
        source,
    };
    let bytes = crate::input::read_input(path, MAX_INVENTORY_LEN).map_err(read_error)?;
    parse(path, &bytes)
}

/// Parses an inventory's bytes, in any of its shapes; `path` names it in errors.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Inventory, InventoryError> {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let malformed = |err: serde_json::Error| malformed(path, &err);
    match bytes.get(start) {
        Some(b'[') => {
            let rows: Vec<server_list::Row> = serde_json::from_slice(bytes).map_err(malformed)?;
            let inventory = placed(Shape::ServerList, rows, server_list::Row::into_instance);
            if inventory.instances.is_empty() && inventory.on_no_host > 0 {
                return Err(malformed_at(path, bytes, start, NO_HOSTS));
            }
            Ok(inventory)
        }
        Some(b'{') => {
            let document: Document = serde_json::from_slice(bytes).map_err(malformed)?;
            match (document.instances, document.servers) {
                (Some(records), None) => {
                    // Collected in place: the records' room, as the parser grew it.
                    let mut instances: Vec<Instance> = records
                        .into_iter()
                        .map(records::Record::into_instance)
                        .collect();
                    instances.shrink_to_fit();
                    Ok(Inventory {
                        shape: Shape::Instances,
                        instances,
                        on_no_host: 0,
                    })
                }
                (None, Some(servers)) => {
                    if document
                        .servers_links
                        .iter()
                        .any(|l| l.rel.as_deref() == Some("next"))
                    {
                        return Err(malformed_at(path, bytes, start, MORE_PAGES));
                    }
                    Ok(placed(
                        Shape::ServersDetail,
                        servers,
                        nova_api::Server::into_instance,
                    ))
                }
                (Some(_), Some(_)) => Err(malformed_at(
                    path,
                    bytes,
                    start,
                    "both \"instances\" and \"servers\": give one inventory",
                )),
                (None, None) => Err(malformed_at(path, bytes, start, SHAPES)),
            }
        }
        _ => Err(malformed_at(path, bytes, start, SHAPES)),
    }
}

/// The records of those of `rows` that are on a host.
fn placed<T>(shape: Shape, rows: Vec<T>, record: impl Fn(T) -> Option<Instance>) -> Inventory {
    let total = rows.len();
    let mut instances: Vec<Instance> = rows.into_iter().filter_map(record).collect();
    instances.shrink_to_fit();
    Inventory {
        shape,
        on_no_host: total - instances.len(),
        instances,
    }
}

/// The error for a JSON error, with a hint where a shape's field is missing; one line, whatever
/// the keys it names hold.
fn malformed(path: &Path, err: &serde_json::Error) -> InventoryError {
    let message = escape_controls(&json_error_message(err)).into_owned();
    let message = match message.split_once(", expected one of") {
        Some((unknown, _)) if unknown.starts_with("unknown field") => {
            format!("{unknown}: {SHAPES}")
        }
        _ => match missing_field_hint(&message) {
            Some(hint) => format!("{message} ({hint})"),
            None => message,
        },
    };
    InventoryError::Malformed {
        path: path.to_owned(),
        line: err.line(),
        column: err.column(),
        message,
    }
}

/// Where a missing field comes from, for the fields a shape is told by.
fn missing_field_hint(message: &str) -> Option<&'static str> {
    let field = message.strip_prefix("missing field `")?.strip_suffix('`')?;
    match field {
        "OS-EXT-SRV-ATTR:host" => {
            Some("Nova's API gives it to admins only, and not for servers of a cell that is down")
        }
        "flavor" | "swap" | "ephemeral" => Some(
            "servers embed their flavor from microversion 2.47: ask with \
             `OpenStack-API-Version: compute 2.47` or later",
        ),
        "Host" | "Task State" | "Image ID" => {
            Some("`openstack server list` shows it with `--long`")
        }
        "ID" => Some(SHAPES),
        _ => None,
    }
}

/// An error at byte `at` of `bytes`.
fn malformed_at(path: &Path, bytes: &[u8], at: usize, message: &str) -> InventoryError {
    let (line, column) = crate::input::line_column(bytes, at);
    InventoryError::Malformed {
        path: path.to_owned(),
        line,
        column,
        message: message.to_owned(),
    }
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
            r#"{"instances": [{"uuid": "u", "name": "", "host": "h"}]}"#,
            r#"inv.json:1:39: invalid value: string "", expected a non-empty string"#,
        );
    }

    #[test]
    fn a_shape_it_does_not_know_is_one_line_that_lists_those_it_does() {
        check_error("\n  \"instances\"", &format!("inv.json:2:3: {SHAPES}"));
        check_error("", &format!("inv.json:1:1: {SHAPES}"));
        check_error("{}", &format!("inv.json:1:1: {SHAPES}"));
        check_error(
            "{\"instance\": []}",
            &format!("inv.json:1:11: unknown field `instance`: {SHAPES}"),
        );
        check_error(
            r#"[{"uuid": "u", "name": "n", "host": "h"}]"#,
            &format!("inv.json:1:40: missing field `ID` ({SHAPES})"),
        );
        check_error(
            r#"{"instances": [], "servers": []}"#,
            r#"inv.json:1:1: both "instances" and "servers": give one inventory"#,
        );
        let message = parse(Path::new("inv.json"), b"{\"instance\": []}")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(!message.contains('\n'), "{message}");
    }

    #[test]
    fn optional_fields_and_unknown_record_fields() -> Result<(), InventoryError> {
        let inventory = parse(
            Path::new("-"),
            br#"{"instances": [{"uuid": "u", "name": "n", "host": "h", "image_ref": null, "flavor": {"x": 1}, "swap_mb": 512}]}"#,
        )?;
        assert_eq!(inventory.shape, Shape::Instances);
        let records = inventory.instances;
        assert_eq!(records.len(), 1);
        assert_eq!(
            (records[0].image_ref.as_deref(), records[0].swap_mb),
            (None, Some(512))
        );
        Ok(())
    }

    #[test]
    fn an_empty_server_list_is_a_host_with_no_instances() -> Result<(), InventoryError> {
        let inventory = parse(Path::new("-"), b" []\n")?;
        assert_eq!(
            (inventory.shape, inventory.instances.len()),
            (Shape::ServerList, 0)
        );
        Ok(())
    }
}
