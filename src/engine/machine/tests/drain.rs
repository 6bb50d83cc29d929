//! Unit tests of the end of a stop with cgroups (`engine/machine/drain.rs`)
//! against the recording fake host of `engine/machine/tests.rs`, whose
//! `rest` says which services' cgroups still hold processes.

use super::*;

/// One respawn service `a` with a 5 s delay, started and running.
fn running() -> (Engine, Fake, Pid) {
    let mut nodes = graph(1, &[]);
    nodes[0].respawn = true;
    nodes[0].delay_s = Some(5);
    let mut e = Engine::new(nodes);
    let mut h = Fake::new(vec![Plan::Run]);
    e.start(&mut h, 0, 0);
    let pid = h.pid_of(0, Role::On);
    (e, h, pid)
}

/// The main process exits on SIGTERM but its cgroup still holds a
/// process: the rest is killed at once, the service stays `stopping`
/// (through a recheck that finds the cgroup still populated) and is
/// `stopped` at the first recheck after the cgroup emptied.
#[test]
fn a_stop_ends_only_when_the_cgroup_is_empty() {
    let (mut e, mut h, pid) = running();
    h.rest.insert(0);
    e.stop(&mut h, 10, 0);
    assert!(h.kills.is_empty(), "killed before the main process went");
    exit(&mut e, &mut h, 20, pid, 0);
    assert_eq!(h.kills, [0], "the rest is killed as soon as main is gone");
    assert_eq!(e.state(0), Some(State::Stopping));
    e.recheck_drains(&mut h, 30);
    assert_eq!(e.state(0), Some(State::Stopping));
    h.rest.clear();
    e.recheck_drains(&mut h, 40);
    assert_eq!(e.state(0), Some(State::Stopped));
    assert!(e.draining.is_empty());
}

/// Without a recheck (a process that is not PID 1's child), the drain's
/// deadline kills and looks again every POLL_MS; the service is
/// `stopped` at the first poll that finds the cgroup empty.
#[test]
fn the_drain_deadline_polls_and_kills_again() {
    let (mut e, mut h, pid) = running();
    h.rest.insert(0);
    e.stop(&mut h, 10, 0);
    exit(&mut e, &mut h, 20, pid, 0);
    assert_eq!(
        e.next_deadline(),
        Some(20 + crate::engine::machine::drain::POLL_MS)
    );
    e.tick(&mut h, 20 + crate::engine::machine::drain::POLL_MS);
    assert_eq!(h.kills, [0, 0], "killed again at the poll");
    assert_eq!(e.state(0), Some(State::Stopping));
    h.rest.clear();
    let t = e.next_deadline().unwrap();
    e.tick(&mut h, t);
    assert_eq!(e.state(0), Some(State::Stopped));
}

/// When the delay runs out on a main process that ignores SIGTERM, the
/// whole cgroup is killed together with the process group.
#[test]
fn the_delay_kills_the_whole_cgroup() {
    let (mut e, mut h, pid) = running();
    h.rest.insert(0);
    e.stop(&mut h, 10, 0);
    e.tick(&mut h, 10 + 5000);
    assert!(h.signals.contains(&(pid, Signal::SIGKILL)));
    assert_eq!(h.kills, [0]);
}

/// A host without cgroups (nothing left) ends the stop when the main
/// process is reaped, as before.
#[test]
fn without_cgroups_the_stop_ends_with_the_main_process() {
    let (mut e, mut h, pid) = running();
    e.stop(&mut h, 10, 0);
    exit(&mut e, &mut h, 20, pid, 0);
    assert_eq!(e.state(0), Some(State::Stopped));
    assert!(e.next_deadline().is_none());
}

/// In a shutdown, a cgroup that never empties is given up on after
/// KILL_WAIT_MS of polls (the global kill follows), with a reason.
#[test]
fn a_shutdown_gives_up_on_a_cgroup_that_stays() {
    let (mut e, mut h, pid) = running();
    h.rest.insert(0);
    e.stop_all(&mut h, 10);
    exit(&mut e, &mut h, 20, pid, 0);
    let mut now = 20;
    while let Some(t) = e.next_deadline() {
        assert!(t <= 20 + 2 * KILL_WAIT_MS, "still polling at {t}");
        now = t;
        e.tick(&mut h, t);
    }
    assert!(now >= 20 + KILL_WAIT_MS, "gave up at {now}");
    assert_eq!(e.state(0), Some(State::Stopped));
    let last = &h.reports.last().unwrap().1;
    assert!(last
        .detail
        .as_deref()
        .unwrap()
        .contains("its cgroup's processes still there"));
    assert!(e.all_down());
}

/// A stop waiting for its cgroup survives a hot update: the new engine
/// knows it is draining and ends it at its first recheck after the
/// cgroup emptied.
#[test]
fn a_drain_survives_a_hot_update() {
    let (mut e, mut h, pid) = running();
    h.rest.insert(0);
    e.stop(&mut h, 10, 0);
    exit(&mut e, &mut h, 20, pid, 0);
    let (mut e2, lost) = reload(&e);
    assert!(lost.is_empty(), "{lost:?}");
    assert_eq!(e2.state(0), Some(State::Stopping));
    assert_eq!(e2.draining, [0]);
    h.rest.clear();
    e2.recheck_drains(&mut h, 30);
    assert_eq!(e2.state(0), Some(State::Stopped));
}

/// A respawn service in backoff whose last `on` left a process in its
/// cgroup: `stop` kills it and the service is `stopped` once the cgroup
/// is empty; without anything left it is `stopped` at once, as before.
#[test]
fn a_stop_in_backoff_kills_what_the_last_on_left() {
    let (mut e, mut h, _) = running();
    // Quick deaths until the restart waits.
    for _ in 0..10 {
        if e.state(0) == Some(State::Backoff) {
            break;
        }
        exit_on(&mut e, &mut h, 20, 0, 1);
    }
    assert_eq!(e.state(0), Some(State::Backoff));
    h.rest.insert(0);
    e.stop(&mut h, 30, 0);
    assert_eq!(h.kills, [0]);
    assert_eq!(e.state(0), Some(State::Stopping));
    h.rest.clear();
    e.recheck_drains(&mut h, 40);
    assert_eq!(e.state(0), Some(State::Stopped));
    e.start(&mut h, 50, 0);
    for _ in 0..10 {
        if e.state(0) == Some(State::Backoff) {
            break;
        }
        exit_on(&mut e, &mut h, 60, 0, 1);
    }
    e.stop(&mut h, 70, 0);
    assert_eq!(e.state(0), Some(State::Stopped));
}
