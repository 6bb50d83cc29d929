//! Readiness in the event loop: reading the readiness pipes that poll
//! reported, telling the engine which process is ready, and saying why a
//! pipe was given up on.
//!
//! Part of [`crate::daemon`] (a child module sharing the daemon's state).
//! It runs right after the signalfd is drained and before reaping, so a
//! service that signalled readiness and exited at once counts as having
//! been ready (its needers start) before its death is handled.

use std::os::fd::RawFd;

use nix::poll::PollFlags;

use super::Daemon;
use crate::engine::state::State;
use crate::ready::pipe::{Event, MAX_JUNK};
use crate::sys::clock::Millis;
use crate::sys::process::Pid;

impl Daemon {
    pub(super) fn read_readiness(&mut self, now: Millis, revents: &[(RawFd, PollFlags)]) {
        if revents.iter().all(|(_, ev)| ev.is_empty()) {
            return;
        }
        for event in self.host.ready.handle(revents) {
            let (pid, svc, why) = match event {
                Event::Ready { pid, .. } => {
                    self.engine.ready(&mut self.host, now, pid);
                    continue;
                }
                Event::Closed { pid, svc } => (
                    pid,
                    svc,
                    "closed its notification-fd without a newline".to_string(),
                ),
                Event::TooMuch { pid, svc } => (
                    pid,
                    svc,
                    format!(
                        "wrote {MAX_JUNK} bytes to its notification-fd without a newline; \
                         no longer listening"
                    ),
                ),
            };
            // Only worth a line while the process is there and waited for:
            // a process that exited closed its pipe by dying, and its exit
            // is reported anyway.
            let Some(st) = self.engine.status(svc) else {
                continue;
            };
            if st.state == State::Starting && st.pid == Some(pid) && !exited(pid) {
                let line = format!("{} (pid {pid}) {why}; still starting", st.name);
                self.host.log(&line);
            }
        }
    }
}

/// Whether child `pid` has exited (or is not ours), without reaping it.
fn exited(pid: Pid) -> bool {
    let Ok(id) = libc::id_t::try_from(pid) else {
        return true;
    };
    // SAFETY: a zeroed siginfo_t is a valid buffer for waitid to fill.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: waitid with WNOWAIT only reads the child's state and writes
    // `info`; the child stays unreaped for the reaping loop.
    let rc = unsafe {
        libc::waitid(
            libc::P_PID,
            id,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    // SAFETY: waitid filled `info` (or left it zeroed: si_pid 0).
    rc != 0 || unsafe { info.si_pid() } != 0
}
