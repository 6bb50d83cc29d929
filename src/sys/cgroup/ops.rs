//! What PID 1 does to one service's cgroup (system calls): make it, ask
//! whether it still holds processes, kill all of them, signal all of them.
//!
//! Invariants: a signal only ever reaches a process through a pidfd
//! opened on it and after its `/proc/PID/cgroup` was seen to name the
//! service's cgroup, so a pid reused by an unrelated process is never
//! signalled; `cgroup.procs` is read bounded ([`PROCS_MAX`]); nothing here
//! blocks (cgroupfs answers at once). `dir` is a cgroup's directory,
//! `path` the same cgroup as `/proc/PID/cgroup` names it.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::file::{self, Errno};
use super::find;
use super::setup::SMALL_MAX;

/// The most bytes of `cgroup.procs` read at once: some 9000 pids. A
/// service with more processes has the rest killed by the next round
/// ([`kill`] at each poll of a stop) or, with `cgroup.kill`, all at once.
const PROCS_MAX: usize = 64 * 1024;

/// `dir/name`.
fn at(dir: &str, name: &str) -> String {
    let mut p = String::with_capacity(dir.len() + 1 + name.len());
    p.push_str(dir);
    p.push('/');
    p.push_str(name);
    p
}

/// Make the cgroup `dir`: true if made, false if it was there.
pub fn make(dir: &str) -> Result<bool, Errno> {
    file::make_dir(dir)
}

/// Whether the cgroup `dir` holds processes. A cgroup that is not there
/// (never made, removed) holds none.
pub fn populated(dir: &str) -> bool {
    file::read(&at(dir, "cgroup.events"), SMALL_MAX)
        .ok()
        .and_then(|t| find::populated(&t))
        .unwrap_or(false)
}

/// Kill every process of the cgroup `dir`: one write of `1` to
/// `cgroup.kill` (Linux 5.14); before that, freeze the cgroup (no
/// process can fork or exit meanwhile), SIGKILL each process of
/// `cgroup.procs` through a pidfd, and thaw it (the killed processes die
/// once thawed).
pub fn kill(dir: &str, path: &str) {
    if file::write(&at(dir, "cgroup.kill"), b"1").is_ok() {
        return;
    }
    let freeze = at(dir, "cgroup.freeze");
    let frozen = file::write(&freeze, b"1").is_ok();
    let _ = signal_all(dir, path, libc::SIGKILL);
    if frozen {
        let _ = file::write(&freeze, b"0");
    }
}

/// Send `sig` to every process of the cgroup `dir`: for each pid of
/// `cgroup.procs`, open a pidfd, check that the process is (still) in the
/// cgroup, and signal it through the pidfd. Returns how many were
/// signalled.
pub fn signal_all(dir: &str, path: &str, sig: i32) -> Result<usize, Errno> {
    let procs = file::read(&at(dir, "cgroup.procs"), PROCS_MAX)?;
    let mut sent = 0;
    for pid in find::pids(&procs) {
        // SAFETY: pidfd_open(2) with a pid above 1 and no flags.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        let Ok(fd) = i32::try_from(fd) else { continue };
        if fd < 0 {
            continue; // gone already
        }
        // SAFETY: a new descriptor of ours, closed when `pidfd` drops.
        let pidfd = unsafe { OwnedFd::from_raw_fd(fd) };
        let inside = file::read(&format!("/proc/{pid}/cgroup"), SMALL_MAX)
            .is_ok_and(|t| find::own_cgroup(&t) == Some(path));
        if !inside {
            continue;
        }
        // SAFETY: pidfd_send_signal(2) on the pidfd opened above (the
        // process it names, never another that reused its pid).
        let r = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                pidfd.as_raw_fd(),
                sig,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if r == 0 {
            sent += 1;
        }
    }
    Ok(sent)
}
