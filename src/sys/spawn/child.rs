//! The child half of a spawn: `clone(CLONE_VM|CLONE_VFORK)` on a stack of
//! our own, and the few raw system calls the child makes before `execve`.
//!
//! This is the one place where a service's process (and the hot update's
//! preflight of a new image) is given what it starts with (descriptors,
//! signal dispositions and mask, session, descriptor limit, cwd);
//! a service's credentials, resource limits, nice, OOM score and
//! no_new_privs are applied here too ([`prepare`], from [`super::ctx`]).
//!
//! Why not `posix_spawn`: musl's makes a pipe in the parent for the exec
//! error, and its parent blocks on that pipe after the `vfork` wake-up until
//! the child's `execve` has closed every close-on-exec descriptor (a second
//! sleep and wake-up per start); it has no attribute for the descriptor
//! limit (PID 1 had to lower its own around each spawn, and keep spare
//! descriptors for the pipe); and its child copies PID 1's whole descriptor
//! table, which `execve` then closes again, one by one, in every child
//! (with a log per service: two descriptors per service in PID 1, so the
//! start of N services cost O(N²) in the kernel). Here:
//!
//! - the exec error comes back through the memory the child shares with
//!   PID 1 ([`Child::errno`]): no pipe, and PID 1 runs on as soon as the
//!   kernel has replaced the child's memory;
//! - the child sets the limit itself (`prlimit64`), after its descriptors
//!   are in place;
//! - with a *prefix* ([`Child::prefix`], see [`super::stage`]), the child
//!   shares PID 1's table at `clone` (`CLONE_FILES`, nothing copied) and its
//!   first call, `close_range(prefix, ~0, CLOSE_RANGE_UNSHARE)`, gives it a
//!   private table holding only the descriptors below the prefix, where
//!   the parent staged every source it needs.
//!
//! Invariants of the child (it runs on PID 1's memory while PID 1 is
//! suspended): no allocation, no lock, no Rust std call, no panic path;
//! only `libc::syscall` (which may write `errno` in the TLS it shares with
//! PID 1: PID 1 never reads `errno` it did not just set itself) on memory
//! prepared by the parent. Every signal is blocked from before the `clone`
//! until the last call before `execve`, so no handler of PID 1's runs on
//! this stack; handled and ignored signals are reset to SIG_DFL first.

use std::ffi::{c_char, c_int, c_long, c_uint, c_void};
use std::mem::MaybeUninit;
use std::os::fd::RawFd;

use crate::sys::place::Step;

/// Bytes of the child's stack. The child runs [`child_main`] and
/// `libc::syscall`, no recursion, a few hundred bytes deep; the margin
/// is for a C library's own frames. Not initialised: only the pages the
/// child touches become resident.
const STACK: usize = 16 * 1024;

/// `close_range(2)` flags (Linux 5.9 and 5.11).
const CLOSE_RANGE_UNSHARE: c_uint = 1 << 1;
pub(super) const CLOSE_RANGE_CLOEXEC: c_uint = 1 << 2;

/// Bytes of the kernel's signal set (`_NSIG / 8`): 16 on MIPS, 8 elsewhere.
#[cfg(any(target_arch = "mips", target_arch = "mips64"))]
const KSIGSET: usize = 16;
#[cfg(not(any(target_arch = "mips", target_arch = "mips64")))]
const KSIGSET: usize = 8;

/// A kernel signal set (and, zeroed, a kernel `sigaction` for SIG_DFL with
/// no flags and an empty mask: every layout has the handler, flags,
/// restorer and mask in at most these bytes).
type KSet = [u64; 4];

/// Everything the child needs, prepared by the parent, read by the child
/// through the pointer `clone` passes. The child writes only `errno`.
pub(super) struct Child<'a> {
    /// What `execve` executes, unless `image` is set.
    pub path: *const c_char,
    /// ≥ 0: the open file to execute instead (`execveat(image, "", …,
    /// AT_EMPTY_PATH)`; `path` is then `""`), as the child numbers it.
    pub image: RawFd,
    pub argv: *const *mut c_char,
    pub envp: *const *mut c_char,
    /// Null: keep cinit's.
    pub cwd: *const c_char,
    /// Non-zero: the child was cloned with `CLONE_FILES` and keeps only the
    /// descriptors below this number (all close-on-exec but what it places).
    pub prefix: c_uint,
    /// Sources of fds 0, 1, 2; -1: open `/dev/null` (no null descriptor).
    pub stdio: [RawFd; 3],
    /// The extra descriptors' copies, in [`crate::sys::place::plan`]'s order.
    pub steps: &'a [Step],
    /// Signals to set to SIG_DFL.
    pub reset: &'a [c_int],
    /// The descriptor limit to set (soft, hard), if PID 1 raised its own.
    pub nofile: Option<(u64, u64)>,
    /// The service's execution context, if it has one ([`super::ctx`]).
    pub ctx: Option<&'a super::ctx::ExecContext>,
    /// Null, or the `cgroup.procs` file of the cgroup the child joins
    /// first ([`crate::sys::cgroup`]).
    pub cgroup: *const c_char,
    /// Null, or where the child writes its own pid in decimal and a NUL
    /// (room for 21 bytes): the value of an environment entry `envp`
    /// points to (`WATCHDOG_PID=`).
    pub pid_digits: *mut u8,
    /// The errno of the step that failed; 0 until one does.
    pub errno: c_int,
    /// The step that failed ([`super::ctx::Step`]'s code), with `errno`.
    pub step: c_int,
}

