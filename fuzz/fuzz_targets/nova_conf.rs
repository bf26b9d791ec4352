//! nova.conf (`--config-file`): `cachectl_sources::nova_conf::{parse, NovaConf::from_parsed}` on any bytes.
//!
//! The bytes are up to three files, split at NUL bytes, read in that order. A parse error names
//! a line that is in its file; what parses prints back (`render`) as a file that parses to the
//! same entries; resolving the files never panics (loops and growing substitutions are bounded),
//! an error names a line of one of the files (or a default), and every setting that comes from
//! a file names a line of it.

#![no_main]

use std::path::{Path, PathBuf};

use cachectl_sources::nova_conf::{
    ConfigError, Defaults, Entry, NovaConf, ParsedFile, Provenance, parse, render,
};
use libfuzzer_sys::fuzz_target;

/// The lines of `bytes` as Python counts them (`\n`, `\r\n` and `\r` end a line).
fn python_lines(bytes: &[u8]) -> usize {
    let breaks = bytes
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n')))
        .count();
    1 + breaks
}

fn without_lines(entries: &[Entry]) -> Vec<(&str, &str, &str)> {
    entries
        .iter()
        .map(|e| (e.section.as_str(), e.key.as_str(), e.value.as_str()))
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let mut files = Vec::new();
    let mut lines = Vec::new();
    for (i, bytes) in data.splitn(3, |&b| b == 0).enumerate() {
        let path = PathBuf::from(format!("f{i}.conf"));
        let count = python_lines(bytes);
        let entries = match parse(&path, bytes) {
            Ok(entries) => entries,
            Err(ConfigError::Malformed { path: named, line, .. }) => {
                assert_eq!(named, path);
                assert!((1..=count).contains(&line), "line {line} of {count}");
                return;
            }
            Err(err) => panic!("parse: {err}"),
        };
        for entry in &entries {
            assert!((1..=count).contains(&entry.line));
            assert!(!entry.key.is_empty() && !entry.section.is_empty());
        }
        let printed = render(&entries);
        let again = parse(&path, printed.as_bytes()).expect("what parses prints back");
        assert_eq!(without_lines(&again), without_lines(&entries), "{printed:?}");
        files.push(ParsedFile { path, entries });
        lines.push(count);
    }
    let in_files = |from: &Provenance| match from {
        Provenance::File { path, line } => files
            .iter()
            .zip(&lines)
            .any(|(file, count)| file.path == *path && (1..=*count).contains(line)),
        Provenance::Default => true,
    };
    let defaults = Defaults {
        host: "compute-1".to_owned(),
        my_ip: Some("192.0.2.7".to_owned()),
    };
    match NovaConf::from_parsed(&files, &defaults) {
        Ok(conf) => {
            assert!(conf.manager_interval.value >= -1);
            for from in [
                &conf.state_path.from,
                &conf.instances_path.from,
                &conf.host.from,
                &conf.subdirectory_name.from,
                &conf.remove_unused_base_images.from,
                &conf.original_minimum_age.from,
                &conf.resized_minimum_age.from,
                &conf.manager_interval.from,
                &conf.images_type.from,
            ] {
                assert!(in_files(from), "{from:?}");
            }
            assert!(conf.virt_mkfs.iter().all(|s| in_files(&s.from)));
            assert!(!conf.host.value.is_empty());
            assert_eq!(conf.files_read.len(), files.len());
            let _ = conf.mkfs_commands();
            let _ = Path::new(&conf.instances_path.value);
        }
        Err(ConfigError::BadValue { from, .. } | ConfigError::Substitution { from, .. }) => {
            assert!(in_files(&from), "{from:?}");
        }
        Err(err) => panic!("from_parsed: {err}"),
    }
});
