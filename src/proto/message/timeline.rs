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

use super::{be_u32, be_u64, byte, fields, tag, text, DecodeError, Frame, Timeline, TimelineEntry};

/// Most indices in one NEEDS/WANTS field (4 bytes each, under u16::MAX).
const INDICES_PER_FIELD: usize = 16_000;

fn u64_field(f: &mut Frame, t: u8, v: Option<u64>) {
    if let Some(v) = v {
        f.field(t, &v.to_be_bytes());
    }
}

fn indices_field(f: &mut Frame, t: u8, list: &[usize]) {
    for chunk in list.chunks(INDICES_PER_FIELD) {
        let mut value = Vec::with_capacity(chunk.len() * 4);
        for &i in chunk {
            value.extend_from_slice(&u32::try_from(i).unwrap_or(u32::MAX).to_be_bytes());
        }
        f.field(t, &value);
    }
}

fn encode_entry(e: &TimelineEntry) -> Vec<u8> {
    let mut f = Frame { buf: Vec::new() };
    f.field(tag::NAME, e.name.as_bytes());
    f.field(tag::STATE, e.state.as_bytes());
    if e.respawn {
        f.field(tag::RESPAWN, &[1]);
    }
    u64_field(&mut f, tag::REQUESTED_MS, e.requested_ms);
    u64_field(&mut f, tag::STARTABLE_MS, e.startable_ms);
    u64_field(&mut f, tag::SPAWNED_MS, e.spawned_ms);
    u64_field(&mut f, tag::READY_MS, e.ready_ms);
    u64_field(&mut f, tag::ENDED_MS, e.ended_ms);
    indices_field(&mut f, tag::NEEDS, &e.needs);
    indices_field(&mut f, tag::WANTS, &e.wants);
    f.buf
}

pub(super) fn encode(t: &Timeline) -> Vec<u8> {
    let mut f = Frame::new(super::op::TIMELINE);
    u64_field(&mut f, tag::STARTED_MS, t.started_ms);
    f.field(tag::NOW_MS, &t.now_ms.to_be_bytes());
    for e in &t.services {
        f.field(tag::ENTRY, &encode_entry(e));
    }
    f.finish()
}

fn indices(v: &[u8], out: &mut Vec<usize>) -> Result<(), DecodeError> {
    if !v.len().is_multiple_of(4) {
        return Err(DecodeError::Malformed("bad index list"));
    }
    for c in v.chunks_exact(4) {
        out.push(usize::try_from(be_u32(c)?).unwrap_or(usize::MAX));
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
