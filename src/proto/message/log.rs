//! The LOG request and its LOG_LINES replies on the wire (part of
//! [`crate::proto`], split out as a responsibility of its own).
//!
//! A LOG request names at most one service (none: cinit's own log), how many
//! of the newest lines it wants (`LINES`, 0 = all) and whether to follow
//! (`FLAGS` bit 1). The answer is a stream of LOG_LINES frames: each holds
//! `LINE` fields (a nested list: `SEQ`, `MONO_MS`, `WALL_MS`, `TEXT`),
//! `DROPPED`, `MISSED` when lines were skipped, and `MORE` on every frame but
//! the last. A follower's frames all carry `MORE`: its stream ends only when
//! the connection does.

use super::{be_u64, fields, text, Frame, LogBatch, Request, FLAG_FOLLOW};
use super::{op, tag, DecodeError};

/// The bytes a line takes in a LOG_LINES frame (for sizing frames).
pub fn line_wire_len(line: &LogLine) -> usize {
    // LINE header, then SEQ, MONO_MS, WALL_MS (3 + 8 each) and TEXT.
    3 + 3 * 11 + 3 + line.text.len()
}

pub(super) fn encode_request(req: &Request) -> Vec<u8> {
    let mut f = Frame::new(op::LOG);
    if let Request::Log {
        name,
        lines,
        follow,
    } = req
    {
        if let Some(n) = name {
            f.field(tag::NAME, n.as_bytes());
        }
        if *lines != 0 {
            f.field(tag::LINES, &lines.to_be_bytes());
        }
        if *follow {
            f.field(tag::FLAGS, &FLAG_FOLLOW.to_be_bytes());
        }
    }
    f.finish()
}

pub(super) fn encode_lines(batch: &LogBatch) -> Vec<u8> {
    let mut f = Frame::new(op::LOG_LINES);
    for line in &batch.lines {
        let mut l = Frame { buf: Vec::new() };
        l.field(tag::SEQ, &line.seq.to_be_bytes());
        l.field(tag::MONO_MS, &line.mono_ms.to_be_bytes());
        l.field(tag::WALL_MS, &line.wall_ms.to_be_bytes());
        l.field(tag::TEXT, line.text.as_bytes());
        f.field(tag::LINE, &l.buf);
    }
    f.field(tag::DROPPED, &batch.dropped.to_be_bytes());
    if batch.missed > 0 {
        f.field(tag::MISSED, &batch.missed.to_be_bytes());
    }
    if batch.more {
        f.field(tag::MORE, &[1]);
    }
    f.finish()
}

pub(super) fn decode_line(payload: &[u8]) -> Result<LogLine, DecodeError> {
    let mut line = LogLine::default();
    for field in fields(payload) {
        let (t, v) = field?;
        match t {
            tag::SEQ => line.seq = be_u64(v)?,
            tag::MONO_MS => line.mono_ms = be_u64(v)?,
            tag::WALL_MS => line.wall_ms = be_u64(v)?,
            tag::TEXT => line.text = text(v)?,
            _ => {}
        }
    }
    Ok(line)
}

/// One line of a log, as kept and as sent to clients.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogLine {
    pub seq: u64,
    /// CLOCK_MONOTONIC milliseconds (since boot) when it was read.
    pub mono_ms: u64,
    /// CLOCK_REALTIME milliseconds since the epoch when it was read.
    pub wall_ms: u64,
    pub text: String,
}
