//! The sd_notify message parser (`src/ready/notify.rs`) on arbitrary
//! datagrams, as a service (or anyone who can reach the notify socket)
//! may send them.
//!
//! Proves: no panic, and the parser's documented rule:
//! - a datagram is accepted exactly when it is UTF-8 without a NUL byte,
//!   every non-empty line has a `=`, and each key cinit reads has a value
//!   it can use; a refusal says which of these failed;
//! - what is kept is bounded: `STATUS` at most `MAX_STATUS` bytes with no
//!   control character, an extension at most `MAX_EXTEND_MS`, a `MAINPID`
//!   above 1, an `FDNAME` that is a valid store name;
//! - a boolean key acts only on `1`.
#![no_main]

use cinit::ready::notify::{
    parse, sanitize_status, valid_fdname, Malformed, MAX_EXTEND_MS, MAX_STATUS,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = std::str::from_utf8(data).ok().filter(|_| !data.contains(&0));
    match parse(data) {
        Ok(m) => {
            let t = text.expect("accepted a datagram that is not NUL-free UTF-8");
            let lines: Vec<&str> = t.split('\n').filter(|l| !l.is_empty()).collect();
            assert!(lines.iter().all(|l| l.contains('=')));
            let last = |key: &str| {
                lines
                    .iter()
                    .filter_map(|l| l.split_once('='))
                    .filter(|(k, _)| *k == key)
                    .last()
                    .map(|(_, v)| v)
            };
            let any_one = |key: &str| {
                lines
                    .iter()
                    .filter_map(|l| l.split_once('='))
                    .any(|(k, v)| k == key && v == "1")
            };
            assert_eq!(m.ready, any_one("READY"));
            assert_eq!(m.stopping, any_one("STOPPING"));
            assert_eq!(m.fdstore, any_one("FDSTORE"));
            assert_eq!(m.status, last("STATUS").map(sanitize_status));
            if let Some(s) = &m.status {
                assert!(s.len() <= MAX_STATUS && !s.chars().any(char::is_control));
            }
            assert!(m.extend_ms.is_none_or(|ms| ms <= MAX_EXTEND_MS));
            assert!(m.mainpid.is_none_or(|p| p > 1));
            assert!(m.fdname.as_deref().is_none_or(valid_fdname));
        }
        Err(Malformed::NotText) => assert!(text.is_none()),
        Err(Malformed::NoEquals) => {
            let t = text.expect("NoEquals for a datagram that is not text");
            assert!(t.split('\n').any(|l| !l.is_empty() && !l.contains('=')));
        }
        Err(Malformed::BadValue(key)) => {
            let t = text.expect("BadValue for a datagram that is not text");
            let prefix = format!("{key}=");
            assert!(t.split('\n').any(|l| l.starts_with(&prefix)), "{key}");
        }
    }
});
