//! Names as text reports print them: quoted and escaped when they hold anything but printable characters.
//!
//! A name from the filesystem, a disk header or an instance record can hold any byte: a newline
//! that forges a report line, an escape sequence that rewrites the terminal. [`quote`] prints a
//! name as `ls` does: as it is when it is plainly printable, otherwise in double quotes with
//! Rust's escapes (`\n`, `\t`, `\r`, `\\`, `\"`, `\u{1b}`, and `\xNN` for bytes that are not
//! UTF-8). [`escape_controls`] is the safety net for whole lines: the same escapes for what is
//! not printable, and nothing else changed.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::fmt::{self, Write as _};

/// A name ready to print: see [`quote`].
#[derive(Debug, Clone, Copy)]
pub struct Quoted<'a>(&'a OsStr);

/// The name as a text report prints it: as it is when every character is printable, not white
/// space and not `"`, `'` or `\`; otherwise in double quotes, with `\n`, `\t`, `\r`, `\\` and
/// `\"`, `\u{…}` for any other character that is not printable (control characters, Unicode
/// format characters such as U+202E, separators other than the space), and `\xNN` for each
/// byte that is not UTF-8.
///
/// ```
/// use cachectl_naming::quote;
///
/// assert_eq!(quote("356a192b7913b04c54574d18c28d46e6395428ab").to_string(), "356a192b7913b04c54574d18c28d46e6395428ab");
/// assert_eq!(quote("bäse image").to_string(), r#""bäse image""#);
/// assert_eq!(quote("y\nremoved \x1b[31m").to_string(), r#""y\nremoved \u{1b}[31m""#);
/// ```
///
/// Formatting width and alignment (`{:<20}`) apply to the quoted text.
pub fn quote<S: AsRef<OsStr> + ?Sized>(name: &S) -> Quoted<'_> {
    Quoted(name.as_ref())
}

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = self.0.to_str()
            && name.chars().all(is_plain)
        {
            return f.pad(name);
        }
        let mut text = String::with_capacity(self.0.len() + 2);
        text.push('"');
        for chunk in self.0.as_encoded_bytes().utf8_chunks() {
            for c in chunk.valid().chars() {
                match c {
                    '"' | '\\' => {
                        text.push('\\');
                        text.push(c);
                    }
                    _ => push_escaped(&mut text, c),
                }
            }
            for byte in chunk.invalid() {
                let _ = write!(text, "\\x{byte:02x}");
            }
        }
        text.push('"');
        f.pad(&text)
    }
}

/// `text` with every character that is not printable escaped as [`quote`] escapes it (`\n`,
/// `\t`, `\r`, `\u{1b}`, …), and nothing else changed: no quotes are added, and spaces, quotes,
/// backslashes and printable text stay as they are. Borrowed when there is nothing to escape.
///
/// ```
/// use cachectl_naming::escape_controls;
///
/// assert_eq!(escape_controls("backing file: a b.raw"), "backing file: a b.raw");
/// assert_eq!(escape_controls("a\x07b\nc"), r"a\u{7}b\nc");
/// ```
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    let Some(first) = text.find(|c| !is_printable(c)) else {
        return Cow::Borrowed(text);
    };
    let mut escaped = String::with_capacity(text.len() + 8);
    escaped.push_str(&text[..first]);
    for c in text[first..].chars() {
        push_escaped(&mut escaped, c);
    }
    Cow::Owned(escaped)
}

/// Pushes `c`, or its escape if it is not printable.
fn push_escaped(text: &mut String, c: char) {
    if is_printable(c) {
        text.push(c);
    } else {
        text.extend(c.escape_debug());
    }
}

/// A character a name may show outside quotes.
fn is_plain(c: char) -> bool {
    !matches!(c, '"' | '\'' | '\\') && !c.is_whitespace() && is_printable(c)
}

