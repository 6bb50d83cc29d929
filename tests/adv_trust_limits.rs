//! Adversarial suite, family G (trust boundary), case G8: the descriptor
//! limit the kernel starts init with (1024 soft, 4096 hard) must not starve
//! a boot with many services, and must still be what every service gets.
//!
//! cinit is started under `prlimit --nofile=1024:4096` (through the
//! harness's `wrapper`, inside the namespaces, so cinit stays PID 1). In the
//! test's user namespace the hard limit may not be raised, so cinit raises
//! its soft limit to 4096: room for 1000 services with logs.
//!
//! The boot tests run the test build of cinit (glibc), or the binary
//! `CINIT_G8_BIN` names. `make test` sets it to the static release build
//! (musl), whose `posix_spawn` makes a pipe in PID 1 while the limit is
//! lowered for the child; by hand:
//! `CINIT_G8_BIN=$PWD/target/x86_64-unknown-linux-musl/release/cinit`
//! after `make build`.

#![cfg(test)]

mod common;

use common::*;
use std::ffi::OsString;
use std::time::{Duration, Instant};

/// One test at a time: the in-process test changes this process's own
/// descriptor limit, which the others' children would inherit.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// How many services the big boot has.
const MANY: usize = 1000;

/// The limits the kernel gives init, as `prlimit` sets them. The cinit
/// binary is the test build (glibc), or the one `CINIT_G8_BIN` names: the
/// static musl release build, whose `posix_spawn` makes a pipe in PID 1
/// while its limit is lowered for the child (the spare descriptors'
/// reason to exist).
fn boot_limits() -> LaunchOpts {
    LaunchOpts {
        cinit: std::env::var_os("CINIT_G8_BIN").map(std::path::PathBuf::from),
        ctl_dir: None,
        wrapper: ["/usr/bin/prlimit", "--nofile=1024:4096", "--"]
            .iter()
            .map(OsString::from)
            .collect(),
        ..LaunchOpts::default()
    }
}

/// Boot `fx` with the kernel's limits and a control socket.
fn boot_small_limit(fx: &Fixture) -> Cinit {
    let mut opts = boot_limits();
    opts.ctl_dir = Some(fx.ctl_dir());
    let c = Cinit::launch_with(fx, &[], &[], &opts);
    c.wait_listening();
    c
}

/// A service that reports its descriptor limits in its log, then sleeps.
fn limit_reporter(fx: &Fixture, name: &str) {
    fx.service(name)
        .script("echo \"nofile $(ulimit -Sn) $(ulimit -Hn)\"; exec sleep 1000")
        .env(&[PATH_ENV])
        .respawn();
}

/// `cinit-ctl log NAME` of a service, or panics.
fn log_of(c: &Cinit, name: &str) -> String {
    let out = c.ctl(&["log", name]);
    assert!(out.status.success(), "log {name}: {}", out.all());
    out.stdout
}

/// The log of `name` once it holds `count` lines containing `needle` (or
/// as it is at the deadline): `running` is the spawn, and the line comes
/// when the shell gets to it.
fn log_with(c: &Cinit, name: &str, needle: &str, count: usize) -> String {
    let started = Instant::now();
    let mut log = log_of(c, name);
    while log.matches(needle).count() < count && started.elapsed() < TIMEOUT {
        std::thread::sleep(POLL);
        log = log_of(c, name);
    }
    log
}

