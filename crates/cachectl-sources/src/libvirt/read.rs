//! Reading domain XML files: one the operator names, or every one of a directory.

use std::ffi::OsStr;
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

/// Every domain of the directory `dir` (`/etc/libvirt/qemu`, `/run/libvirt/qemu`): each entry
/// named `*.xml` that is not a directory, in the order of their names, with the errors of those
/// that cannot be read or parsed (a file that does not parse stops nothing). A directory that
/// does not exist holds no domain.
///
/// Entries are read through [`cachectl_fs::Dir::read_small`]: a symlink, FIFO, device or file
/// with other hard links is refused (an error in the list), never followed or waited on.
pub fn read_domains(dir: &Path) -> (Vec<(PathBuf, Domain)>, Vec<DomainError>) {
    let read_error = |path: &Path, source| DomainError::Read {
        path: path.to_owned(),
        source,
    };
    let entries = match Dir::open(dir).and_then(|opened| Ok((opened.entries()?, opened))) {
        Ok(listed) => listed,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return (Vec::new(), Vec::new()),
        Err(err) => return (Vec::new(), vec![read_error(dir, err)]),
    };
    let (names, opened) = entries;
    let mut domains = Vec::new();
    let mut errors = Vec::new();
    for (name, kind) in names {
        if kind == Kind::Directory || !is_xml(&name) {
            continue;
        }
        let path = opened.join(&name);
        match opened.read_small(&name, MAX_DOMAIN_LEN) {
            // Gone since the listing: no longer a domain.
            Ok(None) => {}
            Ok(Some(bytes)) => match parse_domain(&path, &bytes) {
                Ok(domain) => domains.push((path, domain)),
                Err(err) => errors.push(err),
            },
            Err(err) => errors.push(read_error(&path, err)),
        }
    }
    (domains, errors)
}

/// Whether a directory entry is named `<something>.xml`.
fn is_xml(name: &OsStr) -> bool {
    let name = name.as_bytes();
    name.len() > ".xml".len() && name.ends_with(b".xml")
}
