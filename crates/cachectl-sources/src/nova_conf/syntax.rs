//! One nova.conf file read as oslo.config's `iniparser` reads it: `[section]` headers,
//! `key = value` or `key: value`, comments, quotes and continuation lines.
//!
//! What oslo.config 10 (`oslo_config/iniparser.py`, `cfg.ConfigParser`) does, line by line:
//!
//! - The file is UTF-8 text; lines end at `\n`, `\r\n` or `\r` (Python's universal newlines).
//!   Trailing white space is dropped from every line.
//! - An empty line ends the value before it. A line that starts with a space or a tab continues
//!   it: its text (without the indentation) joins the value after a `\n`. There is no
//!   comment inside a value: an indented `# ...` is part of it.
//! - `[name]` starts a section; the name is everything between the brackets, as written.
//! - A line that starts with `#` or `;` is a comment; a `#` later in a line is part of the value.
//! - Any other line is `key = value` or `key: value`, split at the first `=` or `:` (whichever
//!   comes first); both sides lose their surrounding white space. A value whose first line
//!   starts and ends with the same quote (`"` or `'`) loses the two quotes.
//! - A repeated key gives each of its values, in order (a multi-valued option takes them all;
//!   another one takes the last).
//!
//! White space is Python's (`str.isspace`): Unicode's, and the separators `\x1c` to `\x1f`.

use std::path::Path;

use super::error::ConfigError;

/// One assignment of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The section it is in, as written (`DEFAULT`, `image_cache`, `LIBVIRT`...).
    pub section: String,
    /// The key, as written (keys are case-sensitive).
    pub key: String,
    /// The value: quotes removed, continuation lines joined with `\n`, nothing substituted.
    pub value: String,
    /// The 1-based line of the key.
    pub line: usize,
}

impl Entry {
    /// The group of [`Entry::section`], as oslo.config looks options up.
    pub fn group(&self) -> String {
        group_name(&self.section)
    }
}

/// The group a section name stands for: `DEFAULT` as it is, any other name in lower case
/// (`[IMAGE_CACHE]` is `image_cache`; `[default]` is a group `default`, not `DEFAULT`).
pub fn group_name(section: &str) -> String {
    if section == "DEFAULT" {
        section.to_owned()
    } else {
        section.to_lowercase()
    }
}

/// White space as Python's `str.isspace` sees it.
pub(crate) fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// The lines of `bytes` as Python reads a text file: ended by `\n`, `\r\n` or `\r`.
pub(crate) fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(bytes);
    std::iter::from_fn(move || {
        let text = rest?;
        match text.iter().position(|&b| b == b'\n' || b == b'\r') {
            Some(end) => {
                let after = match (text[end], text.get(end + 1)) {
                    (b'\r', Some(b'\n')) => end + 2,
                    _ => end + 1,
                };
                rest = (after < text.len()).then(|| &text[after..]);
                Some(&text[..end])
            }
            None => {
                rest = None;
                (!text.is_empty()).then_some(text)
            }
        }
    })
}

/// An assignment whose value may continue on the next lines.
struct Pending {
    key: String,
    lines: Vec<String>,
    line: usize,
}

