//! A service's execution context (its `user`, `limits`, `nice`,
//! `oom-score-adj` and `no-new-privs` files), as the spawned child applies
//! it between `setsid` and `chdir`.
//!
//! Invariants:
//! - Everything is prepared by the parent ([`ExecContext`], built by
//!   `crate::config::context` before the `clone`); [`apply`] only makes raw
//!   system calls on that memory (no allocation, no lock, no libc wrapper).
//! - The credentials are changed with the raw system calls, which change
//!   only the calling thread: the child is a process of its own (no
//!   `CLONE_THREAD`), so that is the whole process. libc's `setuid` and
//!   `setgroups` would instead try to reach every thread of the process
//!   (musl's `__synccall`), with locks shared with PID 1's memory.
//! - Order: resource limits, nice and the OOM score first, while the child
//!   is still root (raising a hard limit, a negative nice or a negative
//!   OOM score needs `CAP_SYS_RESOURCE`/`CAP_SYS_NICE`, and after `setuid`
//!   `/proc/self/oom_score_adj` may no longer be the child's to write);
//!   then `no_new_privs` (no privilege needed; it only affects `execve`);
//!   then `setgroups`, `setresgid`, and `setresuid` last (after it, the
//!   child could change neither its groups nor its gid).
//! - A service without these files has no [`ExecContext`]: its child makes
//!   no system call more than before.
//! - Every failure names its step ([`Step`]): the parent turns it into the
//!   service's failure reason.

use std::ffi::{c_int, c_long, c_uint, c_void};

#[cfg(not(any(target_arch = "x86", target_arch = "arm")))]
use libc::{
    SYS_setgroups as SYS_SETGROUPS, SYS_setresgid as SYS_SETRESGID, SYS_setresuid as SYS_SETRESUID,
};
#[cfg(any(target_arch = "x86", target_arch = "arm"))]
use libc::{
    SYS_setgroups32 as SYS_SETGROUPS, SYS_setresgid32 as SYS_SETRESGID,
    SYS_setresuid32 as SYS_SETRESUID,
};

/// The user and groups a service runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Creds {
    pub uid: u32,
    /// The primary group.
    pub gid: u32,
    /// The supplementary groups (`setgroups`), the primary one included.
    pub groups: Vec<u32>,
    /// The `user` file's first field as written (`www`, `1000`), for
    /// messages.
    pub name: String,
}

/// One resource limit (`prlimit64`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// `RLIMIT_*`.
    pub resource: c_uint,
    /// Its name as in `prlimit(1)`, for messages.
    pub name: &'static str,
    /// Soft and hard; `u64::MAX` is `RLIM_INFINITY`.
    pub values: [u64; 2],
}

/// A service's execution context; see the module doc.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecContext {
    pub creds: Option<Creds>,
    pub limits: Vec<Limit>,
    pub nice: Option<i32>,
    /// The text written to `/proc/self/oom_score_adj` (`-1000` … `1000`).
    pub oom_score_adj: Option<OomText>,
    pub no_new_privs: bool,
}

/// An OOM score adjustment as the decimal text the kernel reads, prepared
/// in the parent (at most `-1000`: five bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OomText {
    bytes: [u8; 8],
    len: usize,
}

impl OomText {
    /// `value` as text; `None` outside −1000 … 1000.
    pub fn new(value: i32) -> Option<OomText> {
        if !(-1000..=1000).contains(&value) {
            return None;
        }
        let mut bytes = [0u8; 8];
        let text = value.to_string();
        bytes
            .get_mut(..text.len())?
            .copy_from_slice(text.as_bytes());
        Some(OomText {
            bytes,
            len: text.len(),
        })
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }
}

impl ExecContext {
    /// Whether the `limits` file sets the descriptor limit (which then
    /// replaces the one cinit gives every child).
    pub fn sets_nofile(&self) -> bool {
        self.limits
            .iter()
            .any(|l| l.resource == libc::RLIMIT_NOFILE as c_uint)
    }
}

