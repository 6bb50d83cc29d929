//! Restart limits and failures to act on: the window of a respawn
//! service's last exits ([`Engine::count_exit`]) and the failures of
//! services with an `on-failure` action, kept until the daemon takes them
//! ([`Engine::take_failures`]).
//!
//! Part of [`crate::engine`] (a child module sharing its private state).
//!
//! Rules:
//! - Only a respawn service with `restart-limit N SECONDS` keeps a window:
//!   the times of its last N exits (a sliding window, at most N ≤
//!   [`crate::engine::failure::MAX_EXITS`] times). When the N-th exit
//!   comes within SECONDS of the first of them, the service is `failed`
//!   and not restarted. Exits of a service whose stop is requested, or
//!   during a shutdown, are not counted (they are not restarted either).
//! - A request to start the service (`cinit-ctl start`, `restart`, an
//!   `on-failure start`) forgets its window: a person asked for it.
//! - The backoff ([`super::restart_delay`]) still spaces the restarts; the
//!   limit only counts exits, so a window shorter than the backoff's
//!   spacing of N quick deaths ([`crate::engine::failure::shortest_span`])
//!   never fills.
//! - A failure is kept for the daemon only when the service has an
//!   `on-failure` action, and never during a shutdown.
//!
//! Invariants: nothing is held for a service without the files (no
//! window, no failure); a window is dropped when its service fails or is
//! requested again; the windows are not part of a hot-update snapshot (a
//! hot update starts every count afresh).

use super::{slot, Engine, Millis};
use crate::engine::failure::{Cause, OnFailure, RestartLimit};

/// A failure for the daemon to act on: the service, and the exit status it
/// stands for ([`Cause::status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    pub svc: usize,
    pub status: i32,
}

/// The exit times of one service, oldest first (a `Vec`: at most N ≤ 1000
/// times, and one exit shifts them once).
pub(super) type Window = (u32, Vec<Millis>);

impl Engine {
    /// One more exit of respawn service `i` at `now`; its limit if this
    /// exit reached it (the window is then dropped). No work, and nothing
    /// held, for a service without `restart-limit`.
    pub(super) fn count_exit(&mut self, i: usize, now: Millis) -> Option<RestartLimit> {
        let limit = self.nodes.get(i)?.failure.as_deref()?.limit?;
        if self.svcs.get(i).is_some_and(|s| s.stop_requested) {
            return None;
        }
        let n = usize::try_from(limit.exits).unwrap_or(usize::MAX).max(1);
        let k = match self.windows.iter().position(|(s, _)| *s == slot(i)) {
            Some(k) => k,
            None => {
                self.windows.push((slot(i), Vec::new()));
                self.windows.len() - 1
            }
        };
        let (_, times) = self.windows.get_mut(k)?;
        // At most n times are ever held: the oldest makes room.
        if times.len() >= n {
            times.remove(0);
        }
        times.push(now);
        let first = times.first().copied().unwrap_or(now);
        if times.len() == n && now.saturating_sub(first) <= limit.within_ms {
            self.windows.swap_remove(k);
            return Some(limit);
        }
        None
    }

    /// A start of service `i` was requested: its count starts afresh.
    pub(super) fn forget_exits(&mut self, i: usize) {
        if let Some(k) = self.windows.iter().position(|(s, _)| *s == slot(i)) {
            self.windows.swap_remove(k);
        }
    }

    /// Service `i` ended `failed` for `cause`: kept for the daemon if it
    /// has an `on-failure` action and the system is not going down.
    pub(super) fn note_failure(&mut self, i: usize, cause: Cause) {
        if !self.halting && self.on_failure(i).is_some() {
            self.failures.push(Failure {
                svc: i,
                status: cause.status(),
            });
        }
    }

    /// The `on-failure` action of service `i`, if it has one.
    pub fn on_failure(&self, i: usize) -> Option<&OnFailure> {
        self.nodes.get(i)?.failure.as_deref()?.action.as_ref()
    }

    /// The failures to act on since the last call, in the order they
    /// happened. No allocation when there are none.
    pub fn take_failures(&mut self) -> Vec<Failure> {
        std::mem::take(&mut self.failures)
    }

    /// Whether [`Engine::take_failures`] has something.
    pub fn has_failures(&self) -> bool {
        !self.failures.is_empty()
    }

    /// How many exits the window of service `i` holds (for the tests).
    #[cfg(test)]
    pub(super) fn counted(&self, i: usize) -> usize {
        self.windows
            .iter()
            .find(|(s, _)| *s == slot(i))
            .map_or(0, |(_, t)| t.len())
    }
}
