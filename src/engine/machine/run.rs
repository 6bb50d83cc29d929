//! Running a service's main process: the spawn itself (first start,
//! restart, end of backoff), and what happens when a respawn service exits
//! (an immediate restart, or backoff after quick deaths).
//!
//! Part of [`crate::engine`] (a child module, so it shares the engine's
//! private state), split out because it is a responsibility of its own.

use super::{
    restart_delay, seconds, Change, Engine, Host, Millis, Node, Phase, Role, Spawned,
    BACKOFF_FIRST_MS, STABLE_MS,
};
use crate::engine::failure::Cause;
use crate::engine::state::{Reason, SpawnError};
use crate::sys::process::ExitStatus;

impl Engine {
    /// Spawn the main process (first start, restart, or end of backoff).
    /// `start`: a start a request asked for, whose condition the host
    /// checks ([`Host::start`]); a restart (after an exit or a backoff)
    /// does not check it again.
    pub(super) fn spawn_main(
        &mut self,
        host: &mut dyn Host,
        now: Millis,
        i: usize,
        note: Option<String>,
        start: bool,
    ) {
        if self.halting {
            let detail = Some("not started: the system is going down".to_string());
            self.enter(host, now, i, Change::to(Phase::Stopped).detail(detail));
            return;
        }
        if let Some(reason) = self.nodes.get(i).and_then(|n| n.broken.as_deref().cloned()) {
            self.end(host, now, i, Phase::Failed, reason);
            return;
        }
        let respawn = self.respawns(i);
        self.note_startable(i, now);
        let ready_fd = self.nodes.get(i).and_then(Node::ready_fd);
        let watchdog = self.nodes.get(i).and_then(Node::watchdog);
        let spawned = match (ready_fd, watchdog) {
            _ if start => host.start(i, ready_fd, watchdog),
            (Some(fd), None) => host.spawn_ready(i, fd),
            (None, None) => host.spawn(i, Role::On),
            (fd, dog) => host.spawn_main(i, fd, dog),
        };
        match spawned {
            Ok(Spawned::Pid(pid)) => {
                self.pids.insert(pid, (super::slot(i), Role::On));
                // A service that signals readiness (or is probed) has
                // started only once it is ready (see `ready`), not at the
                // spawn.
                let gated = self.nodes.get(i).is_some_and(Node::gated);
                let up_now = respawn && !gated;
                if gated && self.nodes.get(i).is_some_and(|n| n.probe.is_some()) {
                    self.probe_starts.push((i, pid));
                }
                if let Some(s) = self.svcs.get_mut(i) {
                    s.spawned_at = now;
                    s.started_once |= up_now;
                }
                // Armed at the spawn, ready or not (as systemd does).
                let watchdog = watchdog.map(|ms| now.saturating_add(ms));
                let phase = if up_now {
                    Phase::Running { pid, watchdog }
                } else {
                    Phase::Starting {
                        pid,
                        deadline: self.ready_deadline(i, now),
                        watchdog,
                    }
                };
                self.enter(host, now, i, Change::to(phase).detail(note));
            }
            Ok(Spawned::Nothing) => {
                let detail = respawn.then(|| "nothing to run (no on)".to_string());
                self.enter(host, now, i, Change::to(Phase::Done).detail(detail));
            }
            Ok(Spawned::Skipped(failed)) => {
                let reason = Reason::Condition(failed);
                let detail = reason.to_string();
                let change = Change::to(Phase::Skipped).reason(reason);
                self.enter(host, now, i, change.detail(detail));
            }
            Err(err) if respawn && err.is_transient() => {
                let quick = self.bump_quick_deaths(i, now, false);
                let delay = restart_delay(quick).max(BACKOFF_FIRST_MS);
                let detail = format!("{err}; retry in {}", seconds(delay));
                let until = now.saturating_add(delay);
                let change = Change::to(Phase::Backoff { until }).reason(Reason::Spawn(err));
                self.enter(host, now, i, change.detail(detail));
            }
            Err(err) => {
                let cause = match err {
                    SpawnError::Exec { errno, .. } => Cause::Exec(errno),
                    _ => Cause::Other,
                };
                let reason = Reason::Spawn(err);
                self.end(host, now, i, Phase::Failed, reason);
                self.note_failure(i, cause);
            }
        }
    }

    /// Count one more quick death (resetting the count after a stable run).
    fn bump_quick_deaths(&mut self, i: usize, now: Millis, ran: bool) -> u32 {
        let Some(s) = self.svcs.get_mut(i) else {
            return 1;
        };
        if ran && now.saturating_sub(s.spawned_at) >= STABLE_MS {
            s.quick_deaths = 0;
        }
        s.quick_deaths = s.quick_deaths.saturating_add(1);
        s.quick_deaths
    }

    pub(super) fn respawn_after_exit(
        &mut self,
        host: &mut dyn Host,
        now: Millis,
        i: usize,
        status: ExitStatus,
    ) {
        let reason = exit_reason(host, i, status);
        self.respawn_after(host, now, i, reason, Cause::Exit(status));
    }

    /// A respawn service's main process is gone for `reason` (an exit, or
    /// the end of a watchdog's kill): restart it at once or after a
    /// backoff, or leave it `stopped` while the system goes down; `cause`
    /// is what a `restart-limit` it reaches hands to `on-failure`.
    pub(super) fn respawn_after(
        &mut self,
        host: &mut dyn Host,
        now: Millis,
        i: usize,
        reason: Reason,
        cause: Cause,
    ) {
        let uptime = self.svcs.get(i).map(|s| now.saturating_sub(s.spawned_at));
        if self.halting {
            let detail = format!("{reason}; not restarted: the system is going down");
            let change = Change::to(Phase::Stopped).took(uptime);
            self.enter(host, now, i, change.detail(detail));
            return;
        }
        if let Some(limit) = self.count_exit(i, now) {
            let failed = Reason::RestartLimit(limit.exits, limit.within_ms);
            self.end(host, now, i, Phase::Failed, failed);
            self.note_failure(i, cause);
            return;
        }
        let quick = self.bump_quick_deaths(i, now, true);
        if let Some(s) = self.svcs.get_mut(i) {
            s.restarts = s.restarts.saturating_add(1);
        }
        let delay = restart_delay(quick);
        if delay == 0 {
            let took = uptime.map(seconds).unwrap_or_default();
            let detail = format!("restarted after {reason} (up {took})");
            if let Some(s) = self.svcs.get_mut(i) {
                s.reason = Some(Box::new(reason));
            }
            self.spawn_main(host, now, i, Some(detail), false);
            return;
        }
        let until = now.saturating_add(delay);
        let detail = format!("{reason}; restart in {}", seconds(delay));
        // The change keeps the reason for status ([`Engine::enter`]).
        let change = Change::to(Phase::Backoff { until }).reason(reason);
        self.enter(host, now, i, change.took(uptime).detail(detail));
    }
}

/// Why the main process of `i` ended: the host's words where it has them
/// (the OOM killer in the service's cgroup), else its exit status.
pub(super) fn exit_reason(host: &mut dyn Host, i: usize, status: ExitStatus) -> Reason {
    match host.exit_reason(i, status) {
        Some(words) => Reason::Died(words),
        None => Reason::Exit(status),
    }
}
