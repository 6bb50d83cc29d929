//! Adversarial cases aimed at PID 1 itself (doc/RELIABILITY.md): an
//! internal panic (B13), signals that arrive before cinit can handle them
//! (D5), a process that SIGKILL cannot end at shutdown (E2), a fork bomb
//! racing the final kill (E4), and a shutdown without a control socket or a
//! writable control directory (E6).
//!
//! Each test is named after its case in the matrix of the reliability
//! document (`b13_…`, `d5_…`, …) and asserts what cinit promises for it.
//! Like every test using the harness, each also proves PID 1 did not die
//! unless the test ended it on purpose.

#![cfg(test)]

mod common;

use common::*;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(15);

/// Boots cinit with a control socket and `env` added to its environment.
fn boot_ctl_env(fx: &Fixture, env: &[(&str, &str)]) -> Cinit {
    let c = Cinit::launch_with(
        fx,
        &[],
        &[],
        &LaunchOpts {
            ctl_dir: Some(fx.ctl_dir()),
            env: env
                .iter()
                .map(|(k, v)| (OsString::from(k), OsString::from(v)))
                .collect(),
            ..LaunchOpts::default()
        },
    );
    c.wait_listening();
    c
}

/// Launches cinit through `wrapper` (a command run as PID 1 of the
/// namespaces that ends by exec'ing cinit, whose path and arguments follow
/// it).
fn launch_wrapped(fx: &Fixture, wrapper: &[&str]) -> Cinit {
    Cinit::launch_with(
        fx,
        &[],
        &[],
        &LaunchOpts {
            wrapper: wrapper.iter().map(OsString::from).collect(),
            ..LaunchOpts::default()
        },
    )
}

/// A respawn service running `/bin/sleep SECS`.
fn sleeper(fx: &Fixture, name: &str, secs: &str) {
    fx.service(name)
        .respawn()
        .on_link("/bin/sleep")
        .params(&[secs]);
}

/// Writes `conf/NAME` = `content`.
fn write_conf(fx: &Fixture, name: &str, content: &str) {
    let dir = fx.etc().join("conf");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(name), content).unwrap();
}

/// Number of console lines containing `needle`.
fn count(c: &Cinit, needle: &str) -> usize {
    c.console().lines().filter(|l| l.contains(needle)).count()
}

/// Kills the respawn service's process `old` and waits for a new one with
/// the same command line: the service is still supervised.
#[track_caller]
fn expect_respawn(c: &Cinit, argv: &[&str], old: &Proc) -> Proc {
    c.check(
        send_signal(old.pid, libc::SIGKILL),
        "could not kill the sleeper",
    );
    c.wait_child_argv(argv, Some(*old))
}

/// `cinit-ctl status` answers (exit 0) within `bound`; returns the time.
#[track_caller]
fn status_answers(c: &Cinit, bound: Duration) -> Duration {
    let (out, took) = c.ctl_timed(&["status"]);
    c.check(
        out.code() == Some(0) && took < bound,
        &format!("status took {took:?} (bound {bound:?}): {}", out.dump()),
    );
    took
}

// ---------------------------------------------------------------------------
// B13: an internal panic
// ---------------------------------------------------------------------------

/// B13 — PID 1 internal panic, injected on purpose (debug builds of cinit
/// honour `CINIT_FAULT`, see `src/control/fault.rs`). Proves, with
/// `CINIT_FAULT=start:boom`, that a panic while handling a request is
/// contained: `cinit-ctl start boom` gets an error reply at once (exit 1,
/// `internal error in cinit`), the console says so (`internal error
/// (panic); continuing` and `internal error while handling a request`),
/// and cinit goes on — status answers, a killed respawn service is
/// respawned — also after the same panic five times more.
#[test]
fn b13_a_panic_while_handling_a_request_is_contained() {
    let fx = Fixture::new();
    sleeper(&fx, "r", "1301");
    fx.service("init").needs("r");
    let c = boot_ctl_env(&fx, &[("CINIT_FAULT", "start:boom")]);
    c.wait_state("running", "r");
    let mut r = c.wait_child_argv(&["/bin/sleep", "1301"], None);
    for round in 1..=6 {
        let (out, took) = c.ctl_timed(&["start", "boom"]);
        c.check(
            out.code() == Some(1) && out.all().contains("internal error in cinit"),
            &format!("round {round}: start boom: {}", out.dump()),
        );
        c.check(
            took < Duration::from_secs(3),
            &format!("round {round}: the error reply took {took:?}"),
        );
        status_answers(&c, Duration::from_secs(3));
        r = expect_respawn(&c, &["/bin/sleep", "1301"], &r);
    }
    c.check_all(vec![
        (
            count(&c, "cinit: internal error (panic); continuing") == 6,
            "expected 6 `internal error (panic)` lines".to_owned(),
        ),
        (
            count(&c, "internal error while handling a request; continuing") == 6,
            "expected 6 `internal error while handling a request` lines".to_owned(),
        ),
        (
            count(&c, "emergency") == 0,
            "a contained panic led to the emergency path".to_owned(),
        ),
    ]);
}

