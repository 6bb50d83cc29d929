//! Readiness: a respawn service with `notification-fd` becomes `running`
//! when its process signals readiness ([`Engine::ready`]), one with
//! `ready-probe` when its probe holds (the daemon probes the processes
//! [`Engine::take_probe_starts`] hands it, and calls the same
//! [`Engine::ready`]); a service still
//! `starting` when its `ready-timeout` passes is stopped and ends `failed`
//! ([`Engine::time_out`], from [`Engine::tick`]).
//!
//! Part of [`crate::engine`] (a child module, so it shares the engine's
//! private state), split out because it is a responsibility of its own.
//!
//! Readiness is keyed by pid, not by service: a readiness pipe belongs to
//! one process, so a late newline from a process that is gone can never make
//! its successor count as ready.
//!
//! A timeout runs no `off`: `off` undoes what a service that came up did,
//! and this one never came up (as systemd runs `ExecStop` only after a
//! successful start). Its process group gets SIGTERM and SIGCONT, then
//! SIGKILL after `delay` seconds, as in any stop; it is not restarted.

use super::{Change, Engine, Host, Millis, Node, Phase, Pid, Role, Stop, StopStep, Timeout};
use crate::engine::state::Reason;

impl Engine {
    /// Process `pid` signalled readiness (wrote a newline to its
    /// `notification-fd`, or its service's `ready-probe` held). Its service becomes `running`, and needers
    /// waiting for it may start. Returns whether it counted: `false` for a
    /// pid that is not a main process of ours, a service that does not
    /// signal readiness, or one that is not `starting` any more (stopping,
    /// say: readiness after a stop request changes nothing).
    pub fn ready(&mut self, host: &mut dyn Host, now: Millis, pid: Pid) -> bool {
        let Some(&(i, Role::On)) = self.pids.get(&pid) else {
            return false;
        };
        let i = i as usize;
        let gated = self.nodes.get(i).is_some_and(Node::gated);
        // The watchdog armed at the spawn runs on (readiness is no ping).
        let watchdog = match self.phase(i) {
            Some(Phase::Starting {
                pid: p, watchdog, ..
            }) if p == pid && gated => watchdog,
            _ => return false,
        };
        if let Some(s) = self.svcs.get_mut(i) {
            s.started_once = true;
        }
        let change = Change::to(Phase::Running { pid, watchdog }).took(self.elapsed(i, now));
        self.enter(host, now, i, change.detail("ready".to_string()));
        self.drain(host, now);
        true
    }

    /// The services whose processes were spawned with a `ready-probe`
    /// since the last call: the daemon starts probing them.
    pub fn take_probe_starts(&mut self) -> Vec<(usize, Pid)> {
        std::mem::take(&mut self.probe_starts)
    }

    /// Whether [`Engine::take_probe_starts`] has something.
    pub fn has_probe_starts(&self) -> bool {
        !self.probe_starts.is_empty()
    }

    /// Queue every service that is `starting` with a `ready-probe` for
    /// probing again: after a hot update (the old cinit's probes are gone)
    /// or an update whose exec failed (its probes were dropped).
    pub fn requeue_probes(&mut self) {
        self.probe_starts = (0..self.svcs.len())
            .filter_map(|i| match self.phase(i) {
                Some(Phase::Starting { pid, .. })
                    if self
                        .nodes
                        .get(i)
                        .is_some_and(|n| n.gated() && n.probe.is_some()) =>
                {
                    Some((i, pid))
                }
                _ => None,
            })
            .collect();
    }

    /// The `ready-probe` of service `i`.
    pub fn probe_of(&self, i: usize) -> Option<&crate::engine::probe::Probe> {
        self.nodes.get(i)?.probe.as_deref()
    }

    /// Whether service `i` is `starting` with main process `pid`: its
    /// probe still has a reason to run.
    pub fn is_starting(&self, i: usize, pid: Pid) -> bool {
        matches!(self.phase(i), Some(Phase::Starting { pid: p, .. }) if p == pid)
    }

    /// When a service spawned at `now` must have left `starting`.
    pub(super) fn ready_deadline(&self, i: usize, now: Millis) -> Option<Millis> {
        let ms = self.nodes.get(i)?.ready_timeout_ms?;
        Some(now.saturating_add(ms))
    }

    /// The `ready-timeout` of a `starting` service passed: stop it (no
    /// `off`, see the module doc); the stop ends in `failed`.
    pub(super) fn time_out(&mut self, host: &mut dyn Host, now: Millis, i: usize) {
        let Some(Phase::Starting { pid, .. }) = self.phase(i) else {
            return;
        };
        let limit = self
            .nodes
            .get(i)
            .and_then(|n| n.ready_timeout_ms)
            .unwrap_or(0);
        let st = Stop {
            main: Some(pid),
            off: None,
            step: StopStep::Off,
            deadline: None,
            timed_out: Some(Timeout::Ready(limit)),
        };
        let reason = Reason::NotReady(limit);
        let detail = reason.to_string();
        let change = Change::to(Phase::Stopping(st)).reason(reason);
        self.enter(
            host,
            now,
            i,
            change.took(self.elapsed(i, now)).detail(detail),
        );
        self.term_step(host, now, i);
    }
}

impl Engine {
    /// Service `i`'s process asked for more time (sd_notify's
    /// `EXTEND_TIMEOUT_USEC`): a `starting` service's `ready-timeout`
    /// deadline, or a stop's next step, moves to `now + ms` when that is
    /// later; an earlier one is kept (an extension never shortens).
    /// Returns whether there was a deadline to move.
    pub fn extend_deadline(&mut self, i: usize, now: Millis, ms: Millis) -> bool {
        let until = now.saturating_add(ms);
        let phase = match self.phase(i) {
            Some(Phase::Starting {
                pid,
                deadline: Some(d),
                watchdog,
            }) => Phase::Starting {
                pid,
                deadline: Some(d.max(until)),
                watchdog,
            },
            Some(Phase::Stopping(mut st)) if st.deadline.is_some() => {
                st.deadline = st.deadline.map(|d| d.max(until));
                Phase::Stopping(st)
            }
            _ => return false,
        };
        self.set_phase(i, phase);
        // A public call: the heap's top is live again when it returns.
        self.settle_deadlines();
        true
    }
}

impl Engine {
    /// The service whose main process (`on`) is `pid` and which has
    /// `notify-socket` (a respawn service): who may speak sd_notify.
    pub fn notifier_led_by(&self, pid: Pid) -> Option<usize> {
        let &(i, role) = self.pids.get(&pid)?;
        let i = i as usize;
        (role == Role::On && self.notifies(i)).then_some(i)
    }

    /// Whether service `i` has `notify-socket` (and respawns).
    pub fn notifies(&self, i: usize) -> bool {
        self.nodes
            .get(i)
            .is_some_and(|n| n.respawn && n.notify_socket)
    }
}
