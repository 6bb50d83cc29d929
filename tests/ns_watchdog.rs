//! The service watchdog, with the real `cinit` as PID 1 in namespaces: a
//! respawn service with a `watchdog` file that never says `WATCHDOG=1` is
//! sent SIGABRT when its interval passes, SIGKILL after its `delay`, and
//! is restarted, with the reason `watchdog timeout (1s)` in `cinit-ctl
//! status`, its `--json` and the console; its process finds
//! `WATCHDOG_USEC` and `WATCHDOG_PID` (its own pid) in its environment,
//! also when it is started through the `--listen-exec` trampoline for its
//! sockets, and whatever its `on.env` said of them is replaced. A service
//! without the file gets neither. A hot update keeps the watchdog.
//!
//! (`WATCHDOG=1` itself arrives through the notification socket; the ping
//! is proved by the engine's unit tests, `engine/machine/tests/watchdog.rs`.)

#![cfg(test)]

mod common;

use common::*;
use std::time::Duration;

/// Generous: the machine running the tests may be loaded.
const LONG: Duration = Duration::from_secs(30);

/// A shell service body for marker prefix `who`: records its pid (a line
/// per start) and its watchdog variables, says when it gets SIGABRT, and
/// never pings. Short sleeps in a loop: sh runs a trap only once the
/// command it waits for ends.
fn never_pings(fx: &Fixture, who: &str) -> String {
    let (pids, abrt) = (
        fx.mark(&format!("{who}-pids")),
        fx.mark(&format!("{who}-abrt")),
    );
    let env = fx.mark(&format!("{who}-env"));
    format!(
        "echo $$ >> '{pids}'\n\
         env | grep '^WATCHDOG_' | sort > '{env}'.tmp.$$\n\
         mv '{env}'.tmp.$$ '{env}'.$$\n\
         trap 'echo $$ >> {abrt}' ABRT\n\
         while :; do sleep 0.1; done",
        pids = pids.display(),
        abrt = abrt.display(),
        env = env.display(),
    )
}

