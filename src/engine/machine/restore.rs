//! The engine's runtime state as plain records, for the hot-update
//! snapshot: [`Engine::export`] before the exec, [`Engine::restore`] after.
//!
//! Part of [`crate::engine`] (a child module sharing its private state).
//! Times are absolute CLOCK_MONOTONIC milliseconds, which run on across
//! `execve`, so pending backoffs and stop deadlines fire when they would
//! have without the update.

use super::{Engine, Millis, Node, Phase, Pid, Role, Stop, StopStep, Svc};
use crate::engine::state::Reason;

/// One service's runtime state, flattened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SvcRecord {
    /// 0 waiting, 1 starting, 2 running, 3 done, 4 failed, 5 need-failed,
    /// 6 backoff, 7 stopping, 8 stopped; anything else: state lost.
    pub phase: u8,
    /// Main process (0: none).
    pub pid: Pid,
    /// `off` process while stopping (0: none).
    pub off_pid: Pid,
    /// While stopping: 0 off, 1 term, 2 kill.
    pub stop_step: u8,
    /// While stopping: when the current stop step times out; while
    /// starting: when the `ready-timeout` passes.
    pub deadline: Option<Millis>,
    /// While in backoff: when to restart.
    pub until: Millis,
    pub reason: Option<Reason>,
    pub since: Millis,
    pub spawned_at: Millis,
    pub restarts: u32,
    pub quick_deaths: u32,
    pub started_once: bool,
    pub stop_requested: bool,
    /// While stopping: the stop ends a `ready-timeout` of this many
    /// milliseconds (the service then ends `failed`).
    pub stop_timed_out: Option<Millis>,
    /// With `stop_requested`: the pending stop parks this grouping (the
    /// index of the need whose stop reached it).
    pub park_for: Option<usize>,
}

/// The `phase` value of a record whose state could not be read.
pub const PHASE_LOST: u8 = 255;

impl SvcRecord {
    /// A placeholder for a damaged record.
    pub fn lost() -> SvcRecord {
        SvcRecord {
            phase: PHASE_LOST,
            pid: 0,
            off_pid: 0,
            stop_step: 0,
            deadline: None,
            until: 0,
            reason: None,
            since: 0,
            spawned_at: 0,
            restarts: 0,
            quick_deaths: 0,
            started_once: false,
            stop_requested: false,
            stop_timed_out: None,
            park_for: None,
        }
    }
}

impl Node {
    /// A placeholder for a service whose configuration could not be read
    /// back: it can never start until cinit loads its tree again.
    pub fn lost() -> Node {
        let mut n = Node::new("(lost)");
        n.broken = Some(Reason::Config(
            "configuration lost in a hot update".to_string(),
        ));
        n
    }
}

fn pid_or_none(p: Pid) -> Option<Pid> {
    (p > 0).then_some(p)
}

fn phase_of(r: &SvcRecord) -> Option<Phase> {
    let pid = pid_or_none(r.pid);
    Some(match r.phase {
        0 => Phase::Waiting,
        1 => Phase::Starting {
            pid: pid?,
            deadline: r.deadline,
        },
        2 => Phase::Running { pid: pid? },
        3 => Phase::Done,
        4 => Phase::Failed,
        5 => Phase::NeedFailed,
        6 => Phase::Backoff { until: r.until },
        7 => Phase::Stopping(Stop {
            main: pid,
            off: pid_or_none(r.off_pid),
            step: match r.stop_step {
                0 => StopStep::Off,
                1 => StopStep::Term,
                _ => StopStep::Kill,
            },
            deadline: r.deadline,
            timed_out: r.stop_timed_out,
        }),
        8 => Phase::Stopped,
        _ => return None,
    })
}

fn record_of(s: &Svc) -> SvcRecord {
    let mut r = SvcRecord {
        phase: 0,
        pid: s.phase.main_pid().unwrap_or(0),
        off_pid: 0,
        stop_step: 0,
        deadline: None,
        until: 0,
        reason: s.reason.clone(),
        since: s.since,
        spawned_at: s.spawned_at,
        restarts: s.restarts,
        quick_deaths: s.quick_deaths,
        started_once: s.started_once,
        stop_requested: s.stop_requested,
        stop_timed_out: None,
        park_for: s.park_for,
    };
    r.phase = match s.phase {
        Phase::Waiting => 0,
        Phase::Starting { deadline, .. } => {
            r.deadline = deadline;
            1
        }
        Phase::Running { .. } => 2,
        Phase::Done => 3,
        Phase::Failed => 4,
        Phase::NeedFailed => 5,
        Phase::Backoff { until } => {
            r.until = until;
            6
        }
        Phase::Stopping(st) => {
            r.off_pid = st.off.unwrap_or(0);
            r.stop_step = match st.step {
                StopStep::Off => 0,
                StopStep::Term => 1,
                StopStep::Kill => 2,
            };
            r.deadline = st.deadline;
            r.stop_timed_out = st.timed_out;
            7
        }
        Phase::Stopped => 8,
    };
    r
}

impl Engine {
    /// The nodes and the runtime state of every service, in index order.
    pub fn export(&self) -> (Vec<Node>, Vec<SvcRecord>) {
        (
            self.nodes.clone(),
            self.svcs.iter().map(record_of).collect(),
        )
    }

    /// Rebuild an engine from exported state. Records that cannot be used
    /// leave their service `stopped`; each such case is returned as a line
    /// for the console. Missing records (fewer than nodes) count as lost.
    pub fn restore(nodes: Vec<Node>, records: &[SvcRecord]) -> (Engine, Vec<String>) {
        let mut e = Engine::new(nodes);
        let mut lost = Vec::new();
        for i in 0..e.svcs.len() {
            let name = e.nodes.get(i).map(|n| n.name.clone()).unwrap_or_default();
            let Some(r) = records.get(i) else {
                lost.push(format!("{name}: state lost in the update; now stopped"));
                continue;
            };
            let Some(phase) = phase_of(r) else {
                lost.push(format!("{name}: state lost in the update; now stopped"));
                continue;
            };
            if let Some(pid) = phase.main_pid() {
                e.pids.insert(pid, (i, Role::On));
            }
            if let Phase::Stopping(Stop { off: Some(off), .. }) = phase {
                e.pids.insert(off, (i, Role::Off));
            }
            if let Some(s) = e.svcs.get_mut(i) {
                *s = Svc {
                    phase,
                    reason: r.reason.clone(),
                    since: r.since,
                    spawned_at: r.spawned_at,
                    restarts: r.restarts,
                    quick_deaths: r.quick_deaths,
                    started_once: r.started_once,
                    stop_requested: r.stop_requested,
                    park_for: r.park_for.filter(|&c| c < records.len()),
                };
            }
        }
        if records.len() > e.svcs.len() {
            lost.push(format!(
                "{} service records without a service; ignored",
                records.len() - e.svcs.len()
            ));
        }
        // Re-evaluate everything once: a waiting service may be startable.
        e.queue.extend(0..e.svcs.len());
        (e, lost)
    }
}
