//! The supervision engine: start order, process exits, restarts and stops.
//!
//! Pure logic. Everything that touches the system goes through the [`Host`]
//! trait (spawn, signal, report), and time is passed in as milliseconds, so the
//! whole state machine is unit-tested without forking.
//!
//! Rules (see the README for the user-facing table):
//! - A waiting service starts as soon as every need has *started* (once: done;
//!   respawn: spawned at least once) and every want has *settled* (started,
//!   failed, or stopped). Everything that is ready starts in the same call:
//!   starts are parallel, nothing waits on a timer.
//! - A need in `failed`/`need-failed`, or a need link to nowhere, makes the
//!   service `need-failed`; that propagates to its own dependents.
//! - A respawn service that exits is restarted at once the first time; quick
//!   deaths back off (see [`restart_delay`]).
//! - A respawn service with `notification-fd` or `ready-probe` is
//!   `starting` from each spawn until [`Engine::ready`] says its process
//!   signalled readiness (or its probe held); only then
//!   has it *started* for its needers. A `ready-timeout` is a deadline on
//!   `starting` (once or respawn): when it passes, the service is stopped
//!   and ends `failed` (see `engine_ready.rs`).
//! - Stopping runs `off`, then SIGTERM (+SIGCONT) to the process group, then
//!   SIGKILL after `delay` seconds. Only pids that have not been reaped are ever
//!   signalled: the pid map is updated the moment a child is reaped.
//! - A stop of a set goes in reverse start order: a service only after every
//!   service of the set that needs or wants it is down; a grouping reached
//!   by the cascade is parked in `waiting` (see `engine_stop.rs`).
//!
//! Invariants: at most one main process and one `off` process per service; a
//! pid is in `pids` exactly while its process is unreaped; the work queue is
//! drained before every public method returns.

pub mod graph;
pub mod state;

use std::collections::VecDeque;

use nix::sys::signal::Signal;

use crate::engine::state::{ExitStatus, Reason, SpawnError, State};
use crate::HashMap;

pub type Pid = i32;
/// Milliseconds on the monotonic clock.
pub type Millis = u64;

/// Seconds from SIGTERM to SIGKILL when a service has no `delay` file.
pub const DEFAULT_DELAY_S: u32 = 5;
/// A respawn service that ran at least this long has its backoff reset.
pub const STABLE_MS: Millis = 10_000;
/// Delay before the second quick restart; doubles for each further one.
pub const BACKOFF_FIRST_MS: Millis = 100;
/// Longest delay between two restarts.
pub const BACKOFF_MAX_MS: Millis = 30_000;
/// How long a process may take to disappear after SIGKILL before a shutdown
/// gives up on it (a process in uninterruptible sleep never does).
pub const KILL_WAIT_MS: Millis = 1_000;

/// Restart delay after the `quick_deaths`-th quick death in a row:
/// 0 (immediate), 100 ms, 200 ms, 400 ms, … capped at 30 s.
pub fn restart_delay(quick_deaths: u32) -> Millis {
    if quick_deaths <= 1 {
        return 0;
    }
    let shift = (quick_deaths - 2).min(20);
    BACKOFF_FIRST_MS
        .saturating_mul(1 << shift)
        .min(BACKOFF_MAX_MS)
}

/// The static description of one service, as loaded from its directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    pub respawn: bool,
    /// Seconds between SIGTERM and SIGKILL; `None` = [`DEFAULT_DELAY_S`].
    pub delay_s: Option<u32>,
    pub needs: Vec<usize>,
    pub wants: Vec<usize>,
    /// A `needs/` entry pointing nowhere: (entry, why). Makes it need-failed.
    pub missing_need: Option<(String, String)>,
    /// A reason this service can never start (cycle, unreadable directory).
    pub broken: Option<Reason>,
    /// `notification-fd`: the descriptor on which the process signals
    /// readiness. Only a respawn service uses it (see [`Node::ready_fd`]).
    pub notify_fd: Option<i32>,
    /// `ready-timeout`: the longest time in `starting`, in milliseconds.
    pub ready_timeout_ms: Option<Millis>,
    /// `ready-probe`: what must hold before the process counts as ready.
    /// Only a respawn service has one (the loader refuses it elsewhere).
    pub probe: Option<crate::ready::probe::Probe>,
    /// A grouping: neither `on` nor `off`, nothing runs when it starts or
    /// stops (like a systemd target). A stop cascading from one of its
    /// needs parks it in `waiting` instead of stopping it (see
    /// `engine_stop.rs`).
    pub grouping: bool,
}

