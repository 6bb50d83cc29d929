//! Unit tests of the engine against a recording fake host (no forking).

use super::*;
use crate::engine::state::SpawnError;
use std::collections::HashSet;

/// What the fake host answers for each service's spawns.
#[derive(Clone, Debug)]
enum Plan {
    Run,
    Nothing,
    Fail(i32),
}

struct Fake {
    plan: Vec<Plan>,
    has_off: Vec<bool>,
    next_pid: Pid,
    spawns: Vec<(usize, Role, Pid)>,
    /// For each entry of `spawns`: the state its service was last reported
    /// in before that spawn (`None`: never reported).
    spawned_from: Vec<Option<State>>,
    /// `(service, descriptor)` of each spawn asked for with a readiness pipe.
    ready_fds: Vec<(usize, i32)>,
    signals: Vec<(Pid, Signal)>,
    reports: Vec<(String, Report)>,
    /// The last state reported for each service.
    last: Vec<Option<State>>,
    live: HashSet<Pid>,
    /// Services whose cgroup holds processes (`tests/drain.rs`).
    rest: HashSet<usize>,
    /// Each [`Host::kill_rest`] call, by service.
    kills: Vec<usize>,
    /// `(service, milliseconds)` of each spawn asked for with a watchdog.
    watchdogs: Vec<(usize, Millis)>,
    /// Services whose condition does not hold: a start skips them.
    skip: Vec<bool>,
    /// Each [`Host::start`] call (a start that checks the condition), by
    /// service.
    starts: Vec<usize>,
}

impl Fake {
    fn new(plan: Vec<Plan>) -> Fake {
        let n = plan.len();
        Fake {
            plan,
            has_off: vec![false; n],
            next_pid: 100,
            spawns: vec![],
            spawned_from: vec![],
            ready_fds: vec![],
            signals: vec![],
            reports: vec![],
            last: vec![None; n],
            live: HashSet::new(),
            rest: HashSet::new(),
            kills: vec![],
            watchdogs: vec![],
            skip: vec![false; n],
            starts: vec![],
        }
    }
    fn pid_of(&self, svc: usize, role: Role) -> Pid {
        self.spawns
            .iter()
            .rev()
            .find(|s| s.0 == svc && s.1 == role)
            .unwrap()
            .2
    }
    fn spawned(&self, svc: usize) -> usize {
        self.spawns
            .iter()
            .filter(|s| s.0 == svc && s.1 == Role::On)
            .count()
    }
    fn states_of(&self, name: &str) -> Vec<State> {
        self.reports
            .iter()
            .filter(|r| r.0 == name)
            .map(|r| r.1.state)
            .collect()
    }
}

impl Host for Fake {
    fn spawn(&mut self, svc: usize, role: Role) -> Result<Spawned, SpawnError> {
        if role == Role::Off && !self.has_off[svc] {
            return Ok(Spawned::Nothing);
        }
        match self.plan[svc] {
            Plan::Run => {
                self.next_pid += 1;
                self.spawns.push((svc, role, self.next_pid));
                self.spawned_from.push(self.last[svc]);
                self.live.insert(self.next_pid);
                Ok(Spawned::Pid(self.next_pid))
            }
            Plan::Nothing => Ok(Spawned::Nothing),
            Plan::Fail(errno) => Err(SpawnError::Exec {
                path: "/x".into(),
                errno,
            }),
        }
    }
    fn spawn_ready(&mut self, svc: usize, fd: i32) -> Result<Spawned, SpawnError> {
        self.ready_fds.push((svc, fd));
        self.spawn(svc, Role::On)
    }
    fn spawn_main(
        &mut self,
        svc: usize,
        ready_fd: Option<i32>,
        watchdog: Option<Millis>,
    ) -> Result<Spawned, SpawnError> {
        let ms = watchdog.expect("spawn_main is asked only with a watchdog");
        self.watchdogs.push((svc, ms));
        match ready_fd {
            Some(fd) => self.spawn_ready(svc, fd),
            None => self.spawn(svc, Role::On),
        }
    }
    fn start(
        &mut self,
        svc: usize,
        ready_fd: Option<i32>,
        watchdog: Option<Millis>,
    ) -> Result<Spawned, SpawnError> {
        self.starts.push(svc);
        if self.skip[svc] {
            return Ok(Spawned::Skipped("exists /x".into()));
        }
        if watchdog.is_some() {
            return self.spawn_main(svc, ready_fd, watchdog);
        }
        match ready_fd {
            Some(fd) => self.spawn_ready(svc, fd),
            None => self.spawn(svc, Role::On),
        }
    }
    fn signal_group(&mut self, pgid: Pid, sig: Signal) {
        assert!(self.live.contains(&pgid), "signalled reaped pid {pgid}");
        self.signals.push((pgid, sig));
    }
    fn report(&mut self, svc: usize, name: &str, report: Report) {
        self.last[svc] = Some(report.state);
        self.reports.push((name.to_string(), report));
    }
    fn kill_rest(&mut self, svc: usize) -> bool {
        self.kills.push(svc);
        self.rest.contains(&svc)
    }
    fn populated(&mut self, svc: usize) -> bool {
        self.rest.contains(&svc)
    }
}

