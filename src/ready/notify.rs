//! sd_notify messages: the text of one datagram a service sent to its
//! `NOTIFY_SOCKET`, parsed into what cinit acts on. Pure (unit-tested and
//! fuzzed); the socket is `ready/notify_sock.rs`, the actions are the
//! daemon's (`daemon/notify.rs`).
//!
//! The format is systemd's: `KEY=VALUE` lines separated by newlines.
//! Unknown keys are ignored (a client may say more than cinit reads).
//! A datagram is *malformed*, and dropped whole (nothing of it is acted
//! on), when it is not UTF-8, holds a NUL byte, has a non-empty line
//! without `=`, or gives a key cinit reads a value it cannot use (`MAINPID`
//! not a pid above 1, `ERRNO` not a number, `EXTEND_TIMEOUT_USEC` not a
//! number, an `FDNAME` that is not a valid store name). A boolean key
//! (`READY`, `STOPPING`, …) acts only on `1`, as in systemd; other values
//! are ignored, not malformed.
//!
//! Invariants: nothing read is kept beyond [`MAX_STATUS`] bytes of
//! `STATUS` (control characters replaced by `?`, cut at a character
//! boundary); the input is at most one datagram ([`MAX_DATAGRAM`]), so
//! parsing is linear in a bounded size.

use crate::sys::clock::Millis;

/// The largest datagram read; a longer one arrives truncated and is
/// dropped (systemd's own limit for a notification is larger, but every
/// field cinit reads fits in far less).
pub const MAX_DATAGRAM: usize = 4096;
/// Bytes of `STATUS=` text kept per service.
pub const MAX_STATUS: usize = 256;
/// The longest extension an `EXTEND_TIMEOUT_USEC` may ask for: one day,
/// as `ready-timeout`'s own bound.
pub const MAX_EXTEND_MS: Millis = 86_400_000;
/// The name `FDSTORE=1` stores under without `FDNAME=` (systemd's).
pub const DEFAULT_FDNAME: &str = "stored";
/// Longest `FDNAME` (systemd's: 255).
pub const MAX_FDNAME: usize = 255;

/// What one datagram asks for.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Message {
    pub ready: bool,
    /// `STATUS=`, sanitized and bounded ([`sanitize_status`]).
    pub status: Option<String>,
    pub stopping: bool,
    pub reloading: bool,
    pub errno: Option<u32>,
    pub mainpid: Option<i32>,
    /// `WATCHDOG=1`.
    pub watchdog: bool,
    /// `WATCHDOG=trigger`.
    pub watchdog_trigger: bool,
    /// `EXTEND_TIMEOUT_USEC=`, in milliseconds (rounded up, at most
    /// [`MAX_EXTEND_MS`]).
    pub extend_ms: Option<Millis>,
    pub fdstore: bool,
    pub fdstore_remove: bool,
    pub fdname: Option<String>,
}

impl Message {
    /// The name descriptors are stored or removed under.
    pub fn fd_name(&self) -> &str {
        self.fdname.as_deref().unwrap_or(DEFAULT_FDNAME)
    }
}

/// Why a datagram was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    NotText,
    NoEquals,
    BadValue(&'static str),
}

impl Malformed {
    /// In words, for cinit's log (the key of a bad value is said by
    /// [`Malformed::key`]).
    pub fn why(self) -> &'static str {
        match self {
            Malformed::NotText => "malformed: not text",
            Malformed::NoEquals => "malformed: a line without =",
            Malformed::BadValue(_) => "malformed: a value cinit cannot use for ",
        }
    }

    /// The key whose value was bad, if that was it.
    pub fn key(self) -> &'static str {
        match self {
            Malformed::BadValue(k) => k,
            _ => "",
        }
    }
}

/// Parse one datagram's bytes. Out of line (see `daemon/event/notify.rs`).
#[inline(never)]
pub fn parse(data: &[u8]) -> Result<Message, Malformed> {
    if data.contains(&0) {
        return Err(Malformed::NotText);
    }
    let text = std::str::from_utf8(data).map_err(|_| Malformed::NotText)?;
    let mut m = Message::default();
    for line in text.split('\n') {
        if line.is_empty() {
            continue;
        }
        let (key, value) = line.split_once('=').ok_or(Malformed::NoEquals)?;
        let one = value == "1";
        match key {
            "READY" => m.ready |= one,
            "STOPPING" => m.stopping |= one,
            "RELOADING" => m.reloading |= one,
            "FDSTORE" => m.fdstore |= one,
            "FDSTOREREMOVE" => m.fdstore_remove |= one,
            "WATCHDOG" if value == "trigger" => m.watchdog_trigger = true,
            "WATCHDOG" => m.watchdog |= one,
            "STATUS" => m.status = Some(sanitize_status(value)),
            "ERRNO" => m.errno = Some(number(value).ok_or(Malformed::BadValue("ERRNO"))?),
            "MAINPID" => {
                let pid = number(value)
                    .and_then(|n| i32::try_from(n).ok())
                    .filter(|&p| p > 1)
                    .ok_or(Malformed::BadValue("MAINPID"))?;
                m.mainpid = Some(pid);
            }
            "EXTEND_TIMEOUT_USEC" => {
                let us: u64 = digits(value)
                    .and_then(|v| v.parse().ok())
                    .ok_or(Malformed::BadValue("EXTEND_TIMEOUT_USEC"))?;
                m.extend_ms = Some(us.div_ceil(1000).min(MAX_EXTEND_MS));
            }
            "FDNAME" => {
                if !valid_fdname(value) {
                    return Err(Malformed::BadValue("FDNAME"));
                }
                m.fdname = Some(value.to_string());
            }
            _ => {}
        }
    }
    Ok(m)
}

