//! The user-visible service states and failure reasons.
//!
//! These words are an interface: the console log, `cinit-ctl` and the tests
//! read them. Never rename one. A new one is added as doc/PROTOCOL.md's
//! compatibility rules say (its version history lists each, `skipped`
//! included): the frame layout and the existing words do not change, so the
//! version byte does not, and a client that does not know a word shows it
//! as it is.

use std::fmt;

use crate::sys::process::ExitStatus;

/// A service's state, as users see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Requested, waiting for its needs and wants; or a grouping parked
    /// because one of its needs is being stopped.
    Waiting,
    /// A once service whose `on` is running, or a respawn service with
    /// `notification-fd` whose process has not signalled readiness yet.
    Starting,
    /// A respawn service whose process is running (and ready, if it
    /// signals readiness).
    Running,
    /// A once service that exited 0, or a service with nothing to run.
    Done,
    /// Failed: exit status, signal, exec error, bad configuration or a cycle.
    Failed,
    /// Not run because a need failed (or does not exist).
    NeedFailed,
    /// A respawn service waiting out its restart delay.
    Backoff,
    /// Being stopped: `off`, then SIGTERM, then SIGKILL.
    Stopping,
    /// Stopped on request (or never requested).
    Stopped,
    /// Not run: a condition of its `condition` file did not hold when it
    /// was started. Counts as done for what needs or wants it.
    Skipped,
}

impl State {
    /// Every state, in the order of the README's table.
    pub const ALL: [State; 10] = [
        State::Waiting,
        State::Starting,
        State::Running,
        State::Done,
        State::Failed,
        State::NeedFailed,
        State::Backoff,
        State::Stopping,
        State::Stopped,
        State::Skipped,
    ];

    /// The exact word shown to users.
    pub fn word(self) -> &'static str {
        match self {
            State::Waiting => "waiting",
            State::Starting => "starting",
            State::Running => "running",
            State::Done => "done",
            State::Failed => "failed",
            State::NeedFailed => "need-failed",
            State::Backoff => "backoff",
            State::Stopping => "stopping",
            State::Stopped => "stopped",
            State::Skipped => "skipped",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

/// Whether the engine may move a service from state `from` to state `to` in
/// one step (one reported change; the same state twice is a step too, e.g. a
/// respawn service restarted at once is `running` again).
///
/// The table follows the engine's rules:
/// - a request (`start`) turns `stopped`, `failed`, `need-failed` or
///   `skipped` into `waiting`; `start --no-deps` starts straight from
///   those (and from `waiting`), so they may also go where a start goes: a
///   spawn, or `skipped` when the service's condition does not hold;
/// - a spawn ends in `starting` (a once service, or a respawn service that
///   signals readiness), `running` (respawn), `done` (nothing to run),
///   `backoff` (a respawn service and a temporary error) or `failed`; while
///   the system is halting, in `stopped`;
/// - `waiting` also ends in `need-failed`, or `stopped` on a stop;
/// - `starting` ends in `done` or `failed` when a once service's `on`
///   exits; a respawn service becomes `running` when it signals readiness,
///   or, when it exits before that, is restarted like any respawn death
///   (`starting`, `backoff`, `failed`, `done`, or `stopped` during a
///   shutdown); either is stopped (`stopping`) on request or when its
///   `ready-timeout` passes;
/// - `running` is restarted (`running`, `starting` when it must signal
///   readiness again, `backoff`, `failed`, `done`), is stopped
///   (`stopping`), or ends `stopped` when it exits during a shutdown;
/// - `done` goes on to `stopping`, or, for a grouping (no `on`, no `off`)
///   whose need is being stopped, back to `waiting` (parked: `done` again
///   once its needs are up);
/// - `backoff` respawns or is stopped at once;
/// - `stopping` ends in `stopped`, or in `failed` when the stop was the
///   end of a `ready-timeout`; the stop that ends a `watchdog`'s timeout
///   ends in a restart like a crash (where a spawn goes);
/// - `skipped` (nothing ran) is started again by a request, or is
///   `stopped` by a stop; a restart of a respawn service does not check
///   its condition, so nothing else enters `skipped`.
///
/// Everything else is impossible; a hot update adopts states as they were
/// and is not a step.
pub fn may_follow(from: State, to: State) -> bool {
    use State::*;
    let spawned = matches!(to, Starting | Running | Done | Backoff | Failed);
    // A start (from a request, not a restart) checks the condition first.
    let started = spawned || to == Skipped;
    match from {
        Stopped | Failed | NeedFailed | Skipped => {
            to == Waiting || to == Stopped && from != Stopped || started
        }
        Waiting => started || matches!(to, NeedFailed | Stopped),
        Starting | Running => spawned || matches!(to, Stopping | Stopped),
        Backoff => spawned || to == Stopped,
        Done => matches!(to, Stopping | Waiting),
        Stopping => spawned || to == Stopped,
    }
}

/// Why a spawn did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpawnError {
    /// `execve` (or the spawn itself) failed with this errno.
    Exec { path: String, errno: i32 },
    /// The service's files could not be read or are malformed.
    Config(String),
    /// A socket of the `sockets` file could not be made: what failed
    /// (naming the address), and the errno.
    Listen { message: String, errno: i32 },
}

impl SpawnError {
    /// Errors that may go away by themselves (resources, a busy binary):
    /// a respawn service retries these with backoff instead of failing.
    pub fn is_transient(&self) -> bool {
        use nix::errno::Errno;
        match self {
            SpawnError::Exec { errno, .. } => matches!(
                Errno::from_raw(*errno),
                Errno::EAGAIN
                    | Errno::ENOMEM
                    | Errno::EMFILE
                    | Errno::ENFILE
                    | Errno::ETXTBSY
                    | Errno::EIO
                    | Errno::EINTR
            ),
            // An address not configured yet (the network comes up later),
            // one still in use by a process on its way out, or no memory.
            SpawnError::Listen { errno, .. } => matches!(
                Errno::from_raw(*errno),
                Errno::EADDRINUSE
                    | Errno::EADDRNOTAVAIL
                    | Errno::ENETUNREACH
                    | Errno::ENOMEM
                    | Errno::ENOBUFS
                    | Errno::EMFILE
                    | Errno::ENFILE
                    | Errno::EINTR
            ),
            SpawnError::Config(_) => false,
        }
    }
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpawnError::Exec { path, errno } => write!(
                f,
                "cannot execute {path}: {}",
                nix::errno::Errno::from_raw(*errno).desc()
            ),
            SpawnError::Config(msg) | SpawnError::Listen { message: msg, .. } => f.write_str(msg),
        }
    }
}