/// Proves G8: 1000 respawn services with default logs, each printing a
/// line and sleeping, booted under 1024/4096, all reach `running`, each
/// line is in its `cinit-ctl log`, cinit says on the console how it raised
/// its limit, and a service still gets 1024/4096 (`ulimit -n`). Before the
/// fix, past about 500 services the log pipes could not be made (those
/// services' output went to the console), and with the static musl build
/// the starts themselves failed: about half sat in `backoff` with "Too
/// many open files".
#[test]
fn g8_a_thousand_services_boot_under_the_kernels_descriptor_limit() {
    let _serial = serial();
    let fx = Fixture::new();
    let init = fx.service("init");
    for i in 0..MANY {
        let name = format!("s{i:04}");
        fx.service(&name)
            .script(&format!("echo \"hello from {name}\"; exec sleep 1000"))
            .env(&[PATH_ENV])
            .respawn();
        init.wants(&name);
    }
    limit_reporter(&fx, "limits");
    init.wants("limits");
    let c = boot_small_limit(&fx);
    let started = Instant::now();
    let mut last = String::new();
    let all_running = loop {
        let out = c.ctl(&["list"]);
        let running = out
            .stdout
            .lines()
            .filter(|l| l.split_whitespace().nth(1) == Some("running"))
            .count();
        if running == MANY + 1 {
            break true;
        }
        last = out.stdout;
        if started.elapsed() > Duration::from_secs(40) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    if !all_running {
        let stuck: Vec<&str> = last
            .lines()
            .filter(|l| l.split_whitespace().nth(1) != Some("running"))
            .take(5)
            .collect();
        let status = c.ctl(&["status"]).stdout;
        let sample: Vec<&str> = status
            .lines()
            .filter(|l| !l.contains(": running"))
            .take(5)
            .collect();
        panic!(
            "not every service reached running in 40s; e.g. {stuck:?}\n{sample:#?}\nconsole tail:\n{}",
            c.console().lines().rev().take(20).collect::<Vec<_>>().join("\n")
        );
    }
    for i in 0..MANY {
        let name = format!("s{i:04}");
        let line = format!("hello from {name}");
        let log = log_with(&c, &name, &line, 1);
        assert!(log.contains(&line), "{name}'s line is in its log: {log:?}");
    }
    let log = log_with(&c, "limits", "nofile ", 1);
    assert!(
        log.contains("nofile 1024 4096"),
        "a service gets the limits init was started with: {log:?}"
    );
    let console = c.console();
    assert!(
        console.contains("cinit: descriptor limit raised from 1024/4096 to 4096/4096"),
        "the console says what cinit did with its limit:\n{}",
        console.lines().take(12).collect::<Vec<_>>().join("\n")
    );
    assert!(
        !console.contains("Too many open files"),
        "no start ran out of descriptors"
    );
}

/// Proves the original limit survives a hot update: after `cinit-ctl
/// update`, a service started by the new image still gets 1024/4096 (the
/// new image inherits the raised limit, and the original comes along), and
/// the new image does not announce a second raise.
#[test]
fn g8_a_hot_update_keeps_giving_services_the_original_limit() {
    let _serial = serial();
    let fx = Fixture::new();
    let init = fx.service("init");
    limit_reporter(&fx, "limits");
    init.wants("limits");
    let c = boot_small_limit(&fx);
    c.wait_state("running", "limits");
    let out = c.ctl(&["update"]);
    assert!(out.status.success(), "update: {}", out.all());
    let out = c.ctl(&["restart", "limits"]);
    assert!(out.status.success(), "restart: {}", out.all());
    let log = log_with(&c, "limits", "nofile ", 2);
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("nofile ")).collect();
    assert_eq!(lines.len(), 2, "one report per start: {log:?}");
    for l in lines {
        assert!(l.ends_with("nofile 1024 4096"), "{l:?} in {log:?}");
    }
    let console = c.console();
    assert_eq!(
        console.matches("descriptor limit").count(),
        1,
        "one line at boot, none from the new image:\n{console}"
    );
}

