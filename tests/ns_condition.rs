//! A service's `condition` file, with the real `cinit` as PID 1 in
//! namespaces: a start whose condition does not hold runs nothing and
//! leaves the service `skipped` with the condition as its reason (console,
//! `cinit-ctl status`, `list`, `--json`), its needers start, `wait` counts
//! it as up; a condition that holds runs it; the condition is checked again
//! at the next `cinit-ctl start`; `cmdline` conditions read the kernel
//! command line; a respawn service's restarts do not check it; a bad file
//! fails the start naming the file and line; the previous release and its
//! `cinit-ctl` against this build (`CINIT_PREV_BIN`).
//!
//! `cmdline`: in these namespaces `/proc/cmdline` is the host's (procfs
//! shows the kernel's one command line in every PID namespace), so the
//! tests read the host's file themselves and use a word that is on it, and
//! a made-up word that surely is not.

#![cfg(test)]

mod common;

use common::*;
use std::time::Duration;

/// Generous: the machine running the tests may be loaded.
const LONG: Duration = Duration::from_secs(20);

/// A word that is on no kernel command line.
const ABSENT_WORD: &str = "cinit.test-word-nobody-passes";

/// `cinit-ctl ARGS`, asserted to exit `code`; its stdout.
#[track_caller]
fn ctl_ok(c: &Cinit, args: &[&str], code: i32) -> String {
    let out = c.ctl(args);
    c.check(
        out.code() == Some(code),
        &format!("cinit-ctl {args:?} should exit {code}: {}", out.dump()),
    );
    out.stdout
}

/// Proves a service whose condition does not hold is `skipped` with the
/// failed condition as its reason, its `on` never runs, a service that
/// needs it and one that wants it start, and `status`, `list`, `--json`
/// and `wait` show it (wait exits 0: skipped counts as up).
#[test]
fn a_failing_condition_skips_the_service_and_its_needers_start() {
    let fx = Fixture::new();
    let gone = fx.path().join("no-disk");
    fx.service("disk")
        .file(
            "condition",
            &format!("# only with a disk\nexists {}\n", gone.display()),
        )
        .script(&sh_touch(&fx.mark("disk-ran")));
    fx.service("user")
        .needs("disk")
        .script(&sh_touch(&fx.mark("user-ran")));
    fx.service("fan")
        .wants("disk")
        .script(&sh_touch(&fx.mark("fan-ran")));
    fx.service("init").wants("user").wants("fan");
    let c = fx.boot_ctl();
    let line = c.wait_state_for("skipped", "disk", LONG);
    let reason = format!("condition: exists {}", gone.display());
    c.check(
        line.rest().contains(&reason),
        &format!("console: {}", line.line),
    );
    c.expect_outcome("user", "done");
    c.expect_outcome("fan", "done");
    c.check(!fx.has_mark("disk-ran"), "disk's on ran");
    c.check(
        fx.has_mark("user-ran") && fx.has_mark("fan-ran"),
        "needer/wanter did not run",
    );

    let status = ctl_ok(&c, &["status", "disk"], 0);
    c.check(
        status.starts_with("disk: skipped, for ") && status.trim_end().ends_with(&reason),
        &format!("status: {status}"),
    );
    let list = ctl_ok(&c, &["list"], 0);
    c.check(
        list.lines()
            .any(|l| l.contains("disk") && l.contains("skipped")),
        &format!("list: {list}"),
    );
    let json = ctl_ok(&c, &["status", "--json", "disk"], 0);
    c.check(
        json.contains("\"state\":\"skipped\"")
            && json.contains(&format!("\"reason\":\"{reason}\"")),
        &format!("json: {json}"),
    );
    let listed = ctl_ok(&c, &["list", "--json"], 0);
    c.check(
        listed.contains("\"skipped\""),
        &format!("list --json: {listed}"),
    );
    let waited = ctl_ok(&c, &["wait", "--timeout", "10", "disk"], 0);
    c.check(waited.contains("disk: skipped"), &format!("wait: {waited}"));
    // `start` of a skipped service answers at once, and succeeds.
    ctl_ok(&c, &["start", "disk"], 0);
    c.check(
        !fx.has_mark("disk-ran"),
        "disk's on ran at the second start",
    );
}

