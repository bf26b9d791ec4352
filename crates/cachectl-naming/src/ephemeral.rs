//! Names of the blank swap and formatted ephemeral bases Nova creates in the cache.

use md5::{Digest, Md5};

/// The filesystem configuration that decides ephemeral base names, as in nova.conf.
#[derive(Debug, Clone, Copy, Default)]
pub struct EphemeralFs<'a> {
    /// `[DEFAULT] default_ephemeral_format`, if set.
    pub default_ephemeral_format: Option<&'a str>,
    /// `[DEFAULT] virt_mkfs` entries as `(os_type, command)`; `default` applies to every OS type.
    pub mkfs_commands: &'a [(&'a str, &'a str)],
}

/// `swap_<MB>`: the name of a blank swap base of `size_mb` megabytes.
pub fn swap_name(size_mb: u64) -> String {
    format!("swap_{size_mb}")
}

/// `ephemeral_<GB>_<7 hex>` names an ephemeral base of `size_gb` for an instance of `os_type` may have.
///
/// The first name is the one modern Nova gives (its driver and its cache manager agree on it: the md5
/// of the mkfs command configured for the OS type, else of the `default` command, else of
/// `default_ephemeral_format`, else of `vfat`). Older releases hashed the filesystem Nova would make
/// for the OS type (`ext4` for linux, `ntfs` for windows); that name follows when it differs, so a
/// caller that keeps every name of a used ephemeral disk keeps bases made by either.
pub fn ephemeral_name(size_gb: u64, os_type: Option<&str>, fs: &EphemeralFs<'_>) -> Vec<String> {
    let mut names = vec![format!(
        "ephemeral_{size_gb}_{}",
        ephemeral_suffix(os_type, fs)
    )];
    let legacy_fs = match os_type {
        Some("linux") => "ext4",
        Some("windows") => "ntfs",
        _ => "vfat",
    };
    let legacy = format!(
        "ephemeral_{size_gb}_{}",
        md5_prefix(fs.default_ephemeral_format.unwrap_or(legacy_fs))
    );
    if !names.contains(&legacy) {
        names.push(legacy);
    }
    names
}

/// The 7 hex digits modern Nova appends to ephemeral base names (`get_file_extension_for_os_type`
/// applied to `get_fs_type_for_os_type`).
pub fn ephemeral_suffix(os_type: Option<&str>, fs: &EphemeralFs<'_>) -> String {
    let mkfs_for = |wanted: &str| {
        fs.mkfs_commands
            .iter()
            .find(|(os, command)| *os == wanted && !command.is_empty())
            .map(|(_, command)| *command)
    };
    let command = os_type.and_then(mkfs_for).or_else(|| mkfs_for("default"));
    let extension = command
        .or(fs.default_ephemeral_format.filter(|f| !f.is_empty()))
        .unwrap_or("vfat");
    md5_prefix(extension)
}

fn md5_prefix(text: &str) -> String {
    let mut hex = format!("{:x}", Md5::digest(text.as_bytes()));
    hex.truncate(7);
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    // md5("vfat") = 0706d66..., md5("ext4") = 40d1d2c...
    #[test]
    fn defaults_to_vfat_as_modern_nova() {
        let fs = EphemeralFs::default();
        assert_eq!(ephemeral_suffix(None, &fs), md5_prefix("vfat"));
        assert_eq!(ephemeral_suffix(Some("linux"), &fs), md5_prefix("vfat"));
        assert_eq!(
            ephemeral_name(20, Some("linux"), &fs),
            vec![
                format!("ephemeral_20_{}", md5_prefix("vfat")),
                format!("ephemeral_20_{}", md5_prefix("ext4"))
            ]
        );
        assert_eq!(
            ephemeral_name(1, None, &fs),
            vec![format!("ephemeral_1_{}", md5_prefix("vfat"))]
        );
    }

    #[test]
    fn configured_format_and_mkfs_commands_win() {
        let fs = EphemeralFs {
            default_ephemeral_format: Some("ext3"),
            mkfs_commands: &[],
        };
        assert_eq!(ephemeral_suffix(Some("windows"), &fs), md5_prefix("ext3"));
        let mkfs = [(
            "windows",
            "mkfs.ntfs --fast --label %(fs_label)s %(target)s",
        )];
        let fs = EphemeralFs {
            default_ephemeral_format: Some("ext3"),
            mkfs_commands: &mkfs,
        };
        assert_eq!(
            ephemeral_suffix(Some("windows"), &fs),
            md5_prefix(mkfs[0].1)
        );
        assert_eq!(ephemeral_suffix(Some("linux"), &fs), md5_prefix("ext3"));
    }

    #[test]
    fn md5_prefix_is_seven_hex_digits() {
        assert_eq!(md5_prefix("vfat"), "0706d66");
        assert_eq!(md5_prefix("ext4"), "40d1d2c");
        assert_eq!(swap_name(512), "swap_512");
    }
}
