//! Hot update, the check before the exec: start the preflight of the new
//! image ([`crate::update::preflight`]), follow it from the event loop without ever
//! waiting for it, and carry out or refuse the update on its verdict.
//!
//! Part of [`crate::daemon`] (a child module sharing the daemon's state).
//!
//! One preflight at a time: an update asked for while one runs (SIGCONT or
//! `cinit-ctl update`) joins it and gets the same answer. A shutdown or
//! rescue that begins meanwhile wins: the child (and its process group) is
//! killed and every waiting client is told the update did not happen. The
//! child is reaped by the ordinary reaper, which hands its status here
//! before any service could claim the pid.
//!
//! Which of these happens next is the pure [`next`], unit-tested in
//! `daemon/event/tests.rs`.

use std::os::fd::AsRawFd;

use super::Daemon;
use crate::proto::SystemAction;
use crate::sys::clock::seconds;
use crate::sys::clock::Millis;
use crate::update::preflight::{self, Refusal};
use crate::{update, update::snapshot};

/// What a requested hot update does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Next {
    /// None is asked for and none runs.
    Idle,
    /// A shutdown or rescue began: the update is called off.
    Overtaken,
    /// Asked for, none runs yet: start the preflight.
    Begin,
    /// A preflight runs: follow it (a request made meanwhile joins it).
    Follow,
}

/// The next step of an update: `requested` (asked for and not yet
/// answered), `running` (a preflight runs), `going_down` (a shutdown or
/// rescue is under way).
pub(super) fn next(requested: bool, running: bool, going_down: bool) -> Next {
    match (requested || running, going_down, running) {
        (false, _, _) => Next::Idle,
        (true, true, _) => Next::Overtaken,
        (true, false, false) => Next::Begin,
        (true, false, true) => Next::Follow,
    }
}

impl Daemon {
    /// Move a requested hot update on as far as it goes now.
    pub(super) fn drive_update(&mut self, now: Millis) {
        let (running, going_down) = (self.preflight.is_some(), self.sequence.is_some());
        match next(self.update_requested, running, going_down) {
            Next::Idle => return,
            Next::Overtaken => {
                // A shutdown began after the update was asked for: it wins.
                let why = self
                    .sequence
                    .as_ref()
                    .map(|s| s.busy_message(SystemAction::Update));
                self.update_requested = false;
                if let Some(p) = self.preflight.take() {
                    p.kill();
                }
                self.cancel_update(now, &why.unwrap_or_default());
                return;
            }
            Next::Begin => {
                self.update_requested = false;
                self.begin_preflight(now);
                return;
            }
            Next::Follow => {}
        }
        let Some(p) = self.preflight.as_mut() else {
            return;
        };
        p.read();
        let verdict = match p.verdict(snapshot::FORMAT) {
            Some(v) => v,
            None if now >= p.deadline => Err(Refusal::Check(format!(
                "it gave no answer within {} s (killed)",
                preflight::DEADLINE_MS / 1000
            ))),
            None => return,
        };
        // Requests that came in meanwhile joined this preflight.
        self.update_requested = false;
        let answer = match verdict {
            Ok(a) => a,
            Err(refusal) => {
                if let Some(p) = self.preflight.take() {
                    p.kill();
                }
                let why = refusal.message(&self.exec_path());
                self.cancel_update(
                    now,
                    &format!("update failed: {why}; the running cinit carries on"),
                );
                return;
            }
        };
        // As before the preflight: requests already read are served first.
        if self.control.as_ref().is_some_and(|c| c.has_ready()) {
            return;
        }
        let Some(p) = self.preflight.take() else {
            return;
        };
        let (lo, hi) = answer.formats;
        self.host.log(&format!(
            "update: {} passed its preflight in {} (cinit {}, reads snapshot formats {lo}..{hi})",
            self.exec_path(),
            seconds(now.saturating_sub(p.started)),
            answer.version
        ));
        // Format 1 is in its range (the verdict checked it); the faster
        // one if it reads that too.
        let format = snapshot::format_for(answer.formats).unwrap_or(snapshot::FORMAT);
        self.hot_update(now, p.image.as_raw_fd(), format);
    }

    /// Open the image and start its preflight, or refuse the update.
    fn begin_preflight(&mut self, now: Millis) {
        let Some(path) = self.exec.path.clone() else {
            self.cancel_update(
                now,
                "update failed: cannot tell where the cinit binary is (/proc/self/exe); \
                 the running cinit carries on",
            );
            return;
        };
        let env = preflight::environment(&[update::ENV_VAR, crate::sys::nofile::ENV_VAR]);
        let stderr = self.host.child_stdio.as_ref().map(|f| f.as_raw_fd());
        match preflight::start(&path, &env, stderr, now) {
            Ok(running) => self.preflight = Some(running),
            Err(refusal) => {
                let why = refusal.message(&path.display().to_string());
                self.cancel_update(
                    now,
                    &format!("update failed: {why}; the running cinit carries on"),
                );
            }
        }
    }

    /// cinit's path as shown in messages.
    fn exec_path(&self) -> String {
        self.exec
            .path
            .as_ref()
            .map_or_else(|| "cinit".to_string(), |p| p.display().to_string())
    }
}
