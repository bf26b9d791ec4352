//! The Nova 34 options cachectl reads, with their groups, deprecated names and defaults, as
//! `nova/conf/{paths,netconf,compute,imagecache,libvirt}.py` declare them.

use super::values::{self, ImagesType};

/// What the caller knows that Nova takes from the machine: the defaults of `[DEFAULT] host`
/// (the hostname) and `[DEFAULT] my_ip` (the IPv4 address of the default route).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Defaults {
    /// The machine's hostname (`socket.gethostname()` in Nova).
    pub host: String,
    /// The machine's IP address, if the caller knows it; without it, `my_ip` is unset unless a
    /// file sets it, and a `$my_ip` that needs it is an error.
    pub my_ip: Option<String>,
}

impl Defaults {
    /// This machine's hostname (`uname -n`, as Python's `socket.gethostname()`), and no IP.
    pub fn this_host() -> Self {
        Defaults {
            host: rustix::system::uname()
                .nodename()
                .to_string_lossy()
                .into_owned(),
            my_ip: None,
        }
    }
}

/// An option cachectl reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Opt {
    StatePath,
    InstancesPath,
    Host,
    MyIp,
    DefaultEphemeralFormat,
    VirtMkfs,
    SubdirectoryName,
    RemoveUnusedBaseImages,
    OriginalMinimumAge,
    ResizedMinimumAge,
    ManagerInterval,
    ImagesType,
}

/// The type of an option's values, as oslo.config converts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `StrOpt`: any text.
    Text,
    /// `HostDomainOpt`.
    Host,
    /// `BoolOpt`.
    Bool,
    /// `IntOpt`, with its `min`.
    Int(Option<i64>),
    /// `StrOpt` with Nova's `images_type` choices.
    ImagesType,
    /// `MultiStrOpt`: every value of every file.
    Multi,
}

/// An option's declaration.
pub(crate) struct Spec {
    /// Its group (`DEFAULT`, `image_cache`, `libvirt`).
    pub(crate) group: &'static str,
    /// Its name.
    pub(crate) name: &'static str,
    /// Its deprecated `(group, name)`s.
    pub(crate) deprecated: &'static [(&'static str, &'static str)],
    /// Its type.
    pub(crate) kind: Kind,
}

impl Opt {
    /// Every option, in the order `NovaConf` lists them.
    pub(crate) const ALL: [Opt; 12] = [
        Opt::StatePath,
        Opt::InstancesPath,
        Opt::Host,
        Opt::MyIp,
        Opt::DefaultEphemeralFormat,
        Opt::VirtMkfs,
        Opt::SubdirectoryName,
        Opt::RemoveUnusedBaseImages,
        Opt::OriginalMinimumAge,
        Opt::ResizedMinimumAge,
        Opt::ManagerInterval,
        Opt::ImagesType,
    ];

    /// The declaration, as in Nova 34.
    pub(crate) fn spec(self) -> Spec {
        let (group, name, deprecated, kind): (_, _, &'static [_], _) = match self {
            // nova/conf/paths.py (Nova's own default is `$pybasedir`; see `default_text`).
            Opt::StatePath => ("DEFAULT", "state_path", &[], Kind::Text),
            // nova/conf/compute.py
            Opt::InstancesPath => ("DEFAULT", "instances_path", &[], Kind::Text),
            // nova/conf/netconf.py
            Opt::Host => ("DEFAULT", "host", &[], Kind::Host),
            Opt::MyIp => ("DEFAULT", "my_ip", &[], Kind::Text),
            // nova/conf/compute.py
            Opt::DefaultEphemeralFormat => ("DEFAULT", "default_ephemeral_format", &[], Kind::Text),
            Opt::VirtMkfs => ("DEFAULT", "virt_mkfs", &[], Kind::Multi),
            // nova/conf/imagecache.py
            Opt::SubdirectoryName => (
                "image_cache",
                "subdirectory_name",
                &[("DEFAULT", "image_cache_subdirectory_name")],
                Kind::Text,
            ),
            Opt::RemoveUnusedBaseImages => (
                "image_cache",
                "remove_unused_base_images",
                &[("DEFAULT", "remove_unused_base_images")],
                Kind::Bool,
            ),
            Opt::OriginalMinimumAge => (
                "image_cache",
                "remove_unused_original_minimum_age_seconds",
                &[("DEFAULT", "remove_unused_original_minimum_age_seconds")],
                Kind::Int(None),
            ),
            Opt::ResizedMinimumAge => (
                "image_cache",
                "remove_unused_resized_minimum_age_seconds",
                &[("libvirt", "remove_unused_resized_minimum_age_seconds")],
                Kind::Int(None),
            ),
            Opt::ManagerInterval => (
                "image_cache",
                "manager_interval",
                &[("DEFAULT", "image_cache_manager_interval")],
                Kind::Int(Some(-1)),
            ),
            // nova/conf/libvirt.py
            Opt::ImagesType => ("libvirt", "images_type", &[], Kind::ImagesType),
        };
        Spec {
            group,
            name,
            deprecated,
            kind,
        }
    }

