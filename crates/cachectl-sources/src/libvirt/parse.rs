//! [`parse_domain`]: a domain XML's bytes to a [`Domain`], with roxmltree.
//!
//! Two documents hold a domain: libvirt's domain XML (`<domain>`: `/etc/libvirt/qemu/<name>.xml`,
//! `virsh dumpxml`, a `libvirt.xml` Nova wrote) and libvirt's status XML of a running domain
//! (`/run/libvirt/qemu/<name>.xml`: `<domstatus>` with the driver's private state, and the live
//! `<domain>` in it). Either is read; in a status XML only its `<domain>` is looked at.

use std::path::Path;

use roxmltree::{Document, Node, ParsingOptions};

use super::disk::parse_disk;
use super::domain::Domain;
use super::error::{DomainError, MAX_DOMAIN_LEN};
use super::nova;
use super::xml::{child, children, is_element, tag, text};
use crate::input::line_column;

/// The most XML nodes a domain may have. libvirt's status XML of a large guest has a few
/// thousand; this bounds the memory a hostile file can make roxmltree use.
const MAX_NODES: u32 = 200_000;

/// Parses a domain XML (or libvirt's status XML of a running domain); `path` names it in errors.
///
/// The XML must be UTF-8 (libvirt and Nova write nothing else), at most
/// [`MAX_DOMAIN_LEN`] bytes, without a DTD: entities are never expanded, so an entity bomb is
/// an error, not a gigabyte. Errors are one line, `<path>:<line>:<column>: <problem>`.
pub fn parse_domain(path: &Path, bytes: &[u8]) -> Result<Domain, DomainError> {
    let len = bytes.len() as u64;
    if len > MAX_DOMAIN_LEN {
        return Err(DomainError::TooLarge {
            path: path.to_owned(),
            len,
        });
    }
    let xml = std::str::from_utf8(bytes).map_err(|err| {
        let (line, column) = line_column(bytes, err.valid_up_to());
        DomainError::Malformed {
            path: path.to_owned(),
            line,
            column,
            message: "not UTF-8: libvirt writes domain XML in UTF-8".to_owned(),
        }
    })?;
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
        ..ParsingOptions::default()
    };
    let document =
        Document::parse_with_options(xml, options).map_err(|err| xml_error(path, xml, &err))?;
    let domain = domain_element(path, document.root_element())?;
    let nova = match child(domain, "metadata") {
        Some(metadata) => nova::find(path, metadata)?,
        None => None,
    };
    Ok(Domain {
        uuid: child(domain, "uuid").and_then(text),
        name: child(domain, "name").and_then(text),
        disks: children(domain, "devices")
            .flat_map(|devices| children(devices, "disk"))
            .map(parse_disk)
            .collect(),
        nova,
    })
}

/// The `<domain>` of the document: its root, or the `<domain>` in a `<domstatus>`.
fn domain_element<'a, 'input>(
    path: &Path,
    root: Node<'a, 'input>,
) -> Result<Node<'a, 'input>, DomainError> {
    if is_element(root, "domain") {
        return Ok(root);
    }
    if is_element(root, "domstatus") {
        return child(root, "domain").ok_or_else(|| {
            DomainError::at(
                path,
                root,
                "libvirt's status XML <domstatus> holds no <domain>".to_owned(),
            )
        });
    }
    Err(DomainError::at(
        path,
        root,
        format!(
            "expected <domain> (a domain XML) or <domstatus> (libvirt's status XML), found {}",
            tag(root)
        ),
    ))
}

/// roxmltree's error, at its place (the end of the input for a document that ends too soon),
/// in its words without the " at line:column" they end with.
fn xml_error(path: &Path, text: &str, err: &roxmltree::Error) -> DomainError {
    use roxmltree::Error;
    let (line, column) = match err {
        Error::UnexpectedEndOfStream | Error::UnclosedRootNode => {
            line_column(text.as_bytes(), text.len())
        }
        other => {
            let pos = other.pos();
            (pos.row as usize, pos.col as usize)
        }
    };
    let message = match err {
        Error::DtdDetected => {
            "a DTD (<!DOCTYPE>): refused, libvirt writes none and its entities are never expanded"
                .to_owned()
        }
        Error::NodesLimitReached => format!("more than {MAX_NODES} XML nodes: not a domain"),
        other => {
            let message = other.to_string();
            let suffix = format!(" at {}", other.pos());
            message
                .strip_suffix(&suffix)
                .map_or(message.clone(), str::to_owned)
        }
    };
    DomainError::Malformed {
        path: path.to_owned(),
        line,
        column,
        message,
    }
}