fn exit_on(e: &mut Engine, h: &mut Fake, now: Millis, svc: usize, code: i32) {
    let pid = h.pid_of(svc, Role::On);
    exit(e, h, now, pid, code);
}

fn exit(e: &mut Engine, h: &mut Fake, now: Millis, pid: Pid, code: i32) {
    h.live.remove(&pid);
    assert!(e.child_exited(h, now, pid, ExitStatus::Code(code)));
}

/// Nodes named by letter; `deps` is (from, to, is_need).
fn graph(n: usize, deps: &[(usize, usize, bool)]) -> Vec<Node> {
    let mut nodes: Vec<Node> = (0..n)
        .map(|i| Node::new(&((b'a' + i as u8) as char).to_string()))
        .collect();
    for &(from, to, need) in deps {
        if need {
            nodes[from].needs.push(to);
        } else {
            nodes[from].wants.push(to);
        }
    }
    nodes
}

#[test]
fn independent_services_start_in_the_same_call() {
    // a needs b, c, d; b, c, d are leaves: all three spawn before any exits.
    let mut e = Engine::new(graph(4, &[(0, 1, true), (0, 2, true), (0, 3, true)]));
    let mut h = Fake::new(vec![Plan::Run; 4]);
    e.start(&mut h, 0, 0);
    assert_eq!(h.spawns.len(), 3);
    assert_eq!(e.state(0), Some(State::Waiting));
    for i in 1..4 {
        assert_eq!(e.state(i), Some(State::Starting));
    }
}

#[test]
fn need_must_finish_before_dependent_starts() {
    let mut e = Engine::new(graph(2, &[(0, 1, true)]));
    let mut h = Fake::new(vec![Plan::Run; 2]);
    e.start(&mut h, 0, 0);
    assert_eq!(h.spawned(0), 0);
    let b = h.pid_of(1, Role::On);
    exit(&mut e, &mut h, 50, b, 0);
    assert_eq!(e.state(1), Some(State::Done));
    assert_eq!(h.spawned(0), 1);
    assert_eq!(e.state(0), Some(State::Starting));
    let done = h
        .reports
        .iter()
        .find(|r| r.0 == "b" && r.1.state == State::Done);
    assert_eq!(done.unwrap().1.took, Some(50));
}

#[test]
fn respawn_need_is_satisfied_when_spawned() {
    let mut nodes = graph(2, &[(0, 1, true)]);
    nodes[1].respawn = true;
    let mut e = Engine::new(nodes);
    let mut h = Fake::new(vec![Plan::Run; 2]);
    e.start(&mut h, 0, 0);
    assert_eq!(e.state(1), Some(State::Running));
    assert_eq!(h.spawned(0), 1);
}

#[test]
fn need_failure_propagates_transitively_but_wants_still_start() {
    // a needs b, b needs c, d wants c, c fails.
    let mut nodes = graph(4, &[(0, 1, true), (1, 2, true), (3, 2, false)]);
    nodes.push(Node::new("root"));
    nodes[4].needs = vec![0, 3];
    let mut e = Engine::new(nodes);
    let mut h = Fake::new(vec![Plan::Run; 5]);
    e.start(&mut h, 0, 4);
    assert_eq!(h.spawned(3), 0, "d must wait for its want");
    let c = h.pid_of(2, Role::On);
    exit(&mut e, &mut h, 10, c, 3);
    assert_eq!(e.state(2), Some(State::Failed));
    assert_eq!(e.state(1), Some(State::NeedFailed));
    assert_eq!(e.state(0), Some(State::NeedFailed));
    assert_eq!(e.state(4), Some(State::NeedFailed));
    assert_eq!(
        e.status(0).unwrap().reason,
        Some(&Reason::NeedFailed("b".into()))
    );
    assert_eq!(h.spawned(0) + h.spawned(1), 0);
    assert_eq!(
        e.state(3),
        Some(State::Starting),
        "want failure must not block"
    );
}

