//! Disk image headers for the image cache: what format a file is, and which files it needs.
//!
//! An instance disk is usually a qcow2 overlay whose backing file lives in the cache; it may
//! also depend on an external data file. This crate reads a header the way QEMU does
//! ([`parse_header`], pure, never panics on any input, never allocates from an unchecked
//! length), resolves a backing name the way QEMU does ([`resolve_backing`], raw bytes, no
//! normalisation), reads a header from a path without blocking on FIFOs or touching devices
//! ([`read_header`], the crate's only I/O), and walks a backing chain ([`walk_chain`]). A small
//! writer ([`create_image`]) makes the same empty images `qemu-img create -f qcow2` makes, for
//! tests and demos.
//!
//! The modules, from the bottom up; each imports only modules listed before it:
//!
//! - the primitives every parser shares: `disk.rs` ([`Format`], [`DiskHeader`], the qcow2
//!   feature bits), `error.rs` ([`HeaderError`]), `magic.rs` (the magics at offset 0),
//!   `source.rs` (the bytes at hand, C strings, backing names, [`MAX_HEADER_BYTES`]);
//! - one parser per format, on the primitives only: `qcow2.rs`, `qcow.rs`, `qed.rs`, `vmdk.rs`,
//!   `vpc.rs`, `vdi.rs`, `vhdx.rs` (also [`parse_vhdx_metadata`]), `luks.rs`;
//! - `probe.rs`: tells the format from the first bytes as QEMU probes it and calls its parser
//!   ([`parse_header`], [`bytes_needed`]);
//! - `read.rs`: the only I/O ([`read_header`], and the `stat` of a backing file declared raw);
//!   `resolve.rs`: where a name points ([`resolve_backing`], pure); `chain.rs`: backing chains
//!   through `read.rs` ([`walk_chain`], [`ChainError::problem`]); `create.rs`: the writer.
//!
//! Tests that go through the entry points are in `src/tests/`, one module per topic.
//!
//! Architecture Invariant: parsers take bytes and never do I/O; `read.rs` is the only module
//! that touches the file system. It never opens anything but a regular file (it opens through
//! `cachectl_fs::open_regular_path`: `stat` first, so that a device is never opened, then
//! `O_NONBLOCK`, then `fstat`), only `stat`s a backing file declared raw, and never reads more
//! than the first [`MAX_HEADER_BYTES`] of a file (2 MiB, the largest qcow2 cluster) and, for a
//! VHDX, [`MAX_METADATA_READ`] (1 MiB) of its metadata region.
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

pub use chain::{ChainError, ChainWalk, DEFAULT_MAX_DEPTH, Link, walk_below, walk_chain};
pub use create::{CreateError, Qcow2Spec, create_image};
pub use disk::{DiskHeader, Format};
pub use error::HeaderError;
pub use magic::QCOW2_MAGIC;
pub use probe::{bytes_needed, parse_header};
pub use qcow2::{MAX_CLUSTER_BITS, MIN_CLUSTER_BITS};
pub use read::{ReadError, ReadHeader, header_from_prefix, read_header};
pub use resolve::{BackingTarget, resolve_backing};
pub use source::{MAX_BACKING_NAME_LEN, MAX_HEADER_BYTES};
pub use vhdx::{MAX_METADATA_READ, parse_vhdx_metadata};
