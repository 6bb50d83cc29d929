//! Reading a snapshot: the cursor over a payload and the decoder, which
//! keeps what it can and lists what it lost (part of [`super`]).

use super::*;
use write::fnv1a;

// ----- reading -----

impl In<'_> {
    pub(crate) fn opt_reason(&mut self) -> Option<Option<Reason>> {
        Some(Some(match self.u8()? {
            0 => return Some(None),
            1 => Reason::Exit(ExitStatus::Code(self.i32()?)),
            2 => Reason::Exit(ExitStatus::Signal(self.i32()?)),
            3 => Reason::Spawn(SpawnError::Exec {
                path: self.str()?,
                errno: self.i32()?,
            }),
            4 => Reason::Spawn(SpawnError::Config(self.str()?)),
            5 => Reason::NeedFailed(self.str()?),
            6 => Reason::NeedMissing(self.str()?, self.str()?),
            7 => Reason::Cycle(self.str()?),
            8 => Reason::Config(self.str()?),
            9 => Reason::NotReady(self.u64()?),
            10 => Reason::Spawn(SpawnError::Listen {
                message: self.str()?,
                errno: self.i32()?,
            }),
            _ => return None,
        }))
    }
}

fn node(p: &mut In) -> Option<Node> {
    let mut n = Node::new(&p.str()?);
    n.respawn = p.bool()?;
    n.delay_s = p.opt_u64()?.map(|d| u32::try_from(d).unwrap_or(u32::MAX));
    n.needs = p.indices()?;
    n.wants = p.indices()?;
    if p.bool()? {
        n.missing_need = Some((p.str()?, p.str()?));
    }
    n.broken = p.opt_reason()?;
    // Appended fields: absent from an older writer (no readiness).
    n.notify_fd = p.opt_u64().flatten().and_then(|fd| i32::try_from(fd).ok());
    n.ready_timeout_ms = p.opt_u64().flatten();
    // Absent from an older writer: no probe. The line was written by
    // `Probe::line`, so it parses back.
    n.probe = p
        .str()
        .filter(|l| !l.is_empty())
        .and_then(|l| crate::config::probe::parse_line(&l).ok());
    // Absent from an older writer: not known as a grouping, so a cascade
    // stops it as that writer did (doc/DESIGN.md, "Groupings").
    n.grouping = p.bool().unwrap_or(false);
    Some(n)
}

fn service(p: &mut In) -> Option<SvcRecord> {
    Some(SvcRecord {
        phase: p.u8()?,
        pid: p.i32()?,
        off_pid: p.i32()?,
        stop_step: p.u8()?,
        deadline: p.opt_u64()?,
        until: p.u64()?,
        reason: p.opt_reason()?,
        since: p.u64()?,
        spawned_at: p.u64()?,
        restarts: p.u32()?,
        quick_deaths: p.u32()?,
        started_once: p.bool()?,
        stop_requested: p.bool()?,
        // Appended field: absent from an older writer.
        stop_timed_out: p.opt_u64().flatten(),
        park_for: p.opt_u64().flatten().and_then(|c| usize::try_from(c).ok()),
    })
}

/// Why nothing at all could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unreadable {
    NotASnapshot,
    Format(u16),
    Truncated,
}

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unreadable::NotASnapshot => f.write_str("not a cinit snapshot"),
            Unreadable::Format(v) => write!(
                f,
                "snapshot format {v} is not known to this cinit (it reads format {FORMAT})"
            ),
            Unreadable::Truncated => f.write_str("snapshot is truncated"),
        }
    }
}

