//! Service instances with the real `cinit` as PID 1 in namespaces: a
//! template directory `NAME@` and its instances `NAME@INSTANCE`, started
//! from the CLI with nothing made on disk, or at boot through a link; `%i`
//! and `%%` in the template's `.params` and `.env`; each instance a
//! service of its own (state, log, stop, restart, hot update); bad names
//! refused; `cinit-ctl check` of a tree with templates.

#![cfg(test)]

mod common;

use common::*;
use std::process::Command;
use std::time::Duration;

/// A template `name@`: a respawn shell that says its argument and three
/// variables, then sleeps (one process: the shell `exec`s the sleep, so
/// the service's pid is the sleeper's). `%i` in `on.params` and `on.env`,
/// `%%` and an unknown `%n` in `on.env`.
fn template(fx: &Fixture, name: &str) {
    fx.service(&format!("{name}@"))
        .respawn()
        .script("echo \"hello $1 INST=$INST PCT=$PCT KEEP=$KEEP\"\nexec sleep 1000")
        .params(&["%i"])
        .env(&[PATH_ENV, "INST=tty-%i", "PCT=100%%", "KEEP=%n%"]);
}

/// `cinit-ctl ARGS`, asserted to exit 0.
#[track_caller]
fn ok(c: &Cinit, args: &[&str]) -> String {
    let out = c.ctl(args);
    if out.code() != Some(0) {
        c.fail(&format!(
            "cinit-ctl {args:?}: expected exit 0\n{}",
            out.dump()
        ));
    }
    out.stdout
}

/// The pid `cinit-ctl status NAME` shows (`pid N` in its text).
#[track_caller]
fn pid_of(c: &Cinit, name: &str) -> u32 {
    let text = ok(c, &["status", name]);
    text.split_whitespace()
        .skip_while(|w| *w != "pid" && !w.ends_with("pid:"))
        .nth(1)
        .and_then(|w| w.trim_matches(|ch: char| !ch.is_ascii_digit()).parse().ok())
        .unwrap_or_else(|| c.fail(&format!("no pid in `status {name}`:\n{text}")))
}

/// The line of `cinit-ctl list` for `name`, if any.
fn list_line(c: &Cinit, name: &str) -> Option<String> {
    let out = c.ctl(&["list"]);
    out.stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .map(str::to_owned)
}

/// Proves `cinit-ctl start getty@ttyS1` starts an instance of the
/// template `getty@` without making anything on disk: it runs, `list` and
/// `status` show it under its own name, and its process got `%i` replaced
/// by the instance in its argument and environment, `%%` as `%`, an
/// unknown `%n` and a last `%` kept, and runs in the template's directory.
#[test]
fn a_cli_start_makes_an_instance_without_anything_on_disk() {
    let fx = Fixture::new();
    fx.service("init");
    template(&fx, "getty");
    let c = fx.boot_ctl();
    let out = c.ctl(&["start", "getty@ttyS1"]);
    c.check(
        out.code() == Some(0),
        &format!("start failed\n{}", out.dump()),
    );
    c.wait_state("running", "getty@ttyS1");
    c.wait_until("the instance's greeting", TIMEOUT, |c| {
        c.console().contains("hello ttyS1 ")
    });
    let console = c.console();
    c.check(
        console.contains("hello ttyS1 INST=tty-ttyS1 PCT=100% KEEP=%n%"),
        &format!("%i, %% and %n not as documented:\n{console}"),
    );
    let on_disk: Vec<String> = std::fs::read_dir(fx.svc_root())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    c.check(
        !on_disk.iter().any(|n| n.starts_with("getty@t")),
        &format!("something was made in svc/: {on_disk:?}"),
    );
    let line = list_line(&c, "getty@ttyS1");
    c.check(
        line.as_deref().is_some_and(|l| has_word(l, "running")),
        &format!("list does not show the running instance: {line:?}"),
    );
    let pid = pid_of(&c, "getty@ttyS1");
    let sleeper = c.wait_child_argv(&["sleep", "1000"], None);
    c.check(
        sleeper.ns_pid() == Some(pid as i32),
        &format!("status pid {pid} is not the sleeper {}", sleeper.describe()),
    );
    c.check(
        sleeper.cwd() == fx.svc_path("getty@"),
        &format!(
            "runs in {}, not the template's directory",
            sleeper.cwd().display()
        ),
    );
    c.check(
        sleeper.environ().iter().any(|v| v == "INST=tty-ttyS1"),
        &format!("environment: {:?}", sleeper.environ()),
    );
}

/// Proves two instances of one template are two services: both run side
/// by side with their own pids, each log holds only its own lines, a stop
/// of one leaves the other running, and a restart of one gives it a new
/// pid and leaves the other's.
#[test]
fn two_instances_run_side_by_side_and_stop_and_restart_alone() {
    let fx = Fixture::new();
    fx.service("init");
    template(&fx, "echo");
    let c = fx.boot_ctl();
    ok(&c, &["start", "echo@a", "echo@b"]);
    c.wait_state("running", "echo@a");
    c.wait_state("running", "echo@b");
    let (a, b) = (pid_of(&c, "echo@a"), pid_of(&c, "echo@b"));
    c.check(a != b, &format!("one pid {a} for both"));
    c.wait_until("both greetings", TIMEOUT, |c| {
        let t = c.console();
        t.contains("hello a ") && t.contains("hello b ")
    });
    let log_a = ok(&c, &["log", "echo@a"]);
    c.check(
        log_a.contains("hello a ") && !log_a.contains("hello b "),
        &format!("echo@a's log:\n{log_a}"),
    );
    ok(&c, &["restart", "echo@a"]);
    c.wait_until("echo@a running with a new pid", TIMEOUT, |c| {
        pid_of(c, "echo@a") != a
    });
    c.check(
        pid_of(&c, "echo@b") == b,
        "restarting echo@a changed echo@b's pid",
    );
    ok(&c, &["stop", "echo@a"]);
    let a_line = list_line(&c, "echo@a");
    let b_line = list_line(&c, "echo@b");
    c.check(
        a_line.as_deref().is_some_and(|l| !has_word(l, "running"))
            && b_line.as_deref().is_some_and(|l| has_word(l, "running")),
        &format!("after stop echo@a: {a_line:?} / {b_line:?}"),
    );
    c.check(pid_of(&c, "echo@b") == b, "stopping echo@a touched echo@b");
}

