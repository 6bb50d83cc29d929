//! Unit tests of `skipped`: a start whose condition does not hold runs
//! nothing, counts as started for needers and wanters, is checked again at
//! the next start request but not at a respawn's restart, and survives a
//! hot update with its reason.

use super::*;

fn reason(e: &Engine, i: usize) -> Option<String> {
    e.status(i)?.reason.map(|r| r.to_string())
}

/// Proves a skipped need lets its needer (and wanter) start, nothing of the
/// skipped one runs, and its reason is the condition.
#[test]
fn a_skipped_need_counts_as_done() {
    // a needs b, c wants b
    let mut e = Engine::new(graph(3, &[(0, 1, true), (2, 1, false)]));
    let mut h = Fake::new(vec![Plan::Run; 3]);
    h.skip[1] = true;
    e.start(&mut h, 0, 0);
    assert_eq!(h.states_of("b"), [State::Waiting, State::Skipped]);
    // A request that reaches it again checks again.
    e.start(&mut h, 0, 2);
    assert_eq!(h.starts, [1, 0, 1, 2]);
    assert_eq!(e.state(1), Some(State::Skipped));
    assert_eq!(h.spawned(1), 0);
    assert_eq!(reason(&e, 1).as_deref(), Some("condition: exists /x"));
    assert_eq!(e.state(0), Some(State::Starting), "the needer runs");
    assert_eq!(e.state(2), Some(State::Starting), "the wanter runs");
    assert!(e.is_settled(1));
}

/// Proves the condition is checked at each start request (boot, start,
/// start --no-deps, restart) but not at a respawn's restart: a respawn
/// service that crashes is restarted without a new check.
#[test]
fn checked_at_each_start_not_at_each_respawn() {
    let mut nodes = graph(1, &[]);
    nodes[0].respawn = true;
    let mut e = Engine::new(nodes);
    let mut h = Fake::new(vec![Plan::Run]);
    h.skip[0] = true;
    e.start(&mut h, 0, 0);
    assert_eq!(e.state(0), Some(State::Skipped));
    assert_eq!(h.starts, [0]);
    // The condition holds now: the next request runs it.
    h.skip[0] = false;
    e.start(&mut h, 10, 0);
    assert_eq!(e.state(0), Some(State::Running));
    assert_eq!(h.starts, [0, 0]);
    // It crashes and is restarted at once: no check, even though the
    // condition would not hold any more.
    h.skip[0] = true;
    exit_on(&mut e, &mut h, 20, 0, 1);
    assert_eq!(e.state(0), Some(State::Running));
    assert_eq!(h.starts.len(), 2, "a respawn does not check");
    assert_eq!(h.spawned(0), 2);
    // A quick second death backs off; the end of the backoff does not
    // check either.
    exit_on(&mut e, &mut h, 30, 0, 1);
    assert_eq!(e.state(0), Some(State::Backoff));
    e.tick(&mut h, 10_000);
    assert_eq!(e.state(0), Some(State::Running));
    assert_eq!(h.starts.len(), 2);
    // A stop and a start request check again.
    e.stop(&mut h, 11_000, 0);
    let pid = h.pid_of(0, Role::On);
    exit(&mut e, &mut h, 11_001, pid, 0);
    assert_eq!(e.state(0), Some(State::Stopped));
    e.start_alone(&mut h, 12_000, 0);
    assert_eq!(e.state(0), Some(State::Skipped));
    assert_eq!(h.starts.len(), 3);
    e.start_alone(&mut h, 13_000, 0);
    assert_eq!(e.state(0), Some(State::Skipped), "start --no-deps again");
    assert_eq!(h.starts.len(), 4);
}

/// Proves a skipped service is down for a stop (it goes `stopped` without
/// a process to signal) and for a shutdown (nothing waits for it).
#[test]
fn a_skipped_service_is_down() {
    let mut e = Engine::new(graph(2, &[(0, 1, true)]));
    let mut h = Fake::new(vec![Plan::Run; 2]);
    h.skip[0] = true;
    e.start(&mut h, 0, 0);
    let b = h.pid_of(1, Role::On);
    exit(&mut e, &mut h, 1, b, 0);
    assert_eq!(e.state(0), Some(State::Skipped));
    assert!(e.is_down(0));
    e.stop_all(&mut h, 2);
    assert!(e.all_down());
    assert_eq!(e.state(0), Some(State::Skipped), "left as it is");
    e.resume();
    e.stop(&mut h, 3, 0);
    assert_eq!(e.state(0), Some(State::Stopped));
    assert!(h.signals.is_empty());
}

/// Proves a hot update keeps `skipped` and its reason's words.
#[test]
fn a_hot_update_keeps_skipped() {
    let mut e = Engine::new(graph(1, &[]));
    let mut h = Fake::new(vec![Plan::Run]);
    h.skip[0] = true;
    e.start(&mut h, 0, 0);
    let (loaded, _) = reload(&e);
    assert_eq!(loaded.state(0), Some(State::Skipped));
    assert_eq!(reason(&loaded, 0).as_deref(), Some("condition: exists /x"));
}
