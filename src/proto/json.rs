//! The little JSON that `cinit-ctl --json` writes: string quoting.
//!
//! Output only; nothing in cinit reads JSON. Every control character is
//! escaped, so a value is always one line of valid JSON.

use std::fmt::Write;

/// `s` as a JSON string literal, quotes included.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c)); // cannot fail
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// An optional number, `null` when absent.
pub fn opt_u64(v: Option<u64>) -> String {
    v.map_or_else(|| "null".to_string(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_quoted_and_control_characters_escaped() {
        assert_eq!(string("a"), "\"a\"");
        assert_eq!(string("q\"b\\\n\u{1}é"), "\"q\\\"b\\\\\\n\\u0001é\"");
        assert_eq!(opt_u64(None), "null");
        assert_eq!(opt_u64(Some(7)), "7");
    }
}
