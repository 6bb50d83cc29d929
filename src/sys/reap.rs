//! Collecting exit statuses: `waitpid(-1, WNOHANG)` until nothing is left.
//!
//! Called after a SIGCHLD (signals coalesce: one call reaps every exited
//! child), or on every wakeup when there is no signalfd. Work per call is
//! bounded by [`MAX_REAPS_PER_CALL`] so a fork storm cannot starve the rest of
//! the loop; the caller polls again at once when the bound was hit.
//!
//! This calls `libc::waitpid` directly and decodes the raw status itself:
//! a wrapper that reaps first and then fails to decode (nix turns signals
//! 32–64 into an error) would lose the exit status of a reaped child.

use crate::sys::process::ExitStatus;
use crate::sys::process::Pid;

/// Most children reaped in one call.
pub const MAX_REAPS_PER_CALL: usize = 4096;

/// Decode a raw wait status; `None` for stop/continue reports.
pub fn decode_status(raw: libc::c_int) -> Option<ExitStatus> {
    if libc::WIFEXITED(raw) {
        Some(ExitStatus::Code(libc::WEXITSTATUS(raw)))
    } else if libc::WIFSIGNALED(raw) {
        Some(ExitStatus::Signal(libc::WTERMSIG(raw)))
    } else {
        None
    }
}

/// Reap exited children, passing each to `on_exit`. Returns true if the bound
/// was hit and more children may be waiting.
pub fn reap(mut on_exit: impl FnMut(Pid, ExitStatus)) -> bool {
    for _ in 0..MAX_REAPS_PER_CALL {
        let mut raw: libc::c_int = 0;
        // SAFETY: waitpid writes one int through a valid pointer.
        let pid = unsafe { libc::waitpid(-1, &mut raw, libc::WNOHANG) };
        if pid > 0 {
            if let Some(status) = decode_status(raw) {
                on_exit(pid, status);
            }
            continue;
        }
        if pid < 0 && nix::errno::Errno::last() == nix::errno::Errno::EINTR {
            continue;
        }
        return false; // 0: children left but none exited; -1 ECHILD: none at all
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_of_every_kind_decode() {
        // Raw encodings as the kernel builds them.
        assert_eq!(decode_status(3 << 8), Some(ExitStatus::Code(3)));
        assert_eq!(decode_status(9), Some(ExitStatus::Signal(9)));
        assert_eq!(decode_status(40), Some(ExitStatus::Signal(40)));
        assert_eq!(decode_status(64 | 0x80), Some(ExitStatus::Signal(64)));
        assert_eq!(decode_status(0x137f), None); // stopped by SIGSTOP
    }
}
