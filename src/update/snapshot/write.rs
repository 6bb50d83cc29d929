//! Writing a snapshot: the output buffer and the encoder (part of
//! [`super`]).

use super::*;

// ----- writing -----

impl Out {
    pub(crate) fn reason(&mut self, r: &Reason) {
        match r {
            Reason::Exit(ExitStatus::Code(c)) => {
                self.u8(1);
                self.i32(*c);
            }
            Reason::Exit(ExitStatus::Signal(s)) => {
                self.u8(2);
                self.i32(*s);
            }
            Reason::Spawn(SpawnError::Exec { path, errno }) => {
                self.u8(3);
                self.str(path);
                self.i32(*errno);
            }
            Reason::Spawn(SpawnError::Config(m)) => {
                self.u8(4);
                self.str(m);
            }
            Reason::NeedFailed(n) => {
                self.u8(5);
                self.str(n);
            }
            Reason::NeedMissing(a, b) => {
                self.u8(6);
                self.str(a);
                self.str(b);
            }
            Reason::Cycle(p) => {
                self.u8(7);
                self.str(p);
            }
            Reason::Config(m) => {
                self.u8(8);
                self.str(m);
            }
            Reason::NotReady(ms) => {
                self.u8(9);
                self.u64(*ms);
            }
            Reason::Spawn(SpawnError::Listen { message, errno }) => {
                self.u8(10);
                self.str(message);
                self.i32(*errno);
            }
        }
    }
    pub(crate) fn opt_reason(&mut self, r: Option<&Reason>) {
        match r {
            Some(r) => self.reason(r),
            None => self.u8(0),
        }
    }
}

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
        o.str(&n.name);
        o.bool(n.respawn);
        o.opt_u64(n.delay_s.map(u64::from));
        o.indices(&n.needs);
        o.indices(&n.wants);
        o.bool(n.missing_need.is_some());
        if let Some((a, b)) = &n.missing_need {
            o.str(a);
            o.str(b);
        }
        o.opt_reason(n.broken.as_ref());
        // Appended: readiness (`notification-fd`, `ready-timeout`).
        o.opt_u64(n.notify_fd.and_then(|fd| u64::try_from(fd).ok()));
        o.opt_u64(n.ready_timeout_ms);
        // Appended: the `ready-probe` line, empty for none.
        o.str(
            &n.probe
                .as_ref()
                .map(crate::engine::probe::Probe::line)
                .unwrap_or_default(),
        );
        // Appended: a grouping (no `on`, no `off`), parked by a cascade.
        o.bool(n.grouping);
        body.section(tag::NODE, o);
    }
    for r in &s.services {
        let mut o = Out::default();
        o.u8(r.phase);
        o.i32(r.pid);
        o.i32(r.off_pid);
        o.u8(r.stop_step);
        o.opt_u64(r.deadline);
        o.u64(r.until);
        o.opt_reason(r.reason.as_ref());
        o.u64(r.since);
        o.u64(r.spawned_at);
        o.u32(r.restarts);
        o.u32(r.quick_deaths);
        o.bool(r.started_once);
        o.bool(r.stop_requested);
        // Appended: the stop that ends a ready-timeout.
        o.opt_u64(r.stop_timed_out);
        // Appended: a pending park of a grouping (the need that caused it).
        o.opt_u64(r.park_for.and_then(|c| u64::try_from(c).ok()));
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
