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
//! - A start (a request's, not a respawn's restart) asks the host whether
//!   the service's condition holds ([`Host::start`]); when it does not,
//!   nothing runs and the service is `skipped`, which counts as started
//!   for its needers and wanters.
//! - A respawn service that exits is restarted at once the first time; quick
//!   deaths back off (see [`restart_delay`]).
//! - A respawn service with `notification-fd` or `ready-probe` is
//!   `starting` from each spawn until [`Engine::ready`] says its process
//!   signalled readiness (or its probe held); only then
//!   has it *started* for its needers. A `ready-timeout` is a deadline on
//!   `starting` (once or respawn): when it passes, the service is stopped
//!   and ends `failed` (see `engine/machine/ready.rs`).
//! - Stopping runs `off`, then SIGTERM (+SIGCONT) to the process group, then
//!   SIGKILL after `delay` seconds. Only pids that have not been reaped are ever
//!   signalled: the pid map is updated the moment a child is reaped.
//! - A stop of a set goes in reverse start order: a service only after every
//!   service of the set that needs or wants it is down; a grouping reached
//!   by the cascade is parked in `waiting` (see `engine/machine/stop.rs`).
//!
//! Invariants: at most one main process and one `off` process per service; a
//! pid is in `pids` exactly while its process is unreaped; the work queue is
//! drained before every public method returns.

use std::collections::VecDeque;

use nix::sys::signal::Signal;

use crate::engine::failure::Cause;
use crate::engine::state::{Reason, State};
use crate::sys::clock::{seconds, Millis};
use crate::sys::process::{ExitStatus, Pid};
use crate::HashMap;

mod node;
pub use node::{
    restart_delay, Host, Node, Report, Role, Spawned, BACKOFF_FIRST_MS, BACKOFF_MAX_MS,
    DEFAULT_DELAY_S, KILL_WAIT_MS, STABLE_MS,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StopStep {
    /// `off` is running (or about to be skipped).
    Off,
    /// SIGTERM sent to the main process group.
    Term,
    /// SIGKILL sent; waiting for the exit.
    Kill,
    /// The main process and `off` are gone but the service's cgroup was
    /// not empty: its processes were killed, and the stop waits for it to
    /// empty ([`drain`]). The number counts the polls so far.
    Drain(u8),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stop {
    main: Option<Pid>,
    off: Option<Pid>,
    step: StopStep,
    deadline: Option<Millis>,
    /// The stop was not asked for: it ends a timeout ([`Timeout`]), not
    /// in `stopped`.
    timed_out: Option<Timeout>,
}

/// The timeout a stop ends (milliseconds, as configured). The same 16
/// bytes in a [`Stop`] as the one `Option<Millis>` it replaced: no byte
/// more per service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timeout {
    /// A `ready-timeout`: the service ends `failed` (not ready in time).
    Ready(Millis),
    /// A `watchdog`: the service is restarted like a crash
    /// (`engine/machine/watchdog.rs`).
    Watchdog(Millis),
}

/// A service's state with its data. `Starting` is a once service's `on`, or
/// a respawn service not ready yet; its `deadline` is when its
/// `ready-timeout` passes. `watchdog` is when a respawn service with a
/// `watchdog` file is taken for hung unless it says `WATCHDOG=1` first
/// (`engine/machine/watchdog.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Waiting,
    Starting {
        pid: Pid,
        deadline: Option<Millis>,
        watchdog: Option<Millis>,
    },
    Running {
        pid: Pid,
        watchdog: Option<Millis>,
    },
    Done,
    Failed,
    NeedFailed,
    Backoff {
        until: Millis,
    },
    Stopping(Stop),
    Stopped,
    /// Its condition did not hold at its start: nothing ran.
    Skipped,
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
            Phase::Skipped => State::Skipped,
        }
    }

    fn main_pid(self) -> Option<Pid> {
        match self {
            Phase::Starting { pid, .. } | Phase::Running { pid, .. } => Some(pid),
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

#[derive(Debug, Clone, PartialEq, Eq)]
struct Svc {
    phase: Phase,
    /// Boxed: most services have none, and a `Reason` is 56 bytes in each
    /// of PID 1's per-service states for good.
    reason: Option<Box<Reason>>,
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
    /// Each unreaped process: its service (as [`slot`]) and role.
    pids: HashMap<Pid, (u32, Role)>,
    queue: VecDeque<usize>,
    /// The system is going down: nothing starts or respawns, and a process
    /// that survives SIGKILL is given up on after [`KILL_WAIT_MS`].
    halting: bool,
    /// The boot timeline: when cinit itself started, and each service's
    /// latest start ([`Times`]); saved as it is by a hot update.
    timeline: Timeline,
    /// Processes of services with `ready-probe` spawned since the daemon
    /// last looked ([`Engine::take_probe_starts`]): (service, pid).
    probe_starts: Vec<(usize, Pid)>,
    /// Every service's deadline, ordered ([`Deadlines`]): kept by every
    /// write of a phase.
    deadlines: Deadlines,
    /// The services whose stop waits for their cgroup to empty
    /// ([`StopStep::Drain`]; it may hold some that no longer do).
    draining: Vec<usize>,
    /// The exit times of respawn services with `restart-limit`, by
    /// service ([`limit`]); empty without such services.
    windows: Vec<limit::Window>,
    /// Failures of services with `on-failure`, for the daemon
    /// ([`Engine::take_failures`]).
    failures: Vec<Failure>,
}

/// A service's index as the pid map holds it: 32 bits, as a service table
/// never holds more (the loader stops at 16 Ki), so the map's entries are
/// 12 bytes, not 24 (one per running process). An index that did not fit
/// would map to no service: its exit would be ignored, never misread.
fn slot(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
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
            timeline: Timeline::default(),
            probe_starts: Vec::new(),
            deadlines: Deadlines::default(),
            draining: Vec::new(),
            windows: Vec::new(),
            failures: Vec::new(),
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
            reason: svc.reason.as_deref(),
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
            let down = matches!(
                phase,
                Some(Phase::Stopped | Phase::Failed | Phase::NeedFailed | Phase::Skipped)
            );
            // The service asked for, and any taken up again, count their
            // exits afresh (`restart-limit`).
            if i == root || down {
                self.forget_exits(i);
            }
            if down {
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
        self.forget_exits(i);
        if matches!(
            self.phase(i),
            Some(
                Phase::Stopped
                    | Phase::Failed
                    | Phase::NeedFailed
                    | Phase::Waiting
                    | Phase::Skipped
            )
        ) {
            self.note_request(i, now);
            match self.nodes.get(i).and_then(|n| n.broken.as_deref().cloned()) {
                Some(reason) => {
                    self.end(host, now, i, Phase::Failed, reason);
                }
                None => self.spawn_main(host, now, i, None, true),
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
        let i = i as usize;
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
                    let reason = exit_reason(host, i, status);
                    let detail = reason.to_string();
                    let change = Change::to(Phase::Failed).reason(reason);
                    self.enter(host, now, i, change.took(took).detail(detail));
                    self.note_failure(i, Cause::Exit(status));
                }
            }
            (Role::On, Phase::Running { pid: p, .. }) if p == pid => {
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
}

mod deadlines;
use deadlines::Deadlines;
mod limit;
pub use limit::Failure;
mod drain;

mod run;
use run::exit_reason;

mod stop;

mod restore;

mod ready;

mod watchdog;

mod enter;
mod times;
pub use times::{Timeline, Times};

#[cfg(test)]
mod tests;