    /// The `(group, name)`s a file may set it by: the current one first, then the deprecated.
    pub(crate) fn names(self) -> Vec<(&'static str, &'static str)> {
        let spec = self.spec();
        let mut names = vec![(spec.group, spec.name)];
        names.extend_from_slice(spec.deprecated);
        names
    }

    /// The option a `(group, name)` stands for, by its current or a deprecated name (oslo.config
    /// resolves a deprecated name in a substitution to the option it now is).
    pub(crate) fn find(group: &str, name: &str) -> Option<Opt> {
        Self::ALL
            .into_iter()
            .find(|opt| opt.names().contains(&(group, name)))
    }

    /// The default's text, before substitution; `None`: no default (unset).
    pub(crate) fn default_text(self, defaults: &Defaults) -> Option<String> {
        let text = match self {
            // Nova 34 declares `$pybasedir` (the directory above its Python package); the
            // distributions' packages set `/var/lib/nova`, which is what hosts use.
            Opt::StatePath => "/var/lib/nova",
            Opt::InstancesPath => "$state_path/instances",
            Opt::Host => return Some(defaults.host.clone()),
            Opt::MyIp => return defaults.my_ip.clone(),
            Opt::DefaultEphemeralFormat | Opt::VirtMkfs => return None,
            Opt::SubdirectoryName => "_base",
            Opt::RemoveUnusedBaseImages => "True",
            Opt::OriginalMinimumAge => "86400",
            Opt::ResizedMinimumAge => "3600",
            Opt::ManagerInterval => "2400",
            Opt::ImagesType => "default",
        };
        Some(text.to_owned())
    }
}

/// A value of `kind` as oslo.config's `str()` of the converted value gives it to a `$name`
/// that names the option: booleans `True`/`False`, integers in decimal, hosts without a
/// trailing dot. A multi-valued option is not substituted here.
pub(crate) fn as_substituted(kind: Kind, text: &str) -> Result<String, String> {
    match kind {
        Kind::Text => Ok(text.to_owned()),
        Kind::Host => values::host_domain(text),
        Kind::Bool => values::boolean(text).map(|b| if b { "True" } else { "False" }.to_owned()),
        Kind::Int(min) => values::integer(text, min).map(|n| n.to_string()),
        Kind::ImagesType => ImagesType::parse(text).map(|t| t.as_str().to_owned()),
        Kind::Multi => Err("cachectl does not substitute a multi-valued option".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_and_deprecated_names_find_their_option() {
        assert_eq!(
            Opt::find("image_cache", "manager_interval"),
            Some(Opt::ManagerInterval)
        );
        assert_eq!(
            Opt::find("DEFAULT", "image_cache_manager_interval"),
            Some(Opt::ManagerInterval)
        );
        assert_eq!(
            Opt::find("libvirt", "remove_unused_resized_minimum_age_seconds"),
            Some(Opt::ResizedMinimumAge)
        );
        assert_eq!(
            Opt::find("DEFAULT", "remove_unused_resized_minimum_age_seconds"),
            None
        );
        assert_eq!(Opt::find("DEFAULT", "manager_interval"), None);
        for opt in Opt::ALL {
            let spec = opt.spec();
            assert_eq!(Opt::find(spec.group, spec.name), Some(opt));
        }
    }

    #[test]
    fn defaults_convert_as_their_kind() {
        let defaults = Defaults {
            host: "compute-1".to_owned(),
            my_ip: None,
        };
        for opt in Opt::ALL {
            if let Some(text) = opt.default_text(&defaults)
                && !text.contains('$')
            {
                assert!(as_substituted(opt.spec().kind, &text).is_ok(), "{opt:?}");
            }
        }
        assert_eq!(as_substituted(Kind::Bool, "yes"), Ok("True".to_owned()));
        assert_eq!(
            as_substituted(Kind::Int(None), "+0012"),
            Ok("12".to_owned())
        );
        assert_eq!(as_substituted(Kind::Host, "h1."), Ok("h1".to_owned()));
        assert!(Defaults::this_host().host.len() < 256);
    }
}
