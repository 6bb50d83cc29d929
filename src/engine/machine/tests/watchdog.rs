//! Unit tests of the service watchdog in the engine
//! (`engine/machine/watchdog.rs`), against the recording fake host of
//! `engine/machine/tests.rs`.

use super::*;

/// One respawn service `a`, watched every second, `delay` 2 s; and `b`,
/// a respawn service without a watchdog.
fn watched() -> (Engine, Fake) {
    let mut nodes = graph(2, &[]);
    nodes[0].respawn = true;
    nodes[0].delay_s = Some(2);
    nodes[0].watchdog_ms = std::num::NonZeroU32::new(1000);
    nodes[1].respawn = true;
    (Engine::new(nodes), Fake::new(vec![Plan::Run; 2]))
}

fn reason(e: &Engine, i: usize) -> Option<String> {
    e.status(i)?.reason.map(|r| r.to_string())
}

/// The signals sent to `pid`, in order.
fn signals_to(h: &Fake, pid: Pid) -> Vec<Signal> {
    h.signals
        .iter()
        .filter(|s| s.0 == pid)
        .map(|s| s.1)
        .collect()
}

fn died(e: &mut Engine, h: &mut Fake, now: Millis, pid: Pid, sig: i32) {
    h.live.remove(&pid);
    assert!(e.child_exited(h, now, pid, ExitStatus::Signal(sig)));
}

/// Proves the watchdog is armed when the process is spawned: the host is
/// asked for the watchdog's variables (its interval), and the deadline is
/// a full interval after the spawn; a service without a `watchdog` is
/// spawned as before (no watchdog asked for) and has no deadline. A once
/// service with a `watchdog` is not watched.
#[test]
fn the_watchdog_is_armed_at_the_spawn() {
    let (mut e, mut h) = watched();
    e.start(&mut h, 100, 1);
    assert_eq!(e.next_deadline(), None, "no watchdog, no deadline");
    e.start(&mut h, 100, 0);
    assert_eq!(e.state(0), Some(State::Running));
    assert_eq!(h.watchdogs, [(0, 1000)], "only the watched service");
    assert_eq!(e.next_deadline(), Some(1100));

    let mut nodes = graph(1, &[]);
    nodes[0].watchdog_ms = std::num::NonZeroU32::new(1000);
    let mut once = Engine::new(nodes);
    let mut h = Fake::new(vec![Plan::Run]);
    once.start(&mut h, 0, 0);
    assert_eq!(once.state(0), Some(State::Starting));
    assert!(h.watchdogs.is_empty());
    assert_eq!(once.next_deadline(), None);
    assert!(!once.watchdog_ping(0, 10), "a once service is not watched");
}

/// Proves a ping moves the deadline to a full interval after it: nothing
/// is sent at the first deadline, and SIGABRT only a full interval after
/// the last ping. A ping for a service without a watchdog counts for
/// nothing.
#[test]
fn a_ping_arms_the_watchdog_again() {
    let (mut e, mut h) = watched();
    e.start(&mut h, 0, 0);
    e.start(&mut h, 0, 1);
    let a = h.pid_of(0, Role::On);
    assert!(e.watchdog_ping(0, 600));
    assert_eq!(e.next_deadline(), Some(1600));
    e.tick(&mut h, 1000);
    assert!(signals_to(&h, a).is_empty(), "pinged in time");
    assert_eq!(e.state(0), Some(State::Running));
    assert!(e.watchdog_ping(0, 1500));
    e.tick(&mut h, 1600);
    assert!(signals_to(&h, a).is_empty());
    assert_eq!(e.next_deadline(), Some(2500));
    assert!(!e.watchdog_ping(1, 1700), "b has no watchdog");
    e.tick(&mut h, 2500);
    assert_eq!(signals_to(&h, a), [Signal::SIGABRT, Signal::SIGCONT]);
}