/// Proves a service whose every condition holds runs: `exists` of a file,
/// `directory` of a directory, `!exists` of nothing, and a final symbolic
/// link is followed.
#[test]
fn a_holding_condition_runs_the_service() {
    let fx = Fixture::new();
    let file = fx.path().join("flag");
    std::fs::write(&file, "").unwrap();
    let link = fx.path().join("to-marks");
    std::os::unix::fs::symlink(fx.marks(), &link).unwrap();
    let text = format!(
        "exists {}\ndirectory {}\n!exists {}\n!directory {}\n",
        file.display(),
        link.display(),
        fx.path().join("nothing").display(),
        file.display()
    );
    fx.service("init")
        .file("condition", &text)
        .script(&sh_touch(&fx.mark("ran")));
    let c = fx.boot();
    c.expect_outcome("init", "done");
    c.check(fx.has_mark("ran"), "on did not run");
    c.check(!c.has_state("skipped", "init"), "skipped");
}

/// Proves the condition is checked again at each `cinit-ctl start`: skipped
/// at boot, then, once the path exists, the next start runs it.
#[test]
fn checked_again_at_the_next_start() {
    let fx = Fixture::new();
    let flag = fx.path().join("later");
    fx.service("late")
        .file("condition", &format!("exists {}\n", flag.display()))
        .script(&sh_touch(&fx.mark("late-ran")));
    fx.service("init").wants("late");
    let c = fx.boot_ctl();
    c.wait_state_for("skipped", "late", LONG);
    c.check(!fx.has_mark("late-ran"), "ran at boot");
    std::fs::write(&flag, "").unwrap();
    let out = ctl_ok(&c, &["start", "late"], 0);
    c.check(out.contains("late: done"), &format!("start: {out}"));
    c.check(fx.has_mark("late-ran"), "did not run once the path existed");
    // And the other way: gone again, a restart skips it.
    std::fs::remove_file(&flag).unwrap();
    let out = ctl_ok(&c, &["restart", "late"], 0);
    c.check(out.contains("late: skipped"), &format!("restart: {out}"));
}

/// The first word of the host's kernel command line (the namespaces see
/// the same one).
fn a_word_on_the_cmdline() -> String {
    let text = std::fs::read_to_string("/proc/cmdline").unwrap();
    text.split_whitespace()
        .next()
        .expect("an empty kernel command line")
        .to_string()
}

/// Proves `cmdline` conditions against the real `/proc/cmdline`: a word on
/// it holds (and, for `KEY=VALUE`, its `KEY` alone), a word not on it does
/// not, and `!` turns both round.
#[test]
fn cmdline_conditions_read_the_kernel_command_line() {
    let fx = Fixture::new();
    let word = a_word_on_the_cmdline();
    let mut cases = vec![
        ("on", format!("cmdline {word}"), true),
        ("off", format!("cmdline {ABSENT_WORD}"), false),
        ("not-off", format!("!cmdline {ABSENT_WORD}"), true),
        ("not-on", format!("!cmdline {word}"), false),
    ];
    if let Some((key, _)) = word.split_once('=') {
        cases.push(("key", format!("cmdline {key}"), true));
    }
    let init = fx.service("init");
    for (name, cond, _) in &cases {
        fx.service(name)
            .file("condition", &format!("{cond}\n"))
            .script(&sh_touch(&fx.mark(name)));
        init.wants(name);
    }
    let c = fx.boot();
    for (name, cond, holds) in &cases {
        if *holds {
            c.expect_outcome(name, "done");
            c.check(fx.has_mark(name), &format!("{name} ({cond}) did not run"));
        } else {
            let line = c.wait_state_for("skipped", name, LONG);
            c.check(
                line.rest().contains(&format!("condition: {cond}")),
                &format!("{name}: {}", line.line),
            );
            c.check(!fx.has_mark(name), &format!("{name} ({cond}) ran"));
        }
    }
}

