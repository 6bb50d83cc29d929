//! Unit tests of `restart-limit` (the window of exits, its reset by a
//! start, exits that do not count) and of the failures kept for
//! `on-failure` (exactly when a service ends `failed`, with the status
//! it stands for; never on a stop or during a shutdown).

use super::*;
use crate::engine::failure::{OnFailure, Policy, RestartLimit};
use crate::proto::SystemAction;

/// A respawn service `a` (and a once service `b`) with `policy` on `a`.
fn engine(limit: Option<(u32, Millis)>, action: Option<OnFailure>) -> Engine {
    let mut nodes = graph(2, &[]);
    nodes[0].respawn = true;
    nodes[0].failure = Some(Box::new(Policy {
        limit: limit.map(|(exits, within_ms)| RestartLimit { exits, within_ms }),
        action,
    }));
    Engine::new(nodes)
}

fn poweroff() -> Option<OnFailure> {
    Some(OnFailure::System(SystemAction::Poweroff))
}

/// Let `a` (running) exit with `code` at `now`, then fire its backoff.
fn crash(e: &mut Engine, h: &mut Fake, now: Millis, code: i32) {
    exit_on(e, h, now, 0, code);
    if let Some(t) = e.next_deadline() {
        e.tick(h, t);
    }
}

/// Proves the window: with `restart-limit 3 10`, the third exit within
/// 10 s makes the service `failed` with the documented reason, after
/// exactly 3 runs, and nothing restarts it (no deadline, no spawn).
#[test]
fn the_third_exit_within_the_window_fails_the_service() {
    let mut e = engine(Some((3, 10_000)), None);
    let mut h = Fake::new(vec![Plan::Run; 2]);
    e.start(&mut h, 0, 0);
    crash(&mut e, &mut h, 100, 1);
    crash(&mut e, &mut h, 300, 1);
    assert_eq!(e.state(0), Some(State::Running));
    assert_eq!(e.counted(0), 2);
    exit_on(&mut e, &mut h, 700, 0, 2);
    assert_eq!(e.state(0), Some(State::Failed));
    let reason = e.status(0).unwrap().reason.unwrap().to_string();
    assert_eq!(reason, "restart limit: 3 exits in 10s");
    let line = h.reports.last().unwrap().1.detail.clone().unwrap();
    assert_eq!(line, "restart limit: 3 exits in 10s");
    assert_eq!(h.spawned(0), 3);
    assert_eq!(e.next_deadline(), None, "no restart pending");
    e.tick(&mut h, 100_000);
    assert_eq!(h.spawned(0), 3);
    assert_eq!(e.counted(0), 0, "the window is dropped");
}

/// Proves the window slides: exits that never come N within the window
/// never fail the service, and the window holds at most N times.
#[test]
fn exits_spread_wider_than_the_window_never_fail_it() {
    let mut e = engine(Some((2, 1_000)), None);
    let mut h = Fake::new(vec![Plan::Run; 2]);
    e.start(&mut h, 0, 0);
    for k in 1..=20 {
        crash(&mut e, &mut h, k * 20_000, 1);
        assert_eq!(e.state(0), Some(State::Running), "exit {k}");
        assert!(e.counted(0) <= 2);
    }
    assert_eq!(h.spawned(0), 21);
}

