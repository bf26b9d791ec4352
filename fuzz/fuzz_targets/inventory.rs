//! The inventory (`--inventory FILE`, in any of its shapes): `cachectl_sources::inventory::parse`
//! on any bytes.
//!
//! An error names a line that is in the input and is one line. The cache names built from a record that parses
//! (its image's fingerprint, its swap and ephemeral bases) classify as the kinds they are.

#![no_main]

use std::path::Path;

use cachectl_sources::inventory::{InventoryError, parse};
use cachectl_naming::{EntryKind, EphemeralFs, classify, ephemeral_name, fingerprint, swap_name};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse(Path::new("inventory.json"), data) {
        Ok(inventory) => {
            for instance in &inventory.instances {
                assert!(!instance.uuid.is_empty() && !instance.host.is_empty());
                for image in [
                    &instance.image_ref,
                    &instance.kernel_id,
                    &instance.ramdisk_id,
                ]
                .into_iter()
                .flatten()
                {
                    let fp = fingerprint(image);
                    assert_eq!(classify(fp.as_str()).kind(), EntryKind::Original);
                }
                if let Some(mb) = instance.swap_mb {
                    assert_eq!(classify(&swap_name(mb)).kind(), EntryKind::Swap);
                }
                if let Some(gb) = instance.ephemeral_gb {
                    let names =
                        ephemeral_name(gb, instance.os_type.as_deref(), &EphemeralFs::default());
                    assert!(!names.is_empty());
                    for name in names {
                        assert_eq!(classify(&name).kind(), EntryKind::Ephemeral, "{name:?}");
                    }
                }
            }
        }
        Err(err) => {
            let message = err.to_string();
            assert!(!message.contains('\n'), "{message}");
            if let InventoryError::Malformed { line, .. } = err {
                let lines = 1 + data.iter().filter(|&&b| b == b'\n').count();
                assert!(
                    (1..=lines).contains(&line),
                    "line {line} of {lines}: {message}"
                );
            }
        }
    }
});
