//! The effective settings of parsed files: the winning value of each option (`store`), its
//! `$name`s substituted as oslo.config substitutes them, converted to its type.
//!
//! A `$name` in a value of group `g` names the option `name` of `g`, else of `[DEFAULT]`;
//! `${group.name}` names one of another group (by its lower-case name: oslo.config has no group
//! `DEFAULT` to name, so `${DEFAULT.host}` is refused). The value substituted is the option's
//! effective one (after later files won), converted and printed as Python prints it (`True`,
//! `2400`), and itself substituted first. A deprecated name stands for its option, with
//! oslo.config's quirk: `$image_cache_manager_interval` in `[DEFAULT]` looks `manager_interval`
//! up in `[DEFAULT]` (and the deprecated name where it is), not in `[image_cache]`.
//!
//! oslo.config resolves any option Nova registers and refuses other names; cachectl knows the
//! options it reads, and takes any other key the files set as a text option. A name that is
//! neither, a loop (`a = $b`, `b = $a`), more than [`MAX_DEPTH`] nested substitutions or a
//! result longer than [`MAX_VALUE_LEN`] is an error naming the value's file and line.

use std::collections::HashMap;
use std::path::PathBuf;

use super::error::ConfigError;
use super::options::{Defaults, Kind, Opt, as_substituted};
use super::setting::{Provenance, Setting};
use super::store::{Found, ParsedFile, Store};
use super::substitute::{ExpandError, expand};

/// The deepest nesting of substitutions followed (oslo.config stops at Python's recursion limit).
pub const MAX_DEPTH: usize = 32;

/// The longest value a substitution may make (the longest file read).
pub const MAX_VALUE_LEN: usize = 1 << 20;

/// A value before conversion, with where it came from.
#[derive(Debug, Clone)]
pub(crate) struct Raw {
    pub(crate) text: String,
    pub(crate) from: Provenance,
    /// The section and key as written (a default: the option's group and name).
    pub(crate) section: String,
    pub(crate) key: String,
}

impl Raw {
    fn found(found: &Found<'_>) -> Self {
        Raw {
            text: found.entry.value.clone(),
            from: Provenance::File {
                path: found.path.to_owned(),
                line: found.entry.line,
            },
            section: found.entry.section.clone(),
            key: found.entry.key.clone(),
        }
    }

    /// `[section] key`, as written.
    fn option(&self) -> String {
        format!("[{}] {}", self.section, self.key)
    }

    pub(crate) fn bad_value(&self, problem: String) -> ConfigError {
        ConfigError::BadValue {
            from: self.from.clone(),
            option: self.option(),
            value: self.text.clone(),
            problem,
        }
    }

    fn substitution(&self, reference: &str, problem: impl Into<String>) -> ConfigError {
        ConfigError::Substitution {
            from: self.from.clone(),
            option: self.option(),
            reference: reference.to_owned(),
            problem: problem.into(),
        }
    }
}

/// Resolves options of parsed files, remembering what it has substituted.
pub(crate) struct Resolver<'a> {
    store: Store<'a>,
    defaults: &'a Defaults,
    /// The substituted text of each `(group, name)` a `$` named.
    done: HashMap<(String, String), String>,
    /// The `(group, name)`s being substituted, outermost first.
    active: Vec<(String, String)>,
}

impl<'a> Resolver<'a> {
    pub(crate) fn new(files: &'a [ParsedFile], defaults: &'a Defaults) -> Self {
        Resolver {
            store: Store::new(files),
            defaults,
            done: HashMap::new(),
            active: Vec::new(),
        }
    }

    /// The effective value of `opt`, substituted (`None`: unset, no default).
    pub(crate) fn substituted(&mut self, opt: Opt) -> Result<Option<Raw>, ConfigError> {
        let spec = opt.spec();
        self.active
            .push((spec.group.to_owned(), spec.name.to_owned()));
        let raw = self.substituted_in(opt, spec.group);
        self.active.pop();
        raw
    }

    /// The value of `opt` as oslo.config gets it for the group `group`, substituted in it:
    /// `opt`'s own group gives its effective value. Another one is oslo.config's way with a
    /// `$` that names `opt` by a deprecated name of `group`: it looks the current name up in
    /// `group` (and the deprecated names where they are), and substitutes in `group`.
    fn substituted_in(&mut self, opt: Opt, group: &str) -> Result<Option<Raw>, ConfigError> {
        let spec = opt.spec();
        let mut names = vec![(group, spec.name)];
        names.extend_from_slice(spec.deprecated);
        let raw = match self.store.latest(&names) {
            Some(found) => Raw::found(&found),
            None => match opt.default_text(self.defaults) {
                Some(text) => Raw {
                    text,
                    from: Provenance::Default,
                    section: spec.group.to_owned(),
                    key: spec.name.to_owned(),
                },
                None => return Ok(None),
            },
        };
        let text = self.expand(&raw, group)?;
        Ok(Some(Raw { text, ..raw }))
    }

    /// Every value of the multi-valued `opt`, each substituted, in the order read.
    pub(crate) fn all_substituted(&mut self, opt: Opt) -> Result<Vec<Raw>, ConfigError> {
        let spec = opt.spec();
        let raws: Vec<Raw> = self
            .store
            .all(spec.group, spec.name)
            .iter()
            .map(Raw::found)
            .collect();
        raws.into_iter()
            .map(|raw| {
                let text = self.expand(&raw, spec.group)?;
                Ok(Raw { text, ..raw })
            })
            .collect()
    }

