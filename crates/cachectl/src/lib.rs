//! The `cachectl` command: audits and cleans the image cache of a libvirt/KVM compute host.
//!
//! This crate is the thin, effectful shell around the pure policy: it parses options
//! ([`cli`]), reads what the operator and Nova give through `cachectl-sources`, gathers facts
//! from disk (`scan`), asks the policy for a plan, carries it out under Nova's locks (`apply`),
//! hashes base files (`checksums`, on several threads with `pool`, showing `progress` on a
//! terminal) and prints reports (`report`). See `docs/architecture.md` for the map and the
//! invariants.
//!
//! Its API is the command itself ([`main`]); the few items below are public for the end-to-end
//! tests, which port Nova's unit tests of these very functions.

#![forbid(unsafe_code)]
#![warn(unreachable_pub)]

mod apply;
mod checksums;
mod cli;
mod clock;
mod demo;
mod dirs;
mod domains;
mod error;
mod exit;
mod inspect;
mod locks;
mod logging;
mod metrics;
mod pass;
mod pool;
mod progress;
mod register;
mod report;
mod scan;
mod settings;
mod show_config;
mod sources;
mod space;
mod survey;
mod verify;

pub use apply::{RemoveOutcome, remove_base_file};
pub use checksums::{ChecksumMode, ChecksumOutcome, ChecksumState, check};
pub use cli::main;
pub use scan::{Scan, ScanConfig, ScanError, ScannedFile, scan};
