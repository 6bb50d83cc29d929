//! The boot timeline in the hot-update snapshot (its TIMELINE section, tag
//! 12): cinit's own start and every service's [`Times`], so `cinit-ctl
//! analyze` shows the same boot after an update. [`Timeline`] is the
//! engine's own field, not a copy of it: the engine writes and reads it
//! itself, and the snapshot only places the section.
//!
//! Layout: `started opt<u64>`, a count u32, then one record per service in
//! index order, each a length-prefixed `bytes` of five `opt<u64>`
//! (requested, startable, spawned, ready, ended). The length prefix lets a
//! record gain fields at its end like a section; a reader takes the fields
//! it knows and a missing one as "never". The count is bounded by
//! [`crate::proto::wire::MAX_ITEMS`] and every read by the bytes present.

use super::Times;
use crate::proto::wire::{In, Out};
use crate::sys::clock::Millis;

/// The boot timeline: when cinit started, and each service's [`Times`] in
/// index order (one per service after [`super::Engine::add_nodes`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Timeline {
    pub started: Option<Millis>,
    pub times: Vec<Times>,
}

impl Timeline {
    /// Write the TIMELINE section's payload.
    pub(crate) fn save(&self, o: &mut Out) {
        o.opt_u64(self.started);
        o.len(self.times.len());
        for x in &self.times {
            // A record is `bytes`: its length, then the fields, written in
            // place (an `opt<u64>` is always 9 bytes).
            let fields = [x.requested, x.startable, x.spawned, x.ready, x.ended];
            o.len(fields.len() * 9);
            for v in fields {
                o.opt_u64(v);
            }
        }
    }

    /// Read the TIMELINE section's payload; `None` if it is damaged.
    pub(crate) fn load(p: &mut In) -> Option<Timeline> {
        let started = p.opt_u64()?;
        let n = p.count()?;
        let mut times = Vec::with_capacity(n.min(p.0.len() / 4));
        for _ in 0..n {
            let n = p.len()?;
            let mut r = In(p.take(n)?);
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
        Some(Timeline { started, times })
    }
}
