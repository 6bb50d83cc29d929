//! Starting a service process with a clean slate, via `posix_spawn(3)`.
//!
//! The child gets: an empty signal mask, every signal at its default
//! disposition (those cinit ignores or handles are reset in the child, one
//! `sigaction` each; [`learn_ignored_signals`]), its own session (`setsid`, so it is also its own process
//! group), the descriptors named in its [`ChildFds`] (stdin, stdout,
//! stderr, and extra ones at fixed numbers) and no others, the
//! service directory as cwd, and exactly the environment it was given.
//!
//! Why `posix_spawn` rather than `fork`: glibc implements it with
//! `CLONE_VM|CLONE_VFORK`, so the exec error comes back synchronously as the
//! return value (no error pipe, no extra descriptor per spawn, no page-table
//! copy of PID 1), and nothing runs in the child but the file actions and
//! attribute changes listed here — no Rust code, no allocation after the
//! clone. Everything (argv, envp, paths) is built before the call.
//!
//! "No other descriptors" is enforced in the parent, not by a file action:
//! right before each spawn every descriptor ≥ 3 of cinit is marked
//! close-on-exec with one `close_range(CLOSE_RANGE_CLOEXEC)` call. That works
//! the same with glibc and musl (musl has no `addclosefrom_np`), and also
//! covers descriptors a hot update cleared the flag on.

use std::ffi::{CStr, CString};
use std::os::fd::RawFd;
use std::ptr;
use std::sync::OnceLock;

use crate::sys::place::{plan, Step};
use crate::sys::process::Pid;

fn null_terminated(items: &[CString]) -> Vec<*mut libc::c_char> {
    let mut v: Vec<*mut libc::c_char> = items.iter().map(|c| c.as_ptr().cast_mut()).collect();
    v.push(ptr::null_mut());
    v
}

/// Everything needed to execute `on` or `off`, built before any fork.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecSpec {
    /// What `execve` gets as its path.
    pub path: CString,
    /// argv, including argv\[0\].
    pub argv: Vec<CString>,
    /// The complete environment.
    pub envp: Vec<CString>,
}

/// Add glibc's two internal signals (32 and 33) to a signal set.
///
/// glibc's `sigfillset` leaves them out and `sigaddset` refuses them, but its
/// `posix_spawn` sets every internal signal *not* in the reset-to-default set
/// to SIG_IGN in the child. Without this, every service would start with
/// signals 32 and 33 ignored. The kernel's sigset is a bit array where signal
/// N is bit N-1 of the first word.
fn include_libc_internal_signals(set: &mut libc::sigset_t) {
    let first_word = (set as *mut libc::sigset_t).cast::<u64>();
    // SAFETY: sigset_t on Linux is an array of at least 16 unsigned longs
    // (128 bytes), suitably aligned for u64; we only touch the first one.
    unsafe {
        *first_word |= (1u64 << 31) | (1u64 << 32);
    }
}

/// The signals a child must have reset to SIG_DFL, see [`learn_ignored_signals`].
static RESET_TO_DEFAULT: OnceLock<Learnt> = OnceLock::new();

/// A `sigset_t` that may live in a static: plain bits, never mutated after
/// it is stored.
#[derive(Clone, Copy)]
struct SigSet(libc::sigset_t);

/// What [`learn_ignored_signals`] found.
struct Learnt {
    /// The signals cinit ignores (and libc's internal ones).
    ignored: SigSet,
    /// Those and the signals cinit handles: every signal not at SIG_DFL.
    reset: SigSet,
}

// SAFETY: sigset_t is an array of integers with no pointers; the static
// is written once (OnceLock) and only read after that.
unsafe impl Sync for SigSet {}
// SAFETY: as above.
unsafe impl Send for SigSet {}

/// Record which signals cinit ignores (SIG_IGN survives `execve`; handlers
/// do not) or handles, so that each spawn resets only those. Called once
/// at start-up, after cinit set up its own dispositions and before the
/// first spawn.
///
/// Why: with `POSIX_SPAWN_SETSIGDEF`, the child makes one `sigaction` call
/// per signal in the set, between `clone` and `execve`: resetting all 64
/// made them most of the child's system calls. A handled signal needs no
/// reset after `execve`, but `posix_spawn` resets handlers in the child
/// itself (a handler must not run there before the exec): musl asks for
/// the disposition of each signal it saw a handler installed for and then
/// sets it, two calls where naming the signal in the set costs one.
/// Until this is called, every signal is reset.
pub fn learn_ignored_signals() {
    let learnt = learn(|sig| {
        // SAFETY: a zeroed sigaction is valid; with a NULL new action,
        // sigaction only reads the disposition.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            (libc::sigaction(sig, ptr::null(), &mut old) == 0).then_some(old.sa_sigaction)
        }
    });
    let _ = RESET_TO_DEFAULT.set(learnt);
}

