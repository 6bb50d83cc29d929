//! The engine's part of the hot-update snapshot, written straight from its
//! live state and read straight back into it: a NODE section per service
//! (what it was given), a SERVICE section per service (its [`Svc`], the
//! typed [`Phase`] included) and the TIMELINE ([`Engine::save`],
//! [`Engine::load`]).
//!
//! Part of [`crate::engine`] (a child module sharing its private state).
//! Times are absolute CLOCK_MONOTONIC milliseconds, which run on across
//! `execve`, so pending backoffs and stop deadlines fire when they would
//! have without the update. A SERVICE section that cannot be used leaves
//! its service `stopped` but keeps its place, so later indices stay right.

use super::{Engine, Node, Phase, Pid, Role, Stop, StopStep, Svc, Timeline, Timeout};
use crate::engine::probe::Probe;
use crate::engine::save::{load_reason, save_reason};
use crate::engine::state::Reason;
use crate::engine::{TAG_NODE, TAG_SERVICE, TAG_TIMELINE};
use crate::proto::wire::{In, Lost, Out, Sections};

impl Node {
    /// A placeholder for a service whose configuration could not be read
    /// back: it can never start until cinit loads its tree again.
    pub fn lost() -> Node {
        let mut n = Node::new("(lost)");
        n.broken = Some(Box::new(Reason::Config(
            "configuration lost in a hot update".to_string(),
        )));
        n
    }
}

impl Svc {
    /// Write the SERVICE section's payload. The phase is a number (0
    /// waiting, 1 starting, 2 running, 3 done, 4 failed, 5 need-failed,
    /// 6 backoff, 7 stopping, 8 stopped, 9 skipped) followed by every phase's fields,
    /// zero where this phase has none.
    fn save(&self, o: &mut Out) {
        let (mut off, mut step, mut deadline, mut until) = (0, 0, None, 0);
        let (mut timed_out, mut watchdog_kill) = (None, None);
        let phase = match self.phase {
            Phase::Waiting => 0,
            Phase::Starting { deadline: d, .. } => {
                deadline = d;
                1
            }
            Phase::Running { .. } => 2,
            Phase::Done => 3,
            Phase::Failed => 4,
            Phase::NeedFailed => 5,
            Phase::Backoff { until: u } => {
                until = u;
                6
            }
            Phase::Stopping(st) => {
                off = st.off.unwrap_or(0);
                step = match st.step {
                    StopStep::Off => 0,
                    StopStep::Term => 1,
                    StopStep::Kill => 2,
                    // An older reader takes it for a kill without a
                    // process: it ends at the next look.
                    StopStep::Drain(_) => 3,
                };
                deadline = st.deadline;
                match st.timed_out {
                    Some(Timeout::Ready(ms)) => timed_out = Some(ms),
                    Some(Timeout::Watchdog(ms)) => watchdog_kill = Some(ms),
                    None => {}
                }
                7
            }
            Phase::Stopped => 8,
            // An older reader does not know it: that service is `stopped`
            // after a hot update back to it.
            Phase::Skipped => 9,
        };
        o.u8(phase);
        o.i32(self.phase.main_pid().unwrap_or(0));
        o.i32(off);
        o.u8(step);
        o.opt_u64(deadline);
        o.u64(until);
        save_reason(o, self.reason.as_deref());
        o.u64(self.since);
        o.u64(self.spawned_at);
        o.u32(self.restarts);
        o.u32(self.quick_deaths);
        o.bool(self.started_once);
        o.bool(self.stop_requested);
        // Appended: the stop that ends a ready-timeout.
        o.opt_u64(timed_out);
        // Appended: a pending park of a grouping (the need that caused it).
        o.opt_u64(self.park_for.and_then(|c| u64::try_from(c).ok()));
        // Appended: the stop that ends a watchdog's timeout (an older
        // reader ends it `stopped`). A watchdog's pending deadline is not
        // written: the new image arms it afresh ([`Engine::rearm_watchdogs`]).
        o.opt_u64(watchdog_kill);
    }