/// Proves the whole expiry: SIGABRT (and SIGCONT) to the main process at
/// the deadline, `stopping` with the reason `watchdog timeout (1s)`;
/// SIGKILL `delay` later; when it dies, it is restarted like a crash
/// (counted, the reason kept and said), and the new process is watched
/// from its own spawn. A second quick timeout backs off, as a second quick
/// crash does.
#[test]
fn an_expired_watchdog_aborts_kills_and_restarts() {
    let (mut e, mut h) = watched();
    e.start(&mut h, 0, 0);
    let a = h.pid_of(0, Role::On);
    e.tick(&mut h, 999);
    assert!(signals_to(&h, a).is_empty());
    e.tick(&mut h, 1000);
    assert_eq!(signals_to(&h, a), [Signal::SIGABRT, Signal::SIGCONT]);
    assert_eq!(e.state(0), Some(State::Stopping));
    assert_eq!(reason(&e, 0).as_deref(), Some("watchdog timeout (1s)"));
    let r = h.reports.iter().rfind(|r| r.0 == "a").unwrap();
    assert_eq!(
        r.1.detail.as_deref(),
        Some("watchdog timeout (1s); SIGABRT sent")
    );
    assert_eq!(h.spawned(0), 1, "no off: a hung service did not stop");
    assert!(!e.watchdog_ping(0, 1500), "too late: the kill goes on");
    assert_eq!(e.next_deadline(), Some(3000), "SIGKILL after delay");
    e.tick(&mut h, 3000);
    assert_eq!(
        signals_to(&h, a),
        [Signal::SIGABRT, Signal::SIGCONT, Signal::SIGKILL]
    );
    died(&mut e, &mut h, 3010, a, 9);
    assert_eq!(e.state(0), Some(State::Running), "restarted at once");
    assert_eq!(h.spawned(0), 2);
    let st = e.status(0).unwrap();
    assert_eq!(st.restarts, 1);
    assert_eq!(reason(&e, 0).as_deref(), Some("watchdog timeout (1s)"));
    let r = h.reports.iter().rfind(|r| r.0 == "a").unwrap();
    assert_eq!(
        r.1.detail.as_deref(),
        Some("restarted after watchdog timeout (1s) (up 3.010s)")
    );
    assert_eq!(e.next_deadline(), Some(4010), "the new process is watched");

    // A second timeout soon after: a quick death, backed off.
    let a2 = h.pid_of(0, Role::On);
    e.tick(&mut h, 4010);
    assert_eq!(signals_to(&h, a2), [Signal::SIGABRT, Signal::SIGCONT]);
    died(&mut e, &mut h, 4020, a2, 6);
    assert_eq!(e.state(0), Some(State::Backoff));
    assert_eq!(reason(&e, 0).as_deref(), Some("watchdog timeout (1s)"));
    assert_eq!(e.status(0).unwrap().restarts, 2);
}

/// Proves `WATCHDOG=trigger` acts at once as an expiry does, and only for
/// a watched service that is up; and that a stop asked for during the kill
/// ends the service `stopped`, not restarted.
#[test]
fn a_trigger_acts_at_once_and_a_stop_wins_over_the_restart() {
    let (mut e, mut h) = watched();
    e.start(&mut h, 0, 0);
    e.start(&mut h, 0, 1);
    assert!(!e.watchdog_trigger(&mut h, 10, 1), "b has no watchdog");
    assert_eq!(e.state(1), Some(State::Running));
    let a = h.pid_of(0, Role::On);
    assert!(e.watchdog_trigger(&mut h, 200, 0));
    assert_eq!(signals_to(&h, a), [Signal::SIGABRT, Signal::SIGCONT]);
    assert_eq!(e.state(0), Some(State::Stopping));
    assert_eq!(reason(&e, 0).as_deref(), Some("watchdog timeout (1s)"));
    assert!(!e.watchdog_trigger(&mut h, 300, 0), "already being killed");

    e.stop(&mut h, 400, 0);
    died(&mut e, &mut h, 500, a, 6);
    assert_eq!(e.state(0), Some(State::Stopped), "a stop is not undone");
    assert_eq!(h.spawned(0), 1);
    assert_eq!(e.next_deadline(), None);
}