/// The step of a spawn that failed, as the child reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Descriptors, signals, session, cwd: reported as today, as an exec
    /// error.
    Setup,
    /// The `execve` itself.
    Exec,
    /// The limit at this index of [`ExecContext::limits`].
    Limit(usize),
    Nice,
    OomScoreAdj,
    NoNewPrivs,
    Setgroups,
    Setgid,
    Setuid,
    /// Joining the service's cgroup.
    Cgroup,
}

/// Step codes as the child writes them (a plain integer in shared memory).
pub(super) const SETUP: c_int = 0;
pub(super) const EXEC: c_int = 1;
const NICE: c_int = 2;
const OOM: c_int = 3;
const NNP: c_int = 4;
const SETGROUPS: c_int = 5;
const SETGID: c_int = 6;
const SETUID: c_int = 7;
pub(super) const CGROUP: c_int = 8;
/// `LIMIT + i`: the limit at index `i`.
const LIMIT: c_int = 100;

impl Step {
    pub(super) fn from_code(code: c_int) -> Step {
        match code {
            EXEC => Step::Exec,
            NICE => Step::Nice,
            OOM => Step::OomScoreAdj,
            NNP => Step::NoNewPrivs,
            SETGROUPS => Step::Setgroups,
            SETGID => Step::Setgid,
            SETUID => Step::Setuid,
            CGROUP => Step::Cgroup,
            c if c >= LIMIT => Step::Limit(usize::try_from(c - LIMIT).unwrap_or(0)),
            _ => Step::Setup,
        }
    }
}

/// A failed spawn: the errno and the step that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    pub errno: i32,
    pub step: Step,
}

/// Apply `ctx` in the child; `*step` is set to each step before it runs,
/// so that on failure it names the one that failed. Only for the spawned
/// child, as [`super::child`]'s `prepare` runs: in PID 1 it would change
/// PID 1.
pub(super) fn apply(
    ctx: &ExecContext,
    step: &mut c_int,
    sys: fn(c_long) -> Result<c_long, c_int>,
) -> Result<(), c_int> {
    // SAFETY: raw system calls on the child's own attributes, with
    // arguments the parent prepared and keeps alive while the child runs
    // (it is suspended until the exec or exit).
    unsafe {
        for (i, limit) in (0..).zip(ctx.limits.iter()) {
            *step = LIMIT.saturating_add(i);
            sys(libc::syscall(
                libc::SYS_prlimit64,
                0,
                limit.resource,
                limit.values.as_ptr(),
                std::ptr::null::<c_void>(),
            ))?;
        }
        if let Some(nice) = ctx.nice {
            *step = NICE;
            sys(libc::syscall(
                libc::SYS_setpriority,
                libc::PRIO_PROCESS,
                0,
                nice,
            ))?;
        }
        if let Some(text) = &ctx.oom_score_adj {
            *step = OOM;
            let fd = sys(libc::syscall(
                libc::SYS_openat,
                libc::AT_FDCWD,
                c"/proc/self/oom_score_adj".as_ptr(),
                libc::O_WRONLY | libc::O_CLOEXEC,
            ))?;
            let bytes = text.as_bytes();
            let written = sys(libc::syscall(
                libc::SYS_write,
                fd,
                bytes.as_ptr(),
                bytes.len(),
            ));
            sys(libc::syscall(libc::SYS_close, fd))?;
            written?;
        }
        if ctx.no_new_privs {
            *step = NNP;
            sys(libc::syscall(
                libc::SYS_prctl,
                libc::PR_SET_NO_NEW_PRIVS,
                1 as c_long,
                0 as c_long,
                0 as c_long,
                0 as c_long,
            ))?;
        }
        if let Some(creds) = &ctx.creds {
            *step = SETGROUPS;
            sys(libc::syscall(
                SYS_SETGROUPS,
                creds.groups.len(),
                creds.groups.as_ptr(),
            ))?;
            *step = SETGID;
            sys(libc::syscall(
                SYS_SETRESGID,
                creds.gid,
                creds.gid,
                creds.gid,
            ))?;
            *step = SETUID;
            sys(libc::syscall(
                SYS_SETRESUID,
                creds.uid,
                creds.uid,
                creds.uid,
            ))?;
        }
    }
    *step = SETUP;
    Ok(())
}
