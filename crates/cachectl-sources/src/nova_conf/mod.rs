//! nova.conf, read as nova-compute reads it through oslo.config: which files, their syntax,
//! which value wins, `$name` substitution, deprecated names, types; each effective setting with
//! the file and line it came from.
//!
//! - [`files`]: `--config-file` / `--config-dir` and Nova's defaults ([`ConfigFiles`]), read
//!   bounded;
//! - [`syntax`]: one file as oslo.config's `iniparser` reads it ([`parse`], [`Entry`]);
//! - `store`: which value wins across files and between current and deprecated names;
//! - `substitute` and `resolve`: `$name`, `${name}`, `${group.name}`, `$$`, `\$`;
//! - `values`: booleans, integers, host names, `images_type`, `virt_mkfs` entries;
//! - [`NovaConf`]: the options cachectl reads, as Nova 34 declares them.
//!
//! ```
//! use std::path::{Path, PathBuf};
//!
//! use cachectl_sources::nova_conf::{self, Defaults, NovaConf, ParsedFile, Provenance};
//!
//! let text = b"[DEFAULT]\nstate_path = /srv/nova\n\
//!              [image_cache]\nremove_unused_base_images = False\n";
//! let path = PathBuf::from("/etc/nova/nova.conf");
//! let entries = nova_conf::parse(&path, text)?;
//! let defaults = Defaults { host: "compute-1".to_owned(), my_ip: None };
//! let conf = NovaConf::from_parsed(&[ParsedFile { path, entries }], &defaults)?;
//! assert_eq!(conf.instances_path.value, Path::new("/srv/nova/instances"));
//! assert_eq!(conf.instances_path.from, Provenance::Default);
//! assert_eq!(conf.remove_unused_base_images.from.to_string(), "/etc/nova/nova.conf:4");
//! assert!(!conf.nova_pass_deletes());
//!
//! let err = nova_conf::parse(Path::new("nova.conf"), b"[DEFAULT]\nhost\n").unwrap_err();
//! assert_eq!(err.to_string(), "nova.conf:2: no `=` or `:` after the key");
//! # Ok::<(), nova_conf::ConfigError>(())
//! ```

mod conf;
mod error;
pub mod files;
mod options;
mod resolve;
mod setting;
mod store;
mod substitute;
pub mod syntax;
mod values;

pub use conf::NovaConf;
pub use error::ConfigError;
pub use files::{ConfigFiles, Source};
pub use options::Defaults;
pub use resolve::{MAX_DEPTH, MAX_VALUE_LEN};
pub use setting::{Provenance, Setting};
pub use store::ParsedFile;
pub use syntax::{Entry, parse, render};
pub use values::{ImagesType, mkfs_entry};

/// Reads `files` in order and gives the effective settings, as nova-compute would read them
/// (with `defaults` for the hostname and IP it would take from the machine).
pub fn load(files: &ConfigFiles, defaults: &Defaults) -> Result<NovaConf, ConfigError> {
    NovaConf::from_parsed(&files.read()?, defaults)
}

#[cfg(test)]
mod tests;
