//! The engine's timers: the end of a backoff, a `ready-timeout`, the next
//! step of a stop. [`Engine::tick`] fires those that are due and
//! [`Engine::next_deadline`] says when the next one is.
//!
//! Part of [`crate::engine`] (a child module sharing the engine's state).
//! Every service's deadline is a property of its phase ([`deadline_of`]);
//! the engine keeps them in one ordered set, [`Deadlines`], so that a loop
//! wake-up costs the timers that are due plus a look at the set's first
//! entry, not a scan of every service (at 1000 services the scans were most
//! of an idle wake-up).
//!
//! Invariant: the set holds exactly `(deadline_of(phase), i)` for every
//! service `i` whose phase has a deadline. Every write of a phase goes
//! through [`Engine::set_phase`] or [`Engine::enter`], which keep it; a
//! table restored from a snapshot is indexed again as a whole
//! ([`Deadlines::of_phases`]). The unit tests run the engine against a copy
//! that finds the due services by the old scan and compare everything it
//! does (`engine/machine/tests/deadlines.rs`).

use std::collections::BTreeSet;

use super::*;

/// The deadline a service in `phase` has, if any.
pub(super) fn deadline_of(phase: Phase) -> Option<Millis> {
    match phase {
        Phase::Backoff { until } => Some(until),
        Phase::Starting { deadline, .. } => deadline,
        Phase::Stopping(st) => st.deadline,
        _ => None,
    }
}

/// The services that have a deadline, ordered by it (then by index).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Deadlines {
    set: BTreeSet<(Millis, usize)>,
}

impl Deadlines {
    /// The index of a whole table of phases.
    pub(super) fn of_phases(phases: impl Iterator<Item = Phase>) -> Deadlines {
        // Inserted one by one: `collect` would bring the tree's bulk
        // builder into PID 1's binary for a call made once per update.
        let mut set = BTreeSet::new();
        for (i, p) in phases.enumerate() {
            if let Some(d) = deadline_of(p) {
                set.insert((d, i));
            }
        }
        Deadlines { set }
    }

    /// Service `i` went from phase `old` to `new`.
    pub(super) fn change(&mut self, i: usize, old: Phase, new: Phase) {
        let (was, is) = (deadline_of(old), deadline_of(new));
        if was == is {
            return;
        }
        if let Some(d) = was {
            self.set.remove(&(d, i));
        }
        if let Some(d) = is {
            self.set.insert((d, i));
        }
    }

    /// The earliest deadline.
    pub(super) fn first(&self) -> Option<Millis> {
        self.set.first().map(|&(d, _)| d)
    }

    /// The lowest index at or after `from` whose deadline is due at `now`.
    /// Costs the due entries only: those are events, not the table.
    pub(super) fn due_from(&self, now: Millis, from: usize) -> Option<usize> {
        self.set
            .iter()
            .take_while(|&&(d, _)| d <= now)
            .map(|&(_, i)| i)
            .filter(|&i| i >= from)
            .min()
    }
}

impl Engine {
    /// Fire every deadline that is due, in the order of the services (as a
    /// scan of the table would: a service whose deadline a firing made due
    /// fires in the same call if it comes later in the table).
    pub fn tick(&mut self, host: &mut dyn Host, now: Millis) {
        let mut from = 0;
        while let Some(i) = self.deadlines.due_from(now, from) {
            from = i.saturating_add(1);
            self.fire(host, now, i);
        }
        self.drain(host, now);
    }

    /// The earliest pending deadline, if any.
    pub fn next_deadline(&self) -> Option<Millis> {
        self.deadlines.first()
    }

    /// Service `i`'s deadline is due: do what it was set for.
    pub(super) fn fire(&mut self, host: &mut dyn Host, now: Millis, i: usize) {
        match self.phase(i) {
            Some(Phase::Backoff { until }) if until <= now => self.spawn_main(host, now, i, None),
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
}
