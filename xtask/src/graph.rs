//! The crate graph `cargo xtask ci` checks first: which workspace crate may depend on which.
//!
//! The invariants are one table, `TABLE`, checked against what `cargo metadata --no-deps` says of
//! each workspace package. Only normal dependencies count (optional and target-specific ones
//! included): `[dev-dependencies]` and `[build-dependencies]` never reach what a crate ships.
//! Beside the table, two rules hold for every crate: only the tests may depend on the command,
//! and no library depends on a command-line or terminal crate.

use std::process::{Command, Stdio};

use serde_json::Value;

/// What a crate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// A library: no command line, no terminal (`TERMINAL_CRATES`).
    Library,
    /// The command: the only crate that may use every library.
    Command,
    /// End-to-end tests: the only crate that may depend on the command.
    Tests,
    /// Project automation (`xtask`).
    Automation,
}

/// The workspace crates a crate may depend on.
#[derive(Debug, Clone, Copy)]
enum MayUse {
    /// These, and no other.
    Only(&'static [&'static str]),
    /// Every crate of the table whose role is `Library`.
    Libraries,
    /// Any crate.
    Anything,
}

/// One row of the table.
#[derive(Debug)]
struct Rule {
    krate: &'static str,
    role: Role,
    may_use: MayUse,
    /// Why: the crate's invariant, in the words failures quote.
    why: &'static str,
}

/// Every workspace crate, what it may depend on among the others, and why.
const TABLE: &[Rule] = &[
    Rule {
        krate: "cachectl-naming",
        role: Role::Library,
        may_use: MayUse::Only(&[]),
        why: "names, no I/O",
    },
    Rule {
        krate: "cachectl-fs",
        role: Role::Library,
        may_use: MayUse::Only(&[]),
        why: "the filesystem primitives everything else uses",
    },
    Rule {
        krate: "cachectl-qcow2",
        role: Role::Library,
        may_use: MayUse::Only(&["cachectl-fs", "cachectl-naming"]),
        why: "disk headers; I/O only through cachectl-fs, names quoted as cachectl-naming does",
    },
    Rule {
        krate: "cachectl-sidecar",
        role: Role::Library,
        may_use: MayUse::Only(&["cachectl-fs"]),
        why: "sidecars",
    },
    Rule {
        krate: "cachectl-policy",
        role: Role::Library,
        may_use: MayUse::Only(&["cachectl-naming"]),
        why: "the pure rules: no I/O crate",
    },
    Rule {
        krate: "cachectl-sources",
        role: Role::Library,
        may_use: MayUse::Only(&["cachectl-fs", "cachectl-naming", "cachectl-policy"]),
        why: "parsers of outside input, fuzzed without the command",
    },
    Rule {
        krate: "cachectl",
        role: Role::Command,
        may_use: MayUse::Libraries,
        why: "the command",
    },
    Rule {
        krate: "cachectl-e2e",
        role: Role::Tests,
        may_use: MayUse::Anything,
        why: "tests",
    },
    Rule {
        krate: "xtask",
        role: Role::Automation,
        may_use: MayUse::Only(&["cachectl-naming", "cachectl-qcow2"]),
        why: "automation, never the command",
    },
];

/// Command-line and terminal crates: they belong to the command, never to a library.
const TERMINAL_CRATES: &[&str] = &["clap", "tracing-subscriber", "indicatif"];

/// A workspace package as `cargo metadata` describes it: its name, and the names of its normal
/// dependencies.
#[derive(Debug)]
struct Package {
    name: String,
    dependencies: Vec<String>,
}

