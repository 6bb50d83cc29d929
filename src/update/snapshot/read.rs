//! Reading a snapshot: the cursor over a payload and the decoder, which
//! keeps what it can and lists what it lost (part of [`super`]).

use super::*;
use crate::proto::wire::In;
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
    let mut sections = Sections::cut(body, &mut lost);
    let l = &mut lost;
    let mut s = Snapshot {
        writer: sections
            .read_last(tag::META, l, |p| p.str())
            .unwrap_or_default(),
        control: sections.read_last(tag::CONTROL, l, ControlState::load),
        pending: sections
            .read_each(&[tag::PENDING, tag::FOLLOWER], l, |t, p| match t {
                tag::FOLLOWER => crate::control::logfollow::LogFollow::load(p).map(Pending::Log),
                _ => Pending::load(p),
            })
            .into_iter()
            .flatten()
            .collect(),
        sections: Sections::default(),
    };
    let clients = every(&sections, tag::CLIENT, l, ClientRecord::load);
    if let Some(c) = s.control.as_mut() {
        c.clients = clients;
    } else if !clients.is_empty() {
        lost.push(format!(
            "{} control clients without a control socket",
            clients.len()
        ));
    }
    sections.arrange(|t| rank(t).filter(|_| OWNED.contains(&t)));
    s.sections = sections;
    Ok((s, lost))
}

/// Every section tagged `t` that reads, in order.
fn every<T>(
    from: &Sections,
    t: u8,
    lost: &mut Lost,
    read: impl FnMut(&mut In) -> Option<T>,
) -> Vec<T> {
    from.read_all(t, lost, read).into_iter().flatten().collect()
}
