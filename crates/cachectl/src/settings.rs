//! The effective settings of a command: each from a flag, from nova.conf (its file and line) or
//! a default, with where it came from. Passes run with them; `cachectl config` prints them.
//!
//! nova.conf is read as nova-compute reads it ([`cachectl_sources::nova_conf`]); a flag beats
//! every file.

use std::fmt;
use std::net::{Ipv4Addr, UdpSocket};
use std::path::PathBuf;

use cachectl_naming::quote;
use cachectl_policy::{Ages, EphemeralConfig, UnixTime};
use cachectl_sources::nova_conf::{
    self, ConfigError, ConfigFiles, Defaults, ImagesType, NovaConf, Provenance, Setting,
};
use clap::Args;

use crate::checksums::ChecksumMode;
use crate::domains::LibvirtConfig;
use crate::pass::{Action, PassConfig};
use crate::report::{WarningCode, WarningEntry};
use crate::scan::ScanConfig;

/// Where libvirt keeps the definitions of its QEMU guests.
pub(crate) const LIBVIRT_CONFIG_DIR: &str = "/etc/libvirt/qemu";
/// Where libvirt keeps the status XML of its running QEMU guests.
pub(crate) const LIBVIRT_RUN_DIR: &str = "/run/libvirt/qemu";

/// The options that say where the cache is and how Nova treats it: nova.conf's files, and the
/// flags that override what they set.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct SettingsArgs {
    /// A nova.conf file to read (repeatable; later files win) [default: /etc/nova/nova.conf
    /// and /etc/nova/nova-compute.conf, where they exist].
    #[arg(long, global = true, value_name = "FILE")]
    pub config_file: Vec<PathBuf>,
    /// A directory of nova.conf files (`*.conf`, in sorted order) to read after the files
    /// [default: /etc/nova/nova.conf.d and /etc/nova/nova-compute.conf.d, where they exist].
    #[arg(long, global = true, value_name = "DIR")]
    pub config_dir: Vec<PathBuf>,
    /// Read no nova.conf: flags and Nova's defaults only.
    #[arg(long, global = true, conflicts_with_all = ["config_file", "config_dir"])]
    pub no_config: bool,
    /// Nova's `instances_path`: one directory per instance, and the cache [default: nova.conf's,
    /// else /var/lib/nova/instances].
    #[arg(long, global = true, value_name = "DIR")]
    pub instances_path: Option<PathBuf>,
    /// The cache directory's name under the instances path (`[image_cache] subdirectory_name`)
    /// [default: nova.conf's, else _base].
    #[arg(long, global = true, value_name = "NAME", value_parser = parse_base_dir_name)]
    pub base_dir_name: Option<String>,
    /// This host's name, as Nova's `host` option [default: nova.conf's, else the hostname].
    #[arg(long, global = true, value_name = "NAME")]
    pub host: Option<String>,
    /// Keep unused originals this long (`remove_unused_original_minimum_age_seconds`); also
    /// swap and ephemeral bases, as in Nova [default: nova.conf's, else 24h].
    #[arg(long, global = true, value_name = "DUR", value_parser = parse_duration)]
    pub original_min_age: Option<u64>,
    /// Keep unused resized and small copies, download leftovers and orphan sidecars this long
    /// (`remove_unused_resized_minimum_age_seconds`) [default: nova.conf's, else 1h].
    #[arg(long, global = true, value_name = "DUR", value_parser = parse_duration)]
    pub resized_min_age: Option<u64>,
    /// The filesystem of ephemeral disks (`default_ephemeral_format`), which names ephemeral
    /// bases [default: nova.conf's].
    #[arg(long, global = true, value_name = "FS")]
    pub default_ephemeral_format: Option<String>,
    /// A mkfs command by OS type, `<os_type>=<command>` as nova.conf's `virt_mkfs`, which names
    /// ephemeral bases (repeatable; replaces nova.conf's) [default: nova.conf's].
    #[arg(long, global = true, value_name = "OS=COMMAND", value_parser = parse_virt_mkfs)]
    pub virt_mkfs: Vec<(String, String)>,
    /// How Nova stores instance disks (`[libvirt] images_type`): with `rbd` there is no local
    /// cache and passes do nothing [default: nova.conf's, else default].
    #[arg(long, global = true, value_name = "TYPE", value_parser = parse_images_type)]
    pub images_type: Option<ImagesType>,
    /// Where libvirt keeps its guests' definitions [default: /etc/libvirt/qemu].
    #[arg(long, global = true, value_name = "DIR")]
    pub libvirt_config_dir: Option<PathBuf>,
    /// Where libvirt keeps its running guests' status XML [default: /run/libvirt/qemu].
    #[arg(long, global = true, value_name = "DIR")]
    pub libvirt_run_dir: Option<PathBuf>,
    /// Read no libvirt domain: not libvirt's directories, not `--libvirt-xml`, not instance
    /// directories' `libvirt.xml`.
    #[arg(long, global = true, conflicts_with_all = ["libvirt_config_dir", "libvirt_run_dir"])]
    pub no_libvirt: bool,
}