#[test]
fn missing_on_is_done_at_once_and_releases_dependents() {
    let mut e = Engine::new(graph(2, &[(0, 1, true)]));
    let mut h = Fake::new(vec![Plan::Run, Plan::Nothing]);
    e.start(&mut h, 0, 0);
    assert_eq!(e.state(1), Some(State::Done));
    assert_eq!(e.state(0), Some(State::Starting));
}

#[test]
fn missing_need_link_is_need_failed_with_the_entry_named() {
    let mut nodes = graph(1, &[]);
    nodes[0].missing_need = Some(Box::new(("needs/db".into(), "no such service".into())));
    let mut e = Engine::new(nodes);
    let mut h = Fake::new(vec![Plan::Run]);
    e.start(&mut h, 0, 0);
    assert_eq!(e.state(0), Some(State::NeedFailed));
    assert_eq!(h.spawns.len(), 0);
    assert_eq!(
        h.reports[1].1.detail.as_deref(),
        Some("need needs/db: no such service")
    );
}

#[test]
fn broken_service_fails_and_its_dependents_are_need_failed() {
    let mut nodes = graph(3, &[(0, 1, true), (2, 1, false)]);
    nodes[1].broken = Some(Box::new(Reason::Cycle("b -> b".into())));
    let mut e = Engine::new(nodes);
    let mut h = Fake::new(vec![Plan::Run; 3]);
    e.start(&mut h, 0, 0);
    e.start(&mut h, 0, 2);
    assert_eq!(e.state(1), Some(State::Failed));
    assert_eq!(e.state(0), Some(State::NeedFailed));
    assert_eq!(e.state(2), Some(State::Starting));
}

#[test]
fn stop_runs_off_then_term_then_kill_after_delay() {
    let mut nodes = graph(1, &[]);
    nodes[0].respawn = true;
    nodes[0].delay_s = Some(2);
    let mut e = Engine::new(nodes);
    let mut h = Fake::new(vec![Plan::Run]);
    h.has_off[0] = true;
    e.start(&mut h, 0, 0);
    let main = h.pid_of(0, Role::On);
    e.stop(&mut h, 10, 0);
    assert_eq!(e.state(0), Some(State::Stopping));
    let off = h.pid_of(0, Role::Off);
    assert!(h.signals.is_empty(), "no signal while off runs");
    exit(&mut e, &mut h, 20, off, 0);
    assert_eq!(
        h.signals,
        [(main, Signal::SIGTERM), (main, Signal::SIGCONT)]
    );
    assert_eq!(e.next_deadline(), Some(2020));
    e.tick(&mut h, 2020);
    assert_eq!(h.signals.last(), Some(&(main, Signal::SIGKILL)));
    assert_eq!(e.state(0), Some(State::Stopping));
    h.live.remove(&main);
    assert!(e.child_exited(&mut h, 2021, main, ExitStatus::Signal(9)));
    assert_eq!(e.state(0), Some(State::Stopped));
    assert_eq!(h.spawned(0), 1, "no respawn after stop");
}

#[test]
fn stuck_off_is_killed_after_delay_and_delay_zero_never_kills() {
    let mut nodes = graph(2, &[]);
    nodes[0].delay_s = Some(1);
    nodes[1].delay_s = Some(0);
    nodes[1].respawn = true;
    let mut e = Engine::new(nodes);
    let mut h = Fake::new(vec![Plan::Run; 2]);
    h.has_off[0] = true;
    e.start(&mut h, 0, 0);
    e.start(&mut h, 0, 1);
    let a = h.pid_of(0, Role::On);
    exit(&mut e, &mut h, 0, a, 0);
    e.stop(&mut h, 0, 0);
    let off = h.pid_of(0, Role::Off);
    e.tick(&mut h, 1000);
    assert_eq!(h.signals, [(off, Signal::SIGKILL)]);
    exit(&mut e, &mut h, 1001, off, 0);
    assert_eq!(e.state(0), Some(State::Stopped));

    h.signals.clear();
    let b = h.pid_of(1, Role::On);
    e.stop(&mut h, 0, 1);
    assert_eq!(h.signals, [(b, Signal::SIGTERM), (b, Signal::SIGCONT)]);
    assert_eq!(e.next_deadline(), None, "delay 0 never escalates to KILL");
}