/// Proves a respawn service's restarts do not check its condition: once
/// running, it is restarted after each exit even when its condition no
/// longer holds (a crash stays a crash, not a `skipped`).
#[test]
fn a_respawn_is_not_checked_again() {
    let fx = Fixture::new();
    let flag = fx.path().join("flag");
    std::fs::write(&flag, "").unwrap();
    let count = fx.mark("count");
    fx.service("d")
        .respawn()
        .file("condition", &format!("exists {}\n", flag.display()))
        .script(&format!("echo x >> '{}'\nsleep 0.5", count.display()));
    fx.service("init").wants("d");
    let c = fx.boot();
    c.wait_state_for("running", "d", LONG);
    std::fs::remove_file(&flag).unwrap();
    c.wait_until("d restarted three times", LONG, |_| {
        std::fs::read_to_string(&count)
            .unwrap_or_default()
            .lines()
            .count()
            >= 4
    });
    c.check(!c.has_state("skipped", "d"), "a restart was skipped");
}

/// Proves a `condition` file that does not parse fails the start, naming
/// the file and the line, and runs nothing.
#[test]
fn a_bad_condition_file_fails_the_start() {
    let fx = Fixture::new();
    fx.service("init")
        .file("condition", "exists /x\nmounted /y\n")
        .script(&sh_touch(&fx.mark("ran")));
    let c = fx.boot();
    c.expect_failed_with("init", "condition: line 2: unknown condition \"mounted\"");
    c.check(!fx.has_mark("ran"), "ran");
}

/// Proves the compatibility the protocol's history promises, against the
/// previous release (`CINIT_PREV_BIN`, as `ns_compat`): the previous cinit
/// ignores a `condition` file and runs the service; a hot update to this
/// build keeps it `done` (a condition is checked at a start, and the
/// update is none); the next `restart` checks it and skips the service;
/// the previous release's `cinit-ctl` shows `skipped` and its reason as
/// they are, and counts it as not up (its `wait` exits 1), while this
/// build's `wait` exits 0.
#[test]
fn the_previous_release_and_its_client() {
    let Some(prev) = std::env::var_os("CINIT_PREV_BIN").map(std::path::PathBuf::from) else {
        assert!(
            std::env::var_os("MAKELEVEL").is_none(),
            "CINIT_PREV_BIN is not set, but make runs this test"
        );
        eprintln!("skipped: CINIT_PREV_BIN is not set (see tests/ns_compat.rs)");
        return;
    };
    let prev_ctl = prev.with_file_name("cinit-ctl");
    let fx = Fixture::new();
    let absent = fx.path().join("absent");
    fx.service("gated")
        .file("condition", &format!("exists {}\n", absent.display()))
        .script(&sh_touch(&fx.mark("ran")));
    fx.service("init").wants("gated");
    let bin = fx.path().join("bin/cinit");
    std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
    std::fs::copy(&prev, &bin).unwrap();
    let c = Cinit::launch_with(
        &fx,
        &[],
        &[],
        &LaunchOpts {
            cinit: Some(bin.clone()),
            ctl_dir: Some(fx.ctl_dir()),
            ..LaunchOpts::default()
        },
    );
    c.wait_listening();
    c.expect_outcome("gated", "done");
    c.check(fx.has_mark("ran"), "the previous release did not run it");
    let tmp = bin.with_extension("new");
    std::fs::copy(cinit_bin(), &tmp).unwrap();
    std::fs::rename(&tmp, &bin).unwrap();
    ctl_ok(&c, &["update"], 0);
    let status = ctl_ok(&c, &["status", "gated"], 0);
    c.check(
        status.starts_with("gated: done"),
        &format!("after the update: {status}"),
    );
    let out = ctl_ok(&c, &["restart", "gated"], 0);
    c.check(out.contains("gated: skipped"), &format!("restart: {out}"));

    let old = |args: &[&str]| {
        let out = std::process::Command::new(&prev_ctl)
            .args(args)
            .env_clear()
            .env("CINIT_CTL_DIR", c.ctl_dir_via_proc())
            .current_dir("/")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, text) = old(&["status", "gated"]);
    let reason = format!("condition: exists {}", absent.display());
    c.check(
        code == Some(0) && text.starts_with("gated: skipped") && text.contains(&reason),
        &format!("the previous cinit-ctl's status: {code:?} {text}"),
    );
    let (code, text) = old(&["wait", "--timeout", "10", "gated"]);
    c.check(
        code == Some(1) && text.contains("gated: skipped"),
        &format!("the previous cinit-ctl's wait: {code:?} {text}"),
    );
    ctl_ok(&c, &["wait", "--timeout", "10", "gated"], 0);
}
