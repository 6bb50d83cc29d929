//! Restart limits and failure actions, with the real `cinit` as PID 1 in
//! namespaces: a crash loop past its `restart-limit` ends `failed` and is
//! not restarted until a `cinit-ctl start`; `on-failure start NAME` starts
//! NAME (a name that is no service is said and changes nothing); a system
//! action goes through the orderly shutdown and, in a container (no
//! CAP_SYS_BOOT: reboot(2) is refused), cinit exits with the failed
//! service's status; a service stopped on request triggers nothing.

#![cfg(test)]

mod common;

use common::*;
use std::os::unix::process::ExitStatusExt;
use std::thread::sleep;
use std::time::Duration;

/// Deadline for a whole shutdown, from the failure to the end of PID 1.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(20);

/// A shell line appending a line to marker `name` (one line per run).
fn count_run(fx: &Fixture, name: &str) -> String {
    format!("echo run >> '{}'", fx.mark(name).display())
}

/// How many times marker `name` was appended to.
fn runs(fx: &Fixture, name: &str) -> usize {
    fx.read_mark(name).lines().count()
}

/// Boots cinit (PID 1, with a control socket) as a container's init: no
/// CAP_SYS_BOOT, so reboot(2) fails with EPERM; `None` without setpriv.
fn boot_container(fx: &Fixture) -> Option<Cinit> {
    let opts = LaunchOpts {
        ctl_dir: Some(fx.ctl_dir()),
        ..LaunchOpts::default()
    };
    let c = Cinit::launch_without_sys_boot(fx, opts)?;
    c.wait_listening();
    Some(c)
}

/// Proves `restart-limit 3 10`: a respawn service that exits at once ends
/// `failed` with `restart limit: 3 exits in 10s` after exactly 3 runs and
/// is not restarted; `cinit-ctl start` counts afresh and runs it again (3
/// more runs, failed again).
#[test]
fn a_crash_loop_past_its_limit_fails_until_started_again() {
    let fx = Fixture::new();
    fx.service("loop")
        .respawn()
        .script(&format!("{}\nexit 1", count_run(&fx, "loop")))
        .file("restart-limit", "3 10\n");
    fx.service("init").needs("loop");
    let c = fx.boot_ctl();
    let failed = c.wait_state_for("failed", "loop", Duration::from_secs(15));
    c.check(
        failed.rest().contains("restart limit: 3 exits in 10s"),
        &format!("wrong reason: {}", failed.line),
    );
    sleep(Duration::from_secs(2));
    c.check(
        runs(&fx, "loop") == 3,
        &format!("ran {} times, not 3", runs(&fx, "loop")),
    );
    let status = c.ctl(&["status", "loop"]);
    c.check(
        status.all().contains("failed") && status.all().contains("restart limit: 3 exits in 10s"),
        &format!("status does not show the reason: {}", status.dump()),
    );
    let out = c.ctl(&["start", "loop"]);
    c.check(out.code().is_some(), &out.dump());
    c.wait_until("the second failure", Duration::from_secs(15), |c| {
        c.count_state("failed", "loop") == 2
    });
    sleep(Duration::from_secs(1));
    c.check(
        runs(&fx, "loop") == 6,
        &format!("ran {} times, not 6", runs(&fx, "loop")),
    );
}

/// Proves a `cinit-ctl restart` counts afresh: a service with
/// `restart-limit 2 60` that exited once (counted) is restarted by hand,
/// then its process is killed: one exit since the restart, so it is
/// restarted (4 runs in all) and never `failed`; without the reset the
/// kill would be its second exit in 60 s.
#[test]
fn a_restart_by_hand_counts_afresh() {
    let fx = Fixture::new();
    let once = fx.mark("crash-once");
    std::fs::write(&once, "").unwrap();
    fx.service("flaky")
        .respawn()
        .script(&format!(
            "{}\nif [ -e '{p}' ]; then rm '{p}'; exit 1; fi\nexec sleep 1001",
            count_run(&fx, "flaky"),
            p = once.display()
        ))
        .file("restart-limit", "2 60\n");
    fx.service("init").needs("flaky");
    let mut c = fx.boot_ctl();
    c.wait_until("the second run", TIMEOUT, |_| runs(&fx, "flaky") == 2);
    let out = c.ctl(&["restart", "flaky"]);
    c.check(out.code() == Some(0), &out.dump());
    c.wait_until("the third run", TIMEOUT, |_| runs(&fx, "flaky") == 3);
    sleep(Duration::from_millis(500));
    let out = c.ctl(&["signal", "flaky", "KILL"]);
    c.check(out.code() == Some(0), &out.dump());
    c.wait_until("the fourth run", TIMEOUT, |_| runs(&fx, "flaky") == 4);
    sleep(Duration::from_secs(1));
    c.check(
        !c.has_state("failed", "flaky"),
        "failed: the restart did not reset the count",
    );
    c.assert_alive();
}

