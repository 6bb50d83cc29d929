//! PID 1's descriptor limit (`RLIMIT_NOFILE`): raised at start, given back
//! to every child as it was.
//!
//! The kernel starts init with 1024 soft / 4096 hard. PID 1 holds two
//! descriptors per service with a log (and its `poll` fails with EINVAL
//! once it watches more descriptors than its soft limit), so a few hundred
//! services exhaust it. At start, PID 1 raises both limits to
//! `fs.nr_open`; where the hard limit may not be raised (no
//! `CAP_SYS_RESOURCE`, a user namespace), the soft one goes up to the hard.
//!
//! Children get the limit PID 1 started with (the *original*), not the
//! raised one: the spawned child sets it itself ([`for_child`], one
//! `prlimit64` in `crate::sys::spawn`'s child, after its descriptors are in
//! place), and a forked one with [`restore_in_child`].
//!
//! The original survives a hot update in the environment variable
//! [`ENV_VAR`] (`SOFT:HARD`), which only a hot update sets and which the
//! new image honours only together with a snapshot and then removes.
//!
//! Invariants: PID 1 never ends up below the original limit; a failed
//! raise leaves the limit as it was (and children get it unchanged); a
//! child makes no extra system call when nothing was raised.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The environment variable carrying the original limit across a hot
/// update, as `SOFT:HARD` (`unlimited` for RLIM_INFINITY is never needed:
/// the kernel caps RLIMIT_NOFILE at `fs.nr_open`).
pub const ENV_VAR: &str = "CINIT_NOFILE";
/// The kernel's default `fs.nr_open`, used when it cannot be read.
pub const DEFAULT_NR_OPEN: u64 = 1 << 20;
/// Where the kernel's ceiling for RLIMIT_NOFILE is read from.
const NR_OPEN_PATH: &std::ffi::CStr = c"/proc/sys/fs/nr_open";

/// A soft and a hard limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub soft: u64,
    pub hard: u64,
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.soft, self.hard)
    }
}

/// The limit to ask for first: both at `nr_open`, never below what is
/// already set (a limit above `nr_open` was set before the sysctl was
/// lowered; keep it).
pub fn wanted(current: Limit, nr_open: u64) -> Limit {
    let hard = current.hard.max(nr_open);
    Limit { soft: hard, hard }
}

/// The fallback when the hard limit may not be raised: soft up to hard.
pub fn fallback(current: Limit) -> Limit {
    Limit {
        soft: current.hard.max(current.soft),
        hard: current.hard,
    }
}

/// `fs.nr_open` from the text of its /proc file.
pub fn parse_nr_open(text: &[u8]) -> Option<u64> {
    let n: u64 = std::str::from_utf8(text).ok()?.trim().parse().ok()?;
    (n > 0).then_some(n)
}

/// The variable's value for `limit`.
pub fn env_value(limit: Limit) -> String {
    format!("{}:{}", limit.soft, limit.hard)
}

/// Parse [`ENV_VAR`]'s value; `None` if malformed or soft > hard.
pub fn parse_env(value: &str) -> Option<Limit> {
    let (soft, hard) = value.split_once(':')?;
    let limit = Limit {
        soft: soft.parse().ok()?,
        hard: hard.parse().ok()?,
    };
    (limit.soft <= limit.hard && limit.soft > 0).then_some(limit)
}

/// The console line after the raise at start: what changed, or why not.
pub fn message(original: Limit, now: Limit, refused: Option<&str>) -> Option<String> {
    let why = refused.map(|e| format!(" (the hard limit may not be raised: {e})"));
    if now == original {
        return refused.map(|e| format!("descriptor limit stays {original}: {e}"));
    }
    Some(format!(
        "descriptor limit raised from {original} to {now}{}; services get {original}",
        why.unwrap_or_default()
    ))
}

// The state, in statics: read by spawn (and the emergency path's fork,
// where only atomics may be touched). PID 1 has one thread; `Relaxed`
// suffices.
static ORIG_SOFT: AtomicU64 = AtomicU64::new(0);
static ORIG_HARD: AtomicU64 = AtomicU64::new(0);
/// Whether the limit was raised (children must set the original).
static RAISED: AtomicBool = AtomicBool::new(false);

fn getrlimit() -> Option<Limit> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) };
    (rc == 0).then_some(Limit {
        soft: r.rlim_cur,
        hard: r.rlim_max,
    })
}

fn setrlimit(l: Limit) -> Result<(), nix::errno::Errno> {
    let r = libc::rlimit {
        rlim_cur: l.soft,
        rlim_max: l.hard,
    };
    // SAFETY: setrlimit only reads the struct.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) };
    if rc == 0 {
        Ok(())
    } else {
        Err(nix::errno::Errno::last())
    }
}

/// Read `fs.nr_open` without ever blocking (a /proc file does not, but
/// the path is opened non-blocking like every other file PID 1 reads at
/// start) and without reading more than a number's worth.
fn read_nr_open() -> Option<u64> {
    // SAFETY: a NUL-terminated path; the descriptor is closed below.
    let fd = unsafe {
        libc::open(
            NR_OPEN_PATH.as_ptr(),
            libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY,
        )
    };
    if fd < 0 {
        return None;
    }
    let mut buf = [0u8; 32];
    // SAFETY: reads at most buf.len() bytes into our buffer.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    // SAFETY: closes the descriptor opened above.
    unsafe { libc::close(fd) };
    parse_nr_open(buf.get(..usize::try_from(n).ok()?)?)
}