impl Node {
    pub fn new(name: &str) -> Self {
        Node {
            name: name.to_string(),
            respawn: false,
            delay_s: None,
            needs: Vec::new(),
            wants: Vec::new(),
            missing_need: None,
            broken: None,
            notify_fd: None,
            ready_timeout_ms: None,
            probe: None,
            grouping: false,
        }
    }

    /// The descriptor a spawn must hand the readiness pipe to: a respawn
    /// service's `notification-fd` (a once service is up when `on` exits).
    pub fn ready_fd(&self) -> Option<i32> {
        self.notify_fd.filter(|_| self.respawn)
    }

    /// Whether a spawn of this service is `starting` until something says
    /// it is ready: a respawn service with `notification-fd` or
    /// `ready-probe`.
    pub fn gated(&self) -> bool {
        self.respawn && (self.notify_fd.is_some() || self.probe.is_some())
    }
}

/// Which program of a service a process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    On,
    Off,
}

/// Result of a successful [`Host::spawn`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spawned {
    Pid(Pid),
    /// The service has no `on` (or `off`): nothing to run, success.
    Nothing,
}

/// One line for the console: a service entered `state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub state: State,
    pub pid: Option<Pid>,
    /// How long the previous phase took (a once run, an uptime).
    pub took: Option<Millis>,
    pub detail: Option<String>,
}

/// The engine's window on the system.
pub trait Host {
    /// Start `role` of service `svc` in a clean child. Must not block beyond
    /// the spawn itself.
    fn spawn(&mut self, svc: usize, role: Role) -> Result<Spawned, SpawnError>;
    /// Start `on` of service `svc` with the write end of a new readiness
    /// pipe at descriptor `fd`; the host reports the newline that arrives on
    /// it as [`Engine::ready`]. A host without readiness pipes (the default)
    /// spawns plainly: the service then stays `starting` until the caller
    /// says otherwise.
    fn spawn_ready(&mut self, svc: usize, fd: i32) -> Result<Spawned, SpawnError> {
        let _ = fd;
        self.spawn(svc, Role::On)
    }
    /// Send `sig` to the process group led by `pgid` (an unreaped child).
    fn signal_group(&mut self, pgid: Pid, sig: Signal);
    /// A service changed state.
    fn report(&mut self, svc: usize, name: &str, report: Report);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StopStep {
    /// `off` is running (or about to be skipped).
    Off,
    /// SIGTERM sent to the main process group.
    Term,
    /// SIGKILL sent; waiting for the exit.
    Kill,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stop {
    main: Option<Pid>,
    off: Option<Pid>,
    step: StopStep,
    deadline: Option<Millis>,
    /// The stop ends a `ready-timeout` of this many milliseconds: the
    /// service ends `failed` (not ready in time) instead of `stopped`.
    timed_out: Option<Millis>,
}

/// A service's state with its data. `Starting` is a once service's `on`, or
/// a respawn service not ready yet; its `deadline` is when its
/// `ready-timeout` passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Waiting,
    Starting { pid: Pid, deadline: Option<Millis> },
    Running { pid: Pid },
    Done,
    Failed,
    NeedFailed,
    Backoff { until: Millis },
    Stopping(Stop),
    Stopped,
}

impl Phase {
    fn state(self) -> State {
        match self {
            Phase::Waiting => State::Waiting,
            Phase::Starting { .. } => State::Starting,
            Phase::Running { .. } => State::Running,
            Phase::Done => State::Done,
            Phase::Failed => State::Failed,
            Phase::NeedFailed => State::NeedFailed,
            Phase::Backoff { .. } => State::Backoff,
            Phase::Stopping(_) => State::Stopping,
            Phase::Stopped => State::Stopped,
        }
    }