/// Where an effective setting came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A flag of the command line.
    Flag(&'static str),
    /// The line of a nova.conf file that set it.
    File {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
    },
    /// Nova's default (cachectl's, for what Nova has no option for).
    Default,
}

impl From<&Provenance> for Origin {
    fn from(provenance: &Provenance) -> Self {
        match provenance {
            Provenance::File { path, line } => Self::File {
                path: path.clone(),
                line: *line,
            },
            Provenance::Default => Self::Default,
        }
    }
}

/// `flag --host`, `<file>:<line>` or `default`.
impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Flag(flag) => write!(f, "flag {flag}"),
            Self::File { path, line } => Provenance::File {
                path: path.clone(),
                line: *line,
            }
            .fmt(f),
            Self::Default => f.write_str("default"),
        }
    }
}

/// An effective setting and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Effective<T> {
    /// The value.
    pub value: T,
    /// Where it came from.
    pub from: Origin,
}

impl<T> Effective<T> {
    /// nova.conf's `setting`, which no flag overrides.
    fn from_conf(setting: Setting<T>) -> Self {
        Self {
            from: Origin::from(&setting.from),
            value: setting.value,
        }
    }

    /// A flag's value if it was given, else nova.conf's `setting`.
    fn flag_or(flag: &'static str, given: Option<T>, setting: Setting<T>) -> Self {
        match given {
            Some(value) => Self {
                value,
                from: Origin::Flag(flag),
            },
            None => Self::from_conf(setting),
        }
    }

    /// A flag's value if it was given, else cachectl's default.
    fn flag_or_default(flag: &'static str, given: Option<T>, default: T) -> Self {
        match given {
            Some(value) => Self {
                value,
                from: Origin::Flag(flag),
            },
            None => Self {
                value: default,
                from: Origin::Default,
            },
        }
    }
}

/// The effective settings of a command.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The nova.conf files read, in order.
    pub config_files: Vec<PathBuf>,
    /// `[DEFAULT] state_path`.
    pub state_path: Effective<PathBuf>,
    /// `[DEFAULT] instances_path`.
    pub instances_path: Effective<PathBuf>,
    /// `[image_cache] subdirectory_name`.
    pub base_dir_name: Effective<String>,
    /// `[DEFAULT] host`.
    pub host: Effective<String>,
    /// `[DEFAULT] my_ip`.
    pub my_ip: Option<Effective<String>>,
    /// `[image_cache] remove_unused_original_minimum_age_seconds`, in seconds (a negative
    /// minimum is none, as in Nova).
    pub original_min_age: Effective<u64>,
    /// `[image_cache] remove_unused_resized_minimum_age_seconds`, in seconds.
    pub resized_min_age: Effective<u64>,
    /// `[DEFAULT] default_ephemeral_format`.
    pub default_ephemeral_format: Effective<Option<String>>,
    /// `[DEFAULT] virt_mkfs`: the command Nova uses for each OS type (the last given).
    pub virt_mkfs: Vec<Effective<(String, String)>>,
    /// `[libvirt] images_type`.
    pub images_type: Effective<ImagesType>,
    /// `[image_cache] remove_unused_base_images`: whether Nova's own pass removes files.
    pub remove_unused_base_images: Effective<bool>,
    /// `[image_cache] manager_interval`: Nova's own pass runs when it is 0 or more.
    pub manager_interval: Effective<i64>,
    /// Whether libvirt's domains are read.
    pub libvirt: Effective<bool>,
    /// Where libvirt keeps its guests' definitions.
    pub libvirt_config_dir: Effective<PathBuf>,
    /// Where libvirt keeps its running guests' status XML.
    pub libvirt_run_dir: Effective<PathBuf>,
}

