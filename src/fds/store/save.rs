//! The HELD section (tag 14) of the hot-update snapshot: the descriptors
//! cinit holds for one service ([`crate::fds::store`]) — its sockets with
//! their declarations, and its stored descriptors with their names — by
//! descriptor number, so the new image adopts them and passes them on.
//!
//! The fd store writes and reads the section itself; the snapshot only
//! places it. Layout: `svc u32`, a count and one length-prefixed record per
//! socket (`fd i32`, name, kind u8 (0 unix, 1 unix-dgram, 2 tcp, 3 udp),
//! address text, mode u32, owner and group as `opt` strings, backlog i32),
//! then a count and one length-prefixed record per stored descriptor
//! (`fd i32`, name). Records may gain fields at their end; counts are
//! bounded by [`crate::config::sockets::MAX_SOCKETS`] and
//! [`super::MAX_PER_SERVICE`].

use std::path::PathBuf;

use crate::config::sockets::{Address, SocketSpec, MAX_SOCKETS};
use crate::proto::wire::{In, Out};

/// The descriptors held for one service.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HeldRecord {
    pub svc: u32,
    pub listeners: Vec<(SocketSpec, i32)>,
    pub stored: Vec<(String, i32)>,
}

fn opt_str(o: &mut Out, v: Option<&String>) {
    o.bool(v.is_some());
    o.str(v.map_or("", String::as_str));
}

impl HeldRecord {
    /// Write the HELD section's payload.
    pub(crate) fn save(&self, o: &mut Out) {
        let h = self;
        o.u32(h.svc);
        o.len(h.listeners.len());
        for (spec, fd) in &h.listeners {
            let mut r = Out::default();
            r.i32(*fd);
            r.str(&spec.name);
            let (kind, addr) = match &spec.address {
                Address::Unix { path, dgram } => (u8::from(*dgram), path.display().to_string()),
                Address::Tcp(a) => (2, a.to_string()),
                Address::Udp(a) => (3, a.to_string()),
            };
            r.u8(kind);
            r.str(&addr);
            r.u32(spec.mode);
            opt_str(&mut r, spec.owner.as_ref());
            opt_str(&mut r, spec.group.as_ref());
            r.i32(spec.backlog);
            o.bytes(&r.0);
        }
        o.len(h.stored.len());
        for (name, fd) in &h.stored {
            let mut r = Out::default();
            r.i32(*fd);
            r.str(name);
            o.bytes(&r.0);
        }
    }
}

fn opt_string(r: &mut In) -> Option<Option<String>> {
    let present = r.bool()?;
    let s = r.str()?;
    Some(present.then_some(s))
}

fn listener(r: &mut In) -> Option<(SocketSpec, i32)> {
    let fd = r.i32()?;
    let name = r.str()?;
    let kind = r.u8()?;
    let addr = r.str()?;
    let address = match kind {
        0 | 1 => Address::Unix {
            path: PathBuf::from(addr),
            dgram: kind == 1,
        },
        2 => Address::Tcp(addr.parse().ok()?),
        3 => Address::Udp(addr.parse().ok()?),
        _ => return None,
    };
    let spec = SocketSpec {
        name,
        address,
        mode: r.u32()?,
        owner: opt_string(r)?,
        group: opt_string(r)?,
        backlog: r.i32()?,
    };
    Some((spec, fd))
}

impl HeldRecord {
    /// Read the HELD section's payload; `None` if it is damaged.
    pub(crate) fn load(p: &mut In) -> Option<HeldRecord> {
        let svc = p.u32()?;
        let n = p.count()?;
        if n > MAX_SOCKETS {
            return None;
        }
        let mut listeners = Vec::with_capacity(n);
        for _ in 0..n {
            listeners.push(listener(&mut In(&p.bytes()?))?);
        }
        let n = p.count()?;
        if n > super::MAX_PER_SERVICE {
            return None;
        }
        let mut stored = Vec::with_capacity(n);
        for _ in 0..n {
            let record = p.bytes()?;
            let mut r = In(&record);
            let fd = r.i32()?;
            stored.push((r.str()?, fd));
        }
        Some(HeldRecord {
            svc,
            listeners,
            stored,
        })
    }
}
