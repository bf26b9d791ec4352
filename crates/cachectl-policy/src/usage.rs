//! Which images the instance records use, and which cache files are copies of an image.

use std::collections::BTreeMap;

use cachectl_naming::{EntryKind, classify};

use crate::facts::Instance;

/// How the counted instance records use one image id (the names borrowed from the records).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageUsage<'a> {
    /// Instances on this host.
    pub local: usize,
    /// Instances on other hosts sharing the storage.
    pub remote: usize,
    /// The instances, as `(name, host)`, in record order.
    pub instances: Vec<(&'a str, &'a str)>,
}

impl ImageUsage<'_> {
    /// How many instances use the image (Nova's `image_popularity`).
    pub fn popularity(&self) -> usize {
        self.local + self.remote
    }
}

/// Per image id (`image_ref`, `kernel_id`, `ramdisk_id`), how the records use it; `host` is this
/// host. An instance counts once per image key that names the image, as in Nova.
pub fn image_usage<'a>(
    records: impl IntoIterator<Item = &'a Instance>,
    host: &str,
) -> BTreeMap<&'a str, ImageUsage<'a>> {
    let mut usage: BTreeMap<&'a str, ImageUsage<'a>> = BTreeMap::new();
    for record in records {
        for image_id in [&record.image_ref, &record.kernel_id, &record.ramdisk_id]
            .into_iter()
            .flatten()
        {
            if image_id.is_empty() {
                continue;
            }
            let entry = usage.entry(image_id.as_str()).or_default();
            if record.host == host {
                entry.local += 1;
            } else {
                entry.remote += 1;
            }
            entry
                .instances
                .push((record.name.as_str(), record.host.as_str()));
        }
    }
    usage
}

/// The cache files among `names` that are copies of the image with `fingerprint`, as Nova's
/// `_find_base_file` yields them: the original, then the small copy, then resized copies in the
/// order given.
pub fn files_for_fingerprint<'a>(
    names: impl IntoIterator<Item = &'a str>,
    fingerprint: &str,
) -> Vec<(&'a str, EntryKind)> {
    let mut found: Vec<(&str, EntryKind)> = names
        .into_iter()
        .filter_map(|name| {
            let entry = classify(name);
            (entry.fingerprint() == Some(fingerprint)).then(|| (name, entry.kind()))
        })
        .collect();
    let rank = |kind: &EntryKind| match kind {
        EntryKind::Original => 0,
        EntryKind::LegacySmall => 1,
        _ => 2,
    };
    found.sort_by_key(|(_, kind)| rank(kind));
    found
}
