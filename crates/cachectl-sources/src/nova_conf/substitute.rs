//! `$name` substitution as oslo.config does it (`ConfigOpts._substitute`): Python's
//! `string.Template.safe_substitute` with oslo.config's identifier pattern.
//!
//! - `\$` is first turned into `$$`, and `$$` is a literal `$`;
//! - `$name` and `${name}` name an option; a name is `[_a-z][._a-z0-9]*`, any case (so
//!   `$my_ip.x` is the name `my_ip.x`, and `$host_` the name `host_`), and may be
//!   `group.option`;
//! - any other `$` (`$ `, `$1`, `${x`, a `$` at the end) stays as it is.
//!
//! What a name stands for is the caller's business (the lookup). oslo.config refuses a name it
//! cannot resolve, although `safe_substitute` would keep it: its lookup raises an error
//! `safe_substitute` does not catch.

/// Why a text cannot be expanded.
#[derive(Debug)]
pub(crate) enum ExpandError<E> {
    /// The lookup of a name failed.
    Lookup(E),
    /// The result would be longer than the limit.
    TooLong,
}

/// Whether `c` may start a name: Python's case-insensitive `[_a-z]` (with the four letters
/// outside ASCII it also matches: İ ı ſ K).
fn starts_name(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic() || matches!(c, 'İ' | 'ı' | 'ſ' | 'K')
}

/// Whether `c` may continue a name: `[._a-z0-9]`, any case.
fn continues_name(c: char) -> bool {
    starts_name(c) || c.is_ascii_digit() || c == '.'
}

/// `text` with every `$name` and `${name}` replaced by what `lookup` gives for the name, at most
/// `max_len` bytes long.
pub(crate) fn expand<E>(
    text: &str,
    max_len: usize,
    mut lookup: impl FnMut(&str) -> Result<String, E>,
) -> Result<String, ExpandError<E>> {
    let text = text.replace("\\$", "$$");
    let mut out = String::with_capacity(text.len().min(max_len));
    let mut rest = text.as_str();
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        let (replacement, consumed) = match after.chars().next() {
            Some('$') => (None, 1),
            Some('{') => match name_at(&after[1..]) {
                Some(name) if after[1 + name.len()..].starts_with('}') => {
                    (Some(name), name.len() + 2)
                }
                _ => (None, 0),
            },
            _ => match name_at(after) {
                Some(name) => (Some(name), name.len()),
                None => (None, 0),
            },
        };
        match replacement {
            Some(name) => out.push_str(&lookup(name).map_err(ExpandError::Lookup)?),
            None => out.push('$'),
        }
        if out.len() > max_len {
            return Err(ExpandError::TooLong);
        }
        rest = &after[consumed..];
    }
    out.push_str(rest);
    if out.len() > max_len {
        return Err(ExpandError::TooLong);
    }
    Ok(out)
}

/// The name at the start of `text`, if one starts there.
fn name_at(text: &str) -> Option<&str> {
    let mut chars = text.char_indices();
    let (_, first) = chars.next()?;
    if !starts_name(first) {
        return None;
    }
    let end = chars
        .find(|&(_, c)| !continues_name(c))
        .map_or(text.len(), |(at, _)| at);
    Some(&text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names become `<name>`; `bad` fails.
    fn expanded(text: &str) -> Result<String, String> {
        expand(text, 64, |name| {
            if name == "bad" {
                Err(format!("no {name}"))
            } else {
                Ok(format!("<{name}>"))
            }
        })
        .map_err(|err| match err {
            ExpandError::Lookup(message) => message,
            ExpandError::TooLong => "too long".to_owned(),
        })
    }

    #[test]
    fn names_braced_names_and_group_names() {
        for (text, result) in [
            ("$state_path/instances", "<state_path>/instances"),
            ("${state_path}/instances", "<state_path>/instances"),
            ("_base_$my_ip", "_base_<my_ip>"),
            (
                "${image_cache.subdirectory_name}x",
                "<image_cache.subdirectory_name>x",
            ),
            ("$libvirt.images_type", "<libvirt.images_type>"),
            ("$my_ip.bak", "<my_ip.bak>"),
            ("$host_$my_ip", "<host_><my_ip>"),
            ("$HOST-${Host}", "<HOST>-<Host>"),
            ("$ſ1", "<ſ1>"),
            ("a$b-c", "a<b>-c"),
        ] {
            assert_eq!(expanded(text), Ok(result.to_owned()), "{text}");
        }
    }

    #[test]
    fn dollars_that_name_nothing_stay() {
        for (text, result) in [
            ("$$state_path", "$state_path"),
            ("\\$state_path", "$state_path"),
            ("\\$$x", "$<x>"),
            ("$$$x", "$<x>"),
            ("100$", "100$"),
            ("$ x", "$ x"),
            ("$1", "$1"),
            ("${x", "${x"),
            ("${x y}", "${x y}"),
            ("${}", "${}"),
            ("${1}", "${1}"),
            ("$.x", "$.x"),
            ("$é", "$é"),
            ("é$", "é$"),
        ] {
            assert_eq!(expanded(text), Ok(result.to_owned()), "{text}");
        }
    }

    #[test]
    fn a_failed_lookup_and_a_long_result_are_errors() {
        assert_eq!(expanded("/x/$bad/y"), Err("no bad".to_owned()));
        assert_eq!(expanded(&"$x".repeat(30)), Err("too long".to_owned()));
        assert_eq!(expanded(&"y".repeat(65)), Err("too long".to_owned()));
    }
}
