//! The `cinit --listen-exec` trampoline (`src/fds/listen_exec.rs`), run as the
//! built `cinit` binary, and the whole way a service gets its sockets:
//! `listen::bind`, `listen_exec::wrap` and `spawn::spawn` together. No PID 1
//! is involved (the trampoline is an ordinary process), so these run
//! outside namespaces.

#![cfg(test)]

mod common;

use common::*;
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use cinit::config::sockets::{Address, SocketSpec};
use cinit::fds::listen::bind;
use cinit::fds::listen_exec::{wrap, FLAG};
use cinit::sys::spawn::ExecSpec;
use cinit::sys::spawn::{spawn, ChildFds};

const RUN_TIMEOUT: Duration = Duration::from_secs(30);

/// The lines of `text` from the one after `begin` up to `end`.
fn between<'a>(text: &'a str, begin: &str, end: &str) -> Vec<&'a str> {
    text.lines()
        .skip_while(|l| *l != begin)
        .skip(1)
        .take_while(|l| *l != end)
        .collect()
}

/// The value of the line `KEY=value` in `text`.
fn value<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {key}= in:\n{text}"))
}

/// What the shell reports about itself: its pid and the LISTEN_ variables,
/// how many LISTEN_PID entries its environment has, its argv, its ignored
/// and blocked signals, and its open descriptors (listed by `ls` writing
/// straight to stdout, so the shell holds no pipe of its own meanwhile).
const REPORT: &str = r#"
echo "pid=$$"
echo "LISTEN_PID=$LISTEN_PID"
echo "LISTEN_FDS=$LISTEN_FDS"
echo "LISTEN_FDNAMES=$LISTEN_FDNAMES"
echo "pid_entries=$(env | grep -c '^LISTEN_PID=')"
echo "argv0=$(tr '\0' '\n' < /proc/$$/cmdline | head -n 2 | tr '\n' ' ')"
echo "argc=$(tr -cd '\0' < /proc/$$/cmdline | wc -c)"
echo "dollar0=$0 dollar1=$1"
echo "SigIgn=$(sed -n 's/^SigIgn:[[:space:]]*//p' /proc/$$/status)"
echo "SigBlk=$(sed -n 's/^SigBlk:[[:space:]]*//p' /proc/$$/status)"
echo fds-begin
ls /proc/$$/fd
echo fds-end
"#;

/// This process's descriptors above 2 that an exec would keep (no
/// close-on-exec): ones it inherited.
fn inherited_fds() -> Vec<RawFd> {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<RawFd>().ok())
        .filter(|&fd| fd > 2)
        .filter(|&fd| {
            // SAFETY: F_GETFD only reads the descriptor's flags.
            let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
            flags >= 0 && flags & libc::FD_CLOEXEC == 0
        })
        .collect()
}

/// A copy of `fd` at a number of 100 or more, close-on-exec.
fn high_copy(fd: &OwnedFd) -> OwnedFd {
    let raw = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(100)).unwrap();
    // SAFETY: `raw` was just made by F_DUPFD_CLOEXEC and is ours alone.
    unsafe { std::os::fd::FromRawFd::from_raw_fd(raw) }
}

