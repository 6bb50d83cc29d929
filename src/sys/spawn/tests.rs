//! Unit tests of [`super`].

use super::*;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// The write end of a new pipe, copied to a number ≥ 200 (clear of the
/// low numbers other tests' files take), close-on-exec; and its inode.
fn pipe_high() -> (OwnedFd, u64) {
    let (_r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let raw = nix::fcntl::fcntl(&w, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(200)).unwrap();
    // SAFETY: `raw` was just made by F_DUPFD_CLOEXEC and is ours alone.
    let high = unsafe { OwnedFd::from_raw_fd(raw) };
    let ino = nix::sys::stat::fstat(&high).unwrap().st_ino;
    (high, ino)
}

fn wait_exit(pid: Pid) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes our own child's status into `status`.
        let rc = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if rc == pid {
            return libc::WEXITSTATUS(status);
        }
        assert_eq!(rc, 0, "waitpid");
        assert!(Instant::now() < deadline, "child {pid} did not exit");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Proves the learnt set: an ignored signal (SIG_IGN survives `execve`)
/// and a handled one (no handler of cinit's may run in the child) are
/// reset, a default one and one that cannot be asked are not; libc's
/// internal signals 32 and 33 are.
#[test]
fn the_learnt_set_names_ignored_and_handled_signals() {
    let handler = 0x1234 as libc::sighandler_t;
    let l = learn(|sig| match sig {
        libc::SIGPIPE => Some(libc::SIG_IGN),
        libc::SIGSEGV => Some(handler),
        libc::SIGUSR1 => None,
        _ => Some(libc::SIG_DFL),
    });
    let resets = |sig| l.reset.contains(&sig);
    assert!(resets(libc::SIGPIPE) && resets(libc::SIGSEGV));
    for sig in [libc::SIGTERM, libc::SIGUSR1, libc::SIGCHLD] {
        assert!(!resets(sig), "{sig}");
    }
    assert!(resets(32) && resets(33), "signals 32 and 33");
}

/// Proves colliding pairs reach a real child exactly: a 3-cycle of
/// sources and targets (a→b, b→c, c→a), one source to two targets (a
/// also at 4), a plain move to 3 and a pair already in place. Given in
/// order, a→b would overwrite b before b→c copied it. The child reports
/// what each target is (`readlink`, a pipe's inode) and every
/// descriptor it has, so a stray spare copy would show too.
#[test]
fn colliding_pairs_are_placed_exactly_in_a_real_child() {
    let (a, ia) = pipe_high();
    let (b, ib) = pipe_high();
    let (c, ic) = pipe_high();
    let (d, id) = pipe_high();
    let (e, ie) = pipe_high();
    let (na, nb, nc, ne) = (a.as_raw_fd(), b.as_raw_fd(), c.as_raw_fd(), e.as_raw_fd());
    let extra = vec![
        (na, nb),
        (nb, nc),
        (nc, na),
        (na, 4),
        (d.as_raw_fd(), 3),
        (ne, ne),
    ];
    let want = [(3, id), (4, ia), (na, ic), (nb, ia), (nc, ib), (ne, ie)];
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("out");
    let out = std::fs::File::create(&out_path).unwrap();
    let targets: Vec<String> = want.iter().map(|(n, _)| n.to_string()).collect();
    let script = format!(
        "for n in {}; do echo \"$n $(readlink /proc/$$/fd/$n)\"; done; echo fds; ls /proc/$$/fd",
        targets.join(" ")
    );
    let c_ = |s: &str| CString::new(s).unwrap();
    let spec = ExecSpec {
        path: c_("/bin/sh"),
        argv: vec![c_("sh"), c_("-c"), c_(&script)],
        envp: vec![c_("PATH=/usr/bin:/bin")],
    };
    let fds = ChildFds {
        stdin: None,
        stdout: out.as_raw_fd(),
        stderr: out.as_raw_fd(),
        extra,
    };
    let pid = spawn(&spec, &c_(dir.path().to_str().unwrap()), &fds).unwrap();
    assert_eq!(wait_exit(pid), 0);
    let text = std::fs::read_to_string(&out_path).unwrap();
    for (n, ino) in want {
        assert!(
            text.lines().any(|l| l == format!("{n} pipe:[{ino}]")),
            "fd {n} should be pipe {ino}:\n{text}"
        );
    }
    let mut open: Vec<i32> = text
        .lines()
        .skip_while(|l| *l != "fds")
        .skip(1)
        .map(|l| l.parse().unwrap())
        .collect();
    open.sort_unstable();
    let mut expected = vec![0, 1, 2, 3, 4, na, nb, nc, ne];
    expected.sort_unstable();
    assert_eq!(open, expected, "{text}");
    drop((a, b, c, d, e));
}

/// Proves bad pairs fail the spawn with EINVAL before any child exists.
#[test]
fn bad_pairs_fail_the_spawn() {
    let (a, _) = pipe_high();
    let spec = ExecSpec {
        path: CString::new("/bin/true").unwrap(),
        argv: vec![CString::new("true").unwrap()],
        envp: vec![],
    };
    let n = a.as_raw_fd();
    for extra in [vec![(n, 3), (n, 3)], vec![(n, 2)], vec![(1, 5)]] {
        let fds = ChildFds {
            stdin: None,
            stdout: 1,
            stderr: 2,
            extra,
        };
        assert_eq!(spawn(&spec, c"/", &fds), Err(libc::EINVAL));
    }
}

/// Proves a spawn through the prefix: the child finds its stdout and
/// stderr (a pipe held at a high number) at 1 and 2 and `/dev/null` at 0,
/// and has no other descriptor (neither the prefix's nor any of this
/// process's); afterwards every descriptor of the prefix is a copy of
/// `/dev/null` again, so no staged copy of the pipe stays behind.
#[test]
fn a_spawn_through_the_prefix_leaves_nothing_behind() {
    let (w, _) = pipe_high();
    let dir = tempfile::tempdir().unwrap();
    let c_ = |s: &str| CString::new(s).unwrap();
    let script = "readlink /proc/$$/fd/0 >&2; exec ls /proc/self/fd >&2";
    let spec = ExecSpec {
        path: c_("/bin/sh"),
        argv: vec![c_("sh"), c_("-c"), c_(script)],
        envp: vec![c_("PATH=/usr/bin:/bin")],
    };
    let out_path = dir.path().join("out");
    let out = std::fs::File::create(&out_path).unwrap();
    let high = nix::fcntl::fcntl(&out, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(300)).unwrap();
    // SAFETY: made just above, ours alone.
    let high = unsafe { OwnedFd::from_raw_fd(high) };
    let fds = ChildFds {
        stdin: None,
        stdout: w.as_raw_fd(),
        stderr: high.as_raw_fd(),
        extra: Vec::new(),
    };
    let pid = spawn(&spec, &c_(dir.path().to_str().unwrap()), &fds).unwrap();
    assert_eq!(wait_exit(pid), 0);
    let text = std::fs::read_to_string(&out_path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("/dev/null"), "{text}");
    let open: Vec<&str> = lines.collect();
    // `ls` itself opens /proc/self/fd: one more number, 3.
    assert_eq!(open, ["0", "1", "2", "3"], "{text}");
    let prefix = prefix_fds();
    assert_eq!(prefix.len(), 5, "/dev/null and four slots: {prefix:?}");
    for fd in prefix {
        let target = std::fs::read_link(format!("/proc/self/fd/{fd}")).unwrap();
        assert_eq!(target.to_str(), Some("/dev/null"), "fd {fd}");
    }
}

/// Proves a spawn of an open file: the child runs the program in the
/// descriptor (close-on-exec, held at a high number; its path is not
/// used) with the given argv, finds its stdout at 1 and `/dev/null` as
/// stderr (-1), keeps this process's cwd, and has no other descriptor:
/// neither the image's nor the prefix's. A file the kernel will not
/// execute fails the spawn with its errno.
#[test]
fn a_spawn_of_an_open_file_runs_that_file() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("out");
    let out = std::fs::File::create(&out_path).unwrap();
    let sh = std::fs::File::open("/bin/sh").unwrap();
    let image = nix::fcntl::fcntl(&sh, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(400)).unwrap();
    // SAFETY: made just above, ours alone.
    let image = unsafe { OwnedFd::from_raw_fd(image) };
    let c_ = |s: &str| CString::new(s).unwrap();
    let script = "readlink /proc/$$/fd/2; pwd; exec ls /proc/self/fd";
    let argv = [c_("sh"), c_("-c"), c_(script)];
    let envp = [c_("PATH=/usr/bin:/bin")];
    let fds = ChildFds {
        stdin: None,
        stdout: out.as_raw_fd(),
        stderr: -1,
        extra: Vec::new(),
    };
    let pid = spawn_image(image.as_raw_fd(), &argv, &envp, &fds).unwrap();
    assert_eq!(wait_exit(pid), 0);
    let text = std::fs::read_to_string(&out_path).unwrap();
    let cwd = std::env::current_dir().unwrap();
    let want = format!("/dev/null\n{}\n0\n1\n2\n3\n", cwd.display());
    // `ls` itself opens /proc/self/fd: one more number, 3.
    assert_eq!(text, want);

    let garbage = dir.path().join("garbage");
    std::fs::write(&garbage, b"\x7fnot a program").unwrap();
    let bad = std::fs::File::open(&garbage).unwrap();
    assert_eq!(
        spawn_image(bad.as_raw_fd(), &argv, &envp, &fds),
        Err(libc::EACCES),
        "a file without mode x"
    );
}

