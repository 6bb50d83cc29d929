//! The engine's part of the hot-update snapshot: its section tags, each
//! service's NODE section payload (what it was given) and the reasons both
//! it and the SERVICE section ([`super::machine`]) carry. The engine writes
//! and reads them itself; the snapshot only frames the sections.
//!
//! Field order is the format (doc/DESIGN.md, "Hot update snapshot"); new
//! fields only ever go at the end of a section, and a reader gives a field
//! missing at the end (an older writer) its default. Reading never panics:
//! a damaged section reads as `None`.

use crate::engine::failure::{OnFailure, Policy, RestartLimit};
use crate::engine::probe::Probe;
use crate::engine::state::{Reason, SpawnError};
use crate::engine::Node;
use crate::proto::wire::{In, Out};
use crate::proto::SystemAction;
use crate::sys::process::ExitStatus;

/// The engine's snapshot section tags (doc/DESIGN.md, "Hot update
/// snapshot", keeps the table of every owner's tags).
pub const TAG_NODE: u8 = 3;
pub const TAG_SERVICE: u8 = 4;
pub const TAG_TIMELINE: u8 = 12;

/// Write a reason: a kind u8 (0 none, 1 exit code, 2 signal, 3 exec error,
/// 4 spawn config, 5 need failed, 6 need missing, 7 cycle, 8 config,
/// 9 not ready, 10 listen error), then its fields.
pub(super) fn save_reason(o: &mut Out, r: Option<&Reason>) {
    let Some(r) = r else {
        o.u8(0);
        return;
    };
    match r {
        Reason::Exit(ExitStatus::Code(c)) => {
            o.u8(1);
            o.i32(*c);
        }
        Reason::Exit(ExitStatus::Signal(s)) => {
            o.u8(2);
            o.i32(*s);
        }
        Reason::Spawn(SpawnError::Exec { path, errno }) => {
            o.u8(3);
            o.str(path);
            o.i32(*errno);
        }
        Reason::Spawn(SpawnError::Config(m)) => {
            o.u8(4);
            o.str(m);
        }
        Reason::NeedFailed(n) => {
            o.u8(5);
            o.str(n);
        }
        Reason::NeedMissing(a, b) => {
            o.u8(6);
            o.str(a);
            o.str(b);
        }
        Reason::Cycle(p) => {
            o.u8(7);
            o.str(p);
        }
        // A death in the host's words is kept as its words: every reader,
        // an older one too, reads them back (as a reason of kind 8, which
        // shows the same text).
        Reason::Config(m) | Reason::Died(m) => {
            o.u8(8);
            o.str(m);
        }
        // The same for a watchdog's timeout, a condition that did not hold
        // and a restart limit: their words, which every reader shows as
        // they were.
        Reason::Watchdog(_) | Reason::Condition(_) | Reason::RestartLimit(..) => {
            o.u8(8);
            o.str(&r.to_string());
        }
        Reason::NotReady(ms) => {
            o.u8(9);
            o.u64(*ms);
        }
        Reason::Spawn(SpawnError::Listen { message, errno }) => {
            o.u8(10);
            o.str(message);
            o.i32(*errno);
        }
    }
}

/// Read what [`save_reason`] wrote; `None` if it is damaged.
pub(super) fn load_reason(p: &mut In) -> Option<Option<Reason>> {
    Some(Some(match p.u8()? {
        0 => return Some(None),
        1 => Reason::Exit(ExitStatus::Code(p.i32()?)),
        2 => Reason::Exit(ExitStatus::Signal(p.i32()?)),
        3 => Reason::Spawn(SpawnError::Exec {
            path: p.str()?,
            errno: p.i32()?,
        }),
        4 => Reason::Spawn(SpawnError::Config(p.str()?)),
        5 => Reason::NeedFailed(p.str()?),
        6 => Reason::NeedMissing(p.str()?, p.str()?),
        7 => Reason::Cycle(p.str()?),
        8 => Reason::Config(p.str()?),
        9 => Reason::NotReady(p.u64()?),
        10 => Reason::Spawn(SpawnError::Listen {
            message: p.str()?,
            errno: p.i32()?,
        }),
        _ => return None,
    }))
}

