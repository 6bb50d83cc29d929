//! The end of a stop with cgroups: once a service's main process and
//! `off` are gone, whatever is left in its cgroup (a daemon that forked
//! out of its process group) is killed, and the service is `stopped` only
//! when the cgroup is empty.
//!
//! Part of [`crate::engine`] (a child module sharing its private state).
//! The engine asks the [`Host`] ([`Host::kill_rest`], [`Host::populated`]);
//! a host without cgroups answers "empty", and the stop ends as before.
//!
//! How the engine learns that a cgroup emptied, without blocking or
//! polling hard: every process of it that dies is reaped by PID 1 (the
//! main process is its child, orphans are reparented to it), so the daemon
//! calls [`Engine::recheck_drains`] after each batch of reaps; a deadline
//! ([`POLL_MS`], later [`SLOW_POLL_MS`]) kills and looks again in case a
//! process is not PID 1's to reap (a subreaper's child, one in another PID
//! namespace). In a shutdown a cgroup still not empty after
//! [`super::KILL_WAIT_MS`] is given up on, as a process that survives
//! SIGKILL is, for the global kill.
//!
//! Invariants: a service is in [`StopStep::Drain`] only with neither a
//! main process nor `off`; it is in [`Engine::draining`] while it is (the
//! list may also hold services that left the step, dropped at the next
//! recheck).

use super::{Change, Engine, Host, Millis, Phase, Stop, StopStep, Timeout};
use crate::engine::failure::Cause;
use crate::engine::state::Reason;
use crate::sys::process::ExitStatus;
use nix::sys::signal::Signal;

/// The first polls of a draining cgroup, this often.
pub(super) const POLL_MS: Millis = 100;
/// Polls after the first [`FAST_POLLS`], this often: a process that
/// survives SIGKILL (uninterruptible sleep) may stay for long.
const SLOW_POLL_MS: Millis = 1_000;
/// Polls at [`POLL_MS`] before the slower ones; also the polls a shutdown
/// waits before giving up ([`super::KILL_WAIT_MS`] / [`POLL_MS`]).
const FAST_POLLS: u8 = (super::KILL_WAIT_MS / POLL_MS) as u8;

impl Engine {
    /// The main process and `off` of service `i` are gone: kill what is
    /// left of it and wait for its cgroup to empty, or end the stop now
    /// if nothing is left.
    pub(super) fn stop_rest(&mut self, host: &mut dyn Host, now: Millis, i: usize, mut st: Stop) {
        if host.kill_rest(i) {
            st.step = StopStep::Drain(0);
            st.deadline = Some(now.saturating_add(POLL_MS));
            self.set_phase(i, Phase::Stopping(st));
            if !self.draining.contains(&i) {
                self.draining.push(i);
            }
            return;
        }
        self.end_stop(host, now, i, st);
    }

    /// The stop of `i` is over: `stopped`, `failed` if it ended a
    /// `ready-timeout`, restarted like a crash if it ended a `watchdog`.
    pub(super) fn end_stop(&mut self, host: &mut dyn Host, now: Millis, i: usize, st: Stop) {
        let took = self.elapsed(i, now);
        match st.timed_out {
            // The watchdog's kill began with SIGABRT: a limit it reaches
            // stands for that death (the status of the SIGKILL that may
            // have followed is not kept).
            Some(Timeout::Watchdog(ms)) => {
                let abort = Cause::Exit(ExitStatus::Signal(Signal::SIGABRT as i32));
                self.respawn_after(host, now, i, Reason::Watchdog(ms), abort)
            }
            Some(Timeout::Ready(ms)) => {
                let reason = Reason::NotReady(ms);
                let detail = reason.to_string();
                let change = Change::to(Phase::Failed).reason(reason);
                self.enter(host, now, i, change.took(took).detail(detail));
                self.note_failure(i, Cause::Other);
            }
            None => self.enter(host, now, i, Change::to(Phase::Stopped).took(took)),
        }
    }

    /// The drain deadline of `i` is due (its `deadline` already cleared):
    /// kill again and look; end the stop once the cgroup is empty.
    pub(super) fn poll_drain(
        &mut self,
        host: &mut dyn Host,
        now: Millis,
        i: usize,
        mut st: Stop,
        polls: u8,
    ) {
        if !host.kill_rest(i) {
            self.end_stop(host, now, i, st);
        } else if self.halting && polls >= FAST_POLLS {
            // Left for the global kill, as `abandon` leaves a process.
            let detail = "its cgroup's processes still there after SIGKILL; given up on";
            let change = Change::to(Phase::Stopped).took(self.elapsed(i, now));
            self.enter(host, now, i, change.detail(detail.to_string()));
        } else {
            let wait = if polls < FAST_POLLS {
                POLL_MS
            } else {
                SLOW_POLL_MS
            };
            st.step = StopStep::Drain(polls.saturating_add(1));
            st.deadline = Some(now.saturating_add(wait));
            self.set_phase(i, Phase::Stopping(st));
        }
    }

    /// Look again at every cgroup a stop waits for, after a batch of
    /// reaps; end the stops whose cgroup is empty now. No system call
    /// when no stop waits.
    pub fn recheck_drains(&mut self, host: &mut dyn Host, now: Millis) {
        if self.draining.is_empty() {
            return;
        }
        for i in std::mem::take(&mut self.draining) {
            let Some(Phase::Stopping(st)) = self.phase(i) else {
                continue;
            };
            if !matches!(st.step, StopStep::Drain(_)) {
                continue;
            }
            if host.populated(i) {
                self.draining.push(i);
            } else {
                self.end_stop(host, now, i, st);
            }
        }
        self.drain(host, now);
    }

    /// After a hot update: the services whose stop waits for their cgroup.
    pub(super) fn index_drains(&mut self) {
        self.draining = (0..self.svcs.len())
            .filter(|&i| {
                matches!(
                    self.phase(i),
                    Some(Phase::Stopping(Stop {
                        step: StopStep::Drain(_),
                        ..
                    }))
                )
            })
            .collect();
    }
}
