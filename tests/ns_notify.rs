//! sd_notify, with the real `cinit` as PID 1 in namespaces and a client no
//! one here wrote: Debian's python3-systemd (`systemd.daemon.notify`,
//! libsystemd's `sd_notify` and `sd_pid_notify_with_fds`). A respawn
//! service with `notify-socket` gets `NOTIFY_SOCKET` and is `starting`
//! until it sends `READY=1`, gating its needers; `ready-timeout` fails one
//! that never says it; a restart must say it again; `STATUS=` shows in
//! `status` and `status --json`; a descriptor stored with `FDSTORE=1` comes
//! back after a crash and after a hot update; a datagram from a process
//! that is not of a `notify-socket` service is ignored, a `MAINPID=` of a
//! foreign process refused; oversized and malformed datagrams are dropped
//! and counted while PID 1 goes on; `WATCHDOG=1` keeps a watched service
//! and `WATCHDOG=trigger` restarts it.
//!
//! Services order themselves through marker files (a service waits for a
//! marker the test creates), so the order is proved by what they saw.

#![cfg(test)]

mod common;

use common::*;
use std::time::Duration;

/// Generous: the machine running the tests may be loaded.
const LONG: Duration = Duration::from_secs(20);

/// The Python with Debian's python3-systemd (not a pyenv shim on PATH).
const PYTHON: &str = "/usr/bin/python3";

