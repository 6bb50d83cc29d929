//! `cinit-ctl check [DIR]` (offline validation of a service tree) and the
//! PID-1 guard of `cinit` itself. Nothing here boots cinit as PID 1.

#![cfg(test)]

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

const RUN_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `cinit-ctl ARGS` with a cleared environment plus `env`.
fn ctl(fx: &Fixture, args: &[&str], env: &[(&str, &str)]) -> RunOutput {
    let mut cmd = Command::new(ctl_bin());
    cmd.args(args).env_clear().envs(env.iter().copied());
    run(cmd, fx.path(), RUN_TIMEOUT)
}

/// A valid tree: root with needs and wants, a respawn script service with
/// params/env/delay, a nested name (`getty/1`) with an absolute `on` symlink,
/// a relative `on` symlink, a service without `on`, and dot entries (one a
/// broken link) that must be ignored. Every script would leave a marker.
fn good_tree(fx: &Fixture) {
    fx.service("web")
        .respawn()
        .script(&sh_touch(&fx.mark("web")))
        .params(&["--port", "80", ""])
        .env(&[PATH_ENV, "MODE=prod", "EMPTY="])
        .file("delay", "5\n");
    fx.service("getty/1")
        .respawn()
        .on_link("/bin/sleep")
        .params(&["1000"]);
    let rel = fx.service("relsvc");
    rel.on_link("real").file("real", "#!/bin/sh\nexit 0\n");
    std::fs::set_permissions(
        rel.dir().join("real"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    fx.service("group");
    fx.service("mount")
        .script(&sh_touch(&fx.mark("mount")))
        .wants("group");
    fx.service("init")
        .needs("mount")
        .needs("web")
        .wants("getty/1")
        .wants("relsvc")
        .need_link(".disabled", fx.svc_path("gone"))
        .want_link(".old", "/nonexistent/cinit-test");
}

/// Proves `cinit-ctl check DIR` accepts a valid tree: exit 0 with a non-empty
/// summary, and no service was started (checking is offline).
#[test]
fn check_good_tree_exits_0() {
    let fx = Fixture::new();
    good_tree(&fx);
    let etc = fx.etc();
    let out = ctl(&fx, &["check", etc.to_str().unwrap()], &[]);
    assert_eq!(out.code(), Some(0), "expected exit 0\n{}", out.dump());
    assert!(
        !out.all().trim().is_empty(),
        "no summary printed\n{}",
        out.dump()
    );
    assert!(
        !fx.has_mark("web") && !fx.has_mark("mount"),
        "check ran a service"
    );
}

/// Proves `cinit-ctl check` without DIR uses `$CINIT_DIR`: exit 0 for a good
/// tree, and exit 1 when `$CINIT_DIR` points at a tree with a problem.
#[test]
fn check_defaults_to_cinit_dir() {
    let good = Fixture::new();
    good_tree(&good);
    let etc = good.etc();
    let out = ctl(&good, &["check"], &[("CINIT_DIR", etc.to_str().unwrap())]);
    assert_eq!(
        out.code(),
        Some(0),
        "good tree via $CINIT_DIR\n{}",
        out.dump()
    );

    let bad = Fixture::new();
    bad.service("init").file("delay", "soon\n");
    let etc = bad.etc();
    let out = ctl(&bad, &["check"], &[("CINIT_DIR", etc.to_str().unwrap())]);
    assert_eq!(
        out.code(),
        Some(1),
        "bad tree via $CINIT_DIR\n{}",
        out.dump()
    );
    assert!(
        has_word(&out.all(), "delay"),
        "problem not reported\n{}",
        out.dump()
    );
}

/// One planted problem: the service it is in, and a word that names the file.
struct Problem {
    service: &'static str,
    file_word: &'static str,
}

/// Proves `cinit-ctl check` finds and lists every problem, one per line, each
/// naming the service and the file: broken need link, broken want link, need
/// cycle, non-executable `on`, broken `on` symlink, non-numeric and negative
/// `delay`, `on.env` line without `=`, unreadable `on.params` (a directory).
/// Exit 1, and the valid service `fine` is not reported.
#[test]
fn check_bad_tree_lists_every_problem() {
    let fx = Fixture::new();
    fx.service("fine").script("exit 0");
    fx.service("brokenneed")
        .script("exit 0")
        .need_link("gone", fx.svc_path("gone"));
    fx.service("brokenwant")
        .script("exit 0")
        .want_link("lost", "/nonexistent/cinit-test/lost");
    fx.service("cyc1").needs("cyc2");
    fx.service("cyc2").needs("cyc1");
    fx.service("noexec").script_mode("exit 0", 0o644);
    fx.service("dangling")
        .on_link("/nonexistent/cinit-test/prog");
    fx.service("baddelay")
        .script("exit 0")
        .file("delay", "soon\n");
    fx.service("negdelay")
        .script("exit 0")
        .file("delay", "-1\n");
    fx.service("badenv")
        .script("exit 0")
        .env_raw("PATH=/bin\nNOEQUALS\n");
    let dirparams = fx.service("dirparams");
    dirparams.script("exit 0");
    std::fs::create_dir(dirparams.dir().join("on.params")).unwrap();
    let init = fx.service("init");
    for s in [
        "fine",
        "brokenneed",
        "brokenwant",
        "cyc1",
        "noexec",
        "dangling",
        "baddelay",
        "negdelay",
        "badenv",
        "dirparams",
    ] {
        init.wants(s);
    }

    let etc = fx.etc();
    let out = ctl(&fx, &["check", etc.to_str().unwrap()], &[]);
    assert_eq!(out.code(), Some(1), "expected exit 1\n{}", out.dump());
    let text = out.all();
    let lines: Vec<&str> = text.lines().collect();

    let problems = [
        Problem {
            service: "brokenneed",
            file_word: "gone",
        },
        Problem {
            service: "brokenwant",
            file_word: "lost",
        },
        Problem {
            service: "noexec",
            file_word: "on",
        },
        Problem {
            service: "dangling",
            file_word: "on",
        },
        Problem {
            service: "baddelay",
            file_word: "delay",
        },
        Problem {
            service: "negdelay",
            file_word: "delay",
        },
        Problem {
            service: "badenv",
            file_word: "on.env",
        },
        Problem {
            service: "dirparams",
            file_word: "on.params",
        },
    ];
    let mut missing = Vec::new();
    for p in &problems {
        if !lines
            .iter()
            .any(|l| has_word(l, p.service) && has_word(l, p.file_word))
        {
            missing.push(format!("{} ({})", p.service, p.file_word));
        }
    }
    if !lines
        .iter()
        .any(|l| l.contains("cycle") && l.contains("cyc1") && l.contains("cyc2"))
    {
        missing.push("cycle cyc1 -> cyc2".to_owned());
    }
    assert!(
        missing.is_empty(),
        "problems not reported on a line naming service and file: {missing:?}\n{}",
        out.dump()
    );

    let bad_names = [
        "brokenneed",
        "brokenwant",
        "cyc1",
        "cyc2",
        "noexec",
        "dangling",
        "baddelay",
        "negdelay",
        "badenv",
        "dirparams",
    ];
    let problem_lines = lines
        .iter()
        .filter(|l| bad_names.iter().any(|n| has_word(l, n)))
        .count();
    assert!(
        problem_lines >= 9,
        "expected one line per problem (>= 9), found {problem_lines}\n{}",
        out.dump()
    );
    assert!(
        !lines.iter().any(|l| has_word(l, "fine")),
        "the valid service `fine` was reported\n{}",
        out.dump()
    );
}

/// Proves `cinit-ctl check` validates `sockets` files: a valid one is not
/// reported, a bad one is (exit 1) with its file, service, line and reason,
/// and so is an address two services declare.
#[test]
fn check_reports_bad_and_shared_sockets() {
    let fx = Fixture::new();
    fx.service("web").script("exit 0").file(
        "sockets",
        "# the site\nhttp tcp:8080\nctl unix:/run/web.ctl mode=0600\n",
    );
    fx.service("typo")
        .script("exit 0")
        .file("sockets", "dns udp:53\n\ndns udp:5353\n");
    fx.service("twin")
        .script("exit 0")
        .file("sockets", "http tcp:0.0.0.0:8080\n");
    fx.service("init").wants("web").wants("typo").wants("twin");
    let etc = fx.etc();
    let out = ctl(&fx, &["check", etc.to_str().unwrap()], &[]);
    assert_eq!(out.code(), Some(1), "expected exit 1\n{}", out.dump());
    let text = out.all();
    let typo = fx.svc_path("typo").join("sockets");
    let want = format!(
        "{}: typo: line 3: the name \"dns\" is already used on line 1",
        typo.display()
    );
    assert!(text.contains(&want), "missing {want:?}\n{}", out.dump());
    // Reported at whichever of the two comes second, naming the other.
    assert!(
        text.lines()
            .any(|l| l.contains("tcp:0.0.0.0:8080 is also a socket of")
                && has_word(l, "web")
                && has_word(l, "twin")),
        "the shared address is not reported\n{}",
        out.dump()
    );
    assert!(
        out.stderr.contains("2 problem(s)"),
        "more than those two reported\n{}",
        out.dump()
    );
}

/// Proves `cinit-ctl check` validates `watchdog` files: a respawn
/// service's valid one (`0.5`) is not reported; a respawn service's `0` is,
/// with its file, service and reason; a once service's is reported as
/// ignored (only a respawn service is watched), whatever it holds. Exit 1
/// with exactly those two problems.
#[test]
fn check_reports_watchdog_files() {
    let fx = Fixture::new();
    fx.service("good")
        .respawn()
        .script("exit 0")
        .file("watchdog", "0.5\n");
    fx.service("zero")
        .respawn()
        .script("exit 0")
        .file("watchdog", "0\n");
    fx.service("oneshot")
        .script("exit 0")
        .file("watchdog", "1\n");
    fx.service("init")
        .wants("good")
        .wants("zero")
        .wants("oneshot");
    let etc = fx.etc();
    let out = ctl(&fx, &["check", etc.to_str().unwrap()], &[]);
    assert_eq!(out.code(), Some(1), "expected exit 1\n{}", out.dump());
    let text = out.all();
    let want = format!(
        "{}: zero: 0 is no time; write seconds with up to three decimals, \
         more than 0 and at most 86400",
        fx.svc_path("zero").join("watchdog").display()
    );
    assert!(text.contains(&want), "missing {want:?}\n{}", out.dump());
    let want = format!(
        "{}: oneshot: ignored: not a respawn service",
        fx.svc_path("oneshot").join("watchdog").display()
    );
    assert!(text.contains(&want), "missing {want:?}\n{}", out.dump());
    assert!(
        !text.lines().any(|l| has_word(l, "good")),
        "the valid watchdog was reported\n{}",
        out.dump()
    );
    assert!(
        out.stderr.contains("2 problem(s)"),
        "more than those two reported\n{}",
        out.dump()
    );
}

/// Proves `cinit-ctl check` validates `notify-socket` with file and
/// reason: text in it (it must be empty), together with
/// `notification-fd` or `ready-probe` (one way to say ready), and in a
/// once service (ignored); an empty one in a respawn service is fine.
#[test]
fn check_reports_bad_notify_socket_files() {
    let fx = Fixture::new();
    fx.service("good")
        .respawn()
        .script("exit 0")
        .file("notify-socket", " \n");
    fx.service("text")
        .respawn()
        .script("exit 0")
        .file("notify-socket", "yes\n");
    fx.service("both")
        .respawn()
        .script("exit 0")
        .file("notify-socket", "")
        .file("notification-fd", "5\n");
    fx.service("probed")
        .respawn()
        .script("exit 0")
        .file("notify-socket", "")
        .file("ready-probe", "tcp:127.0.0.1:80\n");
    fx.service("once")
        .script("exit 0")
        .file("notify-socket", "");
    let init = fx.service("init");
    for s in ["good", "text", "both", "probed", "once"] {
        init.wants(s);
    }
    let etc = fx.etc();
    let out = ctl(&fx, &["check", etc.to_str().unwrap()], &[]);
    assert_eq!(out.code(), Some(1), "expected exit 1\n{}", out.dump());
    let text = out.all();
    let line = |svc: &str, why: &str| {
        let file = fx.svc_path(svc).join("notify-socket");
        format!("{}: {svc}: {why}", file.display())
    };
    for want in [
        line(
            "text",
            "not empty; the file's presence is the setting: leave it empty",
        ),
        line(
            "both",
            "notification-fd is there too: choose one way to say the service is ready",
        ),
        line(
            "probed",
            "ready-probe is there too: choose one way to say the service is ready",
        ),
        line(
            "once",
            "ignored: not a respawn service (a once service is up when on exits 0)",
        ),
    ] {
        assert!(text.contains(&want), "missing {want:?}\n{}", out.dump());
    }
    assert!(
        !text.contains("good:"),
        "the good one is reported\n{}",
        out.dump()
    );
    assert!(out.stderr.contains("4 problem(s)"), "{}", out.dump());
}

/// Proves `cinit-ctl check` on a directory that does not exist exits 2 with a
/// message on stderr.
/// Proves `cinit-ctl check` on a directory that does not exist exits 2 with a
/// message on stderr.
#[test]
fn check_missing_dir_exits_2() {
    let fx = Fixture::new();
    let missing = fx.path().join("no-such-dir");
    let out = ctl(&fx, &["check", missing.to_str().unwrap()], &[]);
    assert_eq!(out.code(), Some(2), "expected exit 2\n{}", out.dump());
    assert!(
        !out.stderr.trim().is_empty(),
        "no error message\n{}",
        out.dump()
    );
}

/// Proves usage errors exit 2 with a message: an unknown option to `check`,
/// too many arguments to `check`, and an unknown subcommand.
#[test]
fn usage_errors_exit_2() {
    let fx = Fixture::new();
    good_tree(&fx);
    let etc = fx.etc();
    let etc = etc.to_str().unwrap();
    for args in [
        vec!["check", "--no-such-option", etc],
        vec!["check", etc, etc],
        vec!["no-such-subcommand"],
    ] {
        let out = ctl(&fx, &args, &[]);
        assert_eq!(out.code(), Some(2), "cinit-ctl {args:?}\n{}", out.dump());
        assert!(
            !out.stderr.trim().is_empty(),
            "cinit-ctl {args:?}: no usage message on stderr\n{}",
            out.dump()
        );
    }
}

/// Proves `cinit` refuses to run when it is not PID 1: exit status 1 and
/// `must run as PID 1` on stderr, without starting any service. For safety it
/// runs in a user namespace only (no PID namespace, so still not PID 1): if
/// the guard were missing, reboot(2) would fail with EPERM there.
#[test]
fn cinit_refuses_when_not_pid1() {
    let fx = Fixture::new();
    fx.service("init").script(&sh_touch(&fx.mark("init")));
    let console = fx.console_path();
    let mut cmd = Command::new(unshare_bin());
    cmd.args(["--user", "--map-root-user", cinit_bin()])
        .env_clear()
        .env("CINIT_DIR", fx.etc())
        .env("CINIT_CONSOLE", &console);
    let out = run(cmd, fx.path(), RUN_TIMEOUT);
    assert_eq!(out.code(), Some(1), "expected exit 1\n{}", out.dump());
    assert!(
        out.stderr.contains("must run as PID 1"),
        "expected `must run as PID 1` on stderr\n{}",
        out.dump()
    );
    std::thread::sleep(Duration::from_millis(100));
    assert!(!fx.has_mark("init"), "a service ran although cinit refused");
}
