//! The fd table's part of the hot-update snapshot: a HELD section per
//! service holding something ([`crate::fds::store`]) — its sockets with
//! their declarations, and its stored descriptors with their names — by
//! descriptor number, so the new image adopts them and passes them on.
//!
//! The table writes the sections from itself and loads itself back,
//! adopting each descriptor only if it is open, above stdio and claimed by
//! nothing else; the snapshot only frames the sections. Layout: `svc u32`,
//! a count and one length-prefixed record per socket (`fd i32`, name, kind
//! u8 (0 unix, 1 unix-dgram, 2 tcp, 3 udp), address text, mode u32, owner
//! and group as `opt` strings, backlog i32), then a count and one
//! length-prefixed record per stored descriptor (`fd i32`, name). Records
//! may gain fields at their end; counts are bounded by
//! [`crate::config::sockets::MAX_SOCKETS`] and [`super::MAX_PER_SERVICE`].

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

use super::{FdTable, Foreign, Held, Listener, Stored};
use crate::config::sockets::{Address, SocketSpec, MAX_SOCKETS};
use crate::proto::wire::{In, Lost, Out, Sections};

/// The fd table's snapshot section tag (doc/DESIGN.md, "Hot update
/// snapshot", keeps the table of every owner's tags).
pub const TAG_HELD: u8 = 14;

fn opt_str(o: &mut Out, v: Option<&String>) {
    o.bool(v.is_some());
    o.str(v.map_or("", String::as_str));
}

fn opt_string(r: &mut In) -> Option<Option<String>> {
    let present = r.bool()?;
    let s = r.str()?;
    Some(present.then_some(s))
}

fn save_listener(o: &mut Out, l: &Listener) {
    let mut r = Out::default();
    r.i32(l.fd.as_raw_fd());
    r.str(&l.spec.name);
    let (kind, addr) = match &l.spec.address {
        Address::Unix { path, dgram } => (u8::from(*dgram), path.display().to_string()),
        Address::Tcp(a) => (2, a.to_string()),
        Address::Udp(a) => (3, a.to_string()),
    };
    r.u8(kind);
    r.str(&addr);
    r.u32(l.spec.mode);
    opt_str(&mut r, l.spec.owner.as_ref());
    opt_str(&mut r, l.spec.group.as_ref());
    r.i32(l.spec.backlog);
    o.bytes(&r.0);
}

fn load_listener(r: &mut In) -> Option<(SocketSpec, RawFd)> {
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

/// One HELD section, its descriptors still numbers: the service, its
/// sockets and its stored descriptors.
type Numbers = (u32, Vec<(SocketSpec, RawFd)>, Vec<(String, RawFd)>);

fn load_section(p: &mut In) -> Option<Numbers> {
    let svc = p.u32()?;
    let n = p.count()?;
    if n > MAX_SOCKETS {
        return None;
    }
    let mut listeners = Vec::with_capacity(n);
    for _ in 0..n {
        listeners.push(load_listener(&mut In(&p.bytes()?))?);
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
    Some((svc, listeners, stored))
}

impl FdTable {
    /// Write a HELD section per service holding something. The descriptors
    /// stay owned by the table (the exec may fail).
    pub fn save(&self, out: &mut Sections) {
        for (svc, h) in self.services() {
            out.put(TAG_HELD, |o| {
                o.u32(u32::try_from(svc).unwrap_or(u32::MAX));
                o.len(h.listeners.len());
                for l in &h.listeners {
                    save_listener(o, l);
                }
                o.len(h.stored.len());
                for s in &h.stored {
                    let mut r = Out::default();
                    r.i32(s.fd.as_raw_fd());
                    r.str(&s.name);
                    o.bytes(&r.0);
                }
            });
        }
    }

    /// Take over the held descriptors the previous image handed over, from
    /// its HELD sections. A descriptor that is not open (`is_open`), is
    /// stdio, is already `taken` or claimed twice, or belongs to a service
    /// that was not restored (of `services`), is reported in `lost` (and,
    /// if open, closed later with everything nobody owns), as is a damaged
    /// section.
    pub fn load(
        from: &Sections,
        services: usize,
        is_open: impl Fn(RawFd) -> bool,
        taken: &[RawFd],
        lost: &mut Lost,
    ) -> FdTable {
        let mut table = FdTable::default();
        let mut claimed: Vec<RawFd> = taken.to_vec();
        let mut take = |fd: RawFd, what: &str, lost: &mut Lost| {
            if fd < 3 || !is_open(fd) || claimed.contains(&fd) {
                lost.push(format!("held descriptor {what} (fd {fd}) did not survive"));
                return None;
            }
            claimed.push(fd);
            // SAFETY: the snapshot names the descriptor as one the previous
            // image held; it is open and claimed by nothing else here.
            Some(Foreign::new(unsafe { OwnedFd::from_raw_fd(fd) }))
        };
        let sections = from.read_all(TAG_HELD, lost, load_section);
        for (svc_number, listeners, stored) in sections.into_iter().flatten() {
            let svc = usize::try_from(svc_number).unwrap_or(usize::MAX);
            if svc >= services {
                lost.push(format!(
                    "descriptors held for service #{svc_number} (not restored)"
                ));
                continue;
            }
            let mut held = Held::default();
            for (spec, fd) in listeners {
                if let Some(fd) = take(fd, &spec.name, lost) {
                    held.listeners.push(Listener { spec, fd });
                }
            }
            for (name, fd) in stored {
                if let Some(fd) = take(fd, &name, lost) {
                    held.stored.push(Stored { name, fd });
                }
            }
            table.by_svc.insert(svc, held);
        }
        table
    }
}
