//! What PID 1 does to one service's cgroup (system calls): make it, ask
//! whether it still holds processes, kill all of them, signal all of them.
//!
//! Invariants: a signal only ever reaches a process through a pidfd
//! opened on it and after its `/proc/PID/cgroup` was seen to name the
//! service's cgroup, so a pid reused by an unrelated process is never
//! signalled; `cgroup.procs` is read bounded ([`PROCS_MAX`]); nothing here
//! blocks (cgroupfs answers at once).

use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;

use super::find;
use super::setup::{make_dir, read_small, write_file, SMALL_MAX};

/// The most bytes of `cgroup.procs` read at once: some 9000 pids. A
/// service with more processes has the rest killed by the next round
/// ([`kill`] at each poll of a stop) or, with `cgroup.kill`, all at once.
const PROCS_MAX: u64 = 64 * 1024;

/// Make the cgroup `dir` (an existing one is fine).
pub fn make(dir: &Path) -> std::io::Result<()> {
    make_dir(dir)
}

/// Whether the cgroup `dir` holds processes. A cgroup that is not there
/// (never made, removed) holds none.
pub fn populated(dir: &Path) -> bool {
    match read_small(&dir.join("cgroup.events"), SMALL_MAX) {
        Ok(text) => find::populated(&text).unwrap_or(false),
        Err(_) => false,
    }
}

/// Kill every process of the cgroup `dir`: one write of `1` to
/// `cgroup.kill` (Linux 5.14); before that, freeze the cgroup (no
/// process can fork or exit meanwhile), SIGKILL each process of
/// `cgroup.procs` through a pidfd, and thaw it (the killed processes die
/// once thawed). `path`: the cgroup as `/proc/PID/cgroup` names it.
pub fn kill(dir: &Path, path: &str) {
    if write_file(&dir.join("cgroup.kill"), b"1").is_ok() {
        return;
    }
    let freeze = dir.join("cgroup.freeze");
    let frozen = write_file(&freeze, b"1").is_ok();
    let _ = signal_all(dir, path, libc::SIGKILL);
    if frozen {
        let _ = write_file(&freeze, b"0");
    }
}

/// Send `sig` to every process of the cgroup `dir` (`path` as in
/// [`kill`]): for each pid of `cgroup.procs`, open a pidfd, check that
/// the process is (still) in the cgroup, and signal it through the
/// pidfd. Returns how many were signalled.
pub fn signal_all(dir: &Path, path: &str, sig: i32) -> std::io::Result<usize> {
    let procs = read_small(&dir.join("cgroup.procs"), PROCS_MAX)?;
    let mut sent = 0;
    for pid in find::pids(&procs) {
        // SAFETY: pidfd_open(2) with a pid above 1 and no flags; the
        // descriptor it returns is owned below.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        let Ok(fd) = i32::try_from(fd) else { continue };
        if fd < 0 {
            continue; // gone already
        }
        // SAFETY: a new descriptor of ours, closed when `pidfd` drops.
        let pidfd = unsafe { OwnedFd::from_raw_fd(fd) };
        let cg = format!("/proc/{pid}/cgroup");
        let inside =
            read_small(Path::new(&cg), SMALL_MAX).is_ok_and(|t| find::own_cgroup(&t) == Some(path));
        if !inside {
            continue;
        }
        // SAFETY: pidfd_send_signal(2) on the pidfd opened above (the
        // process it names, never another that reused its pid).
        let r = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                std::os::fd::AsRawFd::as_raw_fd(&pidfd),
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