/// The sets of [`learn_ignored_signals`] from `disposition`, the handler of
/// a signal (`None` if it cannot be asked).
fn learn(disposition: impl Fn(libc::c_int) -> Option<libc::sighandler_t>) -> Learnt {
    // SAFETY: a zeroed sigset_t is valid; sigemptyset initialises it and
    // sigaddset only sets bits in it.
    unsafe {
        let mut ignored: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut ignored);
        let mut reset = ignored;
        for sig in 1..libc::SIGRTMAX() {
            let Some(handler) = disposition(sig) else {
                continue;
            };
            if handler == libc::SIG_IGN {
                libc::sigaddset(&mut ignored, sig);
            }
            if handler != libc::SIG_DFL {
                libc::sigaddset(&mut reset, sig);
            }
        }
        include_libc_internal_signals(&mut ignored);
        include_libc_internal_signals(&mut reset);
        Learnt {
            ignored: SigSet(ignored),
            reset: SigSet(reset),
        }
    }
}

/// Every signal (libc's internal ones included): the set until
/// [`learn_ignored_signals`] was called.
fn all_signals() -> libc::sigset_t {
    // SAFETY: a zeroed sigset_t is valid and sigfillset initialises it.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `all` is a live sigset_t.
    unsafe { libc::sigfillset(&mut all) };
    include_libc_internal_signals(&mut all);
    all
}

/// The reset-to-default set of the next spawn.
fn reset_set() -> libc::sigset_t {
    RESET_TO_DEFAULT
        .get()
        .map_or_else(all_signals, |l| l.reset.0)
}

/// The signals a child must have reset to SIG_DFL, as numbers: for a child
/// started by `fork` rather than `posix_spawn` ([`crate::update::preflight`]), which
/// resets them itself (the handled ones `execve` resets).
pub fn ignored_signals() -> Vec<libc::c_int> {
    let set = RESET_TO_DEFAULT
        .get()
        .map_or_else(all_signals, |l| l.ignored.0);
    (1..libc::SIGRTMAX())
        // SAFETY: sigismember only reads the initialised set.
        .filter(|&sig| unsafe { libc::sigismember(&set, sig) } == 1)
        .collect()
}

/// Owns the spawn attribute and file-action objects, destroying on drop
/// exactly those that were initialised.
struct SpawnSetup {
    attr: libc::posix_spawnattr_t,
    actions: libc::posix_spawn_file_actions_t,
    attr_ready: bool,
    actions_ready: bool,
}

impl Drop for SpawnSetup {
    fn drop(&mut self) {
        // SAFETY: each object is destroyed only if its init succeeded, once.
        unsafe {
            if self.attr_ready {
                libc::posix_spawnattr_destroy(&mut self.attr);
            }
            if self.actions_ready {
                libc::posix_spawn_file_actions_destroy(&mut self.actions);
            }
        }
    }
}

fn check(rc: libc::c_int) -> Result<(), i32> {
    if rc == 0 {
        Ok(())
    } else {
        Err(rc)
    }
}

/// The descriptors a child starts with. Every source descriptor belongs to
/// cinit and stays open in cinit; the child gets copies at the target numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildFds {
    /// Copied to fd 0; `None` = `/dev/null`.
    pub stdin: Option<RawFd>,
    /// Copied to fd 1.
    pub stdout: RawFd,
    /// Copied to fd 2.
    pub stderr: RawFd,
    /// `(source, target)` pairs, source and target ≥ 3, targets unique
    /// (else the spawn fails with EINVAL), copied after stdio: a readiness
    /// pipe at the service's `notification-fd`, sockets at 3, 4, …. Any
    /// source may be numbered like another pair's target
    /// ([`crate::sys::place`] orders the copies).
    pub extra: Vec<(RawFd, RawFd)>,
}

impl ChildFds {
    /// The same descriptor (the console) as stdin, stdout and stderr.
    pub fn console(fd: RawFd) -> ChildFds {
        ChildFds {
            stdin: Some(fd),
            stdout: fd,
            stderr: fd,
            extra: Vec::new(),
        }
    }
}

impl SpawnSetup {
    /// A setup with nothing initialised, to be filled in place by
    /// [`SpawnSetup::init`].
    fn empty() -> SpawnSetup {
        // SAFETY: all-zero bytes are a valid (uninitialised-state) value for
        // these plain C structs and `false` for the flags.
        unsafe { std::mem::zeroed() }
    }

