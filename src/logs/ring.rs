//! A bounded ring of timestamped log lines: a service's recent output, or
//! cinit's own messages.
//!
//! Every line gets the next sequence number (the first is 1), so readers
//! keep their place with a number rather than a pointer: "lines from
//! sequence S on" ([`Ring::from_seq`]) works across new lines, overwritten
//! ones and a hot update. Each line costs its text plus [`LINE_OVERHEAD`]
//! bytes; when a new line would take the ring past its capacity, the oldest
//! lines are dropped and counted. Memory grows as lines arrive, never past
//! the capacity (a line longer than the whole ring is cut to fit).
//!
//! Invariants: the held lines have consecutive sequence numbers ending at
//! `next_seq - 1`; `bytes` is the sum of their costs and never exceeds
//! `capacity`; `dropped` counts every line that left the ring unread by
//! choice, i.e. every line pushed minus those held.

use std::collections::VecDeque;

use crate::proto::LogLine;

/// What one line costs besides its text (its number, two timestamps and
/// the string's own header), so many empty lines are bounded too.
pub const LINE_OVERHEAD: usize = 48;

impl LogLine {
    fn cost(&self) -> usize {
        self.text.len().saturating_add(LINE_OVERHEAD)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ring {
    lines: VecDeque<LogLine>,
    bytes: usize,
    capacity: usize,
    next_seq: u64,
    dropped: u64,
}

/// `text` cut to at most `max` bytes, at a character boundary.
pub(crate) fn cut_to(mut text: String, max: usize) -> String {
    if text.len() > max {
        let k = (0..=max)
            .rev()
            .find(|&k| text.is_char_boundary(k))
            .unwrap_or(0);
        text.truncate(k);
    }
    text
}

impl Ring {
    /// An empty ring of `capacity` bytes (at least one line's overhead).
    pub fn new(capacity: usize) -> Ring {
        Ring {
            lines: VecDeque::new(),
            bytes: 0,
            capacity: capacity.max(LINE_OVERHEAD),
            next_seq: 1,
            dropped: 0,
        }
    }

    /// Append a line; returns its sequence number.
    pub fn push(&mut self, mono_ms: u64, wall_ms: u64, text: String) -> u64 {
        let seq = self.next_seq;
        let line = LogLine {
            seq,
            mono_ms,
            wall_ms,
            text: cut_to(text, self.capacity.saturating_sub(LINE_OVERHEAD)),
        };
        self.make_room(line.cost());
        self.bytes += line.cost();
        self.grow_for_one();
        self.lines.push_back(line);
        // A restored snapshot may start near the end of the numbers: stay
        // at the last one rather than overflow.
        self.next_seq = self.next_seq.saturating_add(1);
        seq
    }

    /// Make room in the deque for one more line, growing it by a quarter
    /// (at least 8 slots) rather than the doubling `push_back` would do, and
    /// never past the most lines the capacity can hold: the slots of a full
    /// ring cost at most its capacity, and a growing one at most a quarter
    /// more than it holds. Growth stays geometric, so a push is still O(1)
    /// amortized.
    fn grow_for_one(&mut self) {
        let len = self.lines.len();
        if len < self.lines.capacity() {
            return;
        }
        let most = self.capacity / LINE_OVERHEAD;
        let grow = (len / 4).max(8).min(most.saturating_sub(len)).max(1);
        self.lines.reserve_exact(grow);
    }

    /// Drop the oldest lines until `need` more bytes fit.
    fn make_room(&mut self, need: usize) {
        while self.bytes.saturating_add(need) > self.capacity {
            let Some(old) = self.lines.pop_front() else {
                break;
            };
            self.bytes -= old.cost();
            self.dropped += 1;
        }
        if self.lines.is_empty() {
            // Give back what a burst of lines made the deque grow to.
            self.lines.shrink_to(16);
        }
    }

    /// Change the capacity (a new `log.size`); a smaller ring drops its
    /// oldest lines at once.
    pub fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity.max(LINE_OVERHEAD);
        self.make_room(0);
        if self.lines.len() < self.lines.capacity() / 4 {
            self.lines.shrink_to_fit();
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Bytes held, as counted against the capacity.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The sequence number the next line will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The oldest sequence number still held (`next_seq` when empty).
    pub fn first_seq(&self) -> u64 {
        self.lines.front().map_or(self.next_seq, |l| l.seq)
    }

    /// Lines dropped to make room, in all.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The lines from sequence `seq` on (all held lines if `seq` is older
    /// than the oldest; none if it is in the future).
    pub fn from_seq(&self, seq: u64) -> impl Iterator<Item = &LogLine> {
        let skip = seq.saturating_sub(self.first_seq());
        let skip = usize::try_from(skip).unwrap_or(usize::MAX);
        self.lines.iter().skip(skip)
    }

    /// The sequence number of the `n`-th newest line (`n` = 0: the oldest
    /// held), for "the last N lines".
    pub fn seq_of_last(&self, n: u64) -> u64 {
        if n == 0 {
            return self.first_seq();
        }
        self.next_seq.saturating_sub(n).max(self.first_seq())
    }

    /// Every held line, oldest first (for the snapshot).
    pub fn lines(&self) -> impl DoubleEndedIterator<Item = &LogLine> + ExactSizeIterator {
        self.lines.iter()
    }

    /// A ring rebuilt from a snapshot: `lines` must have consecutive
    /// sequence numbers (others, and lines beyond the capacity, are
    /// dropped and counted).
    pub fn restore(capacity: usize, next_seq: u64, dropped: u64, lines: Vec<LogLine>) -> Ring {
        let mut ring = Ring::new(capacity);
        ring.dropped = dropped;
        let first = lines.first().map_or(next_seq, |l| l.seq);
        ring.next_seq = first.max(1);
        // What a ring saved is what it can hold again (the same capacity):
        // its lines then become the deque as they are, without a push and
        // a copy each (a hot update restores a ring per service).
        let text_max = ring.capacity.saturating_sub(LINE_OVERHEAD);
        let mut bytes = 0usize;
        let start = ring.next_seq;
        let fits = lines.iter().enumerate().all(|(i, l)| {
            bytes = bytes.saturating_add(l.cost());
            // checked: a crafted snapshot's numbers may run to u64::MAX.
            start.checked_add(i as u64) == Some(l.seq) && l.text.len() <= text_max
        });
        if fits && bytes <= ring.capacity {
            ring.next_seq = ring.next_seq.saturating_add(lines.len() as u64);
            ring.bytes = bytes;
            ring.lines = VecDeque::from(lines);
            ring.next_seq = ring.next_seq.max(next_seq);
            return ring;
        }
        for line in lines {
            if line.seq != ring.next_seq {
                ring.dropped = ring.dropped.saturating_add(1);
                continue;
            }
            ring.push(line.mono_ms, line.wall_ms, line.text);
        }
        // Lines the old ring had already dropped keep their numbers used.
        ring.next_seq = ring.next_seq.max(next_seq);
        ring
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn oldest_lines_go_first_and_are_counted() {
        let mut r = Ring::new(3 * (LINE_OVERHEAD + 4));
        for (k, t) in ["aaaa", "bbbb", "cccc", "dddd"].iter().enumerate() {
            assert_eq!(r.push(k as u64, 0, t.to_string()), k as u64 + 1);
        }
        let held: Vec<&str> = r.lines().map(|l| l.text.as_str()).collect();
        assert_eq!(held, ["bbbb", "cccc", "dddd"]);
        assert_eq!((r.first_seq(), r.next_seq(), r.dropped()), (2, 5, 1));
        let from3: Vec<u64> = r.from_seq(3).map(|l| l.seq).collect();
        assert_eq!(from3, [3, 4]);
        assert_eq!(r.from_seq(1).count(), 3, "an old cursor gets what is left");
        assert_eq!(r.from_seq(9).count(), 0);
        assert_eq!(r.seq_of_last(2), 3);
        assert_eq!(r.seq_of_last(10), 2);
        assert_eq!(r.seq_of_last(0), 2);
    }

    #[test]
    fn a_line_longer_than_the_ring_is_cut_to_fit() {
        let mut r = Ring::new(LINE_OVERHEAD + 10);
        r.push(0, 0, "é".repeat(100));
        assert_eq!(r.len(), 1);
        assert!(r.bytes() <= r.capacity());
        assert_eq!(r.lines().next().unwrap().text, "é".repeat(5));
    }

    #[test]
    fn shrinking_drops_the_oldest_and_restore_keeps_numbers() {
        let mut r = Ring::new(1 << 16);
        for k in 0..100 {
            r.push(k, k + 1000, format!("line {k}"));
        }
        r.set_capacity(10 * (LINE_OVERHEAD + 7));
        assert!(r.bytes() <= r.capacity());
        assert_eq!(r.dropped(), 100 - r.len() as u64);
        let lines: Vec<LogLine> = r.lines().cloned().collect();
        let back = Ring::restore(r.capacity(), r.next_seq(), r.dropped(), lines);
        assert_eq!(back, r);
        // Lines with gaps are not trusted; numbering stays monotonic.
        let odd = vec![
            LogLine {
                seq: 5,
                text: "a".into(),
                ..LogLine::default()
            },
            LogLine {
                seq: 7,
                text: "b".into(),
                ..LogLine::default()
            },
        ];
        let back = Ring::restore(4096, 9, 0, odd);
        assert_eq!((back.len(), back.dropped(), back.next_seq()), (1, 1, 9));
    }

    /// Proves a restored ring is the ring its lines make when pushed one
    /// by one into an empty ring of that capacity (numbers, bytes, drops
    /// and lines), both when they fit as saved (taken over whole) and when
    /// they do not (a smaller capacity, a line longer than the ring, a gap
    /// in the numbers: pushed one at a time); and that lines taken over
    /// whole take no more slots than they are.
    #[test]
    fn a_restored_ring_is_the_ring_its_lines_make() {
        let line = |seq, text: &str| LogLine {
            seq,
            mono_ms: seq * 10,
            wall_ms: seq * 20,
            text: text.to_string(),
        };
        let fits = vec![line(4, "aaaa"), line(5, ""), line(6, "cc")];
        let long = vec![line(4, "aaaa"), line(5, &"x".repeat(300)), line(6, "cc")];
        let gap = vec![line(4, "aaaa"), line(6, "cc")];
        for (capacity, lines) in [
            (4096, fits.clone()),
            (2 * LINE_OVERHEAD + 8, fits.clone()),
            (4096, Vec::new()),
            (LINE_OVERHEAD + 100, long),
            (4096, gap),
        ] {
            let mut pushed = Ring::new(capacity);
            pushed.next_seq = lines.first().map_or(9, |l| l.seq);
            let mut gaps = 0;
            for l in lines.clone() {
                if l.seq == pushed.next_seq {
                    pushed.push(l.mono_ms, l.wall_ms, l.text);
                } else {
                    gaps += 1;
                }
            }
            pushed.dropped += 2 + gaps;
            pushed.next_seq = pushed.next_seq.max(9);
            let back = Ring::restore(capacity, 9, 2, lines);
            assert_eq!(back, pushed, "capacity {capacity}");
            assert_eq!(
                back.bytes,
                back.lines.iter().map(LogLine::cost).sum::<usize>()
            );
        }
        let back = Ring::restore(4096, 7, 0, fits);
        assert_eq!((back.len(), back.lines.capacity()), (3, 3));
    }

    /// Proves a crafted snapshot whose line numbers reach `u64::MAX` (or
    /// wrap to 0 after it) is restored without an overflow (a panic in a
    /// debug build): the line numbered MAX is kept, one after it that does
    /// not follow is dropped and counted, and a later push stays at MAX.
    #[test]
    fn numbers_at_the_end_of_the_range_do_not_overflow() {
        let line = |seq| LogLine {
            seq,
            text: "x".into(),
            ..LogLine::default()
        };
        let mut back = Ring::restore(4096, 0, 0, vec![line(u64::MAX), line(0)]);
        assert_eq!(
            (back.len(), back.dropped(), back.next_seq()),
            (1, 1, u64::MAX)
        );
        assert_eq!(back.push(0, 0, "y".into()), u64::MAX);
        let back = Ring::restore(4096, 0, 0, vec![line(u64::MAX)]);
        assert_eq!((back.len(), back.dropped()), (1, 0));
    }

    /// The deque holding the lines grows by a quarter, not by doubling,
    /// and never has more slots than the capacity has room for lines: what
    /// a ring costs follows what it holds.
    #[test]
    fn slots_follow_the_lines_held() {
        let cap = 1000 * LINE_OVERHEAD;
        let mut r = Ring::new(cap);
        for k in 0..5000u64 {
            r.push(k, 0, String::new());
            let (len, slots) = (r.lines.len(), r.lines.capacity());
            assert!(slots <= len + len / 4 + 8, "{len} lines in {slots} slots");
            assert!(
                slots <= cap / LINE_OVERHEAD + 8,
                "{slots} slots past the capacity"
            );
        }
        assert_eq!(r.len(), 1000);
    }

    proptest! {
        /// Whatever is pushed, the ring stays within its capacity, its
        /// numbers are consecutive, and pushed = held + dropped.
        #[test]
        fn bounded_consecutive_and_counted(
            cap in 0usize..5000,
            texts in proptest::collection::vec("[a-zé]{0,300}", 0..200),
            shrink in proptest::option::of(0usize..3000),
        ) {
            let mut r = Ring::new(cap);
            for (k, t) in texts.iter().enumerate() {
                r.push(k as u64, 0, t.clone());
                prop_assert!(r.bytes() <= r.capacity());
            }
            if let Some(c) = shrink {
                r.set_capacity(c);
            }
            prop_assert!(r.bytes() <= r.capacity());
            let seqs: Vec<u64> = r.lines().map(|l| l.seq).collect();
            for w in seqs.windows(2) {
                prop_assert_eq!(w[1], w[0] + 1);
            }
            prop_assert_eq!(r.next_seq(), texts.len() as u64 + 1);
            prop_assert_eq!(r.len() as u64 + r.dropped(), texts.len() as u64);
            let sum: usize = r.lines().map(|l| l.text.len() + LINE_OVERHEAD).sum();
            prop_assert_eq!(sum, r.bytes());
        }
    }
}
