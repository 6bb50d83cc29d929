//! The last resort: what PID 1 does when it cannot go on normally.
//!
//! Entered on a fatal fault (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT — a
//! handler is installed for each, on the alternate signal stack), when the
//! event loop keeps failing, or when start-up itself failed. It never
//! returns, and PID 1 never exits:
//!
//! 1. say so on the console;
//! 2. run `conf/panic` if present and wait for it (reaping anything else);
//! 3. run a shell on the console (`/bin/sh`), again whenever it exits (at
//!    most once a second), reaping every process meanwhile;
//! 4. the lifecycle signals still work, without the orderly shutdown:
//!    SIGHUP/SIGINT reboot, SIGTERM/SIGPWR power off, SIGUSR1 halts (after
//!    a `sync()` in a child, waited for at most 5 s; in a container that
//!    may not reboot, cinit exits with the orderly path's status).
//!
//! Everything here is async-signal-safe: the paths, arguments and
//! environment are prepared as C strings by [`prepare`] at start-up, and the
//! emergency code only reads them and makes plain system calls (fork,
//! execve, waitpid, sigtimedwait, write, reboot).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::OnceLock;

/// The shell of the emergency path.
pub const SHELL: &str = "/bin/sh";

struct Prepared {
    panic_path: CString,
    shell: CString,
    path_env: CString,
    term_env: CString,
}

static PREPARED: OnceLock<Prepared> = OnceLock::new();
/// cinit's own (non-blocking) console descriptor, for messages.
static LOG_FD: AtomicI32 = AtomicI32::new(-1);
/// The console descriptor children get as stdio.
static STDIO_FD: AtomicI32 = AtomicI32::new(-1);
static ENTERED: AtomicBool = AtomicBool::new(false);

/// Prepare everything the emergency path needs, so that it allocates
/// nothing. Called once at start-up (again after a hot update).
pub fn prepare(conf_dir: &Path) {
    let c = |b: &[u8]| CString::new(b).unwrap_or_default();
    let _ = PREPARED.set(Prepared {
        panic_path: c(conf_dir.join("panic").as_os_str().as_bytes()),
        shell: c(SHELL.as_bytes()),
        path_env: c(crate::config::conf::RESCUE_PATH.as_bytes()),
        term_env: c(b"TERM=linux"),
    });
}

/// Where to write and what to give children (after the console is open).
pub fn set_console(log_fd: i32, stdio_fd: i32) {
    LOG_FD.store(log_fd, Ordering::Relaxed);
    STDIO_FD.store(stdio_fd, Ordering::Relaxed);
}

/// Write a fixed message to the console (or stderr); never allocates.
pub fn say(msg: &[u8]) {
    let fd = LOG_FD.load(Ordering::Relaxed);
    let fd = if fd >= 0 { fd } else { 2 };
    // SAFETY: writing a valid buffer to a descriptor number; a bad fd only
    // yields EBADF.
    unsafe {
        libc::write(fd, msg.as_ptr().cast(), msg.len());
    }
}

extern "C" fn on_fault(_sig: libc::c_int) {
    enter(b"cinit: emergency: fatal fault in PID 1\n");
}

/// Install [`on_fault`] for the fatal fault signals.
pub fn install_fault_handlers() {
    for sig in [
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGILL,
        libc::SIGFPE,
        libc::SIGABRT,
    ] {
        // SAFETY: a zeroed sigaction is valid; the handler is a plain
        // extern "C" function that only makes async-signal-safe calls.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_fault as extern "C" fn(libc::c_int) as usize;
            // SA_NODEFER: a second fault of the same kind while the handler
            // runs must reach it again, not meet a blocked signal (which the
            // kernel would turn into the default action: PID 1's death).
            sa.sa_flags = libc::SA_ONSTACK | libc::SA_NODEFER;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, ptr::null_mut());
        }
    }
}

/// Start `path` (argv = just the path) on the console in a clean child.
/// Returns its pid, or -1.
fn run(path: &CString, p: &Prepared) -> libc::pid_t {
    // SAFETY: only async-signal-safe calls between fork and execve/_exit;
    // every pointer is to a C string prepared before.
    unsafe {
        let pid = libc::fork();
        if pid != 0 {
            return pid;
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, ptr::null_mut());
        for sig in 1..32 {
            libc::signal(sig, libc::SIG_DFL);
        }
        libc::setsid();
        let stdio = STDIO_FD.load(Ordering::Relaxed);
        if stdio >= 0 {
            for fd in 0..3 {
                libc::dup2(stdio, fd);
            }
            // A console that is a plain file (a test, a log) must not be
            // read back as the shell's input: give it /dev/null instead.
            if libc::isatty(stdio) == 0 {
                let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY);
                if null > 0 {
                    libc::dup2(null, 0);
                    libc::close(null);
                }
            }
        }
        // Only the console for the child: none of PID 1's descriptors.
        libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
        // The descriptor limit PID 1 started with, as every child gets.
        crate::sys::nofile::restore_in_child();
        let argv = [path.as_ptr(), ptr::null()];
        let envp = [p.path_env.as_ptr(), p.term_env.as_ptr(), ptr::null()];
        libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr());
        libc::_exit(127)
    }
}

