//! The engine's timers: the end of a backoff, a `ready-timeout`, a
//! `watchdog`, the next step of a stop. [`Engine::tick`] fires those that are due and
//! [`Engine::next_deadline`] says when the next one is.
//!
//! Part of [`crate::engine`] (a child module sharing the engine's state).
//! Every service's deadline is a property of its phase ([`deadline_of`]);
//! the engine keeps them in one heap, [`Deadlines`], so that a loop
//! wake-up costs the timers that are due plus a look at the heap's top,
//! not a scan of every service (at 1000 services the scans were most of an
//! idle wake-up).
//!
//! Invariants: the heap holds `(deadline_of(phase), i)` for every service
//! `i` whose phase has a deadline (it may hold stale entries too, at most
//! twice the live ones plus a slack); after every public call of the engine
//! its top is live, so it is the earliest deadline. Every write of a phase
//! goes through [`Engine::set_phase`] or [`Engine::enter`], which push the
//! new deadline; a table restored from a snapshot is indexed again as a
//! whole ([`Deadlines::of_phases`]). The unit tests run the engine against a copy
//! that finds the due services by the old scan and compare everything it
//! does (`engine/machine/tests/deadlines.rs`).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::*;

/// The deadline a service in `phase` has, if any.
pub(super) fn deadline_of(phase: Phase) -> Option<Millis> {
    match phase {
        Phase::Backoff { until } => Some(until),
        // The earlier of the two; `fire` tells which is due.
        Phase::Starting {
            deadline, watchdog, ..
        } => match (deadline, watchdog) {
            (Some(d), Some(w)) => Some(d.min(w)),
            (d, w) => d.or(w),
        },
        Phase::Running { watchdog, .. } => watchdog,
        Phase::Stopping(st) => st.deadline,
        _ => None,
    }
}

/// The services that have a deadline, earliest first: a binary heap of
/// `(deadline, service)`. A changed deadline is pushed anew and the old
/// entry left behind (stale: its service's phase no longer has that
/// deadline); stale entries are dropped when they come to the top, and the
/// heap is rebuilt when they outnumber the live ones. A heap rather than
/// an ordered tree: the same costs where it matters (push, look at the
/// first) for a fraction of the tree's code in PID 1's binary.
#[derive(Debug, Default, Clone)]
pub(super) struct Deadlines {
    heap: BinaryHeap<Reverse<(Millis, usize)>>,
    /// How many services have a deadline now (the live entries).
    live: usize,
}

/// Stale entries allowed beyond twice the live ones before a rebuild.
const SLACK: usize = 64;

impl Deadlines {
    /// The index of a whole table of phases.
    pub(super) fn of_phases(phases: impl Iterator<Item = Phase>) -> Deadlines {
        let mut d = Deadlines::default();
        for (i, p) in phases.enumerate() {
            if let Some(t) = deadline_of(p) {
                d.heap.push(Reverse((t, i)));
                d.live = d.live.saturating_add(1);
            }
        }
        d
    }

    /// Service `i` went from phase `old` to `new`.
    pub(super) fn change(&mut self, i: usize, old: Phase, new: Phase) {
        let (was, is) = (deadline_of(old), deadline_of(new));
        if was == is {
            return;
        }
        if was.is_some() {
            self.live = self.live.saturating_sub(1);
        }
        if let Some(t) = is {
            self.live = self.live.saturating_add(1);
            self.heap.push(Reverse((t, i)));
        }
    }

    /// The first entry, if it is live (see [`Engine::settle_deadlines`]).
    pub(super) fn first(&self) -> Option<Millis> {
        self.heap.peek().map(|Reverse((t, _))| *t)
    }

    /// Whether the heap holds `(t, i)` (for the tests' invariant).
    #[cfg(test)]
    pub(super) fn holds(&self, t: Millis, i: usize) -> bool {
        self.heap.iter().any(|Reverse(e)| *e == (t, i))
    }
}

impl Engine {
    /// Fire every deadline that is due, in the order of the services (as a
    /// scan of the table would: a service whose deadline a firing made due
    /// fires in the same call if it comes later in the table, one that
    /// comes earlier at the next call).
    pub fn tick(&mut self, host: &mut dyn Host, now: Millis) {
        let mut from = 0;
        // Due services at or after `from`, lowest first; and due entries
        // of services before it, put back for the next call.
        let mut due: BinaryHeap<Reverse<usize>> = BinaryHeap::new();
        let mut later = Vec::new();
        loop {
            while let Some(&Reverse((t, i))) = self.deadlines.heap.peek() {
                if t > now {
                    break;
                }
                self.deadlines.heap.pop();
                if !self.is_live(t, i) {
                    continue;
                }
                if i >= from {
                    due.push(Reverse(i));
                } else {
                    later.push(Reverse((t, i)));
                }
            }
            let Some(Reverse(i)) = due.pop() else {
                break;
            };
            if i < from {
                continue; // the same service twice
            }
            from = i.saturating_add(1);
            self.fire(host, now, i);
            // Its entry was taken out; a deadline it still has stays known.
            if let Some(t) = self.phase(i).and_then(deadline_of) {
                self.deadlines.heap.push(Reverse((t, i)));
            }
        }
        self.deadlines.heap.extend(later);
        self.drain(host, now);
    }

    /// Whether service `i`'s phase has the deadline `t`.
    fn is_live(&self, t: Millis, i: usize) -> bool {
        self.phase(i).and_then(deadline_of) == Some(t)
    }

    /// Drop stale entries from the top, so the first entry is the earliest
    /// deadline; rebuild the heap when stale entries outnumber live ones
    /// (memory stays within twice the services that have a deadline).
    /// Run at the end of every public call ([`Engine::drain`]).
    pub(super) fn settle_deadlines(&mut self) {
        let bound = self.deadlines.live.saturating_mul(2).saturating_add(SLACK);
        if self.deadlines.heap.len() > bound {
            self.deadlines = Deadlines::of_phases(self.svcs.iter().map(|s| s.phase));
            return;
        }
        while let Some(&Reverse((t, i))) = self.deadlines.heap.peek() {
            if self.is_live(t, i) {
                break;
            }
            self.deadlines.heap.pop();
        }
    }

    /// The earliest pending deadline, if any.
    pub fn next_deadline(&self) -> Option<Millis> {
        self.deadlines.first()
    }

    /// Service `i`'s deadline is due: do what it was set for.
    pub(super) fn fire(&mut self, host: &mut dyn Host, now: Millis, i: usize) {
        match self.phase(i) {
            Some(Phase::Backoff { until }) if until <= now => {
                self.spawn_main(host, now, i, None, false)
            }
            Some(Phase::Starting {
                deadline: Some(d), ..
            }) if d <= now => self.time_out(host, now, i),
            Some(
                Phase::Starting {
                    watchdog: Some(w), ..
                }
                | Phase::Running {
                    watchdog: Some(w), ..
                },
            ) if w <= now => self.watchdog_expired(host, now, i),
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
                        // The whole cgroup, with what left the group.
                        host.kill_rest(i);
                        st.step = StopStep::Kill;
                        st.deadline = Some(now.saturating_add(KILL_WAIT_MS));
                        self.set_phase(i, Phase::Stopping(st));
                    }
                    StopStep::Kill if self.halting => self.abandon(host, now, i, st),
                    // Outside a shutdown, a process that survives SIGKILL
                    // (uninterruptible sleep) is still there: keep waiting.
                    StopStep::Kill => self.set_phase(i, Phase::Stopping(st)),
                    StopStep::Drain(polls) => self.poll_drain(host, now, i, st, polls),
                }
            }
            _ => {}
        }
    }
}
