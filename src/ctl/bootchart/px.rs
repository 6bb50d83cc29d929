//! A chart coordinate written with one decimal, exactly as `{:.1}` writes
//! an `f64` (the exact binary value rounded to tenths, a tie to the even
//! tenth), in integer arithmetic.
//!
//! `{:.1}` linked the float formatting machinery (Grisu and Dragon, their
//! bignums and power tables: about 16 KB) into `cinit-ctl` for the boot
//! chart alone. The coordinates are still computed in `f64`; only their
//! writing changed, and the test below holds it to `{:.1}`.

use std::fmt;

/// An `f64` that displays as `{:.1}` did.
#[derive(Clone, Copy)]
pub struct Px(pub f64);

impl fmt::Display for Px {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        if v.is_nan() {
            return f.write_str("NaN");
        }
        let sign = if v.is_sign_negative() { "-" } else { "" };
        if v.is_infinite() {
            return write!(f, "{sign}inf");
        }
        let t = tenths(v.abs());
        write!(f, "{sign}{}.{}", t / 10, t % 10)
    }
}

/// `v` × 10 rounded to an integer, a tie to even, for a finite `v` ≥ 0.
/// Exact below 1.8 × 10^18 (a chart's coordinates are below 2^20);
/// beyond, it saturates. (A `u64`, as `u128`'s `Display` would cost more
/// code than it saves.)
fn tenths(v: f64) -> u64 {
    u64::try_from(tenths_wide(v)).unwrap_or(u64::MAX)
}

/// [`tenths`] in 128 bits.
fn tenths_wide(v: f64) -> u128 {
    let bits = v.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1 << 52) - 1);
    // v = m × 2^e exactly.
    let (m, e) = if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | 1 << 52, biased - 1075)
    };
    let m10 = u128::from(m) * 10; // < 2^57
    if e >= 0 {
        return m10
            .checked_shl(e as u32)
            .filter(|_| e <= 64)
            .unwrap_or(u128::MAX);
    }
    let shift = e.unsigned_abs();
    if shift >= 58 {
        return 0; // m10 < 2^57 ≤ half of 2^shift: below half a tenth
    }
    let q = m10 >> shift;
    let r = m10 & ((1 << shift) - 1);
    let half = 1 << (shift - 1);
    if r > half || (r == half && q % 2 == 1) {
        q + 1
    } else {
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same text as `{:.1}` for ties (0.25, 0.75, …), values just off
    /// them, tiny, negative and zero values, and a sweep of every chart
    /// coordinate a 960-pixel axis can have over many spans.
    #[test]
    fn writes_what_format_wrote() {
        let mut values = vec![
            0.0,
            -0.0,
            0.25,
            0.75,
            1.25,
            2.25,
            0.05,
            0.15,
            0.45,
            0.95,
            9.95,
            99.95,
            1e-300,
            5e-324,
            -0.01,
            -0.25,
            123456.65,
            3.0,
            12.0,
            1e15 + 0.25,
            2f64.powi(52) + 1.0,
            2f64.powi(60),
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        for end in [1u64, 7, 10, 333, 1000, 4321, 86_400_000] {
            for t in (0..=end).step_by((end / 97).max(1) as usize) {
                let x = 80.0 + t as f64 * 960.0 / end as f64;
                values.extend([x, x - 3.0, x + 4.0, x / 2.0, (x - 80.0).max(3.0)]);
            }
        }
        for v in values {
            assert_eq!(Px(v).to_string(), format!("{v:.1}"), "{v:e}");
        }
    }
}
