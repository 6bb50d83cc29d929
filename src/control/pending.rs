//! Requests that wait: an operation a client asked for, answered when the
//! services it touches have come to a result (see
//! [`crate::daemon::commands`] for what each one waits for).

use crate::control::logfollow::LogFollow;

/// An operation waiting for services to reach a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pending {
    Start {
        client: u64,
        svcs: Vec<usize>,
    },
    Stop {
        client: u64,
        roots: Vec<usize>,
        deps: Vec<usize>,
    },
    Restart {
        client: u64,
        roots: Vec<usize>,
        deps: Vec<usize>,
        starting: bool,
    },
    /// A client reading a log (fed by [`crate::control::logfollow::feed_all`]).
    Log(LogFollow),
    /// `cinit-ctl wait`: answered when each service is up or has failed.
    /// `uid`: who asked (waits of others than root are capped).
    Wait {
        client: u64,
        svcs: Vec<usize>,
        uid: u32,
    },
}

impl Pending {
    /// Every service index the operation waits on.
    pub fn services(&self) -> impl Iterator<Item = usize> + '_ {
        let (a, b): (&[usize], &[usize]) = match self {
            Pending::Start { svcs, .. } | Pending::Wait { svcs, .. } => (svcs, &[]),
            Pending::Log(f) => (f.svc.as_slice(), &[]),
            Pending::Stop { roots, deps, .. } | Pending::Restart { roots, deps, .. } => {
                (roots, deps)
            }
        };
        a.iter().chain(b.iter()).copied()
    }

    /// Whether the operation still has work of its own to do when its
    /// client has gone: a restart whose services are not started again
    /// yet. (A start or stop is carried out by the engine once begun; only
    /// its reply needs the client.)
    pub fn outlives_client(&self) -> bool {
        matches!(
            self,
            Pending::Restart {
                starting: false,
                ..
            }
        )
    }

    pub fn client(&self) -> u64 {
        match self {
            Pending::Start { client, .. }
            | Pending::Stop { client, .. }
            | Pending::Restart { client, .. }
            | Pending::Wait { client, .. } => *client,
            Pending::Log(f) => f.client,
        }
    }
}
