//! What cachectl reads from outside the cache, each parsed into the policy's facts.
//!
//! - [`inventory`]: the instance records an operator gives (`--inventory FILE`): cachectl's
//!   JSON, Nova's `GET /servers/detail`, or `openstack server list --long -f json`;
//! - [`registry`]: Nova's storage registry, `instances_path/compute_nodes` (which hosts share
//!   the storage), read and written as Nova does, but atomically and under its lock;
//! - [`ack`]: acknowledgements of unreadable files (`--ack-unreadable FILE`);
//! - [`libvirt`]: libvirt's domain XML (`/etc/libvirt/qemu`, `/run/libvirt/qemu`, `virsh dumpxml`):
//!   each guest's disks with their backing chains, and Nova's metadata (the instance record);
//! - [`nova_conf`]: nova.conf as nova-compute reads it through oslo.config (files, syntax,
//!   deprecated names, `$name` substitution, types), each setting with the line it came from;
//! - [`input`]: reading a file the operator names: bounded, and a FIFO nobody writes to is not
//!   waited on forever.
//!
//! Every parser takes bytes and returns typed errors that name the file and the place; none
//! panics on any input (each is fuzzed, `fuzz/`, and property-tested, `tests/properties.rs`).
//!
//! ```
//! use std::path::Path;
//!
//! let records = br#"{"instances": [{"uuid": "u1", "name": "instance-1", "host": "compute-1",
//!                    "image_ref": "5f0b3c1e", "swap_mb": 512}]}"#;
//! let inventory = cachectl_sources::inventory::parse(Path::new("inventory.json"), records)?;
//! assert_eq!(inventory.instances[0].swap_mb, Some(512));
//! let err = cachectl_sources::inventory::parse(Path::new("inventory.json"), b"{}").unwrap_err();
//! assert!(err.to_string().starts_with("inventory.json:1:1: expected "));
//! # Ok::<(), cachectl_sources::inventory::InventoryError>(())
//! ```

#![forbid(unsafe_code)]

pub mod ack;
pub mod input;
pub mod inventory;
pub mod libvirt;
pub mod nova_conf;
pub mod pins;
pub mod registry;