/// Proves `on-failure start other`: when a once service fails, `other`
/// (not reachable from the root) is started as `cinit-ctl start` would;
/// `on-failure start ghost`, a name that is no service, is said on the
/// console and cinit carries on.
#[test]
fn on_failure_start_starts_the_other_service() {
    let fx = Fixture::new();
    fx.service("bad")
        .script("exit 1")
        .file("on-failure", "start other\n");
    fx.service("lost")
        .script("exit 2")
        .file("on-failure", "start ghost\n");
    fx.service("other")
        .script(&format!("{}\nexit 0", count_run(&fx, "other")));
    fx.service("init").needs("bad").wants("lost");
    let mut c = fx.boot_ctl();
    c.wait_state("done", "other");
    c.check(runs(&fx, "other") == 1, "other did not run once");
    c.wait_until("the ghost's line", TIMEOUT, |c| {
        c.console()
            .contains("lost failed: on-failure start ghost: not taken: no such service: ghost")
    });
    c.check(
        c.console().contains("bad failed: on-failure start other"),
        "the action is not said",
    );
    c.assert_alive();
}

/// Boots a container whose service `main` runs `body` (a once service,
/// or respawn with `restart-limit 2 10`) with `on-failure ACTION`, and a
/// service `keeper` whose `off` leaves a mark; asserts cinit exits with
/// `code` after the orderly shutdown (`keeper`'s `off` ran).
fn container_ends_with(body: &str, respawn: bool, action: &str, code: i32) {
    let fx = Fixture::new();
    fx.service("keeper")
        .respawn()
        .on_link("/bin/sleep")
        .params(&["1001"])
        .off_script(&sh_touch(&fx.mark("keeper-off")));
    let main = fx.service("main");
    main.script(&format!("sleep 1\n{body}"))
        .file("on-failure", &format!("{action}\n"));
    if respawn {
        main.respawn().file("restart-limit", "2 10\n");
    }
    fx.service("init").needs("keeper").wants("main");
    let Some(mut c) = boot_container(&fx) else {
        return;
    };
    let status = c.wait_exit(SHUTDOWN_TIMEOUT);
    if status.code() != Some(code) || status.signal().is_some() {
        c.fail(&format!("expected exit code {code}, got {status:?}"));
    }
    c.check(
        fx.has_mark("keeper-off"),
        "keeper's off did not run: no orderly shutdown",
    );
    let word = action.split(' ').next().unwrap_or_default();
    let log = c.console();
    c.check_all(vec![
        (
            log.contains(&format!("main failed: on-failure {action}")),
            "the action is not said".into(),
        ),
        (
            log.contains(&format!("{word}: services stopped in ")),
            "the services were not stopped in order".into(),
        ),
        (
            log.contains(&format!("exiting with status {code}")),
            "the exit status is not said".into(),
        ),
    ]);
}

/// Proves `on-failure poweroff` on a once service that exits 3: cinit (a
/// container) exits with status 3, after an orderly shutdown.
#[test]
fn on_failure_poweroff_exits_with_the_service_status() {
    container_ends_with("exit 3", false, "poweroff", 3);
}

/// Proves a service killed by SIGTERM makes cinit exit with 128 + 15.
#[test]
fn a_service_killed_by_sigterm_exits_143() {
    container_ends_with("kill -TERM $$\nsleep 5", false, "poweroff", 143);
}

/// Proves a service killed by SIGKILL makes cinit exit with 128 + 9, with
/// `on-failure halt`.
#[test]
fn a_service_killed_by_sigkill_exits_137() {
    container_ends_with("kill -KILL $$\nsleep 5", false, "halt", 137);
}

/// Proves `on-failure reboot` exits with the failed service's status
/// (7), not the 129 of a reboot asked for otherwise.
#[test]
fn on_failure_reboot_exits_with_the_service_status() {
    container_ends_with("exit 7", false, "reboot", 7);
}

/// Proves a respawn service past its `restart-limit` ends the container
/// with its last exit's status.
#[test]
fn a_respawn_service_past_its_limit_exits_with_its_last_status() {
    container_ends_with("exit 5", true, "poweroff", 5);
}

/// Proves a service stopped with `cinit-ctl stop` triggers nothing: a
/// once service still running and a respawn service, both with
/// `on-failure poweroff`, are stopped (their processes die of SIGTERM),
/// and cinit carries on, saying no action.
#[test]
fn a_stop_on_request_triggers_nothing() {
    let fx = Fixture::new();
    fx.service("slow")
        .script("exec sleep 1001")
        .file("on-failure", "poweroff\n");
    fx.service("daemon")
        .respawn()
        .on_link("/bin/sleep")
        .params(&["1001"])
        .file("restart-limit", "1 10\n")
        .file("on-failure", "poweroff\n");
    fx.service("init").wants("slow").wants("daemon");
    let Some(mut c) = boot_container(&fx) else {
        return;
    };
    c.wait_state("starting", "slow");
    c.wait_state("running", "daemon");
    let out = c.ctl(&["stop", "slow", "daemon"]);
    c.check(out.code() == Some(0), &out.dump());
    c.wait_state("stopped", "slow");
    c.wait_state("stopped", "daemon");
    sleep(Duration::from_secs(2));
    c.assert_alive();
    c.check(!c.console().contains("on-failure"), "an action was taken");
}