/// Write a node's failure policy (none: zeros and an empty name).
fn save_policy(o: &mut Out, policy: Option<&Policy>) {
    let limit = policy.and_then(|p| p.limit);
    o.u32(limit.map_or(0, |l| l.exits));
    o.u64(limit.map_or(0, |l| l.within_ms));
    let (kind, name) = match policy.and_then(|p| p.action.as_ref()) {
        None => (0, ""),
        Some(OnFailure::System(SystemAction::Reboot)) => (1, ""),
        Some(OnFailure::System(SystemAction::Poweroff)) => (2, ""),
        Some(OnFailure::System(SystemAction::Halt)) => (3, ""),
        Some(OnFailure::System(SystemAction::Rescue)) => (4, ""),
        // Never an action (the parser gives none); kept as none.
        Some(OnFailure::System(SystemAction::Update)) => (0, ""),
        Some(OnFailure::Start(name)) => (5, name.as_str()),
    };
    o.u8(kind);
    o.str(name);
}

/// Read what [`save_policy`] wrote; `None` for no policy (or none written).
fn load_policy(p: &mut In) -> Option<Policy> {
    let (exits, within_ms) = (p.u32()?, p.u64()?);
    let (kind, name) = (p.u8()?, p.str()?);
    let action = match kind {
        1 => Some(OnFailure::System(SystemAction::Reboot)),
        2 => Some(OnFailure::System(SystemAction::Poweroff)),
        3 => Some(OnFailure::System(SystemAction::Halt)),
        4 => Some(OnFailure::System(SystemAction::Rescue)),
        5 => Some(OnFailure::Start(name)),
        _ => None,
    };
    let limit = (exits > 0).then_some(RestartLimit { exits, within_ms });
    (limit.is_some() || action.is_some()).then_some(Policy { limit, action })
}

impl Node {
    /// Write the NODE section's payload.
    pub(crate) fn save(&self, o: &mut Out) {
        o.str(&self.name);
        o.bool(self.respawn);
        o.opt_u64(self.delay_s.map(u64::from));
        o.indices(&self.needs);
        o.indices(&self.wants);
        o.bool(self.missing_need.is_some());
        if let Some((a, b)) = self.missing_need.as_deref() {
            o.str(a);
            o.str(b);
        }
        save_reason(o, self.broken.as_deref());
        // Appended: readiness (`notification-fd`, `ready-timeout`).
        o.opt_u64(self.notify_fd.and_then(|fd| u64::try_from(fd).ok()));
        o.opt_u64(self.ready_timeout_ms);
        // Appended: the `ready-probe` line, empty for none.
        o.str(&self.probe.as_deref().map(Probe::line).unwrap_or_default());
        // Appended: a grouping (no `on`, no `off`), parked by a cascade.
        o.bool(self.grouping);
        // Appended: the `watchdog` in milliseconds.
        o.opt_u64(self.watchdog_ms.map(|ms| u64::from(ms.get())));
        // Appended: `restart-limit` (0 exits: none) and `on-failure` (a
        // kind, 0 none, and the name of `start NAME`).
        save_policy(o, self.failure.as_deref());
        // Appended: `notify-socket`.
        o.bool(self.notify_socket);
    }

    /// Read the NODE section's payload; `None` if it is damaged. The
    /// `ready-probe` line is parsed by `probe` (the service directory's
    /// parser, [`crate::config::probe::parse_line`], which the engine
    /// does not reach).
    pub(crate) fn load(p: &mut In, probe: impl Fn(&str) -> Option<Probe>) -> Option<Node> {
        let mut n = Node::new(&p.str()?);
        n.respawn = p.bool()?;
        n.delay_s = p.opt_u64()?.map(|d| u32::try_from(d).unwrap_or(u32::MAX));
        n.needs = p.indices()?;
        n.wants = p.indices()?;
        if p.bool()? {
            n.missing_need = Some(Box::new((p.str()?, p.str()?)));
        }
        n.broken = load_reason(p)?.map(Box::new);
        // Appended fields: absent from an older writer (no readiness).
        n.notify_fd = p.opt_u64().flatten().and_then(|fd| i32::try_from(fd).ok());
        n.ready_timeout_ms = p.opt_u64().flatten();
        // Absent from an older writer: no probe. The line was written by
        // `Probe::line`, so it parses back.
        n.probe = p
            .str()
            .filter(|l| !l.is_empty())
            .and_then(|l| probe(&l))
            .map(Box::new);
        // Absent from an older writer: not known as a grouping, so a cascade
        // stops it as that writer did (doc/DESIGN.md, "Groupings").
        n.grouping = p.bool().unwrap_or(false);
        // Absent from an older writer: no watchdog.
        n.watchdog_ms = p
            .opt_u64()
            .flatten()
            .and_then(|ms| u32::try_from(ms).ok())
            .and_then(std::num::NonZeroU32::new);
        // Absent from an older writer: no failure policy.
        n.failure = load_policy(p).map(Box::new);
        // Absent from an older writer: no `notify-socket`.
        n.notify_socket = p.bool().unwrap_or(false);
        Some(n)
    }
}