/// Wait up to `ms` for a lifecycle signal or a child's exit; reap all
/// exited children. Returns true if `watch` exited.
fn wait_and_reap(watch: libc::pid_t, ms: i64) -> bool {
    // SAFETY: plain system calls on stack values.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in crate::sys::signals::HANDLED {
            libc::sigaddset(&mut set, sig as libc::c_int);
        }
        libc::sigprocmask(libc::SIG_BLOCK, &set, ptr::null_mut());
        let ts = libc::timespec {
            tv_sec: ms / 1000,
            tv_nsec: (ms % 1000) * 1_000_000,
        };
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let sig = libc::sigtimedwait(&set, &mut info, &ts);
        let privileged = info.si_uid() == 0 || info.si_code > 0;
        if sig > 0 && privileged && std::process::id() == 1 {
            let cmd = match sig {
                libc::SIGHUP | libc::SIGINT => Some(libc::RB_AUTOBOOT),
                libc::SIGTERM | libc::SIGPWR => Some(libc::RB_POWER_OFF),
                libc::SIGUSR1 => Some(libc::RB_HALT_SYSTEM),
                _ => None,
            };
            if let Some(cmd) = cmd {
                say(b"cinit: emergency: syncing and going down at once\n");
                go_down(cmd);
            }
        }
        let mut exited = false;
        loop {
            let mut status = 0;
            let pid = libc::waitpid(-1, &mut status, libc::WNOHANG);
            if pid <= 0 {
                break;
            }
            exited |= pid == watch;
        }
        exited
    }
}

/// `sync()` in a child, waited for at most 5 s (a hung disk must not keep
/// the machine from going down), then reboot(2). In a container that may
/// not reboot, exit as the orderly path does (0, or 129 for a reboot).
fn go_down(cmd: libc::c_int) {
    // SAFETY: fork, sync, _exit, waitpid, nanosleep, stat, reboot and
    // _exit are async-signal-safe; only stack values are used.
    unsafe {
        let pid = libc::fork();
        if pid == 0 {
            libc::sync();
            libc::_exit(0);
        }
        let pause = libc::timespec {
            tv_sec: 0,
            tv_nsec: 100_000_000,
        };
        for _ in 0..50 {
            let mut status = 0;
            if pid <= 0 || libc::waitpid(pid, &mut status, libc::WNOHANG) != 0 {
                break;
            }
            libc::nanosleep(&pause, ptr::null_mut());
        }
        if libc::reboot(cmd) < 0 && *libc::__errno_location() == libc::EPERM {
            let mut st: libc::stat = std::mem::zeroed();
            let in_container =
                libc::stat(c"/proc/self/ns/pid".as_ptr(), &mut st) == 0 && st.st_ino != 0xEFFF_FFFC;
            if in_container {
                libc::_exit(if cmd == libc::RB_AUTOBOOT { 129 } else { 0 });
            }
        }
    }
}

/// The emergency path. Never returns.
pub fn enter(why: &[u8]) -> ! {
    if std::process::id() != 1 {
        // A forked child of PID 1 (the final sync, the SIGKILL child) that
        // faulted: it just ends; PID 1 notices.
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(127) }
    }
    say(why);
    if ENTERED.swap(true, Ordering::SeqCst) {
        // A fault inside the emergency path itself: just reap, forever.
        loop {
            wait_and_reap(0, 1000);
        }
    }
    let Some(p) = PREPARED.get() else {
        loop {
            wait_and_reap(0, 1000);
        }
    };
    // SAFETY: access(2) on a prepared C string.
    if unsafe { libc::access(p.panic_path.as_ptr(), libc::X_OK) } == 0 {
        say(b"cinit: emergency: running conf/panic\n");
        let pid = run(&p.panic_path, p);
        while pid > 0 && !wait_and_reap(pid, 1000) {}
    }
    loop {
        say(b"cinit: emergency: starting a shell on the console\n");
        let pid = run(&p.shell, p);
        // At most one shell a second, even if it exits at once.
        let mut waited = false;
        while pid > 0 && !wait_and_reap(pid, 1000) {
            waited = true;
        }
        if !waited {
            wait_and_reap(0, 1000);
        }
    }
}
