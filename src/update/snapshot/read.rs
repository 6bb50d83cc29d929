//! Reading a snapshot: the cursor over a payload and the decoder, which
//! keeps what it can and lists what it lost (part of [`super`]).

use super::*;
use write::fnv1a;

// ----- reading -----

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
                let n = Node::load(&mut p, |l| crate::config::probe::parse_line(l).ok());
                let ok = n.is_some();
                s.nodes.push(n.unwrap_or_else(Node::lost));
                ok
            }
            tag::SERVICE => {
                let r = SvcRecord::load(&mut p);
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