/// Runs `cargo metadata` and checks the graph against the table.
pub fn check() -> Result<(), String> {
    let args = ["metadata", "--format-version", "1", "--no-deps"];
    eprintln!("xtask: cargo {}", args.join(" "));
    let output = Command::new(crate::cargo_program())
        .args(args)
        .current_dir(crate::root())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|err| format!("cannot run cargo: {err}"))?;
    if !output.status.success() {
        return Err(format!(
            "`cargo {}` failed ({})",
            args.join(" "),
            output.status
        ));
    }
    let json = String::from_utf8(output.stdout)
        .map_err(|err| format!("`cargo metadata` printed no UTF-8: {err}"))?;
    let checked = check_metadata(&json)?;
    eprintln!("xtask: crate graph: {checked} crates as the invariants say");
    Ok(())
}

/// Checks `cargo metadata` output: the number of crates checked, or every broken rule.
fn check_metadata(json: &str) -> Result<usize, String> {
    let packages = parse(json)?;
    let broken = violations(&packages);
    if broken.is_empty() {
        Ok(packages.len())
    } else {
        Err(format!(
            "the crate graph breaks the invariants:\n  {}",
            broken.join("\n  ")
        ))
    }
}

/// The workspace packages of `cargo metadata --format-version 1 --no-deps` output.
fn parse(json: &str) -> Result<Vec<Package>, String> {
    let metadata: Value =
        serde_json::from_str(json).map_err(|err| format!("cargo metadata: {err}"))?;
    let packages = metadata
        .get("packages")
        .and_then(Value::as_array)
        .ok_or("cargo metadata: no \"packages\" array")?;
    packages.iter().map(package).collect()
}

fn package(value: &Value) -> Result<Package, String> {
    let name = value
        .get("name")
        .and_then(Value::as_str)
        .ok_or("cargo metadata: a package without a name")?;
    let dependencies = value
        .get("dependencies")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("cargo metadata: {name} has no \"dependencies\" array"))?;
    let mut normal = Vec::new();
    for dependency in dependencies {
        let dependency_name = dependency.get("name").and_then(Value::as_str);
        // `"kind": null` is a normal dependency; "dev" and "build" are the others.
        let kind = dependency.get("kind").unwrap_or(&Value::Null);
        match (dependency_name, kind) {
            (Some(dependency_name), Value::Null) => normal.push(dependency_name.to_owned()),
            (Some(_), Value::String(_)) => {}
            _ => {
                return Err(format!(
                    "cargo metadata: {name} has a dependency {dependency}"
                ));
            }
        }
    }
    Ok(Package {
        name: name.to_owned(),
        dependencies: normal,
    })
}

/// Every broken rule, one line each, in the packages' order.
fn violations(packages: &[Package]) -> Vec<String> {
    let workspace: Vec<&str> = packages.iter().map(|p| p.name.as_str()).collect();
    let mut broken = Vec::new();
    for package in packages {
        let Some(rule) = rule(&package.name) else {
            broken.push(format!(
                "{} is not in the table of crates: add it to the table in xtask/src/graph.rs",
                package.name
            ));
            continue;
        };
        for dependency in &package.dependencies {
            let in_workspace = workspace.contains(&dependency.as_str());
            if let Some(why) = judge(rule, dependency, in_workspace) {
                broken.push(format!("{} depends on {dependency}: {why}", package.name));
            }
        }
    }
    broken
}

/// The row of `krate`.
fn rule(krate: &str) -> Option<&'static Rule> {
    TABLE.iter().find(|rule| rule.krate == krate)
}

/// What is wrong with `rule.krate` depending on `dependency`, if anything.
fn judge(rule: &Rule, dependency: &str, in_workspace: bool) -> Option<String> {
    let dependency_role = rule_of_workspace(dependency, in_workspace).map(|d| d.role);
    if dependency_role == Some(Role::Command) && rule.role != Role::Tests {
        return Some(format!(
            "only the tests ({}) may depend on {dependency}, the command; no library depends \
             on the command",
            crates_with(Role::Tests).join(", ")
        ));
    }
    if rule.role == Role::Library && TERMINAL_CRATES.contains(&dependency) {
        return Some(format!(
            "a library may not depend on {} (command-line and terminal crates belong to the \
             command only)",
            TERMINAL_CRATES.join(", ")
        ));
    }
    if in_workspace && !may_use(rule, dependency) {
        return Some(format!(
            "{} may depend {} ({})",
            rule.krate,
            allowed(rule),
            rule.why
        ));
    }
    None
}

