//! The readiness files of a service directory: `notification-fd` and
//! `ready-timeout`. Pure parsers (unit-tested and fuzzed) and their readers.
//!
//! - `notification-fd`: one descriptor number N, 3 ≤ N ≤ 1023 (s6's
//!   format). A respawn service with it is spawned with the write end of a
//!   pipe at N and is `starting` until it writes a newline there. 0–2 are
//!   the service's stdio; 1023 keeps N below the usual soft limit of 1024
//!   descriptors, so the child can always hold it. An empty file is an
//!   error, not "unset": it says readiness is wanted without saying where.
//! - `ready-timeout`: seconds, with up to three decimals (`2.5`, `0.25`,
//!   `30`), at most [`MAX_READY_TIMEOUT_MS`] (one day); `0` or an empty file
//!   means no timeout, like an empty `delay` means the default.
//!
//! - `notify-socket`: present (empty, or only white space: it has no
//!   settings). A respawn service with it gets `NOTIFY_SOCKET` and is
//!   `starting` until it sends sd_notify's `READY=1` there. With
//!   `notification-fd` or `ready-probe` too it is refused
//!   ([`notify_conflict`]): one way to say "ready", never a guess.
//!
//! Invariants: the readers go through [`read_small_file`](crate::config::svcdir::read_small_file) (regular files of
//! at most 64 KiB, opened non-blocking); every error names the file and
//! says what is wanted; nothing here touches process state.

use std::path::Path;

use crate::config::dirlist::ServiceDir;
use crate::config::svcdir::FileError;
use crate::sys::clock::Millis;

/// The file naming a respawn service's readiness descriptor.
pub const NOTIFICATION_FD: &str = "notification-fd";
/// The file holding the longest time a service may stay `starting`.
pub const READY_TIMEOUT: &str = "ready-timeout";
/// The file asking for sd_notify's `NOTIFY_SOCKET`.
pub const NOTIFY_SOCKET: &str = "notify-socket";
/// Lowest `notification-fd` (0–2 are stdin, stdout and stderr).
pub const MIN_NOTIFY_FD: i32 = 3;
/// Highest `notification-fd`.
pub const MAX_NOTIFY_FD: i32 = 1023;
/// Longest `ready-timeout`: one day.
pub const MAX_READY_TIMEOUT_MS: Millis = 86_400_000;

fn text<'a>(path: &Path, data: &'a [u8], what: &str) -> Result<&'a str, FileError> {
    std::str::from_utf8(data)
        .map(str::trim)
        .map_err(|_| FileError::new(path, format!("not text; {what}")))
}

/// Parse a `notification-fd` file: one number from 3 to 1023.
pub fn parse_notification_fd(path: &Path, data: &[u8]) -> Result<i32, FileError> {
    let want = format!("write one descriptor number from {MIN_NOTIFY_FD} to {MAX_NOTIFY_FD}");
    let t = text(path, data, &want)?;
    if t.is_empty() {
        return Err(FileError::new(path, format!("empty; {want}")));
    }
    let n = match t.parse::<u32>() {
        Ok(n) if t.bytes().all(|b| b.is_ascii_digit()) => n,
        _ => {
            return Err(FileError::new(
                path,
                format!("{t:?} is not a descriptor number; {want}"),
            ))
        }
    };
    match i32::try_from(n) {
        Ok(fd) if (MIN_NOTIFY_FD..=MAX_NOTIFY_FD).contains(&fd) => Ok(fd),
        Ok(fd) if fd < MIN_NOTIFY_FD => Err(FileError::new(
            path,
            format!("{fd} is stdin, stdout or stderr; {want}"),
        )),
        _ => Err(FileError::new(path, format!("{t} is too large; {want}"))),
    }
}

/// Parse a `ready-timeout` file into milliseconds; `None`: no timeout
/// (an empty file, or 0).
pub fn parse_ready_timeout(path: &Path, data: &[u8]) -> Result<Option<Millis>, FileError> {
    parse_seconds(path, data, MAX_READY_TIMEOUT_MS)
}

/// Parse a file of seconds with up to three decimals, at most `max`
/// milliseconds, into milliseconds; `None`: an empty file, or 0. The
/// duration files' one parser (`ready-timeout`, `watchdog`).
pub fn parse_seconds(path: &Path, data: &[u8], max: Millis) -> Result<Option<Millis>, FileError> {
    let want = format!(
        "write seconds with up to three decimals, at most {}",
        max / 1000
    );
    let t = text(path, data, &want)?;
    if t.is_empty() {
        return Ok(None);
    }
    let bad = || FileError::new(path, format!("{t:?} is not a number of seconds; {want}"));
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(frac) || frac.len() > 3 {
        return Err(bad());
    }
    if t.ends_with('.') {
        return Err(bad());
    }
    // At most three decimals: pad to milliseconds ("5" -> 500).
    let frac_ms = format!("{frac:0<3}").parse::<Millis>().map_err(|_| bad())?;
    let ms = whole
        .parse::<Millis>()
        .ok()
        .and_then(|w| w.checked_mul(1000))
        .and_then(|w| w.checked_add(frac_ms))
        .filter(|&ms| ms <= max)
        .ok_or_else(|| FileError::new(path, format!("{t} is too long; {want}")))?;
    Ok((ms > 0).then_some(ms))
}

/// A service's `notification-fd`; `Ok(None)` if it has none.
pub fn read_notification_fd(dir: &ServiceDir) -> Result<Option<i32>, FileError> {
    match dir.read_small(NOTIFICATION_FD)? {
        Some(data) => parse_notification_fd(&dir.join(NOTIFICATION_FD), &data).map(Some),
        None => Ok(None),
    }
}