/// Proves a stop and an exit disarm the watchdog: a service being
/// stopped gets its stop signal and never SIGABRT; a process that exits
/// takes its deadline with it, and its successor is armed from its own
/// spawn.
#[test]
fn a_stop_or_an_exit_disarms_the_watchdog() {
    let (mut e, mut h) = watched();
    e.start(&mut h, 0, 0);
    let a = h.pid_of(0, Role::On);
    died(&mut e, &mut h, 800, a, 15);
    assert_eq!(e.state(0), Some(State::Running));
    assert_eq!(e.next_deadline(), Some(1800), "armed from the new spawn");
    let a2 = h.pid_of(0, Role::On);
    e.tick(&mut h, 1000);
    assert!(signals_to(&h, a2).is_empty());

    e.stop(&mut h, 1200, 0);
    assert_eq!(signals_to(&h, a2), [Signal::SIGTERM, Signal::SIGCONT]);
    assert_eq!(e.next_deadline(), Some(3200), "only the stop's SIGKILL");
    e.tick(&mut h, 1800);
    assert!(!signals_to(&h, a2).contains(&Signal::SIGABRT));
    died(&mut e, &mut h, 1900, a2, 15);
    assert_eq!(e.state(0), Some(State::Stopped));
    assert_eq!(e.next_deadline(), None);
    assert!(!signals_to(&h, a2).contains(&Signal::SIGABRT));
}

/// Proves a service that signals readiness is watched from its spawn,
/// not from its readiness (readiness is no ping): both deadlines are kept
/// while it is `starting`, the earlier one fires first, and the watchdog
/// carries over into `running`.
#[test]
fn a_starting_service_is_watched_and_readiness_is_no_ping() {
    let (mut e, mut h) = watched();
    e.nodes[0].notify_fd = Some(5);
    e.nodes[0].ready_timeout_ms = Some(5000);
    e.start(&mut h, 0, 0);
    assert_eq!(e.state(0), Some(State::Starting));
    assert_eq!(h.ready_fds, [(0, 5)]);
    assert_eq!(h.watchdogs, [(0, 1000)]);
    assert_eq!(e.next_deadline(), Some(1000), "the earlier of the two");
    assert!(e.watchdog_ping(0, 500), "a ping counts while starting");
    assert_eq!(e.next_deadline(), Some(1500));
    let a = h.pid_of(0, Role::On);
    assert!(e.ready(&mut h, 700, a));
    assert_eq!(e.state(0), Some(State::Running));
    assert_eq!(e.next_deadline(), Some(1500), "readiness moved nothing");
    e.tick(&mut h, 1500);
    assert_eq!(signals_to(&h, a), [Signal::SIGABRT, Signal::SIGCONT]);
}

/// Proves the hot update's rule: a watchdog's deadline is not carried but
/// armed afresh from the new image's clock ([`Engine::rearm_watchdogs`]),
/// the node keeps its interval, and a kill under way at the update still
/// ends in a restart with its reason.
#[test]
fn a_hot_update_arms_the_watchdog_afresh_and_keeps_a_kill() {
    let (mut e, mut h) = watched();
    e.start(&mut h, 0, 0);
    assert!(e.watchdog_ping(0, 400));
    let (mut r, lost) = reload(&e);
    assert!(lost.is_empty(), "{lost:?}");
    assert_eq!(r.nodes[0].watchdog_ms, e.nodes[0].watchdog_ms);
    assert_eq!(r.next_deadline(), None, "not carried");
    r.rearm_watchdogs(900);
    assert_eq!(r.next_deadline(), Some(1900), "armed from the new now");

    let a = h.pid_of(0, Role::On);
    r.tick(&mut h, 1900);
    assert_eq!(r.state(0), Some(State::Stopping));
    let (mut r2, lost) = reload(&r);
    assert!(lost.is_empty(), "{lost:?}");
    r2.rearm_watchdogs(2000);
    assert_eq!(r2.next_deadline(), Some(3900), "the kill's SIGKILL");
    died(&mut r2, &mut h, 2100, a, 6);
    assert_eq!(r2.state(0), Some(State::Running), "restarted");
    assert_eq!(reason(&r2, 0).as_deref(), Some("watchdog timeout (1s)"));
}

/// Proves a watchdog kill that ends while the system goes down leaves
/// the service `stopped`, not restarted.
#[test]
fn a_kill_ending_in_a_shutdown_does_not_restart() {
    let (mut e, mut h) = watched();
    e.start(&mut h, 0, 0);
    let a = h.pid_of(0, Role::On);
    e.tick(&mut h, 1000);
    e.stop_all(&mut h, 1100);
    died(&mut e, &mut h, 1200, a, 6);
    assert_eq!(e.state(0), Some(State::Stopped));
    assert_eq!(h.spawned(0), 1);
}