/// Why a service is in `failed`, `need-failed` or `backoff`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    Exit(ExitStatus),
    Spawn(SpawnError),
    /// A need ended in `failed` or `need-failed`.
    NeedFailed(String),
    /// A `needs/` entry that points nowhere: (entry path, why).
    NeedMissing(String, String),
    /// Member of a dependency cycle; the text is the cycle path.
    Cycle(String),
    /// The service directory itself could not be read.
    Config(String),
    /// Still `starting` when its `ready-timeout` (milliseconds) passed.
    NotReady(u64),
    /// `skipped`: the condition that did not hold, as written
    /// (`!exists /dev/vda`).
    Condition(String),
    /// The main process died as the host saw it, in words (`killed by the
    /// OOM killer (memory.max 16M)`): [`crate::engine::Host::exit_reason`].
    Died(String),
    /// Its `watchdog` (milliseconds) passed without a `WATCHDOG=1`, or it
    /// said `WATCHDOG=trigger`: it was killed (SIGABRT, then SIGKILL) and
    /// restarted.
    Watchdog(u64),
    /// A respawn service ended this many times within this many
    /// milliseconds: its `restart-limit` ([`crate::engine::failure`]).
    RestartLimit(u32, u64),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Exit(status) => write!(f, "{status}"),
            Reason::Spawn(e) => write!(f, "{e}"),
            Reason::NeedFailed(name) => write!(f, "need {name} failed"),
            Reason::NeedMissing(entry, why) => write!(f, "need {entry}: {why}"),
            Reason::Cycle(path) => write!(f, "dependency cycle: {path}"),
            Reason::Config(msg) | Reason::Died(msg) => f.write_str(msg),
            Reason::NotReady(ms) => write!(f, "not ready within {}", short_seconds(*ms)),
            Reason::Watchdog(ms) => write!(f, "watchdog timeout ({})", short_seconds(*ms)),
            Reason::Condition(c) => write!(f, "condition: {c}"),
            Reason::RestartLimit(n, ms) => {
                write!(f, "restart limit: {n} exits in {}", short_seconds(*ms))
            }
        }
    }
}