    fn main_pid(self) -> Option<Pid> {
        match self {
            Phase::Starting { pid, .. } | Phase::Running { pid } => Some(pid),
            Phase::Stopping(s) => s.main,
            _ => None,
        }
    }
}

/// A phase change for [`Engine::enter`], written as
/// `Change::to(phase).reason(r).took(t).detail(d)`; each part left out is
/// `None`.
struct Change {
    phase: Phase,
    /// Why the service got here (`failed`, `backoff`, …); kept for status
    /// displays until the next request.
    reason: Option<Reason>,
    /// How long the phase that ends took ([`Report::took`]).
    took: Option<Millis>,
    /// The console detail ([`Report::detail`]).
    detail: Option<String>,
}

impl Change {
    fn to(phase: Phase) -> Change {
        Change {
            phase,
            reason: None,
            took: None,
            detail: None,
        }
    }

    fn reason(mut self, reason: Reason) -> Change {
        self.reason = Some(reason);
        self
    }

    fn took(mut self, took: impl Into<Option<Millis>>) -> Change {
        self.took = took.into();
        self
    }

    fn detail(mut self, detail: impl Into<Option<String>>) -> Change {
        self.detail = detail.into();
        self
    }
}

#[derive(Debug, Clone)]
struct Svc {
    phase: Phase,
    reason: Option<Reason>,
    /// When the current phase began.
    since: Millis,
    /// When the current main process was spawned.
    spawned_at: Millis,
    restarts: u32,
    quick_deaths: u32,
    started_once: bool,
    /// Stop requested; waits until every service needing or wanting it that
    /// is being stopped too has stopped.
    stop_requested: bool,
    /// With `stop_requested`: the pending stop parks this grouping in
    /// `waiting` instead (a cascade from this need reached it).
    park_for: Option<usize>,
}

impl Svc {
    fn new() -> Svc {
        Svc {
            phase: Phase::Stopped,
            reason: None,
            since: 0,
            spawned_at: 0,
            restarts: 0,
            quick_deaths: 0,
            started_once: false,
            stop_requested: false,
            park_for: None,
        }
    }
}

/// A read-only view of one service, for status displays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status<'a> {
    pub name: &'a str,
    pub state: State,
    pub pid: Option<Pid>,
    pub reason: Option<&'a Reason>,
    pub restarts: u32,
    pub since: Millis,
    pub respawn: bool,
}

/// The service table and its state machine.
pub struct Engine {
    nodes: Vec<Node>,
    /// Reverse edges: services that need or want each service.
    dependents: Vec<Vec<usize>>,
    /// Reverse `needs` edges only: the services a stop cascades to.
    needed_by: Vec<Vec<usize>>,
    /// Per service, 1 + the index of the dependency cycle (through needs or
    /// wants) it is on, or 0. A stop never waits along an edge inside a
    /// cycle, so a cycle can never hold a stop back for good.
    cycle_of: Vec<u32>,
    svcs: Vec<Svc>,
    pids: HashMap<Pid, (usize, Role)>,
    queue: VecDeque<usize>,
    /// The system is going down: nothing starts or respawns, and a process
    /// that survives SIGKILL is given up on after [`KILL_WAIT_MS`].
    halting: bool,
    /// The boot timeline: each service's latest start ([`Times`]).
    times: Vec<Times>,
    /// When cinit itself started, the timeline's origin.
    started_at: Option<Millis>,
    /// Processes of services with `ready-probe` spawned since the daemon
    /// last looked ([`Engine::take_probe_starts`]): (service, pid).
    probe_starts: Vec<(usize, Pid)>,
}

impl Engine {
    /// Build the table. Every service starts `stopped` until [`Engine::start`].
    pub fn new(nodes: Vec<Node>) -> Engine {
        let mut e = Engine {
            nodes: Vec::new(),
            dependents: Vec::new(),
            needed_by: Vec::new(),
            cycle_of: Vec::new(),
            svcs: Vec::new(),
            pids: HashMap::default(),
            queue: VecDeque::new(),
            halting: false,
            times: Vec::new(),
            started_at: None,
            probe_starts: Vec::new(),
        };
        e.add_nodes(nodes);
        e
    }

