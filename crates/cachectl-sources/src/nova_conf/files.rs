//! Which nova.conf files to read, in which order, and reading them (bounded, never stuck on a
//! FIFO), as oslo.config does for `--config-file` and `--config-dir`.
//!
//! oslo.config (`ConfigOpts._parse_config_files`) reads, in this order: the default files when
//! no `--config-file` is given, the default dirs when no `--config-dir` is given, then the
//! options of the command line in their order. Defaults that do not exist are skipped; a file or
//! dir named explicitly that does not exist is an error. A dir gives its `*.conf` entries (not
//! those whose name starts with `.`, as Python's `glob`), sorted as Python sorts their names.
//! Later files win.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};

use super::error::ConfigError;
use super::store::ParsedFile;
use super::syntax::parse;
use crate::input::read_input;

/// The files nova-compute reads by default (oslo.config's `find_config_files` for project
/// `nova` and program `nova-compute`, in `/etc/nova`): those that exist, in this order.
pub const DEFAULT_FILES: [&str; 2] = ["/etc/nova/nova.conf", "/etc/nova/nova-compute.conf"];

/// The config dirs nova-compute reads by default (`find_config_dirs`): those that exist.
pub const DEFAULT_DIRS: [&str; 2] = ["/etc/nova/nova.conf.d", "/etc/nova/nova-compute.conf.d"];

/// The largest file read (nova.conf files are a few hundred KiB at most, comments included).
pub const MAX_CONF_LEN: u64 = 1 << 20;

/// A place to read configuration from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A file (`--config-file`).
    File(PathBuf),
    /// A directory whose `*.conf` files are read in sorted order (`--config-dir`).
    Dir(PathBuf),
}

/// What to read, in order; later files win.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFiles {
    /// The files and dirs, in the order read.
    pub sources: Vec<Source>,
}

impl ConfigFiles {
    /// What nova-compute reads when given no option: the [`DEFAULT_FILES`] then the `*.conf` of
    /// the [`DEFAULT_DIRS`], those of them that exist.
    pub fn defaults() -> Self {
        Self::from_args(&[], &[])
    }

    /// What nova-compute reads when given `--config-file FILE...` and `--config-dir DIR...`
    /// (the files before the dirs; oslo.config reads the two in the order of the command line):
    /// as oslo.config combines them with its defaults, the default files (those that exist)
    /// first when no FILE is given, then the default dirs (those that exist) when no DIR is
    /// given, then the FILEs, then the DIRs.
    pub fn from_args(files: &[PathBuf], dirs: &[PathBuf]) -> Self {
        let default_files = DEFAULT_FILES.map(Path::new);
        let default_dirs = DEFAULT_DIRS.map(Path::new);
        Self::with_defaults(files, dirs, &default_files, &default_dirs)
    }

    fn with_defaults(
        files: &[PathBuf],
        dirs: &[PathBuf],
        default_files: &[&Path],
        default_dirs: &[&Path],
    ) -> Self {
        let mut sources = Vec::new();
        if files.is_empty() {
            let found = default_files.iter().filter(|file| file.exists());
            sources.extend(found.map(|file| Source::File(file.to_path_buf())));
        }
        if dirs.is_empty() {
            let found = default_dirs.iter().filter(|dir| dir.exists());
            sources.extend(found.map(|dir| Source::Dir(dir.to_path_buf())));
        }
        sources.extend(files.iter().cloned().map(Source::File));
        sources.extend(dirs.iter().cloned().map(Source::Dir));
        ConfigFiles { sources }
    }

    /// The files to read, in order: each file, and the `*.conf` files of each dir.
    pub fn paths(&self) -> Result<Vec<PathBuf>, ConfigError> {
        let mut paths = Vec::new();
        for source in &self.sources {
            match source {
                Source::File(path) => paths.push(path.clone()),
                Source::Dir(dir) => paths.extend(conf_files_in(dir)?),
            }
        }
        Ok(paths)
    }

    /// Reads and parses every file, in order.
    pub fn read(&self) -> Result<Vec<ParsedFile>, ConfigError> {
        self.paths()?.into_iter().map(read_file).collect()
    }
}

/// The `*.conf` entries of `dir` not starting with `.`, in Python's order of their names.
fn conf_files_in(dir: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    let list_error = |source| ConfigError::ReadDir {
        path: dir.to_owned(),
        source,
    };
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(list_error)? {
        let name = entry.map_err(list_error)?.file_name();
        let bytes = name.as_encoded_bytes();
        if bytes.ends_with(b".conf") && !bytes.starts_with(b".") {
            names.push(name);
        }
    }
    names.sort_by_cached_key(|name| python_order(name));
    Ok(names.into_iter().map(|name| dir.join(name)).collect())
}

/// A name as Python compares it: its code points, a byte that is not UTF-8 as the surrogate
/// Python decodes it to (`U+DC80`...`U+DCFF`).
fn python_order(name: &OsStr) -> Vec<u32> {
    let mut key = Vec::with_capacity(name.len());
    for chunk in name.as_encoded_bytes().utf8_chunks() {
        key.extend(chunk.valid().chars().map(u32::from));
        key.extend(chunk.invalid().iter().map(|&b| 0xdc00 + u32::from(b)));
    }
    key
}