/// Proves the trampoline sets `LISTEN_PID` to the pid of the program it
/// executes (replacing a stale one, exactly one entry), passes
/// `LISTEN_FDS`/`LISTEN_FDNAMES` and argv (argv0 included) through, resets
/// SIGPIPE (the Rust runtime ignores it, so without the reset `SigIgn` would
/// be 0x1000), leaves the signal mask empty, and opens or closes no
/// descriptor: the program has exactly 0–4, and 3 and 4 still reach the
/// pipes they were.
#[test]
fn the_trampoline_sets_listen_pid_and_changes_nothing_else() {
    let fx = Fixture::new();
    let (r3, w3) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let (r4, w4) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let (high3, high4) = (high_copy(&w3), high_copy(&w4));
    drop((w3, w4));
    let (w3, w4) = (high3, high4);
    let (s3, s4): (RawFd, RawFd) = (w3.as_raw_fd(), w4.as_raw_fd());
    let script = format!("{REPORT}\necho hello >&3\necho world >&4\n");
    // Descriptors this test process inherited without close-on-exec (a
    // test runner may leave some open) are no business of the trampoline's:
    // a service starts without them, so the child closes them first.
    let inherited = inherited_fds();
    let mut cmd = Command::new(cinit_bin());
    cmd.args([FLAG, "/bin/sh", "myshell", "-c", &script, "zero", "one"])
        .env_clear()
        .envs([
            ("PATH", "/usr/bin:/bin"),
            ("LISTEN_FDS", "2"),
            ("LISTEN_FDNAMES", "a:b"),
            ("LISTEN_PID", "999999"),
        ]);
    // SAFETY: only async-signal-safe calls (rt_sigaction, sigprocmask,
    // close, dup2) between fork and exec; `dfl` and `inherited` outlive
    // each call.
    unsafe {
        cmd.pre_exec(move || {
            // Start as cleanly as a service does, so that any ignored
            // signal the shell reports comes from the trampoline.
            // The raw system call: glibc's wrappers refuse its internal
            // signals 32 and 33, which a test runner started through
            // glibc's posix_spawn may have ignored.
            let dfl = [0u64; 4]; // the kernel's sigaction: handler 0 = SIG_DFL
            for sig in 1..=64 {
                libc::syscall(libc::SYS_rt_sigaction, sig, dfl.as_ptr(), 0usize, 8usize);
            }
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
            for &fd in &inherited {
                libc::close(fd);
            }
            if libc::dup2(s3, 3) != 3 || libc::dup2(s4, 4) != 4 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = run(cmd, fx.path(), RUN_TIMEOUT);
    drop((w3, w4));
    let text = &out.stdout;
    assert_eq!(out.code(), Some(0), "{}", out.dump());
    assert_eq!(value(text, "LISTEN_PID"), value(text, "pid"), "{text}");
    assert_eq!(value(text, "pid_entries"), "1", "{text}");
    assert_eq!(value(text, "LISTEN_FDS"), "2");
    assert_eq!(value(text, "LISTEN_FDNAMES"), "a:b");
    assert_eq!(value(text, "argv0"), "myshell -c ", "{text}");
    assert_eq!(value(text, "argc"), "5", "{text}");
    assert_eq!(value(text, "dollar0"), "zero dollar1=one");
    assert_eq!(value(text, "SigIgn"), "0000000000000000", "{text}");
    assert_eq!(value(text, "SigBlk"), "0000000000000000", "{text}");
    let mut fds: Vec<i32> = between(text, "fds-begin", "fds-end")
        .iter()
        .map(|l| l.parse().unwrap())
        .collect();
    fds.sort_unstable();
    assert_eq!(fds, [0, 1, 2, 3, 4], "{text}");
    let read = |fd: OwnedFd| {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::fs::File::from(fd), &mut s).unwrap();
        s
    };
    assert_eq!(read(r3), "hello\n");
    assert_eq!(read(r4), "world\n");
}

/// Proves an exec failure in the trampoline exits 127 with
/// `cinit: cannot execute PATH: REASON` on stderr, for a missing program, a
/// file without execute permission and a directory.
#[test]
fn an_exec_failure_exits_127_naming_the_program() {
    let fx = Fixture::new();
    let plain = fx.path().join("plain");
    std::fs::write(&plain, "#!/bin/sh\necho ran\n").unwrap();
    std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
    let dir = fx.path().join("dir");
    std::fs::create_dir(&dir).unwrap();
    let missing = fx.path().join("missing");
    for (path, reason) in [
        (&missing, "No such file or directory"),
        (&plain, "Permission denied"),
        (&dir, "Permission denied"),
    ] {
        let mut cmd = Command::new(cinit_bin());
        cmd.arg(FLAG).arg(path).arg("prog").env_clear();
        let out = run(cmd, fx.path(), RUN_TIMEOUT);
        assert_eq!(out.code(), Some(127), "{}", out.dump());
        assert_eq!(
            out.stderr,
            format!("cinit: cannot execute {}: {reason}\n", path.display())
        );
        assert_eq!(out.stdout, "", "{}", out.dump());
    }
}

/// Proves `cinit --listen-exec` without a program is a usage error (exit
/// 2), not cinit proper (which would refuse with 1, not being PID 1).
#[test]
fn the_trampoline_without_a_program_is_a_usage_error() {
    let fx = Fixture::new();
    let mut cmd = Command::new(cinit_bin());
    cmd.arg(FLAG).env_clear();
    let out = run(cmd, fx.path(), RUN_TIMEOUT);
    assert_eq!(out.code(), Some(2), "{}", out.dump());
    assert!(
        out.stderr.contains("usage: cinit --listen-exec PATH"),
        "{}",
        out.dump()
    );
}

/// The inode of a socket descriptor, as `/proc/PID/fd/N` shows it.
fn socket_link(fd: &OwnedFd) -> String {
    format!("socket:[{}]", nix::sys::stat::fstat(fd).unwrap().st_ino)
}

/// Wait for `pid` to exit, with a deadline; its exit code.
fn wait_exit(pid: i32) -> i32 {
    let deadline = Instant::now() + RUN_TIMEOUT;
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes the status of our own child into `status`.
        let rc = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if rc == pid {
            assert!(libc::WIFEXITED(status), "status {status:#x}");
            return libc::WEXITSTATUS(status);
        }
        assert_eq!(rc, 0, "waitpid: {}", std::io::Error::last_os_error());
        assert!(Instant::now() < deadline, "pid {pid} did not exit");
        std::thread::sleep(POLL);
    }
}

/// Proves the pieces fit: two sockets made by `listen::bind` (a Unix stream
/// socket and UDP on 127.0.0.1), a service spec wrapped by
/// `listen_exec::wrap` and started by `spawn::spawn` with the sockets at 3
/// and 4 reach the program as those very sockets (same inodes), in order,
/// with `LISTEN_PID` = the pid `spawn` returned = the program's `$$`,
/// `LISTEN_FDS=2`, `LISTEN_FDNAMES=web:dns`, no ignored signal, no other
/// descriptor; the service's own LISTEN_ variables are replaced. The
/// sockets stay ours afterwards: the Unix one still takes connections.
#[test]
fn a_spawned_service_gets_its_sockets_at_3_and_up_with_listen_vars() {
    let fx = Fixture::new();
    let path = fx.path().join("run/web.sock");
    let web = bind(&SocketSpec::new(
        "web",
        Address::Unix {
            path: path.clone(),
            dgram: false,
        },
    ))
    .unwrap();
    let dns = bind(&SocketSpec::new(
        "dns",
        Address::Udp("127.0.0.1:0".parse().unwrap()),
    ))
    .unwrap();
    let c = |s: &str| CString::new(s).unwrap();
    let script = format!("{REPORT}\nreadlink /proc/$$/fd/3\nreadlink /proc/$$/fd/4\n");
    let service = ExecSpec {
        path: c("/bin/sh"),
        argv: vec![c("sh"), c("-c"), c(&script)],
        envp: vec![
            c("PATH=/usr/bin:/bin"),
            c("LISTEN_FDS=7"),
            c("LISTEN_PID=1"),
        ],
    };
    let mut spec = wrap(&service, &["web", "dns"]).unwrap();
    // In this test process /proc/self/exe is the test binary, not cinit.
    spec.path = c(cinit_bin());
    let out_path = fx.path().join("out");
    let out = std::fs::File::create(&out_path).unwrap();
    let fds = ChildFds {
        stdin: None,
        stdout: out.as_raw_fd(),
        stderr: out.as_raw_fd(),
        extra: vec![(web.as_raw_fd(), 3), (dns.as_raw_fd(), 4)],
    };
    let cwd = c(fx.path().to_str().unwrap());
    let pid = spawn(&spec, &cwd, &fds).unwrap();
    assert_eq!(wait_exit(pid), 0);
    let text = std::fs::read_to_string(&out_path).unwrap();
    assert_eq!(value(&text, "pid"), pid.to_string(), "{text}");
    assert_eq!(value(&text, "LISTEN_PID"), pid.to_string(), "{text}");
    assert_eq!(value(&text, "pid_entries"), "1", "{text}");
    assert_eq!(value(&text, "LISTEN_FDS"), "2", "{text}");
    assert_eq!(value(&text, "LISTEN_FDNAMES"), "web:dns", "{text}");
    assert_eq!(value(&text, "SigIgn"), "0000000000000000", "{text}");
    let mut open: Vec<i32> = between(&text, "fds-begin", "fds-end")
        .iter()
        .map(|l| l.parse().unwrap())
        .collect();
    open.sort_unstable();
    assert_eq!(open, [0, 1, 2, 3, 4], "{text}");
    let links: Vec<&str> = between(&text, "fds-end", "").into_iter().collect();
    assert_eq!(links, [socket_link(&web), socket_link(&dns)], "{text}");
    std::os::unix::net::UnixStream::connect(&path).unwrap();
}