/// Raise the limit at start. `handover`: a hot update is being taken over,
/// so the original comes from [`ENV_VAR`] (this image inherited the raised
/// limit). The variable is removed either way. Returns the console line.
pub fn raise_at_start(handover: bool) -> Option<String> {
    let carried = std::env::var(ENV_VAR).ok().and_then(|v| parse_env(&v));
    std::env::remove_var(ENV_VAR);
    let current = getrlimit()?;
    let original = match carried {
        Some(o) if handover => o,
        _ => current,
    };
    let nr_open = read_nr_open().unwrap_or(DEFAULT_NR_OPEN);
    let mut refused = None;
    let want = wanted(current, nr_open);
    if want != current {
        if let Err(e) = setrlimit(want) {
            let soft_only = fallback(current);
            if soft_only != current {
                let _ = setrlimit(soft_only);
            }
            refused = Some(format!("{} ({e:?})", e.desc()));
        }
    }
    let now = getrlimit().unwrap_or(current);
    ORIG_SOFT.store(original.soft, Ordering::Relaxed);
    ORIG_HARD.store(original.hard, Ordering::Relaxed);
    RAISED.store(now != original, Ordering::Relaxed);
    if handover && now == current {
        // The previous image said it already (or had nothing to say).
        return None;
    }
    message(original, now, refused.as_deref())
}

/// The original limit, if [`raise_at_start`] ran.
pub fn original() -> Option<Limit> {
    let soft = ORIG_SOFT.load(Ordering::Relaxed);
    (soft > 0).then(|| Limit {
        soft,
        hard: ORIG_HARD.load(Ordering::Relaxed),
    })
}

/// `NAME=SOFT:HARD` for the environment of a hot update's `execve`.
pub fn handover_env() -> Option<String> {
    original().map(|o| format!("{ENV_VAR}={}", env_value(o)))
}

/// The limit a new child must set: the original, if PID 1 raised its own.
pub fn for_child() -> Option<Limit> {
    original().filter(|_| RAISED.load(Ordering::Relaxed))
}

/// For a forked child about to `execve` (the emergency shell): the
/// original limit. Async-signal-safe (atomics and one system call).
pub fn restore_in_child() {
    let soft = ORIG_SOFT.load(Ordering::Relaxed);
    if soft == 0 || !RAISED.load(Ordering::Relaxed) {
        return;
    }
    let r = libc::rlimit {
        rlim_cur: soft,
        rlim_max: ORIG_HARD.load(Ordering::Relaxed),
    };
    // SAFETY: setrlimit only reads the struct; a plain system call.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) };
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOOT: Limit = Limit {
        soft: 1024,
        hard: 4096,
    };

    /// Proves the first request goes to nr_open for both limits, never
    /// below what is set, and the fallback raises soft to hard only.
    #[test]
    fn what_is_asked_for() {
        let all = Limit {
            soft: 1 << 20,
            hard: 1 << 20,
        };
        assert_eq!(wanted(BOOT, 1 << 20), all);
        let above = Limit {
            soft: 10,
            hard: 1 << 21,
        };
        assert_eq!(wanted(above, 1 << 20).hard, 1 << 21, "never lowered");
        assert_eq!(
            fallback(BOOT),
            Limit {
                soft: 4096,
                hard: 4096
            }
        );
        assert_eq!(fallback(all), all);
    }

    /// Proves nr_open and the carried variable parse strictly.
    #[test]
    fn parsing() {
        assert_eq!(parse_nr_open(b"1048576\n"), Some(1 << 20));
        assert_eq!(parse_nr_open(b"0\n"), None);
        assert_eq!(parse_nr_open(b"x"), None);
        assert_eq!(parse_nr_open(b""), None);
        assert_eq!(parse_env(&env_value(BOOT)), Some(BOOT));
        for bad in [
            "",
            "1024",
            "1024:",
            ":4096",
            "5000:4096",
            "0:0",
            "a:b",
            "-1:2",
        ] {
            assert_eq!(parse_env(bad), None, "{bad:?}");
        }
    }

    /// Proves the console line says what changed, and says nothing when
    /// nothing changed without a reason.
    #[test]
    fn messages() {
        let up = Limit {
            soft: 1 << 20,
            hard: 1 << 20,
        };
        assert_eq!(
            message(BOOT, up, None).as_deref(),
            Some(
                "descriptor limit raised from 1024/4096 to 1048576/1048576; services get 1024/4096"
            )
        );
        let soft = fallback(BOOT);
        let m = message(BOOT, soft, Some("Operation not permitted (EPERM)")).unwrap();
        assert!(m.starts_with("descriptor limit raised from 1024/4096 to 4096/4096 (the hard"));
        assert_eq!(message(up, up, None), None);
        assert!(message(up, up, Some("x")).unwrap().contains("stays"));
    }
}
