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

use super::encode::{finish, frame};
use super::{be_u64, fields, text, LogBatch, Request, FLAG_FOLLOW};
use super::{op, tag, DecodeError};

/// The bytes a line takes in a LOG_LINES frame (for sizing frames).
pub fn line_wire_len(line: &LogLine) -> usize {
    // LINE header, then SEQ, MONO_MS, WALL_MS (3 + 8 each) and TEXT.
    3 + 3 * 11 + 3 + line.text.len()
}

pub(super) fn encode_request(req: &Request) -> Vec<u8> {
    let mut f = frame(op::LOG);
    if let Request::Log {
        name,
        lines,
        follow,
    } = req
    {
        if let Some(n) = name {
            f.field_bytes(tag::NAME, n.as_bytes());
        }
        if *lines != 0 {
            f.field_u32(tag::LINES, *lines);
        }
        if *follow {
            f.field_u32(tag::FLAGS, FLAG_FOLLOW);
        }
    }
    finish(f)
}

pub(super) fn encode_lines(batch: &LogBatch) -> Vec<u8> {
    let mut f = frame(op::LOG_LINES);
    for line in &batch.lines {
        let at = f.field(tag::LINE);
        f.field_u64(tag::SEQ, line.seq);
        f.field_u64(tag::MONO_MS, line.mono_ms);
        f.field_u64(tag::WALL_MS, line.wall_ms);
        f.field_bytes(tag::TEXT, line.text.as_bytes());
        f.end(at);
    }
    f.field_u64(tag::DROPPED, batch.dropped);
    if batch.missed > 0 {
        f.field_u64(tag::MISSED, batch.missed);
    }
    if batch.more {
        f.field_u8(tag::MORE, 1);
    }
    finish(f)
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