/// Milliseconds as seconds without trailing zeros: `2.5s`, `30s`, `0.25s`
/// (the way a `ready-timeout` is written).
pub fn short_seconds(ms: u64) -> String {
    let (whole, frac) = (ms / 1000, ms % 1000);
    if frac == 0 {
        return format!("{whole}s");
    }
    let digits = format!("{frac:03}");
    format!("{whole}.{}s", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_words_are_the_documented_ones() {
        let words: Vec<_> = State::ALL.iter().map(|s| s.word()).collect();
        assert_eq!(
            words,
            [
                "waiting",
                "starting",
                "running",
                "done",
                "failed",
                "need-failed",
                "backoff",
                "stopping",
                "stopped",
                "skipped"
            ]
        );
    }

    #[test]
    fn the_transition_table_is_tight_where_it_matters() {
        use State::*;
        for to in State::ALL {
            assert_eq!(
                may_follow(Stopping, to),
                !matches!(to, Waiting | NeedFailed | Stopping | Skipped),
                "a stop ends stopped, failed (ready-timeout) or restarted (watchdog): {to}"
            );
            assert_eq!(
                may_follow(Done, to),
                matches!(to, Stopping | Waiting),
                "{to}"
            );
            let from = to;
            assert_eq!(
                may_follow(from, Waiting),
                matches!(from, Stopped | Failed | NeedFailed | Done | Skipped),
                "only a request, or a parked grouping, makes a service wait: {from}"
            );
        }
        assert!(may_follow(Running, Running), "an immediate restart");
        assert!(!may_follow(Stopped, Stopped));
        assert!(may_follow(Starting, Running), "readiness");
        assert!(
            may_follow(Starting, Starting),
            "died before ready, restarted"
        );
        assert!(
            may_follow(Running, Starting),
            "restarted, ready again later"
        );
        assert!(may_follow(Backoff, Starting), "respawned, not ready yet");
        assert!(!may_follow(Backoff, Stopping), "nothing to stop");
        assert!(!may_follow(Starting, Waiting));
        assert!(
            !may_follow(Starting, NeedFailed),
            "a need cannot fail it once spawned"
        );
        assert!(!may_follow(NeedFailed, NeedFailed), "only via waiting");
        assert!(may_follow(Waiting, NeedFailed));
        assert!(
            may_follow(Waiting, Skipped),
            "a start whose condition fails"
        );
        assert!(may_follow(Skipped, Skipped), "start --no-deps, still not");
        assert!(
            may_follow(Skipped, Running),
            "start --no-deps, now it holds"
        );
        assert!(may_follow(Skipped, Stopped));
        assert!(!may_follow(Skipped, Stopping), "nothing to stop");
        for from in [Starting, Running, Backoff, Done, Stopping] {
            assert!(!may_follow(from, Skipped), "a restart never skips: {from}");
        }
    }

    #[test]
    fn reasons_read_well() {
        assert_eq!(
            Reason::Exit(ExitStatus::Code(3)).to_string(),
            "exit status 3"
        );
        assert_eq!(
            Reason::Exit(ExitStatus::Signal(9)).to_string(),
            "killed by SIGKILL"
        );
        let e = SpawnError::Exec {
            path: "/x/on".into(),
            errno: libc::ENOENT,
        };
        assert_eq!(
            e.to_string(),
            "cannot execute /x/on: No such file or directory"
        );
        assert!(!e.is_transient());
        assert!(SpawnError::Exec {
            path: String::new(),
            errno: libc::EAGAIN
        }
        .is_transient());
        assert_eq!(
            Reason::Cycle("a -> b -> a".into()).to_string(),
            "dependency cycle: a -> b -> a"
        );
        assert_eq!(Reason::NotReady(2500).to_string(), "not ready within 2.5s");
        assert_eq!(Reason::NotReady(30_000).to_string(), "not ready within 30s");
        assert_eq!(Reason::Watchdog(1000).to_string(), "watchdog timeout (1s)");
        assert_eq!(Reason::Watchdog(500).to_string(), "watchdog timeout (0.5s)");
        assert_eq!(
            Reason::Condition("!exists /dev/vda".into()).to_string(),
            "condition: !exists /dev/vda"
        );
        assert_eq!(
            Reason::RestartLimit(3, 10_000).to_string(),
            "restart limit: 3 exits in 10s"
        );
        assert_eq!(short_seconds(250), "0.25s");
        assert_eq!(short_seconds(1), "0.001s");
    }
}
