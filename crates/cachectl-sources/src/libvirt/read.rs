//! Reading domain XML files: one the operator names, or every one of a directory.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use cachectl_fs::{Dir, Kind};

use super::domain::Domain;
use super::error::{DomainError, MAX_DOMAIN_LEN};
use super::parse::parse_domain;

/// Reads the domain XML at `path` (`-`: standard input), given with `--libvirt-xml`: bounded to
/// [`MAX_DOMAIN_LEN`], and a FIFO nobody writes to is given up after a while (see
/// [`crate::input`]).
pub fn load_domain(path: &Path) -> Result<Domain, DomainError> {
    let bytes =
        crate::input::read_input(path, MAX_DOMAIN_LEN).map_err(|source| DomainError::Read {
            path: path.to_owned(),
            source,
        })?;
    parse_domain(path, &bytes)
}

/// The domain files of the directory `dir` (`/etc/libvirt/qemu`, `/run/libvirt/qemu`): its
/// entries named `*.xml` that are not directories, in the order of their names, with the
/// directory opened to read them ([`read_listed`]). `None` when the directory does not exist.
pub fn list_domains(dir: &Path) -> io::Result<Option<(Dir, Vec<OsString>)>> {
    let opened = match Dir::open(dir) {
        Ok(opened) => opened,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err),
    };
    let names = opened
        .entries()?
        .into_iter()
        .filter(|(name, kind)| *kind != Kind::Directory && is_xml(name))
        .map(|(name, _)| name)
        .collect();
    Ok(Some((opened, names)))
}

/// Reads the domain file `name` of `dir`, as [`list_domains`] listed it, through
/// [`cachectl_fs::Dir::read_small`]: a symlink, FIFO, device or file with other hard links is
/// refused, never followed or waited on. `None` when it is gone since the listing.
pub fn read_listed(dir: &Dir, name: &OsStr) -> Result<Option<Domain>, DomainError> {
    let path = dir.join(name);
    match dir.read_small(name, MAX_DOMAIN_LEN) {
        Ok(None) => Ok(None),
        Ok(Some(bytes)) => parse_domain(&path, &bytes).map(Some),
        Err(source) => Err(DomainError::Read { path, source }),
    }
}

/// Every domain of the directory `dir`, in the order of their names, with the errors of those
/// that cannot be read or parsed (a file that does not parse stops nothing). A directory that
/// does not exist holds no domain.
pub fn read_domains(dir: &Path) -> (Vec<(PathBuf, Domain)>, Vec<DomainError>) {
    let (opened, names) = match list_domains(dir) {
        Ok(Some(listed)) => listed,
        Ok(None) => return (Vec::new(), Vec::new()),
        Err(source) => {
            let path = dir.to_owned();
            return (Vec::new(), vec![DomainError::Read { path, source }]);
        }
    };
    let mut domains = Vec::new();
    let mut errors = Vec::new();
    for name in names {
        match read_listed(&opened, &name) {
            Ok(Some(domain)) => domains.push((opened.join(&name), domain)),
            // Gone since the listing: no longer a domain.
            Ok(None) => {}
            Err(err) => errors.push(err),
        }
    }
    (domains, errors)
}

/// Whether a directory entry is named `<something>.xml`.
fn is_xml(name: &OsStr) -> bool {
    let name = name.as_bytes();
    name.len() > ".xml".len() && name.ends_with(b".xml")
}
