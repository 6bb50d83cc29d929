//! The TIMELINE reply (to ANALYZE): encoding and decoding.
//!
//! Part of [`crate::proto`] (a child module sharing its field helpers).
//! Top-level fields: STARTED_MS (cinit's own start; absent if unknown),
//! NOW_MS, and one ENTRY per loaded service in the server's index order.
//! An ENTRY nests NAME, STATE, RESPAWN, the five times (each absent =
//! never), and NEEDS / WANTS: the dependencies as u32 positions of other
//! entries in the same reply (compact, and every name is sent once). Those
//! lists may be split over several fields, which a reader concatenates, so
//! no single field outgrows its u16 length.

use super::encode::{finish, frame};
use super::{be_u64, byte, fields, tag, text, DecodeError, Timeline, TimelineEntry};
use crate::proto::wire::{In, Out};

/// Most indices in one NEEDS/WANTS field (4 bytes each, under u16::MAX).
const INDICES_PER_FIELD: usize = 16_000;

/// One ENTRY field, its value the service's own nested fields.
fn encode_entry(f: &mut Out, e: &TimelineEntry) {
    let at = f.field(tag::ENTRY);
    f.field_bytes(tag::NAME, e.name.as_bytes());
    f.field_bytes(tag::STATE, e.state.as_bytes());
    if e.respawn {
        f.field_u8(tag::RESPAWN, 1);
    }
    f.field_u64_opt(tag::REQUESTED_MS, e.requested_ms);
    f.field_u64_opt(tag::STARTABLE_MS, e.startable_ms);
    f.field_u64_opt(tag::SPAWNED_MS, e.spawned_ms);
    f.field_u64_opt(tag::READY_MS, e.ready_ms);
    f.field_u64_opt(tag::ENDED_MS, e.ended_ms);
    f.field_indices(tag::NEEDS, &e.needs, INDICES_PER_FIELD);
    f.field_indices(tag::WANTS, &e.wants, INDICES_PER_FIELD);
    f.end(at);
}

pub(super) fn encode(t: &Timeline) -> Vec<u8> {
    let mut f = frame(super::op::TIMELINE);
    f.field_u64_opt(tag::STARTED_MS, t.started_ms);
    f.field_u64(tag::NOW_MS, t.now_ms);
    for e in &t.services {
        encode_entry(&mut f, e);
    }
    finish(f)
}

fn indices(v: &[u8], out: &mut Vec<usize>) -> Result<(), DecodeError> {
    if !v.len().is_multiple_of(4) {
        return Err(DecodeError::Malformed("bad index list"));
    }
    let mut list = In(v);
    while let Some(i) = list.len() {
        out.push(i);
    }
    Ok(())
}

fn decode_entry(payload: &[u8]) -> Result<TimelineEntry, DecodeError> {
    let mut e = TimelineEntry::default();
    for field in fields(payload) {
        let (t, v) = field?;
        match t {
            tag::NAME => e.name = text(v)?,
            tag::STATE => e.state = text(v)?,
            tag::RESPAWN => e.respawn = byte(v)? != 0,
            tag::REQUESTED_MS => e.requested_ms = Some(be_u64(v)?),
            tag::STARTABLE_MS => e.startable_ms = Some(be_u64(v)?),
            tag::SPAWNED_MS => e.spawned_ms = Some(be_u64(v)?),
            tag::READY_MS => e.ready_ms = Some(be_u64(v)?),
            tag::ENDED_MS => e.ended_ms = Some(be_u64(v)?),
            tag::NEEDS => indices(v, &mut e.needs)?,
            tag::WANTS => indices(v, &mut e.wants)?,
            _ => {}
        }
    }
    Ok(e)
}

pub(super) fn decode(payload: &[u8]) -> Result<Timeline, DecodeError> {
    let mut t = Timeline::default();
    for field in fields(payload) {
        let (tg, v) = field?;
        match tg {
            tag::STARTED_MS => t.started_ms = Some(be_u64(v)?),
            tag::NOW_MS => t.now_ms = be_u64(v)?,
            tag::ENTRY => t.services.push(decode_entry(v)?),
            _ => {}
        }
    }
    Ok(t)
}