#[test]
fn stopping_a_service_whose_process_already_died_sends_nothing() {
    let mut nodes = graph(1, &[]);
    nodes[0].respawn = true;
    let mut e = Engine::new(nodes);
    let mut h = Fake::new(vec![Plan::Run]);
    e.start(&mut h, 0, 0);
    // Two quick deaths: second leaves it in backoff with no process.
    exit_on(&mut e, &mut h, 0, 0, 1);
    exit_on(&mut e, &mut h, 0, 0, 1);
    assert_eq!(e.state(0), Some(State::Backoff));
    e.stop(&mut h, 1, 0);
    assert_eq!(e.state(0), Some(State::Stopped));
    assert!(h.signals.is_empty());
    e.tick(&mut h, 60_000);
    assert_eq!(h.spawned(0), 2, "a stopped service is not restarted");
}

#[test]
fn orphans_are_not_ours_and_start_retries_failed_services() {
    let mut e = Engine::new(graph(1, &[]));
    let mut h = Fake::new(vec![Plan::Run]);
    assert!(!e.child_exited(&mut h, 0, 4242, ExitStatus::Code(0)));
    e.start(&mut h, 0, 0);
    exit_on(&mut e, &mut h, 1, 0, 2);
    assert_eq!(e.state(0), Some(State::Failed));
    e.start(&mut h, 2, 0);
    assert_eq!(e.state(0), Some(State::Starting));
    assert_eq!(
        h.states_of("a"),
        [
            State::Waiting,
            State::Starting,
            State::Failed,
            State::Waiting,
            State::Starting
        ]
    );
}

// ----- properties over random graphs and random exit orders -----

/// (edges as (from, to, is_need), respawn flag per node, exit choices)
#[test]
fn stop_with_dependents_takes_needers_down_first() {
    // c needs b needs a; d wants a (not a needer); e needs a but failed.
    let mut nodes = graph(
        5,
        &[(2, 1, true), (1, 0, true), (3, 0, false), (4, 0, true)],
    );
    for n in nodes.iter_mut().take(3) {
        n.respawn = true;
    }
    nodes[3].respawn = true;
    let mut e = Engine::new(nodes);
    let mut h = Fake::new(vec![Plan::Run; 5]);
    for root in [2, 3, 4] {
        e.start(&mut h, 0, root);
    }
    exit_on(&mut e, &mut h, 0, 4, 1); // e (once) fails
    let (a, b, c) = (
        h.pid_of(0, Role::On),
        h.pid_of(1, Role::On),
        h.pid_of(2, Role::On),
    );
    let deps = e.stop_with_dependents(&mut h, 1, &[0]);
    assert_eq!(
        deps,
        vec![1, 2],
        "b and c need a; d only wants it; e is down"
    );
    // Only c (the outermost needer) is signalled first.
    assert_eq!(h.signals, [(c, Signal::SIGTERM), (c, Signal::SIGCONT)]);
    assert_eq!(e.state(0), Some(State::Running));
    exit(&mut e, &mut h, 2, c, 0);
    assert_eq!(h.signals[2..], [(b, Signal::SIGTERM), (b, Signal::SIGCONT)]);
    exit(&mut e, &mut h, 3, b, 0);
    assert_eq!(h.signals[4..], [(a, Signal::SIGTERM), (a, Signal::SIGCONT)]);
    exit(&mut e, &mut h, 4, a, 0);
    for i in 0..3 {
        assert!(e.is_down(i));
        assert_eq!(e.state(i), Some(State::Stopped));
    }
    assert_eq!(e.state(3), Some(State::Running), "wanting is not needing");
}

#[test]
fn independent_needers_stop_in_parallel() {
    let mut nodes = graph(3, &[(1, 0, true), (2, 0, true)]);
    for n in nodes.iter_mut() {
        n.respawn = true;
    }
    let mut e = Engine::new(nodes);
    let mut h = Fake::new(vec![Plan::Run; 3]);
    e.start(&mut h, 0, 1);
    e.start(&mut h, 0, 2);
    e.stop_with_dependents(&mut h, 1, &[0]);
    let mut termed: Vec<Pid> = h
        .signals
        .iter()
        .filter(|s| s.1 == Signal::SIGTERM)
        .map(|s| s.0)
        .collect();
    termed.sort();
    assert_eq!(termed, [h.pid_of(1, Role::On), h.pid_of(2, Role::On)]);
}

