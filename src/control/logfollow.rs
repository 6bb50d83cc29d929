//! Answering LOG requests: a log is sent as a stream of LOG_LINES frames,
//! paced by what the client has not read yet, and a follower keeps
//! receiving new lines for as long as it stays connected.
//!
//! A request becomes a [`LogFollow`] (kept as a
//! [`Pending::Log`](crate::control::pending::Pending) operation): a cursor (the next
//! sequence number to send) into one ring, and for a plain request the
//! sequence number where it ends (the ring's next line when it was asked
//! for). Each loop iteration [`feed_all`] sends every reader the lines it
//! has not got, in frames of at most [`FRAME_BYTES`], while the client's
//! unread bytes stay below [`QUEUE_BYTES`]: a log of many megabytes never
//! sits whole in PID 1's buffers, and a client that does not read is dropped
//! at the control socket's deadline. If the ring dropped lines a reader had
//! not got yet, the next frame says how many (`MISSED`). The cursor is plain
//! data, so readers carry over a hot update and go on where they were.

use crate::control::pending::Pending;
use crate::control::Control;
use crate::logs::ring::Ring;
use crate::logs::Logs;
use crate::proto::wire::{In, Out};
use crate::proto::{line_wire_len, LogBatch, Reply};
use crate::sys::clock::Millis;

/// Most line bytes in one LOG_LINES frame.
pub const FRAME_BYTES: usize = 64 << 10;
/// Frames are sent to a client only while it has fewer unread bytes.
pub const QUEUE_BYTES: usize = 256 << 10;

/// A client reading a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFollow {
    pub client: u64,
    /// The service whose log it reads; `None`: cinit's own.
    pub svc: Option<usize>,
    /// The next sequence number to send.
    pub next: u64,
    /// A plain request ends before this sequence number; `None`: a
    /// follower, which never ends.
    pub until: Option<u64>,
    /// Whether a frame was sent yet (the first one is sent even if empty,
    /// so a follower knows it is following).
    pub started: bool,
}

impl LogFollow {
    /// A reader of `ring` (`None`: a log not begun yet, whose lines will
    /// start at 1) wanting its newest `lines` lines (0 = all), then, if
    /// `follow`, every new one.
    pub fn new(
        client: u64,
        svc: Option<usize>,
        ring: Option<&Ring>,
        lines: u32,
        follow: bool,
    ) -> LogFollow {
        let (next, end) = ring.map_or((1, 1), |r| (r.seq_of_last(u64::from(lines)), r.next_seq()));
        LogFollow {
            client,
            svc,
            next,
            until: (!follow).then_some(end),
            started: false,
        }
    }

    /// The next frame for this reader, if there is one to send now; and
    /// whether it is the last one.
    pub fn next_frame(&mut self, ring: Option<&Ring>) -> Option<(LogBatch, bool)> {
        let mut batch = LogBatch::default();
        if let Some(r) = ring {
            let first = r.first_seq();
            if self.next < first {
                batch.missed = first - self.next;
                self.next = first;
            }
            batch.dropped = r.dropped();
            let mut bytes = 0;
            for line in r.from_seq(self.next) {
                if self.until.is_some_and(|u| line.seq >= u) || bytes >= FRAME_BYTES {
                    break;
                }
                bytes += line_wire_len(line);
                batch.lines.push(line.clone());
                self.next = line.seq + 1;
            }
        }
        let last = self.until.is_some_and(|u| self.next >= u);
        batch.more = !last;
        if batch.lines.is_empty() && batch.missed == 0 && self.started && !last {
            return None;
        }
        self.started = true;
        Some((batch, last))
    }

    /// Send what there is for this reader as far as its queue allows.
    /// Returns false once it is done (answered in full, or gone).
    pub fn feed(&mut self, logs: &Logs, control: &mut Control, now: Millis) -> bool {
        let ring = match self.svc {
            None => Some(&logs.own),
            Some(i) => logs.get(i).map(|l| &l.ring),
        };
        loop {
            match control.queued(self.client) {
                None => return false,
                Some(q) if q >= QUEUE_BYTES => return true,
                Some(_) => {}
            }
            let Some((batch, last)) = self.next_frame(ring) else {
                return true;
            };
            let reply = Reply::LogLines(batch);
            if last {
                control.reply(self.client, now, &reply);
                return false;
            }
            if !control.push(self.client, now, &reply) {
                return false;
            }
        }
    }
}

/// Feed every log reader among the pending operations; drop those that
/// are done.
pub fn feed_all(pending: &mut Vec<Pending>, logs: &Logs, control: &mut Control, now: Millis) {
    pending.retain_mut(|p| match p {
        Pending::Log(f) => f.feed(logs, control, now),
        _ => true,
    });
}