/// A character printed as it is: what `str::escape_debug` leaves alone after the first
/// character (printable characters, and combining marks, which `char::escape_debug` escapes),
/// quotes and backslashes included.
fn is_printable(c: char) -> bool {
    if c.is_ascii() {
        return c == ' ' || c.is_ascii_graphic();
    }
    let mut buf = [0u8; 5];
    buf[0] = b' ';
    let len = 1 + c.encode_utf8(&mut buf[1..]).len();
    std::str::from_utf8(&buf[..len]).is_ok_and(|pair| pair.escape_debug().eq([' ', c]))
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    use super::*;

    #[track_caller]
    fn check(name: &str, shown: &str) {
        assert_eq!(quote(name).to_string(), shown, "{name:?}");
    }

    #[test]
    fn plain_names_print_as_they_are() {
        for name in [
            "356a192b7913b04c54574d18c28d46e6395428ab",
            "356a192b7913b04c54574d18c28d46e6395428ab_10737418240.info",
            "0c6b7a52-3b7e-4c9d-a2f1-5e6b7c8d9e01/disk.local",
            "/tmp/cachectl-e2e-Ab3dEf/instances/_base",
            "instance-0000b001@compute-2",
            "ephemeral_20_0706d66",
            "bäse☁.raw",
            "日本語",
            // A combining acute accent after the e, as `ls` prints it.
            "cafe\u{301}",
            "",
        ] {
            check(name, name);
        }
    }

    #[test]
    fn names_with_white_space_quotes_or_backslashes_are_quoted() {
        check("dïsk with spaces.qcow2", r#""dïsk with spaces.qcow2""#);
        check("it's", r#""it's""#);
        check(r#"say "hi""#, r#""say \"hi\"""#);
        check(r"C:\disk", r#""C:\\disk""#);
        check("a\tb", r#""a\tb""#);
        check("\u{a0}", r#""\u{a0}""#);
    }

    #[test]
    fn control_and_format_characters_are_escaped() {
        check(
            "y\nremoved  original  9.9 GiB  9d  fp  fake",
            r#""y\nremoved  original  9.9 GiB  9d  fp  fake""#,
        );
        check("\x1b[31mred\x07", r#""\u{1b}[31mred\u{7}""#);
        check("cr\rlf", r#""cr\rlf""#);
        check("del\x7f", r#""del\u{7f}""#);
        check("\u{9b}31m", r#""\u{9b}31m""#);
        check("evil\u{202e}txt.exe", r#""evil\u{202e}txt.exe""#);
        check("zero\u{200b}width", r#""zero\u{200b}width""#);
        check("line\u{2028}sep", r#""line\u{2028}sep""#);
        check("nul\0", r#""nul\0""#);
    }

    #[test]
    fn bytes_that_are_not_utf8_are_shown_in_hex() {
        assert_eq!(
            quote(OsStr::from_bytes(b"\xff\xfeok\xc3")).to_string(),
            r#""\xff\xfeok\xc3""#
        );
        assert_eq!(
            quote(Path::new(OsStr::from_bytes(b"/tmp/\x1b\xff"))).to_string(),
            r#""/tmp/\u{1b}\xff""#
        );
    }

    #[test]
    fn quote_takes_every_kind_of_name_and_pads() {
        let owned = String::from("a b");
        assert_eq!(quote(&owned).to_string(), r#""a b""#);
        assert_eq!(quote(Path::new("/x")).to_string(), "/x");
        assert_eq!(quote(OsStr::new("x")).to_string(), "x");
        assert_eq!(format!("[{:<6}]", quote("ab")), "[ab    ]");
        assert_eq!(format!("[{:>6}]", quote("a b")), r#"[ "a b"]"#);
    }

    #[test]
    fn escape_controls_changes_only_what_is_not_printable() {
        for text in [
            "backing file: bäse image ☁.raw (actual path: /x/bäse image ☁.raw)",
            r#"quotes ' and " and \ stay"#,
            "",
        ] {
            assert!(matches!(escape_controls(text), Cow::Borrowed(_)), "{text}");
        }
        assert_eq!(escape_controls("a\nb\tc\rd"), r"a\nb\tc\rd");
        assert_eq!(
            escape_controls("\x1b]0;title\x07 \u{202e}"),
            r"\u{1b}]0;title\u{7} \u{202e}"
        );
        assert_eq!(escape_controls("é\x1b"), r"é\u{1b}");
    }

    proptest::proptest! {
        #[test]
        fn no_control_character_survives(name in proptest::collection::vec(proptest::num::u8::ANY, 0..48)) {
            let name = OsStr::from_bytes(&name);
            let quoted = quote(name).to_string();
            proptest::prop_assert!(!quoted.chars().any(char::is_control), "{quoted:?}");
            proptest::prop_assert!(quoted.chars().all(is_printable), "{quoted:?}");
            if let Some(text) = name.to_str() {
                let escaped = escape_controls(text);
                proptest::prop_assert!(escaped.chars().all(is_printable), "{escaped:?}");
            }
        }

        #[test]
        fn no_control_character_survives_in_text(text in "\\PC*[\\p{Cc}\\p{Cf}\\p{Z}]?\\PC*") {
            let quoted = quote(&text).to_string();
            proptest::prop_assert!(!quoted.chars().any(char::is_control), "{quoted:?}");
            let escaped = escape_controls(&text);
            proptest::prop_assert!(!escaped.chars().any(char::is_control), "{escaped:?}");
            proptest::prop_assert!(escaped.chars().all(is_printable), "{escaped:?}");
        }

        #[test]
        fn safe_names_are_themselves(name in "[\\p{L}\\p{N}\\p{M}._@:+=/-]{0,40}") {
            proptest::prop_assert_eq!(quote(&name).to_string(), name.clone());
            proptest::prop_assert_eq!(escape_controls(&name), name.as_str());
        }

        #[test]
        fn printable_text_is_left_alone(text in "[\\p{L}\\p{N}\\p{P}\\p{S} ]{0,40}") {
            proptest::prop_assert_eq!(escape_controls(&text), text.as_str());
        }
    }
}
