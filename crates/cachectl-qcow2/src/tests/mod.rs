//! Tests of the header parsers through the crate's entry points ([`crate::parse_header`],
//! [`crate::bytes_needed`], [`crate::read_header`]), one module per topic, and what they share.

mod arbitrary;
mod other_formats;
mod probe;
mod qcow2;

use crate::create::{Qcow2Spec, create_image};
use crate::{DiskHeader, HeaderError, bytes_needed, parse_header};

/// An image from the crate's own writer (checked against `qemu-img` in create.rs).
fn image(spec: &Qcow2Spec<'_>) -> Vec<u8> {
    create_image(spec).expect("a valid spec")
}

/// A v3 image with a backing file "base", backing format "qcow2" and 512-byte clusters.
fn overlay() -> Vec<u8> {
    image(&Qcow2Spec {
        cluster_bits: 9,
        backing_file: Some(b"base"),
        backing_format: Some("qcow2"),
        ..Qcow2Spec::new(1 << 20)
    })
}

/// Parses a whole image.
fn parse(bytes: &[u8]) -> Result<DiskHeader, HeaderError> {
    parse_header(bytes, bytes.len() as u64)
}

/// Writes a big-endian value into an image.
fn patch(bytes: &mut [u8], offset: usize, value: &[u8]) {
    bytes[offset..offset + value.len()].copy_from_slice(value);
}

/// Sets the backing name field and writes `name` at `offset`.
fn with_backing_name(mut bytes: Vec<u8>, offset: u64, name: &[u8]) -> Vec<u8> {
    patch(&mut bytes, 8, &offset.to_be_bytes());
    patch(&mut bytes, 16, &(name.len() as u32).to_be_bytes());
    patch(&mut bytes, offset as usize, name);
    bytes
}

/// Parses as the reader does: a 4096-byte prefix, then what `bytes_needed` asks for.
fn parse_like_the_reader(whole: &[u8]) -> Result<DiskHeader, HeaderError> {
    let prefix = &whole[..whole.len().min(4096)];
    let needed = bytes_needed(prefix)?;
    parse_header(
        &whole[..whole.len().min(needed.max(prefix.len()))],
        whole.len() as u64,
    )
}
