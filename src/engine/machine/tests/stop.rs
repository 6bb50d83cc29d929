//! Unit tests of the stop order (wants count, in reverse start order) and
//! of parked groupings, against the recording fake host of
//! `engine/machine/tests.rs` (a file of its own only to keep each one readable).

use super::*;

/// Services named by letter, all respawn, with these edges.
fn daemons(n: usize, deps: &[(usize, usize, bool)]) -> Vec<Node> {
    let mut nodes = graph(n, deps);
    for x in nodes.iter_mut() {
        x.respawn = true;
    }
    nodes
}

fn termed(h: &Fake) -> Vec<Pid> {
    h.signals
        .iter()
        .filter(|s| s.1 == Signal::SIGTERM)
        .map(|s| s.0)
        .collect()
}

/// A shutdown stops a wanted service only after its wanters: a (0) wants
/// s (2), b (1) needs s. Both a and b get SIGTERM at once (independent);
/// s only once both have exited — after b alone it still waits for a.
#[test]
fn a_shutdown_stops_a_wanted_service_after_every_wanter() {
    let mut e = Engine::new(daemons(3, &[(0, 2, false), (1, 2, true)]));
    let mut h = Fake::new(vec![Plan::Run; 3]);
    e.start(&mut h, 0, 0);
    e.start(&mut h, 0, 1);
    let (a, b, s) = (
        h.pid_of(0, Role::On),
        h.pid_of(1, Role::On),
        h.pid_of(2, Role::On),
    );
    e.stop_all(&mut h, 10);
    let mut first = termed(&h);
    first.sort_unstable();
    assert_eq!(first, [a, b], "both wanter and needer first, in parallel");
    exit(&mut e, &mut h, 20, b, 0);
    assert!(
        !termed(&h).contains(&s),
        "s went down while its wanter a is up"
    );
    assert_eq!(e.state(2), Some(State::Running));
    exit(&mut e, &mut h, 30, a, 0);
    assert_eq!(termed(&h).last(), Some(&s));
    exit(&mut e, &mut h, 40, s, 0);
    assert!(e.all_down());
}

/// `cinit-ctl stop` of a set honours wants inside the set, and only there:
/// stopping s alone (a only wants it) stops s at once and leaves a
/// running; stopping {a, s} stops s only after a.
#[test]
fn a_stop_waits_for_wanters_in_the_set_and_for_no_other() {
    let mut e = Engine::new(daemons(2, &[(0, 1, false)]));
    let mut h = Fake::new(vec![Plan::Run; 2]);
    e.start(&mut h, 0, 0);
    let (a, s) = (h.pid_of(0, Role::On), h.pid_of(1, Role::On));
    let deps = e.stop_with_dependents(&mut h, 1, &[1]);
    assert!(deps.is_empty(), "a stop does not cascade along wants");
    assert_eq!(termed(&h), [s], "a wanter outside the set holds nothing");
    exit(&mut e, &mut h, 2, s, 0);
    assert_eq!(e.state(0), Some(State::Running));
    assert_eq!(e.state(1), Some(State::Stopped));

    e.start(&mut h, 3, 1);
    let s = h.pid_of(1, Role::On);
    e.stop_with_dependents(&mut h, 4, &[1, 0]);
    assert_eq!(termed(&h)[1..], [a], "a first");
    exit(&mut e, &mut h, 5, a, 0);
    assert_eq!(termed(&h)[2..], [s], "then s");
}

/// The cascade follows needs, and the order counts wants among the
/// dependents it brings in: c needs s, d needs s and wants c. Stopping s
/// takes c and d down first, d before c (d wants c), s last.
#[test]
fn a_cascade_orders_its_dependents_by_wants_too() {
    let mut e = Engine::new(daemons(3, &[(1, 0, true), (2, 0, true), (2, 1, false)]));
    let mut h = Fake::new(vec![Plan::Run; 3]);
    e.start(&mut h, 0, 2);
    let (s, c, d) = (
        h.pid_of(0, Role::On),
        h.pid_of(1, Role::On),
        h.pid_of(2, Role::On),
    );
    let deps = e.stop_with_dependents(&mut h, 1, &[0]);
    assert_eq!(deps, [1, 2]);
    assert_eq!(termed(&h), [d]);
    exit(&mut e, &mut h, 2, d, 0);
    assert_eq!(termed(&h), [d, c]);
    exit(&mut e, &mut h, 3, c, 0);
    assert_eq!(termed(&h), [d, c, s]);
}