/// What every Python service starts with: the client, and markers.
fn prelude(fx: &Fixture) -> String {
    let ok = std::process::Command::new(PYTHON)
        .args(["-c", "import systemd.daemon"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{PYTHON} has no systemd.daemon: apt-get install python3-systemd"
    );
    format!(
        r#"import os, sys, time, socket
from systemd import daemon
M = {marks:?}
def mark(name, text=""):
    with open(os.path.join(M, name), "a") as f:
        f.write(text)
def wait(name):
    for _ in range(6000):
        if os.path.exists(os.path.join(M, name)):
            return
        time.sleep(0.01)
mark(os.path.basename(os.getcwd()) + "-pid", "%d\n" % os.getpid())
"#,
        marks = fx.marks().display().to_string()
    )
}

/// A respawn service `name` with `notify-socket` running Python `code`
/// after the prelude.
fn py_service(fx: &Fixture, name: &str, code: &str) -> Service {
    let s = fx.service(name);
    s.respawn()
        .file("notify-socket", "")
        .file("on.py", &format!("{}{code}", prelude(fx)))
        .script(&format!("exec {PYTHON} on.py"));
    s
}

/// `cinit-ctl status NAME`: the whole line.
fn status(c: &Cinit, name: &str) -> String {
    let out = c.ctl(&["status", name]);
    c.check(
        out.code() == Some(0),
        &format!("status {name}: {}", out.dump()),
    );
    out.stdout.trim().to_string()
}

/// Waits until `status NAME` contains `needle`; returns the line.
fn wait_status(c: &Cinit, name: &str, needle: &str) -> String {
    c.wait_for(
        &format!("`status {name}` to contain {needle:?}"),
        LONG,
        |c| {
            let line = status(c, name);
            line.contains(needle).then_some(line)
        },
    )
}

/// Proves `READY=1` is readiness exactly as a `notification-fd` newline:
/// `db` sends `STATUS=warming up` and waits for the test's `go`; meanwhile
/// it is `starting` with that status shown by `status`, and `web` (needs
/// db) has not run. After `go` it sends `READY=1` with `STATUS=serving`:
/// `db` is `running`, `web` runs and saw db's readiness marker, `status`
/// shows the new text and `status --json` has it as `status_text`; the
/// service's environment named the socket in cinit's control directory.
#[test]
fn ready_gates_needers_and_status_is_shown() {
    let fx = Fixture::new();
    py_service(
        &fx,
        "db",
        r#"mark("db-env", os.environ.get("NOTIFY_SOCKET", ""))
daemon.notify("STATUS=warming up")
wait("go")
mark("db-ready")
daemon.notify("READY=1\nSTATUS=serving")
time.sleep(1000)
"#,
    );
    fx.service("web").needs("db").script(&format!(
        "if [ -e '{r}' ]; then echo yes; else echo no; fi > '{m}'",
        r = fx.mark("db-ready").display(),
        m = fx.mark("web-saw").display()
    ));
    fx.service("init").needs("web");
    let c = fx.boot_ctl();
    c.wait_state_for("starting", "db", LONG);
    let line = wait_status(&c, "db", "warming up");
    c.check(
        line.starts_with("db: starting"),
        &format!("before READY: {line}"),
    );
    c.check(!fx.has_mark("web-saw"), "web ran before db was ready");
    let env = fx.read_mark("db-env");
    c.check(
        env == c.ctl_dir().join("notify").display().to_string(),
        &format!(
            "NOTIFY_SOCKET={env:?}, control dir {}",
            c.ctl_dir().display()
        ),
    );
    std::fs::write(fx.mark("go"), "").unwrap();
    let ready = c.wait_state_for("running", "db", LONG);
    c.check(
        ready.line.contains(": ready"),
        &format!("the ready line: {}", ready.line),
    );
    c.expect_outcome("web", "done");
    c.check(
        fx.read_mark("web-saw") == "yes\n",
        "web did not see db ready",
    );
    let line = wait_status(&c, "db", "serving");
    c.check(
        line.contains("status \"serving\""),
        &format!("status line: {line}"),
    );
    let json = c.ctl(&["status", "--json", "db"]);
    c.check(
        json.stdout.contains("\"status_text\":\"serving\""),
        &format!("status --json: {}", json.dump()),
    );
}

/// Proves `ready-timeout` gives up on a `notify-socket` service that
/// never sends `READY=1` (it sends only a `STATUS=`): it ends `failed`
/// with `not ready within 1s`, and is not restarted.
#[test]
fn a_service_that_never_says_ready_times_out() {
    let fx = Fixture::new();
    py_service(
        &fx,
        "db",
        r#"mark("db-runs", "x")
daemon.notify("STATUS=almost")
time.sleep(1000)
"#,
    )
    .file("ready-timeout", "1\n");
    fx.service("init").needs("db");
    let c = fx.boot_ctl();
    let failed = c.wait_state_for("failed", "db", LONG);
    c.check(
        failed.line.contains("not ready within 1s"),
        &format!("the failure: {}", failed.line),
    );
    std::thread::sleep(Duration::from_secs(1));
    c.check(fx.read_mark("db-runs") == "x", "db was started again");
}

/// Proves a restart must say `READY=1` again: the first run says it at
/// once; the second waits for the test's `go`. After `cinit-ctl restart`,
/// `db` stays `starting` (for two seconds and more) with its old `STATUS`
/// cleared, and becomes `running` only after `go`.
#[test]
fn a_restart_must_say_ready_again() {
    let fx = Fixture::new();
    py_service(
        &fx,
        "db",
        r#"if os.path.exists(os.path.join(M, "first")):
    daemon.notify("STATUS=second run")
    wait("go")
else:
    mark("first")
    daemon.notify("STATUS=first run")
daemon.notify("READY=1")
time.sleep(1000)
"#,
    );
    fx.service("init").needs("db");
    let c = fx.boot_ctl();
    c.wait_state_for("running", "db", LONG);
    wait_status(&c, "db", "first run");
    // In the background: the answer may wait for the restart to settle.
    let mut restart = c.ctl_cmd(&["restart", "db"]);
    std::thread::spawn(move || restart.output());
    let line = wait_status(&c, "db", "second run");
    c.check(
        line.starts_with("db: starting"),
        &format!("after restart: {line}"),
    );
    std::thread::sleep(Duration::from_secs(2));
    let line = status(&c, "db");
    c.check(
        line.starts_with("db: starting") && !line.contains("first run"),
        &format!("two seconds after restart: {line}"),
    );
    std::fs::write(fx.mark("go"), "").unwrap();
    wait_status(&c, "db", "db: running");
}

/// Proves `FDSTORE=1` with `FDNAME=` keeps a descriptor across a crash
/// and a hot update: `db` (fdstore 4) binds a datagram socket at a path
/// and stores it as `sock` (sd_pid_notify_with_fds), then is killed. Its
/// next run is passed `sock` in `LISTEN_FDNAMES` and the descriptor is
/// that socket (its address is the path); after `cinit-ctl update`, the
/// running process's `STATUS=` still arrives (the socket crossed the
/// update), and after another kill, the run after that gets the
/// descriptor again. `cinit-ctl fdstore
/// list` shows it, and `FDSTOREREMOVE=1` takes it out of the store.
#[test]
fn a_stored_descriptor_comes_back_after_a_crash_and_an_update() {
    let fx = Fixture::new();
    let path = fx.path().join("kept.sock");
    py_service(
        &fx,
        "db",
        &format!(
            r#"names = os.environ.get("LISTEN_FDNAMES", "")
mark("db-names", names + "\n")
if "sock" in names.split(":"):
    fd = 3 + names.split(":").index("sock")
    s = socket.socket(fileno=fd)
    mark("db-addr", s.getsockname() + "\n")
    if os.path.exists(os.path.join(M, "remove")):
        daemon.notify("FDSTOREREMOVE=1\nFDNAME=sock")
else:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind({path:?})
    daemon.notify("FDSTORE=1\nFDNAME=sock", fds=[s.fileno()])
daemon.notify("READY=1")
said = False
while True:
    if not said and os.path.exists(os.path.join(M, "say")):
        daemon.notify("STATUS=said by %d" % os.getpid())
        said = True
    time.sleep(0.05)
"#,
            path = path.display().to_string()
        ),
    )
    .file("fdstore", "4\n");
    fx.service("init").needs("db");
    let c = fx.boot_ctl();
    c.wait_state_for("running", "db", LONG);
    c.wait_until("sock in the store", LONG, |c| {
        c.ctl(&["fdstore", "db"]).stdout.contains("sock")
    });
    let kill_db = |c: &Cinit, runs: usize| {
        let pid: i32 = fx
            .read_mark("db-pid")
            .lines()
            .last()
            .unwrap()
            .parse()
            .unwrap();
        let p = c.wait_for("db's process", LONG, |c| {
            c.children().into_iter().find(|p| p.ns_pid() == Some(pid))
        });
        send_signal(p.pid, libc::SIGKILL);
        c.wait_until(&format!("run {runs} of db"), LONG, |_| {
            fx.read_mark("db-names").lines().count() >= runs
        });
    };
    kill_db(&c, 2);
    let want = format!("{}\n", path.display());
    c.wait_until("the second run's address", LONG, |_| fx.has_mark("db-addr"));
    c.check(
        fx.read_mark("db-addr") == want,
        &format!("after a crash: {:?}", fx.read_mark("db-addr")),
    );
    let out = c.ctl(&["update"]);
    c.check(out.code() == Some(0), &format!("update: {}", out.dump()));
    // The running process's NOTIFY_SOCKET still reaches the new image.
    std::fs::write(fx.mark("say"), "").unwrap();
    let second = fx.read_mark("db-pid").lines().last().unwrap().to_string();
    wait_status(&c, "db", &format!("said by {second}"));
    c.check(
        !c.console().contains("notify socket (descriptor"),
        &format!("the notify socket was lost in the update:\n{}", c.console()),
    );
    std::fs::write(fx.mark("remove"), "").unwrap();
    kill_db(&c, 3);
    c.wait_until("the third run's address", LONG, |_| {
        fx.read_mark("db-addr").lines().count() >= 2
    });
    c.check(
        fx.read_mark("db-addr") == format!("{want}{want}"),
        &format!("after an update: {:?}", fx.read_mark("db-addr")),
    );
    c.wait_until("sock removed from the store", LONG, |c| {
        !c.ctl(&["fdstore", "db"]).stdout.contains("sock")
    });
}

/// Proves the sender is told by its credentials, not by the socket: `db`
/// never says `READY=1` itself; `intruder` (a service without
/// `notify-socket`) and `other` (a `notify-socket` service) each send
/// `READY=1` to db's `NOTIFY_SOCKET`. The intruder's datagram is dropped
/// (said on the console), `other`'s makes `other` ready, and `db` stays
/// `starting`. `db` then sends `MAINPID=` of the intruder's process
/// (refused, said on the console, not shown) and of its own child
/// (accepted: `status` shows `main pid N`); once that child has left
/// db's session, `cinit-ctl reload db` still reaches it.
#[test]
fn only_a_process_of_the_service_speaks_for_it() {
    let fx = Fixture::new();
    let db_sock = fx.mark("db-sock");
    py_service(
        &fx,
        "db",
        r#"mark("db-sock", os.environ["NOTIFY_SOCKET"])
wait("mainpid")
intruder = int(open(os.path.join(M, "intruder-pid")).read().split()[0])
daemon.notify("MAINPID=%d" % intruder)
import signal
signal.signal(signal.SIGHUP, signal.SIG_IGN)
child = os.fork()
if child == 0:
    signal.signal(signal.SIGHUP, lambda *a: mark("child-hup"))
    wait("setsid")
    os.setsid()
    mark("child-setsid")
    while True:
        time.sleep(0.05)
daemon.notify("MAINPID=%d" % child)
mark("db-child", "%d" % child)
time.sleep(1000)
"#,
    );
    let send_ready = r#"wait("db-sock")
path = open(os.path.join(M, "db-sock")).read()
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b"READY=1", path)
mark(os.path.basename(os.getcwd()) + "-sent")
time.sleep(1000)
"#;
    // The intruder has no notify-socket: an ordinary respawn service.
    fx.service("intruder")
        .respawn()
        .file("on.py", &format!("{}{send_ready}", prelude(&fx)))
        .script(&format!("exec {PYTHON} on.py"));
    py_service(&fx, "other", send_ready);
    fx.service("init")
        .wants("db")
        .wants("intruder")
        .wants("other");
    let c = fx.boot_ctl();
    c.wait_until("db's socket", LONG, |_| db_sock.exists());
    c.wait_state_for("running", "other", LONG);
    c.wait_until("the intruder's send", LONG, |_| {
        fx.has_mark("intruder-sent")
    });
    c.wait_until("the intruder's datagram dropped", LONG, |c| {
        c.console()
            .contains("not a process of a notify-socket service")
    });
    std::thread::sleep(Duration::from_secs(1));
    let line = status(&c, "db");
    c.check(
        line.starts_with("db: starting"),
        &format!("db after foreign READY=1: {line}"),
    );
    std::fs::write(fx.mark("mainpid"), "").unwrap();
    c.wait_until("db's child", LONG, |_| fx.has_mark("db-child"));
    let child = fx.read_mark("db-child");
    let line = wait_status(&c, "db", &format!("main pid {child}"));
    let intruder = fx.read_mark("intruder-pid");
    c.check(
        c.console()
            .contains(&format!("MAINPID={} refused", intruder.trim())),
        &format!(
            "no refusal of the intruder's pid on the console:\n{}",
            c.console()
        ),
    );
    c.check(
        line.starts_with("db: starting"),
        &format!("db at the end: {line}"),
    );
    // The main pid is a target of reload signals even out of the group.
    std::fs::write(fx.mark("setsid"), "").unwrap();
    c.wait_until("db's child in a session of its own", LONG, |_| {
        fx.has_mark("child-setsid")
    });
    let out = c.ctl(&["reload", "db"]);
    c.check(out.code() == Some(0), &format!("reload: {}", out.dump()));
    c.wait_until("SIGHUP at db's main pid", LONG, |_| {
        fx.has_mark("child-hup")
    });
}

