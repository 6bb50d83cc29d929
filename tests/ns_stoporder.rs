//! Stop order and groupings, with the real `cinit` as PID 1 in namespaces
//! (issue 18, bugs 4 and 5): a service stops only after every service that
//! needs **or wants** it and is being stopped too — in a shutdown, in
//! rescue, and in `cinit-ctl stop` — while a wanter that keeps running holds
//! nothing back; and `stop X; start X` leaves the system where it was,
//! because a grouping root (no `on`, no `off`) reached by the stop's
//! cascade is parked in `waiting`, not stopped, and is `done` again once
//! its needs are up (also across a hot update).
//!
//! Order is read from one mark file the services append to: `term NAME`
//! when SIGTERM reaches the main process, `end NAME` just before it exits
//! (after lingering a while, so an overlap would show).

#![cfg(test)]

mod common;

use common::*;
use std::fs;
use std::process::Stdio;
use std::thread::sleep;
use std::time::{Duration, Instant};

/// Deadline for a whole shutdown, from the request to the end of PID 1.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// A respawn service that, on SIGTERM, appends `term NAME` to mark
/// `order`, lingers `linger` seconds, appends `end NAME` and exits 0. It
/// creates mark `up-NAME` once its trap is set (see [`wait_traps`]).
fn logger(fx: &Fixture, name: &str, linger: &str) {
    let o = fx.mark("order");
    let o = o.display();
    fx.service(name).respawn().script(&format!(
        "trap 'echo \"term {name}\" >> \"{o}\"; sleep {linger}; \
         echo \"end {name}\" >> \"{o}\"; exit 0' TERM\n\
         {}\n\
         while :; do sleep 0.1; done",
        sh_touch(&fx.mark(&format!("up-{name}")))
    ));
}

/// Waits until each of `names` has set its SIGTERM trap: a signal that
/// came before would kill the shell at once, without a mark.
fn wait_traps(c: &Cinit, fx: &Fixture, names: &[&str]) {
    c.wait_until("the services' SIGTERM traps", TIMEOUT, |_| {
        names.iter().all(|n| fx.has_mark(&format!("up-{n}")))
    });
}

/// The tree of the server, small: `syslog` (s) is wanted by `cron`
/// (a, slow to stop: 0.6 s) and needed by `web` (b, quick: 0.1 s); `init`,
/// a grouping, needs both. Without wants in the stop order, syslog would
/// get SIGTERM as soon as web is down, long before cron has ended.
fn server(fx: &Fixture) {
    logger(fx, "syslog", "0.1");
    logger(fx, "cron", "0.6");
    logger(fx, "web", "0.1");
    fx.service("cron").wants("syslog");
    fx.service("web").needs("syslog");
    fx.service("init").needs("cron").needs("web");
}

/// The events of mark `order`, in order.
fn events(fx: &Fixture) -> Vec<String> {
    if !fx.has_mark("order") {
        return Vec::new();
    }
    fx.read_mark("order").lines().map(str::to_owned).collect()
}

/// Checks that `syslog` got SIGTERM only after `cron` and `web` had ended,
/// and that each of them ended (`term` then `end`).
fn syslog_last(fx: &Fixture) -> Vec<(bool, String)> {
    let ev = events(fx);
    let pos = |e: &str| ev.iter().position(|x| x == e);
    let mut checks = Vec::new();
    for (who, why) in [("cron", "wants"), ("web", "needs")] {
        let (end, term) = (pos(&format!("end {who}")), pos("term syslog"));
        checks.push((
            matches!((end, term), (Some(e), Some(t)) if e < t),
            format!("{who} {why} syslog: `end {who}` ({end:?}) not before `term syslog` ({term:?}): {ev:#?}"),
        ));
    }
    checks.push((
        pos("end syslog").is_some(),
        format!("syslog did not end: {ev:#?}"),
    ));
    checks
}

/// Index of the first console line containing `needle`.
fn line_of(c: &Cinit, needle: &str) -> Option<usize> {
    c.console().lines().position(|l| l.contains(needle))
}

/// Boots the server tree and waits until `init` is done and every
/// service has set its trap.
fn boot_server(fx: &Fixture) -> Cinit {
    let c = fx.boot_ctl();
    c.wait_state("done", "init");
    wait_traps(&c, fx, &["syslog", "cron", "web"]);
    c
}

