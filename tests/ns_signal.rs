//! Signals, with the real `cinit` as PID 1 in namespaces: the
//! `stop-signal` and `reload-signal` files, `cinit-ctl signal` (to the
//! main process, `--all` to every process of the service) and `cinit-ctl
//! reload`, their refusal for users other than root and for services not
//! running, and bad signal files refused by `check` and by the start.
//!
//! Each service here is a shell that traps signals and appends a word per
//! signal to a mark file; the test reads the file.

#![cfg(test)]

mod common;

use common::*;
use std::process::Command;

/// A respawn service's script: trap each of `sigs` (shell names) by
/// appending `WORD` (the name in lower case) to `record`, touch `up` once
/// the traps are set, then idle. With `exit_on`, that signal's trap exits
/// 0 after recording.
fn trapping(record: &str, up: &str, sigs: &[&str], exit_on: Option<&str>) -> String {
    let mut s = String::new();
    for sig in sigs {
        let exit = if Some(*sig) == exit_on {
            "; exit 0"
        } else {
            ""
        };
        s.push_str(&format!(
            "trap 'echo {} >> {record}{exit}' {sig}\n",
            sig.to_lowercase()
        ));
    }
    s.push_str(&format!("touch {up}\nwhile :; do sleep 0.05; done\n"));
    s
}

/// Waits until `word` is a line of mark `name`.
#[track_caller]
fn wait_word(c: &Cinit, fx: &Fixture, name: &str, word: &str) {
    c.wait_until(&format!("{word:?} in mark {name}"), TIMEOUT, |_| {
        fx.has_mark(name) && fx.read_mark(name).lines().any(|l| l == word)
    });
}

/// Runs `cinit-ctl ARGS` and checks its exit code.
#[track_caller]
fn ctl_code(c: &Cinit, args: &[&str], code: i32) -> RunOutput {
    let out = c.ctl(args);
    c.check(
        out.code() == Some(code),
        &format!("cinit-ctl {args:?}: expected exit {code}\n{}", out.dump()),
    );
    out
}

/// Proves `stop-signal` replaces SIGTERM in a stop: a service whose file
/// says `INT` and which exits on INT (and would record TERM) is `stopped`
/// by `cinit-ctl stop` well within its `delay`, having recorded `int` and
/// no `term`.
#[test]
fn stop_sends_the_stop_signal() {
    let fx = Fixture::new();
    let (rec, up) = (fx.mark("rec"), fx.mark("up"));
    let (r, u) = (rec.display().to_string(), up.display().to_string());
    fx.service("svc")
        .respawn()
        .delay(30)
        .file("stop-signal", "INT\n")
        .script(&trapping(&r, &u, &["INT", "TERM"], Some("INT")));
    fx.service("init").wants("svc");
    let c = fx.boot_ctl();
    c.wait_until("the traps", TIMEOUT, |_| fx.has_mark("up"));
    let out = ctl_code(&c, &["stop", "svc"], 0);
    c.check(out.stdout.starts_with("svc: stopped"), &out.dump());
    let got = fx.read_mark("rec");
    c.check(
        got == "int\n",
        &format!("recorded {got:?}, expected int only"),
    );
}

/// Proves the shutdown sends each service its stop signal before the
/// global SIGTERM: a service with `stop-signal` `SIGUSR2` (exiting on it)
/// has recorded `usr2` and not `term` once cinit has rebooted.
#[test]
fn shutdown_sends_the_stop_signal() {
    let fx = Fixture::new();
    let (rec, up) = (fx.mark("rec"), fx.mark("up"));
    let (r, u) = (rec.display().to_string(), up.display().to_string());
    fx.service("svc")
        .respawn()
        .file("stop-signal", "SIGUSR2\n")
        .script(&trapping(&r, &u, &["USR2", "TERM"], Some("USR2")));
    fx.service("init").wants("svc");
    let mut c = fx.boot();
    c.wait_until("the traps", TIMEOUT, |_| fx.has_mark("up"));
    c.check(send_signal(c.host_pid(), libc::SIGHUP), "signal cinit");
    c.wait_exit(TIMEOUT * 4);
    let got = fx.read_mark("rec");
    c.check(
        got == "usr2\n",
        &format!("recorded {got:?}, expected usr2 only"),
    );
}

