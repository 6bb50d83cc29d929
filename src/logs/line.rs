//! Service output cut into lines: the pure half of reading a log pipe.
//!
//! A [`Splitter`] takes whatever bytes a `read()` returned and hands out
//! complete lines, each made safe for display ([`display`]): bytes that are
//! not UTF-8 become U+FFFD, control characters are escaped as on the console
//! (`\t`, `\u{1b}`), and one `\r` before the newline (CRLF output) is
//! dropped. A line is complete at its newline, when it reaches
//! [`MAX_LINE`] bytes (it is cut there, at a character boundary where
//! possible, and continues as the next line), or when the caller flushes the
//! partial line (its process exited, or it waited too long, see
//! [`PARTIAL_FLUSH_MS`]).
//!
//! Invariants: the held partial line never exceeds [`MAX_LINE`] bytes
//! between calls; no line handed out holds a control character; every byte
//! fed in ends up in exactly one line, in order (newlines and a CR before
//! them excepted).

use crate::sys::clock::Millis;

/// Longest line, in bytes of service output; a longer one is cut.
pub const MAX_LINE: usize = 4096;
/// A partial line (no newline yet) is handed out after this long, so a
/// prompt or a progress bar without a newline still shows up.
pub const PARTIAL_FLUSH_MS: Millis = 1_000;

/// Splits a byte stream into display-safe lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Splitter {
    partial: Vec<u8>,
    /// When the first byte of the partial line arrived.
    since: Option<Millis>,
}

/// Where to cut `buf` so that the first part holds at most `max` bytes:
/// before the UTF-8 character that straddles `max`, if any (invalid UTF-8
/// is cut at `max`).
fn cut_point(buf: &[u8], max: usize) -> usize {
    if buf.len() <= max {
        return buf.len();
    }
    let continuation = |k: usize| buf.get(k).is_some_and(|b| b & 0xC0 == 0x80);
    // A UTF-8 character has at most three continuation bytes.
    (max.saturating_sub(3)..=max)
        .rev()
        .find(|&k| !continuation(k))
        .filter(|&k| k > 0)
        .unwrap_or(max)
}

/// Raw output as a display-safe line: U+FFFD for bytes that are not UTF-8,
/// control characters escaped.
pub fn display(raw: &[u8]) -> String {
    // Printable ASCII, the usual line, is display-safe as it is: a byte
    // check instead of decoding every character twice (U+FFFD, escapes).
    if raw.iter().all(|b| (b' '..=b'~').contains(b)) {
        if let Ok(text) = std::str::from_utf8(raw) {
            return text.to_owned();
        }
    }
    crate::sys::console::one_line(&String::from_utf8_lossy(raw)).into_owned()
}

impl Splitter {
    /// A splitter holding `partial` (from a snapshot), cut to [`MAX_LINE`].
    pub fn with_partial(mut partial: Vec<u8>, since: Option<Millis>) -> Splitter {
        partial.truncate(MAX_LINE);
        let since = since.filter(|_| !partial.is_empty());
        Splitter { partial, since }
    }

    /// The partial line and when it began (for the snapshot).
    pub fn partial(&self) -> (&[u8], Option<Millis>) {
        (&self.partial, self.since)
    }

    /// Feed bytes read at `now`; `emit` gets each line completed by them.
    pub fn feed(&mut self, now: Millis, bytes: &[u8], mut emit: impl FnMut(String)) {
        let mut rest = bytes;
        while !rest.is_empty() {
            let (segment, newline) = match rest.iter().position(|&b| b == b'\n') {
                Some(k) => (rest.get(..k).unwrap_or(&[]), true),
                None => (rest, false),
            };
            rest = rest
                .get(segment.len() + usize::from(newline)..)
                .unwrap_or(&[]);
            if self.partial.is_empty() && !segment.is_empty() {
                self.since = Some(now);
            }
            self.partial.extend_from_slice(segment);
            while self.partial.len() > MAX_LINE {
                let k = cut_point(&self.partial, MAX_LINE);
                emit(display(self.partial.get(..k).unwrap_or(&[])));
                self.partial.drain(..k);
                self.since = Some(now);
            }
            if newline {
                if self.partial.last() == Some(&b'\r') {
                    self.partial.pop();
                }
                emit(display(&self.partial));
                self.partial.clear();
                self.since = None;
            }
        }
    }

    /// Hand out the partial line, if there is one.
    pub fn flush(&mut self, mut emit: impl FnMut(String)) {
        if !self.partial.is_empty() {
            emit(display(&self.partial));
            self.partial.clear();
        }
        self.since = None;
    }

