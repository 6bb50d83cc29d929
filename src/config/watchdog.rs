//! The `watchdog` file of a service directory: how long a respawn
//! service may go without saying `WATCHDOG=1` before cinit takes it for
//! hung (SIGABRT, SIGKILL after `delay`, and a restart like a crash; see
//! `engine/machine/watchdog.rs`).
//!
//! The format is `ready-timeout`'s ([`crate::config::ready::parse_seconds`]):
//! seconds with up to three decimals (`1`, `0.5`, `30`), at most
//! [`MAX_WATCHDOG_MS`] (one day). Unlike `ready-timeout`, neither an empty
//! file nor `0` means "unset": a `watchdog` file asks for a watchdog, so
//! one that names no time is an error, not a watchdog that never fires.
//!
//! Only a respawn service is watched: a once service's `on` is not (the
//! loader does not read the file there; `cinit-ctl check` says it is
//! ignored). Invariants: the value is in milliseconds, 1 to
//! [`MAX_WATCHDOG_MS`], so it fits 32 bits; every error names the file
//! and says what is wanted.

use std::num::NonZeroU32;
use std::path::Path;

use crate::config::dirlist::ServiceDir;
use crate::config::ready::parse_seconds;
use crate::config::svcdir::FileError;
use crate::sys::clock::Millis;

/// The file holding a respawn service's watchdog interval.
pub const WATCHDOG: &str = "watchdog";
/// Longest `watchdog`: one day.
pub const MAX_WATCHDOG_MS: Millis = 86_400_000;

/// Parse a `watchdog` file into milliseconds (more than 0).
pub fn parse_watchdog(path: &Path, data: &[u8]) -> Result<NonZeroU32, FileError> {
    let want = format!(
        "write seconds with up to three decimals, more than 0 and at most {}",
        MAX_WATCHDOG_MS / 1000
    );
    let ms = parse_seconds(path, data, MAX_WATCHDOG_MS)?;
    match ms
        .and_then(|ms| u32::try_from(ms).ok())
        .and_then(NonZeroU32::new)
    {
        Some(ms) => Ok(ms),
        None if data.iter().all(u8::is_ascii_whitespace) => {
            Err(FileError::new(path, format!("empty; {want}")))
        }
        None => Err(FileError::new(path, format!("0 is no time; {want}"))),
    }
}

/// A service's `watchdog` in milliseconds; `Ok(None)` if it has none
/// (known from the directory's listing: no system call).
pub fn read_watchdog(dir: &ServiceDir) -> Result<Option<NonZeroU32>, FileError> {
    match dir.read_small(WATCHDOG)? {
        Some(data) => parse_watchdog(&dir.join(WATCHDOG), &data).map(Some),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::dirlist::both;

    fn dog(data: &str) -> Result<u32, String> {
        parse_watchdog(Path::new("svc/x/watchdog"), data.as_bytes())
            .map(NonZeroU32::get)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn watchdog_is_seconds_more_than_0_with_up_to_three_decimals() {
        assert_eq!(dog("1"), Ok(1000));
        assert_eq!(dog("0.5\n"), Ok(500));
        assert_eq!(dog(" 30 \n"), Ok(30_000));
        assert_eq!(dog("0.001"), Ok(1));
        assert_eq!(dog("86400"), Ok(86_400_000));
        let e = dog("0").unwrap_err();
        assert_eq!(
            e,
            "svc/x/watchdog: 0 is no time; write seconds with up to three decimals, \
             more than 0 and at most 86400"
        );
        assert!(dog("0.000").unwrap_err().contains("0 is no time"));
        assert!(dog("")
            .unwrap_err()
            .contains("svc/x/watchdog: empty; write"));
        assert!(dog(" \n").unwrap_err().contains("empty"));
        assert!(dog("86400.001").unwrap_err().contains("too long"));
        for bad in ["1.2345", ".5", "5.", "-1", "1e3", "1s", "1\n2", "abc"] {
            let e = dog(bad).unwrap_err();
            assert!(e.contains("is not a number of seconds"), "{bad:?}: {e}");
            assert!(e.starts_with("svc/x/watchdog: "), "{e}");
        }
    }

    #[test]
    fn the_reader_names_the_file_and_treats_absence_as_unset() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(both(d.path(), read_watchdog).unwrap(), None);
        std::fs::write(d.path().join(WATCHDOG), "2.5\n").unwrap();
        assert_eq!(
            both(d.path(), read_watchdog).unwrap().map(NonZeroU32::get),
            Some(2500)
        );
        std::fs::write(d.path().join(WATCHDOG), "x").unwrap();
        let e = both(d.path(), read_watchdog).unwrap_err();
        assert_eq!(e.file, d.path().join(WATCHDOG));
    }
}
