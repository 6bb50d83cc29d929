//! `cinit-ctl wait`, the daemon's side: a WAIT request names services and
//! is answered once every one of them is *up* (running — and so ready, for
//! a service that signals readiness — or done, or skipped: its condition
//! did not hold, which its start counts as done) or has *failed* (failed,
//! need-failed). Every other state (stopped, waiting, starting, backoff,
//! stopping) keeps it waiting: a wait starts nothing and gives up on
//! nothing; the client decides how long to wait.
//!
//! Any user may wait, since it changes nothing. But a client with a request
//! in progress is never evicted for a newcomer, so the waits of users other
//! than root are capped at [`MAX_UNPRIVILEGED_WAITS`]: however many such
//! clients connect, they cannot fill the client table and lock root out.

use crate::control::pending::Pending;
use crate::control::MAX_CLIENTS;
use crate::engine::state::State;
use crate::engine::Engine;
use crate::proto::{ErrorCode, Reply, ServiceInfo};
use crate::sys::clock::Millis;

/// Most waits of users other than root in progress at once.
pub const MAX_UNPRIVILEGED_WAITS: usize = MAX_CLIENTS / 4;

/// Where a wait stands for one service: `Some(true)` up, `Some(false)`
/// failed, `None` not yet either.
pub fn result_of(state: Option<State>) -> Option<bool> {
    match state? {
        State::Running | State::Done | State::Skipped => Some(true),
        State::Failed | State::NeedFailed => Some(false),
        State::Stopped | State::Waiting | State::Starting | State::Backoff | State::Stopping => {
            None
        }
    }
}

/// The reply to a wait for `svcs`, once every one is up or failed.
pub fn answer(engine: &Engine, now: Millis, svcs: &[usize]) -> Option<Reply> {
    svcs.iter()
        .all(|&i| result_of(engine.state(i)).is_some())
        .then(|| Reply::Services(svcs.iter().map(|&i| info(engine, now, i, false)).collect()))
}

/// Why a new operation `new` may not be added to `pending`: an unprivileged
/// wait beyond [`MAX_UNPRIVILEGED_WAITS`]. `None`: it may.
pub fn refusal(pending: &[Pending], new: &Pending) -> Option<Reply> {
    let unprivileged = |p: &Pending| matches!(p, Pending::Wait { uid, .. } if *uid != 0);
    if !unprivileged(new)
        || pending.iter().filter(|p| unprivileged(p)).count() < MAX_UNPRIVILEGED_WAITS
    {
        return None;
    }
    Some(Reply::Error {
        code: ErrorCode::Failed,
        message: format!(
            "too many waits in progress ({MAX_UNPRIVILEGED_WAITS} at most for users other than root); try again later"
        ),
    })
}

/// The status record of service `i`.
pub fn info(engine: &Engine, now: Millis, i: usize, dependent: bool) -> ServiceInfo {
    match engine.status(i) {
        Some(st) => ServiceInfo {
            name: st.name.to_string(),
            state: st.state.word().to_string(),
            pid: st.pid.and_then(|p| u32::try_from(p).ok()),
            since_ms: now.saturating_sub(st.since),
            restarts: st.restarts,
            reason: st.reason.map(|r| r.to_string()),
            respawn: st.respawn,
            dependent,
            status_text: None,
            notify: None,
        },
        None => ServiceInfo::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn up_failed_and_everything_else() {
        let words: Vec<(State, Option<bool>)> = State::ALL
            .iter()
            .map(|&s| (s, result_of(Some(s))))
            .collect();
        assert_eq!(
            words,
            [
                (State::Waiting, None),
                (State::Starting, None),
                (State::Running, Some(true)),
                (State::Done, Some(true)),
                (State::Failed, Some(false)),
                (State::NeedFailed, Some(false)),
                (State::Backoff, None),
                (State::Stopping, None),
                (State::Stopped, None),
                (State::Skipped, Some(true)),
            ]
        );
        assert_eq!(result_of(None), None, "an unknown index never settles");
    }

    #[test]
    fn unprivileged_waits_are_capped_and_root_is_not() {
        let wait = |client, uid| Pending::Wait {
            client,
            svcs: vec![0],
            uid,
        };
        let mut pending: Vec<Pending> = (0..MAX_UNPRIVILEGED_WAITS as u64)
            .map(|c| wait(c, 1000))
            .collect();
        pending.push(wait(99, 0));
        pending.push(Pending::Start {
            client: 98,
            svcs: vec![0],
        });
        let refused = refusal(&pending, &wait(100, 1000)).unwrap();
        assert!(
            matches!(refused, Reply::Error { code: ErrorCode::Failed, ref message } if message.contains("too many waits"))
        );
        assert_eq!(
            refusal(&pending, &wait(101, 0)),
            None,
            "root may always wait"
        );
        pending.remove(0);
        assert_eq!(refusal(&pending, &wait(102, 1000)), None);
    }

    #[test]
    fn a_wait_is_answered_when_every_service_is_up_or_failed() {
        use crate::engine::state::{Reason, SpawnError};
        use crate::engine::{Host, Node, Report, Role, Spawned};
        use crate::sys::process::Pid;
        /// Nothing to run for anyone: a service is done when spawned.
        struct Empty;
        impl Host for Empty {
            fn spawn(&mut self, _: usize, _: Role) -> Result<Spawned, SpawnError> {
                Ok(Spawned::Nothing)
            }
            fn signal_group(&mut self, _: Pid, _: nix::sys::signal::Signal) {}
            fn report(&mut self, _: usize, _: &str, _: Report) {}
        }
        let mut nodes = vec![Node::new("a"), Node::new("b"), Node::new("c")];
        nodes[1].broken = Some(Box::new(Reason::Config("bad".into())));
        let mut e = Engine::new(nodes);
        assert_eq!(answer(&e, 0, &[0]), None, "stopped: waits");
        assert_eq!(answer(&e, 0, &[7]), None, "unknown: waits");
        // (state, reason) of each service in a reply.
        let states = |r: Option<Reply>| match r {
            Some(Reply::Services(l)) => l.into_iter().map(|s| (s.state, s.reason)).collect(),
            other => vec![(format!("{other:?}"), None)],
        };
        e.start(&mut Empty, 0, 0);
        assert_eq!(states(answer(&e, 5, &[0])), [("done".into(), None)]);
        assert_eq!(answer(&e, 5, &[0, 1]), None, "b not started yet");
        e.start(&mut Empty, 5, 1);
        assert_eq!(
            states(answer(&e, 9, &[0, 1])),
            [("done".into(), None), ("failed".into(), Some("bad".into()))]
        );
        assert_eq!(answer(&e, 9, &[0, 1, 2]), None, "c still stopped");
    }
}