/// The pids a service recorded, one per start.
fn pids(fx: &Fixture, who: &str) -> Vec<String> {
    let path = fx.mark(&format!("{who}-pids"));
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Proves the watchdog end to end for a service that never pings: its
/// first process (pid P) has `WATCHDOG_USEC=1000000` and `WATCHDOG_PID=P`
/// (its `on.env` said `WATCHDOG_PID=1`: replaced); about a second after it
/// started it gets SIGABRT (its trap records P), then SIGKILL after its
/// `delay` of 1 s (the trap does not end it), and a new process with
/// another pid is started. `cinit-ctl status` and `status --json` give the
/// reason `watchdog timeout (1s)`, and the console's `stopping` line says
/// it and that SIGABRT was sent. `plain`, without a `watchdog` file, has
/// neither variable and is never touched.
#[test]
fn a_service_that_never_pings_is_aborted_killed_and_restarted() {
    let fx = Fixture::new();
    fx.service("dog")
        .respawn()
        .delay(1)
        .file("watchdog", "1\n")
        .env(&[PATH_ENV, "WATCHDOG_PID=1"])
        .script(&never_pings(&fx, "dog"));
    fx.service("plain")
        .respawn()
        .script(&never_pings(&fx, "plain"));
    fx.service("init").wants("dog").wants("plain");
    let c = fx.boot_ctl();

    c.wait_until("dog's SIGABRT", LONG, |_| fx.has_mark("dog-abrt"));
    c.wait_until("dog's restart", LONG, |_| pids(&fx, "dog").len() >= 2);
    let dog = pids(&fx, "dog");
    let first = &dog[0];
    let abrt = fx.read_mark("dog-abrt");
    c.check(
        abrt.lines().next() == Some(first.as_str()),
        &format!("the first process ({first}) got SIGABRT: {abrt:?}"),
    );
    c.check(dog[1] != *first, &format!("a new process: {dog:?}"));
    let env = fx.read_mark(&format!("dog-env.{first}"));
    c.check(
        env == format!("WATCHDOG_PID={first}\nWATCHDOG_USEC=1000000\n"),
        &format!("dog's environment: {env:?}"),
    );

    let out = c.ctl(&["status", "dog"]);
    c.check(
        out.code() == Some(0) && out.stdout.contains(": watchdog timeout (1s)"),
        &format!("status: {}", out.dump()),
    );
    let out = c.ctl(&["status", "--json", "dog"]);
    c.check(
        out.code() == Some(0) && out.stdout.contains("\"reason\":\"watchdog timeout (1s)\""),
        &format!("status --json: {}", out.dump()),
    );
    let stopping = c.find_state("stopping", "dog");
    c.check(
        stopping
            .as_ref()
            .is_some_and(|l| l.rest().contains("watchdog timeout (1s); SIGABRT sent")),
        &format!("the console's stopping line: {stopping:?}"),
    );
    c.check(
        c.console()
            .contains("restarted after watchdog timeout (1s)"),
        "the console says why it restarted",
    );

    let plain = pids(&fx, "plain");
    c.check(plain.len() == 1, &format!("plain untouched: {plain:?}"));
    let env = fx.read_mark(&format!("plain-env.{}", plain[0]));
    c.check(env.is_empty(), &format!("plain's environment: {env:?}"));
    c.check(!fx.has_mark("plain-abrt"), "plain never got SIGABRT");
}

/// Proves `WATCHDOG_PID` is the service's own pid when it is started
/// through the `--listen-exec` trampoline (a service with `sockets`),
/// which executes once more between the spawn and the service: the pid
/// written by the child stays the service's across that `execve`.
#[test]
fn the_pid_survives_the_listen_exec_trampoline() {
    let fx = Fixture::new();
    let port = 20_000 + std::process::id() % 40_000;
    fx.service("dog")
        .respawn()
        .file("watchdog", "30\n")
        .file("sockets", &format!("dns udp:127.0.0.1:{port}\n"))
        .script(&format!(
            "echo \"$LISTEN_PID\" > '{lp}'\n{}",
            never_pings(&fx, "dog"),
            lp = fx.mark("dog-listen-pid").display()
        ));
    fx.service("init").wants("dog");
    let c = fx.boot_ctl();
    c.wait_until("dog's start", LONG, |_| !pids(&fx, "dog").is_empty());
    let first = pids(&fx, "dog")[0].clone();
    let env_mark = format!("dog-env.{first}");
    c.wait_until("dog's environment", LONG, |_| fx.has_mark(&env_mark));
    let env = fx.read_mark(&env_mark);
    c.check(
        env == format!("WATCHDOG_PID={first}\nWATCHDOG_USEC=30000000\n"),
        &format!("dog's environment: {env:?}"),
    );
    let listen = fx.read_mark("dog-listen-pid");
    c.check(
        listen.trim() == first,
        &format!("started through the trampoline (LISTEN_PID {listen:?})"),
    );
}

/// Proves a watchdog is still kept after a hot update (the new image arms
/// it afresh; the snapshot does not carry the deadline): `dog`, watched
/// every 10 s and never pinging, is untouched when `cinit-ctl update` has
/// answered, and is still sent SIGABRT and restarted afterwards, with its
/// pid unchanged until then.
#[test]
fn the_watchdog_is_kept_across_a_hot_update() {
    let fx = Fixture::new();
    fx.service("dog")
        .respawn()
        .delay(1)
        .file("watchdog", "10\n")
        .script(&never_pings(&fx, "dog"));
    fx.service("init").wants("dog");
    let c = fx.boot_ctl();
    c.wait_until("dog's start", LONG, |_| !pids(&fx, "dog").is_empty());
    let out = c.ctl(&["update"]);
    c.check(
        out.code() == Some(0) && out.stdout.starts_with("updated:"),
        &format!("cinit-ctl update: {}", out.dump()),
    );
    c.check(
        !fx.has_mark("dog-abrt"),
        "dog was aborted before the update answered (a loaded machine?)",
    );
    c.wait_until("dog's SIGABRT after the update", LONG, |_| {
        fx.has_mark("dog-abrt")
    });
    c.wait_until("dog's restart", LONG, |_| pids(&fx, "dog").len() >= 2);
    let dog = pids(&fx, "dog");
    let abrt = fx.read_mark("dog-abrt");
    c.check(
        abrt.lines().next() == Some(dog[0].as_str()),
        &format!("the process started before the update got SIGABRT: {abrt:?}, {dog:?}"),
    );
    c.check(
        c.console().contains("took over") && c.console().contains("watchdog timeout (10s)"),
        "the console shows the update and the timeout",
    );
}