/// Reads and parses one file (a file named `-` is that file, not standard input).
fn read_file(path: PathBuf) -> Result<ParsedFile, ConfigError> {
    let at = if path == Path::new("-") {
        Path::new("./-")
    } else {
        &path
    };
    let bytes = read_input(at, MAX_CONF_LEN).map_err(|source| ConfigError::Read {
        path: path.clone(),
        source,
    })?;
    let entries = parse(&path, &bytes)?;
    Ok(ParsedFile { path, entries })
}

#[cfg(test)]
mod tests {
    use std::os::unix::ffi::OsStrExt;

    use super::*;

    #[test]
    fn defaults_apply_for_the_kind_not_given_and_only_when_they_exist() -> std::io::Result<()> {
        let temp = tempfile::tempdir()?;
        let file = temp.path().join("nova.conf");
        let compute = temp.path().join("nova-compute.conf");
        let dir = temp.path().join("nova.conf.d");
        let given = |files: &[&str], dirs: &[&str]| {
            let files: Vec<PathBuf> = files.iter().map(PathBuf::from).collect();
            let dirs: Vec<PathBuf> = dirs.iter().map(PathBuf::from).collect();
            let defaults = [file.as_path(), compute.as_path()];
            ConfigFiles::with_defaults(&files, &dirs, &defaults, &[dir.as_path()]).sources
        };
        assert_eq!(given(&[], &[]), []);
        assert_eq!(given(&["a.conf"], &[]), [Source::File("a.conf".into())]);
        fs::write(&file, "")?;
        fs::create_dir(&dir)?;
        assert_eq!(
            given(&[], &[]),
            [Source::File(file.clone()), Source::Dir(dir.clone())]
        );
        // A default dir is read before the files given, as oslo.config reads it.
        assert_eq!(
            given(&["a.conf", "b.conf"], &[]),
            [
                Source::Dir(dir.clone()),
                Source::File("a.conf".into()),
                Source::File("b.conf".into())
            ]
        );
        assert_eq!(
            given(&[], &["d"]),
            [Source::File(file.clone()), Source::Dir("d".into())]
        );
        assert_eq!(
            given(&["a.conf"], &["d"]),
            [Source::File("a.conf".into()), Source::Dir("d".into())]
        );
        // nova-compute's own file (Debian's and Ubuntu's packages ship one) comes second.
        fs::write(&compute, "")?;
        assert_eq!(
            given(&[], &["d"]),
            [
                Source::File(file.clone()),
                Source::File(compute.clone()),
                Source::Dir("d".into())
            ]
        );
        Ok(())
    }

    #[test]
    fn a_dir_gives_its_conf_files_in_python_order() -> std::io::Result<()> {
        let temp = tempfile::tempdir()?;
        let d = temp.path();
        for name in [
            "10-b.conf",
            "2-a.conf",
            "01-z.conf",
            "B.conf",
            "a.conf",
            "é.conf",
        ] {
            fs::write(d.join(name), "")?;
        }
        for ignored in [".hidden.conf", "x.conf~", "x.CONF", "x.conf.bak", "README"] {
            fs::write(d.join(ignored), "")?;
        }
        fs::write(d.join(OsStr::from_bytes(b"\xff.conf")), "")?;
        fs::write(d.join("\u{4e2d}.conf"), "")?;
        let names: Vec<String> = conf_files_in(d)
            .map_err(std::io::Error::other)?
            .iter()
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        assert_eq!(
            names,
            [
                "01-z.conf",
                "10-b.conf",
                "2-a.conf",
                "B.conf",
                "a.conf",
                "é.conf",
                "\u{4e2d}.conf",
                "\u{fffd}.conf"
            ]
        );
        Ok(())
    }

    #[test]
    fn missing_files_and_dirs_given_are_errors_naming_them() -> std::io::Result<()> {
        let temp = tempfile::tempdir()?;
        let missing = temp.path().join("missing.conf");
        let files = ConfigFiles {
            sources: vec![Source::File(missing.clone())],
        };
        let err = files.read().expect_err("a missing file").to_string();
        assert!(err.starts_with(&format!(
            "cannot read the config file {}: ",
            missing.display()
        )));
        let files = ConfigFiles {
            sources: vec![Source::Dir(temp.path().join("missing.d"))],
        };
        let err = files.read().expect_err("a missing dir").to_string();
        assert!(err.starts_with("cannot list the config dir "), "{err}");
        Ok(())
    }

    #[test]
    fn files_are_bounded_and_a_directory_named_conf_is_an_error() -> std::io::Result<()> {
        let temp = tempfile::tempdir()?;
        let big = temp.path().join("big.conf");
        fs::write(&big, vec![b'#'; (MAX_CONF_LEN + 1) as usize])?;
        let err = read_file(big).expect_err("too large").to_string();
        assert!(err.ends_with(": larger than 1 MiB"), "{err}");
        let dir = temp.path().join("nova.conf.d");
        fs::create_dir_all(dir.join("sub.conf"))?;
        let files = ConfigFiles {
            sources: vec![Source::Dir(dir)],
        };
        let err = files.read().expect_err("a directory").to_string();
        assert!(err.contains("is a directory"), "{err}");
        Ok(())
    }
}