    /// Add services loaded later (their indices continue the existing ones;
    /// they may depend on existing services, never the other way round).
    pub fn add_nodes(&mut self, nodes: Vec<Node>) {
        self.svcs.extend(nodes.iter().map(|_| Svc::new()));
        self.nodes.extend(nodes);
        self.grow_times();
        let n = self.nodes.len();
        self.dependents = vec![Vec::new(); n];
        self.needed_by = vec![Vec::new(); n];
        for (i, node) in self.nodes.iter().enumerate() {
            for (k, &d) in node.needs.iter().chain(node.wants.iter()).enumerate() {
                let is_need = k < node.needs.len();
                // Every push of `i` happens in this pass of the loop, so a
                // duplicate can only be the last element: an O(1) check (a
                // root may want thousands of services).
                if let Some(list) = self.dependents.get_mut(d) {
                    if list.last() != Some(&i) {
                        list.push(i);
                    }
                }
                if let Some(list) = self.needed_by.get_mut(d).filter(|_| is_need) {
                    if list.last() != Some(&i) {
                        list.push(i);
                    }
                }
            }
        }
        self.number_cycles();
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn state(&self, i: usize) -> Option<State> {
        self.svcs.get(i).map(|s| s.phase.state())
    }

    pub fn status(&self, i: usize) -> Option<Status<'_>> {
        let (node, svc) = (self.nodes.get(i)?, self.svcs.get(i)?);
        Some(Status {
            name: &node.name,
            state: svc.phase.state(),
            pid: svc.phase.main_pid(),
            reason: svc.reason.as_ref(),
            restarts: svc.restarts,
            since: svc.since,
            respawn: node.respawn,
        })
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    /// Whether `pid` is a process this engine is waiting for.
    pub fn owns(&self, pid: Pid) -> bool {
        self.pids.contains_key(&pid)
    }

    /// Request `root` and, transitively, everything it needs or wants.
    /// Services already up are left alone; failed ones are tried again.
    /// Nothing starts while the system is halting.
    pub fn start(&mut self, host: &mut dyn Host, now: Millis, root: usize) {
        if self.halting {
            return;
        }
        let mut seen = vec![false; self.nodes.len()];
        let mut todo = vec![root];
        while let Some(i) = todo.pop() {
            match seen.get_mut(i) {
                Some(s) if !*s => *s = true,
                _ => continue,
            }
            if let Some(node) = self.nodes.get(i) {
                todo.extend(node.needs.iter().chain(node.wants.iter()).copied());
            }
            if let Some(s) = self.svcs.get_mut(i) {
                s.stop_requested = false;
                s.park_for = None;
            }
            let phase = self.phase(i);
            if matches!(
                phase,
                Some(Phase::Stopped | Phase::Failed | Phase::NeedFailed)
            ) {
                self.enter(host, now, i, Change::to(Phase::Waiting));
            }
        }
        self.drain(host, now);
    }

    /// Start one service now, ignoring its needs and wants.
    pub fn start_alone(&mut self, host: &mut dyn Host, now: Millis, i: usize) {
        if self.halting {
            return;
        }
        if let Some(s) = self.svcs.get_mut(i) {
            s.stop_requested = false;
            s.park_for = None;
        }
        if matches!(
            self.phase(i),
            Some(Phase::Stopped | Phase::Failed | Phase::NeedFailed | Phase::Waiting)
        ) {
            self.note_request(i, now);
            match self.nodes.get(i).and_then(|n| n.broken.clone()) {
                Some(reason) => {
                    self.end(host, now, i, Phase::Failed, reason);
                }
                None => self.spawn_main(host, now, i, None),
            }
        }
        self.drain(host, now);
    }

    /// Whether a requested start has come to a result (anything but
    /// waiting, starting or stopping): a service that signals readiness has
    /// a result once it is ready.
    pub fn is_settled(&self, i: usize) -> bool {
        !matches!(
            self.phase(i),
            Some(Phase::Waiting | Phase::Starting { .. } | Phase::Stopping(_)) | None
        )
    }

    /// A child was reaped. Returns false if it was not one of ours (an orphan).
    pub fn child_exited(
        &mut self,
        host: &mut dyn Host,
        now: Millis,
        pid: Pid,
        status: ExitStatus,
    ) -> bool {
        let Some((i, role)) = self.pids.remove(&pid) else {
            return false;
        };
        let Some(phase) = self.phase(i) else {
            return true;
        };
        match (role, phase) {
            (Role::On, Phase::Starting { pid: p, .. }) if p == pid && self.respawns(i) => {
                // Died before it was ready: restarted like any respawn death.
                self.respawn_after_exit(host, now, i, status)
            }
            (Role::On, Phase::Starting { pid: p, .. }) if p == pid => {
                let took = self.elapsed(i, now);
                if status.success() {
                    self.enter(host, now, i, Change::to(Phase::Done).took(took));
                } else {
                    let reason = Reason::Exit(status);
                    let detail = reason.to_string();
                    let change = Change::to(Phase::Failed).reason(reason);
                    self.enter(host, now, i, change.took(took).detail(detail));
                }
            }
            (Role::On, Phase::Running { pid: p }) if p == pid => {
                self.respawn_after_exit(host, now, i, status)
            }
            (Role::On, Phase::Stopping(mut st)) if st.main == Some(pid) => {
                st.main = None;
                self.set_phase(i, Phase::Stopping(st));
                self.advance_stop(host, now, i);
            }
            (Role::Off, Phase::Stopping(mut st)) if st.off == Some(pid) => {
                st.off = None;
                self.set_phase(i, Phase::Stopping(st));
                self.advance_stop(host, now, i);
            }
            // A pid in the map always matches its service's phase; anything
            // else would be a bookkeeping bug, and ignoring it is the safe choice.
            _ => {}
        }
        self.drain(host, now);
        true
    }

    /// Fire every deadline that is due.
    pub fn tick(&mut self, host: &mut dyn Host, now: Millis) {
        for i in 0..self.svcs.len() {
            match self.phase(i) {
                Some(Phase::Backoff { until }) if until <= now => {
                    self.spawn_main(host, now, i, None)
                }
                Some(Phase::Starting {
                    deadline: Some(d), ..
                }) if d <= now => self.time_out(host, now, i),
                Some(Phase::Stopping(mut st)) if st.deadline.is_some_and(|d| d <= now) => {
                    st.deadline = None;
                    match st.step {
                        StopStep::Off => {
                            if let Some(off) = st.off {
                                host.signal_group(off, Signal::SIGKILL);
                            }
                            self.set_phase(i, Phase::Stopping(st));
                            self.term_step(host, now, i);
                        }
                        StopStep::Term => {
                            if let Some(main) = st.main {
                                host.signal_group(main, Signal::SIGKILL);
                            }
                            st.step = StopStep::Kill;
                            st.deadline = Some(now.saturating_add(KILL_WAIT_MS));
                            self.set_phase(i, Phase::Stopping(st));
                        }
                        StopStep::Kill if self.halting => self.abandon(host, now, i, st),
                        // Outside a shutdown, a process that survives SIGKILL
                        // (uninterruptible sleep) is still there: keep waiting.
                        StopStep::Kill => self.set_phase(i, Phase::Stopping(st)),
                    }
                }
                _ => {}
            }
        }
        self.drain(host, now);
    }

    /// The earliest pending deadline, if any.
    pub fn next_deadline(&self) -> Option<Millis> {
        self.svcs
            .iter()
            .filter_map(|s| match s.phase {
                Phase::Backoff { until } => Some(until),
                Phase::Starting { deadline, .. } => deadline,
                Phase::Stopping(st) => st.deadline,
                _ => None,
            })
            .min()
    }

    // ----- internals -----

    fn phase(&self, i: usize) -> Option<Phase> {
        self.svcs.get(i).map(|s| s.phase)
    }

    fn set_phase(&mut self, i: usize, phase: Phase) {
        if let Some(s) = self.svcs.get_mut(i) {
            s.phase = phase;
        }
    }

    fn elapsed(&self, i: usize, now: Millis) -> Millis {
        self.svcs
            .get(i)
            .map(|s| now.saturating_sub(s.since))
            .unwrap_or(0)
    }

    fn respawns(&self, i: usize) -> bool {
        self.nodes.get(i).is_some_and(|n| n.respawn)
    }

    fn delay_ms(&self, i: usize) -> Option<Millis> {
        let s = self
            .nodes
            .get(i)
            .and_then(|n| n.delay_s)
            .unwrap_or(DEFAULT_DELAY_S);
        (s > 0).then(|| Millis::from(s) * 1000)
    }

    /// Enter a final phase (`failed`, `need-failed`) for `reason`, which is
    /// also the console detail.
    fn end(&mut self, host: &mut dyn Host, now: Millis, i: usize, phase: Phase, reason: Reason) {
        let detail = reason.to_string();
        self.enter(
            host,
            now,
            i,
            Change::to(phase).reason(reason).detail(detail),
        );
    }

    /// Enter a new phase, report it, and queue the dependents for evaluation.
    fn enter(&mut self, host: &mut dyn Host, now: Millis, i: usize, change: Change) {
        let phase = change.phase;
        self.note_phase(i, now, phase);
        let Some(svc) = self.svcs.get_mut(i) else {
            return;
        };
        svc.phase = phase;
        svc.since = now;
        // The last reason is kept for status displays until the next request.
        if change.reason.is_some() || phase == Phase::Waiting {
            svc.reason = change.reason;
        }
        let name = self.nodes.get(i).map(|n| n.name.as_str()).unwrap_or("");
        host.report(
            i,
            name,
            Report {
                state: phase.state(),
                pid: phase.main_pid().or(match phase {
                    Phase::Stopping(st) => st.off,
                    _ => None,
                }),
                took: change.took,
                detail: change.detail,
            },
        );
        self.queue.push_back(i);
        if let Some(deps) = self.dependents.get(i) {
            self.queue.extend(deps.iter().copied());
        }
        self.wake_stops_behind(i);
    }

    /// Queue the needs and wants of `i`: a service waiting to stop may be
    /// waiting for this one.
    pub(crate) fn wake_stops_behind(&mut self, i: usize) {
        if let Some(node) = self.nodes.get(i) {
            self.queue
                .extend(node.needs.iter().chain(node.wants.iter()).copied());
        }
    }

    fn drain(&mut self, host: &mut dyn Host, now: Millis) {
        while let Some(i) = self.queue.pop_front() {
            self.evaluate(host, now, i);
        }
    }

    /// Whether a need has started: a once service is done, a respawn
    /// service is running (and so ready, if it signals readiness), or in
    /// backoff after it was up once.
    fn started(&self, i: usize) -> bool {
        match (self.phase(i), self.svcs.get(i)) {
            (Some(Phase::Done | Phase::Running { .. }), _) => true,
            (Some(Phase::Backoff { .. }), Some(s)) => s.started_once,
            _ => false,
        }
    }

    fn settled(&self, i: usize) -> bool {
        !matches!(
            self.phase(i),
            Some(Phase::Waiting | Phase::Starting { .. }) | None
        )
    }

    /// Decide what a service does now: a pending stop proceeds once its
    /// needers are down; a waiting service starts once its dependencies are.
    fn evaluate(&mut self, host: &mut dyn Host, now: Millis, i: usize) {
        if self.svcs.get(i).is_some_and(|s| s.stop_requested) {
            if !self.stop_blocked(i) {
                self.stop_one(host, now, i);
            }
            return;
        }
        if self.phase(i) != Some(Phase::Waiting) {
            return;
        }
        let Some(node) = self.nodes.get(i) else {
            return;
        };
        if let Some(reason) = node.broken.clone() {
            self.end(host, now, i, Phase::Failed, reason);
            return;
        }
        if let Some((entry, why)) = node.missing_need.clone() {
            let reason = Reason::NeedMissing(entry, why);
            self.end(host, now, i, Phase::NeedFailed, reason);
            return;
        }
        let failed_need = node
            .needs
            .iter()
            .copied()
            .find(|&n| matches!(self.phase(n), Some(Phase::Failed | Phase::NeedFailed)));
        if let Some(n) = failed_need {
            let need = self
                .nodes
                .get(n)
                .map(|x| x.name.clone())
                .unwrap_or_default();
            let reason = Reason::NeedFailed(need);
            self.end(host, now, i, Phase::NeedFailed, reason);
            return;
        }
        // A need whose stop is pending counts as going down: nothing starts
        // on it (a grouping parked by that stop stays parked).
        let ready = node
            .needs
            .iter()
            .all(|&n| self.started(n) && !self.svcs.get(n).is_some_and(|s| s.stop_requested))
            && node.wants.iter().all(|&w| self.settled(w));
        if ready {
            self.spawn_main(host, now, i, None);
        }
    }
}

/// Format milliseconds as seconds with three decimals: `0.100s`.
pub fn seconds(ms: Millis) -> String {
    format!("{}.{:03}s", ms / 1000, ms % 1000)
}

mod run;

mod stop;

mod restore;

mod ready;
pub use restore::{SvcRecord, PHASE_LOST};

mod times;
pub use times::Times;

#[cfg(test)]
mod tests;
