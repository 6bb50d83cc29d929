//! The engine's inner steps: entering a phase, ending a run, and
//! evaluating what a service should do next (part of [`super::Engine`]).

use super::*;

/// Slots of the work queue kept once it is drained: enough for the few
/// entries a single event queues, so an ordinary event never reallocates.
pub(super) const QUEUE_KEPT: usize = 64;

impl Engine {
    // ----- internals -----

    pub(super) fn phase(&self, i: usize) -> Option<Phase> {
        self.svcs.get(i).map(|s| s.phase)
    }

    /// Every write of a phase comes here or to [`Engine::enter`], which
    /// keep the deadlines in step ([`Deadlines`]).
    pub(super) fn set_phase(&mut self, i: usize, phase: Phase) {
        if let Some(s) = self.svcs.get_mut(i) {
            let old = std::mem::replace(&mut s.phase, phase);
            self.deadlines.change(i, old, phase);
        }
    }

    pub(super) fn elapsed(&self, i: usize, now: Millis) -> Millis {
        self.svcs
            .get(i)
            .map(|s| now.saturating_sub(s.since))
            .unwrap_or(0)
    }

    pub(super) fn respawns(&self, i: usize) -> bool {
        self.nodes.get(i).is_some_and(|n| n.respawn)
    }

    pub(super) fn delay_ms(&self, i: usize) -> Option<Millis> {
        let s = self
            .nodes
            .get(i)
            .and_then(|n| n.delay_s)
            .unwrap_or(DEFAULT_DELAY_S);
        (s > 0).then(|| Millis::from(s) * 1000)
    }

    /// Enter a final phase (`failed`, `need-failed`) for `reason`, which is
    /// also the console detail.
    pub(super) fn end(
        &mut self,
        host: &mut dyn Host,
        now: Millis,
        i: usize,
        phase: Phase,
        reason: Reason,
    ) {
        let detail = reason.to_string();
        self.enter(
            host,
            now,
            i,
            Change::to(phase).reason(reason).detail(detail),
        );
    }

    /// Enter a new phase, report it, and queue the dependents for evaluation.
    pub(super) fn enter(&mut self, host: &mut dyn Host, now: Millis, i: usize, change: Change) {
        let phase = change.phase;
        self.note_phase(i, now, phase);
        let Some(svc) = self.svcs.get_mut(i) else {
            return;
        };
        let old = std::mem::replace(&mut svc.phase, phase);
        self.deadlines.change(i, old, phase);
        svc.since = now;
        // The last reason is kept for status displays until the next request.
        if change.reason.is_some() || phase == Phase::Waiting {
            svc.reason = change.reason.map(Box::new);
        }
        let name = self.nodes.get(i).map(|n| n.name.as_str()).unwrap_or("");
        host.report(
            i,
            name,
            Report {
                state: phase.state(),
                pid: phase.main_pid().or(match phase {
                    Phase::Stopping(st) => st.off,
                    _ => None,
                }),
                took: change.took,
                detail: change.detail,
            },
        );
        self.queue.push_back(i);
        if let Some(deps) = self.dependents.get(i) {
            self.queue.extend(deps.iter().copied());
        }
        self.wake_stops_behind(i);
    }

    /// Queue the needs and wants of `i`: a service waiting to stop may be
    /// waiting for this one.
    pub(crate) fn wake_stops_behind(&mut self, i: usize) {
        if let Some(node) = self.nodes.get(i) {
            self.queue
                .extend(node.needs.iter().chain(node.wants.iter()).copied());
        }
    }

    pub(super) fn drain(&mut self, host: &mut dyn Host, now: Millis) {
        while let Some(i) = self.queue.pop_front() {
            self.evaluate(host, now, i);
        }
        self.settle_deadlines();
        // A boot or a stop of everything queues several entries per
        // service; the queue is empty between events, so what such a burst
        // made it grow to is given back rather than held for good.
        if self.queue.capacity() > QUEUE_KEPT {
            self.queue.shrink_to(QUEUE_KEPT);
        }
    }

    /// Whether a need has started: a once service is done, a respawn
    /// service is running (and so ready, if it signals readiness), or in
    /// backoff after it was up once; or it was skipped (its condition did
    /// not hold: nothing to wait for).
    pub(super) fn started(&self, i: usize) -> bool {
        match (self.phase(i), self.svcs.get(i)) {
            (Some(Phase::Done | Phase::Running { .. } | Phase::Skipped), _) => true,
            (Some(Phase::Backoff { .. }), Some(s)) => s.started_once,
            _ => false,
        }
    }

    pub(super) fn settled(&self, i: usize) -> bool {
        !matches!(
            self.phase(i),
            Some(Phase::Waiting | Phase::Starting { .. }) | None
        )
    }

    /// Decide what a service does now: a pending stop proceeds once its
    /// needers are down; a waiting service starts once its dependencies are.
    pub(super) fn evaluate(&mut self, host: &mut dyn Host, now: Millis, i: usize) {
        if self.svcs.get(i).is_some_and(|s| s.stop_requested) {
            if !self.stop_blocked(i) {
                self.stop_one(host, now, i);
            }
            return;
        }
        if self.phase(i) != Some(Phase::Waiting) {
            return;
        }
        let Some(node) = self.nodes.get(i) else {
            return;
        };
        if let Some(reason) = node.broken.as_deref().cloned() {
            self.end(host, now, i, Phase::Failed, reason);
            return;
        }
        if let Some((entry, why)) = node.missing_need.as_deref().cloned() {
            let reason = Reason::NeedMissing(entry, why);
            self.end(host, now, i, Phase::NeedFailed, reason);
            return;
        }
        let failed_need = node
            .needs
            .iter()
            .copied()
            .find(|&n| matches!(self.phase(n), Some(Phase::Failed | Phase::NeedFailed)));
        if let Some(n) = failed_need {
            let need = self
                .nodes
                .get(n)
                .map(|x| x.name.clone())
                .unwrap_or_default();
            let reason = Reason::NeedFailed(need);
            self.end(host, now, i, Phase::NeedFailed, reason);
            return;
        }
        // A need whose stop is pending counts as going down: nothing starts
        // on it (a grouping parked by that stop stays parked).
        let ready = node
            .needs
            .iter()
            .all(|&n| self.started(n) && !self.svcs.get(n).is_some_and(|s| s.stop_requested))
            && node.wants.iter().all(|&w| self.settled(w));
        if ready {
            self.spawn_main(host, now, i, None, true);
        }
    }
}