    /// `raw`'s text with its `$name`s substituted, as a value of `group`.
    fn expand(&mut self, raw: &Raw, group: &str) -> Result<String, ConfigError> {
        expand(&raw.text, MAX_VALUE_LEN, |name| {
            self.reference(name, group, raw)
        })
        .map_err(|err| match err {
            ExpandError::Lookup(err) => err,
            ExpandError::TooLong => raw.bad_value(format!(
                "substitution makes it longer than {} KiB",
                MAX_VALUE_LEN >> 10
            )),
        })
    }

    /// Whether `(group, name)` is an option: one cachectl reads, or a key the files set.
    fn is_option(&self, group: &str, name: &str) -> bool {
        Opt::find(group, name).is_some() || self.store.has(group, name)
    }

    /// What `$name` in a value of `group` (`raw`) stands for.
    fn reference(&mut self, name: &str, group: &str, raw: &Raw) -> Result<String, ConfigError> {
        let target = match name.split_once('.') {
            Some(("DEFAULT", _)) => {
                return Err(raw.substitution(
                    name,
                    "oslo.config has no group `DEFAULT` to name (write `$option` for an option of [DEFAULT])",
                ));
            }
            Some((g, option)) => {
                let known_group =
                    Opt::ALL.iter().any(|opt| opt.spec().group == g) || self.store.has_group(g);
                if !known_group {
                    return Err(raw.substitution(
                        name,
                        format!("no group `{g}` (groups are named in lower case)"),
                    ));
                }
                self.is_option(g, option).then_some((g, option))
            }
            None => [group, "DEFAULT"]
                .into_iter()
                .find(|g| self.is_option(g, name))
                .map(|g| (g, name)),
        };
        let Some((g, option)) = target else {
            return Err(raw.substitution(
                name,
                "no option of that name is set in the files or known to cachectl \
                 (oslo.config refuses names of no option)",
            ));
        };
        self.resolve_name(g, option, name, raw)
    }

    /// The substituted text of the option `option` of `group`, which `$reference` in `raw` names.
    fn resolve_name(
        &mut self,
        group: &str,
        option: &str,
        reference: &str,
        raw: &Raw,
    ) -> Result<String, ConfigError> {
        let key = (group.to_owned(), option.to_owned());
        if let Some(text) = self.done.get(&key) {
            return Ok(text.clone());
        }
        if let Some(start) = self.active.iter().position(|active| *active == key) {
            let mut names: Vec<String> = self.active[start..]
                .iter()
                .map(|(g, n)| format!("[{g}] {n}"))
                .collect();
            names.push(format!("[{}] {}", key.0, key.1));
            return Err(raw.substitution(reference, format!("a loop: {}", names.join(" -> "))));
        }
        if self.active.len() >= MAX_DEPTH {
            return Err(raw.substitution(
                reference,
                format!("more than {MAX_DEPTH} nested substitutions"),
            ));
        }
        self.active.push(key.clone());
        let text = self.option_text(&key, reference, raw);
        self.active.pop();
        let text = text?;
        self.done.insert(key, text.clone());
        Ok(text)
    }

    /// The substituted text of the option `(group, name)`, as a `$` gives it.
    fn option_text(
        &mut self,
        (group, name): &(String, String),
        reference: &str,
        raw: &Raw,
    ) -> Result<String, ConfigError> {
        if let Some(opt) = Opt::find(group, name) {
            let kind = opt.spec().kind;
            if kind == Kind::Multi {
                return Err(raw.substitution(
                    reference,
                    "cachectl does not substitute a multi-valued option",
                ));
            }
            return match self.substituted_in(opt, group)? {
                Some(value) => as_substituted(kind, &value.text).map_err(|p| value.bad_value(p)),
                // oslo.config substitutes None as ''.
                None if opt == Opt::DefaultEphemeralFormat => Ok(String::new()),
                None => Err(raw.substitution(
                    reference,
                    "not set in the files, and no value was given for it",
                )),
            };
        }
        let Some(found) = self.store.latest(&[(group.as_str(), name.as_str())]) else {
            return Err(raw.substitution(reference, "not set in the files"));
        };
        let value = Raw::found(&found);
        self.expand(&value, group)
    }
}

/// A required option's setting: converted by `convert`. (Every required option has a default,
/// so it is never unset; an unset one would read as empty.)
pub(crate) fn required<T>(
    resolver: &mut Resolver<'_>,
    opt: Opt,
    convert: impl Fn(&str) -> Result<T, String>,
) -> Result<Setting<T>, ConfigError> {
    let raw = resolver.substituted(opt)?.unwrap_or_else(|| Raw {
        text: String::new(),
        from: Provenance::Default,
        section: opt.spec().group.to_owned(),
        key: opt.spec().name.to_owned(),
    });
    let value = convert(&raw.text).map_err(|problem| raw.bad_value(problem))?;
    Ok(Setting {
        value,
        from: raw.from,
    })
}

/// An optional text option's setting.
pub(crate) fn optional(
    resolver: &mut Resolver<'_>,
    opt: Opt,
) -> Result<Option<Setting<String>>, ConfigError> {
    Ok(resolver.substituted(opt)?.map(|raw| Setting {
        value: raw.text,
        from: raw.from,
    }))
}

/// A path option's setting.
pub(crate) fn path(resolver: &mut Resolver<'_>, opt: Opt) -> Result<Setting<PathBuf>, ConfigError> {
    required(resolver, opt, |text| Ok(PathBuf::from(text)))
}