impl LogFollow {
    /// Write the FOLLOWER section's payload (tag 13 of the hot-update
    /// snapshot): client, service (`bool` + index), next sequence number,
    /// `until`, `started`.
    pub(crate) fn save(&self, o: &mut Out) {
        o.u64(self.client);
        o.bool(self.svc.is_some());
        o.len(self.svc.unwrap_or(0));
        o.u64(self.next);
        o.opt_u64(self.until);
        o.bool(self.started);
    }

    /// Read the FOLLOWER section's payload; `None` if it is damaged.
    pub(crate) fn load(p: &mut In) -> Option<LogFollow> {
        let client = p.u64()?;
        let has_svc = p.bool()?;
        let svc = p.len()?;
        Some(LogFollow {
            client,
            svc: has_svc.then_some(svc),
            next: p.u64()?,
            until: p.opt_u64()?,
            started: p.bool()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A follower's snapshot record reads back exactly.
    #[test]
    fn a_follower_reads_back_exactly() {
        use crate::proto::wire::{In, Out};
        let f = LogFollow {
            client: 7,
            svc: None,
            next: 3,
            until: Some(9),
            started: true,
        };
        let mut o = Out::default();
        f.save(&mut o);
        assert_eq!(LogFollow::load(&mut In(&o.0)), Some(f));
    }

    fn ring(n: u64) -> Ring {
        let mut r = Ring::new(1 << 20);
        for k in 1..=n {
            r.push(k, k, format!("line {k}"));
        }
        r
    }

    fn texts(b: &LogBatch) -> Vec<&str> {
        b.lines.iter().map(|l| l.text.as_str()).collect()
    }

    #[test]
    fn a_plain_request_gets_the_last_n_lines_then_ends() {
        let r = ring(10);
        let mut f = LogFollow::new(1, Some(0), Some(&r), 3, false);
        let (b, last) = f.next_frame(Some(&r)).unwrap();
        assert_eq!(texts(&b), ["line 8", "line 9", "line 10"]);
        assert!(last && !b.more);
        let mut all = LogFollow::new(1, Some(0), Some(&r), 0, false);
        assert_eq!(all.next_frame(Some(&r)).unwrap().0.lines.len(), 10);
    }

    #[test]
    fn an_empty_log_answers_once_and_a_follower_waits_for_lines() {
        let mut plain = LogFollow::new(1, Some(0), None, 0, false);
        let (b, last) = plain.next_frame(None).unwrap();
        assert!(b.lines.is_empty() && last);
        let mut f = LogFollow::new(1, Some(0), None, 0, true);
        let (b, last) = f.next_frame(None).unwrap();
        assert!(
            b.lines.is_empty() && !last && b.more,
            "first frame: following"
        );
        assert!(
            f.next_frame(None).is_none(),
            "then nothing until lines come"
        );
        let r = ring(2);
        let (b, _) = f.next_frame(Some(&r)).unwrap();
        assert_eq!(
            texts(&b),
            ["line 1", "line 2"],
            "lines of a log begun later"
        );
    }

    #[test]
    fn lines_written_after_a_plain_request_are_not_sent_and_frames_are_bounded() {
        let mut r = Ring::new(16 << 20);
        for k in 0..5000 {
            r.push(0, 0, format!("{k:0>100}"));
        }
        let mut f = LogFollow::new(1, None, Some(&r), 0, false);
        r.push(0, 0, "later".into());
        let mut got = 0;
        loop {
            let (b, last) = f.next_frame(Some(&r)).unwrap();
            let bytes: usize = b.lines.iter().map(line_wire_len).sum();
            assert!(bytes < FRAME_BYTES + 200);
            got += b.lines.len();
            assert!(!texts(&b).contains(&"later"));
            if last {
                break;
            }
        }
        assert_eq!(got, 5000);
    }

    #[test]
    fn a_reader_that_fell_behind_is_told_how_many_lines_it_missed() {
        let mut r = Ring::new(5 * (crate::logs::ring::LINE_OVERHEAD + 7));
        for k in 1..=3 {
            r.push(0, 0, format!("line {k:02}"));
        }
        let mut f = LogFollow::new(1, Some(0), Some(&r), 0, true);
        let (b, _) = f.next_frame(Some(&r)).unwrap();
        assert_eq!(b.lines.len(), 3);
        for k in 4..=12 {
            r.push(0, 0, format!("line {k:02}"));
        }
        let (b, _) = f.next_frame(Some(&r)).unwrap();
        assert_eq!(b.missed, 4, "lines 4 to 7 were dropped before it got them");
        assert_eq!(
            texts(&b),
            ["line 08", "line 09", "line 10", "line 11", "line 12"]
        );
        assert_eq!(b.dropped, 7);
    }
}
