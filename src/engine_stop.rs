//! Stopping services: the `off` → SIGTERM → SIGKILL sequence of one
//! service, and stopping a set of services in reverse need order.
//!
//! Part of [`crate::engine`] (a child module, so it shares the engine's
//! private state), split out because it is a responsibility of its own.

use nix::sys::signal::Signal;

use super::{Engine, Host, Millis, Phase, Pid, Role, Spawned, Stop, StopStep};
use crate::state::Reason;

impl Engine {
    /// Begin taking the whole system down: from now on nothing starts or
    /// respawns, and every service that is not down is stopped, dependents
    /// first, independent branches in parallel. Waiting and backoff
    /// services are cancelled at once.
    pub fn stop_all(&mut self, host: &mut dyn Host, now: Millis) {
        self.halting = true;
        // A process that already outlived SIGKILL before the shutdown gets
        // its give-up deadline now (outside a shutdown it has none).
        for svc in &mut self.svcs {
            if let Phase::Stopping(st) = &mut svc.phase {
                if st.step == StopStep::Kill && st.deadline.is_none() {
                    st.deadline = Some(now.saturating_add(super::KILL_WAIT_MS));
                }
            }
        }
        let up: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| !self.is_down(i))
            .collect();
        self.stop_with_dependents(host, now, &up);
    }

    /// Whether every service is down and no stop is pending.
    pub fn all_down(&self) -> bool {
        (0..self.nodes.len()).all(|i| self.is_down(i))
    }

    /// Leave the halting mode of [`Engine::stop_all`]: services may be
    /// started again (rescue mode, or a shutdown whose reboot(2) failed).
    pub fn resume(&mut self) {
        self.halting = false;
    }

    /// Whether [`Engine::stop_all`] is in force.
    pub fn is_halting(&self) -> bool {
        self.halting
    }

    /// Shutdown only: a process still there [`super::KILL_WAIT_MS`] after
    /// SIGKILL is left for the global kill; the service counts as stopped.
    pub(super) fn abandon(&mut self, host: &mut dyn Host, now: Millis, i: usize, st: Stop) {
        let mut left = Vec::new();
        for pid in [st.main, st.off].into_iter().flatten() {
            self.pids.remove(&pid);
            left.push(pid.to_string());
        }
        let detail = format!(
            "pid {} still there after SIGKILL; given up on",
            left.join(", ")
        );
        let took = Some(self.elapsed(i, now));
        self.enter(host, now, i, Phase::Stopped, None, took, Some(detail));
    }

    /// Stop `roots` and, first, every service that (transitively) needs one
    /// of them and is not already stopped. A service goes down only after
    /// everything in the set that needs it is down; independent branches go
    /// down in parallel. Returns the dependents added to the set.
    pub fn stop_with_dependents(
        &mut self,
        host: &mut dyn Host,
        now: Millis,
        roots: &[usize],
    ) -> Vec<usize> {
        let mut in_set = vec![false; self.nodes.len()];
        let mut todo: Vec<usize> = roots.to_vec();
        let mut dependents = Vec::new();
        while let Some(i) = todo.pop() {
            match in_set.get_mut(i) {
                Some(seen) if !*seen => *seen = true,
                _ => continue,
            }
            if !roots.contains(&i) {
                dependents.push(i);
            }
            if let Some(s) = self.svcs.get_mut(i) {
                s.stop_requested = true;
            }
            self.queue.push_back(i);
            if let Some(needers) = self.needed_by.get(i) {
                todo.extend(needers.iter().copied().filter(|&n| {
                    !matches!(
                        self.phase(n),
                        Some(Phase::Stopped | Phase::Failed | Phase::NeedFailed)
                    )
                }));
            }
        }
        dependents.sort_unstable();
        self.drain(host, now);
        dependents
    }

    /// Whether a service is down (stopped, failed, need-failed) and no stop
    /// of it is pending.
    pub fn is_down(&self, i: usize) -> bool {
        self.svcs.get(i).is_some_and(|s| !s.stop_requested)
            && matches!(
                self.phase(i),
                Some(Phase::Stopped | Phase::Failed | Phase::NeedFailed)
            )
    }

    /// Whether a stop of service `i` is under way: it is stopping, or its
    /// stop waits for the services that need it to go down first.
    pub fn is_being_stopped(&self, i: usize) -> bool {
        self.svcs.get(i).is_some_and(|s| s.stop_requested)
            || matches!(self.phase(i), Some(Phase::Stopping(_)))
    }

    /// Stop one service (its dependents are the caller's business).
    pub fn stop(&mut self, host: &mut dyn Host, now: Millis, i: usize) {
        self.stop_one(host, now, i);
        self.drain(host, now);
    }

    pub(super) fn stop_one(&mut self, host: &mut dyn Host, now: Millis, i: usize) {
        if let Some(s) = self.svcs.get_mut(i) {
            s.stop_requested = false;
        }
        match self.phase(i) {
            Some(Phase::Waiting | Phase::Backoff { .. } | Phase::Failed | Phase::NeedFailed) => {
                self.enter(host, now, i, Phase::Stopped, None, None, None);
            }
            Some(Phase::Done) => self.begin_stop(host, now, i, None),
            Some(Phase::Starting { pid, .. } | Phase::Running { pid }) => {
                self.begin_stop(host, now, i, Some(pid))
            }
            Some(Phase::Stopping(_) | Phase::Stopped) | None => {}
        }
    }

    fn begin_stop(&mut self, host: &mut dyn Host, now: Millis, i: usize, main: Option<Pid>) {
        let deadline = self.delay_ms(i).map(|d| now.saturating_add(d));
        let mut st = Stop {
            main,
            off: None,
            step: StopStep::Off,
            deadline: None,
            timed_out: None,
        };
        let mut detail = None;
        match host.spawn(i, Role::Off) {
            Ok(Spawned::Pid(pid)) => {
                self.pids.insert(pid, (i, Role::Off));
                st.off = Some(pid);
                st.deadline = deadline;
            }
            Ok(Spawned::Nothing) => {}
            Err(err) => detail = Some(format!("off: {err}")),
        }
        self.enter(host, now, i, Phase::Stopping(st), None, None, detail);
        self.advance_stop(host, now, i);
    }

    /// `off` is finished (or absent): signal the main process group.
    pub(super) fn term_step(&mut self, host: &mut dyn Host, now: Millis, i: usize) {
        let Some(Phase::Stopping(mut st)) = self.phase(i) else {
            return;
        };
        st.step = StopStep::Term;
        st.deadline = None;
        if let Some(main) = st.main {
            host.signal_group(main, Signal::SIGTERM);
            host.signal_group(main, Signal::SIGCONT);
        }
        if st.main.is_some() || st.off.is_some() {
            // An `off` killed at its deadline may still be on its way out.
            st.deadline = self.delay_ms(i).map(|d| now.saturating_add(d));
        }
        self.set_phase(i, Phase::Stopping(st));
        self.advance_stop(host, now, i);
    }

    pub(super) fn advance_stop(&mut self, host: &mut dyn Host, now: Millis, i: usize) {
        let Some(Phase::Stopping(st)) = self.phase(i) else {
            return;
        };
        match st.step {
            StopStep::Off if st.off.is_none() => self.term_step(host, now, i),
            StopStep::Term | StopStep::Kill if st.main.is_none() && st.off.is_none() => {
                let took = Some(self.elapsed(i, now));
                match st.timed_out {
                    // The end of a ready-timeout: failed, and not restarted.
                    Some(ms) => {
                        let reason = Reason::NotReady(ms);
                        let detail = Some(reason.to_string());
                        self.enter(host, now, i, Phase::Failed, Some(reason), took, detail);
                    }
                    None => self.enter(host, now, i, Phase::Stopped, None, took, None),
                }
            }
            _ => {}
        }
    }
}
