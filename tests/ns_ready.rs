//! Readiness, with the real `cinit` as PID 1 in namespaces: a respawn
//! service with `notification-fd` is `starting` until it writes a newline
//! to that descriptor, and only then do the services that need it start;
//! `ready-timeout` gives up on a service that stays `starting` (respawn or
//! once); `cinit-ctl wait` blocks until services are up or have failed, or
//! its `--timeout` passes (exit 5); all of it across a hot update; bad
//! readiness files are reported; the child holds exactly its readiness
//! descriptor and nothing else new.
//!
//! Services order themselves through marker files: a service that must
//! not be ready yet waits for a `go` marker the test creates, and a needer
//! records at its own start whether its need had already notified. So the
//! order is proved by what the services saw, not by timing.

#![cfg(test)]

mod common;

use common::*;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::time::{Duration, Instant};

use cinit::proto::{
    decode_header, decode_reply, encode_request, Reply, Request, HEADER_LEN, MAX_REPLY,
};

/// Generous: the machine running the tests may be loaded.
const LONG: Duration = Duration::from_secs(20);

/// Shell: wait (up to 60 s) for marker `go`, then go on.
fn wait_go(fx: &Fixture) -> String {
    sh_wait_for(&fx.mark("go"), 3000)
}

/// `cinit-ctl status NAME`: the state word and the whole line.
fn status(c: &Cinit, name: &str) -> (String, String) {
    let out = c.ctl(&["status", name]);
    c.check(
        out.code() == Some(0),
        &format!("status {name}: {}", out.dump()),
    );
    let line = out.stdout.trim().to_string();
    let state = line
        .strip_prefix(&format!("{name}: "))
        .and_then(|r| r.split([',', ':']).next())
        .unwrap_or("")
        .to_string();
    (state, line)
}

/// Index of the first console line containing every one of `needles`.
fn line_index(c: &Cinit, needles: &[&str]) -> Option<usize> {
    c.console()
        .lines()
        .position(|l| needles.iter().all(|n| l.contains(n)))
}

/// Every descendant of cinit (children, grandchildren, …).
fn descendants(c: &Cinit) -> Vec<Proc> {
    let mut out = Vec::new();
    let mut todo = c.children();
    while let Some(p) = todo.pop() {
        todo.extend(p.children());
        out.push(p);
    }
    out
}

/// The pipe inodes among a process's descriptors: `(fd, "pipe:[N]")`.
fn pipes(p: Proc) -> Vec<(i32, String)> {
    p.fds()
        .into_iter()
        .map(|(fd, target)| (fd, target.display().to_string()))
        .filter(|(_, t)| t.starts_with("pipe:"))
        .collect()
}

/// The live child of cinit running `sleep 1000` for service marker `who`
/// (the service writes its pid to marks/<who>-pid before exec'ing sleep).
fn service_proc(fx: &Fixture, c: &Cinit, who: &str) -> Proc {
    c.wait_for(&format!("the process of {who}"), LONG, |c| {
        let ns: i32 = fx.read_mark(&format!("{who}-pid")).trim().parse().ok()?;
        c.children()
            .into_iter()
            .find(|p| p.ns_pid() == Some(ns) && p.cmdline() == ["sleep", "1000"])
    })
}

/// Run `cinit-ctl ARGS` in a thread; join it for (output, when it ended).
fn ctl_in_thread(c: &Cinit, args: &[&str]) -> std::thread::JoinHandle<(RunOutput, Instant)> {
    let cmd = c.ctl_cmd(args);
    let scratch = c.console_path().parent().unwrap().to_path_buf();
    std::thread::spawn(move || {
        let out = run(cmd, &scratch, Duration::from_secs(60));
        (out, Instant::now())
    })
}

