//! The watchdog's entry points in the event loop: what a service's
//! `WATCHDOG=1` and `WATCHDOG=trigger` do, for the code that reads its
//! notifications (`NOTIFY_SOCKET`) to call.
//!
//! Part of [`crate::daemon`] (a child module sharing the daemon's state).
//! The caller has already judged the sender a process of service `svc`;
//! the engine keeps the deadline (`engine/machine/watchdog.rs`), so a ping
//! costs no system call, and a trigger only the signals it sends.

use super::Daemon;
use crate::sys::clock::Millis;

// Called by the reader of the services' notifications
// (`daemon/event/notify.rs`).
impl Daemon {
    /// Service `svc` said `WATCHDOG=1` at `now`: its watchdog is armed
    /// again for a full interval. `false` (and nothing done) when it has no
    /// watchdog or is not `starting` or `running`.
    pub(super) fn watchdog_ping(&mut self, svc: usize, now: Millis) -> bool {
        self.engine.watchdog_ping(svc, now)
    }

    /// Service `svc` said `WATCHDOG=trigger` at `now`: handled as its
    /// watchdog passing (SIGABRT, SIGKILL after `delay`, a restart with
    /// the reason `watchdog timeout (…)`). `false` (and nothing done) when
    /// it has no watchdog or is not `starting` or `running`.
    pub(super) fn watchdog_trigger(&mut self, svc: usize, now: Millis) -> bool {
        self.engine.watchdog_trigger(&mut self.host, now, svc)
    }
}