    /// When the partial line is due to be flushed ([`PARTIAL_FLUSH_MS`]).
    pub fn deadline(&self) -> Option<Millis> {
        self.since.map(|s| s.saturating_add(PARTIAL_FLUSH_MS))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn lines(s: &mut Splitter, now: Millis, bytes: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        s.feed(now, bytes, |l| out.push(l));
        out
    }

    #[test]
    fn lines_end_at_newlines_and_partials_wait() {
        let mut s = Splitter::default();
        assert_eq!(lines(&mut s, 5, b"one\ntw"), ["one"]);
        assert_eq!(s.deadline(), Some(5 + PARTIAL_FLUSH_MS));
        assert_eq!(lines(&mut s, 9, b"o\r\n\nthree"), ["two", ""]);
        assert_eq!(s.deadline(), Some(9 + PARTIAL_FLUSH_MS));
        let mut out = Vec::new();
        s.flush(|l| out.push(l));
        assert_eq!(out, ["three"]);
        assert_eq!(s.deadline(), None);
        s.flush(|l| out.push(l));
        assert_eq!(out.len(), 1, "nothing left to flush");
    }

    #[test]
    fn control_characters_and_bad_utf8_are_made_safe() {
        let mut s = Splitter::default();
        let got = lines(&mut s, 0, b"a\tb\x1b[2Jc\rd\xff\n");
        assert_eq!(got, ["a\\tb\\u{1b}[2Jc\\rd\u{fffd}"]);
    }

    #[test]
    fn long_lines_are_cut_at_a_character_boundary_and_continue() {
        let mut s = Splitter::default();
        let mut input = vec![b'x'; MAX_LINE - 1];
        input.extend("é".as_bytes()); // straddles the limit
        input.extend(b"rest\n");
        let got = lines(&mut s, 0, &input);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], "x".repeat(MAX_LINE - 1));
        assert_eq!(got[1], "érest");
        // Exactly MAX_LINE bytes and a newline: one line, not cut.
        let mut exact = vec![b'y'; MAX_LINE];
        exact.push(b'\n');
        assert_eq!(lines(&mut s, 0, &exact), ["y".repeat(MAX_LINE)]);
        // Without a newline, the held part never exceeds MAX_LINE.
        let got = lines(&mut s, 0, &vec![b'z'; 3 * MAX_LINE + 5]);
        assert_eq!(got.len(), 3);
        assert!(s.partial().0.len() <= MAX_LINE);
    }

    #[test]
    fn a_snapshot_partial_is_bounded() {
        let s = Splitter::with_partial(vec![b'a'; MAX_LINE + 10], Some(3));
        assert_eq!(s.partial().0.len(), MAX_LINE);
        let empty = Splitter::with_partial(Vec::new(), Some(3));
        assert_eq!(empty.deadline(), None);
    }

    /// Lines of service output for the property tests: segments of bytes
    /// (long ones included) from a small alphabet, each maybe ended by a
    /// newline.
    fn output(segments: &[(Vec<u8>, bool)], alphabet: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for (bytes, newline) in segments {
            out.extend(
                bytes
                    .iter()
                    .map(|b| alphabet[usize::from(*b) % alphabet.len()]),
            );
            if *newline {
                out.push(b'\n');
            }
        }
        out
    }

    fn segments() -> impl Strategy<Value = Vec<(Vec<u8>, bool)>> {
        proptest::collection::vec(
            (
                proptest::collection::vec(any::<u8>(), 0..9000),
                any::<bool>(),
            ),
            0..5,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// However the output is chunked by `read()`, the same lines come
        /// out, and none holds a control character.
        #[test]
        fn chunking_does_not_change_the_lines(
            segs in segments(),
            cuts in proptest::collection::vec(1usize..9000, 0..12),
        ) {
            let text = output(&segs, &[b'a', b'a', b'\r', 0xff, 0xc3, 0xa9, b'\t', b'\n']);
            let mut whole = Splitter::default();
            let mut want = lines(&mut whole, 0, &text);
            whole.flush(|l| want.push(l));
            let mut chunked = Splitter::default();
            let mut got = Vec::new();
            let mut rest = &text[..];
            for c in cuts {
                let (head, tail) = rest.split_at(c.min(rest.len()));
                chunked.feed(0, head, |l| got.push(l));
                prop_assert!(chunked.partial().0.len() <= MAX_LINE);
                rest = tail;
            }
            chunked.feed(0, rest, |l| got.push(l));
            chunked.flush(|l| got.push(l));
            prop_assert_eq!(&got, &want);
            for l in &got {
                prop_assert!(!l.chars().any(char::is_control), "{:?}", l);
            }
        }

        /// The ASCII shortcut of `display` changes nothing: any bytes (the
        /// edges of printable ASCII, DEL, C0 and C1 controls, bad UTF-8
        /// among them) show as the escaped lossy text.
        #[test]
        fn display_is_the_escaped_lossy_text(
            raw in proptest::collection::vec(
                prop_oneof![Just(b' '), Just(b'~'), Just(0x7f), Just(0x1f), Just(b'\t'),
                            Just(0xc2), Just(0x85), Just(0xff), any::<u8>()],
                0..64,
            ),
        ) {
            let want = crate::sys::console::one_line(&String::from_utf8_lossy(&raw)).into_owned();
            let slow = String::from_utf8_lossy(&raw)
                .chars()
                .flat_map(|c| {
                    let e: Vec<char> = if c.is_control() { c.escape_default().collect() } else { vec![c] };
                    e
                })
                .collect::<String>();
            prop_assert_eq!(&want, &slow);
            prop_assert_eq!(display(&raw), want);
        }

        /// Plain text comes out as its lines, each cut into pieces of
        /// MAX_LINE bytes, nothing lost or added.
        #[test]
        fn plain_text_comes_out_as_its_lines(segs in segments()) {
            let text = output(&segs, b"ab");
            let mut s = Splitter::default();
            let mut got = lines(&mut s, 0, &text);
            s.flush(|l| got.push(l));
            let pieces: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
            let mut want = Vec::new();
            for (k, seg) in pieces.iter().enumerate() {
                let last = k + 1 == pieces.len();
                if seg.is_empty() && !last {
                    want.push(String::new());
                }
                for c in seg.chunks(MAX_LINE) {
                    want.push(String::from_utf8(c.to_vec()).unwrap());
                }
            }
            prop_assert_eq!(got, want);
        }
    }
}
