//! How log lines look when they leave cinit: in `cinit-ctl log`, in a
//! service's `log.file`, and the sizes written in `log.size`/`log.file`.
//!
//! A line is shown as
//!
//! ```text
//! 2025-11-21T16:46:03.123Z [   12.345] text
//! ```
//!
//! the wall clock in UTC with milliseconds (ISO 8601, so it sorts and needs
//! no time zone), then the monotonic seconds since boot as cinit's console
//! lines show them (they never jump, so they order lines across a clock
//! change). Pure functions, no system calls.

/// `2025-11-21T16:46:03.123Z` for `ms` milliseconds since the epoch.
pub fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        ms % 1000
    )
}

/// Year, month, day of the `days`-th day after 1970-01-01 (Howard
/// Hinnant's `civil_from_days`, for days ≥ 0).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// The monotonic stamp, `[   12.345]`, as on the console.
pub fn mono(ms: u64) -> String {
    format!("[{:5}.{:03}]", ms / 1000, ms % 1000)
}

/// One line as `cinit-ctl log` prints it and a `log.file` holds it.
pub fn line(mono_ms: u64, wall_ms: u64, text: &str) -> String {
    format!("{} {} {text}", utc(wall_ms), mono(mono_ms))
}

/// [`line`] and a newline, appended to `out`: the same bytes, written digit
/// by digit without the intermediate strings and formatting machinery
/// (PID 1 formats every line of a `log.file` service, where `line` cost
/// about 7 000 instructions a line, most of them in `format!`).
pub fn line_into(out: &mut Vec<u8>, mono_ms: u64, wall_ms: u64, text: &str) {
    let secs = wall_ms / 1000;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(secs / 86_400);
    digits(out, y, 4);
    out.push(b'-');
    digits(out, m, 2);
    out.push(b'-');
    digits(out, d, 2);
    out.push(b'T');
    digits(out, rem / 3600, 2);
    out.push(b':');
    digits(out, (rem % 3600) / 60, 2);
    out.push(b':');
    digits(out, rem % 60, 2);
    out.push(b'.');
    digits(out, wall_ms % 1000, 3);
    out.extend_from_slice(b"Z [");
    // `{:5}`: right-aligned in five columns, wider when it must be.
    let whole = mono_ms / 1000;
    let width = decimal_len(whole);
    out.resize(out.len() + 5usize.saturating_sub(width), b' ');
    digits(out, whole, width);
    out.push(b'.');
    digits(out, mono_ms % 1000, 3);
    out.extend_from_slice(b"] ");
    out.extend_from_slice(text.as_bytes());
    out.push(b'\n');
}

/// How many decimal digits `n` has (at least one).
fn decimal_len(mut n: u64) -> usize {
    let mut len = 1;
    while n >= 10 {
        n /= 10;
        len += 1;
    }
    len
}

/// `n` in decimal, zero-padded to at least `width` digits (`{:0width$}`).
fn digits(out: &mut Vec<u8>, n: u64, width: usize) {
    let len = decimal_len(n).max(width);
    let start = out.len();
    out.resize(start + len, b'0');
    let mut n = n;
    for slot in out.iter_mut().skip(start).rev() {
        // Always a digit: n % 10 < 10.
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::logconf::{parse_size, show_size};

    #[test]
    fn utc_dates_are_right_across_leap_years_and_centuries() {
        assert_eq!(utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(utc(1_709_251_199_999), "2024-02-29T23:59:59.999Z");
        assert_eq!(utc(1_763_743_563_123), "2025-11-21T16:46:03.123Z");
        assert_eq!(utc(4_107_542_400_000), "2100-03-01T00:00:00.000Z");
        assert_eq!(utc(253_402_300_799_000), "9999-12-31T23:59:59.000Z");
    }

    #[test]
    fn lines_carry_both_clocks() {
        assert_eq!(
            line(12_345, 1_763_743_563_123, "hello"),
            "2025-11-21T16:46:03.123Z [   12.345] hello"
        );
        assert_eq!(mono(1_234_567_890), "[1234567.890]");
    }

    /// The line a `log.file` gets is byte for byte what [`line`] formats,
    /// across dates, widths of the monotonic seconds and texts.
    #[test]
    fn line_into_writes_what_line_formats() {
        let walls = [
            0,
            951_782_400_000,
            1_709_251_199_999,
            1_763_743_563_123,
            4_107_542_400_000,
            253_402_300_799_000,
            u64::MAX,
        ];
        let monos = [
            0,
            7,
            999,
            1_000,
            12_345,
            99_999_999,
            100_000_000,
            1_234_567_890,
        ];
        let mut out = b"kept ".to_vec();
        let mut want = "kept ".to_string();
        for &w in &walls {
            for &m in &monos {
                for text in ["", "hello", "ünïcode \\u{1b}"] {
                    line_into(&mut out, m, w, text);
                    want.push_str(&line(m, w, text));
                    want.push('\n');
                }
            }
        }
        assert_eq!(String::from_utf8(out).unwrap(), want);
    }

    proptest::proptest! {
        #[test]
        fn line_into_matches_line_for_any_times(m: u64, w in 0u64..=253_402_300_799_999) {
            let mut out = Vec::new();
            line_into(&mut out, m, w, "x");
            proptest::prop_assert_eq!(String::from_utf8(out).unwrap(), line(m, w, "x") + "\n");
        }
    }

    #[test]
    fn sizes_take_k_and_m_and_nothing_else() {
        assert_eq!(parse_size("65536"), Some(65536));
        assert_eq!(parse_size(" 64k\n"), Some(65536));
        assert_eq!(parse_size("16M"), Some(16 << 20));
        assert_eq!(parse_size("1K"), Some(1024));
        for bad in [
            "",
            "k",
            "-1",
            "1.5k",
            "64 k",
            "1G",
            "0x10",
            "99999999999999999999",
        ] {
            assert_eq!(parse_size(bad), None, "{bad:?}");
        }
        assert_eq!(parse_size("18014398509481984k"), None, "overflow");
        assert_eq!(show_size(65536), "64 KiB");
        assert_eq!(show_size(3 << 20), "3 MiB");
        assert_eq!(show_size(1000), "1000 bytes");
    }
}