/// Proves readiness gates a needing dependent, and a wanting one: `db`
/// (notification-fd 5) is spawned and shows `starting` with its pid while
/// it waits for the test's `go`; neither `web` (needs db) nor `logger`
/// (wants db) runs meanwhile. Once `db` notifies, it is `running` (the
/// console says `ready` and how long it took), and both dependents run and
/// record that `db` had already notified when they started; the `running
/// db` line precedes their spawns on the console.
#[test]
fn readiness_gates_a_needing_dependent() {
    let fx = Fixture::new();
    let (spawned, notified) = (fx.mark("db-spawned"), fx.mark("db-notified"));
    fx.service("db")
        .respawn()
        .file("notification-fd", "5\n")
        .script(&format!(
            "touch '{}'\n{}\ntouch '{}'\necho >&5\nexec sleep 1000",
            spawned.display(),
            wait_go(&fx),
            notified.display()
        ));
    for (who, kind) in [("web", "needs"), ("logger", "wants")] {
        let s = fx.service(who);
        s.script(&format!(
            "if [ -e '{n}' ]; then echo yes; else echo no; fi > '{m}'",
            n = notified.display(),
            m = fx.mark(&format!("{who}-saw")).display()
        ));
        if kind == "needs" {
            s.needs("db");
        } else {
            s.wants("db");
        }
        fx.service("init").needs(who);
    }
    let c = fx.boot_ctl();
    c.wait_state_for("starting", "db", LONG);
    c.wait_until("db to be spawned", LONG, |_| spawned.exists());
    let (state, line) = status(&c, "db");
    c.check(
        state == "starting" && line.contains("pid "),
        &format!("db before notifying: {line}"),
    );
    c.check_all(vec![
        (
            !fx.has_mark("web-saw"),
            "web ran before db was ready".into(),
        ),
        (
            !fx.has_mark("logger-saw"),
            "logger ran before db was ready".into(),
        ),
        (!c.has_state("starting", "web"), "web spawned early".into()),
    ]);
    std::fs::write(fx.mark("go"), "").unwrap();
    let ready = c.wait_state_for("running", "db", LONG);
    c.check(
        ready.line.contains("(pid ")
            && ready.line.contains(": ready")
            && ready.line.contains(" in "),
        &format!("the ready line: {}", ready.line),
    );
    c.expect_outcome("web", "done");
    c.expect_outcome("logger", "done");
    c.check_all(vec![
        (
            fx.read_mark("web-saw") == "yes\n",
            format!("web saw {:?}", fx.read_mark("web-saw")),
        ),
        (
            fx.read_mark("logger-saw") == "yes\n",
            format!("logger saw {:?}", fx.read_mark("logger-saw")),
        ),
        (
            c.find_state("starting", "web").unwrap().index > ready.index,
            "web's spawn is not after db's readiness on the console".into(),
        ),
        (status(&c, "db").0 == "running", "db is not running".into()),
    ]);
}

