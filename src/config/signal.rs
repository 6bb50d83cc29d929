//! Signal names and numbers: the `stop-signal` and `reload-signal` files
//! and the `SIG` of `cinit-ctl signal`; and the `kill-mode` file, what a
//! stop kills ([`read_kill_mode`]).
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

use crate::config::dirlist::ServiceDir;
use crate::config::svcdir::FileError;

/// The largest signal number Linux knows (`SIGRTMAX`).
pub const MAX_SIGNAL: i32 = 64;

/// Signals 1 to 31, in order: the number of a name is its place + 1.
const NAMES: [&str; 31] = [
    "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
    "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG",
    "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
];

/// Why a text is refused: one message for every refusal (an unknown
/// name, 0, a number above [`MAX_SIGNAL`]).
pub const NOT_A_SIGNAL: &str = "not a signal (a name such as INT or SIGTERM, or 1 to 64)";

/// The number of signal `text` (surrounding white space ignored), or
/// `None` ([`NOT_A_SIGNAL`]). Small on purpose (`cinit-ctl` carries it):
/// bytes, ASCII only.
pub fn parse(text: &[u8]) -> Option<i32> {
    let t = text.trim_ascii();
    let bare = match t.get(..3) {
        Some(p) if p.eq_ignore_ascii_case(b"SIG") => t.get(3..).unwrap_or(&[]),
        _ => t,
    };
    // black_box: a loop, not the table compared name by name in line.
    let mut n = std::hint::black_box(&NAMES)
        .iter()
        .position(|n| n.as_bytes().eq_ignore_ascii_case(bare))
        .map_or(0, |i| i + 1);
    if n == 0 && t.len() <= 3 {
        n = t
            .iter()
            .try_fold(0usize, |acc, &b| {
                b.is_ascii_digit().then(|| acc * 10 + usize::from(b - b'0'))
            })
            .unwrap_or(0);
    }
    i32::try_from(n)
        .ok()
        .filter(|n| (1..=MAX_SIGNAL).contains(n))
}

/// `SIGNAME` for a named signal, else the number.
pub fn name(n: i32) -> String {
    let i = usize::try_from(n).ok().and_then(|n| n.checked_sub(1));
    match i.and_then(|i| NAMES.get(i)) {
        Some(s) => format!("SIG{s}"),
        None => n.to_string(),
    }
}

/// A signal file of a service (`stop-signal`, `reload-signal`): its
/// number, `Ok(None)` if there is no such file; a bad one is an error
/// naming the file and the reason.
// Not inlined: one copy for every caller (the loader's loop, the start).
#[inline(never)]
pub fn read(dir: &ServiceDir, file: &str) -> Result<Option<i32>, FileError> {
    match dir.read_small(file)? {
        Some(data) => parse(&data)
            .map(Some)
            .ok_or_else(|| FileError::new(&dir.join(file), NOT_A_SIGNAL)),
        None => Ok(None),
    }
}

/// The `kill-mode` file's file name.
pub const KILL_MODE: &str = "kill-mode";

/// Why a `kill-mode` text is refused.
pub const NOT_A_KILL_MODE: &str = "not a kill mode (cgroup or group)";

/// A `kill-mode` text: `cgroup` (false: a stop kills every process of the
/// service's cgroup, the default) or `group` (true: only the main
/// process's group, as without cgroups; what left it stays).
pub fn parse_kill_mode(text: &[u8]) -> Option<bool> {
    match text.trim_ascii() {
        b"cgroup" => Some(false),
        b"group" => Some(true),
        _ => None,
    }
}

/// A service's `kill-mode` file: true for `group`; `Ok(false)` without
/// the file; a bad one is an error naming the file and the reason.
pub fn read_kill_mode(dir: &ServiceDir) -> Result<bool, FileError> {
    match dir.read_small(KILL_MODE)? {
        Some(data) => parse_kill_mode(&data)
            .ok_or_else(|| FileError::new(&dir.join(KILL_MODE), NOT_A_KILL_MODE)),
        None => Ok(false),
    }
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
            assert_eq!(parse(n.as_bytes()), Some(v), "{n}");
            assert_eq!(name(v), format!("SIG{n}"));
        }
        assert_eq!(libc::SIGRTMAX(), MAX_SIGNAL);
    }

    /// Proves the accepted spellings and the refusals with their reasons.
    #[test]
    fn spellings_and_refusals() {
        for ok in ["INT", "SIGINT", "sigint", "int\n", " 2 ", "02"] {
            assert_eq!(parse(ok.as_bytes()), Some(2), "{ok:?}");
        }
        assert_eq!(parse(b"64"), Some(64));
        assert_eq!(name(40), "40");
        for bad in [
            "0",
            "65",
            "-1",
            "SIG2",
            "0064",
            "",
            "SIG",
            "SIGFOO",
            "TERM KILL",
            "\u{ff}",
        ] {
            assert_eq!(parse(bad.as_bytes()), None, "{bad:?}");
        }
        assert!(NOT_A_SIGNAL.contains(&MAX_SIGNAL.to_string()));
    }

    /// Proves the two kill modes and that anything else is refused.
    #[test]
    fn kill_modes() {
        assert_eq!(parse_kill_mode(b"cgroup\n"), Some(false));
        assert_eq!(parse_kill_mode(b" group "), Some(true));
        for bad in ["", "process", "Group", "cgroup group", "control-group"] {
            assert_eq!(parse_kill_mode(bad.as_bytes()), None, "{bad:?}");
        }
    }
}
