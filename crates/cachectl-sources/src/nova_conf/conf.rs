//! [`NovaConf`]: the effective settings cachectl reads from nova.conf, typed, each with where it
//! came from.

use std::path::PathBuf;
use std::time::Duration;

use super::error::ConfigError;
use super::options::{Defaults, Opt};
use super::resolve::{Resolver, optional, path, required};
use super::setting::Setting;
use super::store::ParsedFile;
use super::values::{self, ImagesType};

/// The settings of nova.conf that decide what Nova's image cache is and what Nova's own pass
/// does to it, as nova-compute would read them from the same files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NovaConf {
    /// `[DEFAULT] state_path` (`/var/lib/nova`).
    pub state_path: Setting<PathBuf>,
    /// `[DEFAULT] instances_path` (`$state_path/instances`).
    pub instances_path: Setting<PathBuf>,
    /// `[DEFAULT] host` (the caller's hostname), checked as oslo.config's `HostDomain` (an IP
    /// address, or a host name without its trailing `.`).
    pub host: Setting<String>,
    /// `[DEFAULT] my_ip` (the caller's, if given).
    pub my_ip: Option<Setting<String>>,
    /// `[DEFAULT] default_ephemeral_format` (unset). Nova takes an empty value as unset.
    pub default_ephemeral_format: Option<Setting<String>>,
    /// `[DEFAULT] virt_mkfs`: every `<os_type>=<command>` entry of every file, in the order read
    /// (see [`NovaConf::mkfs_commands`] for the ones Nova uses).
    pub virt_mkfs: Vec<Setting<(String, String)>>,
    /// `[image_cache] subdirectory_name` (`_base`; deprecated
    /// `[DEFAULT] image_cache_subdirectory_name`). Nova joins it to `instances_path` as it is.
    pub subdirectory_name: Setting<String>,
    /// `[image_cache] remove_unused_base_images` (`True`; deprecated in `[DEFAULT]`).
    pub remove_unused_base_images: Setting<bool>,
    /// `[image_cache] remove_unused_original_minimum_age_seconds` (86400; deprecated in
    /// `[DEFAULT]`). Nova takes any integer; see [`NovaConf::original_min_age`].
    pub original_minimum_age: Setting<i64>,
    /// `[image_cache] remove_unused_resized_minimum_age_seconds` (3600; deprecated in
    /// `[libvirt]`). Nova takes any integer; see [`NovaConf::resized_min_age`].
    pub resized_minimum_age: Setting<i64>,
    /// `[image_cache] manager_interval` (2400, at least -1; deprecated
    /// `[DEFAULT] image_cache_manager_interval`): seconds between Nova's passes; 0 is Nova's
    /// default period (60 s), -1 turns its pass off.
    pub manager_interval: Setting<i64>,
    /// `[libvirt] images_type` (`default`).
    pub images_type: Setting<ImagesType>,
    /// The files read, in the order read.
    pub files_read: Vec<PathBuf>,
}

impl NovaConf {
    /// The effective settings of files already parsed (in the order read), as [`super::load`]
    /// gives them. Pure: no I/O.
    pub fn from_parsed(files: &[ParsedFile], defaults: &Defaults) -> Result<Self, ConfigError> {
        let mut r = Resolver::new(files, defaults);
        Ok(NovaConf {
            state_path: path(&mut r, Opt::StatePath)?,
            instances_path: path(&mut r, Opt::InstancesPath)?,
            host: required(&mut r, Opt::Host, values::host_domain)?,
            my_ip: optional(&mut r, Opt::MyIp)?,
            default_ephemeral_format: optional(&mut r, Opt::DefaultEphemeralFormat)?,
            virt_mkfs: r
                .all_substituted(Opt::VirtMkfs)?
                .into_iter()
                .map(|raw| {
                    let value = values::mkfs_entry(&raw.text).map_err(|p| raw.bad_value(p))?;
                    Ok(Setting {
                        value,
                        from: raw.from,
                    })
                })
                .collect::<Result<_, ConfigError>>()?,
            subdirectory_name: required(&mut r, Opt::SubdirectoryName, |t| Ok(t.to_owned()))?,
            remove_unused_base_images: required(
                &mut r,
                Opt::RemoveUnusedBaseImages,
                values::boolean,
            )?,
            original_minimum_age: required(&mut r, Opt::OriginalMinimumAge, |t| {
                values::integer(t, None)
            })?,
            resized_minimum_age: required(&mut r, Opt::ResizedMinimumAge, |t| {
                values::integer(t, None)
            })?,
            manager_interval: required(&mut r, Opt::ManagerInterval, |t| {
                values::integer(t, Some(-1))
            })?,
            images_type: required(&mut r, Opt::ImagesType, ImagesType::parse)?,
            files_read: files.iter().map(|file| file.path.clone()).collect(),
        })
    }

    /// Nova's settings with no file: its defaults (and the caller's host and IP).
    pub fn defaults(defaults: &Defaults) -> Result<Self, ConfigError> {
        Self::from_parsed(&[], defaults)
    }

    /// Whether Nova's own pass removes unused base files, which cachectl may keep (a file
    /// cachectl keeps for a disk Nova does not look at): `remove_unused_base_images` and
    /// `manager_interval >= 0`. Running beside Nova, set `remove_unused_base_images = False`
    /// and keep `manager_interval >= 0`, so that Nova still registers the host in
    /// `compute_nodes` and refreshes the mtimes of the files it sees in use.
    pub fn nova_pass_deletes(&self) -> bool {
        self.remove_unused_base_images.value && self.manager_interval.value >= 0
    }

    /// How long an unused original stays, as Nova counts it (a negative minimum is none).
    pub fn original_min_age(&self) -> Duration {
        seconds(self.original_minimum_age.value)
    }

    /// How long an unused resized copy stays, as Nova counts it (a negative minimum is none).
    pub fn resized_min_age(&self) -> Duration {
        seconds(self.resized_minimum_age.value)
    }

    /// The `virt_mkfs` commands Nova uses, by OS type (`nova/privsep/fs.py`): a later entry for
    /// an OS type replaces an earlier one, and an entry with an empty OS type is ignored. In the
    /// order of each OS type's first entry.
    pub fn mkfs_commands(&self) -> Vec<(&str, &str)> {
        let mut commands: Vec<(&str, &str)> = Vec::new();
        for Setting {
            value: (os_type, command),
            ..
        } in &self.virt_mkfs
        {
            if os_type.is_empty() {
                continue;
            }
            match commands.iter_mut().find(|(os, _)| os == os_type) {
                Some(entry) => entry.1 = command,
                None => commands.push((os_type, command)),
            }
        }
        commands
    }
}

fn seconds(value: i64) -> Duration {
    Duration::from_secs(u64::try_from(value).unwrap_or(0))
}