/// Proves a respawn service that never becomes ready is given up on at
/// its ready-timeout: `db` (notification-fd 5, ready-timeout 1, delay 1)
/// ignores SIGTERM and has a background child in its process group. One
/// second after its spawn the console says `stopping db … not ready within
/// 1s`; SIGTERM is ignored, so the SIGKILL after `delay` ends it (the stop
/// takes at least a second); both processes are gone; `db` ends `failed`
/// with the reason (also in `status`), `web` (needs db) is `need-failed`
/// and never ran, and `db` is not restarted.
#[test]
fn a_never_ready_service_times_out() {
    let fx = Fixture::new();
    fx.service("db")
        .respawn()
        .file("notification-fd", "5\n")
        .file("ready-timeout", "1\n")
        .delay(1)
        .script(&format!(
            "trap '' TERM\nsleep 1000 &\necho $! > '{child}'\necho x >> '{runs}'\necho $$ > '{pid}'\nexec sleep 1000",
            child = fx.mark("db-child").display(),
            runs = fx.mark("db-runs").display(),
            pid = fx.mark("db-pid").display(),
        ));
    fx.service("web")
        .needs("db")
        .script(&sh_touch(&fx.mark("web-ran")));
    fx.service("init").needs("web");
    let c = fx.boot_ctl();
    let main = service_proc(&fx, &c, "db");
    c.wait_until("db's background child", LONG, |_| fx.has_mark("db-child"));
    let started = c.wait_state_for("starting", "db", LONG);
    let stopping = c.wait_state_for("stopping", "db", LONG);
    c.check(
        stopping.line.contains(": not ready within 1s"),
        &format!("the stopping line: {}", stopping.line),
    );
    let failed = c.expect_failed_with("db", "not ready within 1s");
    c.expect_outcome("web", "need-failed");
    // The stop took the whole delay: SIGTERM was ignored, SIGKILL did it.
    let took: f64 = failed
        .rest()
        .split_once(" in ")
        .and_then(|(_, r)| r.split(':').next())
        .and_then(|s| s.strip_suffix('s'))
        .and_then(|s| s.parse().ok())
        .unwrap_or(-1.0);
    c.check(
        took >= 0.9,
        &format!("the stop took {took}s: {}", failed.line),
    );
    c.wait_until("db's processes to be gone", LONG, |c| {
        !main.is_alive()
            && !descendants(c)
                .iter()
                .any(|p| p.cmdline() == ["sleep", "1000"])
    });
    let (state, line) = status(&c, "db");
    c.check_all(vec![
        (state == "failed", format!("db: {line}")),
        (line.contains("not ready within 1s"), format!("db: {line}")),
        (!fx.has_mark("web-ran"), "web ran".into()),
        (started.index < stopping.index, "order".into()),
        (
            fx.read_mark("db-runs") == "x\n" && c.count_state("starting", "db") == 1,
            format!("db restarted: runs {:?}", fx.read_mark("db-runs")),
        ),
    ]);
}

/// Proves a once service whose `on` is still running at its ready-timeout
/// (0.5 s) is stopped and ends `failed` with `not ready within 0.5s`, and
/// that its needer is `need-failed`; a once service that finishes in time
/// is `done` as usual.
#[test]
fn a_once_service_that_hangs_past_its_ready_timeout_fails() {
    let fx = Fixture::new();
    fx.service("mount")
        .file("ready-timeout", "0.5\n")
        .script("exec sleep 1000");
    fx.service("quick")
        .file("ready-timeout", "30\n")
        .script("exit 0");
    fx.service("app")
        .needs("mount")
        .script(&sh_touch(&fx.mark("app-ran")));
    fx.service("init").needs("app").needs("quick");
    let c = fx.boot_ctl();
    c.expect_failed_with("mount", "not ready within 0.5s");
    c.expect_outcome("app", "need-failed");
    c.expect_outcome("quick", "done");
    c.wait_until("mount's sleep to be gone", LONG, |c| {
        c.children_with_argv(&["sleep", "1000"]).is_empty()
    });
    c.check(!fx.has_mark("app-ran"), "app ran");
}

