//! What a pass reads besides the cache, turned into the policy's facts and the report's
//! warnings: the inventory, the acknowledgements of unreadable files and the libvirt domain
//! files given; and the instance records of the inventory and of libvirt's domains together.

use std::collections::HashSet;
use std::path::Path;

use cachectl_naming::quote;
use cachectl_policy::{Acknowledged, Instance};
use cachectl_sources::ack;
use cachectl_sources::inventory::{self, Inventory};

use crate::domains::{Domains, LibvirtConfig, LibvirtSource};
use crate::error::PassError;
use crate::report::{WarningCode, WarningEntry};

/// The outside sources of one pass.
pub(crate) struct Sources {
    /// The instance records, when an inventory was given.
    pub instances: Option<Vec<Instance>>,
    /// The unreadable files an operator has looked at.
    pub acknowledged: Vec<Acknowledged>,
    /// libvirt's domains: the files given, read; the directories, to read at each scan.
    pub libvirt: LibvirtSource,
    /// What the operator should know about them.
    pub warnings: Vec<WarningEntry>,
}

/// Reads `--inventory`, `--ack-unreadable` and `--libvirt-xml`: any error stops the pass before
/// it looks at the cache.
pub(crate) fn read_sources(
    inventory_path: Option<&Path>,
    ack_path: Option<&Path>,
    libvirt: &LibvirtConfig,
) -> Result<Sources, PassError> {
    let mut warnings = Vec::new();
    let instances = match inventory_path {
        Some(path) => {
            let inventory = inventory::load(path)?;
            warnings.extend(incomplete_inventory(path, &inventory));
            Some(inventory.instances)
        }
        None => None,
    };
    let acknowledged = ack_path.map(ack::load).transpose()?.unwrap_or_default();
    Ok(Sources {
        instances,
        acknowledged,
        libvirt: LibvirtSource::open(libvirt)?,
        warnings,
    })
}

/// The instance records of a pass: the inventory's and, for the instances it does not name,
/// those Nova's metadata in libvirt's domains makes (this host's). Also whether they are this
/// host's alone (domains, no inventory).
pub(crate) fn instance_records(
    inventory: Option<Vec<Instance>>,
    domains: &Domains,
    host: &str,
) -> (Option<Vec<Instance>>, bool) {
    if !domains.read {
        return (inventory, false);
    }
    let from_domains = domains.records(host);
    match inventory {
        Some(mut records) => {
            let named: HashSet<&str> = records.iter().map(|r| r.uuid.as_str()).collect();
            let added: Vec<Instance> = from_domains
                .into_iter()
                .filter(|r| !named.contains(r.uuid.as_str()))
                .collect();
            records.extend(added);
            (Some(records), false)
        }
        None => (Some(from_domains), true),
    }
}

/// The warning for an inventory in a shape that lacks fields the cache uses.
fn incomplete_inventory(path: &Path, inventory: &Inventory) -> Option<WarningEntry> {
    if inventory.on_no_host > 0 {
        tracing::info!(
            "{}: {} servers are on no host (never scheduled) and use nothing here",
            quote(path),
            inventory.on_no_host
        );
    }
    let lacks = inventory.shape.lacks();
    if lacks.is_empty() {
        return None;
    }
    for lack in lacks {
        tracing::info!("{} lacks {}: {}", quote(path), lack.field, lack.cost);
    }
    Some(WarningEntry::new(
        WarningCode::InventoryIncomplete,
        format_args!(
            "the inventory {} is `{}` output, which has no instance names, flavor sizes, kernel \
             or ramdisk ids: swap, ephemeral, kernel and ramdisk bases no disk uses age as \
             unused (see README, \"Nova's API as an inventory\"; GET /servers/detail has them)",
            quote(path),
            inventory.shape.as_str(),
        ),
    ))
}