/// Proves a start from the CLI resets the count: after the limit, `start`
/// runs the service again and it takes N more exits to fail it; a
/// restart (stop, then start) of a running service forgets the exits
/// counted so far; `start --no-deps` does too.
#[test]
fn a_start_or_restart_counts_afresh() {
    let mut e = engine(Some((2, 10_000)), None);
    let mut h = Fake::new(vec![Plan::Run; 2]);
    e.start(&mut h, 0, 0);
    crash(&mut e, &mut h, 100, 1);
    exit_on(&mut e, &mut h, 200, 0, 1);
    assert_eq!(e.state(0), Some(State::Failed));
    e.start(&mut h, 300, 0);
    assert_eq!(e.state(0), Some(State::Running), "started again");
    crash(&mut e, &mut h, 400, 1);
    assert_eq!(e.state(0), Some(State::Running), "one exit since the start");
    // A restart: stopped on request, then started.
    e.stop_with_dependents(&mut h, 500, &[0]);
    let pid = h.pid_of(0, Role::On);
    exit(&mut e, &mut h, 510, pid, 0);
    assert_eq!(e.state(0), Some(State::Stopped));
    e.start(&mut h, 520, 0);
    assert_eq!(e.counted(0), 0);
    crash(&mut e, &mut h, 600, 1);
    assert_eq!(e.state(0), Some(State::Running));
    e.start_alone(&mut h, 650, 0);
    assert_eq!(e.counted(0), 0, "start --no-deps of a running service");
    crash(&mut e, &mut h, 700, 1);
    assert_eq!(e.state(0), Some(State::Running));
    exit_on(&mut e, &mut h, 800, 0, 1);
    assert_eq!(e.state(0), Some(State::Failed));
}

/// Proves exits of a stop are not counted: a service stopped on request
/// (its process ends by the stop signal) keeps its count, and so does a
/// service stopped in a shutdown.
#[test]
fn exits_of_a_stop_do_not_count() {
    let mut e = engine(Some((2, 10_000)), poweroff());
    let mut h = Fake::new(vec![Plan::Run; 2]);
    e.start(&mut h, 0, 0);
    crash(&mut e, &mut h, 100, 1);
    assert_eq!(e.counted(0), 1);
    e.stop(&mut h, 200, 0);
    let pid = h.pid_of(0, Role::On);
    h.live.remove(&pid);
    assert!(e.child_exited(&mut h, 210, pid, ExitStatus::Signal(15)));
    assert_eq!(e.state(0), Some(State::Stopped));
    assert_eq!(e.counted(0), 1, "the stop's exit is not counted");
    assert!(e.take_failures().is_empty());
    // In a shutdown, an exit that would reach the limit does not.
    e.start_alone(&mut h, 300, 0);
    crash(&mut e, &mut h, 400, 1);
    e.stop_all(&mut h, 500);
    let pid = h.pid_of(0, Role::On);
    exit(&mut e, &mut h, 510, pid, 1);
    assert_eq!(e.state(0), Some(State::Stopped));
    assert!(e.take_failures().is_empty(), "nothing to act on");
}

/// Proves the failures kept for `on-failure`: a respawn service past its
/// limit (its last exit's status), a once service's non-zero exit (its
/// status), a death by a signal (128 + it), an exec error (127 for a
/// missing program), a `ready-timeout` (1); nothing for an exit 0, for a
/// service without an action, or for a stop on request.
#[test]
fn failures_are_kept_exactly_when_a_service_with_an_action_fails() {
    let mut nodes = graph(6, &[]);
    for (i, node) in nodes.iter_mut().enumerate() {
        node.failure = Some(Box::new(Policy {
            limit: None,
            action: (i != 4).then(|| OnFailure::Start("other".into())),
        }));
    }
    nodes[0].respawn = true;
    nodes[0].failure.as_mut().unwrap().limit = Some(RestartLimit {
        exits: 1,
        within_ms: 1_000,
    });
    nodes[5].respawn = true;
    nodes[5].notify_fd = Some(3);
    nodes[5].ready_timeout_ms = Some(1_000);
    let mut e = Engine::new(nodes);
    let mut plan = vec![Plan::Run; 6];
    plan[3] = Plan::Fail(libc::ENOENT);
    let mut h = Fake::new(plan);
    for i in 0..6 {
        e.start(&mut h, 0, i);
    }
    let f = |svc, status| Failure { svc, status };
    assert_eq!(e.take_failures(), [f(3, 127)], "exec error");
    exit_on(&mut e, &mut h, 10, 0, 4);
    assert_eq!(e.take_failures(), [f(0, 4)], "past its limit");
    exit_on(&mut e, &mut h, 10, 1, 3);
    let pid = h.pid_of(2, Role::On);
    h.live.remove(&pid);
    assert!(e.child_exited(&mut h, 10, pid, ExitStatus::Signal(9)));
    assert_eq!(e.take_failures(), [f(1, 3), f(2, 137)]);
    exit_on(&mut e, &mut h, 10, 4, 1);
    assert_eq!(e.state(4), Some(State::Failed));
    assert!(e.take_failures().is_empty(), "no action");
    e.tick(&mut h, 1_000);
    assert_eq!(e.state(5), Some(State::Stopping));
    assert!(e.take_failures().is_empty(), "not failed yet");
    let pid = h.pid_of(5, Role::On);
    exit(&mut e, &mut h, 1_010, pid, 0);
    assert_eq!(e.state(5), Some(State::Failed));
    assert_eq!(e.take_failures(), [f(5, 1)], "not ready in time");
    // Exit 0, and a stop on request: nothing.
    e.start(&mut h, 2_000, 1);
    exit_on(&mut e, &mut h, 2_010, 1, 0);
    e.start(&mut h, 2_000, 2);
    e.stop(&mut h, 2_020, 2);
    let pid = h.pid_of(2, Role::On);
    exit(&mut e, &mut h, 2_030, pid, 1);
    assert_eq!(
        (e.state(1), e.state(2)),
        (Some(State::Done), Some(State::Stopped))
    );
    assert!(e.take_failures().is_empty());
}