impl Settings {
    /// Whether Nova's own pass, as nova.conf sets it, removes unused base files (which it does
    /// by default): said only where a nova.conf was read, that is where Nova runs.
    pub(crate) fn nova_pass_deletes(&self) -> bool {
        !self.config_files.is_empty()
            && self.remove_unused_base_images.value
            && self.manager_interval.value >= 0
    }

    /// Why there is no local cache to look after, if so: `[libvirt] images_type = rbd` keeps
    /// instance disks in Ceph, not in files on this host.
    pub(crate) fn no_local_cache(&self) -> Option<String> {
        (self.images_type.value == ImagesType::Rbd).then(|| {
            format!(
                "[libvirt] images_type = rbd ({}): instance disks are Ceph RBD images, not files \
                 that use a local cache; nothing to do (Nova's own pass cleans what it downloads \
                 into the cache before importing it into Ceph; --images-type default audits it)",
                self.images_type.from
            )
        })
    }

    /// A pass with these settings doing `action` at `now`, given nothing else (no inventory,
    /// no domain XML, no acknowledgements, checksums off, one job per core): callers set what
    /// they are given.
    pub(crate) fn pass_config(&self, action: Action, now: UnixTime) -> PassConfig {
        PassConfig {
            scan: self.scan_config(),
            host: self.host.value.clone(),
            ages: self.ages(),
            ephemeral: self.ephemeral(),
            inventory: None,
            libvirt: self.libvirt_config(&[]),
            setting_warnings: self.warnings(),
            no_local_cache: self.no_local_cache(),
            checksum: ChecksumMode::Off,
            ack_unreadable: None,
            action,
            now,
            jobs: crate::pool::default_jobs(),
            scan_jobs: crate::scan::DEFAULT_SCAN_JOBS,
            pinned: std::collections::BTreeSet::new(),
            removal_cap: None,
            min_free: None,
            max_cache_size: None,
            progress: false,
        }
    }

    /// Where a pass looks.
    pub(crate) fn scan_config(&self) -> ScanConfig {
        ScanConfig {
            instances_path: self.instances_path.value.clone(),
            base_dir_name: self.base_dir_name.value.clone(),
        }
    }

    /// The minimum ages (swap and ephemeral bases take the originals', as in Nova).
    pub(crate) fn ages(&self) -> Ages {
        Ages {
            original: self.original_min_age.value,
            resized: self.resized_min_age.value,
            swap_ephemeral: self.original_min_age.value,
        }
    }

    /// The settings that name ephemeral bases.
    pub(crate) fn ephemeral(&self) -> EphemeralConfig {
        EphemeralConfig {
            default_ephemeral_format: self.default_ephemeral_format.value.clone(),
            mkfs_commands: self.virt_mkfs.iter().map(|c| c.value.clone()).collect(),
        }
    }

    /// Where a pass reads libvirt's domains, with the files given (`--libvirt-xml`).
    pub(crate) fn libvirt_config(&self, xml_files: &[PathBuf]) -> LibvirtConfig {
        LibvirtConfig {
            enabled: self.libvirt.value,
            config_dir: self.libvirt_config_dir.value.clone(),
            run_dir: self.libvirt_run_dir.value.clone(),
            xml_files: xml_files.to_vec(),
        }
    }

    /// What the operator should know about these settings: that Nova's own pass removes files
    /// (where cachectl looks after the cache: with no local cache, Nova's pass is what cleans
    /// the downloads it leaves in `_base`).
    pub(crate) fn warnings(&self) -> Vec<WarningEntry> {
        if !self.nova_pass_deletes() || self.no_local_cache().is_some() {
            return Vec::new();
        }
        vec![WarningEntry::new(
            WarningCode::NovaPassDeletes,
            format_args!(
                "Nova's own pass removes unused base files ([image_cache] \
                 remove_unused_base_images = {} from {}, manager_interval = {} from {}): it will \
                 remove files cachectl keeps; set remove_unused_base_images = False in {} (see \
                 README, Running beside Nova)",
                python_bool(self.remove_unused_base_images.value),
                self.remove_unused_base_images.from,
                self.manager_interval.value,
                self.manager_interval.from,
                self.config_files
                    .last()
                    .map_or_else(|| "nova.conf".to_owned(), |f| quote(f).to_string()),
            ),
        )]
    }
}

