//! The `cachectl` command: audits and cleans the image cache of a libvirt/KVM compute host.
//!
//! This crate is the thin, effectful shell around the pure policy: it parses options
//! ([`cli`]), loads the inventory ([`inventory`]) and the storage registry ([`storage`]), gathers
//! facts from disk ([`scan`]), hashes base files ([`checksums`], on several threads with
//! [`pool`], showing [`progress`] on a terminal), takes Nova's locks ([`locks`]), applies a plan
//! ([`apply`]) and prints reports ([`report`]). See `docs/architecture.md` for the map and the
//! invariants.

#![forbid(unsafe_code)]

pub mod ack;
pub mod apply;
pub mod checksums;
pub mod cli;
pub mod demo;
pub mod exit;
pub mod input;
pub mod inspect;
pub mod inventory;
pub mod locks;
pub mod pass;
pub mod pool;
pub mod progress;
pub mod report;
pub mod scan;
pub mod storage;
pub mod verify;
