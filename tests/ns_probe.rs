//! `ready-probe`, with the real `cinit` as PID 1 in namespaces: a respawn
//! service with a probe is `starting` until the probe holds — a TCP port
//! or a Unix socket that accepts a connect, or a program that exits 0 —
//! and only then do `cinit-ctl start` answer and needers start; a probe
//! that never holds ends at `ready-timeout`; a hung probe program neither
//! blocks PID 1 nor outlives its deadline; a bad `ready-probe` is refused
//! with the file and the service named.
//!
//! The tests run without a network namespace: 127.0.0.1 is the host's
//! loopback, so each port is one the kernel just handed out (bound to port
//! 0, then released). The daemons are small Python listeners that open
//! their socket a second after they start, as a slow daemon would.

#![cfg(test)]

mod common;

use common::*;
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// Generous: the machine running the tests may be loaded.
const LONG: Duration = Duration::from_secs(20);
const PYTHON: &str = "/usr/bin/python3";

/// A TCP port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A listener on `addr` (Python: `("127.0.0.1", PORT)` or a path) of
/// `family` that opens after `delay` seconds and accepts forever.
fn slow_listener(svc: &Service, family: &str, addr: &str, delay: &str) {
    svc.file(
        "listen.py",
        &format!(
            "import socket\n\
             s = socket.socket(socket.{family}, socket.SOCK_STREAM)\n\
             s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
             s.bind({addr})\n\
             s.listen(64)\n\
             while True:\n    c, _ = s.accept()\n    c.close()\n"
        ),
    )
    .respawn()
    .script(&format!("sleep {delay}\nexec {PYTHON} listen.py"));
}

/// A once service that records in marks/`mark` whether a connect to
/// `addr` (as in [`slow_listener`]) succeeded when it started.
fn connect_recorder(fx: &Fixture, svc: &Service, family: &str, addr: &str, mark: &str) {
    svc.file(
        "try.py",
        &format!(
            "import socket\n\
             s = socket.socket(socket.{family}, socket.SOCK_STREAM)\n\
             s.settimeout(1)\n\
             try:\n    s.connect({addr})\n    print('yes')\n\
             except OSError as e:\n    print('no', e)\n"
        ),
    )
    .script(&format!("{PYTHON} try.py > '{}'", fx.mark(mark).display()));
}

