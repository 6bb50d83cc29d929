//! Stopping services: the `off` → stop signal (SIGTERM unless the
//! service's `stop-signal` says otherwise) → SIGKILL sequence of one
//! service, and stopping a set of services in reverse start order.
//!
//! Part of [`crate::engine`] (a child module, so it shares the engine's
//! private state), split out because it is a responsibility of its own.
//!
//! Rules of a stop of a set (a shutdown, rescue, `cinit-ctl stop`):
//! - The set is the services named and, transitively, every service that
//!   *needs* one of them (a want is soft: a stop never cascades along it).
//! - A service of the set stops only once every service that needs **or
//!   wants** it, and is being stopped too, is down: the reverse of the
//!   start order, so a wanted logger outlives the daemons that log to it. A
//!   wanter that is not being stopped holds nothing back. Independent
//!   branches stop in parallel.
//! - An edge inside a dependency cycle never holds a stop back (cycle
//!   members never run, so this only matters for a defect elsewhere): a
//!   stop always ends.
//! - Outside a shutdown, a *grouping* (no `on`, no `off`) reached by the
//!   cascade is not stopped but *parked*: it goes back to `waiting`, and is
//!   `done` again once its needs are up. Waiting requests nothing, so it does
//!   not pull the stopped need up again. The cascade goes on through it to
//!   the services that need it. Named itself, or in a shutdown, a grouping
//!   stops like any service.

use nix::sys::signal::Signal;

use super::{Change, Engine, Host, Millis, Phase, Pid, Role, Spawned, Stop, StopStep, Timeout};