/// A stop never deadlocks on a cycle: two services that want each other
/// (not marked broken here, as if a defect let them run) both get SIGTERM
/// at once in a shutdown.
#[test]
fn a_cycle_never_holds_a_stop_back() {
    let mut e = Engine::new(daemons(2, &[(0, 1, false), (1, 0, false)]));
    let mut h = Fake::new(vec![Plan::Run; 2]);
    e.start_alone(&mut h, 0, 0);
    e.start_alone(&mut h, 0, 1);
    e.stop_all(&mut h, 1);
    assert_eq!(termed(&h).len(), 2, "{:?}", h.signals);
}

/// The grouping `init` (2) needs n (0) and s (1). Stopping n parks init in
/// `waiting` (not stopped, not among the dependents, the reason on its
/// line); n is not started again (a parked grouping pulls nothing); a
/// start of n alone brings init back to `done`.
#[test]
fn a_grouping_is_parked_by_a_cascade_and_done_again_with_its_needs() {
    let mut nodes = daemons(3, &[(2, 0, true), (2, 1, true)]);
    nodes[2].respawn = false;
    nodes[2].grouping = true;
    let mut e = Engine::new(nodes);
    let mut h = Fake::new(vec![Plan::Run, Plan::Run, Plan::Nothing]);
    e.start(&mut h, 0, 2);
    assert_eq!(e.state(2), Some(State::Done));
    let deps = e.stop_with_dependents(&mut h, 1, &[0]);
    assert!(
        deps.is_empty(),
        "a parked grouping is not a stopped dependent"
    );
    assert_eq!(e.state(2), Some(State::Waiting));
    let parked = h.reports.iter().rev().find(|r| r.0 == "c").unwrap();
    assert_eq!(
        parked.1.detail.as_deref(),
        Some("a is being stopped; done again once its needs are up")
    );
    exit_on(&mut e, &mut h, 2, 0, 0);
    assert_eq!(e.state(0), Some(State::Stopped));
    assert_eq!(e.state(2), Some(State::Waiting));
    assert_eq!(h.spawned(0), 1, "parked, it pulled its need up again");
    assert_eq!(e.state(1), Some(State::Running), "s is left alone");
    e.start(&mut h, 3, 0);
    assert_eq!(e.state(0), Some(State::Running));
    assert_eq!(e.state(2), Some(State::Done));
    assert_eq!(
        h.states_of("c"),
        [State::Waiting, State::Done, State::Waiting, State::Done]
    );
}

/// A parked grouping still answers an explicit start by requesting its
/// needs; named in a stop, it is stopped; in a shutdown it is stopped like
/// any waiting service.
#[test]
fn a_parked_grouping_obeys_explicit_requests_and_shutdown() {
    let mut nodes = daemons(2, &[(1, 0, true)]);
    nodes[1].respawn = false;
    nodes[1].grouping = true;
    let mut e = Engine::new(nodes);
    let mut h = Fake::new(vec![Plan::Run, Plan::Nothing]);
    e.start(&mut h, 0, 1);
    e.stop_with_dependents(&mut h, 1, &[0]);
    exit_on(&mut e, &mut h, 2, 0, 0);
    assert_eq!(e.state(1), Some(State::Waiting));
    e.start(&mut h, 3, 1);
    assert_eq!(h.spawned(0), 2, "start of the grouping requests its needs");
    assert_eq!(e.state(1), Some(State::Done));

    let deps = e.stop_with_dependents(&mut h, 4, &[1]);
    assert!(deps.is_empty());
    assert_eq!(e.state(1), Some(State::Stopped), "named, it stops");
    assert_eq!(e.state(0), Some(State::Running));

    e.start(&mut h, 5, 1);
    e.stop_with_dependents(&mut h, 6, &[0]);
    assert_eq!(e.state(1), Some(State::Waiting));
    exit_on(&mut e, &mut h, 7, 0, 0);
    e.stop_all(&mut h, 8);
    assert_eq!(e.state(1), Some(State::Stopped), "a shutdown stops it");
    assert!(e.all_down());
}