/// Parses one file; `path` names it in errors.
///
/// An error is `<path>:<line>: <what is wrong>`: a line outside any section, a key with no
/// separator or no name, a section header without its `]` or without a name, an indented line
/// that continues nothing, text that is not UTF-8.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Vec<Entry>, ConfigError> {
    let malformed = |line: usize, message: &str| ConfigError::Malformed {
        path: path.to_owned(),
        line,
        message: message.to_owned(),
    };
    let mut entries = Vec::new();
    let mut section: Option<String> = None;
    let mut pending: Option<Pending> = None;
    for (index, raw) in lines(bytes).enumerate() {
        let number = index + 1;
        let text = std::str::from_utf8(raw)
            .map_err(|_| malformed(number, "not UTF-8 text (oslo.config reads UTF-8)"))?;
        let line = text.trim_end_matches(is_space);
        if line.starts_with([' ', '\t']) {
            match &mut pending {
                Some(value) => value
                    .lines
                    .push(line.trim_start_matches(is_space).to_owned()),
                None => {
                    return Err(malformed(
                        number,
                        "an indented line that continues no value",
                    ));
                }
            }
            continue;
        }
        if let Some(done) = pending.take() {
            entries.push(finish(done, section.as_deref()).map_err(|l| malformed(l, OUTSIDE))?);
        }
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if line.starts_with('[') {
            section = Some(section_name(line).map_err(|m| malformed(number, m))?);
        } else {
            let (key, value) = split_assignment(line).map_err(|m| malformed(number, m))?;
            pending = Some(Pending {
                key,
                lines: vec![value],
                line: number,
            });
        }
    }
    if let Some(done) = pending {
        entries.push(finish(done, section.as_deref()).map_err(|l| malformed(l, OUTSIDE))?);
    }
    Ok(entries)
}

const OUTSIDE: &str = "a value outside any section (a `[section]` line must come first)";

/// The entry of a finished assignment, or the line of its key if no section holds it.
fn finish(pending: Pending, section: Option<&str>) -> Result<Entry, usize> {
    let section = section.ok_or(pending.line)?;
    Ok(Entry {
        section: section.to_owned(),
        key: pending.key,
        value: pending.lines.join("\n"),
        line: pending.line,
    })
}

/// The name of a `[name]` line (without trailing white space).
fn section_name(line: &str) -> Result<String, &'static str> {
    let inner = line
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .ok_or("a section header that does not end with `]`")?;
    if inner.is_empty() {
        return Err("a section header with no name");
    }
    Ok(inner.to_owned())
}

/// `key = value` or `key: value`, split at the first separator, quotes removed from the value.
fn split_assignment(line: &str) -> Result<(String, String), &'static str> {
    let at = match (line.find('='), line.find(':')) {
        (Some(equal), Some(colon)) => equal.min(colon),
        (Some(at), None) | (None, Some(at)) => at,
        (None, None) => return Err("no `=` or `:` after the key"),
    };
    let key = line[..at].trim_matches(is_space);
    if key.is_empty() {
        return Err("no key before the `=` or `:`");
    }
    let value = line[at + 1..].trim_matches(is_space);
    Ok((key.to_owned(), unquote(value).to_owned()))
}

/// `value` without its quotes when it starts and ends with the same one (a lone `"` is empty).
fn unquote(value: &str) -> &str {
    match (value.chars().next(), value.chars().next_back()) {
        (Some(first @ ('"' | '\'')), Some(last)) if first == last => {
            value.get(1..value.len() - 1).unwrap_or_default()
        }
        _ => value,
    }
}

