//! The module graph of each crate: no two modules of a crate import each other, directly or
//! through others.
//!
//! An edge goes from a module to every module its code names: `crate::a::b` and
//! `crate::{a, b::c}` paths, `super::` paths, and a parent's `child::` paths, each resolved to
//! the deepest module that exists. Test code (`#[cfg(test)]` items) and comments are left out:
//! tests sit above everything and may import what they test. It reads the source as text, which
//! is enough for the paths this workspace writes; it is not a Rust parser.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// A module, as its path from the crate root (`["report", "output"]`; the root is `[]`).
type Module = Vec<String>;

/// Checks the crates under `root` (`crates/*` and `xtask`); says how many modules were read.
pub fn check(root: &Path) -> Result<String, String> {
    let mut crates: Vec<PathBuf> = fs::read_dir(root.join("crates"))
        .map_err(|err| format!("cannot list crates/: {err}"))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .collect();
    crates.push(root.join("xtask"));
    crates.sort();
    let mut problems = Vec::new();
    let mut modules = 0;
    for krate in &crates {
        let sources = read_sources(&krate.join("src"))?;
        modules += sources.len();
        let name = krate
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for cycle in cycles(&sources) {
            let shown: Vec<String> = cycle.iter().map(|m| show(m)).collect();
            problems.push(format!("{name}: {}", shown.join(" -> ")));
        }
    }
    if problems.is_empty() {
        Ok(format!(
            "module graph: {modules} modules of {} crates, no two importing each other",
            crates.len()
        ))
    } else {
        Err(format!(
            "modules that import each other (make one of them not need the other):\n  {}",
            problems.join("\n  ")
        ))
    }
}

fn show(module: &[String]) -> String {
    if module.is_empty() {
        "lib".to_owned()
    } else {
        module.join("::")
    }
}

/// Every `.rs` file under `src`, as its module and its text.
fn read_sources(src: &Path) -> Result<Vec<(Module, String)>, String> {
    let mut sources = Vec::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = fs::read_dir(&dir).map_err(|err| format!("{}: {err}", dir.display()))?;
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            let relative = path.strip_prefix(src).unwrap_or(&path).with_extension("");
            let mut module: Module = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(
                module.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                module.pop();
            }
            let text =
                fs::read_to_string(&path).map_err(|err| format!("{}: {err}", path.display()))?;
            sources.push((module, text));
        }
    }
    Ok(sources)
}

/// The cycles of the module graph of one crate's sources.
fn cycles(sources: &[(Module, String)]) -> Vec<Vec<Module>> {
    let modules: BTreeSet<Module> = sources.iter().map(|(m, _)| m.clone()).collect();
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (module, text) in sources {
        let code = without_tests(&without_comments(text));
        let targets = edges.entry(module.clone()).or_default();
        for target in references(module, &code, &modules) {
            if &target != module && !target.is_empty() {
                targets.insert(target);
            }
        }
    }
    let mut found = Vec::new();
    let mut state: BTreeMap<Module, bool> = BTreeMap::new(); // false: on the stack, true: done
    for module in &modules {
        if !state.contains_key(module) {
            visit(module, &edges, &mut state, &mut Vec::new(), &mut found);
        }
    }
    found
}

fn visit(
    module: &Module,
    edges: &BTreeMap<Module, BTreeSet<Module>>,
    state: &mut BTreeMap<Module, bool>,
    stack: &mut Vec<Module>,
    found: &mut Vec<Vec<Module>>,
) {
    state.insert(module.clone(), false);
    stack.push(module.clone());
    for next in edges.get(module).into_iter().flatten() {
        match state.get(next) {
            Some(false) => {
                let start = stack.iter().position(|m| m == next).unwrap_or(0);
                let mut cycle = stack[start..].to_vec();
                cycle.push(next.clone());
                found.push(cycle);
            }
            Some(true) => {}
            None => visit(next, edges, state, stack, found),
        }
    }
    stack.pop();
    state.insert(module.clone(), true);
}

/// The modules `code` (of `module`) names.
fn references(module: &Module, code: &str, modules: &BTreeSet<Module>) -> Vec<Module> {
    let parent: Module = module[..module.len().saturating_sub(1)].to_vec();
    let mut found = Vec::new();
    for (prefix, base) in [("crate::", Vec::new()), ("super::", parent)] {
        for path in paths_after(code, prefix) {
            let mut full = base.clone();
            full.extend(path.split("::").map(str::to_owned));
            if let Some(target) = deepest(&full, modules) {
                found.push(target);
            } else if prefix == "super::" {
                found.push(base.clone());
            }
        }
    }
    // A parent naming its child: `child::item`.
    for word in words_before_path_separator(code) {
        let mut child = module.clone();
        child.push(word);
        if modules.contains(&child) {
            found.push(child);
        }
    }
    found
}

