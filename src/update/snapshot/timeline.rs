//! The TIMELINE section (tag 12) of the hot-update snapshot: cinit's own
//! start and every service's [`Times`], so `cinit-ctl analyze` shows the
//! same boot after an update.
//!
//! Part of [`crate::update::snapshot`] (a child module sharing its readers and
//! writers). Layout: `started opt<u64>`, a count u32, then one record per
//! service in index order, each a length-prefixed `bytes` of five
//! `opt<u64>` (requested, startable, spawned, ready, ended). The length
//! prefix lets a record gain fields at its end like a section; a reader
//! takes the fields it knows and a missing one as "never". The count is
//! bounded by [`super::MAX_ITEMS`] and every read by the bytes present.

use super::{In, Out, TimelineState};
use crate::engine::Times;

/// The TIMELINE section: cinit's start, then one length-prefixed record per
/// service, so a record may gain fields at its end like a section.
pub(super) fn timeline_out(t: &TimelineState) -> Out {
    let mut o = Out::default();
    o.opt_u64(t.started);
    o.len(t.times.len());
    for x in &t.times {
        let mut r = Out::default();
        for v in [x.requested, x.startable, x.spawned, x.ready, x.ended] {
            r.opt_u64(v);
        }
        o.bytes(&r.0);
    }
    o
}

pub(super) fn timeline(p: &mut In) -> Option<TimelineState> {
    let started = p.opt_u64()?;
    let n = p.count()?;
    let mut times = Vec::with_capacity(n.min(p.0.len() / 4));
    for _ in 0..n {
        let record = p.bytes()?;
        let mut r = In(&record);
        // Fields missing at the end (an older writer) are "never".
        let mut next = || r.opt_u64().flatten();
        times.push(Times {
            requested: next(),
            startable: next(),
            spawned: next(),
            ready: next(),
            ended: next(),
        });
    }
    Some(TimelineState { started, times })
}