/// A system call's result, or the errno it failed with.
fn sys(rc: c_long) -> Result<c_long, c_int> {
    if rc >= 0 {
        return Ok(rc);
    }
    // SAFETY: reads this thread's errno, set by the failed call; a TLS
    // read, no lock.
    Err(unsafe { *errno_location() })
}

use libc::__errno_location as errno_location;

/// `dup2(from, to)` as `posix_spawn`'s file action does it: onto itself, it
/// clears close-on-exec.
fn place(from: RawFd, to: RawFd) -> Result<(), c_int> {
    // SAFETY: raw system calls on descriptor numbers of the child.
    unsafe {
        if from == to {
            sys(libc::syscall(libc::SYS_fcntl, to, libc::F_SETFD, 0))?;
        } else {
            sys(libc::syscall(libc::SYS_dup3, from, to, 0))?;
        }
    }
    Ok(())
}

/// What the child does before `execve`, in order. Returns only on failure.
///
/// The service's cgroup first, once the child has a descriptor table of
/// its own (everything it does after, and all it forks, is the
/// service's), then descriptors (the limit is lowered after them: a
/// target may lie above the original limit), then signals, session, limit, the
/// service's execution context ([`super::ctx::apply`]: limits, nice, OOM
/// score, no_new_privs, groups, gid, uid last) and cwd (entered as the
/// service's user: it never holds a directory its user could not reach);
/// the empty mask last, right before the exec. `*step` names the step
/// that runs ([`super::ctx::Step`]).
fn prepare(c: &Child, step: &mut c_int) -> Result<(), c_int> {
    // SAFETY: raw system calls on the child's own descriptors, signal
    // dispositions and attributes, with arguments the parent prepared and
    // keeps alive (it is suspended until the exec or exit).
    unsafe {
        if c.prefix > 0 {
            sys(libc::syscall(
                libc::SYS_close_range,
                c.prefix,
                c_uint::MAX,
                CLOSE_RANGE_UNSHARE,
            ))?;
            sys(libc::syscall(
                libc::SYS_close_range,
                3 as c_uint,
                c_uint::MAX,
                CLOSE_RANGE_CLOEXEC,
            ))?;
        }
        if !c.cgroup.is_null() {
            *step = super::ctx::CGROUP;
            join_cgroup(c.cgroup)?;
            *step = super::ctx::SETUP;
        }
        for (to, &from) in (0..).zip(c.stdio.iter()) {
            if from >= 0 {
                place(from, to)?;
                continue;
            }
            let fd = sys(libc::syscall(
                libc::SYS_openat,
                libc::AT_FDCWD,
                c"/dev/null".as_ptr(),
                libc::O_RDONLY | libc::O_CLOEXEC,
            ))? as RawFd;
            place(fd, to)?;
            if fd != to {
                sys(libc::syscall(libc::SYS_close, fd))?;
            }
        }
        for step in c.steps {
            match *step {
                Step::Dup2(from, to) => place(from, to)?,
                Step::Close(fd) => {
                    sys(libc::syscall(libc::SYS_close, fd))?;
                }
            }
        }
        let dfl: KSet = [0; 4];
        for &sig in c.reset {
            sys(libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                dfl.as_ptr(),
                std::ptr::null::<c_void>(),
                KSIGSET,
            ))?;
        }
        sys(libc::syscall(libc::SYS_setsid))?;
        if let Some((soft, hard)) = c.nofile {
            let limit: [u64; 2] = [soft, hard];
            sys(libc::syscall(
                libc::SYS_prlimit64,
                0,
                libc::RLIMIT_NOFILE,
                limit.as_ptr(),
                std::ptr::null::<c_void>(),
            ))?;
        }
        if let Some(ctx) = c.ctx {
            super::ctx::apply(ctx, step, sys)?;
        }
        if !c.cwd.is_null() {
            sys(libc::syscall(libc::SYS_chdir, c.cwd))?;
        }
        let empty: KSet = [0; 4];
        sys(libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            empty.as_ptr(),
            std::ptr::null::<c_void>(),
            KSIGSET,
        ))?;
        if !c.pid_digits.is_null() {
            let pid = sys(libc::syscall(libc::SYS_getpid))?;
            write_decimal(c.pid_digits, pid.unsigned_abs());
        }
        *step = super::ctx::EXEC;
        if c.image >= 0 {
            sys(libc::syscall(
                libc::SYS_execveat,
                c.image,
                c.path,
                c.argv,
                c.envp,
                libc::AT_EMPTY_PATH,
            ))?;
        } else {
            sys(libc::syscall(libc::SYS_execve, c.path, c.argv, c.envp))?;
        }
    }
    Ok(())
}