/// Proves a hot update keeps each service's policy (the NODE section) and
/// its `restart-limit` reason, and starts the counts afresh.
#[test]
fn a_hot_update_keeps_the_policy_and_counts_afresh() {
    let mut e = engine(Some((3, 2_500)), Some(OnFailure::Start("x/y".into())));
    let mut h = Fake::new(vec![Plan::Run; 2]);
    e.start(&mut h, 0, 0);
    crash(&mut e, &mut h, 100, 1);
    let (mut loaded, lost) = reload(&e);
    assert!(lost.is_empty(), "{lost:?}");
    assert_eq!(loaded.nodes[0], e.nodes[0]);
    assert_eq!(loaded.nodes[1].failure, None);
    assert_eq!(loaded.counted(0), 0);
    crash(&mut loaded, &mut h, 200, 1);
    crash(&mut loaded, &mut h, 400, 1);
    exit_on(&mut loaded, &mut h, 800, 0, 1);
    assert_eq!(loaded.state(0), Some(State::Failed));
    let (again, _) = reload(&loaded);
    let reason = again.status(0).unwrap().reason.unwrap().to_string();
    assert_eq!(reason, "restart limit: 3 exits in 2.5s");
    for action in [
        OnFailure::System(SystemAction::Reboot),
        OnFailure::System(SystemAction::Halt),
        OnFailure::System(SystemAction::Rescue),
    ] {
        let e = engine(None, Some(action.clone()));
        assert_eq!(reload(&e).0.on_failure(0), Some(&action));
    }
}

/// Proves an exit while a stop is pending (the service waits for its
/// needer to go down first) is not counted: with `restart-limit 1 10`, it
/// would otherwise fail the service at once.
#[test]
fn an_exit_with_a_stop_pending_does_not_count() {
    let mut nodes = graph(2, &[(1, 0, true)]);
    nodes[0].respawn = true;
    nodes[1].respawn = true;
    nodes[0].failure = Some(Box::new(Policy {
        limit: Some(RestartLimit {
            exits: 1,
            within_ms: 10_000,
        }),
        action: poweroff(),
    }));
    let mut e = Engine::new(nodes);
    let mut h = Fake::new(vec![Plan::Run; 2]);
    e.start(&mut h, 0, 1);
    assert_eq!(e.state(1), Some(State::Running));
    e.stop_with_dependents(&mut h, 100, &[0]);
    assert_eq!(e.state(1), Some(State::Stopping), "the needer goes first");
    assert!(e.is_being_stopped(0));
    exit_on(&mut e, &mut h, 110, 0, 1);
    assert_ne!(e.state(0), Some(State::Failed));
    assert_eq!(e.counted(0), 0);
    assert!(e.take_failures().is_empty());
}
