//! The naming rules of Nova's image cache (`instances_path/_base`), with no I/O.
//!
//! Every downloaded image sits in the cache under the SHA-1 of its image id (its *fingerprint*);
//! resized copies, legacy small copies, blank swap and ephemeral bases, checksum sidecars and
//! download leftovers each have a name of their own. [`classify`] tells which of these a directory
//! entry is, and [`fingerprint`], [`swap_name`] and [`ephemeral_name`] build the names Nova gives.
//! [`quote`] and [`escape_controls`] print names from outside in text reports, so that no
//! control character in a name reaches a terminal.
//!
//! ```
//! use cachectl_naming::{classify, fingerprint, EntryKind};
//!
//! let fp = fingerprint("1");
//! assert_eq!(fp.as_str(), "356a192b7913b04c54574d18c28d46e6395428ab");
//! let name = format!("{fp}_10737418240");
//! let entry = classify(&name);
//! assert_eq!(entry.kind(), EntryKind::Resized);
//! assert_eq!(entry.fingerprint(), Some(fp.as_str()));
//! ```

#![forbid(unsafe_code)]

mod disk;
mod ephemeral;
mod fingerprint;
mod lock;
mod name;
mod quote;

pub use disk::{is_console_log, is_nova_disk_name};
pub use ephemeral::{EphemeralFs, ephemeral_name, ephemeral_suffix, swap_name};
pub use fingerprint::{FINGERPRINT_LEN, Fingerprint, FingerprintError, fingerprint};
pub use lock::{NOVA_LOCK_PREFIX, nova_lock_name};
pub use name::{EntryKind, EntryName, LeftoverKind, SidecarKind, classify, classify_os};
pub use quote::{Quoted, escape_controls, quote};