/// Proves a process that exits before it is ready is restarted and must
/// notify again: `db`'s first run exits 3 before notifying; the second
/// waits for `go`, then notifies. `web` (needs db) stays unstarted through
/// the restart and starts only after the second run's notification, which
/// it records (run 2). The console shows two `starting db` lines, then one
/// `running db … ready`.
#[test]
fn exit_before_ready_is_restarted_and_gates_again() {
    let fx = Fixture::new();
    let runs = fx.mark("db-runs");
    fx.service("db").respawn().file("notification-fd", "6\n").script(&format!(
        "echo x >> '{runs}'\nn=$(wc -l < '{runs}')\n[ \"$n\" -eq 1 ] && exit 3\n{go}\necho $n > '{notified}'\necho ready >&6\nexec sleep 1000",
        runs = runs.display(),
        go = wait_go(&fx),
        notified = fx.mark("db-notified").display(),
    ));
    fx.service("web").needs("db").script(&format!(
        "cat '{n}' > '{m}' 2>/dev/null || echo none > '{m}'",
        n = fx.mark("db-notified").display(),
        m = fx.mark("web-saw").display()
    ));
    fx.service("init").needs("web");
    let c = fx.boot_ctl();
    c.wait_until("db's second run", LONG, |c| {
        c.count_state("starting", "db") == 2
    });
    c.check(
        c.lines_of("db")
            .iter()
            .any(|l| l.line.contains("restarted after exit status 3")),
        "the restart line",
    );
    c.check(
        !c.has_state("starting", "web"),
        "web started before db was ready",
    );
    std::fs::write(fx.mark("go"), "").unwrap();
    c.expect_outcome("web", "done");
    let db = c.lines_of("db");
    let states: Vec<&str> = db.iter().map(|l| l.state.as_str()).collect();
    c.check_all(vec![
        (
            fx.read_mark("web-saw") == "2\n",
            format!("web saw {:?}", fx.read_mark("web-saw")),
        ),
        (
            states == ["starting", "starting", "running"],
            format!("db: {states:?}"),
        ),
        (
            c.find_state("starting", "web").unwrap().index > db[2].index,
            "web spawned before db's ready line".into(),
        ),
    ]);
}

/// Proves `cinit-ctl wait`'s exit codes and that it needs no polling:
/// a `done` service: 0 at once; a failed one: 1, naming it and why; a
/// service that becomes ready later: the `wait` started before is still
/// blocked, and returns 0 (`running`) promptly once the test lets it
/// notify; a never-ready one with `--timeout 0.5`: 5 after about half a
/// second, naming it as `starting`; an unknown service or bad arguments:
/// 2; no cinit at the socket: 3.
#[test]
fn wait_exit_codes() {
    let fx = Fixture::new();
    fx.service("ok").script("exit 0");
    fx.service("bad").script("exit 3");
    fx.service("db")
        .respawn()
        .file("notification-fd", "5\n")
        .script(&format!("{}\necho >&5\nexec sleep 1000", wait_go(&fx)));
    fx.service("never")
        .respawn()
        .file("notification-fd", "5\n")
        .script("exec sleep 1000");
    for s in ["ok", "bad", "db", "never"] {
        fx.service("init").wants(s);
    }
    let c = fx.boot_ctl();
    c.wait_state_for("starting", "db", LONG);

    let out = c.ctl(&["wait", "ok"]);
    c.check(
        out.code() == Some(0) && out.stdout.starts_with("ok: done"),
        &format!("wait ok: {}", out.dump()),
    );
    let out = c.ctl(&["wait", "bad", "ok"]);
    c.check(
        out.code() == Some(1)
            && out.stdout.contains("bad: failed")
            && out.stderr.contains("failed: bad (failed: exit status 3)"),
        &format!("wait bad ok: {}", out.dump()),
    );

    let waiter = ctl_in_thread(&c, &["wait", "db", "ok"]);
    // Not a synchronisation: a chance for a wait that does not block to
    // show it. What proves the order is the reply (db can only be running
    // after `go`).
    std::thread::sleep(Duration::from_millis(300));
    c.check(!waiter.is_finished(), "wait returned before db was ready");
    let go = Instant::now();
    std::fs::write(fx.mark("go"), "").unwrap();
    let (out, ended) = waiter.join().unwrap();
    let after = ended.duration_since(go);
    c.check(
        out.code() == Some(0)
            && out.stdout.contains("db: running")
            && out.stdout.contains("ok: done"),
        &format!("wait db ok: {}", out.dump()),
    );
    c.check(
        after < Duration::from_secs(5),
        &format!("wait took {after:?} after go"),
    );

    let (out, took) = c.ctl_timed(&["wait", "--timeout", "0.5", "never", "db"]);
    c.check(
        out.code() == Some(5)
            && out
                .stderr
                .contains("timed out after 0.5s; not up yet: never (starting)")
            && !out.stderr.contains("db ("),
        &format!("wait --timeout: {}", out.dump()),
    );
    c.check(
        took >= Duration::from_millis(450) && took < Duration::from_secs(8),
        &format!("wait --timeout 0.5 took {took:?}"),
    );
    for args in [
        &["wait", "nosuch"][..],
        &["wait"],
        &["wait", "--timeout", "0", "db"],
        &["wait", "--timeout", "x", "db"],
        &["status", "--timeout", "1", "db"],
    ] {
        let out = c.ctl(args);
        c.check(out.code() == Some(2), &format!("{args:?}: {}", out.dump()));
    }
    let out = run(
        {
            let mut cmd = Command::new(ctl_bin());
            cmd.args(["wait", "db"])
                .env_clear()
                .env("CINIT_CTL_DIR", fx.path().join("nowhere"));
            cmd
        },
        fx.path(),
        CTL_TIMEOUT,
    );
    c.check(out.code() == Some(3), &format!("no cinit: {}", out.dump()));
}

