//! Requests that wait: an operation a client asked for, answered when the
//! services it touches have come to a result (see
//! [`crate::control::commands`] for what each one waits for).

use crate::control::logfollow::LogFollow;
use crate::proto::wire::{In, Lost, Out, Sections};

/// The snapshot section tags of the operations in progress (doc/DESIGN.md,
/// "Hot update snapshot", keeps the table of every owner's tags): a log
/// reader's, and every other one's.
pub const TAG_PENDING: u8 = 8;
pub const TAG_FOLLOWER: u8 = 13;

/// Write a section per operation in progress, in order: a log reader in a
/// FOLLOWER section ([`LogFollow::save`]), any other in a PENDING section.
pub fn save_all(pending: &[Pending], out: &mut Sections) {
    for p in pending {
        match p {
            Pending::Log(f) => out.put(TAG_FOLLOWER, |o| f.save(o)),
            _ => out.put(TAG_PENDING, |o| p.save(o)),
        }
    }
}

/// Read back what [`save_all`] wrote, in order; a damaged section is left
/// out and reported in `lost`.
pub fn load_all(from: &Sections, lost: &mut Lost) -> Vec<Pending> {
    let tags = [TAG_PENDING, TAG_FOLLOWER];
    let read = |t, p: &mut In| match t {
        TAG_FOLLOWER => LogFollow::load(p).map(Pending::Log),
        _ => Pending::load(p),
    };
    from.read_each(&tags, lost, read)
        .into_iter()
        .flatten()
        .collect()
}

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

impl Pending {
    /// Write the PENDING section's payload (tag 8 of the hot-update
    /// snapshot): a kind u8 (1 start, 2 stop, 3 restart, 4 wait), the
    /// client, then the kind's service lists and flags. A log reader
    /// ([`Pending::Log`]) has a section of its own ([`LogFollow::save`]);
    /// here it writes nothing.
    pub(crate) fn save(&self, o: &mut Out) {
        match self {
            Pending::Log(_) => {}
            Pending::Start { client, svcs } => {
                o.u8(1);
                o.u64(*client);
                o.indices(svcs);
            }
            Pending::Stop {
                client,
                roots,
                deps,
            } => {
                o.u8(2);
                o.u64(*client);
                o.indices(roots);
                o.indices(deps);
            }
            Pending::Restart {
                client,
                roots,
                deps,
                starting,
            } => {
                o.u8(3);
                o.u64(*client);
                o.indices(roots);
                o.indices(deps);
                o.bool(*starting);
            }
            Pending::Wait { client, svcs, uid } => {
                o.u8(4);
                o.u64(*client);
                o.indices(svcs);
                o.u32(*uid);
            }
        }
    }

    /// Read the PENDING section's payload; `None` if it is damaged.
    pub(crate) fn load(p: &mut In) -> Option<Pending> {
        Some(match p.u8()? {
            1 => Pending::Start {
                client: p.u64()?,
                svcs: p.indices()?,
            },
            2 => Pending::Stop {
                client: p.u64()?,
                roots: p.indices()?,
                deps: p.indices()?,
            },
            3 => Pending::Restart {
                client: p.u64()?,
                roots: p.indices()?,
                deps: p.indices()?,
                starting: p.bool()?,
            },
            4 => Pending::Wait {
                client: p.u64()?,
                svcs: p.indices()?,
                uid: p.u32()?,
            },
            _ => return None,
        })
    }
}