/// Proves oversized and malformed datagrams are dropped and counted, and
/// PID 1 goes on: `db` sends 5000 bytes (more than cinit reads), then a
/// line without `=`, then `READY=1`. The console says the first two were
/// dropped (counted 1 and 2), `db` becomes `running`, and cinit still
/// answers.
#[test]
fn oversized_and_malformed_datagrams_are_dropped_and_counted() {
    let fx = Fixture::new();
    py_service(
        &fx,
        "db",
        r#"path = os.environ["NOTIFY_SOCKET"]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b"STATUS=" + b"x" * 5000, path)
s.sendto(b"READY=1\ngarbage", path)
daemon.notify("READY=1\nSTATUS=fine")
time.sleep(1000)
"#,
    );
    fx.service("init").needs("db");
    let mut c = fx.boot_ctl();
    c.wait_state_for("running", "db", LONG);
    let console = c.console();
    c.check_all(vec![
        (
            console.contains("cut by the kernel") && console.contains("(1 dropped in all)"),
            format!("the oversized datagram:\n{console}"),
        ),
        (
            console.contains("malformed") && console.contains("(2 dropped in all)"),
            format!("the malformed datagram:\n{console}"),
        ),
    ]);
    let line = wait_status(&c, "db", "fine");
    c.check(
        !line.contains("xxxx"),
        &format!("the cut STATUS was used: {line}"),
    );
    c.assert_alive();
}

