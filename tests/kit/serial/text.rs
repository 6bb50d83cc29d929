//! Reading serial text: finding bytes, cleaning what a terminal would
//! interpret, the console stamps of cinit's and the kernel's lines. Pure
//! functions on the bytes read so far.

use super::Span;

pub(crate) fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() {
        return Some(from);
    }
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// Serial text made readable: no carriage returns, no escape sequences
/// (busybox ash's `ESC[6n` cursor query after every prompt, bash's
/// bracketed-paste switches, agetty's clear).
pub fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {}
            '\u{1b}' => {
                if chars.peek() == Some(&'[') {
                    chars.next();
                    // Parameters and intermediates, then one final byte.
                    for c in chars.by_ref() {
                        if ('\u{40}'..='\u{7e}').contains(&c) {
                            break;
                        }
                    }
                } else {
                    chars.next();
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// The console `text` with each line the kernel printed into the middle of
/// another writer's line moved out: the kernel writes its record, stamped
/// `[ sssss.uuuuuu]` (six decimals), and its newline straight to the port
/// wherever the other writer is, so `cinit: starting x[ 3.1] IPv6: …\n
/// (pid 7)\n` becomes `cinit: starting x (pid 7)\n[ 3.1] IPv6: …\n`.
/// Counting whole lines is then exact.
pub fn without_kernel_interjections(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut moved = Vec::new();
    let mut current = String::new();
    for line in text.split_inclusive('\n') {
        current.push_str(line);
        match kernel_stamp_inside(&current) {
            Some(at) if current.ends_with('\n') => {
                moved.push(current.split_off(at));
            }
            _ => {
                out.push_str(&current);
                current.clear();
                out.extend(moved.drain(..));
            }
        }
    }
    out.push_str(&current);
    out.extend(moved);
    out
}

/// Where a kernel stamp (`[`, blanks, digits, `.`, six digits, `]`) begins
/// inside `line`, past its first byte.
fn kernel_stamp_inside(line: &str) -> Option<usize> {
    line.match_indices('[').map(|(i, _)| i).find(|&i| {
        i > 0
            && line.get(i + 1..).is_some_and(|rest| {
                let Some((inside, _)) = rest.split_once(']') else {
                    return false;
                };
                let Some((secs, frac)) = inside.trim_start().split_once('.') else {
                    return false;
                };
                !secs.is_empty()
                    && secs.bytes().all(|b| b.is_ascii_digit())
                    && frac.len() == 6
                    && frac.bytes().all(|b| b.is_ascii_digit())
            })
    })
}

/// The seconds of a console line stamped `[ sssss.mmm] ...` (cinit) or
/// `[   ss.uuuuuu] ...` (the kernel).
pub fn stamp(line: &str) -> Option<f64> {
    let rest = line.trim_start().strip_prefix('[')?;
    let (secs, _) = rest.split_once(']')?;
    secs.trim().parse().ok()
}

/// A line written by cinit's or the kernel's console logging, not by a
/// command.
pub fn is_console_log(line: &str) -> bool {
    stamp(line).is_some()
}

/// The (cleaned) line of `serial` holding `span`, up to `end` or the next
/// newline. When a console stamp (`[ sssss.mmm]`) precedes the match, the
/// line starts there: a prompt printed on the same line is left out.
pub(crate) fn line_around(serial: &[u8], span: Span, end: Option<usize>) -> String {
    let start = serial[..span.start]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let end = end.unwrap_or_else(|| find(serial, b"\n", span.start).unwrap_or(serial.len()));
    let text = |a: usize, b: usize| clean(&String::from_utf8_lossy(&serial[a..b]));
    let (line, needle) = (text(start, end), text(span.start, span.end));
    let at = line.find(needle.trim_end()).unwrap_or(line.len());
    let from = line[..at]
        .rmatch_indices('[')
        .map(|(i, _)| i)
        .find(|&i| stamp(&line[i..]).is_some())
        .unwrap_or(0);
    line[from..].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kernel line printed into the middle of one of cinit's lines is
    /// moved after it, and the interrupted line is whole again; a kernel
    /// line at the start of a line, and cinit's own three-decimal stamps,
    /// are left alone.
    #[test]
    fn kernel_lines_printed_mid_line_are_moved_out() {
        let raw = "[    2.053] cinit: starting rootrw[    3.123456] IPv6: ADDRCONF up\n (pid 107)\n[    3.200000] virtio ok\n[    3.300] cinit: done init\n";
        assert_eq!(
            without_kernel_interjections(raw),
            "[    2.053] cinit: starting rootrw (pid 107)\n[    3.123456] IPv6: ADDRCONF up\n[    3.200000] virtio ok\n[    3.300] cinit: done init\n"
        );
        // Two kernel lines in a row while cinit's line waits.
        let twice = "a[ 1.000001] k1\n[ 1.000002] k2\nb\n";
        assert_eq!(
            without_kernel_interjections(twice),
            "ab\n[ 1.000001] k1\n[ 1.000002] k2\n"
        );
    }

    /// Carriage returns and escape sequences go, whatever their length:
    /// ash's cursor query after a prompt, bash's bracketed-paste switch,
    /// agetty's clear, a two-byte escape.
    #[test]
    fn clean_drops_what_a_terminal_interprets() {
        let raw = "a:~# \u{1b}[6n\r\n\u{1b}[?2004hls\u{1b}[H\u{1b}[2J\u{1b}cx\r\n";
        assert_eq!(clean(raw), "a:~# \nlsx\n");
    }

    /// cinit's and the kernel's stamps both give seconds; a command's
    /// output, or brackets around something else, gives none.
    #[test]
    fn stamps_of_cinit_and_the_kernel() {
        assert_eq!(stamp("[    4.063] cinit: done init"), Some(4.063));
        assert_eq!(stamp("  [    4.022648] IPv6: link"), Some(4.022648));
        assert_eq!(stamp("[ok] fine"), None);
        assert_eq!(stamp("hello [1.0] x"), None);
        assert!(!is_console_log("total 3"));
    }

    /// The line around a match starts at the console stamp before it (a
    /// prompt printed on the same line is left out), and ends at the
    /// newline, or at `end` when given.
    #[test]
    fn line_around_starts_at_the_stamp() {
        let serial = b"boot\r\na:~# [    2.500] cinit: took over from cinit\r\nnext\r\n";
        let at = find(serial, b"took over", 0).unwrap();
        let span = Span {
            start: at,
            end: at + 9,
        };
        assert_eq!(
            line_around(serial, span, None),
            "[    2.500] cinit: took over from cinit"
        );
        let end = find(serial, b" from", at).unwrap();
        assert_eq!(
            line_around(serial, span, Some(end)),
            "[    2.500] cinit: took over"
        );
        assert_eq!(find(serial, b"", 3), Some(3));
        assert_eq!(find(serial, b"absent", 0), None);
    }
}
