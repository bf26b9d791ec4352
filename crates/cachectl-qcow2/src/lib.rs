//! Disk image headers for the image cache: what format a file is, and which files it needs.
//!
//! An instance disk is usually a qcow2 overlay whose backing file lives in the cache; it may
//! also depend on an external data file. This crate reads a header the way QEMU does
//! ([`parse_header`], pure, never panics on any input, never allocates from an unchecked
//! length), resolves a backing name the way QEMU does ([`resolve_backing`], raw bytes, no
//! normalisation), and reads a header from a path without blocking on FIFOs or touching
//! devices ([`read_header`], the crate's only I/O). A small writer ([`create_image`]) makes the
//! same empty images `qemu-img create -f qcow2` makes, for tests and demos.
//!
//! ```
//! use std::path::{Path, PathBuf};
//! use cachectl_qcow2::{BackingTarget, Format, Qcow2Spec, create_image, parse_header, resolve_backing};
//!
//! let spec = Qcow2Spec {
//!     backing_file: Some(b"../_base/0123abcd"),
//!     backing_format: Some("raw"),
//!     ..Qcow2Spec::new(10 << 30)
//! };
//! let image = create_image(&spec)?;
//! let header = parse_header(&image, image.len() as u64)?;
//! assert_eq!(header.format, Format::Qcow2);
//! assert_eq!(header.virtual_size, Some(10 << 30));
//! assert_eq!(header.backing_format.as_deref(), Some(&b"raw"[..]));
//!
//! let name = header.backing_file.as_deref().unwrap_or_default();
//! let disk = Path::new("/var/lib/nova/instances/uuid/disk");
//! assert_eq!(
//!     resolve_backing(disk, name),
//!     BackingTarget::File(PathBuf::from("/var/lib/nova/instances/uuid/../_base/0123abcd")),
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]

// The primitives every parser shares.
mod disk;
mod error;
mod magic;
mod source;

// One parser per format, on the primitives only.
mod luks;
mod qcow;
mod qcow2;
mod qed;
mod vdi;
mod vhdx;
mod vmdk;
mod vpc;

// Telling the formats apart: the parsing entry points.
mod probe;

// Above the parsers: I/O, chains, names, the writer.
mod chain;
mod create;
mod read;
mod resolve;

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;

pub use chain::{ChainError, ChainWalk, DEFAULT_MAX_DEPTH, Link, walk_chain};
pub use create::{CreateError, Qcow2Spec, create_image};
pub use disk::{DiskHeader, Format};
pub use error::HeaderError;
pub use magic::QCOW2_MAGIC;
pub use probe::{bytes_needed, parse_header};
pub use qcow2::{MAX_CLUSTER_BITS, MIN_CLUSTER_BITS};
pub use read::{ReadError, ReadHeader, read_header};
pub use resolve::{BackingTarget, resolve_backing};
pub use source::{MAX_BACKING_NAME_LEN, MAX_HEADER_BYTES};
pub use vhdx::{MAX_METADATA_READ, parse_vhdx_metadata};
