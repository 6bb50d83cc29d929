//! The monotonic clock in milliseconds.
//!
//! All deadlines are on CLOCK_MONOTONIC, so a wall-clock jump (`date -s`, NTP)
//! never fires or delays a timer. Arithmetic on these values saturates; a
//! monotonic clock ten years ahead (time namespaces) cannot overflow.

/// Milliseconds on the monotonic clock.
pub type Millis = u64;

/// Format milliseconds as seconds with three decimals: `0.100s`.
pub fn seconds(ms: Millis) -> String {
    format!("{}.{:03}s", ms / 1000, ms % 1000)
}

/// Milliseconds since an arbitrary fixed point (boot, on Linux).
pub fn now_ms() -> Millis {
    match nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC) {
        Ok(ts) => {
            let secs = u64::try_from(ts.tv_sec()).unwrap_or(0);
            let nanos = u64::try_from(ts.tv_nsec()).unwrap_or(0);
            secs.saturating_mul(1000).saturating_add(nanos / 1_000_000)
        }
        // CLOCK_MONOTONIC cannot fail on Linux; 0 keeps every deadline due.
        Err(_) => 0,
    }
}

/// The `poll()` timeout until `deadline`: `None` = wait forever.
pub fn poll_timeout(now: Millis, deadline: Option<Millis>) -> Option<u32> {
    deadline.map(|d| u32::try_from(d.saturating_sub(now)).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_moves_forward_and_timeouts_saturate() {
        let a = now_ms();
        assert!(now_ms() >= a);
        assert_eq!(poll_timeout(10, None), None);
        assert_eq!(poll_timeout(10, Some(5)), Some(0));
        assert_eq!(poll_timeout(10, Some(25)), Some(15));
        assert_eq!(poll_timeout(0, Some(u64::MAX)), Some(u32::MAX));
    }
}