/// Reads one reply from a raw connection.
fn read_reply(s: &mut UnixStream) -> Reply {
    use std::io::Read;
    let mut head = [0u8; HEADER_LEN];
    s.read_exact(&mut head).unwrap();
    let h = decode_header(&head, MAX_REPLY).unwrap();
    let mut frame = head.to_vec();
    frame.resize(h.frame_len, 0);
    s.read_exact(&mut frame[HEADER_LEN..]).unwrap();
    decode_reply(&frame).unwrap()
}

/// Proves readiness survives a hot update: `db` is `starting` (waiting
/// for `go`) and a WAIT for it is pending on a connection opened before the
/// update; `slow` is `starting` with a ready-timeout of 6 s. After
/// `cinit-ctl update` (nothing lost), the test lets `db` notify: the new
/// image reads the pipe the old one made, `db` becomes `running`, and the
/// pending WAIT is answered on the old connection; `slow` still times out
/// (after the update, about 6 s after its spawn) and ends `failed`.
#[test]
fn readiness_and_waits_survive_a_hot_update() {
    let fx = Fixture::new();
    fx.service("db")
        .respawn()
        .file("notification-fd", "5\n")
        .script(&format!("{}\necho >&5\nexec sleep 1000", wait_go(&fx)));
    fx.service("slow")
        .respawn()
        .file("notification-fd", "5\n")
        .file("ready-timeout", "6\n")
        .delay(1)
        .script("exec sleep 1000");
    fx.service("init").wants("db").wants("slow");
    let c = fx.boot_ctl();
    c.wait_state_for("starting", "slow", LONG);
    c.wait_state_for("starting", "db", LONG);
    let mut conn = c.connect();
    conn.set_read_timeout(Some(LONG)).unwrap();
    conn.write_all(&encode_request(&Request::Wait {
        names: vec!["db".into()],
    }))
    .unwrap();
    let out = c.ctl(&["update"]);
    c.check(out.code() == Some(0), &format!("update: {}", out.dump()));
    let took_over = line_index(&c, &["took over from"]).unwrap();
    c.check(
        !c.console().contains("update: lost"),
        "the update lost something",
    );
    c.check(status(&c, "db").0 == "starting", "db after the update");
    std::fs::write(fx.mark("go"), "").unwrap();
    match read_reply(&mut conn) {
        Reply::Services(list) => c.check(
            list.len() == 1 && list[0].name == "db" && list[0].state == "running",
            &format!("the wait's reply: {list:?}"),
        ),
        other => c.fail(&format!("the wait's reply: {other:?}")),
    }
    let ready = c.wait_state_for("running", "db", LONG);
    c.check(ready.index > took_over, "db was ready before the update");
    let failed = c.outcome_for("slow", LONG);
    c.check(
        failed.state == "failed" && failed.line.contains("not ready within 6s"),
        &format!("slow: {}", failed.line),
    );
    c.check(
        failed.index > took_over,
        "slow timed out before the update; the test proves nothing",
    );
}