    /// Read what [`Svc::save`] wrote: `None` if the section is damaged,
    /// `Some(None)` if it reads but its phase cannot be used (a number this
    /// reader does not know, or a process phase without its process).
    fn load(p: &mut In) -> Option<Option<Svc>> {
        let (number, pid, off, step) = (p.u8()?, p.i32()?, p.i32()?, p.u8()?);
        let (deadline, until) = (p.opt_u64()?, p.u64()?);
        let reason = load_reason(p)?;
        let (since, spawned_at) = (p.u64()?, p.u64()?);
        let (restarts, quick_deaths) = (p.u32()?, p.u32()?);
        let (started_once, stop_requested) = (p.bool()?, p.bool()?);
        // Appended fields: absent from an older writer.
        let timed_out = p.opt_u64().flatten();
        let park_for = p.opt_u64().flatten().and_then(|c| usize::try_from(c).ok());
        let timed_out = match p.opt_u64().flatten() {
            Some(ms) => Some(Timeout::Watchdog(ms)),
            None => timed_out.map(Timeout::Ready),
        };
        let some = |p: Pid| (p > 0).then_some(p);
        let phase = match number {
            0 => Phase::Waiting,
            1 => match some(pid) {
                Some(pid) => Phase::Starting {
                    pid,
                    deadline,
                    watchdog: None,
                },
                None => return Some(None),
            },
            2 => match some(pid) {
                Some(pid) => Phase::Running {
                    pid,
                    watchdog: None,
                },
                None => return Some(None),
            },
            3 => Phase::Done,
            4 => Phase::Failed,
            5 => Phase::NeedFailed,
            6 => Phase::Backoff { until },
            7 => Phase::Stopping(Stop {
                main: some(pid),
                off: some(off),
                step: match step {
                    0 => StopStep::Off,
                    1 => StopStep::Term,
                    3 => StopStep::Drain(0),
                    _ => StopStep::Kill,
                },
                deadline,
                timed_out,
            }),
            8 => Phase::Stopped,
            9 => Phase::Skipped,
            _ => return Some(None),
        };
        Some(Some(Svc {
            phase,
            reason: reason.map(Box::new),
            since,
            spawned_at,
            restarts,
            quick_deaths,
            started_once,
            stop_requested,
            park_for,
        }))
    }
}

impl Engine {
    /// Write a NODE section per service, then a SERVICE section per
    /// service, in index order.
    pub fn save(&self, out: &mut Sections) {
        for n in &self.nodes {
            out.put(TAG_NODE, |o| n.save(o));
        }
        for s in &self.svcs {
            out.put(TAG_SERVICE, |o| s.save(o));
        }
    }

    /// Write the TIMELINE section.
    pub fn save_timeline(&self, out: &mut Sections) {
        out.put(TAG_TIMELINE, |o| self.timeline.save(o));
    }

    /// Rebuild the engine from its sections. A damaged NODE section becomes
    /// [`Node::lost`]; a SERVICE section that is damaged, unusable or
    /// missing (fewer than nodes) leaves its service `stopped`. Each such
    /// case is a line in the returned losses. `probe` parses a node's
    /// `ready-probe` line (the service directory's parser, which the engine
    /// does not reach).
    pub fn load(from: &Sections, probe: impl Fn(&str) -> Option<Probe>) -> (Engine, Lost) {
        let mut lost = Lost::new();
        let nodes = from
            .read_all(TAG_NODE, &mut lost, |p| Node::load(p, &probe))
            .into_iter()
            .map(|n| n.unwrap_or_else(Node::lost))
            .collect();
        let mut svcs = from.read_all(TAG_SERVICE, &mut lost, Svc::load);
        let timeline = from.read_last(TAG_TIMELINE, &mut lost, Timeline::load);
        let mut e = Engine::new(nodes);
        // Sized once for every process the records name (a main and an
        // `off` each at most), not grown step by step to 1000 entries.
        let procs = svcs
            .iter()
            .flatten()
            .flatten()
            .map(|s| {
                usize::from(s.phase.main_pid().is_some())
                    + usize::from(matches!(
                        s.phase,
                        Phase::Stopping(Stop { off: Some(_), .. })
                    ))
            })
            .sum();
        e.pids.reserve(procs);
        for i in 0..e.svcs.len() {
            let Some(svc) = svcs.get_mut(i).and_then(Option::take).flatten() else {
                let name = e.nodes.get(i).map(|n| n.name.as_str()).unwrap_or_default();
                lost.push(format!("{name}: state lost in the update; now stopped"));
                continue;
            };
            if let Some(pid) = svc.phase.main_pid() {
                e.pids.insert(pid, (super::slot(i), Role::On));
            }
            if let Phase::Stopping(Stop { off: Some(off), .. }) = svc.phase {
                e.pids.insert(off, (super::slot(i), Role::Off));
            }
            if let Some(s) = e.svcs.get_mut(i) {
                *s = Svc {
                    park_for: svc.park_for.filter(|&c| c < svcs.len()),
                    ..svc
                };
            }
        }
        if svcs.len() > e.svcs.len() {
            lost.push(format!(
                "{} service records without a service; ignored",
                svcs.len() - e.svcs.len()
            ));
        }
        if let Some(t) = &timeline {
            e.restore_times(t);
        }
        // The phases were written as a whole: index their deadlines anew.
        e.deadlines = super::Deadlines::of_phases(e.svcs.iter().map(|s| s.phase));
        e.index_drains();
        // Re-evaluate everything once: a waiting service may be startable.
        e.queue.extend(0..e.svcs.len());
        (e, lost)
    }
}