/// A `/bin/sh -c SCRIPT` spec with an empty environment.
fn sh(script: &str) -> ExecSpec {
    let c = |s: &str| CString::new(s).unwrap();
    ExecSpec {
        path: c("/bin/sh"),
        argv: vec![c("sh"), c("-c"), c(script)],
        envp: Vec::new(),
    }
}

/// Proves the child applies a context (limits, nice, OOM score,
/// no_new_privs; as root also the current credentials: setgroups needs
/// root even for one's own groups) before
/// the exec: the program sees each, checked by the shell itself from
/// `/proc/self`, its exit status the verdict.
#[test]
fn the_child_applies_its_context() {
    // SAFETY: getuid/getgid have no preconditions.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    let ctx = ExecContext {
        creds: (uid == 0).then(|| Creds {
            uid,
            gid,
            groups: vec![gid],
            name: "me".into(),
        }),
        limits: vec![Limit {
            resource: libc::RLIMIT_CORE as libc::c_uint,
            name: "core",
            values: [0, 0],
        }],
        nice: Some(19),
        oom_score_adj: OomText::new(999),
        no_new_privs: true,
    };
    let script = "grep -q '^Max core file size *0 *0 ' /proc/$$/limits || exit 1; \
                  [ \"$(cut -d' ' -f19 /proc/$$/stat)\" = 19 ] || exit 2; \
                  [ \"$(cat /proc/$$/oom_score_adj)\" = 999 ] || exit 3; \
                  grep -q '^NoNewPrivs:.1' /proc/$$/status || exit 4; exit 0";
    let fds = ChildFds::console(2);
    let pid = spawn_in(&sh(script), c"/", &fds, Some(&ctx), None).unwrap();
    assert_eq!(wait_exit(pid), 0, "the check that failed (see the script)");
}

