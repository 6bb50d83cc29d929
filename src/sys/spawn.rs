//! Starting a service process with a clean slate: cinit's own
//! `clone(CLONE_VM|CLONE_VFORK)` ([`child`]), its descriptors staged low
//! ([`stage`]).
//!
//! The child gets: an empty signal mask, every signal at its default
//! disposition (those cinit ignores or handles are reset in the child, one
//! `rt_sigaction` each; [`learn_ignored_signals`]), its own session
//! (`setsid`, so it is also its own process group), the descriptors named
//! in its [`ChildFds`] (stdin, stdout, stderr, and extra ones at fixed
//! numbers) and no others, the descriptor limit cinit started with
//! ([`crate::sys::nofile`]), the service directory as cwd, and exactly the
//! environment it was given; with [`spawn_in`], also the service's
//! execution context ([`ctx`]: resource limits, nice, OOM score,
//! no_new_privs, groups and user), a failure naming its step. [`spawn_image`] starts the program in an open
//! file instead of a path (`execveat`), with cinit's cwd and descriptor
//! limit: the hot update's preflight of the new image.
//!
//! `CLONE_VM|CLONE_VFORK`: no copy of PID 1's page tables, and the exec
//! error comes back synchronously through shared memory (no error pipe, no
//! extra descriptor per spawn). Nothing runs in the child but raw system
//! calls on memory prepared before the `clone`: no allocation, no lock.
//! Everything (argv, envp, paths, the order of the descriptor copies) is
//! built before the call.
//!
//! "No other descriptors": the child normally keeps only PID 1's first few
//! descriptors (the prefix, [`stage`]), all marked close-on-exec in the
//! child but those it places. When a spawn cannot use the prefix, the
//! child copies the whole table and, right before the spawn, every
//! descriptor ≥ 3 of cinit is marked close-on-exec with one
//! `close_range(CLOSE_RANGE_CLOEXEC)` call, which also covers descriptors a
//! hot update cleared the flag on.

use std::ffi::{CStr, CString};
use std::os::fd::RawFd;
use std::ptr;
use std::sync::OnceLock;

use crate::sys::place::plan;
use crate::sys::process::Pid;

mod child;
mod ctx;
mod stage;

pub use ctx::{Creds, ExecContext, Failure, Limit, OomText, Step};

pub use stage::{held as prefix_fds, reserve as reserve_prefix};