/// A boolean as nova.conf writes it.
pub(crate) fn python_bool(value: bool) -> &'static str {
    if value { "True" } else { "False" }
}

impl SettingsArgs {
    /// Reads nova.conf (unless `--no-config`) and gives every setting, the flags first.
    pub(crate) fn resolve(&self) -> Result<Settings, ConfigError> {
        let defaults = Defaults {
            my_ip: Some(my_ip()),
            ..Defaults::this_host()
        };
        let conf = if self.no_config {
            NovaConf::defaults(&defaults)?
        } else {
            let files = ConfigFiles::from_args(&self.config_file, &self.config_dir);
            nova_conf::load(&files, &defaults)?
        };
        let subdirectory_name = checked_base_dir_name(conf.subdirectory_name.clone())?;
        Ok(Settings {
            config_files: conf.files_read.clone(),
            state_path: Effective::from_conf(conf.state_path.clone()),
            instances_path: Effective::flag_or(
                "--instances-path",
                self.instances_path.clone(),
                conf.instances_path.clone(),
            ),
            base_dir_name: Effective::flag_or(
                "--base-dir-name",
                self.base_dir_name.clone(),
                subdirectory_name,
            ),
            host: Effective::flag_or("--host", self.host.clone(), conf.host.clone()),
            my_ip: conf.my_ip.clone().map(Effective::from_conf),
            original_min_age: Effective::flag_or(
                "--original-min-age",
                self.original_min_age,
                seconds(&conf.original_minimum_age),
            ),
            resized_min_age: Effective::flag_or(
                "--resized-min-age",
                self.resized_min_age,
                seconds(&conf.resized_minimum_age),
            ),
            default_ephemeral_format: match (
                &self.default_ephemeral_format,
                &conf.default_ephemeral_format,
            ) {
                (Some(format), _) => Effective {
                    value: Some(format.clone()),
                    from: Origin::Flag("--default-ephemeral-format"),
                },
                (None, Some(setting)) => Effective {
                    value: Some(setting.value.clone()),
                    from: Origin::from(&setting.from),
                },
                (None, None) => Effective {
                    value: None,
                    from: Origin::Default,
                },
            },
            virt_mkfs: self.virt_mkfs(&conf),
            images_type: Effective::flag_or(
                "--images-type",
                self.images_type,
                conf.images_type.clone(),
            ),
            remove_unused_base_images: Effective::from_conf(conf.remove_unused_base_images.clone()),
            manager_interval: Effective::from_conf(conf.manager_interval.clone()),
            libvirt: match self.no_libvirt {
                true => Effective {
                    value: false,
                    from: Origin::Flag("--no-libvirt"),
                },
                false => Effective {
                    value: true,
                    from: Origin::Default,
                },
            },
            libvirt_config_dir: Effective::flag_or_default(
                "--libvirt-config-dir",
                self.libvirt_config_dir.clone(),
                PathBuf::from(LIBVIRT_CONFIG_DIR),
            ),
            libvirt_run_dir: Effective::flag_or_default(
                "--libvirt-run-dir",
                self.libvirt_run_dir.clone(),
                PathBuf::from(LIBVIRT_RUN_DIR),
            ),
        })
    }

    /// The `virt_mkfs` commands: the flags', or else the last nova.conf gives for each OS type
    /// (an entry for no OS type is ignored, as Nova ignores it).
    fn virt_mkfs(&self, conf: &NovaConf) -> Vec<Effective<(String, String)>> {
        if !self.virt_mkfs.is_empty() {
            return self
                .virt_mkfs
                .iter()
                .map(|entry| Effective {
                    value: entry.clone(),
                    from: Origin::Flag("--virt-mkfs"),
                })
                .collect();
        }
        let mut commands: Vec<Effective<(String, String)>> = Vec::new();
        for setting in conf.virt_mkfs.iter().filter(|s| !s.value.0.is_empty()) {
            let entry = Effective {
                value: setting.value.clone(),
                from: Origin::from(&setting.from),
            };
            match commands.iter_mut().find(|c| c.value.0 == setting.value.0) {
                Some(earlier) => *earlier = entry,
                None => commands.push(entry),
            }
        }
        commands
    }
}