/// B13 — an event loop that panics on every iteration (injected with
/// `CINIT_FAULT=loop:boom`, armed by `cinit-ctl start boom`). Proves cinit
/// does not exit and does not spin: after a few failed iterations it logs
/// `emergency: the event loop keeps failing` and enters the emergency path,
/// where it still reaps (a killed service process leaves no zombie) and
/// still obeys the lifecycle signals: SIGHUP reboots, so PID 1 ends only by
/// that SIGHUP.
#[test]
fn b13_an_event_loop_that_keeps_panicking_enters_the_emergency_path() {
    let fx = Fixture::new();
    sleeper(&fx, "r", "1302");
    fx.service("init").needs("r");
    let mut c = boot_ctl_env(&fx, &[("CINIT_FAULT", "loop:boom")]);
    c.wait_state("running", "r");
    let r = c.wait_child_argv(&["/bin/sleep", "1302"], None);
    // The reply may or may not get out before the loop breaks down.
    let mut start = c.ctl_cmd(&["start", "boom"]);
    let _ = start
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(|mut ch| {
            sleep(Duration::from_millis(200));
            let _ = ch.kill();
            let _ = ch.wait();
        });
    c.wait_until("the emergency path", TIMEOUT, |c| {
        c.console()
            .contains("cinit: emergency: the event loop keeps failing")
    });
    c.assert_alive();
    c.check(send_signal(r.pid, libc::SIGKILL), "could not kill r");
    c.wait_until("r's process to be reaped", TIMEOUT, |_| !r.is_alive());
    sleep(Duration::from_millis(300));
    c.check(
        c.zombie_children() == 0,
        "a zombie is left in the emergency path",
    );
    let cpu0 = c.proc().cpu_secs();
    sleep(Duration::from_secs(1));
    let spent = c.proc().cpu_secs() - cpu0;
    c.check(
        spent <= 0.2,
        &format!("PID 1 used {spent:.2} s of CPU in 1 s in the emergency path"),
    );
    c.check(
        send_signal(c.host_pid(), libc::SIGHUP),
        "could not send SIGHUP",
    );
    let status = c.wait_exit(SHUTDOWN_TIMEOUT);
    c.check(
        death_signal(&status) == Some(libc::SIGHUP),
        &format!("PID 1 did not end by the SIGHUP reboot: {status:?}"),
    );
}

// ---------------------------------------------------------------------------
// D5: signals before cinit can handle them
// ---------------------------------------------------------------------------