/// In a shutdown a `done` grouping is stopped, not parked (it is one of
/// the services going down, after everything that needs it).
#[test]
fn a_shutdown_stops_groupings() {
    let mut nodes = daemons(2, &[(1, 0, true)]);
    nodes[1].respawn = false;
    nodes[1].grouping = true;
    let mut e = Engine::new(nodes);
    let mut h = Fake::new(vec![Plan::Run, Plan::Nothing]);
    e.start(&mut h, 0, 1);
    e.stop_all(&mut h, 1);
    assert_eq!(e.state(1), Some(State::Stopped));
    assert_eq!(
        h.states_of("b"),
        [State::Waiting, State::Done, State::Stopping, State::Stopped]
    );
}

/// The cascade goes on through a parked grouping: x (respawn) needs the
/// grouping g, which needs n. Stopping n parks g and stops x (a
/// dependent); starting n brings g back, x stays stopped until started.
#[test]
fn a_cascade_goes_through_a_parked_grouping() {
    let mut nodes = daemons(3, &[(1, 0, true), (2, 1, true)]);
    nodes[1].respawn = false;
    nodes[1].grouping = true;
    let mut e = Engine::new(nodes);
    let mut h = Fake::new(vec![Plan::Run, Plan::Nothing, Plan::Run]);
    e.start(&mut h, 0, 2);
    let (n, x) = (h.pid_of(0, Role::On), h.pid_of(2, Role::On));
    let deps = e.stop_with_dependents(&mut h, 1, &[0]);
    assert_eq!(deps, [2]);
    assert_eq!(termed(&h), [x], "x before n");
    exit(&mut e, &mut h, 2, x, 0);
    assert_eq!(termed(&h), [x, n]);
    exit(&mut e, &mut h, 3, n, 0);
    e.start(&mut h, 4, 0);
    assert_eq!(e.state(1), Some(State::Done));
    assert_eq!(e.state(2), Some(State::Stopped));
}

/// A parked grouping survives a hot update: exported and restored while
/// parked, it stays `waiting` without pulling its need, and is `done` once
/// the need is started in the new engine.
#[test]
fn a_parked_grouping_survives_a_hot_update() {
    let mut nodes = daemons(2, &[(1, 0, true)]);
    nodes[1].respawn = false;
    nodes[1].grouping = true;
    let mut e = Engine::new(nodes);
    let mut h = Fake::new(vec![Plan::Run, Plan::Nothing]);
    e.start(&mut h, 0, 1);
    e.stop_with_dependents(&mut h, 1, &[0]);
    exit_on(&mut e, &mut h, 2, 0, 0);
    assert!(e.nodes[1].grouping);
    let (mut e, lost) = reload(&e);
    assert!(lost.is_empty());
    e.tick(&mut h, 3);
    assert_eq!(e.state(1), Some(State::Waiting));
    assert_eq!(h.spawned(0), 1);
    e.start(&mut h, 4, 0);
    assert_eq!(e.state(1), Some(State::Done));
}

/// A grouping already parked by the stop of one need does not hold back
/// the stop of another: init (2) needs a (0) and b (1); after `stop a`
/// parks init, `stop b` sends b its SIGTERM at once (init's state does not
/// change, so nothing else would wake b's waiting stop).
#[test]
fn a_grouping_parked_earlier_does_not_hold_back_a_second_stop() {
    let mut nodes = daemons(3, &[(2, 0, true), (2, 1, true)]);
    nodes[2].respawn = false;
    nodes[2].grouping = true;
    let mut e = Engine::new(nodes);
    let mut h = Fake::new(vec![Plan::Run, Plan::Run, Plan::Nothing]);
    e.start(&mut h, 0, 2);
    let (a, b) = (h.pid_of(0, Role::On), h.pid_of(1, Role::On));
    e.stop_with_dependents(&mut h, 1, &[0]);
    exit_on(&mut e, &mut h, 2, 0, 0);
    assert_eq!(e.state(0), Some(State::Stopped));
    assert_eq!(e.state(2), Some(State::Waiting));
    assert_eq!(termed(&h), [a]);
    e.stop_with_dependents(&mut h, 3, &[1]);
    assert_eq!(termed(&h), [a, b], "b's stop waits for a parked grouping");
    exit_on(&mut e, &mut h, 4, 1, 0);
    assert_eq!(e.state(1), Some(State::Stopped));
    assert_eq!(e.state(2), Some(State::Waiting));
}