/// `s` if it is all ASCII digits (at least one).
fn digits(s: &str) -> Option<&str> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then_some(s)
}

fn number(s: &str) -> Option<u32> {
    digits(s)?.parse().ok()
}

/// systemd's rule for a descriptor name: 1 to 255 printable ASCII
/// characters, no `:` (it separates `LISTEN_FDNAMES`).
pub fn valid_fdname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_FDNAME
        && name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
}

/// `STATUS=` text as kept: control characters (a newline cannot come, it
/// ends the line) become `?`, and the text is cut to [`MAX_STATUS`] bytes
/// at a character boundary, so `status` stays one line of bounded size.
pub fn sanitize_status(value: &str) -> String {
    let mut out = String::with_capacity(value.len().min(MAX_STATUS));
    for c in value.chars() {
        let c = if c.is_control() { '?' } else { c };
        if out.len() + c.len_utf8() > MAX_STATUS {
            break;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_keys_are_read_and_unknown_ones_ignored() {
        let m = parse(b"READY=1\nSTATUS=Serving 3\nX_FOO=bar\nMAINPID=42\n").unwrap();
        assert!(m.ready);
        assert_eq!(m.status.as_deref(), Some("Serving 3"));
        assert_eq!(m.mainpid, Some(42));
        let m = parse(b"STOPPING=1\nRELOADING=1\nERRNO=5\nWATCHDOG=1").unwrap();
        assert!(m.stopping && m.reloading && m.watchdog && !m.watchdog_trigger);
        assert_eq!(m.errno, Some(5));
        let m = parse(b"WATCHDOG=trigger").unwrap();
        assert!(m.watchdog_trigger && !m.watchdog);
        let m = parse(b"FDSTORE=1\nFDNAME=conn-7").unwrap();
        assert!(m.fdstore);
        assert_eq!(m.fd_name(), "conn-7");
        let m = parse(b"FDSTOREREMOVE=1").unwrap();
        assert!(m.fdstore_remove);
        assert_eq!(m.fd_name(), DEFAULT_FDNAME);
        assert_eq!(parse(b"").unwrap(), Message::default());
    }

    #[test]
    fn booleans_act_on_1_only() {
        let m = parse(b"READY=0\nSTOPPING=yes\nFDSTORE=2").unwrap();
        assert_eq!(m, Message::default());
    }

    #[test]
    fn extend_is_rounded_up_to_milliseconds_and_bounded() {
        let ms = |s: &str| parse(s.as_bytes()).unwrap().extend_ms;
        assert_eq!(ms("EXTEND_TIMEOUT_USEC=1"), Some(1));
        assert_eq!(ms("EXTEND_TIMEOUT_USEC=5000000"), Some(5000));
        assert_eq!(ms("EXTEND_TIMEOUT_USEC=0"), Some(0));
        assert_eq!(
            ms("EXTEND_TIMEOUT_USEC=99999999999999999"),
            Some(MAX_EXTEND_MS)
        );
    }

    #[test]
    fn malformed_datagrams_are_refused_whole() {
        for bad in [
            &b"READY=1\nnoequals"[..],
            b"READY=1\0",
            b"\xff\xfe",
            b"MAINPID=1",
            b"MAINPID=-5",
            b"MAINPID=abc",
            b"MAINPID=99999999999",
            b"ERRNO=x",
            b"EXTEND_TIMEOUT_USEC=1.5",
            b"EXTEND_TIMEOUT_USEC=",
            b"FDSTORE=1\nFDNAME=a:b",
            b"FDNAME=",
            b"FDNAME=with space",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse(b"x"), Err(Malformed::NoEquals));
        assert_eq!(parse(b"ERRNO=x"), Err(Malformed::BadValue("ERRNO")));
    }

    #[test]
    fn status_is_one_bounded_line() {
        assert_eq!(sanitize_status("a\tb\x1bc"), "a?b?c");
        let long = "é".repeat(MAX_STATUS);
        let kept = sanitize_status(&long);
        assert!(kept.len() <= MAX_STATUS && kept.len() >= MAX_STATUS - 1);
        assert!(kept.chars().all(|c| c == 'é'));
        let m = parse(format!("STATUS={}", "x".repeat(1000)).as_bytes()).unwrap();
        assert_eq!(m.status.map(|s| s.len()), Some(MAX_STATUS));
    }
}