/// Proves `signal` and `reload`: `signal svc USR1` reaches the main
/// process and not its child; `signal --all svc USR2` reaches both;
/// `reload` sends SIGHUP without a `reload-signal` file and the file's
/// signal (USR1, given as a number) with one. Each exits 0 and says what
/// it sent to which pid.
#[test]
fn signal_and_reload_reach_the_service() {
    let fx = Fixture::new();
    let (rec, up, kid, kup) = (
        fx.mark("rec"),
        fx.mark("up"),
        fx.mark("kid"),
        fx.mark("kid-up"),
    );
    let (r, u) = (rec.display().to_string(), up.display().to_string());
    let (k, ku) = (kid.display().to_string(), kup.display().to_string());
    let child = trapping(&k, &ku, &["USR1", "USR2", "HUP"], None);
    fx.service("svc").respawn().script(&format!(
        "sh -c '{}' &\n{}",
        child.replace('\'', "'\\''"),
        trapping(&r, &u, &["USR1", "USR2", "HUP"], None)
    ));
    let (rec2, up2) = (fx.mark("rec2"), fx.mark("up2"));
    let (r2, u2) = (rec2.display().to_string(), up2.display().to_string());
    fx.service("other")
        .respawn()
        .file("reload-signal", "10\n")
        .script(&trapping(&r2, &u2, &["USR1", "HUP"], None));
    fx.service("init").wants("svc").wants("other");
    let c = fx.boot_ctl();
    c.wait_until("the traps", TIMEOUT, |_| {
        fx.has_mark("up") && fx.has_mark("kid-up") && fx.has_mark("up2")
    });
    let pid = c.ctl(&["pid", "svc"]).stdout.trim().to_string();

    let out = ctl_code(&c, &["signal", "svc", "USR1"], 0);
    c.check(
        out.stdout.trim() == format!("sent SIGUSR1 to svc (pid {pid})"),
        &out.dump(),
    );
    wait_word(&c, &fx, "rec", "usr1");
    let out = ctl_code(&c, &["signal", "--all", "svc", "sigusr2"], 0);
    c.check(out.stdout.contains("every process of svc"), &out.dump());
    wait_word(&c, &fx, "rec", "usr2");
    wait_word(&c, &fx, "kid", "usr2");
    ctl_code(&c, &["reload", "svc"], 0);
    wait_word(&c, &fx, "rec", "hup");
    let out = ctl_code(&c, &["reload", "other"], 0);
    c.check(out.stdout.contains("sent SIGUSR1 to other"), &out.dump());
    wait_word(&c, &fx, "rec2", "usr1");
    // Given time to arrive, nothing else did.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (main, kid, other) = (
        fx.read_mark("rec"),
        fx.read_mark("kid"),
        fx.read_mark("rec2"),
    );
    c.check_all(vec![
        (
            main == "usr1\nusr2\nhup\n",
            format!("main recorded {main:?}"),
        ),
        (kid == "usr2\n", format!("the child recorded {kid:?}")),
        (other == "usr1\n", format!("other recorded {other:?}")),
    ]);
}

/// Proves a service that is not running gives exit 1 ("not running") for
/// `signal` and `reload` (a stopped respawn service, a once service that
/// is done), and bad signals are usage errors (exit 2) of the client.
#[test]
fn not_running_and_bad_signals_are_refused() {
    let fx = Fixture::new();
    fx.service("once").script("exit 0");
    fx.service("idle").respawn().script("exec sleep 1000");
    fx.service("init").wants("once");
    let c = fx.boot_ctl();
    c.expect_outcome("once", "done");
    for args in [
        ["signal", "once", "TERM"].as_slice(),
        &["reload", "once"],
        &["signal", "idle", "USR1"],
        &["reload", "idle"],
    ] {
        let out = ctl_code(&c, args, 1);
        c.check(out.stderr.contains("is not running"), &out.dump());
    }
    for sig in ["0", "65", "FOO", "SIG"] {
        ctl_code(&c, &["signal", "idle", sig], 2);
    }
    ctl_code(&c, &["signal", "nothing-here", "USR1"], 2);
    ctl_code(&c, &["reload", "--all", "idle"], 2);
}