/// Proves a `needs/` link to `…/getty@console` (no such directory) whose
/// template `getty@` exists starts that instance at boot, before the
/// service that needs it, with `%i` = `console`; and a `wants/` link to a
/// second instance starts it too.
#[test]
fn a_link_to_an_instance_starts_it_at_boot() {
    let fx = Fixture::new();
    template(&fx, "getty");
    fx.service("init")
        .need_link("console", "../../getty@console")
        .want_link("second", fx.svc_path("getty@tty2"))
        .script("echo init-after-need");
    let c = fx.boot_ctl();
    c.wait_state("running", "getty@console");
    c.wait_state("running", "getty@tty2");
    c.expect_outcome("init", "done");
    c.check(
        in_order(
            c.find_state("running", "getty@console").map(|s| s.index),
            c.find_state("done", "init").map(|s| s.index),
        ),
        "init ran before the instance it needs was up",
    );
    c.wait_until("the instance's greeting", TIMEOUT, |c| {
        c.console().contains("hello console INST=tty-console")
    });
}

/// Proves requests that cannot name an instance are refused with an error
/// that names the request and says why: a bad instance name (a leading
/// `.`, a `/`, a space), an instance of a template that does not exist,
/// and a template itself; and nothing of them is loaded.
#[test]
fn bad_instance_requests_are_refused_clearly() {
    let fx = Fixture::new();
    fx.service("init");
    template(&fx, "getty");
    let c = fx.boot_ctl();
    for (name, why) in [
        ("getty@.x", "starts with '.'"),
        ("getty@a/b", "\"a/b\" has a character other than"),
        ("getty@a b", "\"a b\" has a character other than"),
        ("nope@tty1", "no template nope@"),
        ("getty@", "is a template"),
    ] {
        let out = c.ctl(&["start", name]);
        c.check(
            out.code() != Some(0) && out.stderr.contains(name) && out.stderr.contains(why),
            &format!(
                "start {name:?}: expected an error with {why:?}\n{}",
                out.dump()
            ),
        );
    }
    let list = ok(&c, &["list"]);
    c.check(
        !list.contains("getty@") && !list.contains("nope@"),
        &format!("a refused name was loaded:\n{list}"),
    );
}

/// Proves an instance survives a hot update: after `cinit-ctl update` it
/// is still running with the same pid, listed under its name, and the
/// new image can stop and start it again (it finds its template from the
/// name alone: nothing on disk names it).
#[test]
fn an_instance_survives_a_hot_update() {
    let fx = Fixture::new();
    fx.service("init");
    template(&fx, "getty");
    let c = fx.boot_ctl();
    ok(&c, &["start", "getty@ttyS2"]);
    c.wait_state("running", "getty@ttyS2");
    let pid = pid_of(&c, "getty@ttyS2");
    let out = ok(&c, &["update"]);
    c.check(out.starts_with("updated:"), &format!("update: {out}"));
    c.check(
        pid_of(&c, "getty@ttyS2") == pid,
        "the instance's pid changed across the update",
    );
    let line = list_line(&c, "getty@ttyS2");
    c.check(
        line.as_deref().is_some_and(|l| has_word(l, "running")),
        &format!("not listed running after the update: {line:?}"),
    );
    ok(&c, &["restart", "getty@ttyS2"]);
    c.wait_until("a new pid after the restart", TIMEOUT, |c| {
        pid_of(c, "getty@ttyS2") != pid
    });
    c.check(
        !c.console().contains("update: lost"),
        &format!("the update lost something:\n{}", c.console()),
    );
}

/// `cinit-ctl check DIR`.
fn check(fx: &Fixture) -> RunOutput {
    let mut cmd = Command::new(ctl_bin());
    cmd.args(["check", fx.etc().to_str().unwrap()]).env_clear();
    run(cmd, fx.path(), Duration::from_secs(10))
}

/// Proves `cinit-ctl check` accepts a tree with a template and links to
/// its instances, checks the template's files as a service's (a bad
/// `delay` in it is reported), and reports a link to an instance whose
/// template does not exist, and one with a bad instance name, naming the
/// link's file.
#[test]
fn check_validates_templates_and_links_to_instances() {
    let fx = Fixture::new();
    template(&fx, "getty");
    fx.service("init")
        .need_link("console", "../../getty@console")
        .want_link("tty2", fx.svc_path("getty@tty2"));
    let out = check(&fx);
    assert_eq!(out.code(), Some(0), "good tree\n{}", out.dump());

    fx.service("getty@").file("delay", "soon\n");
    fx.service("init")
        .want_link("ghost", "../../ghost@x")
        .want_link("dotted", "../../getty@.x");
    let out = check(&fx);
    let text = out.all();
    assert_eq!(out.code(), Some(1), "bad tree\n{}", out.dump());
    for needle in [
        "getty@/delay",
        "init/wants/ghost",
        "and no template ghost@ (ignored)",
        "init/wants/dotted",
        "starts with '.'",
    ] {
        assert!(text.contains(needle), "{needle:?} not reported\n{text}");
    }
}
