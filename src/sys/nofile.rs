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
//! raised one: `posix_spawn` has no attribute for it, and setting it on the
//! child afterwards (`prlimit`) races with the program it already runs. So
//! around each spawn PID 1 lowers its own limit to the original and raises
//! it again ([`ChildWindow`]); the child copies the limit at `clone`, while
//! PID 1, single-threaded, does nothing else in between. Lowering is allowed
//! below descriptors already open; only new ones must fit. The libc may
//! need new descriptors in that window (musl's `posix_spawn` makes a pipe
//! for the exec error; an `addopen` of `/dev/null` opens one in the child),
//! so PID 1 keeps two *spare* descriptors just below the original soft
//! limit and closes them for the window, then takes their numbers back.
//!
//! The original survives a hot update in the environment variable
//! [`ENV_VAR`] (`SOFT:HARD`), which only a hot update sets and which the
//! new image honours only together with a snapshot and then removes.
//!
//! Invariants: PID 1 never ends up below the original limit; a failed
//! raise leaves the limit as it was (and children get it unchanged); the
//! window is skipped entirely (no extra system call) when nothing was
//! raised.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};

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

/// Where spare descriptors go: just below the original soft limit, clear
/// of the low numbers services get descriptors at (3, 4, …), which would
/// make musl's child move its error pipe (one more descriptor). `None`:
/// the original limit is too small for spares.
pub fn spare_base(original_soft: u64) -> Option<RawFd> {
    let base = original_soft.checked_sub(SPARES as u64)?;
    (base >= 3).then(|| RawFd::try_from(base).ok()).flatten()
}

/// How many spare descriptors are kept: enough for musl's error pipe (two
/// in PID 1; the child closes the read end first, which frees one number
/// for an `open` of `/dev/null` or a moved pipe end).
const SPARES: usize = 2;

// The state, in statics: read by spawn (and the emergency path's fork,
// where only atomics may be touched). PID 1 has one thread; `Relaxed`
// suffices.
static ORIG_SOFT: AtomicU64 = AtomicU64::new(0);
static ORIG_HARD: AtomicU64 = AtomicU64::new(0);
static RAISED_SOFT: AtomicU64 = AtomicU64::new(0);
static RAISED_HARD: AtomicU64 = AtomicU64::new(0);
/// Whether the limit was raised (the window is needed).
static RAISED: AtomicBool = AtomicBool::new(false);
/// The descriptor spares are copied from (-1: none), and the spares.
static SOURCE: AtomicI32 = AtomicI32::new(-1);
static SPARE: [AtomicI32; SPARES] = [AtomicI32::new(-1), AtomicI32::new(-1)];

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
    RAISED_SOFT.store(now.soft, Ordering::Relaxed);
    RAISED_HARD.store(now.hard, Ordering::Relaxed);
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

fn raised() -> Limit {
    Limit {
        soft: RAISED_SOFT.load(Ordering::Relaxed),
        hard: RAISED_HARD.load(Ordering::Relaxed),
    }
}

/// `NAME=SOFT:HARD` for the environment of a hot update's `execve`.
pub fn handover_env() -> Option<String> {
    original().map(|o| format!("{ENV_VAR}={}", env_value(o)))
}

/// Make (or make again, after a hot update or at boot once stray
/// descriptors are closed) the spare descriptors. Call after every
/// `close_others`: the spares are close-on-exec and nobody else's.
pub fn reserve_spares() {
    let (Some(o), true) = (original(), RAISED.load(Ordering::Relaxed)) else {
        return;
    };
    let Some(base) = spare_base(o.soft) else {
        return;
    };
    if SOURCE.load(Ordering::Relaxed) < 0 {
        // SAFETY: eventfd makes a new descriptor we own; it holds nothing.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if fd < 0 {
            return;
        }
        // Above the original limit, so it takes none of the low numbers.
        let high = RawFd::try_from(o.soft).unwrap_or(RawFd::MAX);
        // SAFETY: F_DUPFD_CLOEXEC copies our own descriptor; the
        // original is closed right after.
        let moved = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, high) };
        let source = if moved >= 0 {
            // SAFETY: closes the descriptor made above, now copied.
            unsafe { libc::close(fd) };
            moved
        } else {
            fd
        };
        SOURCE.store(source, Ordering::Relaxed);
    }
    for slot in &SPARE {
        if slot.load(Ordering::Relaxed) < 0 {
            slot.store(take_number(base, o.soft), Ordering::Relaxed);
        }
    }
}