#[test]
fn start_alone_ignores_dependencies_and_add_nodes_extends() {
    let mut e = Engine::new(graph(2, &[(0, 1, true)]));
    let mut h = Fake::new(vec![Plan::Run; 3]);
    e.start_alone(&mut h, 0, 0);
    assert_eq!(e.state(0), Some(State::Starting));
    assert_eq!(e.state(1), Some(State::Stopped), "its need was not started");
    let mut late = Node::new("late");
    late.needs = vec![1];
    e.add_nodes(vec![late]);
    assert_eq!(e.len(), 3);
    e.start(&mut h, 0, 2);
    assert_eq!(e.state(1), Some(State::Starting));
    assert_eq!(e.state(2), Some(State::Waiting));
    exit_on(&mut e, &mut h, 1, 1, 0);
    assert_eq!(e.state(2), Some(State::Starting));
    assert!(e.is_settled(1) && !e.is_settled(2));
}

// ----- A8 at the engine level, and the state machine's invariants -----

/// A 100 000-deep chain of needs starts bottom-up and, when the bottom
/// fails, need-fails all the way up, without recursion.
#[test]
fn a8_a_hundred_thousand_deep_chain_starts_and_fails_iteratively() {
    let n = 100_000;
    let mut nodes: Vec<Node> = (0..n).map(|i| Node::new(&i.to_string())).collect();
    for (i, node) in nodes.iter_mut().enumerate().take(n - 1) {
        node.needs.push(i + 1);
    }
    let mut e = Engine::new(nodes);
    let mut h = Fake::new(vec![Plan::Nothing; n]);
    e.start(&mut h, 0, 0);
    assert!((0..n).all(|i| e.state(i) == Some(State::Done)));
    let mut nodes: Vec<Node> = (0..n).map(|i| Node::new(&i.to_string())).collect();
    for (i, node) in nodes.iter_mut().enumerate().take(n - 1) {
        node.needs.push(i + 1);
    }
    nodes[n - 1].broken = Some(Box::new(Reason::Config("x".into())));
    let mut e = Engine::new(nodes);
    e.start(&mut h, 0, 0);
    assert_eq!(e.state(n - 1), Some(State::Failed));
    assert!((0..n - 1).all(|i| e.state(i) == Some(State::NeedFailed)));
}

// Property tests over random graphs and event orders.
mod props;

/// The deadline index against the scan it replaced.
mod deadlines;

// Readiness (`notification-fd`) and `ready-timeout`.
mod ready;

// Stop order (wants) and parked groupings.
mod stop;

// Stopping everything, and saving and loading across a hot update.
mod shutdown;

/// `e` saved to its NODE and SERVICE sections and loaded back, as a hot
/// update does.
pub(super) fn reload(e: &Engine) -> (Engine, Vec<String>) {
    let mut s = crate::proto::wire::Sections::default();
    e.save(&mut s);
    Engine::load(&s, |l| crate::config::probe::parse_line(l).ok())
}

// The engine's own snapshot sections.
mod saved;

// A stop that waits for the service's cgroup to empty.
mod drain;

/// A root wanting 1000 services queues thousands of entries while it
/// starts them; once the queue is drained, it gives that memory back
/// instead of holding the burst's size for good.
#[test]
fn the_drained_queue_gives_back_what_a_burst_took() {
    let n = 1000;
    let mut nodes: Vec<Node> = (0..=n).map(|i| Node::new(&format!("s{i}"))).collect();
    nodes[0].wants = (1..=n).collect();
    let mut e = Engine::new(nodes);
    let mut h = Fake::new(vec![Plan::Run; n + 1]);
    e.start(&mut h, 0, 0);
    assert_eq!(h.spawns.len(), n);
    assert!(e.queue.is_empty());
    assert!(
        e.queue.capacity() <= enter::QUEUE_KEPT,
        "{} slots kept",
        e.queue.capacity()
    );
}

/// Proves the per-service tables stay small: a `Node` and a `Svc` are held
/// for every service for PID 1's life, so their rare parts (a broken or
/// missing need's reason, a probe, a failure's reason) are boxed. A field
/// added inline that grows either past these sizes (240 and 152 bytes
/// before the boxes) fails here, on purpose:
/// 1000 services pay it 1000 times (bench/analysis.md, "PID 1's memory").
/// A `Node` is 144 bytes since `restart-limit` and `on-failure` (one box,
/// 8 bytes; nothing allocated for a service without them).
#[test]
fn per_service_tables_stay_small() {
    let (node, svc) = (std::mem::size_of::<Node>(), std::mem::size_of::<Svc>());
    assert!(node <= 144, "Node is {node} B");
    assert!(svc <= 112, "Svc is {svc} B");
}

// A death in the host's words (the OOM killer).
mod died;

// The service watchdog.
mod watchdog;
// Services whose condition does not hold (`skipped`).
mod skip;
// `restart-limit` and the failures kept for `on-failure`.
mod limit;
// Failed starts, restart delays and backoff.
mod restart;