/// nova.conf's minimum age in seconds: a negative one is none, as Nova counts it.
fn seconds(setting: &Setting<i64>) -> Setting<u64> {
    Setting {
        value: u64::try_from(setting.value).unwrap_or(0),
        from: setting.from.clone(),
    }
}

/// nova.conf's `subdirectory_name`, checked as `--base-dir-name` is.
fn checked_base_dir_name(setting: Setting<String>) -> Result<Setting<String>, ConfigError> {
    if parse_base_dir_name(&setting.value).is_ok() {
        return Ok(setting);
    }
    Err(ConfigError::BadValue {
        from: setting.from,
        option: "[image_cache] subdirectory_name".to_owned(),
        value: setting.value,
        problem: "not one directory name under the instances path (cachectl follows no other)"
            .to_owned(),
    })
}

/// This machine's IPv4 address as Nova finds it (`oslo_utils.netutils.get_my_ipv4`): the
/// address of the route to a public address, chosen by connecting a UDP socket (no packet is
/// sent); `127.0.0.1` without one.
fn my_ip() -> String {
    let routed = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
        .and_then(|socket| {
            socket.connect((Ipv4Addr::new(8, 8, 8, 8), 80))?;
            socket.local_addr()
        })
        .map(|addr| addr.ip().to_string());
    routed.unwrap_or_else(|_| Ipv4Addr::LOCALHOST.to_string())
}

/// A directory name directly under the instances path: one plain component, as Nova joins it.
pub(crate) fn parse_base_dir_name(text: &str) -> Result<String, String> {
    if text.is_empty() || text == "." || text == ".." || text.contains('/') || text.contains('\0') {
        return Err(format!(
            "{text:?} is not a directory name: expected one name under the instances path, like _base"
        ));
    }
    Ok(text.to_owned())
}

/// Parses a duration as operators write it: `90s`, `15m`, `1d12h`, `2w` (humantime's units), or plain
/// seconds (`3600`, as nova.conf writes them). Only whole seconds.
pub(crate) fn parse_duration(text: &str) -> Result<u64, String> {
    let text = text.trim();
    // Plain seconds, as nova.conf writes them.
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse()
            .map_err(|_| format!("{text:?} is too long a duration"));
    }
    let duration = humantime::parse_duration(text).map_err(|err| {
        format!("{text:?} is not a duration ({err}): expected seconds, or 90s, 15m, 1d12h, 2w")
    })?;
    if duration.subsec_nanos() != 0 {
        return Err(format!("{text:?} is not a whole number of seconds"));
    }
    Ok(duration.as_secs())
}

/// Parses a `virt_mkfs` entry as Nova splits it.
fn parse_virt_mkfs(text: &str) -> Result<(String, String), String> {
    nova_conf::mkfs_entry(text)
}

/// Parses an images type as nova.conf names it.
fn parse_images_type(text: &str) -> Result<ImagesType, String> {
    ImagesType::parse(text).map_err(|problem| format!("{text:?} is {problem}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(90));
        assert_eq!(parse_duration("1h"), Ok(3_600));
        assert_eq!(parse_duration("24h"), Ok(86_400));
        assert_eq!(parse_duration("3600"), Ok(3_600));
        assert_eq!(parse_duration("2d"), Ok(172_800));
        assert_eq!(parse_duration("1d12h"), Ok(129_600));
        assert_eq!(parse_duration("1d 12h"), Ok(129_600));
        assert_eq!(parse_duration("90m"), Ok(5_400));
        assert_eq!(parse_duration("2w"), Ok(1_209_600));
        assert_eq!(parse_duration("1h30m15s"), Ok(5_415));
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("").is_err());
        assert_eq!(parse_duration("1.5h"), Ok(5_400));
        assert!(parse_duration("0.5s").is_err(), "not whole seconds");
        assert!(parse_duration("500ms").is_err(), "not whole seconds");
        assert!(parse_duration("-1h").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
        assert!(parse_duration("9999999999999999d").is_err());
    }

    #[test]
    fn base_dir_names_are_one_component() {
        assert_eq!(
            parse_base_dir_name("_base_10.0.0.1"),
            Ok("_base_10.0.0.1".to_owned())
        );
        for bad in ["", ".", "..", "_base/", "./_base", "a/b"] {
            assert!(parse_base_dir_name(bad).is_err(), "{bad}");
        }
    }
}
