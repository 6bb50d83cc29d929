//! Writing a snapshot: the output buffer and the encoder (part of
//! [`super`]).

use super::*;

// ----- writing -----

pub(super) fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Encode a snapshot.
pub fn encode(s: &Snapshot) -> Vec<u8> {
    let mut body = Out::default();
    let mut meta = Out::default();
    meta.str(&s.writer);
    body.section(tag::META, meta);
    if let Some(t) = &s.tree {
        let mut o = Out::default();
        t.save(&mut o);
        body.section(tag::TREE, o);
    }
    for n in &s.nodes {
        let mut o = Out::default();
        n.save(&mut o);
        body.section(tag::NODE, o);
    }
    for r in &s.services {
        let mut o = Out::default();
        r.save(&mut o);
        body.section(tag::SERVICE, o);
    }
    if let Some(c) = &s.console {
        let mut o = Out::default();
        o.i32(c.log_fd);
        o.i32(c.child_fd);
        o.bytes(&c.pending);
        o.u64(c.dropped);
        body.section(tag::CONSOLE, o);
    }
    if let Some(c) = &s.control {
        let mut o = Out::default();
        c.save(&mut o);
        body.section(tag::CONTROL, o);
        for cl in &c.clients {
            let mut o = Out::default();
            cl.save(&mut o);
            body.section(tag::CLIENT, o);
        }
    }
    for p in &s.pending {
        let mut o = Out::default();
        // A log reader has a section of its own.
        if let Pending::Log(f) = p {
            f.save(&mut o);
            body.section(tag::FOLLOWER, o);
        } else {
            p.save(&mut o);
            body.section(tag::PENDING, o);
        }
    }
    for &w in &s.waiters {
        let mut o = Out::default();
        o.u64(w);
        body.section(tag::WAITER, o);
    }
    for l in &s.logs {
        let mut o = Out::default();
        l.save(&mut o);
        body.section(tag::LOG, o);
    }
    for r in &s.ready {
        let mut o = Out::default();
        r.save(&mut o);
        body.section(tag::READY, o);
    }
    if let Some(t) = &s.timeline {
        let mut o = Out::default();
        t.save(&mut o);
        body.section(tag::TIMELINE, o);
    }
    for h in &s.held {
        let mut o = Out::default();
        h.save(&mut o);
        body.section(tag::HELD, o);
    }
    let mut out = Vec::with_capacity(HEADER_LEN + body.0.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(
        &u32::try_from(body.0.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    out.extend_from_slice(&fnv1a(&body.0).to_be_bytes());
    out.extend_from_slice(&body.0);
    out
}
