//! Seconds given on the command line (`wait --timeout 2.5`) as a
//! [`Duration`], and a duration shown as seconds again, in integers.
//!
//! The client once parsed and printed these with `f64`, which linked the
//! float parser and its tables into `cinit-ctl` (about 16 KB) for one
//! option. What it accepts is what `f64` parsing accepted, minus the values
//! that were refused anyway (not finite, not more than 0): an optional `+`,
//! decimal digits with at most one `.` and at least one digit, an optional
//! exponent (`e`/`E`, a sign, digits). The value is rounded to whole
//! nanoseconds, as `Duration::from_secs_f64` does (an exact half rounds
//! up here; there it went the way the nearest `f64` lay, a difference of
//! one nanosecond); anything below half a nanosecond but more than 0 is a
//! zero duration, as before.

use std::time::Duration;

const NANOS_PER_SEC: u64 = 1_000_000_000;

/// Parse decimal seconds; `None` if not a number, not more than 0, or more
/// than `max_secs`.
pub fn parse(v: &str, max_secs: u64) -> Option<Duration> {
    let v = v.strip_prefix('+').unwrap_or(v);
    let (mantissa, exp) = match v.find(['e', 'E']) {
        Some(at) => (v.get(..at)?, parse_exponent(v.get(at + 1..)?)?),
        None => (v, 0),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, f),
        None => (mantissa, ""),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() && frac.is_empty() || !all_digits(int) || !all_digits(frac) {
        return None;
    }
    // The digits without leading zeros, and the power of ten that makes
    // them nanoseconds: value = digits × 10^scale ns.
    let digits = format!("{int}{frac}");
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return None; // zero is not a timeout
    }
    let scale = exp.saturating_sub(frac.len() as i64).saturating_add(9);
    let max_nanos = max_secs.saturating_mul(NANOS_PER_SEC);
    // Digits above 10^18 ns are beyond any limit (and u64's precision).
    let magnitude = (digits.len() as i64).saturating_add(scale);
    if magnitude > 18 {
        return None;
    }
    let nanos = if scale >= 0 {
        digits.parse::<u64>().ok()? * 10u64.pow(scale as u32)
    } else {
        // Keep the whole nanoseconds, rounding on the first dropped digit.
        let keep = usize::try_from(magnitude.max(0)).ok()?;
        let whole = digits.get(..keep).filter(|s| !s.is_empty());
        let whole = whole.map_or(Some(0), |s| s.parse::<u64>().ok())?;
        let round_up = digits.as_bytes().get(keep).is_some_and(|&d| d >= b'5');
        whole + u64::from(round_up)
    };
    (nanos <= max_nanos).then(|| Duration::from_nanos(nanos))
}

/// An exponent: an optional sign and digits, saturated far beyond any
/// value that could pass the limit.
fn parse_exponent(e: &str) -> Option<i64> {
    let (negative, digits) = match e.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, e.strip_prefix('+').unwrap_or(e)),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = digits.bytes().fold(0i64, |n, d| {
        n.saturating_mul(10)
            .saturating_add(i64::from(d - b'0'))
            .min(1 << 40)
    });
    Some(if negative { -n } else { n })
}

/// A duration as seconds the way `f64`'s `Display` showed them: `2`, `2.5`,
/// `0.001` (no trailing zeros, no exponent).
pub fn show(d: Duration) -> String {
    let (secs, nanos) = (d.as_secs(), d.subsec_nanos());
    if nanos == 0 {
        return secs.to_string();
    }
    let frac = format!("{nanos:09}");
    format!("{secs}.{}", frac.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: u64 = 365 * 86_400;

    /// Every spelling `f64` parsing accepted gives the duration
    /// `Duration::from_secs_f64` gave, and what it refused (or the limit
    /// refused) is refused.
    #[test]
    fn parses_what_f64_parsing_accepted() {
        for v in [
            "2.5",
            "1",
            "+3",
            ".5",
            "5.",
            "0.001",
            "1e2",
            "1E-3",
            "2.5e+1",
            "007",
            "0.1",
            "31536000",
            "0.333333333",
            "12.000000001",
            "1e-9",
            "1.6e-9",
            "1.4e-9",
        ] {
            let want = Duration::from_secs_f64(v.parse::<f64>().unwrap());
            assert_eq!(parse(v, MAX), Some(want), "{v}");
        }
        for v in [
            "",
            ".",
            "+",
            "-1",
            "-0",
            "0",
            "0.0",
            "0e5",
            "1e",
            "e3",
            "1.2.3",
            "inf",
            "nan",
            "infinity",
            "1 ",
            " 1",
            "1s",
            "31536000.1",
            "1e8",
            "1e400",
            "99999999999999999999",
            "0x10",
            "1_000",
            "++1",
            "1e+",
            "1e-",
        ] {
            assert_eq!(parse(v, MAX), None, "{v:?}");
        }
    }

    /// Values below half a nanosecond but above 0 were accepted as a zero
    /// duration, and still are; tiny exponents do not overflow.
    #[test]
    fn tiny_and_huge_exponents() {
        assert_eq!(parse("1e-20", MAX), Some(Duration::ZERO));
        assert_eq!(parse("1e-99999999999999999999", MAX), Some(Duration::ZERO));
        assert_eq!(parse("1e99999999999999999999", MAX), None);
        assert_eq!(parse("0.0000000005", MAX), Some(Duration::from_nanos(1)));
    }

    /// Seconds are shown as `f64`'s `Display` showed the same duration.
    #[test]
    fn shows_as_f64_display_did() {
        for ns in [
            0,
            1,
            1_000_000,
            100_000_000,
            2_500_000_000,
            333_333_333,
            60_000_000_000,
        ] {
            let d = Duration::from_nanos(ns);
            assert_eq!(show(d), d.as_secs_f64().to_string(), "{ns} ns");
        }
    }
}