/// Write `n` in decimal and a NUL at `at` (at most 21 bytes): no
/// allocation, no indexing, no panic path (the child's rules).
///
/// # Safety
/// `at` points to at least 21 writable bytes the parent keeps alive.
unsafe fn write_decimal(at: *mut u8, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut len = 0;
    for d in digits.iter_mut() {
        *d = b'0'.wrapping_add((n % 10) as u8);
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let mut out = at;
    for &d in digits.iter().take(len).rev() {
        // SAFETY: at most 20 digits and the NUL, within the 21 bytes.
        unsafe {
            out.write(d);
            out = out.add(1);
        }
    }
    // SAFETY: as above.
    unsafe { out.write(0) };
}

/// Join the cgroup whose `cgroup.procs` is `procs`: write `0` (this
/// process) into it. Three system calls, while still root.
///
/// # Safety
/// `procs` is a NUL-terminated path the parent keeps alive.
unsafe fn join_cgroup(procs: *const c_char) -> Result<(), c_int> {
    // SAFETY: raw system calls on a path the parent keeps alive and on
    // the descriptor opened here.
    unsafe {
        let fd = sys(libc::syscall(
            libc::SYS_openat,
            libc::AT_FDCWD,
            procs,
            libc::O_WRONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
        ))?;
        let wrote = sys(libc::syscall(libc::SYS_write, fd, c"0".as_ptr(), 1usize));
        sys(libc::syscall(libc::SYS_close, fd))?;
        wrote.map(drop)
    }
}

/// The child's entry point: [`prepare`] and exec, or record the errno and
/// exit 127.
extern "C" fn child_main(arg: *mut c_void) -> c_int {
    let c = arg.cast::<Child>();
    let mut step = super::ctx::SETUP;
    // SAFETY: `arg` is the `Child` the parent passed to `clone`, alive and
    // not touched by the parent until the child has exec'd or exited.
    let errno = match prepare(unsafe { &*c }, &mut step) {
        Ok(()) => libc::EINVAL,
        Err(e) => e,
    };
    // SAFETY: as above; the writes are what the parent reads afterwards.
    unsafe {
        std::ptr::addr_of_mut!((*c).step).write_volatile(step);
        std::ptr::addr_of_mut!((*c).errno).write_volatile(errno.max(1));
    }
    // SAFETY: ends this process (not PID 1: a process of its own).
    unsafe { libc::syscall(libc::SYS_exit, 127) };
    127
}

/// Block every signal; the previous mask in `old`.
fn block_all(old: &mut KSet) {
    let all: KSet = [u64::MAX; 4];
    // SAFETY: changes this thread's mask; the kernel writes the old one
    // into `old` (KSIGSET bytes, within it).
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            all.as_ptr(),
            old.as_mut_ptr(),
            KSIGSET,
        )
    };
}

/// Put back the mask [`block_all`] saved.
fn restore_mask(old: &KSet) {
    // SAFETY: sets this thread's mask from our own memory.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            old.as_ptr(),
            std::ptr::null::<c_void>(),
            KSIGSET,
        )
    };
}

/// Clone the child and wait until it has exec'd (the pid) or failed (its
/// errno and the code of its step; it is reaped here). A child with a
/// prefix shares PID 1's descriptor table at `clone` (`CLONE_FILES`) until
/// its first call.
pub(super) fn run(c: &mut Child) -> Result<libc::pid_t, (c_int, c_int)> {
    let mut stack: MaybeUninit<[u128; STACK / 16]> = MaybeUninit::uninit();
    // The top of the stack (it grows down on every architecture Linux
    // runs cinit on), 16-byte aligned by the element type.
    let top = stack
        .as_mut_ptr()
        .cast::<u8>()
        .wrapping_add(STACK)
        .cast::<c_void>();
    let mut flags = libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD;
    if c.prefix > 0 {
        flags |= libc::CLONE_FILES;
    }
    c.errno = 0;
    c.step = super::ctx::SETUP;
    let mut old: KSet = [0; 4];
    block_all(&mut old);
    // SAFETY: the child runs `child_main` on `stack`, which lives until
    // this function returns; CLONE_VFORK suspends this thread until the
    // child has exec'd or exited, so the stack and `c` outlive its use.
    let pid = unsafe {
        libc::clone(
            child_main,
            top,
            flags,
            std::ptr::from_mut(c).cast::<c_void>(),
        )
    };
    let clone_errno = if pid < 0 {
        // SAFETY: errno of the failed clone, read at once.
        unsafe { *errno_location() }
    } else {
        0
    };
    restore_mask(&old);
    if pid < 0 {
        return Err((clone_errno, super::ctx::SETUP));
    }
    // SAFETY: the child wrote it (or not) before it exec'd or exited.
    let errno = unsafe { std::ptr::addr_of!(c.errno).read_volatile() };
    if errno != 0 {
        let mut status = 0;
        // SAFETY: reaps our own child, which has exited already.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        // SAFETY: as `errno`.
        let step = unsafe { std::ptr::addr_of!(c.step).read_volatile() };
        return Err((errno, step));
    }
    Ok(pid)
}
