//! Option values converted as oslo.config's types convert them (`oslo_config/types.py`):
//! `Boolean`, `Integer`, `HostDomain`, a `String` with choices, and Nova's `virt_mkfs` entries.
//!
//! Each conversion takes the value after substitution and returns it typed, or what is wrong.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::syntax::is_space;

/// A boolean as `oslo_config.types.Boolean` reads it: `true`, `1`, `on`, `yes`, `false`, `0`,
/// `off` or `no`, in any case, with no white space around it.
pub(crate) fn boolean(text: &str) -> Result<bool, String> {
    const TRUE: [&str; 4] = ["true", "1", "on", "yes"];
    const FALSE: [&str; 4] = ["false", "0", "off", "no"];
    if TRUE.iter().any(|t| text.eq_ignore_ascii_case(t)) {
        Ok(true)
    } else if FALSE.iter().any(|f| text.eq_ignore_ascii_case(f)) {
        Ok(false)
    } else {
        Err("not a boolean (true/false, yes/no, on/off, 1/0)".to_owned())
    }
}

/// An integer as `oslo_config.types.Integer` reads it (Python's `int()`): white space around
/// it, a sign, decimal digits with single `_` between them (`1_000`), leading zeros; then at
/// least `min`. Python would also take digits of other scripts and any size; cachectl takes
/// ASCII digits within an `i64`. An empty value is None to oslo.config, which Nova cannot use
/// (its comparisons fail), so it is an error here.
pub(crate) fn integer(text: &str, min: Option<i64>) -> Result<i64, String> {
    let written = text.trim_matches(is_space);
    if written.is_empty() {
        return Err("empty: oslo.config reads it as None, which Nova cannot use".to_owned());
    }
    let (negative, magnitude) = match written.as_bytes()[0] {
        b'-' => (true, &written[1..]),
        b'+' => (false, &written[1..]),
        _ => (false, written),
    };
    let digits_ok = magnitude.starts_with(|c: char| c.is_ascii_digit())
        && magnitude.ends_with(|c: char| c.is_ascii_digit())
        && !magnitude.contains("__")
        && magnitude.bytes().all(|b| b.is_ascii_digit() || b == b'_');
    if !digits_ok {
        return Err("not an integer".to_owned());
    }
    let digits: String = magnitude.chars().filter(|&c| c != '_').collect();
    let value = format!("{}{digits}", if negative { "-" } else { "" })
        .parse::<i64>()
        .map_err(|_| "an integer too large for cachectl".to_owned())?;
    match min {
        Some(min) if value < min => Err(format!("less than {min}, the least Nova allows")),
        _ => Ok(value),
    }
}

/// A host as `oslo_config.types.HostDomain` reads it (`[DEFAULT] host`): an IPv4 or IPv6
/// address as it is, or a host name, without its trailing `.`, of at most 253 characters, whose
/// labels are 1 to 63 letters, digits, `-` or `_`, not starting or ending with `-`, and whose
/// last label is not all digits and `_`.
pub(crate) fn host_domain(text: &str) -> Result<String, String> {
    if text.parse::<Ipv4Addr>().is_ok() || text.parse::<Ipv6Addr>().is_ok() {
        return Ok(text.to_owned());
    }
    let invalid = || Err("not a valid host name or IP address".to_owned());
    if text.is_empty() || text.chars().count() > 253 {
        return invalid();
    }
    let name = text.strip_suffix('.').unwrap_or(text);
    let last = name.rsplit('.').next().unwrap_or_default();
    if !last.contains(|c: char| c.is_ascii_alphabetic() || c == '-') {
        return invalid();
    }
    // Python's case-insensitive `[A-Z]` also matches these four letters (İ ı ſ K).
    let label_char =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | 'İ' | 'ı' | 'ſ' | 'K');
    let label_ok = |label: &str| {
        (1..=63).contains(&label.chars().count())
            && label.chars().all(label_char)
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if name.split('.').all(label_ok) {
        Ok(name.to_owned())
    } else {
        invalid()
    }
}

/// `[libvirt] images_type`: how Nova's libvirt driver stores instance disks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImagesType {
    /// `raw`: raw files, copies of the cache's bases.
    Raw,
    /// `flat`: the same as `raw`.
    Flat,
    /// `qcow2`: qcow2 overlays on the cache's bases.
    Qcow2,
    /// `lvm`: logical volumes; no local file cache for root disks.
    Lvm,
    /// `rbd`: Ceph RBD volumes; no local file cache for root disks.
    Rbd,
    /// `ploop`: Virtuozzo ploop images.
    Ploop,
    /// `default`: qcow2 or raw, as `[DEFAULT] use_cow_images` says (Nova's default).
    Default,
}

