//! Signal names and numbers: the `stop-signal` and `reload-signal` files
//! and the `SIG` of `cinit-ctl signal`.
//!
//! A signal is written as its name, with or without `SIG`, in any case
//! (`INT`, `SIGQUIT`, `usr1`), or as its number (`3`). Accepted: 1 to
//! [`MAX_SIGNAL`] (the real-time signals have no names here; give their
//! numbers). 0 (a mere existence check) and anything else are refused
//! with the reason. Pure: no system call.
//!
//! The names are those of Linux on x86, ARM and RISC-V (the generic
//! numbering; MIPS, SPARC and Alpha number some differently): the
//! `names_are_the_platform_s` test holds them to the C library's.

use std::path::Path;

use crate::config::dirlist::ServiceDir;
use crate::config::svcdir::FileError;

/// The largest signal number Linux knows (`SIGRTMAX`).
pub const MAX_SIGNAL: i32 = 64;

/// Signals 1 to 31, in order, one space after each name: the number of a
/// name is its place.
const NAMES: &str = "HUP INT QUIT ILL TRAP ABRT BUS FPE KILL USR1 SEGV USR2 PIPE ALRM TERM \
                     STKFLT CHLD CONT STOP TSTP TTIN TTOU URG XCPU XFSZ VTALRM PROF WINCH IO \
                     PWR SYS ";

/// The number of signal `text` (surrounding white space ignored), or why
/// it is none.
pub fn parse(text: &str) -> Result<i32, String> {
    let t = text.trim();
    let n = match t.parse::<i32>() {
        Ok(n) => n,
        Err(_) => {
            let bare = match t.get(..3) {
                Some(p) if p.eq_ignore_ascii_case("SIG") => t.get(3..).unwrap_or(""),
                _ => t,
            };
            let at = NAMES
                .split(' ')
                .position(|n| !n.is_empty() && n.eq_ignore_ascii_case(bare));
            match at {
                Some(i) => i as i32 + 1,
                None => return Err(format!("{t:?} is not a signal")),
            }
        }
    };
    if (1..=MAX_SIGNAL).contains(&n) {
        Ok(n)
    } else {
        Err(format!("signal {n} is out of range (1 to {MAX_SIGNAL})"))
    }
}

/// `SIGNAME` for a named signal, else the number.
pub fn name(n: i32) -> String {
    let i = usize::try_from(n).ok().and_then(|n| n.checked_sub(1));
    match i.and_then(|i| NAMES.split(' ').nth(i)) {
        Some(s) if !s.is_empty() => format!("SIG{s}"),
        _ => n.to_string(),
    }
}

/// A signal file of a service (`stop-signal`, `reload-signal`): its
/// number, `Ok(None)` if there is no such file; a bad one is an error
/// naming the file and the reason.
pub fn read(dir: &ServiceDir, file: &str) -> Result<Option<i32>, FileError> {
    let Some(data) = dir.read_small(file)? else {
        return Ok(None);
    };
    let path = dir.join(file);
    parse_file(&path, &data).map(Some)
}

fn parse_file(path: &Path, data: &[u8]) -> Result<i32, FileError> {
    let text = std::str::from_utf8(data).map_err(|_| FileError::new(path, "not UTF-8 text"))?;
    parse(text).map_err(|why| FileError::new(path, why))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves the table's numbers are the C library's for every name.
    #[test]
    fn names_are_the_platform_s() {
        let libc = [
            ("HUP", libc::SIGHUP),
            ("INT", libc::SIGINT),
            ("QUIT", libc::SIGQUIT),
            ("ILL", libc::SIGILL),
            ("TRAP", libc::SIGTRAP),
            ("ABRT", libc::SIGABRT),
            ("BUS", libc::SIGBUS),
            ("FPE", libc::SIGFPE),
            ("KILL", libc::SIGKILL),
            ("USR1", libc::SIGUSR1),
            ("SEGV", libc::SIGSEGV),
            ("USR2", libc::SIGUSR2),
            ("PIPE", libc::SIGPIPE),
            ("ALRM", libc::SIGALRM),
            ("TERM", libc::SIGTERM),
            ("STKFLT", libc::SIGSTKFLT),
            ("CHLD", libc::SIGCHLD),
            ("CONT", libc::SIGCONT),
            ("STOP", libc::SIGSTOP),
            ("TSTP", libc::SIGTSTP),
            ("TTIN", libc::SIGTTIN),
            ("TTOU", libc::SIGTTOU),
            ("URG", libc::SIGURG),
            ("XCPU", libc::SIGXCPU),
            ("XFSZ", libc::SIGXFSZ),
            ("VTALRM", libc::SIGVTALRM),
            ("PROF", libc::SIGPROF),
            ("WINCH", libc::SIGWINCH),
            ("IO", libc::SIGIO),
            ("PWR", libc::SIGPWR),
            ("SYS", libc::SIGSYS),
        ];
        for (n, v) in libc {
            assert_eq!(parse(n), Ok(v), "{n}");
            assert_eq!(name(v), format!("SIG{n}"));
        }
        assert_eq!(libc::SIGRTMAX(), MAX_SIGNAL);
    }

    /// Proves the accepted spellings and the refusals with their reasons.
    #[test]
    fn spellings_and_refusals() {
        for ok in ["INT", "SIGINT", "sigint", "int\n", " 2 "] {
            assert_eq!(parse(ok), Ok(2), "{ok:?}");
        }
        assert_eq!(parse("64"), Ok(64));
        assert_eq!(name(40), "40");
        for (bad, why) in [
            ("0", "out of range"),
            ("65", "out of range"),
            ("-1", "out of range"),
            ("", "is not a signal"),
            ("SIG", "is not a signal"),
            ("SIGFOO", "is not a signal"),
            ("TERM KILL", "is not a signal"),
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
        let e = parse_file(Path::new("/s/web/stop-signal"), b"\xff").unwrap_err();
        assert_eq!(e.to_string(), "/s/web/stop-signal: not UTF-8 text");
    }
}