/// The paths after each `prefix` in `code`: `a::b::c`, and each path of a `{a, b::c}` group.
fn paths_after(code: &str, prefix: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find(prefix) {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for part in group[..end].split(',') {
                let part = part.split(" as ").next().unwrap_or("").trim();
                if !part.is_empty() {
                    paths.push(part.to_owned());
                }
            }
        } else {
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(rest.len());
            paths.push(rest[..end].trim_end_matches(':').to_owned());
        }
    }
    paths
}

/// Every identifier directly followed by `::` and not preceded by one (`child` in `child::f`).
fn words_before_path_separator(code: &str) -> BTreeSet<String> {
    let mut words = BTreeSet::new();
    let bytes = code.as_bytes();
    for (at, _) in code.match_indices("::") {
        let start = code[..at]
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
            .map_or(0, |i| i + 1);
        let preceded = start >= 2 && &bytes[start - 2..start] == b"::";
        if start < at && !preceded {
            words.insert(code[start..at].to_owned());
        }
    }
    words
}

/// The longest prefix of `path` that is a module.
fn deepest(path: &[String], modules: &BTreeSet<Module>) -> Option<Module> {
    (1..=path.len())
        .rev()
        .map(|len| path[..len].to_vec())
        .find(|prefix| modules.contains(prefix))
}

/// `code` without `//` comments (string contents may lose a `//`: harmless here).
fn without_comments(code: &str) -> String {
    code.lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `code` without the items marked `#[cfg(test)]` (a `mod tests { ... }`, an `impl`, a `mod x;`).
fn without_tests(code: &str) -> String {
    let mut kept = Vec::new();
    let mut lines = code.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "#[cfg(test)]" {
            kept.push(line);
            continue;
        }
        let mut depth = 0i64;
        let mut opened = false;
        for item in lines.by_ref() {
            depth += item.matches('{').count() as i64 - item.matches('}').count() as i64;
            opened |= item.contains('{');
            if (opened && depth <= 0) || (!opened && item.trim_end().ends_with(';')) {
                break;
            }
        }
    }
    kept.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(path: &str) -> Module {
        path.split("::")
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect()
    }

    fn cycles_of(sources: &[(&str, &str)]) -> Vec<String> {
        let sources: Vec<(Module, String)> = sources
            .iter()
            .map(|(m, text)| (module(m), (*text).to_owned()))
            .collect();
        cycles(&sources)
            .iter()
            .map(|c| c.iter().map(|m| show(m)).collect::<Vec<_>>().join(" -> "))
            .collect()
    }

    #[test]
    fn a_tree_that_imports_downward_has_no_cycle() {
        let tree = [
            ("", "mod a;\nmod b;\nmod report;\npub use a::f;"),
            ("a", "use crate::b::{g, h as i};\n"),
            ("b", "pub fn g() {}\n// crate::a::f in a comment\n"),
            ("report", "pub mod output;\npub struct Report;"),
            (
                "report::output",
                "use super::Report;\nuse crate::report::Report as R;",
            ),
        ];
        assert_eq!(cycles_of(&tree), Vec::<String>::new());
    }

    #[test]
    fn modules_that_import_each_other_are_named() {
        let direct = [("a", "use crate::b::g;"), ("b", "use crate::a::f;")];
        assert_eq!(cycles_of(&direct), ["a -> b -> a"]);
        let through_a_third = [
            ("a", "use crate::{b::g};"),
            ("b", "fn f() { crate::c::h() }"),
            ("c", "use crate::a;"),
        ];
        assert_eq!(cycles_of(&through_a_third), ["a -> b -> c -> a"]);
        let parent_and_child = [
            ("report", "mod text;\nfn w() { text::render() }"),
            ("report::text", "use super::{Report, count};"),
        ];
        assert_eq!(
            cycles_of(&parent_and_child),
            ["report -> report::text -> report"]
        );
    }

    #[test]
    fn test_code_does_not_count() {
        let tree = [
            ("a", "use crate::b::g;"),
            (
                "b",
                "pub fn g() {}\n#[cfg(test)]\nmod tests {\n    use crate::a;\n}\n",
            ),
        ];
        assert_eq!(cycles_of(&tree), Vec::<String>::new());
    }
}