/// A nova.conf that [`parse`] reads as `entries` again (the same sections, keys and values, in
/// the same order), for entries [`parse`] returned: a section header where the section changes,
/// values quoted where their first line would lose white space or quotes, and continuation
/// lines indented.
pub fn render(entries: &[Entry]) -> String {
    let mut text = String::new();
    let mut section: Option<&str> = None;
    for entry in entries {
        if section != Some(entry.section.as_str()) {
            text.push_str(&format!("[{}]\n", entry.section));
            section = Some(&entry.section);
        }
        // A key that would read as a header or a comment gets a form feed before it, which
        // oslo.config strips as white space around the key.
        if entry.key.starts_with(['[', '#', ';']) {
            text.push('\u{c}');
        }
        text.push_str(&entry.key);
        text.push_str(" =");
        let mut lines = entry.value.split('\n');
        let first = lines.next().unwrap_or_default();
        let trimmed = first.trim_matches(is_space);
        if trimmed.len() != first.len() || unquote(first).len() != first.len() {
            text.push_str(&format!(" \"{first}\""));
        } else if !first.is_empty() {
            text.push(' ');
            text.push_str(first);
        }
        text.push('\n');
        for line in lines {
            text.push_str("    ");
            text.push_str(line);
            text.push('\n');
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Result<Vec<(String, String, String, usize)>, String> {
        let entries = parse(Path::new("nova.conf"), text.as_bytes()).map_err(|e| e.to_string())?;
        Ok(entries
            .into_iter()
            .map(|e| (e.section, e.key, e.value, e.line))
            .collect())
    }

    fn entry(
        section: &str,
        key: &str,
        value: &str,
        line: usize,
    ) -> (String, String, String, usize) {
        (section.into(), key.into(), value.into(), line)
    }

    #[test]
    fn sections_separators_and_comments() -> Result<(), String> {
        let text = "# a comment\n; another\n[DEFAULT]\nstate_path = /srv/nova # not a comment\n\
                    my_ip: 10.0.0.5\nvirt_mkfs = default=mkfs.ext4 -L %(fs_label)s\n\
                    url: http://h:80/x\n[image_cache]\nmanager_interval=-1\n";
        assert_eq!(
            parsed(text)?,
            [
                entry("DEFAULT", "state_path", "/srv/nova # not a comment", 4),
                entry("DEFAULT", "my_ip", "10.0.0.5", 5),
                entry(
                    "DEFAULT",
                    "virt_mkfs",
                    "default=mkfs.ext4 -L %(fs_label)s",
                    6
                ),
                entry("DEFAULT", "url", "http://h:80/x", 7),
                entry("image_cache", "manager_interval", "-1", 9),
            ]
        );
        Ok(())
    }

    #[test]
    fn quotes_go_only_in_matching_pairs_on_the_first_line() -> Result<(), String> {
        let text = "[DEFAULT]\na = \"/srv/my nova\"\nb = '_base'\nc = \"x'\nd = \"\ne = ''\n\
                    f = \" padded \"\ng = \"two\n  lines\"\nh = 'it''s'\n";
        let values: Vec<String> = parsed(text)?.into_iter().map(|e| e.2).collect();
        assert_eq!(
            values,
            [
                "/srv/my nova",
                "_base",
                "\"x'",
                "",
                "",
                " padded ",
                "\"two\nlines\"",
                "it''s"
            ]
        );
        Ok(())
    }

    #[test]
    fn indented_lines_continue_a_value_until_a_blank_or_unindented_line() -> Result<(), String> {
        let text = "[DEFAULT]\nvirt_mkfs = default=mkfs.ext4\n  -F %(target)s\n\t# still the value\n\
                    host = h1\n# a comment ends nothing it does not follow\nmy_ip =\n    10.0.0.5\n\n\
                    [libvirt]\nimages_type = qcow2\n";
        assert_eq!(
            parsed(text)?,
            [
                entry(
                    "DEFAULT",
                    "virt_mkfs",
                    "default=mkfs.ext4\n-F %(target)s\n# still the value",
                    2
                ),
                entry("DEFAULT", "host", "h1", 5),
                entry("DEFAULT", "my_ip", "\n10.0.0.5", 7),
                entry("libvirt", "images_type", "qcow2", 11),
            ]
        );
        Ok(())
    }

    #[test]
    fn lines_end_as_python_reads_them_and_lose_python_white_space() -> Result<(), String> {
        let text = "[DEFAULT]\r\nhost = h1 \u{1c}\rmy_ip = a\r  b\r\n\u{c}state_path = /x\u{a0}\n";
        assert_eq!(
            parsed(text)?,
            [
                entry("DEFAULT", "host", "h1", 2),
                entry("DEFAULT", "my_ip", "a\nb", 3),
                entry("DEFAULT", "state_path", "/x", 5),
            ]
        );
        assert_eq!(lines(b"a\r\n\r\nb\rc\n").count(), 4);
        assert_eq!(lines(b"").count(), 0);
        assert_eq!(lines(b"x").count(), 1);
        Ok(())
    }

    #[test]
    fn repeated_keys_give_every_value_in_order() -> Result<(), String> {
        let text = "[DEFAULT]\nvirt_mkfs = linux=mkfs.ext4\nvirt_mkfs = windows=mkfs.ntfs\n";
        let values: Vec<String> = parsed(text)?.into_iter().map(|e| e.2).collect();
        assert_eq!(values, ["linux=mkfs.ext4", "windows=mkfs.ntfs"]);
        Ok(())
    }

    #[test]
    fn malformed_lines_say_where_and_what() {
        for (text, error) in [
            ("host = h1\n", "nova.conf:1: a value outside any section"),
            (
                "\n\nhost = h1\n  more\n[DEFAULT]\n",
                "nova.conf:3: a value outside any section",
            ),
            (
                "[DEFAULT]\nhost\n",
                "nova.conf:2: no `=` or `:` after the key",
            ),
            (
                "[DEFAULT]\n = h1\n",
                "nova.conf:2: an indented line that continues no value",
            ),
            (
                "[DEFAULT]\n= h1\n",
                "nova.conf:2: no key before the `=` or `:`",
            ),
            (
                "[DEFAULT\nhost = h1\n",
                "nova.conf:1: a section header that does not end with `]`",
            ),
            (
                "[DEFAULT] # hosts\n",
                "nova.conf:1: a section header that does not end with `]`",
            ),
            ("[]\n", "nova.conf:1: a section header with no name"),
            (
                "[DEFAULT]\n\n  h1\n",
                "nova.conf:3: an indented line that continues no value",
            ),
            // A byte-order mark is no white space to Python: the header is no header.
            (
                "\u{feff}[DEFAULT]\n",
                "nova.conf:1: no `=` or `:` after the key",
            ),
        ] {
            let err = parse(Path::new("nova.conf"), text.as_bytes()).expect_err(text);
            let err = err.to_string();
            assert!(err.starts_with(error), "{text:?}: {err}");
        }
        let latin1 = b"[DEFAULT]\nhost = h\xc3\xa9\nmy_ip = \xff\n";
        let err = parse(Path::new("nova.conf"), latin1).expect_err("latin-1");
        assert!(
            err.to_string().starts_with("nova.conf:3: not UTF-8 text"),
            "{err}"
        );
    }

    #[test]
    fn sections_as_written_and_groups_as_oslo_looks_them_up() -> Result<(), String> {
        let entries = parse(
            Path::new("n"),
            b"[IMAGE_CACHE]\na=1\n[default]\nb=2\n[ x ]\nc=3\n",
        )
        .map_err(|e| e.to_string())?;
        let groups: Vec<(String, String)> = entries
            .iter()
            .map(|e| (e.section.clone(), e.group()))
            .collect();
        assert_eq!(
            groups,
            [
                ("IMAGE_CACHE".into(), "image_cache".into()),
                ("default".into(), "default".into()),
                (" x ".into(), " x ".into())
            ]
        );
        assert_eq!(group_name("DEFAULT"), "DEFAULT");
        Ok(())
    }

    #[test]
    fn rendered_entries_parse_back_to_themselves() -> Result<(), String> {
        let text = "[DEFAULT]\na = \" x \"\nb = '\"'\nc = \"\nd =\n  two\n  three\n\
                    \u{c}[e = 1\n\u{c}#f = 2\ng = \"q\" and \"q\"\n[image_cache]\nh: 1\n";
        let entries = parse(Path::new("n"), text.as_bytes()).map_err(|e| e.to_string())?;
        let again =
            parse(Path::new("n"), render(&entries).as_bytes()).map_err(|e| e.to_string())?;
        let strip = |es: &[Entry]| -> Vec<(String, String, String)> {
            es.iter()
                .map(|e| (e.section.clone(), e.key.clone(), e.value.clone()))
                .collect()
        };
        assert_eq!(strip(&again), strip(&entries));
        assert_eq!(entries.len(), 8);
        Ok(())
    }
}
