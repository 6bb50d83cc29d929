//! The service watchdog: a respawn service with a `watchdog` file must say
//! `WATCHDOG=1` (through its `NOTIFY_SOCKET`) at least that often, or it
//! is taken for hung, killed and restarted like a crash.
//!
//! Part of [`crate::engine`] (a child module sharing its private state).
//!
//! Rules:
//! - The deadline is armed when the main process is spawned
//!   (`engine/machine/run.rs`), ready or not, as systemd arms it; each
//!   [`Engine::watchdog_ping`] moves it to a full interval from then.
//!   It lives in the phase (`Starting`/`Running`'s `watchdog`), so it is
//!   one of the phase's deadlines ([`super::deadlines`]) and nothing else
//!   keeps it; any other phase has none, so a stop or an exit disarms it.
//! - When it passes ([`Engine::watchdog_expired`], from the deadlines), or
//!   on [`Engine::watchdog_trigger`]: SIGABRT (and SIGCONT) to the main
//!   process's group — SIGABRT so a daemon stuck in a loop leaves a core
//!   to debug — then SIGKILL after the service's `delay`, as a stop's
//!   SIGTERM is followed (no `off`: the service did not stop, it hung).
//!   The state is `stopping` with the reason `watchdog timeout (1s)`; when
//!   the process (and its cgroup) is gone the service is restarted like a
//!   crash ([`Engine::respawn_after`]: counted, backoff and all) and keeps
//!   the reason. A stop asked for meanwhile ends it `stopped` instead
//!   (`engine/machine/stop.rs`).
//! - A hot update does not carry the deadline: the new image arms every
//!   watchdog afresh from its own clock ([`Engine::rearm_watchdogs`]),
//!   which can only give a service more time, once.
//!
//! Invariants: only a respawn service with a `watchdog` ever has a
//! watchdog deadline; a ping never creates one where the spawn armed none.

use nix::sys::signal::Signal;

use super::{Change, Engine, Host, Millis, Node, Phase, Stop, StopStep, Timeout};
use crate::engine::state::Reason;

impl Engine {
    /// Service `i`'s main process said `WATCHDOG=1` at `now`: its watchdog
    /// is armed again for a full interval. Returns whether it counted:
    /// `false` for a service without a watchdog, or not `starting` or
    /// `running` (a stop under way, say).
    pub fn watchdog_ping(&mut self, i: usize, now: Millis) -> bool {
        let Some(ms) = self.nodes.get(i).and_then(Node::watchdog) else {
            return false;
        };
        let due = Some(now.saturating_add(ms));
        let phase = match self.phase(i) {
            Some(Phase::Starting {
                pid,
                deadline,
                watchdog: Some(_),
            }) => Phase::Starting {
                pid,
                deadline,
                watchdog: due,
            },
            Some(Phase::Running {
                pid,
                watchdog: Some(_),
            }) => Phase::Running { pid, watchdog: due },
            _ => return false,
        };
        self.set_phase(i, phase);
        // The entry of the old deadline is now stale; keep the top live.
        self.settle_deadlines();
        true
    }

    /// Service `i`'s main process said `WATCHDOG=trigger`: it is handled
    /// at once as if its watchdog had passed. Returns whether it counted
    /// (as [`Engine::watchdog_ping`]: only a service with a watchdog, while
    /// `starting` or `running`).
    pub fn watchdog_trigger(&mut self, host: &mut dyn Host, now: Millis, i: usize) -> bool {
        let armed = matches!(
            self.phase(i),
            Some(
                Phase::Starting {
                    watchdog: Some(_),
                    ..
                } | Phase::Running {
                    watchdog: Some(_),
                    ..
                }
            )
        );
        if armed {
            self.watchdog_expired(host, now, i);
            self.drain(host, now);
        }
        armed
    }

    /// Arm every watchdog afresh from `now`: after a hot update (the
    /// snapshot does not carry the deadlines).
    pub fn rearm_watchdogs(&mut self, now: Millis) {
        for i in 0..self.svcs.len() {
            let Some(due) = self
                .nodes
                .get(i)
                .and_then(Node::watchdog)
                .map(|ms| now.saturating_add(ms))
            else {
                continue;
            };
            let phase = match self.phase(i) {
                Some(Phase::Starting { pid, deadline, .. }) => Phase::Starting {
                    pid,
                    deadline,
                    watchdog: Some(due),
                },
                Some(Phase::Running { pid, .. }) => Phase::Running {
                    pid,
                    watchdog: Some(due),
                },
                _ => continue,
            };
            self.set_phase(i, phase);
        }
        self.settle_deadlines();
    }

    /// Service `i`'s watchdog passed (or was triggered): SIGABRT to its
    /// main process's group, SIGKILL after `delay`, then a restart (see the
    /// module doc).
    pub(super) fn watchdog_expired(&mut self, host: &mut dyn Host, now: Millis, i: usize) {
        let pid = match self.phase(i) {
            Some(Phase::Starting { pid, .. } | Phase::Running { pid, .. }) => pid,
            _ => return,
        };
        let ms = self.nodes.get(i).and_then(Node::watchdog).unwrap_or(0);
        host.signal_group(pid, Signal::SIGABRT);
        host.signal_group(pid, Signal::SIGCONT);
        let st = Stop {
            main: Some(pid),
            off: None,
            step: StopStep::Term,
            deadline: self.delay_ms(i).map(|d| now.saturating_add(d)),
            timed_out: Some(Timeout::Watchdog(ms)),
        };
        let reason = Reason::Watchdog(ms);
        let detail = format!("{reason}; SIGABRT sent");
        let change = Change::to(Phase::Stopping(st)).reason(reason);
        let took = self.elapsed(i, now);
        self.enter(host, now, i, change.took(took).detail(detail));
    }
}
