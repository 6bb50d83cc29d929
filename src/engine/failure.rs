//! What a service's failure leads to: its `restart-limit` (a respawn
//! service that ended N times within a window is `failed`, not restarted)
//! and its `on-failure` action, with the exit status a failure stands for.
//!
//! Pure types and arithmetic, no state: the engine keeps the windows of
//! exit times and the failures for the daemon to act on
//! (`engine/machine/limit.rs`); the files are parsed by
//! `config/failure.rs`.
//!
//! Invariants: a [`RestartLimit`] counts at least one exit and at most
//! [`MAX_EXITS`], over a window longer than zero and at most
//! [`MAX_WINDOW_MS`]; the memory a window holds is bounded by its count.

use crate::proto::SystemAction;
use crate::sys::clock::Millis;
use crate::sys::process::ExitStatus;

/// Most exits a `restart-limit` may count: its window keeps one time per
/// exit.
pub const MAX_EXITS: u32 = 1000;
/// Longest window of a `restart-limit`: one day.
pub const MAX_WINDOW_MS: Millis = 86_400_000;

/// `restart-limit`: after `exits` ends within `within_ms`, the service
/// is `failed` instead of restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartLimit {
    pub exits: u32,
    pub within_ms: Millis,
}

/// `on-failure`: what happens when the service ends `failed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnFailure {
    /// An orderly reboot, poweroff, halt or rescue, as `cinit-ctl` asks.
    System(SystemAction),
    /// Start the service of this name, as `cinit-ctl start NAME` does.
    Start(String),
}

impl OnFailure {
    /// The line it is written as in the `on-failure` file.
    pub fn line(&self) -> String {
        match self {
            OnFailure::System(a) => a.word().to_string(),
            OnFailure::Start(name) => format!("start {name}"),
        }
    }
}

/// A service's failure policy: rare, so a [`crate::engine::Node`] holds
/// it boxed, and only when the service has one of the files.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Policy {
    pub limit: Option<RestartLimit>,
    pub action: Option<OnFailure>,
}

/// The shortest time in which a crash loop can end `exits` times: the
/// restart delays between its quick deaths ([`super::restart_delay`]). A
/// limit whose window is shorter is never reached by a crash loop.
pub fn shortest_span(exits: u32) -> Millis {
    (1..exits.min(MAX_EXITS)).map(super::restart_delay).sum()
}

/// How a service failed, for the exit status of a container that ends
/// because of it ([`Cause::status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// Its process ended so (a once service's failure, or the last exit
    /// of a respawn service past its `restart-limit`).
    Exit(ExitStatus),
    /// Its program could not be executed: the errno.
    Exec(i32),
    /// No exit of its own: it could not be started (configuration, a
    /// socket), or was not ready in time.
    Other,
}

impl Cause {
    /// The exit status this failure stands for: the process's exit status,
    /// or 128 + the signal that killed it; 127 for a program not found and
    /// 126 for one that could not be executed otherwise (as a shell says);
    /// 1 for a failure without an exit. Never 0: a failure is not a
    /// success, even for a respawn service whose last run exited 0.
    pub fn status(self) -> i32 {
        let s = match self {
            Cause::Exit(ExitStatus::Code(c)) => c & 0xff,
            Cause::Exit(ExitStatus::Signal(s)) => 128 + (s & 0x7f),
            Cause::Exec(libc::ENOENT) => 127,
            Cause::Exec(_) => 126,
            Cause::Other => 1,
        };
        if s == 0 {
            1
        } else {
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves the exit-status table of a failure (README, cinit(8)).
    #[test]
    fn a_failure_stands_for_its_exit_status_never_0() {
        assert_eq!(Cause::Exit(ExitStatus::Code(3)).status(), 3);
        assert_eq!(Cause::Exit(ExitStatus::Code(255)).status(), 255);
        assert_eq!(Cause::Exit(ExitStatus::Code(0)).status(), 1);
        assert_eq!(Cause::Exit(ExitStatus::Signal(15)).status(), 143);
        assert_eq!(Cause::Exit(ExitStatus::Signal(9)).status(), 137);
        assert_eq!(Cause::Exec(libc::ENOENT).status(), 127);
        assert_eq!(Cause::Exec(libc::EACCES).status(), 126);
        assert_eq!(Cause::Other.status(), 1);
    }

    /// Proves the shortest span of a crash loop follows the backoff: 3
    /// exits at least 0.1 s apart end to end, 10 at least 25.5 s.
    #[test]
    fn the_shortest_span_adds_the_restart_delays() {
        assert_eq!(shortest_span(1), 0);
        assert_eq!(shortest_span(2), 0);
        assert_eq!(shortest_span(3), 100);
        assert_eq!(shortest_span(10), 25_500);
        assert!(shortest_span(MAX_EXITS) <= Millis::from(MAX_EXITS) * 30_000);
    }

    #[test]
    fn an_action_prints_back_as_its_line() {
        assert_eq!(OnFailure::System(SystemAction::Poweroff).line(), "poweroff");
        assert_eq!(OnFailure::Start("web/x".into()).line(), "start web/x");
    }
}