    /// Initialise the objects where they are: the caller keeps the setup in
    /// one place (its own stack frame) from here until it is dropped, so
    /// the objects never move after initialisation. On the stack rather
    /// than boxed: musl's allocator mapped and unmapped a page pair for the
    /// box on every spawn.
    fn init(&mut self, fds: &ChildFds, cwd: &CStr) -> Result<(), i32> {
        let s = self;
        // SAFETY: pointers are to live, properly aligned objects owned by `s`;
        // the signal sets are initialised by sigemptyset/sigfillset before use.
        unsafe {
            check(libc::posix_spawnattr_init(&mut s.attr))?;
            s.attr_ready = true;
            check(libc::posix_spawn_file_actions_init(&mut s.actions))?;
            s.actions_ready = true;
            let flags = libc::POSIX_SPAWN_SETSIGMASK as libc::c_short
                | libc::POSIX_SPAWN_SETSIGDEF as libc::c_short
                | libc::POSIX_SPAWN_SETSID;
            check(libc::posix_spawnattr_setflags(&mut s.attr, flags))?;
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            check(libc::posix_spawnattr_setsigmask(&mut s.attr, &empty))?;
            check(libc::posix_spawnattr_setsigdefault(
                &mut s.attr,
                &reset_set(),
            ))?;
            // Stdio first, extras after: a source that is numbered like an
            // extra's target has then already been copied where it belongs.
            match fds.stdin {
                Some(fd) => check(libc::posix_spawn_file_actions_adddup2(
                    &mut s.actions,
                    fd,
                    0,
                ))?,
                None => check(libc::posix_spawn_file_actions_addopen(
                    &mut s.actions,
                    0,
                    c"/dev/null".as_ptr(),
                    libc::O_RDONLY,
                    0,
                ))?,
            }
            check(libc::posix_spawn_file_actions_adddup2(
                &mut s.actions,
                fds.stdout,
                1,
            ))?;
            check(libc::posix_spawn_file_actions_adddup2(
                &mut s.actions,
                fds.stderr,
                2,
            ))?;
            // In an order that never overwrites a source before it is
            // copied (crate::sys::place). A dup2 onto itself clears
            // close-on-exec (POSIX 2024; glibc and musl both do it), so the
            // child keeps a descriptor already at its number.
            for step in plan(&fds.extra)? {
                check(match step {
                    Step::Dup2(from, to) => {
                        libc::posix_spawn_file_actions_adddup2(&mut s.actions, from, to)
                    }
                    Step::Close(fd) => libc::posix_spawn_file_actions_addclose(&mut s.actions, fd),
                })?;
            }
            check(libc::posix_spawn_file_actions_addchdir_np(
                &mut s.actions,
                cwd.as_ptr(),
            ))?;
        }
        Ok(())
    }
}

/// Spawn `spec` in `cwd` with the descriptors `fds`. Every source
/// descriptor must be ≥ 3. Returns the child's pid, or the errno of the
/// failed spawn or exec.
pub fn spawn(spec: &ExecSpec, cwd: &CStr, fds: &ChildFds) -> Result<Pid, i32> {
    cloexec_all_but_stdio();
    let mut setup = SpawnSetup::empty();
    setup.init(fds, cwd)?;
    let argv = null_terminated(&spec.argv);
    let envp = null_terminated(&spec.envp);
    let mut pid: libc::pid_t = 0;
    // The child copies PID 1's descriptor limit at `clone`: for the call,
    // PID 1 is at the limit it started with (crate::sys::nofile).
    let window = crate::sys::nofile::ChildWindow::enter();
    // SAFETY: path, argv and envp are NUL-terminated strings and
    // NULL-terminated arrays that outlive the call; the attribute and file
    // action objects are initialised.
    let rc = unsafe {
        libc::posix_spawn(
            &mut pid,
            spec.path.as_ptr(),
            &setup.actions,
            &setup.attr,
            argv.as_ptr(),
            envp.as_ptr(),
        )
    };
    drop(window);
    check(rc).map(|()| pid)
}

/// [`spawn`] for an interactive shell on the console `stdio`: if the console
/// is not a terminal (a plain file), stdin is /dev/null, so the log is never
/// read as commands.
pub fn spawn_shell(spec: &ExecSpec, cwd: &CStr, stdio: RawFd) -> Result<Pid, i32> {
    // SAFETY: isatty only inspects the descriptor.
    let tty = unsafe { libc::isatty(stdio) } == 1;
    let mut fds = ChildFds::console(stdio);
    if !tty {
        fds.stdin = None;
    }
    spawn(spec, cwd, &fds)
}

/// Mark every descriptor ≥ 3 close-on-exec in one system call
/// (`close_range(2)` with `CLOSE_RANGE_CLOEXEC`, Linux 5.11); false on an
/// older kernel, where the caller marks them one by one.
pub fn cloexec_from_3() -> bool {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC closes nothing; it only
    // sets a flag on descriptors of this process.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3 as libc::c_uint,
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        )
    };
    rc == 0
}

/// Mark every descriptor ≥ 3 close-on-exec; on kernels before 5.11, one
/// `fcntl` per entry of `/proc/self/fd`.
fn cloexec_all_but_stdio() {
    if cloexec_from_3() {
        return;
    }
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    for fd in dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<RawFd>().ok())
    {
        if fd >= 3 {
            // SAFETY: F_SETFD only changes the flag of one of our descriptors
            // (or fails with EBADF for the directory's own, already closed).
            unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        }
    }
}

#[cfg(test)]
mod tests;
