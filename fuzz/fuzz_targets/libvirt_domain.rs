//! libvirt's domain XML: `cachectl_sources::libvirt::parse_domain` on any bytes.
//!
//! An error names a line that is in the input. In a domain that parses, every disk and backing
//! store says what it is (`described` is never empty), a file one has its file exactly when it
//! is a `file` with a source (else it reads `no source`), and the instance record made from
//! Nova's metadata has the domain's uuid and name, the root image and the flavor's swap and
//! ephemeral sizes, and exists exactly when the domain has metadata, a uuid and a name. A
//! `<domain>` reads the same inside libvirt's status XML (`<domstatus>`).

#![no_main]

use std::path::Path;

use cachectl_sources::libvirt::{DiskKind, Domain, DomainError, Root, parse_domain};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse_domain(Path::new("domain.xml"), data) {
        Ok(domain) => {
            check_disks(&domain);
            check_instance(&domain);
            // The same <domain> in libvirt's status XML reads the same.
            if data.starts_with(b"<domain") {
                let mut status = b"<domstatus state='running'>".to_vec();
                status.extend_from_slice(data);
                status.extend_from_slice(b"</domstatus>");
                let again = parse_domain(Path::new("status.xml"), &status);
                assert_eq!(again.ok().as_ref(), Some(&domain));
            }
        }
        Err(DomainError::Malformed { line, column, .. }) => {
            let lines = 1 + data.iter().filter(|&&b| b == b'\n').count();
            assert!((1..=lines).contains(&line), "line {line} of {lines}");
            assert!(column >= 1);
        }
        Err(DomainError::TooLarge { len, .. }) => assert!(len > 4 << 20),
        Err(err) => panic!("parse_domain read nothing, yet: {err}"),
    }
});

/// What each disk and backing store says it is.
fn check_disks(domain: &Domain) {
    for disk in &domain.disks {
        check_store(&disk.kind, disk.source.as_deref(), &disk.described);
        for store in &disk.backing.stores {
            check_store(&store.kind, store.source.as_deref(), &store.described);
        }
    }
}

fn check_store(kind: &DiskKind, source: Option<&Path>, described: &str) {
    assert!(!described.is_empty());
    match source {
        Some(file) => {
            assert_eq!(kind, &DiskKind::File);
            assert!(!file.as_os_str().is_empty());
            assert_eq!(file.to_str(), Some(described));
        }
        None if kind == &DiskKind::File => assert_eq!(described, "no source"),
        None => {}
    }
}

/// The instance record made from the domain.
fn check_instance(domain: &Domain) {
    let instance = domain.instance("compute-fuzz");
    let Some(nova) = &domain.nova else {
        assert!(instance.is_none());
        return;
    };
    let (Some(uuid), Some(name)) = (&domain.uuid, &domain.name) else {
        assert!(instance.is_none());
        return;
    };
    let instance = instance.expect("Nova's metadata, a uuid and a name make an instance");
    assert_eq!(
        (instance.uuid.as_str(), instance.name.as_str()),
        (uuid.as_str(), name.as_str())
    );
    assert_eq!(instance.host, "compute-fuzz");
    let image = match &nova.root {
        Some(Root::Image(image)) => Some(image.as_str()),
        _ => None,
    };
    assert_eq!(instance.image_ref.as_deref(), image);
    let flavor = nova.flavor.as_ref();
    assert_eq!(instance.swap_mb, flavor.and_then(|f| f.swap_mb));
    assert_eq!(instance.ephemeral_gb, flavor.and_then(|f| f.ephemeral_gb));
    assert_eq!((instance.task_state, instance.vm_state), (None, None));
}