/// A copy of the source at the lowest free number ≥ `base`, kept only if
/// it is below `limit` (else -1).
fn take_number(base: RawFd, limit: u64) -> RawFd {
    let source = SOURCE.load(Ordering::Relaxed);
    if source < 0 {
        return -1;
    }
    // SAFETY: copies our own descriptor to a free number. The system call
    // itself: musl's fcntl() follows F_DUPFD_CLOEXEC with an F_SETFD for
    // kernels before 2.6.24, one more call per spare and spawn.
    let fd = unsafe { libc::syscall(libc::SYS_fcntl, source, libc::F_DUPFD_CLOEXEC, base) };
    let fd = RawFd::try_from(fd).unwrap_or(-1);
    if fd >= 0 && u64::try_from(fd).is_ok_and(|n| n < limit) {
        return fd;
    }
    if fd >= 0 {
        // SAFETY: the copy just made, above the limit: of no use.
        unsafe { libc::close(fd) };
    }
    -1
}

/// Spare descriptors for the tests' checks.
pub fn spares() -> Vec<RawFd> {
    SPARE
        .iter()
        .map(|s| s.load(Ordering::Relaxed))
        .filter(|&fd| fd >= 0)
        .collect()
}

/// PID 1 at the original limit, for the duration of one spawn. Dropping it
/// raises the limit again and takes the spares' numbers back. A no-op when
/// nothing was raised.
pub struct ChildWindow {
    open: bool,
}

impl ChildWindow {
    /// Close the spares and lower the limit. Cost: one `close` per spare
    /// and one `setrlimit`.
    pub fn enter() -> ChildWindow {
        let Some(o) = original().filter(|_| RAISED.load(Ordering::Relaxed)) else {
            return ChildWindow { open: false };
        };
        for slot in &SPARE {
            let fd = slot.load(Ordering::Relaxed);
            if fd >= 0 {
                // SAFETY: a spare is ours, holds nothing, and is retaken
                // (by number) when the window closes.
                unsafe { libc::close(fd) };
            }
        }
        let open = setrlimit(o).is_ok();
        ChildWindow { open }
    }
}

impl Drop for ChildWindow {
    fn drop(&mut self) {
        if self.open {
            let r = raised();
            if setrlimit(r).is_err() {
                // The hard limit could not go back up (capability lost):
                // the best that is left, and no more windows that lower it.
                if let Some(now) = getrlimit() {
                    let best = fallback(now);
                    let _ = setrlimit(best);
                    RAISED_SOFT.store(best.soft, Ordering::Relaxed);
                    RAISED_HARD.store(best.hard, Ordering::Relaxed);
                }
            }
        }
        let Some(o) = original().filter(|_| RAISED.load(Ordering::Relaxed)) else {
            return;
        };
        for slot in &SPARE {
            let fd = slot.load(Ordering::Relaxed);
            if fd >= 0 {
                // Its number is free again: the libc closed what it opened.
                slot.store(take_number(fd, o.soft), Ordering::Relaxed);
            }
        }
    }
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

    /// Proves spares sit just below the original soft limit, and that a
    /// tiny limit gets none.
    #[test]
    fn spare_numbers() {
        assert_eq!(spare_base(1024), Some(1022));
        assert_eq!(spare_base(5), Some(3));
        assert_eq!(spare_base(4), None);
        assert_eq!(spare_base(0), None);
    }
}
