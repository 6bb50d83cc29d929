//! The boot timeline: when each service went through the steps of its
//! latest start, on the monotonic clock (milliseconds since boot on Linux).
//!
//! Part of [`crate::engine`] (a child module sharing its private state).
//! The engine records the times in one place, [`Engine::enter`] (plus the
//! decision to spawn in `spawn_main` and the request of `start --no-deps`),
//! so every path into a state is covered without touching each of them.
//!
//! Invariants: one [`Times`] per service, in index order. A *cycle* begins
//! with a request — entering `waiting`, or `start --no-deps` — which clears
//! every later time; within a cycle the first `startable`, `spawned` and
//! `ready` are kept (a respawn service restarted within the cycle does not
//! move them), while `ended` is the latest end. Recording never fails and
//! allocates nothing after [`Engine::add_nodes`].

use super::{Engine, Millis, Node, Phase};

/// The steps of one service's latest start. `None` = not (yet) reached in
/// this cycle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Times {
    /// Requested: it entered `waiting` (or was started with `--no-deps`).
    pub requested: Option<Millis>,
    /// Its needs were up and its wants settled: the engine decided to spawn
    /// it (for `start --no-deps`, the request itself).
    pub startable: Option<Millis>,
    /// Its main process was spawned, or it turned out to have nothing to run.
    pub spawned: Option<Millis>,
    /// It came up: it entered `running` or `done`.
    pub ready: Option<Millis>,
    /// It went down: it entered `failed`, `need-failed` or `stopped`.
    pub ended: Option<Millis>,
}

impl Times {
    /// A new cycle, requested at `now`.
    fn requested_at(now: Millis) -> Times {
        Times {
            requested: Some(now),
            ..Times::default()
        }
    }
}

mod save;
pub use save::Timeline;

impl Engine {
    /// The recorded times of service `i`.
    pub fn times(&self, i: usize) -> Option<&Times> {
        self.timeline.times.get(i)
    }

    /// The static description of service `i` (its needs and wants).
    pub fn node(&self, i: usize) -> Option<&Node> {
        self.nodes.get(i)
    }

    /// When cinit itself started (the origin of the boot timeline), if the
    /// daemon said so.
    pub fn started_at(&self) -> Option<Millis> {
        self.timeline.started
    }

    /// Record when cinit itself started.
    pub fn set_started_at(&mut self, at: Millis) {
        self.timeline.started = Some(at);
    }

    /// cinit's start and every service's times, for the hot-update snapshot.
    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    /// Take over the times of a previous image (by [`Engine::load`]).
    /// Records beyond the services are ignored; services without one keep
    /// empty times.
    pub fn restore_times(&mut self, t: &Timeline) {
        self.timeline.started = t.started.or(self.timeline.started);
        for (slot, t) in self.timeline.times.iter_mut().zip(&t.times) {
            *slot = *t;
        }
    }

    /// One entry per service, after services were added.
    pub(super) fn grow_times(&mut self) {
        self.timeline
            .times
            .resize(self.nodes.len(), Times::default());
    }

    /// A request outside `waiting` (`start --no-deps`): a new cycle that is
    /// startable at once.
    pub(super) fn note_request(&mut self, i: usize, now: Millis) {
        if let Some(t) = self.timeline.times.get_mut(i) {
            *t = Times::requested_at(now);
            t.startable = Some(now);
        }
    }

    /// The engine is about to spawn the main process.
    pub(super) fn note_startable(&mut self, i: usize, now: Millis) {
        if let Some(t) = self.timeline.times.get_mut(i) {
            t.startable.get_or_insert(now);
        }
    }

    /// Service `i` enters `phase` at `now`.
    pub(super) fn note_phase(&mut self, i: usize, now: Millis, phase: Phase) {
        let Some(t) = self.timeline.times.get_mut(i) else {
            return;
        };
        match phase {
            Phase::Waiting => *t = Times::requested_at(now),
            Phase::Starting { .. } => {
                t.spawned.get_or_insert(now);
            }
            Phase::Running { .. } | Phase::Done => {
                t.spawned.get_or_insert(now);
                t.ready.get_or_insert(now);
            }
            Phase::Failed | Phase::NeedFailed | Phase::Stopped | Phase::Skipped => {
                t.ended = Some(now)
            }
            Phase::Backoff { .. } | Phase::Stopping(_) => {}
        }
    }
}

#[cfg(test)]
mod tests;
