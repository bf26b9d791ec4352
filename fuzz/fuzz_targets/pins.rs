//! Pin files (`--keep-file FILE`): `cachectl_sources::pins::parse` on any bytes.
//!
//! Every id read is one non-empty word without white space or control characters, and written
//! back one a line it reads back the same; an error is one line naming a line of the input.

#![no_main]

use std::path::Path;

use cachectl_sources::pins::{PinsError, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse(Path::new("pins"), data) {
        Ok(ids) => {
            for id in &ids {
                assert!(!id.is_empty());
                assert!(!id.chars().any(|c| c.is_whitespace() || c.is_control() || c == '#'));
            }
            let written: String = ids.iter().map(|id| format!("{id}\n")).collect();
            let again = parse(Path::new("pins"), written.as_bytes()).expect("reads back");
            assert_eq!(again, ids);
        }
        Err(PinsError::Malformed { line, .. }) => {
            let lines = data.split(|&b| b == b'\n').count();
            assert!(line >= 1 && line <= lines, "line {line} of {lines}");
            let message = parse(Path::new("pins"), data).expect_err("again").to_string();
            assert!(!message.contains('\n'), "{message:?}");
        }
        Err(PinsError::Read { .. }) => unreachable!("parse reads nothing"),
    }
});