/// D5 — signals arriving at exec time. The process that becomes cinit
/// (PID 1 of the namespace) blocks SIGHUP, sends itself one, and only then
/// executes cinit: the signal is pending across the exec, before cinit has
/// any handler. Proves it is not lost and not fatal: cinit boots, sees the
/// SIGHUP once its signalfd exists, runs exactly one reboot sequence, and
/// ends by that reboot. (A signal at its default action that arrives while
/// nothing blocks it is dropped by the kernel for an init, so it can only
/// be lost, never kill PID 1; cinit blocks every handled signal as the
/// first thing in `main` to keep that window as small as possible.)
#[test]
fn d5_a_signal_pending_at_exec_is_handled_once() {
    let fx = Fixture::new();
    sleeper(&fx, "r", "1501");
    fx.service("init").needs("r");
    let perl = ["/usr/bin/perl", "/bin/perl"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("perl is required for this test");
    let mut c = launch_wrapped(
        &fx,
        &[
            perl,
            "-MPOSIX",
            "-e",
            "sigprocmask(SIG_BLOCK, POSIX::SigSet->new(SIGHUP)) or die; \
             kill('HUP', $$) or die; exec { $ARGV[0] } @ARGV or die",
        ],
    );
    let status = c.wait_exit(SHUTDOWN_TIMEOUT);
    c.check_all(vec![
        (
            death_signal(&status) == Some(libc::SIGHUP),
            format!("PID 1 did not end by a reboot: {status:?}"),
        ),
        (
            count(&c, "cinit: reboot: stopping services") == 1,
            "expected exactly one reboot sequence".to_owned(),
        ),
        (
            count(&c, "cinit: reboot: now, after") == 1,
            "the reboot did not complete exactly once".to_owned(),
        ),
        (
            c.console().contains("booting as PID 1"),
            "cinit did not boot before the reboot".to_owned(),
        ),
    ]);
}

// ---------------------------------------------------------------------------
// E2: an unkillable process at shutdown
// ---------------------------------------------------------------------------

/// A cgroup v1 freezer group, thawed and removed when dropped.
struct Freezer {
    dir: PathBuf,
}

impl Freezer {
    fn new() -> Freezer {
        let root = Path::new("/sys/fs/cgroup/freezer");
        assert!(
            root.join("cgroup.procs").exists(),
            "this test needs the cgroup v1 freezer at {}",
            root.display()
        );
        let dir = root.join(format!("cinit-test-e2-{}", std::process::id()));
        let _ = fs::create_dir(&dir);
        Freezer { dir }
    }

    fn add(&self, pid: i32) {
        fs::write(self.dir.join("cgroup.procs"), pid.to_string()).unwrap();
    }

    fn set(&self, state: &str) {
        fs::write(self.dir.join("freezer.state"), state).unwrap();
    }

    fn state(&self) -> String {
        fs::read_to_string(self.dir.join("freezer.state"))
            .unwrap_or_default()
            .trim()
            .to_owned()
    }
}

impl Drop for Freezer {
    fn drop(&mut self) {
        let _ = fs::write(self.dir.join("freezer.state"), "THAWED");
        // The frozen processes had SIGKILL pending: they end once thawed.
        for _ in 0..100 {
            if fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            sleep(Duration::from_millis(50));
        }
        eprintln!("could not remove {}", self.dir.display());
    }
}

/// E2 — a process in uninterruptible sleep at shutdown (frozen by the
/// cgroup v1 freezer: state D, immune to SIGKILL). Proves the shutdown is
/// bounded and says why: the service's own stop gives up after SIGKILL, the
/// global phase reports `1 processes survive SIGKILL (uninterruptible
/// sleep?); going on`, and cinit still syncs and calls reboot(2) (`reboot:
/// now`) within a few seconds. (In a PID namespace the kernel then waits
/// for the frozen process before the namespace can end, so the test thaws
/// it and checks that PID 1 ends by the reboot's SIGHUP.)
#[test]
fn e2_a_process_sigkill_cannot_end_does_not_hold_the_shutdown() {
    let fx = Fixture::new();
    sleeper(&fx, "frozen", "1502");
    fx.service("frozen").delay(1);
    sleeper(&fx, "ok", "1503");
    fx.service("init").needs("frozen").needs("ok");
    write_conf(&fx, "sleep_before_kill", "1\n");
    let mut c = fx.boot();
    c.wait_state("running", "frozen");
    c.wait_state("running", "ok");
    let p = c.wait_child_argv(&["/bin/sleep", "1502"], None);
    let freezer = Freezer::new();
    freezer.add(p.pid);
    freezer.set("FROZEN");
    c.wait_until("the sleeper to be frozen", TIMEOUT, |_| {
        freezer.state() == "FROZEN" && p.state() == 'D'
    });
    let start = Instant::now();
    c.check(
        send_signal(c.host_pid(), libc::SIGHUP),
        "could not send SIGHUP",
    );
    c.wait_until("reboot(2) to be called", SHUTDOWN_TIMEOUT, |c| {
        c.console().contains("cinit: reboot: now, after")
    });
    let took = start.elapsed();
    c.check_all(vec![
        (
            took < Duration::from_secs(8),
            format!("the shutdown took {took:?} with a process in D state"),
        ),
        (
            c.console()
                .contains("processes survive SIGKILL (uninterruptible sleep?); going on"),
            "the survivor is not reported".to_owned(),
        ),
        (
            c.console().contains("cinit: final: synced"),
            "no sync before reboot(2)".to_owned(),
        ),
        (
            p.is_alive() && p.state() == 'D',
            "the frozen process is not the survivor".to_owned(),
        ),
    ]);
    freezer.set("THAWED");
    let status = c.wait_exit(SHUTDOWN_TIMEOUT);
    c.check(
        death_signal(&status) == Some(libc::SIGHUP),
        &format!("PID 1 did not end by the reboot: {status:?}"),
    );
}

// ---------------------------------------------------------------------------
// E4: a fork bomb racing the final kill
// ---------------------------------------------------------------------------

/// E4 — a fork bomb racing `kill(-1)`. A service leaves behind, in its own
/// session, a shell that ignores SIGTERM and keeps forking copies of itself
/// (bounded by a per-namespace `pid_max` of 400, so it churns at the limit:
/// copies die when a fork fails, new ones take their pids). Proves the
/// shutdown still ends every process: the global SIGTERM round leaves the
/// bomb, the SIGKILL round ends it (`every process gone`, not `survive
/// SIGKILL`), and the reboot completes in bounded time.
#[test]
fn e4_a_fork_bomb_racing_the_final_kill_is_ended() {
    let fx = Fixture::new();
    sleeper(&fx, "ok", "1504");
    fx.service("bomb").script(
        "setsid /bin/sh -c 'trap \"\" TERM\n\
         b() { while :; do b & sleep 0.5; done; }\n\
         b' </dev/null >/dev/null 2>&1 &\n\
         exit 0",
    );
    fx.service("init").needs("ok").needs("bomb");
    write_conf(&fx, "sleep_before_kill", "1\n");
    let mut c = launch_wrapped(
        &fx,
        &[
            "/bin/sh",
            "-c",
            "echo 400 > /proc/sys/kernel/pid_max && exec \"$0\" \"$@\"",
        ],
    );
    c.wait_state("running", "ok");
    c.expect_outcome("bomb", "done");
    c.wait_until(
        "the bomb to fill the namespace",
        Duration::from_secs(10),
        |c| ns_processes(c) > 250,
    );
    let start = Instant::now();
    c.check(
        send_signal(c.host_pid(), libc::SIGHUP),
        "could not send SIGHUP",
    );
    let status = c.wait_exit(SHUTDOWN_TIMEOUT);
    let took = start.elapsed();
    c.check_all(vec![
        (
            death_signal(&status) == Some(libc::SIGHUP),
            format!("PID 1 did not end by the reboot: {status:?}"),
        ),
        (
            c.console()
                .contains("cinit: reboot: sending SIGTERM to every process")
                && c.console().contains("; sending SIGKILL"),
            "no SIGTERM and SIGKILL rounds".to_owned(),
        ),
        (
            !c.console().contains("survive SIGKILL"),
            "the SIGKILL round left processes behind".to_owned(),
        ),
        (
            count(&c, "cinit: reboot: every process gone in ") == 1,
            "`every process gone` was not reported".to_owned(),
        ),
        (
            took < Duration::from_secs(10),
            format!("the shutdown took {took:?}"),
        ),
    ]);
}

/// Number of processes in cinit's PID namespace, read from the namespace's
/// own /proc (mounted by `--mount-proc`, seen through cinit's root).
fn ns_processes(c: &Cinit) -> usize {
    fs::read_dir(format!("/proc/{}/root/proc", c.host_pid()))
        .map(|d| {
            d.flatten()
                .filter(|e| {
                    e.file_name()
                        .to_str()
                        .is_some_and(|n| n.parse::<u32>().is_ok())
                })
                .count()
        })
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------
// E6: shutdown without the control socket
// ---------------------------------------------------------------------------

/// E6 — shutdown with the control socket gone and `/run` read-only. The
/// socket file is deleted from the host, then read-only tmpfs are mounted
/// over the control directory and over `/run` inside cinit's mount
/// namespace. Proves
/// cinit goes on supervising (a killed service respawns), the client says
/// it cannot connect (exit 3), and a SIGTERM still powers off: the whole
/// sequence is logged and PID 1 ends by it (SIGINT, the namespace's
/// poweroff).
#[test]
fn e6_shutdown_completes_without_the_control_socket() {
    let fx = Fixture::new();
    sleeper(&fx, "r", "1506");
    fx.service("init").needs("r");
    let mut c = fx.boot_ctl();
    c.wait_state("running", "r");
    let r = c.wait_child_argv(&["/bin/sleep", "1506"], None);
    fs::remove_file(c.socket_path()).unwrap();
    for dir in [c.ctl_dir(), Path::new("/run")] {
        let out = Command::new(util_bin("nsenter"))
            .arg("-t")
            .arg(c.host_pid().to_string())
            .arg("-m")
            .arg(util_bin("mount"))
            .args(["-t", "tmpfs", "-o", "ro", "tmpfs"])
            .arg(dir)
            .output()
            .unwrap();
        c.check(
            out.status.success(),
            &format!(
                "mount a read-only tmpfs on {}: {}",
                dir.display(),
                String::from_utf8_lossy(&out.stderr)
            ),
        );
    }
    let out = c.ctl(&["status"]);
    c.check(
        out.code() == Some(3) && out.all().contains("cannot connect"),
        &format!("status without a socket: {}", out.dump()),
    );
    expect_respawn(&c, &["/bin/sleep", "1506"], &r);
    c.check(
        send_signal(c.host_pid(), libc::SIGTERM),
        "could not send SIGTERM",
    );
    let status = c.wait_exit(SHUTDOWN_TIMEOUT);
    c.check_all(vec![
        (
            death_signal(&status) == Some(libc::SIGINT),
            format!("PID 1 did not end by the poweroff: {status:?}"),
        ),
        (
            c.console()
                .contains("cinit: poweroff: every process gone in ")
                && c.console().contains("cinit: poweroff: now, after"),
            "the poweroff sequence did not complete".to_owned(),
        ),
    ]);
}