/// The pids service `name`'s runs recorded (the prelude's marker).
fn runs(fx: &Fixture, name: &str) -> Vec<String> {
    fx.read_mark(&format!("{name}-pid"))
        .lines()
        .map(str::to_string)
        .collect()
}

/// Proves the watchdog hears libsystemd's `sd_notify`: `dog` (`watchdog`
/// 1 s) says `WATCHDOG=1` every 0.2 s for 3 s, three intervals, and is
/// still its first run when it goes quiet; then it is killed and
/// restarted with `watchdog timeout (1s)`. `trig` (`watchdog` 30 s) says
/// `WATCHDOG=trigger` once the test says `go`, and is restarted at once
/// with `watchdog timeout (30s)`, long before its interval.
#[test]
fn watchdog_pings_keep_a_service_and_a_trigger_restarts_it() {
    let fx = Fixture::new();
    py_service(
        &fx,
        "dog",
        r#"daemon.notify("READY=1")
end = time.time() + 3
while time.time() < end:
    daemon.notify("WATCHDOG=1")
    time.sleep(0.2)
mark("dog-quiet", "%d\n" % os.getpid())
time.sleep(1000)
"#,
    )
    .file("watchdog", "1\n");
    py_service(
        &fx,
        "trig",
        r#"daemon.notify("READY=1")
if not os.path.exists(os.path.join(M, "triggered")):
    wait("go")
    mark("triggered")
    daemon.notify("WATCHDOG=trigger")
time.sleep(1000)
"#,
    )
    .file("watchdog", "30\n");
    fx.service("init").wants("dog").wants("trig");
    let c = fx.boot_ctl();
    c.wait_until("dog goes quiet", LONG, |_| fx.has_mark("dog-quiet"));
    let first = runs(&fx, "dog");
    c.check(
        first.len() == 1 && fx.read_mark("dog-quiet") == format!("{}\n", first[0]),
        &format!("pings kept dog's first run for 3 s: runs {first:?}"),
    );
    let line = wait_status(&c, "dog", "watchdog timeout (1s)");
    c.wait_until("dog's second run", LONG, |_| runs(&fx, "dog").len() >= 2);
    c.check(line.starts_with("dog: "), &format!("dog: {line}"));

    c.wait_state_for("running", "trig", LONG);
    std::fs::write(fx.mark("go"), "").unwrap();
    wait_status(&c, "trig", "watchdog timeout (30s)");
    c.wait_until("trig's second run", LONG, |_| runs(&fx, "trig").len() == 2);
}
