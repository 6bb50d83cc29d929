//! cinit's own log: lines to the console, never blocking PID 1.
//!
//! The console is opened twice: a blocking descriptor that children inherit
//! as stdio, and a non-blocking one (its own open file description, so the
//! flag does not leak to children) that only cinit writes to. Lines go into a
//! bounded buffer; whatever the console does not take now is written when
//! `poll()` reports it writable. When the buffer is full, new lines are
//! dropped and counted, and the count is reported once there is room again.
//!
//! Every call is exactly one line: control characters in the text (a
//! newline or an escape sequence in a service's name, a path, a reason) are
//! written as escapes (`\n`, `\u{1b}`), so a name can neither forge a line
//! of its own nor drive the terminal.
//!
//! Invariant: the buffer never exceeds [`BUFFER_BYTES`]; no call blocks.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;

/// Console output held while the console is slow (a 9600-baud serial line
/// takes about 7 s to drain this much).
pub const BUFFER_BYTES: usize = 64 * 1024;
/// Longest line kept; longer ones are cut.
pub const MAX_LINE: usize = 1024;
/// Mirrored service output may fill the buffer only this far, so that a
/// flooding service never crowds out cinit's own lines.
pub const MIRROR_BYTES: usize = BUFFER_BYTES * 3 / 4;

pub struct Console {
    fd: Option<OwnedFd>,
    buf: VecDeque<u8>,
    dropped: u64,
    /// Mirrored service lines dropped (the console too slow for them).
    mirror_dropped: u64,
    /// Where [`Console::stamped_line`] formats, kept for its capacity (at
    /// most a cut line's length).
    scratch: String,
}

impl Console {
    /// A console writing to `fd` (which should be non-blocking), or nowhere.
    pub fn new(fd: Option<OwnedFd>) -> Console {
        Console {
            fd,
            buf: VecDeque::new(),
            dropped: 0,
            mirror_dropped: 0,
            scratch: String::new(),
        }
    }

    /// A console carrying on after a hot update with what was still queued.
    pub fn adopt(fd: Option<OwnedFd>, pending: Vec<u8>, dropped: u64) -> Console {
        let mut buf = VecDeque::from(pending);
        buf.truncate(BUFFER_BYTES);
        Console {
            fd,
            buf,
            dropped,
            mirror_dropped: 0,
            scratch: String::new(),
        }
    }

    /// What is queued and how many lines were dropped (for the snapshot).
    pub fn export(&self) -> (Vec<u8>, u64) {
        (self.buf.iter().copied().collect(), self.dropped)
    }

    /// Queue one line (a newline is added) and write what the console takes.
    pub fn line(&mut self, text: &str) {
        let text = one_line(text);
        self.queue(&text);
    }

    /// Queue `text`, already one line (no control characters), as
    /// [`Console::line`] does.
    fn queue(&mut self, text: &str) {
        if self.dropped > 0 && self.room_for(80) {
            let note = format!("cinit: {} console lines dropped\n", self.dropped);
            self.dropped = 0;
            self.buf.extend(note.as_bytes());
        }
        let bytes = text.as_bytes();
        let cut = bytes.get(..MAX_LINE).unwrap_or(bytes);
        if self.room_for(cut.len() + 1) {
            self.buf.extend(cut);
            self.buf.push_back(b'\n');
        } else {
            self.dropped += 1;
        }
        self.flush();
    }

    /// [`Console::line`] of `text` with its [`stamp`], formatted without
    /// an allocation per line. `text` is already escaped by [`one_line`]
    /// (the caller keeps that form in cinit's own log) and the stamp has no
    /// control character, so the line is not scanned a second time.
    pub fn stamped_line(&mut self, now: crate::sys::clock::Millis, text: &str) {
        let mut line = std::mem::take(&mut self.scratch);
        line.clear();
        stamp_into(&mut line, now, text);
        self.queue(&line);
        self.scratch = line;
    }

    /// Whether a mirrored line of `len` bytes would be queued now (so a
    /// flood that cannot be shown costs no formatting).
    pub fn mirror_room(&self, len: usize) -> bool {
        self.buf.len().saturating_add(len + 1) <= MIRROR_BYTES
    }

