//! Unit tests of the boot timeline the engine records (no forking).

use super::super::{Host, Node, Pid, Report, Role, Spawned};
use super::*;
use crate::engine::state::{SpawnError, State};
use crate::sys::process::ExitStatus;
use nix::sys::signal::Signal;

/// A host whose spawns succeed with fresh pids, or fail with `errno` for
/// the services listed in `fail`.
#[derive(Default)]
struct Fake {
    next_pid: Pid,
    /// (service, pid) of every main process spawned, in order.
    spawned: Vec<(usize, Pid)>,
    fail: Vec<(usize, i32)>,
}

impl Host for Fake {
    fn spawn(&mut self, svc: usize, role: Role) -> Result<Spawned, SpawnError> {
        if role == Role::Off {
            return Ok(Spawned::Nothing);
        }
        if let Some(&(_, errno)) = self.fail.iter().find(|f| f.0 == svc) {
            return Err(SpawnError::Exec {
                path: "/x".into(),
                errno,
            });
        }
        self.next_pid += 1;
        self.spawned.push((svc, 100 + self.next_pid));
        Ok(Spawned::Pid(100 + self.next_pid))
    }
    fn signal_group(&mut self, _pgid: Pid, _sig: Signal) {}
    fn report(&mut self, _svc: usize, _name: &str, _report: Report) {}
}

impl Fake {
    fn pid(&self, svc: usize) -> Pid {
        self.spawned.iter().rev().find(|s| s.0 == svc).unwrap().1
    }
}

fn exit(e: &mut Engine, h: &mut Fake, now: Millis, svc: usize, code: i32) {
    let pid = h.pid(svc);
    assert!(e.child_exited(h, now, pid, ExitStatus::Code(code)));
}

fn t(
    requested: Option<Millis>,
    startable: Option<Millis>,
    spawned: Option<Millis>,
    ready: Option<Millis>,
    ended: Option<Millis>,
) -> Times {
    Times {
        requested,
        startable,
        spawned,
        ready,
        ended,
    }
}

/// `names[i]` needs the services in `needs[i]` and wants those in `wants[i]`.
fn nodes(names: &[&str], needs: &[&[usize]], wants: &[&[usize]]) -> Vec<Node> {
    names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let mut node = Node::new(n);
            node.needs = needs.get(i).map(|d| d.to_vec()).unwrap_or_default();
            node.wants = wants.get(i).map(|d| d.to_vec()).unwrap_or_default();
            node
        })
        .collect()
}

#[test]
fn a_chain_records_each_step_when_it_happens() {
    // top needs mid, mid needs base: each becomes startable when the one
    // below is done, and is spawned at that moment.
    let mut e = Engine::new(nodes(&["top", "mid", "base"], &[&[1], &[2]], &[]));
    let mut h = Fake::default();
    e.start(&mut h, 10, 0);
    assert_eq!(e.times(0), Some(&t(Some(10), None, None, None, None)));
    assert_eq!(
        e.times(2),
        Some(&t(Some(10), Some(10), Some(10), None, None))
    );
    exit(&mut e, &mut h, 110, 2, 0);
    exit(&mut e, &mut h, 350, 1, 0);
    exit(&mut e, &mut h, 400, 0, 0);
    assert_eq!(
        e.times(2),
        Some(&t(Some(10), Some(10), Some(10), Some(110), None))
    );
    assert_eq!(
        e.times(1),
        Some(&t(Some(10), Some(110), Some(110), Some(350), None))
    );
    assert_eq!(
        e.times(0),
        Some(&t(Some(10), Some(350), Some(350), Some(400), None))
    );
}

#[test]
fn a_want_that_fails_settles_its_wanter_at_its_end() {
    let mut e = Engine::new(nodes(&["app", "opt"], &[], &[&[1]]));
    let mut h = Fake::default();
    e.start(&mut h, 0, 0);
    exit(&mut e, &mut h, 50, 1, 3);
    assert_eq!(e.state(1), Some(State::Failed));
    assert_eq!(
        e.times(1),
        Some(&t(Some(0), Some(0), Some(0), None, Some(50)))
    );
    assert_eq!(
        e.times(0),
        Some(&t(Some(0), Some(50), Some(50), None, None))
    );
}

#[test]
fn need_failed_services_have_an_end_but_were_never_startable() {
    let mut e = Engine::new(nodes(&["web", "db"], &[&[1]], &[]));
    let mut h = Fake::default();
    e.start(&mut h, 5, 0);
    exit(&mut e, &mut h, 30, 1, 1);
    assert_eq!(e.state(0), Some(State::NeedFailed));
    assert_eq!(e.times(0), Some(&t(Some(5), None, None, None, Some(30))));
}