/// Proves a shutdown (SIGHUP: reboot) stops a wanted service after its
/// wanters: `term syslog` comes after `end cron` (cron wants it, and
/// takes 0.6 s to stop) and after `end web` (web needs it); the console
/// has `stopped cron` before `stopping syslog`; PID 1 ends by SIGHUP.
#[test]
fn a_shutdown_stops_a_wanted_service_after_its_wanters() {
    let fx = Fixture::new();
    server(&fx);
    let mut c = boot_server(&fx);
    c.check(
        send_signal(c.host_pid(), libc::SIGHUP),
        "could not send SIGHUP",
    );
    let status = c.wait_exit(SHUTDOWN_TIMEOUT);
    c.check(
        death_signal(&status) == Some(libc::SIGHUP),
        &format!("PID 1 did not end by reboot(2): {status:?}"),
    );
    let mut checks = syslog_last(&fx);
    let (stopped, stopping) = (
        line_of(&c, "cinit: stopped cron in "),
        line_of(&c, "cinit: stopping syslog"),
    );
    checks.push((
        matches!((stopped, stopping), (Some(a), Some(b)) if a < b),
        format!(
            "console: `stopped cron` ({stopped:?}) not before `stopping syslog` ({stopping:?})"
        ),
    ));
    c.check_all(checks);
}

/// Proves `cinit-ctl stop` of a set honours wants inside the set and only
/// there. `cinit-ctl stop syslog cron` (web comes along: it needs syslog)
/// stops syslog after cron and web have ended; `tail`, which only wants
/// syslog and is not stopped, keeps running with the same pid and never
/// gets SIGTERM, and did not hold the stop back. The answer is exit 0 and
/// names web as a dependent; `init`, the grouping that needs web, is
/// parked (`waiting`), not stopped, so it is not in the answer.
#[test]
fn ctl_stop_of_a_set_stops_a_wanted_service_after_its_wanters_in_the_set() {
    let fx = Fixture::new();
    server(&fx);
    logger(&fx, "tail", "0.1");
    fx.service("tail").wants("syslog");
    fx.service("init").needs("tail");
    let c = boot_server(&fx);
    wait_traps(&c, &fx, &["tail"]);
    let tail = c.ctl(&["pid", "tail"]).stdout.trim().to_owned();
    let out = c.ctl(&["stop", "syslog", "cron"]);
    let mut checks = syslog_last(&fx);
    let ev = events(&fx);
    checks.push((
        out.code() == Some(0)
            && out
                .stdout
                .contains("stopped first, because they need it: web\n")
            && !out.stdout.contains("init"),
        format!("cinit-ctl stop syslog cron:\n{}", out.dump()),
    ));
    checks.push((
        !ev.iter().any(|e| e.contains("tail")),
        format!("tail (not stopped, only wants syslog) got SIGTERM: {ev:#?}"),
    ));
    let status = c.ctl(&["list"]).stdout;
    let row = |name: &str| {
        status
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    };
    checks.push((
        !tail.is_empty() && row("tail") == format!("running {tail}"),
        format!("tail is not running with its pid {tail}:\n{status}"),
    ));
    checks.push((
        row("init") == "waiting",
        format!("init was not parked in waiting:\n{status}"),
    ));
    c.check_all(checks);
}