/// Proves a root service may want 10 000 services (more than the 1024
/// entries `wants/` was limited to): every one is loaded and started (a
/// service without `on` is `done`), and no loading problem is reported.
#[test]
fn g8_a_root_wanting_ten_thousand_services_starts_them_all() {
    let _serial = serial();
    const WANTED: usize = 10_000;
    let fx = Fixture::new();
    let init = fx.service("init");
    for i in 0..WANTED {
        let name = format!("w{i:05}");
        fx.service(&name);
        init.wants(&name);
    }
    let c = boot_small_limit(&fx);
    let started = Instant::now();
    let done = loop {
        let out = c.ctl(&["list"]);
        let done = out
            .stdout
            .lines()
            .filter(|l| l.split_whitespace().nth(1) == Some("done"))
            .count();
        if done == WANTED + 1 || started.elapsed() > Duration::from_secs(30) {
            break done;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let console = c.console();
    assert_eq!(
        done,
        WANTED + 1,
        "every wanted service is done:\n{}",
        console.lines().take(10).collect::<Vec<_>>().join("\n")
    );
    assert!(
        console.contains(&format!("root service init, {} services", WANTED + 1)),
        "all loaded"
    );
    assert!(!console.contains("config:"), "no loading problem");
}

/// Proves a shortage that keeps services from starting is said once, not
/// once per service and retry: under 48/48 (which cinit may not raise in
/// its user namespace, and says so), 40 services with logs cannot all
/// start; the console says "cannot start services: Too many open files
/// (EMFILE)" once and shows one service's `backoff` line for it, however
/// many retries fail; `cinit-ctl status` heads its list with the shortage,
/// and `--json` stays a plain list (the note goes to stderr).
#[test]
fn g8_a_recurring_shortage_is_said_once_and_shown_in_status() {
    let _serial = serial();
    const SERVICES: usize = 40;
    let fx = Fixture::new();
    let init = fx.service("init");
    for i in 0..SERVICES {
        let name = format!("s{i:02}");
        // Each start makes a readiness pipe: two descriptors at once.
        fx.service(&name)
            .script("echo up; echo >&3; exec sleep 1000")
            .env(&[PATH_ENV])
            .file("notification-fd", "3\n")
            .respawn();
        init.wants(&name);
    }
    let mut opts = boot_limits();
    opts.wrapper[1] = OsString::from("--nofile=48:48");
    opts.ctl_dir = Some(fx.ctl_dir());
    let c = Cinit::launch_with(&fx, &[], &[], &opts);
    c.wait_listening();
    let said = "cinit: cannot start services: Too many open files (EMFILE); retrying with backoff";
    c.wait_until("the shortage to be said", TIMEOUT, |c| {
        c.console().contains(said)
    });
    // Several rounds of retries (the first backoff is 1 s, then longer).
    std::thread::sleep(Duration::from_secs(4));
    let console = c.console();
    assert!(
        console.contains("cinit: descriptor limit stays 48/48: Operation not permitted"),
        "cinit says it could not raise the limit:\n{console}"
    );
    assert_eq!(console.matches(said).count(), 1, "said once:\n{console}");
    let backoff_lines = console
        .lines()
        .filter(|l| l.contains("cinit: backoff ") && l.contains("Too many open files"))
        .count();
    assert_eq!(
        backoff_lines, 1,
        "one service's line, not one per retry:\n{console}"
    );
    let status = c.ctl(&["status"]);
    assert!(status.status.success(), "{}", status.all());
    let first = status.stdout.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("cinit: cannot start services: Too many open files (EMFILE) for "),
        "status is headed by the shortage: {first:?}"
    );
    let backoff = status
        .stdout
        .lines()
        .filter(|l| l.contains(": backoff") && l.contains("Too many open files"))
        .count();
    assert!(backoff > 0, "services wait in backoff:\n{}", status.stdout);
    let json = c.ctl(&["--json", "status"]);
    assert!(json.status.success(), "{}", json.all());
    assert!(
        json.stdout.starts_with('['),
        "still a list: {}",
        json.stdout
    );
    assert!(
        json.stderr
            .contains("cinit says: cannot start services: Too many open files"),
        "the note on stderr: {}",
        json.stderr
    );
}

/// Proves the spawn path itself, in this process: with the limit raised
/// from 1024/4096 and every descriptor number below 1100 taken (so the
/// spawn's prefix and the child's stdio sources lie above the original
/// limit), a child spawned with `/dev/null` as stdin gets 1024/4096, and
/// PID 1's own limit is never lowered. Also with the prefix forgotten (made
/// again above 1100 at the spawn).
#[test]
fn g8_a_child_gets_the_original_limit_with_every_low_number_taken() {
    use cinit::sys::spawn::{spawn, ChildFds};
    use std::ffi::CString;
    use std::os::fd::AsRawFd;
    let _serial = serial();
    let boot = libc::rlimit {
        rlim_cur: 1024,
        rlim_max: 4096,
    };
    // SAFETY: setrlimit only reads the struct.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &boot) }, 0);
    let note = cinit::sys::nofile::raise_at_start(false).unwrap_or_default();
    // To 4096/4096 without CAP_SYS_RESOURCE (this machine), higher with it.
    assert!(
        note.starts_with("descriptor limit raised from 1024/4096 to "),
        "{note}"
    );
    let raised = limit_now();
    let dir = tempfile::tempdir().unwrap();
    let mut held = Vec::new();
    loop {
        let f = std::fs::File::open("/dev/null").unwrap();
        let n = f.as_raw_fd();
        held.push(f);
        if n >= 1100 {
            break;
        }
    }
    let out_path = dir.path().join("out");
    let out = std::fs::File::create(&out_path).unwrap();
    assert!(out.as_raw_fd() > 1024);
    let c = |s: &str| CString::new(s).unwrap();
    let spec = cinit::sys::spawn::ExecSpec {
        path: c("/bin/sh"),
        argv: vec![c("sh"), c("-c"), c("echo $(ulimit -Sn) $(ulimit -Hn)")],
        envp: vec![c(PATH_ENV)],
    };
    let fds = ChildFds {
        stdin: None,
        stdout: out.as_raw_fd(),
        stderr: out.as_raw_fd(),
        extra: Vec::new(),
    };
    cinit::sys::spawn::reserve_prefix();
    let prefix = cinit::sys::spawn::prefix_fds();
    assert!(
        prefix.iter().all(|&fd| fd > 1100),
        "the prefix lies above every low number: {prefix:?}"
    );
    let pid = spawn(&spec, &c("/"), &fds).expect("spawned with every low number taken");
    let mut status = 0;
    // SAFETY: waits for our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert_eq!(std::fs::read_to_string(&out_path).unwrap(), "1024 4096\n");
    assert_eq!(limit_now(), raised, "never lowered");
    assert!(raised.0 >= 4096);
    drop(held);
}

/// This process's descriptor limit, soft and hard.
fn limit_now() -> (u64, u64) {
    let mut now = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into our struct.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut now) }, 0);
    (now.rlim_cur, now.rlim_max)
}
