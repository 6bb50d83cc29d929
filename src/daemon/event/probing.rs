//! Readiness probes in the event loop: start probing the processes the
//! engine spawned with a `ready-probe`, drop the probes of processes that
//! are no longer `starting`, finish connects poll reported, fail tries past
//! their deadline, start the tries that are due, and tell the engine which
//! process is ready (the same [`crate::engine::Engine::ready`] as a
//! `notification-fd` newline).
//!
//! Part of [`crate::daemon`] (a child module sharing the daemon's state).
//! It runs after reaping (so the exit of a service process drops its probe
//! before any try for it starts) and after the engine's deadlines (so a
//! process spawned there is probed in the same iteration). A probe
//! program's exit is handled by the reaper
//! ([`crate::ready::prober::Probes::reaped`]).
//!
//! Cost: nothing while no service is `starting` with a probe; otherwise one
//! pass over the probes in flight per iteration, and per try a socket and
//! a connect (TCP), a walk of the path's directories (Unix), or a spawn.

use std::os::fd::RawFd;

use nix::poll::PollFlags;

use super::Daemon;
use crate::ready::prober::Begun;
use crate::sys::clock::Millis;

impl Daemon {
    pub(super) fn run_probes(&mut self, now: Millis, revents: &[(RawFd, PollFlags)]) {
        for (svc, pid) in self.engine.take_probe_starts() {
            if let Some(probe) = self.engine.probe_of(svc) {
                self.probes.add(svc, pid, probe.clone(), now);
            }
        }
        let engine = &self.engine;
        self.probes.retain(|svc, pid| engine.is_starting(svc, pid));
        let mut ready = self.probes.handle(now, revents);
        self.probes.expire(now);
        for k in self.probes.due(now) {
            match self.probes.begin(k, now) {
                Begun::Ready(pid) => ready.push(pid),
                Begun::Pending => {}
                Begun::Exec { svc, argv } => {
                    let result = self.host.spawn_probe(svc, &argv);
                    if let Some(line) = self.probes.spawned(k, now, result) {
                        let name = self.engine.status(svc).map(|s| s.name.to_string());
                        self.host
                            .log(&format!("{}: {line}", name.unwrap_or_default()));
                    }
                }
            }
        }
        for pid in ready {
            self.engine.ready(&mut self.host, now, pid);
        }
    }
}