    /// Count a mirrored line that was not even formatted for lack of room.
    pub fn mirror_dropped(&mut self) {
        self.mirror_dropped += 1;
    }

    /// Queue a line of a service's output (`NAME: line`) if the buffer is
    /// below [`MIRROR_BYTES`]; otherwise drop it and count it. The line is
    /// in the service's log either way.
    pub fn mirror(&mut self, text: &str) {
        if self.mirror_dropped > 0 && self.buf.len() + 80 <= MIRROR_BYTES {
            let note = format!(
                "cinit: {} lines of service output not shown (console too slow; \
                 see cinit-ctl log)\n",
                self.mirror_dropped
            );
            self.mirror_dropped = 0;
            self.buf.extend(note.as_bytes());
        }
        let text = one_line(text);
        let bytes = text.as_bytes();
        let cut = bytes.get(..MAX_LINE).unwrap_or(bytes);
        if self.buf.len().saturating_add(cut.len() + 1) <= MIRROR_BYTES {
            // Written with the loop's flush at the end of the iteration:
            // one write for a whole read's worth of lines.
            self.buf.extend(cut);
            self.buf.push_back(b'\n');
        } else {
            self.mirror_dropped += 1;
        }
    }

    fn room_for(&self, n: usize) -> bool {
        self.buf.len().saturating_add(n) <= BUFFER_BYTES
    }

    /// Whether output is waiting for the console to become writable.
    pub fn pending(&self) -> bool {
        !self.buf.is_empty() && self.fd.is_some()
    }

    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.fd.as_ref().map(|f| f.as_fd())
    }

    /// Write as much as the console takes without blocking.
    pub fn flush(&mut self) {
        let Some(fd) = self.fd.as_ref() else {
            self.buf.clear();
            return;
        };
        while !self.buf.is_empty() {
            let (front, _) = self.buf.as_slices();
            match nix::unistd::write(fd, front) {
                Ok(0) => return,
                Ok(n) => {
                    self.buf.drain(..n.min(self.buf.len()));
                }
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => return,
                Err(_) => {
                    // A console that errors (hung up, gone) is not retried
                    // forever: drop what is queued.
                    self.dropped += 1;
                    self.buf.clear();
                    return;
                }
            }
        }
    }
}

impl Console {
    /// Write out everything queued, waiting up to `max_ms` for a slow
    /// console. Only for the last moments before reboot(2) or exit, when
    /// whatever is still queued would otherwise be lost.
    pub fn drain(&mut self, max_ms: u16) {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let until = crate::sys::clock::now_ms().saturating_add(u64::from(max_ms));
        loop {
            self.flush();
            let now = crate::sys::clock::now_ms();
            if !self.pending() || now >= until {
                return;
            }
            let Some(fd) = self.fd() else {
                return;
            };
            let left = u16::try_from(until.saturating_sub(now)).unwrap_or(max_ms);
            let mut fds = [PollFd::new(fd, PollFlags::POLLOUT)];
            if poll(&mut fds, PollTimeout::from(left)).is_err() {
                return;
            }
        }
    }
}

/// `text` with its control characters escaped as Rust writes them (`\n`,
/// `\t`, `\u{1b}`); borrowed when there are none (the usual case).
pub fn one_line(text: &str) -> Cow<'_, str> {
    // Printable ASCII (most lines) has no control character: a byte check,
    // cheaper than decoding each character.
    if text.bytes().all(|b| (b' '..=b'~').contains(&b)) || !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for ch in text.chars() {
        if ch.is_control() {
            out.extend(ch.escape_default());
        } else {
            out.push(ch);
        }
    }
    Cow::Owned(out)
}