/// Proves bad readiness files are reported and fail only their service:
/// `notification-fd` holding `abc`, `2`, `1024` or nothing, and a
/// `ready-timeout` of `soon`, each give a `config:` line naming file,
/// service and reason at boot and a `failed` service with that reason;
/// a service needing one is `need-failed`; a once service's
/// `notification-fd` is ignored at run time (it runs and is `done`) and
/// reported by `cinit-ctl check`, which lists all of it (exit 1); a good
/// service starts as usual.
#[test]
fn bad_readiness_files_are_reported() {
    let fx = Fixture::new();
    let cases = [
        (
            "nfd-text",
            "notification-fd",
            "abc\n",
            "\"abc\" is not a descriptor number",
        ),
        (
            "nfd-low",
            "notification-fd",
            "2\n",
            "2 is stdin, stdout or stderr",
        ),
        ("nfd-high", "notification-fd", "1024\n", "1024 is too large"),
        (
            "nfd-empty",
            "notification-fd",
            "",
            "empty; write one descriptor number from 3 to 1023",
        ),
        (
            "rt-bad",
            "ready-timeout",
            "soon\n",
            "\"soon\" is not a number of seconds",
        ),
    ];
    for (name, file, content, _) in cases {
        fx.service(name)
            .respawn()
            .file(file, content)
            .script("exec sleep 1000");
        fx.service("init").wants(name);
    }
    fx.service("user")
        .needs("nfd-text")
        .script(&sh_touch(&fx.mark("user-ran")));
    fx.service("once")
        .file("notification-fd", "5\n")
        .script(&sh_touch(&fx.mark("once-ran")));
    fx.service("good").respawn().script("exec sleep 1000");
    for s in ["user", "once", "good"] {
        fx.service("init").wants(s);
    }
    let c = fx.boot_ctl();
    for (name, file, _, why) in cases {
        let path = fx.svc_path(name).join(file);
        let config = format!("cinit: config: {}: {name}: ", path.display());
        c.wait_until(&format!("the config line of {name}"), LONG, |c| {
            c.console()
                .lines()
                .any(|l| l.contains(&config) && l.contains(why))
        });
        c.expect_failed_with(name, &format!("{}: ", path.display()));
        c.expect_failed_with(name, why);
    }
    c.expect_outcome("user", "need-failed");
    c.expect_outcome("once", "done");
    c.wait_state_for("running", "good", LONG);
    c.check(
        !fx.has_mark("user-ran") && fx.has_mark("once-ran"),
        "who ran",
    );

    let mut cmd = c.ctl_cmd(&["check", fx.etc().to_str().unwrap()]);
    cmd.env("CINIT_DIR", fx.etc());
    let out = run(cmd, fx.path(), CTL_TIMEOUT);
    let mut checks = vec![(out.code() == Some(1), format!("check exit: {}", out.dump()))];
    for (name, file, _, why) in cases {
        let want = format!("{}: {name}: ", fx.svc_path(name).join(file).display());
        checks.push((
            out.stdout
                .lines()
                .any(|l| l.starts_with(&want) && l.contains(why)),
            format!("check misses {name}: {}", out.stdout),
        ));
    }
    checks.push((
        out.stdout
            .contains("once/notification-fd: once: ignored: not a respawn service"),
        format!("check misses the once service: {}", out.stdout),
    ));
    c.check_all(checks);
}