/// Decode a snapshot. Sections that cannot be read are listed in `Lost`;
/// a checksum mismatch is reported there too, and decoding goes on.
pub fn decode(data: &[u8]) -> Result<(Snapshot, Lost), Unreadable> {
    let mut h = In(data);
    if h.array::<8>() != Some(MAGIC) {
        return Err(Unreadable::NotASnapshot);
    }
    let format = u16::from_be_bytes(h.array().ok_or(Unreadable::Truncated)?);
    if format != FORMAT {
        return Err(Unreadable::Format(format));
    }
    let _reserved = h.array::<2>().ok_or(Unreadable::Truncated)?;
    let len = h.len().ok_or(Unreadable::Truncated)?;
    let sum = h.u64().ok_or(Unreadable::Truncated)?;
    let mut lost = Lost::new();
    let body = match h.take(len) {
        Some(b) => b,
        None => {
            lost.push(format!("snapshot truncated: {} of {len} bytes", h.0.len()));
            h.0
        }
    };
    if fnv1a(body) != sum {
        lost.push("snapshot checksum does not match; reading it anyway".to_string());
    }
    let mut s = Snapshot::default();
    let mut b = In(body);
    let mut control_clients = Vec::new();
    while !b.0.is_empty() {
        let (Some(t), Some(payload)) = (b.u8(), b.bytes()) else {
            lost.push("snapshot ends inside a section".to_string());
            break;
        };
        let mut p = In(&payload);
        let ok = match t {
            tag::META => p.str().map(|w| s.writer = w).is_some(),
            tag::TREE => TreeState::load(&mut p).map(|t| s.tree = Some(t)).is_some(),
            // A damaged record keeps its place, so later indices stay right.
            tag::NODE => {
                let n = node(&mut p);
                let ok = n.is_some();
                s.nodes.push(n.unwrap_or_else(Node::lost));
                ok
            }
            tag::SERVICE => {
                let r = service(&mut p);
                let ok = r.is_some();
                s.services.push(r.unwrap_or_else(SvcRecord::lost));
                ok
            }
            tag::CONSOLE => (|| {
                s.console = Some(ConsoleState {
                    log_fd: p.i32()?,
                    child_fd: p.i32()?,
                    pending: p.bytes()?,
                    dropped: p.u64()?,
                });
                Some(())
            })()
            .is_some(),
            tag::CONTROL => ControlState::load(&mut p)
                .map(|c| s.control = Some(c))
                .is_some(),
            tag::CLIENT => ClientRecord::load(&mut p)
                .map(|c| control_clients.push(c))
                .is_some(),
            tag::PENDING => Pending::load(&mut p).map(|x| s.pending.push(x)).is_some(),
            tag::WAITER => p.u64().map(|w| s.waiters.push(w)).is_some(),
            tag::LOG => crate::logs::snap::LogRecord::load(&mut p)
                .map(|l| s.logs.push(l))
                .is_some(),
            tag::FOLLOWER => crate::control::logfollow::LogFollow::load(&mut p)
                .map(|f| s.pending.push(Pending::Log(f)))
                .is_some(),
            tag::READY => ReadyRecord::load(&mut p).map(|r| s.ready.push(r)).is_some(),
            tag::TIMELINE => Timeline::load(&mut p)
                .map(|t| s.timeline = Some(t))
                .is_some(),
            tag::HELD => HeldRecord::load(&mut p).map(|h| s.held.push(h)).is_some(),
            _ => true, // a newer writer's section: skipped
        };
        if !ok {
            lost.push(format!("snapshot section {t} is damaged; skipped"));
        }
        let most = [
            s.nodes.len(),
            s.services.len(),
            control_clients.len(),
            s.pending.len(),
            s.waiters.len(),
            s.logs.len(),
            s.ready.len(),
            s.held.len(),
        ];
        if most.iter().any(|&n| n > MAX_ITEMS) {
            lost.push("snapshot holds too many items; the rest is skipped".to_string());
            break;
        }
    }
    if let Some(c) = s.control.as_mut() {
        c.clients = control_clients;
    } else if !control_clients.is_empty() {
        lost.push(format!(
            "{} control clients without a control socket",
            control_clients.len()
        ));
    }
    Ok((s, lost))
}