/// Proves `signal` and `reload` need root: run inside cinit's namespaces
/// as uid 65534 each exits 4 with "permission denied: VERB needs root",
/// and the service recorded nothing; as uid 0 the same `signal` works.
#[test]
fn others_may_not_signal() {
    if !runs_as_root("uid 65534 as the client") {
        return;
    }
    let fx = Fixture::new();
    let exe = fx.ctl_for_others();
    let (rec, up) = (fx.mark("rec"), fx.mark("up"));
    let (r, u) = (rec.display().to_string(), up.display().to_string());
    fx.service("svc")
        .respawn()
        .script(&trapping(&r, &u, &["USR1", "HUP"], None));
    fx.service("init").wants("svc");
    let c = fx.boot_ctl_real_root();
    c.wait_until("the traps", TIMEOUT, |_| fx.has_mark("up"));
    for (args, verb) in [
        (["signal", "svc", "USR1"].as_slice(), "signal"),
        (&["signal", "--all", "svc", "USR1"], "signal"),
        (&["reload", "svc"], "reload"),
    ] {
        let out = c.ctl_in_ns_as(65534, &exe, args);
        c.check(
            out.code() == Some(4)
                && out
                    .stderr
                    .contains(&format!("permission denied: {verb} needs root")),
            &format!("{args:?} as nobody:\n{}", out.dump()),
        );
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    c.check(!fx.has_mark("rec"), "the service got a signal from nobody");
    let out = c.ctl_in_ns_as(0, &exe, &["signal", "svc", "USR1"]);
    c.check(out.code() == Some(0), &out.dump());
    wait_word(&c, &fx, "rec", "usr1");
}

/// Proves bad signal files are refused with the file and the reason:
/// `cinit-ctl check` reports a `stop-signal` of `FOO` and a
/// `reload-signal` of `0` (exit 1), and cinit fails the start of each
/// service (`failed`, the reason naming the file) instead of running it.
#[test]
fn bad_signal_files_fail_check_and_start() {
    let fx = Fixture::new();
    fx.service("a")
        .respawn()
        .file("stop-signal", "FOO\n")
        .script(&sh_touch(&fx.mark("a-ran")));
    fx.service("b")
        .respawn()
        .file("reload-signal", "0\n")
        .script(&sh_touch(&fx.mark("b-ran")));
    fx.service("init").wants("a").wants("b");

    let mut cmd = Command::new(ctl_bin());
    cmd.args(["check", &fx.etc().display().to_string()]);
    let out = run(cmd, fx.path(), TIMEOUT);
    let a = fx.svc_path("a").join("stop-signal");
    let b = fx.svc_path("b").join("reload-signal");
    let all = format!("{}{}", out.stdout, out.stderr);
    let c = fx.boot();
    c.check_all(vec![
        (
            out.code() == Some(1),
            format!("check's exit\n{}", out.dump()),
        ),
        (
            all.contains(&format!("{}: a: not a signal", a.display())),
            format!("check on a\n{}", out.dump()),
        ),
        (
            all.contains(&format!("{}: b: not a signal", b.display())),
            format!("check on b\n{}", out.dump()),
        ),
    ]);
    c.expect_failed_with("a", "a/stop-signal: not a signal (a name such as INT");
    c.expect_failed_with("b", "b/reload-signal: not a signal (a name such as INT");
    c.check(
        !fx.has_mark("a-ran") && !fx.has_mark("b-ran"),
        "a service with a bad signal file ran",
    );
}