/// Proves rescue (SIGUSR2) stops in the same order: `term syslog` after
/// `end cron` and `end web`, before the rescue shell runs.
#[test]
fn rescue_stops_a_wanted_service_after_its_wanters() {
    let fx = Fixture::new();
    server(&fx);
    let conf = fx.etc().join("conf");
    fs::create_dir_all(&conf).unwrap();
    let rescue = conf.join("rescue");
    fs::write(
        &rescue,
        format!("#!/bin/sh\n{}\nsleep 100\n", sh_touch(&fx.mark("rescue"))),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&rescue, fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(conf.join("rescue.env"), format!("{PATH_ENV}\n")).unwrap();
    let c = boot_server(&fx);
    c.check(
        send_signal(c.host_pid(), libc::SIGUSR2),
        "could not send SIGUSR2",
    );
    c.wait_until("the rescue shell", Duration::from_secs(10), |_| {
        fx.has_mark("rescue")
    });
    c.check_all(syslog_last(&fx));
}

/// The columns NAME and STATE of `cinit-ctl list` (pids change).
fn list_states(c: &Cinit) -> Vec<String> {
    let out = c.ctl(&["list"]);
    c.check(out.code() == Some(0), &format!("list:\n{}", out.dump()));
    out.stdout
        .lines()
        .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        .collect()
}

/// Asserts `cinit-ctl wait --timeout T NAME` exits with `code`.
#[track_caller]
fn expect_wait(c: &Cinit, name: &str, timeout: &str, code: i32) {
    let out = c.ctl(&["wait", "--timeout", timeout, name]);
    c.check(
        out.code() == Some(code),
        &format!(
            "wait --timeout {timeout} {name}: expected exit {code}\n{}",
            out.dump()
        ),
    );
}

/// Proves `stop X; start X` restores the system. `init` is a grouping
/// (no `on`) that needs `web` and `cron`. `cinit-ctl stop web` exits 0
/// without stopping init: init is parked (`waiting`, with the console line
/// `waiting init: web is being stopped; done again once its needs are up`),
/// web is not started again by it (one `running web` line 0.3 s later),
/// and `wait --timeout 0.3 init` exits 5. `cinit-ctl start web` then
/// brings init back: `wait init` exits 0, and `list` shows every service
/// in the state it had before the stop.
#[test]
fn stop_then_start_of_a_need_brings_the_grouping_root_back() {
    let fx = Fixture::new();
    server(&fx);
    let c = boot_server(&fx);
    let before = list_states(&c);
    let out = c.ctl(&["stop", "web"]);
    c.check(
        out.code() == Some(0) && !out.stdout.contains("init"),
        &format!("stop web:\n{}", out.dump()),
    );
    c.wait_until("init parked", TIMEOUT, |c| {
        c.console()
            .contains("waiting init: web is being stopped; done again once its needs are up")
    });
    sleep(Duration::from_millis(300));
    c.check(
        c.count_state("running", "web") == 1,
        "the parked init pulled web up again",
    );
    c.check(!c.has_state("stopped", "init"), "init was stopped");
    expect_wait(&c, "init", "0.3", 5);
    let out = c.ctl(&["start", "web"]);
    c.check(
        out.code() == Some(0),
        &format!("start web:\n{}", out.dump()),
    );
    expect_wait(&c, "init", "5", 0);
    let after = list_states(&c);
    c.check(
        after == before,
        &format!("list differs after stop web; start web:\nbefore {before:#?}\nafter {after:#?}"),
    );
}

/// Proves a parked grouping survives a hot update, and so does a park
/// still pending. `init` (a grouping) needs `x` (slow to stop: 2 s), which
/// needs the grouping `base`, which needs `web`. `cinit-ctl stop web` (in
/// the background) stops x first; while x lingers, base's park is pending
/// and web waits — `cinit-ctl update` runs then. After the update: x
/// ends, base is parked (its `waiting base: web is being stopped` line),
/// web is stopped after x (`term web` after `end x`), the stop answers
/// exit 0 naming x as the dependent, and web is not started again. A
/// second update while base is parked keeps it `waiting`. `cinit-ctl start
/// web` brings base back (`wait base` exits 0) but not x, stopped by the
/// cascade (`wait init` still times out); `cinit-ctl start init` does.
#[test]
fn a_parked_grouping_survives_a_hot_update() {
    let fx = Fixture::new();
    logger(&fx, "web", "0.1");
    logger(&fx, "x", "2");
    fx.service("base").needs("web");
    fx.service("x").needs("base");
    fx.service("init").needs("x");
    let c = fx.boot_ctl();
    c.wait_state("done", "init");
    wait_traps(&c, &fx, &["web", "x"]);
    let mut stop = c
        .ctl_cmd(&["stop", "web"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    c.wait_until("x to get SIGTERM", TIMEOUT, |_| {
        events(&fx).iter().any(|e| e == "term x")
    });
    let up = c.ctl(&["update"]);
    c.check(
        up.code() == Some(0) && up.stdout.starts_with("updated:"),
        &format!("update:\n{}", up.dump()),
    );
    c.check(
        !events(&fx).iter().any(|e| e == "end x"),
        "x ended before the update: the pending park was not carried over",
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = stop.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = stop.kill();
            c.fail("cinit-ctl stop web did not answer");
        }
        sleep(POLL);
    };
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut stop.stdout.take().unwrap(), &mut answer).unwrap();
    let ev = events(&fx);
    let pos = |e: &str| ev.iter().position(|x| x == e);
    c.check_all(vec![
        (
            status.success() && answer.contains("stopped first, because they need it: x\n"),
            format!("stop web exited with {status}:\n{answer}"),
        ),
        (
            matches!((pos("end x"), pos("term web")), (Some(a), Some(b)) if a < b),
            format!("web was stopped before x ended: {ev:#?}"),
        ),
        (
            c.console().contains("waiting base: web is being stopped"),
            "base was not parked".to_owned(),
        ),
        (
            !c.has_state("stopped", "base") && !c.has_state("stopped", "init"),
            "a grouping was stopped".to_owned(),
        ),
    ]);
    let up = c.ctl(&["update"]);
    c.check(up.code() == Some(0), &format!("update:\n{}", up.dump()));
    sleep(Duration::from_millis(200));
    c.check(
        c.count_state("running", "web") == 1,
        "web was started again",
    );
    expect_wait(&c, "base", "0.2", 5);
    let out = c.ctl(&["start", "web"]);
    c.check(
        out.code() == Some(0),
        &format!("start web:\n{}", out.dump()),
    );
    expect_wait(&c, "base", "5", 0);
    expect_wait(&c, "init", "0.3", 5);
    let out = c.ctl(&["start", "init"]);
    c.check(
        out.code() == Some(0),
        &format!("start init:\n{}", out.dump()),
    );
    expect_wait(&c, "init", "5", 0);
}
