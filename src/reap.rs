//! Collecting exit statuses: `waitpid(-1, WNOHANG)` until nothing is left.
//!
//! Called on every wakeup, not only on SIGCHLD (signals coalesce). Work per
//! call is bounded by [`MAX_REAPS_PER_CALL`] so a fork storm cannot starve the
//! rest of the loop; the caller polls again at once when the bound was hit.

use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};

use crate::engine::Pid;
use crate::state::ExitStatus;

/// Most children reaped in one call.
pub const MAX_REAPS_PER_CALL: usize = 4096;

/// Reap exited children, passing each to `on_exit`. Returns true if the bound
/// was hit and more children may be waiting.
pub fn reap(mut on_exit: impl FnMut(Pid, ExitStatus)) -> bool {
    for _ in 0..MAX_REAPS_PER_CALL {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => on_exit(pid.as_raw(), ExitStatus::Code(code)),
            Ok(WaitStatus::Signaled(pid, sig, _)) => {
                on_exit(pid.as_raw(), ExitStatus::Signal(sig as i32))
            }
            // Without WUNTRACED/WCONTINUED nothing else is reported; keep going.
            Ok(WaitStatus::StillAlive) => return false,
            Ok(_) => {}
            Err(Errno::EINTR) => {}
            Err(_) => return false, // ECHILD: no children at all
        }
    }
    true
}