/// The row of a workspace crate; `None` for a crate from outside, or one the table lacks.
fn rule_of_workspace(krate: &str, in_workspace: bool) -> Option<&'static Rule> {
    in_workspace.then(|| rule(krate)).flatten()
}

fn may_use(rule: &Rule, dependency: &str) -> bool {
    match rule.may_use {
        MayUse::Only(crates) => crates.contains(&dependency),
        MayUse::Libraries => self::rule(dependency).is_some_and(|d| d.role == Role::Library),
        MayUse::Anything => true,
    }
}

/// What `rule.krate` may depend on, for messages: "only on x, y" or "on no workspace crate".
fn allowed(rule: &Rule) -> String {
    let crates = match rule.may_use {
        MayUse::Only(crates) => crates.to_vec(),
        MayUse::Libraries => crates_with(Role::Library),
        MayUse::Anything => return "on any crate".to_owned(),
    };
    if crates.is_empty() {
        "on no workspace crate".to_owned()
    } else {
        format!("only on {}", crates.join(", "))
    }
}

fn crates_with(role: Role) -> Vec<&'static str> {
    TABLE
        .iter()
        .filter(|rule| rule.role == role)
        .map(|rule| rule.krate)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A `cargo metadata` package: normal dependencies, and dev- and build-dependencies that
    /// never count.
    fn package_json(name: &str, normal: &[&str], dev: &[&str]) -> Value {
        let dependency = |name: &&str, kind: Value| {
            json!({"name": name, "source": null, "req": "*", "kind": kind, "rename": null,
                   "optional": false, "target": null})
        };
        let dependencies: Vec<Value> = normal
            .iter()
            .map(|name| dependency(name, Value::Null))
            .chain(dev.iter().map(|name| dependency(name, json!("dev"))))
            .chain([dependency(&"cc", json!("build"))])
            .collect();
        json!({"name": name, "version": "0.1.0", "dependencies": dependencies})
    }

    /// The workspace as the lead's merges leave it, with the normal dependencies of a package
    /// replaced (or a package added) by each change.
    fn metadata(changes: &[(&str, &[&str])]) -> String {
        let mut packages = vec![
            ("cachectl-naming", vec!["md-5", "sha1", "thiserror"]),
            ("cachectl-fs", vec!["rustix"]),
            ("cachectl-qcow2", vec!["cachectl-fs", "nom", "thiserror"]),
            ("cachectl-sidecar", vec!["cachectl-fs", "sha1"]),
            ("cachectl-policy", vec!["cachectl-naming"]),
            (
                "cachectl-sources",
                vec!["cachectl-fs", "cachectl-naming", "cachectl-policy", "serde"],
            ),
            (
                "cachectl",
                vec![
                    "cachectl-fs",
                    "cachectl-naming",
                    "cachectl-policy",
                    "cachectl-qcow2",
                    "cachectl-sidecar",
                    "cachectl-sources",
                    "clap",
                    "indicatif",
                    "tracing-subscriber",
                ],
            ),
            ("cachectl-e2e", vec!["cachectl", "cachectl-fs", "insta"]),
            ("xtask", vec!["cachectl-naming", "cachectl-qcow2", "nix"]),
        ];
        for &(name, dependencies) in changes {
            match packages.iter_mut().find(|(n, _)| *n == name) {
                Some((_, deps)) => *deps = dependencies.to_vec(),
                None => packages.push((name, dependencies.to_vec())),
            }
        }
        let packages: Vec<Value> = packages
            .iter()
            // Dev-dependencies on anything are allowed: tests of a library may use the command.
            .map(|(name, deps)| package_json(name, deps, &["cachectl", "clap", "tempfile"]))
            .collect();
        json!({"packages": packages, "workspace_members": [], "version": 1}).to_string()
    }

    /// The check of that workspace with `changes`: the crates checked, or the broken rules.
    fn check(changes: &[(&str, &[&str])]) -> Result<usize, Vec<String>> {
        check_metadata(&metadata(changes)).map_err(|err| {
            let mut lines = err.lines();
            assert_eq!(lines.next(), Some("the crate graph breaks the invariants:"));
            lines.map(|line| line.trim().to_owned()).collect()
        })
    }

    #[test]
    fn the_invariant_graph_passes() {
        assert_eq!(check(&[]), Ok(9));
    }

    #[test]
    fn the_qcow2_crate_may_do_without_the_fs_crate() {
        assert_eq!(check(&[("cachectl-qcow2", &["nom"])]), Ok(9));
    }

    #[test]
    fn the_policy_may_not_depend_on_the_fs_crate() {
        assert_eq!(
            check(&[("cachectl-policy", &["cachectl-naming", "cachectl-fs"])]),
            Err(vec![
                "cachectl-policy depends on cachectl-fs: cachectl-policy may depend only on \
                 cachectl-naming (the pure rules: no I/O crate)"
                    .to_owned()
            ])
        );
    }

    #[test]
    fn no_library_depends_on_the_command() {
        let why = "only the tests (cachectl-e2e) may depend on cachectl, the command; no \
                   library depends on the command";
        assert_eq!(
            check(&[
                ("cachectl-sidecar", &["cachectl-fs", "cachectl"]),
                ("xtask", &["cachectl-naming", "cachectl"]),
            ]),
            Err(vec![
                format!("cachectl-sidecar depends on cachectl: {why}"),
                format!("xtask depends on cachectl: {why}"),
            ])
        );
    }

    #[test]
    fn a_library_may_not_use_the_terminal() {
        let why = "a library may not depend on clap, tracing-subscriber, indicatif \
                   (command-line and terminal crates belong to the command only)";
        assert_eq!(
            check(&[("cachectl-naming", &["thiserror", "clap", "indicatif"])]),
            Err(vec![
                format!("cachectl-naming depends on clap: {why}"),
                format!("cachectl-naming depends on indicatif: {why}"),
            ])
        );
    }

    #[test]
    fn the_command_may_use_libraries_only() {
        assert_eq!(
            check(&[("cachectl", &["cachectl-fs", "xtask"])]),
            Err(vec![
                "cachectl depends on xtask: cachectl may depend only on cachectl-naming, \
                 cachectl-fs, cachectl-qcow2, cachectl-sidecar, cachectl-policy, \
                 cachectl-sources (the command)"
                    .to_owned()
            ])
        );
    }

    #[test]
    fn a_crate_the_table_does_not_know_fails() {
        assert_eq!(
            check(&[("cachectl-libvirt", &["cachectl-fs"])]),
            Err(vec![
                "cachectl-libvirt is not in the table of crates: add it to the table in \
                 xtask/src/graph.rs"
                    .to_owned()
            ])
        );
    }

    #[test]
    fn metadata_of_another_shape_is_an_error() {
        for json in [
            "",
            "{}",
            r#"{"packages": [{"dependencies": []}]}"#,
            r#"{"packages": [{"name": "xtask"}]}"#,
            r#"{"packages": [{"name": "xtask", "dependencies": [{"kind": null}]}]}"#,
        ] {
            assert!(check_metadata(json).is_err(), "{json:?}");
        }
    }

    /// Every crate a row names is a row of the table, and no crate has two rows.
    #[test]
    fn the_table_names_only_its_own_crates() {
        for (index, row) in TABLE.iter().enumerate() {
            assert!(
                TABLE[index + 1..].iter().all(|r| r.krate != row.krate),
                "{}",
                row.krate
            );
            if let MayUse::Only(crates) = row.may_use {
                for krate in crates {
                    assert!(rule(krate).is_some(), "{} names {krate}", row.krate);
                }
            }
        }
    }
}