impl ImagesType {
    /// Every value, in the order Nova 34 lists them.
    pub const ALL: [ImagesType; 7] = [
        ImagesType::Raw,
        ImagesType::Flat,
        ImagesType::Qcow2,
        ImagesType::Lvm,
        ImagesType::Rbd,
        ImagesType::Ploop,
        ImagesType::Default,
    ];

    /// The name nova.conf gives it.
    pub fn as_str(self) -> &'static str {
        match self {
            ImagesType::Raw => "raw",
            ImagesType::Flat => "flat",
            ImagesType::Qcow2 => "qcow2",
            ImagesType::Lvm => "lvm",
            ImagesType::Rbd => "rbd",
            ImagesType::Ploop => "ploop",
            ImagesType::Default => "default",
        }
    }

    /// The value of a name, exactly as written (oslo.config's choices are case-sensitive).
    pub fn parse(text: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == text)
            .ok_or_else(|| "not one of raw, flat, qcow2, lvm, rbd, ploop, default".to_owned())
    }
}

impl fmt::Display for ImagesType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `virt_mkfs` entry, `<os_type>=<mkfs command>`, split at its first `=` as Nova splits it
/// (`nova/virt/disk/api.py`; the command may hold `=` too). Without a `=`, nova-compute does not
/// start.
pub fn mkfs_entry(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(os_type, command)| (os_type.to_owned(), command.to_owned()))
        .ok_or_else(|| "not `<os_type>=<mkfs command>` (nova-compute does not start)".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_as_oslo_reads_them() {
        for text in ["true", "True", "YES", "on", "1"] {
            assert_eq!(boolean(text), Ok(true), "{text}");
        }
        for text in ["false", "FALSE", "No", "off", "0"] {
            assert_eq!(boolean(text), Ok(false), "{text}");
        }
        for text in ["", " true", "t", "2", "enabled", "truE!"] {
            assert!(boolean(text).is_err(), "{text}");
        }
    }

    #[test]
    fn integers_as_python_int_reads_them() {
        for (text, value) in [
            ("2400", 2400),
            ("-1", -1),
            ("+10", 10),
            (" 0012 ", 12),
            ("1_000", 1000),
            ("-0", 0),
            ("9223372036854775807", i64::MAX),
        ] {
            assert_eq!(integer(text, None), Ok(value), "{text}");
        }
        for text in [
            "x", "1.5", "0x10", "_1", "1_", "1__0", "+-1", "--1", "1 2", "- 1",
        ] {
            assert_eq!(
                integer(text, None),
                Err("not an integer".to_owned()),
                "{text}"
            );
        }
        assert!(integer("   ", None).is_err_and(|e| e.starts_with("empty")));
        assert!(integer("9223372036854775808", None).is_err_and(|e| e.contains("too large")));
        assert_eq!(integer("-1", Some(-1)), Ok(-1));
        assert!(integer("-2", Some(-1)).is_err_and(|e| e.starts_with("less than -1")));
    }

    #[test]
    fn hosts_as_oslo_host_domain_reads_them() {
        for (text, host) in [
            ("compute-1", "compute-1"),
            ("compute-1.example.com.", "compute-1.example.com"),
            ("UPPER_case", "UPPER_case"),
            ("1.2.3.4", "1.2.3.4"),
            ("::ffff:1.2.3.4", "::ffff:1.2.3.4"),
            ("fe80::1", "fe80::1"),
            ("ſtuff", "ſtuff"),
        ] {
            assert_eq!(host_domain(text), Ok(host.to_owned()), "{text}");
        }
        let long = "a".repeat(64);
        for text in [
            "",
            ".",
            "_",
            "123",
            "a.123",
            "01.2.3.4",
            "1.2.3.999",
            "a..b",
            "-a",
            "x.y-",
        ] {
            assert!(host_domain(text).is_err(), "{text}");
        }
        assert!(host_domain(&long).is_err());
        assert!(host_domain("my host").is_err());
    }

    #[test]
    fn images_types_are_nova_choices_as_written() {
        for t in ImagesType::ALL {
            assert_eq!(ImagesType::parse(t.as_str()), Ok(t));
        }
        assert!(ImagesType::parse("QCOW2").is_err());
        assert!(ImagesType::parse("").is_err());
    }

    #[test]
    fn mkfs_entries_split_at_the_first_equals() {
        assert_eq!(
            mkfs_entry("default=mkfs.ext4 -E lazy_itable_init=1 -L %(fs_label)s"),
            Ok((
                "default".to_owned(),
                "mkfs.ext4 -E lazy_itable_init=1 -L %(fs_label)s".to_owned()
            ))
        );
        assert_eq!(mkfs_entry("=x"), Ok((String::new(), "x".to_owned())));
        assert!(mkfs_entry("mkfs.ext4").is_err());
    }
}
