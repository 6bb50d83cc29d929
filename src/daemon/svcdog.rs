//! The environment of a watched service (its `watchdog` file): systemd's
//! `WATCHDOG_USEC` (the interval, in microseconds) and `WATCHDOG_PID` (the
//! main process's own pid, so that `sd_watchdog_enabled` in a process it
//! starts says no). libsystemd's clients read these two.
//!
//! `WATCHDOG_USEC` is added here, before the spawn; `WATCHDOG_PID` is
//! written by the child itself once it knows its pid
//! ([`crate::sys::spawn::spawn_with_pid`]), which stays the service's pid
//! across the `--listen-exec` trampoline's `execve`. Whatever the
//! service's `.env` says of either is replaced. A service without a
//! watchdog is given neither and pays nothing.

use std::ffi::{CStr, CString};

use crate::sys::clock::Millis;

/// The variable the child sets to its own pid.
pub(super) const PID_VAR: &CStr = c"WATCHDOG_PID";

/// Whether `entry` (`NAME=value`) sets one of the two variables.
fn is_watchdog_var(entry: &[u8]) -> bool {
    [&b"WATCHDOG_USEC"[..], PID_VAR.to_bytes()].iter().any(|v| {
        entry
            .strip_prefix(*v)
            .is_some_and(|rest| rest.starts_with(b"="))
    })
}

/// The environment `envp` of a service watched every `ms` milliseconds:
/// its own variables of the convention dropped, `WATCHDOG_USEC` added
/// (`WATCHDOG_PID` comes from the child).
pub(super) fn add_env(envp: &mut Vec<CString>, ms: Millis) {
    envp.retain(|e| !is_watchdog_var(e.as_bytes()));
    let usec = format!("WATCHDOG_USEC={}", ms.saturating_mul(1000));
    if let Ok(entry) = CString::new(usec) {
        envp.push(entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_gets_watchdog_usec_and_loses_its_own_copies() {
        let mut envp: Vec<CString> = ["A=1", "WATCHDOG_USEC=5", "WATCHDOG_PID=7", "WATCHDOG_X=1"]
            .iter()
            .map(|s| CString::new(*s).unwrap())
            .collect();
        add_env(&mut envp, 1500);
        let got: Vec<&str> = envp.iter().map(|c| c.to_str().unwrap()).collect();
        assert_eq!(got, ["A=1", "WATCHDOG_X=1", "WATCHDOG_USEC=1500000"]);
    }
}