/// Write one line to stderr in a single `write(2)`, for cinit's helper
/// processes (log writers, the exec trampoline, the final child). They share
/// the console with each other and with PID 1, and `eprintln!` writes a
/// formatted line in pieces that interleave mid-line when several helpers
/// speak at once; it also panics when the console errors. Errors are ignored:
/// there is nowhere else to say them.
pub fn stderr_line(text: &str) {
    // SAFETY: fd 2 is only borrowed for one write and never closed here;
    // were it closed, the write would fail with EBADF and be ignored.
    let stderr = unsafe { BorrowedFd::borrow_raw(2) };
    write_line(stderr, text);
}

/// One line (escaped, cut at [`MAX_LINE`], newline added) in one `write(2)`.
fn write_line(fd: BorrowedFd<'_>, text: &str) {
    let text = one_line(text);
    let bytes = text.as_bytes();
    let mut line = bytes.get(..MAX_LINE).unwrap_or(bytes).to_vec();
    line.push(b'\n');
    let _ = nix::unistd::write(fd, &line);
}

/// Format a log line with the monotonic time, like the kernel's printk.
pub fn stamp(now: crate::sys::clock::Millis, text: &str) -> String {
    let mut line = String::new();
    stamp_into(&mut line, now, text);
    line
}

/// [`stamp`], appended to `out`.
/// `[SSSSS.mmm] cinit: TEXT` as `format!("[{:5}.{:03}] cinit: {text}")`
/// writes it, without the formatting machinery (a line per start of each
/// service: it was most of a line's cost). The stamp is put together in
/// a stack buffer and appended in one piece.
fn stamp_into(out: &mut String, now: crate::sys::clock::Millis, text: &str) {
    // '[', at most 20 digits, '.', 3 digits, "] cinit: ": 34 bytes.
    let mut head = [0u8; 40];
    let mut len = 0;
    let mut put = |b: u8| {
        if let Some(slot) = head.get_mut(len) {
            *slot = b;
            len += 1;
        }
    };
    put(b'[');
    let (digits, count) = decimal(now / 1000);
    (count..5).for_each(|_| put(b' '));
    digits.iter().rev().take(count).rev().for_each(|&d| put(d));
    put(b'.');
    let ms = now % 1000;
    // Digits: each below 10.
    [ms / 100, ms / 10 % 10, ms % 10]
        .iter()
        .for_each(|&d| put(b'0' + d as u8));
    b"] cinit: ".iter().for_each(|&b| put(b));
    let head = head.get(..len).unwrap_or_default();
    out.reserve(head.len() + text.len());
    // ASCII, put together above.
    out.push_str(std::str::from_utf8(head).unwrap_or_default());
    out.push_str(text);
}