fn null_terminated(items: &[CString]) -> Vec<*mut libc::c_char> {
    // Room for the NULL at once: no second allocation per spawn for it.
    let mut v: Vec<*mut libc::c_char> = Vec::with_capacity(items.len() + 1);
    v.extend(items.iter().map(|c| c.as_ptr().cast_mut()));
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
/// glibc's `sigfillset` leaves them out, `sigaddset` refuses them and its
/// `sigaction` does not report them, but glibc installs its own handlers on
/// them (cancellation, set*id): the child resets them like every handled
/// signal (a raw `rt_sigaction` accepts them), so no libc handler can run
/// in it either. The kernel's sigset is a bit array where signal N is bit
/// N-1 of the first word.
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

/// What [`learn_ignored_signals`] found.
struct Learnt {
    /// Every signal not at SIG_DFL in cinit (ignored or handled, and
    /// libc's internal ones), as numbers: the child resets each with one
    /// `rt_sigaction`.
    reset: Vec<libc::c_int>,
}

/// Record which signals cinit ignores (SIG_IGN survives `execve`; handlers
/// do not) or handles, so that each spawn resets only those. Called once
/// at start-up, after cinit set up its own dispositions and before the
/// first spawn.
///
/// Why: the child makes one `rt_sigaction` call per signal in the set,
/// between `clone` and `execve`: resetting all 64 made them most of the
/// child's system calls. A handled signal would be reset by `execve`
/// itself, but the child resets it first, so that no handler of cinit's
/// can run in it before the exec. Until this is called, every signal is
/// reset.
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

/// The set of [`learn_ignored_signals`] from `disposition`, the handler of
/// a signal (`None` if it cannot be asked).
fn learn(disposition: impl Fn(libc::c_int) -> Option<libc::sighandler_t>) -> Learnt {
    // SAFETY: a zeroed sigset_t is valid; sigemptyset initialises it and
    // sigaddset only sets bits in it.
    unsafe {
        let mut reset: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut reset);
        for sig in 1..libc::SIGRTMAX() {
            if disposition(sig).is_some_and(|handler| handler != libc::SIG_DFL) {
                libc::sigaddset(&mut reset, sig);
            }
        }
        include_libc_internal_signals(&mut reset);
        Learnt {
            reset: members(&reset),
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

/// The signals of `set`, as numbers.
fn members(set: &libc::sigset_t) -> Vec<libc::c_int> {
    (1..libc::SIGRTMAX())
        // SAFETY: sigismember only reads the initialised set.
        .filter(|&sig| unsafe { libc::sigismember(set, sig) } == 1)
        .collect()
}

/// Every signal that can be reset: the list until
/// [`learn_ignored_signals`] was called.
fn all_signals_list() -> Vec<libc::c_int> {
    let mut all = members(&all_signals());
    all.retain(|&sig| sig != libc::SIGKILL && sig != libc::SIGSTOP);
    all
}

/// The descriptors a child starts with. Every source descriptor belongs to
/// cinit and stays open in cinit; the child gets copies at the target numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildFds {
    /// Copied to fd 0; `None` = `/dev/null`.
    pub stdin: Option<RawFd>,
    /// Copied to fd 1.
    pub stdout: RawFd,
    /// Copied to fd 2; -1 = `/dev/null` (the preflight without a console).
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

/// What a child executes.
#[derive(Clone, Copy)]
enum Program<'a> {
    /// `execve` of this path.
    Path(&'a CStr),
    /// `execveat(fd, "", …, AT_EMPTY_PATH)` of this open file.
    Image(RawFd),
}

/// Spawn `spec` in `cwd` with the descriptors `fds`. Every source
/// descriptor must be ≥ 3. Returns the child's pid, or the errno of the
/// failed spawn or exec.
pub fn spawn(spec: &ExecSpec, cwd: &CStr, fds: &ChildFds) -> Result<Pid, i32> {
    spawn_in(spec, cwd, fds, None, None).map_err(|f| f.errno)
}

/// [`spawn`] with the service's execution context ([`ExecContext`]:
/// user, limits, nice, OOM score, no_new_privs), applied by the child
/// before `chdir`; a `nofile` limit in it replaces the limit cinit started
/// with. With `cgroup` (the `cgroup.procs` file of the service's
/// cgroup), the child joins that cgroup first. A failure names its step.
pub fn spawn_in(
    spec: &ExecSpec,
    cwd: &CStr,
    fds: &ChildFds,
    ctx: Option<&ExecContext>,
    cgroup: Option<&CStr>,
) -> Result<Pid, Failure> {
    spawn_with_pid(spec, cwd, fds, (ctx, cgroup), None)
}

/// [`spawn_in`], and with `pid_var` (a variable's name, `WATCHDOG_PID`)
/// the child's environment also gets `NAME=<its own pid>`: the child
/// writes its pid, from one `getpid`, into a buffer made here, so nothing
/// is allocated in the child and no trampoline is needed.
pub fn spawn_with_pid(
    spec: &ExecSpec,
    cwd: &CStr,
    fds: &ChildFds,
    (ctx, cgroup): (Option<&ExecContext>, Option<&CStr>),
    pid_var: Option<&CStr>,
) -> Result<Pid, Failure> {
    let nofile = crate::sys::nofile::for_child()
        .map(|l| (l.soft, l.hard))
        .filter(|_| !ctx.is_some_and(ExecContext::sets_nofile));
    launch(
        Program::Path(&spec.path),
        (&spec.argv, &spec.envp, pid_var),
        Some(cwd),
        (nofile, ctx, cgroup),
        fds,
    )
}

/// Room for the digits of a pid written by the child, and its NUL: any
/// 64-bit number fits.
const PID_DIGITS: usize = 21;

/// Spawn the program in the open file `image` (≥ 3; close-on-exec is
/// fine, it must not be a script) with `argv`, `envp` and the descriptors
/// `fds`: the very file that was opened, whatever its path names by now.
/// For the hot update's preflight ([`crate::update::preflight`]): the
/// child starts like a service (descriptors, signals, mask, session), but
/// keeps cinit's cwd and descriptor limit, which the image has when it is
/// executed as PID 1. The child finds `image` below the prefix,
/// close-on-exec: the program it starts does not inherit it. Returns the
/// child's pid, or the errno of the failed spawn or exec (ENOEXEC,
/// EACCES, …; the child is reaped then).
pub fn spawn_image(
    image: RawFd,
    argv: &[CString],
    envp: &[CString],
    fds: &ChildFds,
) -> Result<Pid, i32> {
    if image < 3 {
        return Err(libc::EBADF);
    }
    launch(
        Program::Image(image),
        (argv, envp, None),
        None,
        (None, None, None),
        fds,
    )
    .map_err(|f| f.errno)
}

/// [`spawn`] and [`spawn_image`]: `cwd` `None` keeps cinit's, `nofile`
/// `None` its descriptor limit, `ctx` `None` its credentials and limits.
fn launch(
    program: Program,
    (argv, envp, pid_var): (&[CString], &[CString], Option<&CStr>),
    cwd: Option<&CStr>,
    (nofile, ctx, cgroup): (Option<(u64, u64)>, Option<&ExecContext>, Option<&CStr>),
    fds: &ChildFds,
) -> Result<Pid, Failure> {
    let argv = null_terminated(argv);
    let mut envp = null_terminated(envp);
    // `NAME=` and room for the digits the child writes (see
    // `spawn_with_pid`); the entry goes before the NULL.
    let mut pid_entry: Vec<u8> = Vec::new();
    let mut pid_digits: *mut u8 = ptr::null_mut();
    if let Some(name) = pid_var {
        pid_entry.reserve_exact(name.to_bytes().len() + 1 + PID_DIGITS);
        pid_entry.extend_from_slice(name.to_bytes());
        pid_entry.push(b'=');
        let at = pid_entry.len();
        pid_entry.resize(at + PID_DIGITS, 0);
        // One base pointer for both uses: the buffer is not touched again
        // until the child has exec'd.
        let base = pid_entry.as_mut_ptr();
        envp.insert(envp.len().saturating_sub(1), base.cast());
        pid_digits = base.wrapping_add(at);
    }
    let mut staged = stage::Staged::begin();
    let mapped = staged.as_mut().and_then(|s| {
        let stdin = match fds.stdin {
            Some(fd) => s.map(fd)?,
            None => s.null(),
        };
        let stdio = [stdin, s.map(fds.stdout)?, s.map(fds.stderr)?];
        let image = match program {
            Program::Image(fd) => s.map(fd)?,
            Program::Path(_) => -1,
        };
        let extra = fds
            .extra
            .iter()
            .map(|&(from, to)| Some((s.map(from)?, to)))
            .collect::<Option<Vec<_>>>()?;
        Some((s.end(), stdio, image, extra))
    });
    let (prefix, stdio, image, steps) = match mapped {
        Some((prefix, stdio, image, extra)) => (prefix, stdio, image, plan(&extra).map_err(setup)?),
        None => {
            // The whole table is copied: every descriptor of cinit's but
            // stdio must be close-on-exec.
            drop(staged.take());
            cloexec_all_but_stdio();
            let stdio = [fds.stdin.unwrap_or(-1), fds.stdout, fds.stderr];
            let image = match program {
                Program::Image(fd) => fd,
                Program::Path(_) => -1,
            };
            (0, stdio, image, plan(&fds.extra).map_err(setup)?)
        }
    };
    let every;
    let reset: &[libc::c_int] = match RESET_TO_DEFAULT.get() {
        Some(l) => &l.reset,
        None => {
            every = all_signals_list();
            &every
        }
    };
    let mut c = child::Child {
        path: match program {
            Program::Path(path) => path.as_ptr(),
            Program::Image(_) => c"".as_ptr(),
        },
        image,
        argv: argv.as_ptr(),
        envp: envp.as_ptr(),
        cwd: cwd.map_or(ptr::null(), CStr::as_ptr),
        prefix,
        stdio,
        steps: &steps,
        reset,
        nofile,
        ctx,
        cgroup: cgroup.map_or(ptr::null(), CStr::as_ptr),
        pid_digits,
        errno: 0,
        step: 0,
    };
    let pid = child::run(&mut c).map_err(|(errno, step)| Failure {
        errno,
        step: Step::from_code(step),
    });
    drop(staged);
    drop(pid_entry);
    pid
}

/// A failure before the child was made: of the setup.
fn setup(errno: i32) -> Failure {
    Failure {
        errno,
        step: Step::Setup,
    }
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

/// Whether the kernel has `close_range(2)` with `CLOSE_RANGE_CLOEXEC`
/// (and so `CLOSE_RANGE_UNSHARE`): Linux 5.11. Asked with a range that
/// holds no descriptor.
fn cloexec_from_3_supported() -> bool {
    static SUPPORTED: OnceLock<bool> = OnceLock::new();
    *SUPPORTED.get_or_init(|| {
        // SAFETY: the range [~0, ~0] holds no descriptor; nothing changes.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_close_range,
                libc::c_uint::MAX,
                libc::c_uint::MAX,
                child::CLOSE_RANGE_CLOEXEC,
            )
        };
        rc == 0
    })
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