#[test]
fn respawns_keep_the_first_start_and_a_new_request_begins_a_new_cycle() {
    let mut n = nodes(&["d"], &[], &[]);
    n[0].respawn = true;
    let mut e = Engine::new(n);
    let mut h = Fake::default();
    e.start(&mut h, 0, 0);
    let first = t(Some(0), Some(0), Some(0), Some(0), None);
    assert_eq!(e.times(0), Some(&first));
    // Immediate restart, then a quick death that backs off, then the
    // restart after the backoff: the first start stays.
    exit(&mut e, &mut h, 20, 0, 1);
    exit(&mut e, &mut h, 40, 0, 1);
    assert_eq!(e.state(0), Some(State::Backoff));
    e.tick(&mut h, 1_000);
    assert_eq!(e.state(0), Some(State::Running));
    assert_eq!(h.spawned.len(), 3);
    assert_eq!(e.times(0), Some(&first));
    // A stop ends the cycle; the next start begins a new one.
    e.stop(&mut h, 2_000, 0);
    exit(&mut e, &mut h, 2_010, 0, 0);
    assert_eq!(e.state(0), Some(State::Stopped));
    assert_eq!(
        e.times(0),
        Some(&t(Some(0), Some(0), Some(0), Some(0), Some(2_010)))
    );
    e.start(&mut h, 3_000, 0);
    assert_eq!(
        e.times(0),
        Some(&t(Some(3_000), Some(3_000), Some(3_000), Some(3_000), None))
    );
}

#[test]
fn start_without_deps_is_a_request_that_is_startable_at_once() {
    // a needs b, which never exits: a waits; --no-deps starts it anyway.
    let mut e = Engine::new(nodes(&["a", "b"], &[&[1]], &[]));
    let mut h = Fake::default();
    e.start(&mut h, 0, 0);
    assert_eq!(e.times(0), Some(&t(Some(0), None, None, None, None)));
    e.start_alone(&mut h, 70, 0);
    assert_eq!(e.state(0), Some(State::Starting));
    assert_eq!(
        e.times(0),
        Some(&t(Some(70), Some(70), Some(70), None, None))
    );
    // Already starting: another --no-deps start changes nothing.
    e.start_alone(&mut h, 90, 0);
    assert_eq!(e.times(0).unwrap().requested, Some(70));
}

#[test]
fn a_temporary_spawn_error_is_startable_but_spawned_only_later() {
    let mut n = nodes(&["r"], &[], &[]);
    n[0].respawn = true;
    let mut e = Engine::new(n);
    let mut h = Fake {
        fail: vec![(0, libc::EAGAIN)],
        ..Fake::default()
    };
    e.start(&mut h, 0, 0);
    assert_eq!(e.state(0), Some(State::Backoff));
    assert_eq!(e.times(0), Some(&t(Some(0), Some(0), None, None, None)));
    h.fail.clear();
    e.tick(&mut h, 500);
    assert_eq!(
        e.times(0),
        Some(&t(Some(0), Some(0), Some(500), Some(500), None))
    );
}

#[test]
fn nothing_starts_while_halting_and_the_end_says_when() {
    let mut e = Engine::new(nodes(&["a", "b"], &[&[1]], &[]));
    let mut h = Fake::default();
    e.start(&mut h, 0, 0);
    e.stop_all(&mut h, 10);
    exit(&mut e, &mut h, 20, 1, 0);
    assert_eq!(e.state(0), Some(State::Stopped));
    assert_eq!(e.times(0), Some(&t(Some(0), None, None, None, Some(10))));
}

#[test]
fn times_survive_export_and_restore() {
    let mut e = Engine::new(nodes(&["a", "b"], &[&[1]], &[]));
    let mut h = Fake::default();
    e.set_started_at(3);
    e.start(&mut h, 10, 0);
    exit(&mut e, &mut h, 40, 1, 0);
    let Timeline { started, times } = e.timeline().clone();
    assert_eq!(started, Some(3));
    let (mut back, lost) = crate::engine::machine::tests::reload(&e);
    assert!(lost.is_empty());
    back.restore_times(&Timeline {
        started,
        times: times.clone(),
    });
    assert_eq!(back.started_at(), Some(3));
    for i in 0..2 {
        assert_eq!(back.times(i), e.times(i));
    }
    // Fewer records than services: the rest stay empty; extra ones are
    // ignored; an absent start time keeps the one set.
    let (mut short, _) = crate::engine::machine::tests::reload(&e);
    short.set_started_at(9);
    short.restore_times(&Timeline {
        started: None,
        times: times.get(..1).unwrap().to_vec(),
    });
    assert_eq!(short.times(0), e.times(0));
    assert_eq!(short.times(1), Some(&Times::default()));
    assert_eq!(short.started_at(), Some(9));
    let mut more = times.clone();
    more.push(Times::default());
    short.restore_times(&Timeline {
        started: Some(1),
        times: more,
    });
    assert_eq!(short.times(1), e.times(1));
    assert_eq!(short.started_at(), Some(1));
    // Services added later get empty times.
    short.add_nodes(vec![Node::new("c")]);
    assert_eq!(short.times(2), Some(&Times::default()));
}
