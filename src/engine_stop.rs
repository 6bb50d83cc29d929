//! Stopping services: the `off` → SIGTERM → SIGKILL sequence of one
//! service, and stopping a set of services in reverse need order.
//!
//! Part of [`crate::engine`] (a child module, so it shares the engine's
//! private state), split out because it is a responsibility of its own.

use nix::sys::signal::Signal;

use super::{Engine, Host, Millis, Phase, Pid, Role, Spawned, Stop, StopStep};

impl Engine {
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
            Some(Phase::Starting { pid } | Phase::Running { pid }) => {
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
                self.enter(host, now, i, Phase::Stopped, None, took, None);
            }
            _ => {}
        }
    }
}