/// Proves the child gets exactly its readiness descriptor: `db`
/// (notification-fd 7, never notifies) has descriptors 0, 1, 2 and 7 and
/// nothing else, 7 being a pipe whose other end cinit holds (same inode);
/// `plain` (no notification-fd) has only 0, 1, 2. cinit holds one pipe per
/// service not ready yet: `rd` notified and closed its end, and after
/// `cinit-ctl stop db` cinit holds no pipe at all. (The services have the
/// `console` flag, so no log pipe is counted among these; the log pipe's
/// own descriptors are proven in ns_exec's B12.)
#[test]
fn the_child_has_its_readiness_fd_and_nothing_else_new() {
    let fx = Fixture::new();
    let me = |who: &str| format!("echo $$ > '{}'", fx.mark(&format!("{who}-pid")).display());
    fx.service("db")
        .respawn()
        .file("console", "")
        .file("notification-fd", "7\n")
        .script(&format!("{}\nexec sleep 1000", me("db")));
    fx.service("plain")
        .respawn()
        .file("console", "")
        .script(&format!("{}\nexec sleep 1000", me("plain")));
    fx.service("rd")
        .respawn()
        .file("console", "")
        .file("notification-fd", "9\n")
        .script(&format!(
            "echo >&9\nexec 9>&-\n{}\nexec sleep 1000",
            me("rd")
        ));
    for s in ["db", "plain", "rd"] {
        fx.service("init").wants(s);
    }
    let c = fx.boot_ctl();
    c.wait_state_for("running", "rd", LONG);
    c.wait_state_for("running", "plain", LONG);
    let db = service_proc(&fx, &c, "db");
    let plain = service_proc(&fx, &c, "plain");
    let rd = service_proc(&fx, &c, "rd");
    let fds = |p: Proc| p.fds().into_iter().map(|(fd, _)| fd).collect::<Vec<_>>();
    let db_pipe = pipes(db);
    let cinit_pipes = pipes(c.proc());
    c.check_all(vec![
        (fds(db) == [0, 1, 2, 7], format!("db's fds: {:?}", db.fds())),
        (
            db_pipe.len() == 1 && db_pipe[0].0 == 7,
            format!("db's pipes: {db_pipe:?}"),
        ),
        (
            fds(plain) == [0, 1, 2],
            format!("plain's fds: {:?}", plain.fds()),
        ),
        (fds(rd) == [0, 1, 2], format!("rd's fds: {:?}", rd.fds())),
        (
            cinit_pipes.len() == 1 && cinit_pipes[0].1 == db_pipe[0].1,
            format!("cinit's pipes {cinit_pipes:?}, db's {db_pipe:?}"),
        ),
        (status(&c, "db").0 == "starting", "db".into()),
    ]);
    let out = c.ctl(&["stop", "db"]);
    c.check(out.code() == Some(0), &format!("stop db: {}", out.dump()));
    c.wait_until("cinit to close db's pipe", LONG, |c| {
        pipes(c.proc()).is_empty()
    });
}

/// Proves what cinit does with a readiness pipe that says no newline:
/// `junk` writes 10,000 bytes without one (cinit stops listening after
/// 4096 and says so), `mute` closes its descriptor (cinit says it closed
/// without a newline); both stay `starting`, cinit holds no pipe for them,
/// and stays responsive; a later `ready-timeout` still ends them. (With the
/// `console` flag, so that no log pipe is among cinit's pipes.)
#[test]
fn junk_or_a_closed_pipe_leaves_it_starting() {
    let fx = Fixture::new();
    fx.service("junk")
        .respawn()
        .file("console", "")
        .file("notification-fd", "5\n")
        .file("ready-timeout", "4\n")
        .script("head -c 10000 /dev/zero | tr '\\0' x >&5\nexec sleep 1000");
    fx.service("mute")
        .respawn()
        .file("console", "")
        .file("notification-fd", "5\n")
        .file("ready-timeout", "4\n")
        .script("exec 5>&-\nexec sleep 1000");
    fx.service("init").wants("junk").wants("mute");
    let c = fx.boot_ctl();
    c.wait_until("the junk line", LONG, |c| {
        line_index(c, &["junk (pid ", "wrote 4096 bytes to its notification-fd without a newline; no longer listening; still starting"]).is_some()
    });
    c.wait_until("the closed line", LONG, |c| {
        line_index(
            c,
            &[
                "mute (pid ",
                "closed its notification-fd without a newline; still starting",
            ],
        )
        .is_some()
    });
    c.check_all(vec![
        (status(&c, "junk").0 == "starting", "junk".into()),
        (status(&c, "mute").0 == "starting", "mute".into()),
        (
            pipes(c.proc()).is_empty(),
            format!("cinit's pipes: {:?}", pipes(c.proc())),
        ),
    ]);
    for name in ["junk", "mute"] {
        let end = c.outcome_for(name, LONG);
        c.check(
            end.state == "failed" && end.line.contains("not ready within 4s"),
            &format!("{name}: {}", end.line),
        );
    }
}