/// The decimal digits of `n`, at the end of the array, and how many.
fn decimal(mut n: u64) -> ([u8; 20], usize) {
    // u64::MAX has 20 digits.
    let mut digits = [0u8; 20];
    let mut count = 0;
    for d in digits.iter_mut().rev() {
        // A digit: below 10.
        *d = b'0' + (n % 10) as u8;
        n /= 10;
        count += 1;
        if n == 0 {
            break;
        }
    }
    (digits, count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::fcntl::OFlag;

    #[test]
    fn a_helpers_line_is_whole_escaped_and_cut_in_one_write() {
        let (r, w) = nix::unistd::pipe2(OFlag::O_NONBLOCK).unwrap();
        write_line(w.as_fd(), "refusing /x\ny");
        write_line(w.as_fd(), &"z".repeat(MAX_LINE + 10));
        let mut buf = vec![0u8; 4 * MAX_LINE];
        let n = nix::unistd::read(&r, &mut buf).unwrap();
        let want = format!("refusing /x\\ny\n{}\n", "z".repeat(MAX_LINE));
        assert_eq!(String::from_utf8_lossy(&buf[..n]), want);
    }

    /// The hand-written stamp is the one `format!` wrote, for short and
    /// long times (wider than its five places) and the extremes.
    #[test]
    fn stamps_are_what_format_wrote() {
        for now in [
            0,
            7,
            999,
            1000,
            1234,
            99_999_999,
            100_000_001,
            123_456_789_012,
            u64::MAX,
        ] {
            let want = format!("[{:5}.{:03}] cinit: x y", now / 1000, now % 1000);
            assert_eq!(stamp(now, "x y"), want);
        }
    }

    #[test]
    fn a_line_never_holds_a_line_break_or_control_character() {
        assert_eq!(one_line("done getty/1 in 0.1s"), "done getty/1 in 0.1s");
        assert!(matches!(one_line("plain \u{fffd}"), Cow::Borrowed(_)));
        assert_eq!(
            one_line("done x\n[ 0.0] cinit: done y\r\t\u{1b}[2J\u{7f}"),
            "done x\\n[ 0.0] cinit: done y\\r\\t\\u{1b}[2J\\u{7f}"
        );
        let (r, w) = nix::unistd::pipe2(OFlag::O_NONBLOCK).unwrap();
        let mut c = Console::new(Some(w));
        c.line("a\nb");
        let mut buf = [0u8; 64];
        let n = nix::unistd::read(&r, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"a\\nb\n");
    }

    #[test]
    fn mirrored_lines_leave_room_for_cinits_own() {
        let (r, w) = nix::unistd::pipe2(OFlag::O_NONBLOCK).unwrap();
        let mut c = Console::new(Some(w));
        let line = "x".repeat(100);
        let mut sink = vec![0u8; 1 << 20];
        // Fill the pipe first, so that everything after stays queued.
        for _ in 0..2000 {
            c.line(&line);
        }
        while nix::unistd::read(&r, &mut sink).is_ok() {}
        c.flush();
        for _ in 0..2000 {
            c.mirror(&format!("svc: {line}"));
        }
        assert!(c.mirror_dropped > 0);
        let queued = c.buf.len();
        assert!(queued <= MIRROR_BYTES, "{queued}");
        c.line("cinit's own line still fits");
        assert_eq!(c.dropped, 0);
        assert!(c.buf.len() > queued);
    }

    #[test]
    fn full_pipe_never_blocks_and_drops_are_counted() {
        let (r, w) = nix::unistd::pipe2(OFlag::O_NONBLOCK).unwrap();
        let mut c = Console::new(Some(w));
        let line = "x".repeat(100);
        for _ in 0..5000 {
            c.line(&line); // 500 KB into a 64 KiB pipe + 64 KiB buffer
        }
        assert!(c.pending());
        assert!(c.buf.len() <= BUFFER_BYTES);
        assert!(c.dropped > 0);
        // Drain the pipe; the next line reports the drops.
        let mut sink = vec![0u8; 1 << 20];
        while nix::unistd::read(&r, &mut sink).is_ok() {}
        c.flush();
        while nix::unistd::read(&r, &mut sink).is_ok() {}
        c.flush();
        while nix::unistd::read(&r, &mut sink).is_ok() {}
        c.line("after");
        let n = nix::unistd::read(&r, &mut sink).unwrap();
        let text = String::from_utf8_lossy(&sink[..n]);
        assert!(text.contains("console lines dropped"), "{text}");
        assert!(text.ends_with("after\n"));
    }

    /// A stamped line (cinit's own, already escaped: it is not scanned
    /// again) is queued as `line` queues it: stamped, cut at `MAX_LINE`,
    /// after the note of lines dropped before it.
    #[test]
    fn a_stamped_line_is_queued_as_a_line_with_the_drop_note() {
        let (r, w) = nix::unistd::pipe2(OFlag::O_NONBLOCK).unwrap();
        let mut c = Console::new(Some(w));
        c.dropped = 3;
        let long = "y".repeat(MAX_LINE);
        c.stamped_line(12_345, "done a\\n in 0.1s");
        c.stamped_line(0, &long);
        let mut sink = vec![0u8; 1 << 16];
        let n = nix::unistd::read(&r, &mut sink).unwrap();
        let want = format!(
            "cinit: 3 console lines dropped\n[   12.345] cinit: done a\\n in 0.1s\n{}\n",
            format!("[    0.000] cinit: {long}")
                .get(..MAX_LINE)
                .unwrap()
        );
        assert_eq!(String::from_utf8_lossy(&sink[..n]), want);
        assert_eq!(c.dropped, 0);
    }
}