/// Write `name` in the service directory, executable.
fn executable(svc: &Service, name: &str, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    svc.file(name, body);
    let path = svc.dir().join(name);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// `cinit-ctl start NAME`, asserted to succeed; how long it took.
fn start(c: &Cinit, name: &str) -> Duration {
    let (out, took) = c.ctl_timed(&["start", name]);
    c.check(
        out.code() == Some(0),
        &format!("start {name}: {}", out.dump()),
    );
    took
}

/// Proves a `tcp:` probe gates `cinit-ctl start` and needers: `web` opens
/// its port a second after it is spawned; `cinit-ctl start web` returns
/// only then (it took ≥ 0.8 s), a connect made right after it returns
/// succeeds, and the console says `running web … ready`. `app` needs `api`
/// (the same kind of daemon on another port); `cinit-ctl start app` starts
/// both, and `app`, at its own start, could already connect to `api`.
#[test]
fn a_tcp_probe_gates_start_and_needers() {
    let fx = Fixture::new();
    let (web_port, api_port) = (free_port(), free_port());
    let web_addr = format!("('127.0.0.1', {web_port})");
    let api_addr = format!("('127.0.0.1', {api_port})");
    let web = fx.service("web");
    slow_listener(&web, "AF_INET", &web_addr, "1");
    web.file("ready-probe", &format!("tcp:127.0.0.1:{web_port}\n"));
    let api = fx.service("api");
    slow_listener(&api, "AF_INET", &api_addr, "1");
    api.file("ready-probe", &format!("tcp:localhost:{api_port}\n"));
    let app = fx.service("app");
    connect_recorder(&fx, &app, "AF_INET", &api_addr, "app-saw");
    app.needs("api");
    fx.service("init");
    let c = fx.boot_ctl();
    let took = start(&c, "web");
    let connected = TcpStream::connect(("127.0.0.1", web_port));
    c.check(
        connected.is_ok(),
        &format!("connect right after start web: {connected:?} (start took {took:?})"),
    );
    c.check(
        took >= Duration::from_millis(800),
        &format!("start web answered after {took:?}, before the port could open"),
    );
    let ready = c.wait_state_for("running", "web", LONG);
    c.check(
        ready.line.contains(": ready"),
        &format!("the ready line: {}", ready.line),
    );
    start(&c, "app");
    c.expect_outcome("app", "done");
    c.check(
        fx.read_mark("app-saw") == "yes\n",
        &format!("app at its start: {:?}", fx.read_mark("app-saw")),
    );
    let api_running = c.find_state("running", "api").unwrap();
    let app_starting = c.find_state("starting", "app").unwrap();
    c.check(
        api_running.index < app_starting.index,
        "app was spawned before api was ready",
    );
}

/// Proves a `unix:` probe does the same with a Unix stream socket that
/// appears a second after the spawn: `cinit-ctl start sock` returns only
/// once a connect succeeds (a connect right after succeeds), and `user`
/// (needs sock) could connect at its own start.
#[test]
fn a_unix_probe_gates_start_and_needers() {
    let fx = Fixture::new();
    let path = fx.mark("sock.s");
    let addr = format!("'{}'", path.display());
    let sock = fx.service("sock");
    slow_listener(&sock, "AF_UNIX", &addr, "1");
    sock.file("ready-probe", &format!("unix:{}\n", path.display()));
    let user = fx.service("user");
    connect_recorder(&fx, &user, "AF_UNIX", &addr, "user-saw");
    user.needs("sock");
    fx.service("init");
    let c = fx.boot_ctl();
    let took = start(&c, "user");
    let connected = UnixStream::connect(&path);
    c.check(
        connected.is_ok(),
        &format!("connect right after start: {connected:?} (start took {took:?})"),
    );
    c.check(
        took >= Duration::from_millis(800),
        &format!("start answered after {took:?}, before the socket could exist"),
    );
    c.expect_outcome("user", "done");
    c.check(
        fx.read_mark("user-saw") == "yes\n",
        &format!("user at its start: {:?}", fx.read_mark("user-saw")),
    );
    c.check(
        c.find_state("running", "sock")
            .unwrap()
            .line
            .contains(": ready"),
        "no ready line for sock",
    );
}

/// Proves an `exec` probe makes the service ready when its program exits
/// 0: `./check` fails twice and succeeds on its third run (a counter
/// file); `cinit-ctl start svc` returns with `svc` running, the program
/// ran exactly three times (no try after it held), and it ran as the
/// service runs: in the service directory, with `on.env`'s environment.
#[test]
fn an_exec_probe_that_holds_on_the_third_try_makes_the_service_ready() {
    let fx = Fixture::new();
    let count = fx.mark("tries");
    let seen = fx.mark("probe-saw");
    let svc = fx.service("svc");
    svc.respawn()
        .env(&[PATH_ENV, "PROBE_VAR=from-on-env"])
        .script("exec sleep 1000")
        .file("ready-probe", "exec ./check one\n");
    executable(
        &svc,
        "check",
        &format!(
            "#!/bin/sh\necho x >> '{c}'\necho \"$(pwd) $PROBE_VAR $1\" > '{s}'\n\
             [ $(wc -l < '{c}') -ge 3 ]\n",
            c = count.display(),
            s = seen.display()
        ),
    );
    fx.service("init");
    let c = fx.boot_ctl();
    start(&c, "svc");
    let ready = c.wait_state_for("running", "svc", LONG);
    // Give a wrongly scheduled further try the time to show up.
    std::thread::sleep(Duration::from_millis(300));
    c.check_all(vec![
        (ready.line.contains(": ready"), ready.line.clone()),
        (
            fx.read_mark("tries") == "x\nx\nx\n",
            format!("tries: {:?}", fx.read_mark("tries")),
        ),
        (
            fx.read_mark("probe-saw") == format!("{} from-on-env one\n", svc.dir().display()),
            format!("the probe saw {:?}", fx.read_mark("probe-saw")),
        ),
    ]);
}

/// Proves a probe that never holds ends at `ready-timeout`: `web`'s port
/// never opens; two seconds after its spawn it is stopped and ends
/// `failed` with `not ready within 2s`, and `app` (needs web) is
/// `need-failed` and never ran.
#[test]
fn a_probe_that_never_holds_fails_at_the_ready_timeout() {
    let fx = Fixture::new();
    let port = free_port();
    fx.service("web")
        .respawn()
        .file("ready-probe", &format!("tcp:127.0.0.1:{port}\n"))
        .file("ready-timeout", "2\n")
        .script("exec sleep 1000");
    fx.service("app")
        .needs("web")
        .script(&sh_touch(&fx.mark("app-ran")));
    fx.service("init").needs("app");
    let c = fx.boot_ctl();
    let failed = c.expect_failed_with("web", "not ready within 2s");
    c.expect_outcome("app", "need-failed");
    let stopping = c.find_state("stopping", "web").unwrap();
    c.check_all(vec![
        (
            stopping.line.contains("not ready within 2s"),
            stopping.line.clone(),
        ),
        (!fx.has_mark("app-ran"), "app ran".into()),
        (failed.index > stopping.index, "order".into()),
    ]);
}

/// Proves PID 1 does not wait for a probe program: `slow`'s probe hangs
/// (`sleep 100`); while it does, `cinit-ctl list` answers within a
/// second, repeatedly. The hung program is killed at its deadline (5 s):
/// its process is gone (not left behind) and the next try starts with a
/// new process; at no time are two probe programs alive. Stopping `slow`
/// kills the probe in flight too: no `sleep 100` is left.
#[test]
fn a_hung_probe_program_neither_blocks_pid1_nor_outlives_its_deadline() {
    let fx = Fixture::new();
    let pids = fx.mark("probe-pids");
    let svc = fx.service("slow");
    svc.respawn()
        .script("exec sleep 1000")
        .file("ready-probe", "exec ./hang\n");
    executable(
        &svc,
        "hang",
        &format!(
            "#!/bin/sh\necho $$ >> '{}'\nexec sleep 100\n",
            pids.display()
        ),
    );
    fx.service("init").wants("slow");
    let c = fx.boot_ctl();
    c.wait_until("the first probe to run", LONG, |_| {
        fx.has_mark("probe-pids")
    });
    let first = Instant::now();
    let hung = |c: &Cinit| -> Vec<Proc> {
        c.children()
            .into_iter()
            .filter(|p| p.cmdline() == ["sleep", "100"] && p.state() != 'Z')
            .collect()
    };
    while first.elapsed() < Duration::from_secs(3) {
        let (out, took) = c.ctl_timed(&["list"]);
        c.check(
            out.code() == Some(0) && took < Duration::from_secs(1),
            &format!("list took {took:?}: {}", out.dump()),
        );
        c.check(hung(&c).len() <= 1, "two probe programs at once");
        std::thread::sleep(Duration::from_millis(200));
    }
    let first_ns: i32 = fx
        .read_mark("probe-pids")
        .lines()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    c.wait_until("the hung probe to be killed at its deadline", LONG, |c| {
        !hung(c).iter().any(|p| p.ns_pid() == Some(first_ns))
    });
    let killed_after = first.elapsed();
    c.check(
        killed_after >= Duration::from_secs(3) && killed_after < Duration::from_secs(9),
        &format!("the first probe went after {killed_after:?} (deadline 5 s)"),
    );
    c.wait_until("the next try", LONG, |_| {
        fx.read_mark("probe-pids").lines().count() >= 2
    });
    c.check(hung(&c).len() <= 1, "two probe programs at once");
    c.check(
        c.ctl(&["status", "slow"]).stdout.contains("starting"),
        "slow is not starting",
    );
    let out = c.ctl(&["stop", "slow"]);
    c.check(out.code() == Some(0), &format!("stop: {}", out.dump()));
    c.wait_until("no probe program left", LONG, |c| hung(c).is_empty());
}

/// Proves a bad `ready-probe` is refused, named and contained: `byname`
/// probes a host name, `garbled` has no probe kind, `once` is not a
/// respawn service, `both` has `notification-fd` too. Each fails with the
/// file and the reason, which the console names with the service;
/// `cinit-ctl check` rejects the tree with the same reasons; `fine` (a
/// good probe) and the root still come up, and `list` answers.
#[test]
fn a_bad_ready_probe_is_refused_with_file_service_and_reason() {
    let fx = Fixture::new();
    let port = free_port();
    let cases = [
        (
            "byname",
            "tcp:example.com:80",
            true,
            "resolves no host names",
        ),
        ("garbled", "http://127.0.0.1/", true, "is not a probe"),
        ("once", "tcp:127.0.0.1:1", false, "not a respawn service"),
        ("both", "tcp:127.0.0.1:1", true, "choose one"),
    ];
    let init = fx.service("init");
    for (name, line, respawn, _) in cases {
        let s = fx.service(name);
        s.script("exec sleep 1000")
            .file("ready-probe", &format!("{line}\n"));
        if respawn {
            s.respawn();
        }
        if name == "both" {
            s.file("notification-fd", "5\n");
        }
        init.wants(name);
    }
    let fine = fx.service("fine");
    slow_listener(&fine, "AF_INET", &format!("('127.0.0.1', {port})"), "0");
    fine.file("ready-probe", &format!("tcp:127.0.0.1:{port}\n"));
    init.needs("fine");
    let c = fx.boot_ctl();
    for (name, _, _, why) in cases {
        let file = fx.svc_path(name).join("ready-probe");
        let failed = c.expect_failed_with(name, why);
        c.check(
            failed.line.contains(&file.display().to_string()),
            &format!("{name}: the file is not named: {}", failed.line),
        );
        c.check(
            c.console().lines().any(|l| {
                l.contains(name) && l.contains(&file.display().to_string()) && l.contains(why)
            }),
            &format!("no console line names {name}, its file and {why:?}"),
        );
    }
    c.wait_state_for("running", "fine", LONG);
    c.expect_outcome("init", "done");
    c.check(c.ctl(&["list"]).code() == Some(0), "list failed");
    let mut cmd = std::process::Command::new(ctl_bin());
    cmd.arg("check").arg(fx.etc()).env_clear();
    let out = run(cmd, fx.path(), Duration::from_secs(20));
    let text = format!("{}{}", out.stdout, out.stderr);
    c.check(out.code() != Some(0), &format!("check accepted: {text}"));
    for (name, _, _, why) in cases {
        let file = fx.svc_path(name).join("ready-probe");
        c.check(
            text.lines().any(|l| {
                l.contains(name) && l.contains(&file.display().to_string()) && l.contains(why)
            }),
            &format!("check does not say {name}: {why}: {text}"),
        );
    }
    c.check(
        !text.contains("fine"),
        &format!("check complains about the good probe: {text}"),
    );
}

/// Proves a `unix:` probe never follows a symbolic link (one a user who
/// can write the socket's directory could plant): the test listens on a
/// real socket and links `link.s` to it. `direct` probes the socket itself
/// and becomes ready; `linked` probes the link, which is never connected
/// through, so it ends `failed` at its 1 s ready-timeout.
#[test]
fn a_unix_probe_does_not_follow_a_link() {
    let fx = Fixture::new();
    let real = fx.mark("real.s");
    let link = fx.mark("link.s");
    let _listener = std::os::unix::net::UnixListener::bind(&real).unwrap();
    std::os::unix::fs::symlink(&real, &link).unwrap();
    for (name, path) in [("direct", &real), ("linked", &link)] {
        fx.service(name)
            .respawn()
            .script("exec sleep 1000")
            .file("ready-probe", &format!("unix:{}\n", path.display()))
            .file("ready-timeout", "1\n");
        fx.service("init").wants(name);
    }
    let c = fx.boot_ctl();
    c.wait_state_for("running", "direct", LONG);
    c.expect_failed_with("linked", "not ready within 1s");
}

/// Proves probing survives a hot update: `db`'s probe program hangs
/// (`sleep 100`) until the test creates `go`. During a try, `cinit-ctl
/// update` (nothing lost): the old cinit kills its probe in flight (the
/// process is gone and reaped well before its 5 s deadline), `db` is still
/// `starting` under the new image, which probes it again from the first
/// try (a new probe process); once `go` exists, the next try holds and
/// `db` becomes `running`, after the take-over.
#[test]
fn probing_starts_again_after_a_hot_update() {
    let fx = Fixture::new();
    let pids = fx.mark("probe-pids");
    let svc = fx.service("db");
    svc.respawn()
        .script("exec sleep 1000")
        .file("ready-probe", "exec ./check\n");
    executable(
        &svc,
        "check",
        &format!(
            "#!/bin/sh\necho $$ >> '{p}'\n[ -e '{g}' ] && exit 0\nexec sleep 100\n",
            p = pids.display(),
            g = fx.mark("go").display()
        ),
    );
    fx.service("init").wants("db");
    let c = fx.boot_ctl();
    c.wait_until("the first probe to run", LONG, |_| {
        fx.has_mark("probe-pids")
    });
    let before: i32 = fx
        .read_mark("probe-pids")
        .lines()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let probe = |c: &Cinit, ns: i32| c.children().into_iter().find(|p| p.ns_pid() == Some(ns));
    c.check(
        probe(&c, before).is_some(),
        "the first probe is not running",
    );
    let asked = Instant::now();
    let out = c.ctl(&["update"]);
    c.check(out.code() == Some(0), &format!("update: {}", out.dump()));
    c.check(
        !c.console().contains("update: lost"),
        "the update lost something",
    );
    c.wait_until("the old probe to be killed and reaped", LONG, |c| {
        probe(c, before).is_none()
    });
    c.check(
        asked.elapsed() < Duration::from_secs(4),
        "the old probe lived on to its own deadline",
    );
    c.wait_until("a new probe after the update", LONG, |_| {
        fx.read_mark("probe-pids").lines().count() >= 2
    });
    let out = c.ctl(&["status", "db"]);
    c.check(
        out.stdout.contains("starting"),
        &format!("db: {}", out.dump()),
    );
    std::fs::write(fx.mark("go"), "").unwrap();
    let took_over = c
        .console()
        .lines()
        .position(|l| l.contains("took over from"))
        .unwrap();
    let ready = c.wait_state_for("running", "db", LONG);
    c.check(
        ready.index > took_over && ready.line.contains(": ready"),
        &format!("db: {}", ready.line),
    );
}