/// Proves any user may wait, and that the waits of users other than root
/// are capped so they cannot lock root out: with cinit as the real root
/// and `cinit-ctl` run as uid 65534 inside its namespaces, `wait ok` exits
/// 0 while `start ok` is refused (4). Sixteen `wait gate` as that uid stay
/// pending (cinit holds their connections); a seventeenth is refused at
/// once (exit 1, "too many waits"), while root's `wait ok` is answered.
/// When `gate` becomes ready, the sixteen all exit 0.
#[test]
fn any_user_may_wait_and_unprivileged_waits_are_capped() {
    if !runs_as_root("runs cinit without a user namespace") {
        return;
    }
    const NOBODY: u32 = 65534;
    const CAP: usize = 16;
    let fx = Fixture::new();
    let exe = fx.ctl_for_others();
    fx.service("ok").script("exit 0");
    fx.service("gate")
        .respawn()
        .file("notification-fd", "5\n")
        .script(&format!("{}\necho >&5\nexec sleep 1000", wait_go(&fx)));
    fx.service("init").wants("ok").wants("gate");
    let c = fx.boot_ctl_real_root();
    c.expect_outcome("ok", "done");
    c.wait_state_for("starting", "gate", LONG);
    let out = c.ctl_in_ns_as(NOBODY, &exe, &["wait", "ok"]);
    c.check(
        out.code() == Some(0),
        &format!("wait as nobody: {}", out.dump()),
    );
    let out = c.ctl_in_ns_as(NOBODY, &exe, &["start", "ok"]);
    c.check(
        out.code() == Some(4),
        &format!("start as nobody: {}", out.dump()),
    );

    let sockets = |c: &Cinit| {
        c.proc()
            .fds()
            .iter()
            .filter(|(_, t)| t.display().to_string().starts_with("socket:"))
            .count()
    };
    let idle = sockets(&c);
    std::thread::scope(|scope| {
        let waiters: Vec<_> = (0..CAP)
            .map(|_| scope.spawn(|| c.ctl_in_ns_as(NOBODY, &exe, &["wait", "gate"])))
            .collect();
        c.wait_until("the waits to be pending in cinit", LONG, |c| {
            sockets(c) >= idle + CAP
        });
        let out = c.ctl_in_ns_as(NOBODY, &exe, &["wait", "gate"]);
        c.check(
            out.code() == Some(1) && out.stderr.contains("too many waits"),
            &format!("the wait beyond the cap: {}", out.dump()),
        );
        let out = c.ctl(&["wait", "ok"]);
        c.check(
            out.code() == Some(0),
            &format!("root's wait: {}", out.dump()),
        );
        std::fs::write(fx.mark("go"), "").unwrap();
        for w in waiters {
            let out = w.join().unwrap();
            c.check(
                out.code() == Some(0) && out.stdout.contains("gate: running"),
                &format!("a capped-in wait: {}", out.dump()),
            );
        }
    });
}
