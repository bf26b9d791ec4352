//! The parsed files together, looked up as oslo.config's `_Namespace` looks values up.
//!
//! oslo.config (`cfg._Namespace._get_file_value`) goes through the files from the last one
//! read to the first, and in each file through the option's names, the current one first, then
//! the deprecated ones. The first file that sets any of them decides; in it, the current name
//! wins over a deprecated one, and the last value of that name wins. So a deprecated name in a
//! later file beats the current name in an earlier one. A multi-valued option takes every value
//! of every file, in the order read.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::syntax::Entry;

/// One file read, with its assignments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedFile {
    /// The file.
    pub path: PathBuf,
    /// Its assignments, in order.
    pub entries: Vec<Entry>,
}

/// Where an assignment is: `(file, entry)` indexes.
type Position = (usize, usize);

/// group -> key -> positions, in the order read.
type Index<'a> = HashMap<String, HashMap<&'a str, Vec<Position>>>;

/// Every assignment of the files, by group (normalised as oslo.config does) and key.
pub(crate) struct Store<'a> {
    files: &'a [ParsedFile],
    index: Index<'a>,
}

/// An assignment found, with its file.
pub(crate) struct Found<'a> {
    pub(crate) path: &'a Path,
    pub(crate) entry: &'a Entry,
}

impl<'a> Store<'a> {
    pub(crate) fn new(files: &'a [ParsedFile]) -> Self {
        let mut index = Index::new();
        for (f, file) in files.iter().enumerate() {
            for (e, entry) in file.entries.iter().enumerate() {
                index
                    .entry(entry.group())
                    .or_default()
                    .entry(entry.key.as_str())
                    .or_default()
                    .push((f, e));
            }
        }
        Store { files, index }
    }

    fn positions(&self, group: &str, key: &str) -> &[Position] {
        self.index
            .get(group)
            .and_then(|keys| keys.get(key))
            .map_or(&[], Vec::as_slice)
    }

    fn found(&self, (f, e): Position) -> Option<Found<'a>> {
        let file = self.files.get(f)?;
        Some(Found {
            path: &file.path,
            entry: file.entries.get(e)?,
        })
    }

    /// Whether a file has a section of `group`.
    pub(crate) fn has_group(&self, group: &str) -> bool {
        self.index.contains_key(group)
    }

    /// Whether a file sets `key` in `group`.
    pub(crate) fn has(&self, group: &str, key: &str) -> bool {
        !self.positions(group, key).is_empty()
    }

    /// The value of a single-valued option known by `names` (`(group, key)`, the current name
    /// first): the last value of the first name set in the last file that sets any.
    pub(crate) fn latest(&self, names: &[(&str, &str)]) -> Option<Found<'a>> {
        let mut best: Option<Position> = None;
        for (group, key) in names {
            if let Some(&(f, e)) = self.positions(group, key).last()
                && best.is_none_or(|(best_file, _)| f > best_file)
            {
                best = Some((f, e));
            }
        }
        self.found(best?)
    }

    /// Every value of a multi-valued option, in the order read.
    pub(crate) fn all(&self, group: &str, key: &str) -> Vec<Found<'a>> {
        self.positions(group, key)
            .iter()
            .filter_map(|&at| self.found(at))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nova_conf::syntax::parse;

    fn files(texts: &[&str]) -> Vec<ParsedFile> {
        texts
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let path = PathBuf::from(format!("f{i}.conf"));
                let entries = parse(&path, text.as_bytes()).expect("a valid file");
                ParsedFile { path, entries }
            })
            .collect()
    }

    fn latest(files: &[ParsedFile], names: &[(&str, &str)]) -> Option<(String, usize)> {
        let store = Store::new(files);
        let found = store.latest(names)?;
        Some((
            format!("{}:{}", found.path.display(), found.entry.value),
            found.entry.line,
        ))
    }

    const NAMES: [(&str, &str); 2] = [
        ("image_cache", "manager_interval"),
        ("DEFAULT", "image_cache_manager_interval"),
    ];

    #[test]
    fn in_one_file_the_current_name_wins_and_its_last_value() {
        let files = files(&[
            "[image_cache]\nmanager_interval = 1\nmanager_interval = 2\n\
             [DEFAULT]\nimage_cache_manager_interval = 3\n",
        ]);
        assert_eq!(latest(&files, &NAMES), Some(("f0.conf:2".into(), 3)));
    }

    #[test]
    fn a_later_file_wins_even_with_a_deprecated_name() {
        let files = files(&[
            "[image_cache]\nmanager_interval = 1\n",
            "[DEFAULT]\nimage_cache_manager_interval = 7\n",
            "[libvirt]\nimages_type = rbd\n",
        ]);
        assert_eq!(latest(&files, &NAMES), Some(("f1.conf:7".into(), 2)));
        assert_eq!(
            latest(&files, &[("libvirt", "images_type")]),
            Some(("f2.conf:rbd".into(), 2))
        );
        assert_eq!(latest(&files, &[("libvirt", "nothing")]), None);
    }

    #[test]
    fn sections_merge_by_group_and_multi_values_keep_every_file() {
        let files = files(&[
            "[IMAGE_CACHE]\nmanager_interval = 1\n[DEFAULT]\nvirt_mkfs = a=1\nvirt_mkfs = b=2\n",
            "[Image_Cache]\nmanager_interval = 5\n[DEFAULT]\nvirt_mkfs = c=3\n[default]\nvirt_mkfs = d=4\n",
        ]);
        assert_eq!(latest(&files, &NAMES), Some(("f1.conf:5".into(), 2)));
        let store = Store::new(&files);
        let mkfs: Vec<&str> = store
            .all("DEFAULT", "virt_mkfs")
            .iter()
            .map(|found| found.entry.value.as_str())
            .collect();
        assert_eq!(mkfs, ["a=1", "b=2", "c=3"]);
        assert!(store.has_group("default") && store.has_group("image_cache"));
        assert!(!store.has_group("IMAGE_CACHE"));
        assert!(store.has("default", "virt_mkfs") && !store.has("DEFAULT", "host"));
    }
}
