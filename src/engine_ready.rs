//! Readiness: a respawn service with `notification-fd` becomes `running`
//! when its process signals readiness ([`Engine::ready`]); a service still
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

use super::{Engine, Host, Millis, Node, Phase, Pid, Role, Stop, StopStep};
use crate::state::Reason;

impl Engine {
    /// Process `pid` signalled readiness (wrote a newline to its
    /// `notification-fd`). Its service becomes `running`, and needers
    /// waiting for it may start. Returns whether it counted: `false` for a
    /// pid that is not a main process of ours, a service that does not
    /// signal readiness, or one that is not `starting` any more (stopping,
    /// say: readiness after a stop request changes nothing).
    pub fn ready(&mut self, host: &mut dyn Host, now: Millis, pid: Pid) -> bool {
        let Some(&(i, Role::On)) = self.pids.get(&pid) else {
            return false;
        };
        let notifies = self.nodes.get(i).and_then(Node::ready_fd).is_some();
        match self.phase(i) {
            Some(Phase::Starting { pid: p, .. }) if p == pid && notifies => {}
            _ => return false,
        }
        if let Some(s) = self.svcs.get_mut(i) {
            s.started_once = true;
        }
        let took = Some(self.elapsed(i, now));
        let detail = Some("ready".to_string());
        self.enter(host, now, i, Phase::Running { pid }, None, took, detail);
        self.drain(host, now);
        true
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
            timed_out: Some(limit),
        };
        let reason = Reason::NotReady(limit);
        let detail = Some(reason.to_string());
        let took = Some(self.elapsed(i, now));
        self.enter(
            host,
            now,
            i,
            Phase::Stopping(st),
            Some(reason),
            took,
            detail,
        );
        self.term_step(host, now, i);
    }
}