/// Parse a `notify-socket` file: it must be empty (white space allowed),
/// so that a setting written there is not silently ignored.
pub fn parse_notify_socket(path: &Path, data: &[u8]) -> Result<(), FileError> {
    if data.iter().all(u8::is_ascii_whitespace) {
        Ok(())
    } else {
        Err(FileError::new(
            path,
            "not empty; the file's presence is the setting: leave it empty",
        ))
    }
}

/// Whether a service has a (valid) `notify-socket`. Nothing is read when
/// the listing says there is none.
pub fn read_notify_socket(dir: &ServiceDir) -> Result<bool, FileError> {
    match dir.read_small(NOTIFY_SOCKET)? {
        Some(data) => parse_notify_socket(&dir.join(NOTIFY_SOCKET), &data).map(|()| true),
        None => Ok(false),
    }
}

/// Why `notify-socket` cannot be used beside the service's other
/// readiness files (`notification-fd`: `fd`, `ready-probe`: `probe`).
pub fn notify_conflict(fd: bool, probe: bool) -> Option<&'static str> {
    if fd {
        Some("notification-fd is there too: choose one way to say the service is ready")
    } else if probe {
        Some("ready-probe is there too: choose one way to say the service is ready")
    } else {
        None
    }
}

/// A service's `ready-timeout` in milliseconds; `Ok(None)` if it has none.
pub fn read_ready_timeout(dir: &ServiceDir) -> Result<Option<Millis>, FileError> {
    match dir.read_small(READY_TIMEOUT)? {
        Some(data) => parse_ready_timeout(&dir.join(READY_TIMEOUT), &data),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::dirlist::both;

    fn fd(data: &str) -> Result<i32, String> {
        parse_notification_fd(Path::new("svc/x/notification-fd"), data.as_bytes())
            .map_err(|e| e.to_string())
    }

    fn timeout(data: &str) -> Result<Option<Millis>, String> {
        parse_ready_timeout(Path::new("svc/x/ready-timeout"), data.as_bytes())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn notification_fd_is_one_number_from_3_to_1023() {
        assert_eq!(fd("3"), Ok(3));
        assert_eq!(fd(" 5\n"), Ok(5));
        assert_eq!(fd("1023"), Ok(1023));
        let e = fd("2").unwrap_err();
        assert_eq!(
            e,
            "svc/x/notification-fd: 2 is stdin, stdout or stderr; \
             write one descriptor number from 3 to 1023"
        );
        assert!(fd("1024").unwrap_err().contains("1024 is too large"));
        assert!(fd("99999999999")
            .unwrap_err()
            .contains("is not a descriptor"));
        assert!(fd("")
            .unwrap_err()
            .contains("notification-fd: empty; write"));
        assert!(fd("\n").unwrap_err().contains("empty"));
        for bad in ["abc", "+5", "-1", "5 6", "0x5", "5.0", "٣"] {
            let e = fd(bad).unwrap_err();
            assert!(e.contains("is not a descriptor number"), "{bad:?}: {e}");
        }
        let e = parse_notification_fd(Path::new("n"), b"\xff5").unwrap_err();
        assert_eq!(
            e.reason,
            "not text; write one descriptor number from 3 to 1023"
        );
    }

    #[test]
    fn ready_timeout_is_seconds_with_up_to_three_decimals() {
        assert_eq!(timeout("2.5"), Ok(Some(2500)));
        assert_eq!(timeout("0.25\n"), Ok(Some(250)));
        assert_eq!(timeout("0.001"), Ok(Some(1)));
        assert_eq!(timeout("30"), Ok(Some(30_000)));
        assert_eq!(timeout("86400"), Ok(Some(MAX_READY_TIMEOUT_MS)));
        assert_eq!(timeout("007.50"), Ok(Some(7500)));
        assert_eq!(timeout(""), Ok(None), "empty: no timeout");
        assert_eq!(timeout(" \n"), Ok(None));
        assert_eq!(timeout("0"), Ok(None), "0: no timeout");
        assert_eq!(timeout("0.000"), Ok(None));
        assert!(timeout("86400.001").unwrap_err().contains("too long"));
        assert!(timeout("99999999999999999999")
            .unwrap_err()
            .contains("too long"));
        for bad in [
            "1.2345", ".5", "5.", "-1", "+1", "1e3", "1,5", "2 s", "inf", "1..2",
        ] {
            let e = timeout(bad).unwrap_err();
            assert!(e.contains("is not a number of seconds"), "{bad:?}: {e}");
            assert!(e.starts_with("svc/x/ready-timeout: "), "{e}");
        }
    }

    #[test]
    fn the_readers_name_the_file_and_treat_absence_as_unset() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(both(d.path(), read_notification_fd).unwrap(), None);
        assert_eq!(both(d.path(), read_ready_timeout).unwrap(), None);
        std::fs::write(d.path().join(NOTIFICATION_FD), "7\n").unwrap();
        std::fs::write(d.path().join(READY_TIMEOUT), "1.5\n").unwrap();
        assert_eq!(both(d.path(), read_notification_fd).unwrap(), Some(7));
        assert_eq!(both(d.path(), read_ready_timeout).unwrap(), Some(1500));
        std::fs::write(d.path().join(NOTIFICATION_FD), "x").unwrap();
        let e = both(d.path(), read_notification_fd).unwrap_err();
        assert_eq!(e.file, d.path().join(NOTIFICATION_FD));
        std::fs::remove_file(d.path().join(READY_TIMEOUT)).unwrap();
        std::fs::create_dir(d.path().join(READY_TIMEOUT)).unwrap();
        let e = both(d.path(), read_ready_timeout).unwrap_err();
        assert_eq!(e.reason, "not a regular file");
    }
}
