//! The names Nova gives the files of an instance directory.

use std::ffi::OsStr;

/// Whether `name` is one Nova gives an instance's disks: `disk`, `disk.local`, `disk.swap`,
/// `disk.eph<N>`, `disk.config`, `disk.rescue`, `kernel`, `ramdisk`, or one of these with
/// `.rescue` after it (the disks of a rescue boot). QEMU opens such a file as a disk, so a
/// header in it that cannot be read is a real doubt.
///
/// ```
/// use std::ffi::OsStr;
/// assert!(cachectl_naming::is_nova_disk_name(OsStr::new("disk.eph0")));
/// assert!(cachectl_naming::is_nova_disk_name(OsStr::new("kernel.rescue")));
/// assert!(!cachectl_naming::is_nova_disk_name(OsStr::new("console.log")));
/// ```
pub fn is_nova_disk_name(name: &OsStr) -> bool {
    let Some(name) = name.to_str() else {
        return false;
    };
    let name = name.strip_suffix(".rescue").unwrap_or(name);
    match name {
        "disk" | "disk.local" | "disk.swap" | "disk.config" | "disk.rescue" | "kernel"
        | "ramdisk" => true,
        _ => name
            .strip_prefix("disk.eph")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())),
    }
}

/// Whether `name` is the guest's serial console log that QEMU (or virtlogd) writes into an
/// instance directory, `console.log`, or one of virtlogd's rotations of it (`console.log.0`,
/// ...). Its bytes are the guest's to choose from the first one: it is never a disk.
///
/// ```
/// use std::ffi::OsStr;
/// assert!(cachectl_naming::is_console_log(OsStr::new("console.log.1")));
/// assert!(!cachectl_naming::is_console_log(OsStr::new("disk")));
/// ```
pub fn is_console_log(name: &OsStr) -> bool {
    let Some(name) = name.to_str() else {
        return false;
    };
    match name.strip_prefix("console.log") {
        Some("") => true,
        Some(rest) => rest
            .strip_prefix('.')
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nova_disk_names() {
        for name in [
            "disk",
            "disk.local",
            "disk.swap",
            "disk.eph0",
            "disk.eph12",
            "disk.config",
            "disk.rescue",
            "kernel",
            "ramdisk",
            "disk.local.rescue",
            "kernel.rescue",
            "ramdisk.rescue",
            "disk.config.rescue",
        ] {
            assert!(is_nova_disk_name(OsStr::new(name)), "{name}");
        }
        for name in [
            "console.log",
            "disk.info",
            "libvirt.xml",
            "disk.eph",
            "disk.ephx",
            "disk.local.bak",
            "Disk",
            "",
            "rescue",
        ] {
            assert!(!is_nova_disk_name(OsStr::new(name)), "{name}");
        }
    }

    #[test]
    fn console_logs() {
        for name in ["console.log", "console.log.0", "console.log.17"] {
            assert!(is_console_log(OsStr::new(name)), "{name}");
        }
        for name in ["console.log.", "console.log.x", "console.logs", "console"] {
            assert!(!is_console_log(OsStr::new(name)), "{name}");
        }
    }
}