/// Proves a step the kernel refuses comes back as that step with its
/// errno, and nothing is executed: a soft limit above the hard one is
/// EINVAL for `prlimit64` whoever asks.
#[test]
fn a_refused_step_is_named() {
    let ctx = ExecContext {
        limits: vec![
            Limit {
                resource: libc::RLIMIT_CORE as libc::c_uint,
                name: "core",
                values: [0, 0],
            },
            Limit {
                resource: libc::RLIMIT_NOFILE as libc::c_uint,
                name: "nofile",
                values: [10, 5],
            },
        ],
        ..ExecContext::default()
    };
    let fds = ChildFds::console(2);
    let got = spawn_in(&sh("exit 0"), c"/", &fds, Some(&ctx), None).unwrap_err();
    assert_eq!(
        got,
        Failure {
            errno: libc::EINVAL,
            step: Step::Limit(1)
        }
    );
    let missing = ExecSpec {
        path: CString::new("/nonexistent/cinit-test").unwrap(),
        ..sh("")
    };
    let got = spawn_in(&missing, c"/", &fds, Some(&ctx.clone()), None).unwrap_err();
    assert_eq!(got.step, Step::Limit(1));
    let got = spawn_in(&missing, c"/", &fds, Some(&ExecContext::default()), None).unwrap_err();
    assert_eq!(
        got,
        Failure {
            errno: libc::ENOENT,
            step: Step::Exec
        }
    );
}

/// Proves `spawn_with_pid`: the child's environment holds `NAME=<its own
/// pid>`, written by the child (the pid `spawn` returns, as the shell sees
/// `$$`), after the environment it was given, which is kept as it was; and
/// a plain spawn has no such entry.
#[test]
fn the_child_writes_its_own_pid_into_the_environment() {
    let mut spec = sh(
        "[ \"$WATCHDOG_PID\" = \"$$\" ] || exit 1; [ \"$A\" = 1 ] || exit 2; \
                       exit 0",
    );
    spec.envp = vec![CString::new("A=1").unwrap()];
    let fds = ChildFds::console(2);
    let pid = spawn_with_pid(&spec, c"/", &fds, (None, None), Some(c"WATCHDOG_PID")).unwrap();
    assert_eq!(wait_exit(pid), 0, "the check that failed (see the script)");
    let plain = sh("[ -z \"${WATCHDOG_PID+set}\" ] || exit 1; exit 0");
    let pid = spawn_in(&plain, c"/", &fds, None, None).unwrap();
    assert_eq!(wait_exit(pid), 0, "a plain spawn has no WATCHDOG_PID");
}
