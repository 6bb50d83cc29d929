//! `on-failure`, the daemon's side: what a failed service's action does
//! ([`Daemon::on_failures`]). The engine decides when a service has failed
//! and keeps the failure ([`crate::engine::Engine::take_failures`]); here
//! the action is carried out, through the paths a person would take:
//!
//! - `reboot`, `poweroff`, `halt`, `rescue`: the orderly sequence a signal
//!   or `cinit-ctl poweroff` begins ([`Daemon::begin_action`]). The
//!   failure's exit status is kept: in a container, where cinit exits
//!   instead of calling reboot(2), it is cinit's exit status
//!   ([`crate::daemon::lifecycle::container_exit_status`]). Not taken while
//!   a shutdown or rescue is under way (the rescue shell included: a
//!   service started by hand from it does not take the system away).
//! - `start NAME`: NAME is found (loaded if need be) and started as
//!   `cinit-ctl start NAME` does; a name that is no service is said on the
//!   console and nothing else happens.
//!
//! Part of [`crate::daemon`] (a child module sharing the daemon's state).
//! No cost without failures: one look at an empty list per loop turn.

use super::Daemon;
use crate::control::commands::{resolve, Services};
use crate::engine::failure::OnFailure;
use crate::proto::SystemAction;
use crate::sys::clock::Millis;

/// Rounds of actions in one loop turn: a `start NAME` may fail at once and
/// act in turn; what is left waits for the next turn (a deadline of now).
const ROUNDS: usize = 8;

impl Daemon {
    /// Carry out the `on-failure` action of every service that failed
    /// since the last call, in the order they failed.
    pub(super) fn on_failures(&mut self, now: Millis) {
        for _ in 0..ROUNDS {
            if !self.engine.has_failures() {
                return;
            }
            for f in self.engine.take_failures() {
                let Some(action) = self.engine.on_failure(f.svc).cloned() else {
                    continue;
                };
                let name = self
                    .engine
                    .status(f.svc)
                    .map(|s| s.name.to_string())
                    .unwrap_or_default();
                match action {
                    OnFailure::System(goal) => self.fail_to(now, &name, goal, f.status),
                    OnFailure::Start(target) => self.fail_over(now, &name, &target),
                }
            }
        }
    }

    /// Begin the orderly `goal` because service `name` failed with
    /// `status`, unless a sequence is under way.
    fn fail_to(&mut self, now: Millis, name: &str, goal: SystemAction, status: i32) {
        let what = format!("{name} failed: on-failure {}", goal.word());
        if let Some(seq) = self.sequence.as_ref() {
            let why = seq.busy_message(goal);
            self.host.log(&format!("{what}: not taken ({why})"));
            return;
        }
        self.host.log(&what);
        match self.begin_action(now, goal, None) {
            Ok(_) => self.failure_exit = Some((status, name.to_string())),
            Err(why) => self.host.log(&why),
        }
    }

    /// Start service `target` because service `name` failed, as
    /// `cinit-ctl start` would.
    fn fail_over(&mut self, now: Millis, name: &str, target: &str) {
        let what = format!("{name} failed: on-failure start {target}");
        if let Some(why) = self.frozen() {
            self.host.log(&format!("{what}: not taken ({why})"));
            return;
        }
        let mut sv = Services {
            frozen: None,
            engine: &mut self.engine,
            tree: &mut self.tree,
            host: &mut self.host,
        };
        match resolve(&mut sv, target) {
            Ok(i) => {
                sv.host.log(&what);
                sv.engine.start(sv.host, now, i);
            }
            Err(why) => sv.host.log(&format!("{what}: {why}")),
        }
    }
}
