//! Acknowledgements (`--ack-unreadable FILE`): `cachectl_sources::ack::parse` on any bytes.
//!
//! An error names a line that is in the input. Every acknowledgement read has a path, and the
//! line a report prints for it reads back as the same path and identity.

#![no_main]

use std::path::Path;

use cachectl_sources::ack::{AckError, line, parse};
use cachectl_policy::{ReadAs, UnreadableFile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse(Path::new("acks"), data) {
        Ok(acks) => {
            for ack in acks {
                assert!(!ack.path.is_empty());
                let file = UnreadableFile {
                    path: ack.path.clone(),
                    problem: String::new(),
                    read_as: ReadAs::NovaDiskName,
                    identity: Some(ack.identity),
                };
                let printed = line(&file).expect("an identity");
                assert!(!printed.contains(['\n', '\r']), "{printed:?}");
                let again = parse(Path::new("acks"), printed.as_bytes()).expect("reads back");
                assert_eq!(again.len(), 1, "{printed:?}");
                assert_eq!(again[0].path, ack.path, "{printed:?}");
                assert_eq!(again[0].identity, ack.identity);
            }
        }
        Err(AckError::Malformed { line, .. }) => {
            let lines = 1 + data.iter().filter(|&&b| b == b'\n').count();
            assert!((1..=lines).contains(&line), "line {line} of {lines}");
        }
        Err(err) => panic!("parse: {err}"),
    }
});
