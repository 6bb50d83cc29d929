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
use crate::engine::Failure;
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
                let name = self.engine.status(f.svc).map_or("", |s| s.name);
                let what = format!("{name} failed: on-failure {}", action.line());
                if let Err(why) = self.act(now, f, &what, action) {
                    self.host.log(&format!("{what}: not taken: {why}"));
                }
            }
        }
    }

    /// Carry out `action` for failure `f` (said as `what`), or say why not.
    fn act(
        &mut self,
        now: Millis,
        f: Failure,
        what: &str,
        action: OnFailure,
    ) -> Result<(), String> {
        match action {
            // Not while a sequence runs (a shutdown, the rescue shell).
            OnFailure::System(goal) => match self.sequence.as_ref() {
                Some(seq) => Err(seq.busy_message(goal)),
                None => {
                    self.host.log(what);
                    self.begin_action(now, goal, None)?;
                    self.failure_exit = Some(f.status);
                    Ok(())
                }
            },
            OnFailure::Start(target) => {
                if let Some(why) = self.frozen() {
                    return Err(why);
                }
                let mut sv = Services {
                    frozen: None,
                    engine: &mut self.engine,
                    tree: &mut self.tree,
                    host: &mut self.host,
                };
                let i = resolve(&mut sv, &target)?;
                sv.host.log(what);
                sv.engine.start(sv.host, now, i);
                Ok(())
            }
        }
    }
}