impl Engine {
    /// Begin taking the whole system down: from now on nothing starts or
    /// respawns, and every service that is not down is stopped, dependents
    /// first, independent branches in parallel. Waiting and backoff
    /// services are cancelled at once.
    pub fn stop_all(&mut self, host: &mut dyn Host, now: Millis) {
        self.halting = true;
        // A process that already outlived SIGKILL before the shutdown gets
        // its give-up deadline now (outside a shutdown it has none).
        for i in 0..self.svcs.len() {
            if let Some(Phase::Stopping(mut st)) = self.phase(i) {
                if st.step == StopStep::Kill && st.deadline.is_none() {
                    st.deadline = Some(now.saturating_add(super::KILL_WAIT_MS));
                    self.set_phase(i, Phase::Stopping(st));
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
        let change = Change::to(Phase::Stopped).took(self.elapsed(i, now));
        self.enter(host, now, i, change.detail(detail));
    }

    /// Stop `roots` and, first, every service that (transitively) needs one
    /// of them and is not already stopped. A service goes down only after
    /// everything in the set that needs or wants it is down; independent
    /// branches go down in parallel. Groupings reached by the cascade are
    /// parked instead (see the module doc). Returns the dependents added to
    /// the set (parked groupings are not among them).
    pub fn stop_with_dependents(
        &mut self,
        host: &mut dyn Host,
        now: Millis,
        roots: &[usize],
    ) -> Vec<usize> {
        let n = self.nodes.len();
        let mut in_set = vec![false; n];
        let mut is_root = vec![false; n];
        for &r in roots {
            if let Some(x) = is_root.get_mut(r) {
                *x = true;
            }
        }
        // (service, the need whose stop reached it)
        let mut todo: Vec<(usize, Option<usize>)> = roots.iter().map(|&r| (r, None)).collect();
        let mut dependents = Vec::new();
        while let Some((i, cause)) = todo.pop() {
            match in_set.get_mut(i) {
                Some(seen) if !*seen => *seen = true,
                _ => continue,
            }
            let root = is_root.get(i).copied().unwrap_or(false);
            let Some(svc) = self.svcs.get_mut(i) else {
                continue;
            };
            let grouping = self.nodes.get(i).is_some_and(|x| x.grouping);
            if root || self.halting {
                svc.park_for = None;
            } else if grouping && (!svc.stop_requested || svc.park_for.is_some()) {
                // Parked once the services that need or want it are down,
                // like a stop: what needs it goes down before its needs.
                svc.park_for = svc.park_for.or(cause);
            }
            if svc.park_for.is_none() && !root {
                dependents.push(i);
            }
            svc.stop_requested = true;
            self.queue.push_back(i);
            if let Some(needers) = self.needed_by.get(i) {
                todo.extend(
                    needers
                        .iter()
                        .copied()
                        .filter(|&x| {
                            !matches!(
                                self.phase(x),
                                Some(
                                    Phase::Stopped
                                        | Phase::Failed
                                        | Phase::NeedFailed
                                        | Phase::Skipped
                                )
                            )
                        })
                        .map(|x| (x, Some(i))),
                );
            }
        }
        dependents.sort_unstable();
        self.drain(host, now);
        dependents
    }

    /// A grouping whose need `cause` is being stopped goes back to
    /// `waiting` (if it was `done`): it is `done` again, through the normal
    /// start rule, as soon as its needs are up. It requests nothing.
    fn park(&mut self, host: &mut dyn Host, now: Millis, i: usize, cause: usize) {
        if self.phase(i) != Some(Phase::Done) {
            // Already parked by an earlier stop: its state does not change,
            // but the stops of its needs were waiting for this one.
            self.wake_stops_behind(i);
            return;
        }
        let need = self.nodes.get(cause).map(|x| x.name.as_str()).unwrap_or("");
        let detail = format!("{need} is being stopped; done again once its needs are up");
        self.enter(host, now, i, Change::to(Phase::Waiting).detail(detail));
    }

    /// Number the dependency cycles (through needs or wants) for
    /// [`Engine::stop_blocked`]: `cycle_of` is 1 + the cycle's index for
    /// its members, 0 for every other service. Once per load.
    pub(super) fn number_cycles(&mut self) {
        self.cycle_of = vec![0; self.nodes.len()];
        let edges: Vec<Vec<usize>> = self
            .nodes
            .iter()
            .map(|x| x.needs.iter().chain(x.wants.iter()).copied().collect())
            .collect();
        for (k, cycle) in crate::engine::graph::find_cycles(&edges).iter().enumerate() {
            let id = u32::try_from(k).unwrap_or(u32::MAX).saturating_add(1);
            for &m in &cycle.members {
                if let Some(c) = self.cycle_of.get_mut(m) {
                    *c = id;
                }
            }
        }
    }

    /// Whether the pending stop of `i` must wait: a service that needs or
    /// wants it is being stopped too and is not down yet. Edges inside a
    /// dependency cycle do not count (a stop must always end).
    pub(super) fn stop_blocked(&self, i: usize) -> bool {
        let cycle = self.cycle_of.get(i).copied().unwrap_or(0);
        self.dependents.get(i).is_some_and(|deps| {
            deps.iter().any(|&d| {
                let same_cycle = cycle != 0 && self.cycle_of.get(d) == Some(&cycle);
                !same_cycle && self.is_being_stopped(d)
            })
        })
    }

    /// Whether a service is down (stopped, failed, need-failed, skipped)
    /// and no stop of it is pending.
    pub fn is_down(&self, i: usize) -> bool {
        self.svcs.get(i).is_some_and(|s| !s.stop_requested)
            && matches!(
                self.phase(i),
                Some(Phase::Stopped | Phase::Failed | Phase::NeedFailed | Phase::Skipped)
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
        let mut park_for = None;
        if let Some(s) = self.svcs.get_mut(i) {
            s.stop_requested = false;
            park_for = s.park_for.take();
        }
        if let Some(cause) = park_for.filter(|_| !self.halting) {
            if matches!(self.phase(i), Some(Phase::Done | Phase::Waiting)) {
                self.park(host, now, i, cause);
                return;
            }
        }
        match self.phase(i) {
            // No process of its own, but what an earlier `on` left in
            // its cgroup (a respawn service in backoff) goes too.
            Some(
                Phase::Waiting
                | Phase::Backoff { .. }
                | Phase::Failed
                | Phase::NeedFailed
                | Phase::Skipped,
            ) => {
                let st = Stop {
                    main: None,
                    off: None,
                    step: StopStep::Kill,
                    deadline: None,
                    timed_out: None,
                };
                self.stop_rest(host, now, i, st);
            }
            Some(Phase::Done) => self.begin_stop(host, now, i, None),
            Some(Phase::Starting { pid, .. } | Phase::Running { pid, .. }) => {
                self.begin_stop(host, now, i, Some(pid))
            }
            // Asked to stop while a watchdog's kill is under way: the
            // kill goes on, and the service ends `stopped`, not restarted.
            Some(Phase::Stopping(
                mut st @ Stop {
                    timed_out: Some(Timeout::Watchdog(_)),
                    ..
                },
            )) => {
                st.timed_out = None;
                self.set_phase(i, Phase::Stopping(st));
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
                self.pids.insert(pid, (super::slot(i), Role::Off));
                st.off = Some(pid);
                st.deadline = deadline;
            }
            Ok(Spawned::Nothing | Spawned::Skipped(_)) => {}
            Err(err) => detail = Some(format!("off: {err}")),
        }
        self.enter(host, now, i, Change::to(Phase::Stopping(st)).detail(detail));
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
            host.signal_stop(i, main);
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
            // Everything left in the service's cgroup is killed, and
            // the stop ends when it is empty (`drain.rs`).
            StopStep::Term | StopStep::Kill if st.main.is_none() && st.off.is_none() => {
                self.stop_rest(host, now, i, st)
            }
            _ => {}
        }
    }
}
