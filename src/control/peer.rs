//! Who is at the other end of a control connection: the peer's process,
//! bound to the process itself and not only to its number.
//!
//! `SO_PEERCRED` gives the pid the connecting process had. A request may
//! come much later, when that process has gone and its number belongs to
//! another one (a service's, say): a decision made from the number alone
//! (the fd store's "a process of the service itself", told by `getsid`)
//! would then be about the wrong process. So at accept cinit also pins the
//! process:
//!
//! - `SO_PEERPIDFD` (Linux 6.5 and later): a pidfd for the very process
//!   that connected, owned by the connection (close-on-exec; one
//!   descriptor of PID 1's per connection, at most `MAX_CLIENTS`).
//! - Without it (the kernel answers `ENOPROTOOPT`): the process's start
//!   time, field 22 of `/proc/PID/stat`.
//!
//! At each request that trusts the pid, [`Peer::session`] calls `getsid`
//! and only then checks that the pinned process is still there (not yet
//! reaped; a pid number is not reused before that, so the session read was
//! that process's): `pidfd_send_signal(pidfd, 0)` succeeds, or the start
//! time is unchanged. Otherwise the answer is [`Session::Gone`], and the
//! caller is refused.
//!
//! Invariants: a peer outside our PID namespace (pid 0) has no process
//! here and is judged by its uid alone ([`Session::Outside`]); when the
//! process cannot be pinned (it had gone before it was accepted, or the
//! start time cannot be read, or the connection came across a hot update
//! on a kernel without `SO_PEERPIDFD`), no pid-based right is granted.
//! The decisions are the pure functions below; the syscalls are thin.

use std::io::Read;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::errno::Errno;
use nix::unistd::{getsid, Pid as NixPid};

/// `SO_PEERPIDFD` (not in every libc yet; the value is the kernel's ABI).
#[cfg(any(target_arch = "sparc", target_arch = "sparc64"))]
const SO_PEERPIDFD: libc::c_int = 0x56;
#[cfg(not(any(target_arch = "sparc", target_arch = "sparc64")))]
const SO_PEERPIDFD: libc::c_int = 77;

/// Longest `/proc/PID/stat` read: the line is well under 1 KiB (a 16-byte
/// command name and 50 numbers).
const STAT_MAX: usize = 4096;

/// How the peer's process is pinned.
#[derive(Debug)]
pub enum Identity {
    /// Outside our PID namespace (pid 0): no process to pin.
    Outside,
    /// A pidfd for the process that connected.
    Pidfd(OwnedFd),
    /// The start time (clock ticks since boot) of the process that had the
    /// peer's pid when it was accepted.
    StartTime(u64),
    /// Could not be pinned: pid-based rights are refused.
    Unknown,
}

/// What a request may rely on about its sender's process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Session {
    /// The sender is outside our PID namespace: judge it by uid alone.
    Outside,
    /// The process that connected is gone (or cannot be told apart from a
    /// later one with its number).
    Gone,
    /// The process that connected is alive, in this session (`None`: it
    /// has none we could read).
    In(Option<i32>),
}

/// The peer of one connection.
#[derive(Debug)]
pub struct Peer {
    /// The peer's pid in our PID namespace (0: outside it).
    pub pid: i32,
    identity: Identity,
}

/// What the answer to `getsockopt(SO_PEERPIDFD)` means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PidfdAnswer {
    /// A pidfd came.
    Got,
    /// The kernel lacks the option: use the start time.
    Unsupported,
    /// The kernel has it, but the peer has no process left (`EINVAL`), or
    /// no pid (`ENODATA`): nothing to pin.
    NoProcess,
    /// Anything else (`EMFILE`…): try the start time.
    Failed,
}

/// Classify a failed `getsockopt(SO_PEERPIDFD)`. A kernel without the option
/// says `ENOPROTOOPT`; one with it says `EINVAL` only when the peer's
/// process has been reaped (before Linux 6.16, which hands out a pidfd for
/// a reaped process instead), so the start time then would be another
/// process's.
pub fn classify_pidfd_error(e: Errno) -> PidfdAnswer {
    match e {
        Errno::ENOPROTOOPT => PidfdAnswer::Unsupported,
        Errno::EINVAL | Errno::ENODATA | Errno::ESRCH => PidfdAnswer::NoProcess,
        _ => PidfdAnswer::Failed,
    }
}

/// Whether `pidfd_send_signal(pidfd, 0)`'s result says the process still
/// exists: success, or `EPERM` (there, but not ours to signal). `ESRCH` is
/// a process that was reaped; any other error is taken as gone too.
pub fn alive_from_signal(result: Result<(), Errno>) -> bool {
    matches!(result, Ok(()) | Err(Errno::EPERM))
}

/// Field 22 (`starttime`) of a `/proc/PID/stat` line. The command name
/// (field 2, in parentheses) may hold spaces and parentheses itself, so
/// the fields are counted from the last `)`.
pub fn parse_start_time(stat: &[u8]) -> Option<u64> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(stat.get(close + 1..)?).ok()?;
    // After the name: field 3 (state) is the first, so field 22 is the 20th.
    rest.split_ascii_whitespace().nth(19)?.parse().ok()
}

/// The verdict on a request's sender: `sid` is what `getsid` said, and
/// `alive` whether the pinned process was still there after it.
pub fn verdict(pid: i32, pinned: bool, sid: Option<i32>, alive: bool) -> Session {
    if pid <= 0 {
        Session::Outside
    } else if !pinned || !alive {
        Session::Gone
    } else {
        Session::In(sid)
    }
}

/// Whether the start time read now is the one read at accept.
pub fn same_start(at_accept: u64, now: Option<u64>) -> bool {
    now == Some(at_accept)
}

impl Peer {
    /// Pin the peer of a connection just accepted (`pid` from
    /// `SO_PEERCRED`).
    pub fn at_accept(sock: BorrowedFd<'_>, pid: i32) -> Peer {
        Peer::pin(sock, pid, true)
    }

    /// Pin the peer of a connection handed over by a hot update. The
    /// kernel keeps the peer with the socket, so a pidfd still names the
    /// process that connected; a start time read now might be a later
    /// process's, so without `SO_PEERPIDFD` the peer stays unpinned.
    pub fn after_update(sock: BorrowedFd<'_>, pid: i32) -> Peer {
        Peer::pin(sock, pid, false)
    }

    fn pin(sock: BorrowedFd<'_>, pid: i32, may_read_start: bool) -> Peer {
        let identity = if pid <= 0 {
            Identity::Outside
        } else {
            let answer = match peer_pidfd(sock) {
                Ok(fd) => {
                    return Peer {
                        pid,
                        identity: Identity::Pidfd(fd),
                    }
                }
                Err(e) => classify_pidfd_error(e),
            };
            match answer {
                PidfdAnswer::Unsupported | PidfdAnswer::Failed if may_read_start => {
                    start_time(pid).map_or(Identity::Unknown, Identity::StartTime)
                }
                _ => Identity::Unknown,
            }
        };
        Peer { pid, identity }
    }

    /// The pidfd this peer holds, if any: a descriptor of PID 1's that a
    /// hot update's sweep of unowned descriptors must keep.
    pub fn pidfd(&self) -> Option<std::os::fd::RawFd> {
        match &self.identity {
            Identity::Pidfd(fd) => Some(fd.as_raw_fd()),
            _ => None,
        }
    }

    /// The sender's session, if the process that connected is still the
    /// one with its pid. `getsid` comes first, the check after it.
    pub fn session(&self) -> Session {
        if self.pid <= 0 {
            return Session::Outside;
        }
        let sid = getsid(Some(NixPid::from_raw(self.pid)))
            .ok()
            .map(NixPid::as_raw);
        let (pinned, alive) = match &self.identity {
            Identity::Outside | Identity::Unknown => (false, false),
            Identity::Pidfd(fd) => (true, alive_from_signal(signal0(fd.as_raw_fd()))),
            Identity::StartTime(t) => (true, same_start(*t, start_time(self.pid))),
        };
        verdict(self.pid, pinned, sid, alive)
    }
}

/// `getsockopt(SO_PEERPIDFD)`: a close-on-exec pidfd for the peer.
fn peer_pidfd(sock: BorrowedFd<'_>) -> Result<OwnedFd, Errno> {
    if crate::control::fault::no_peer_pidfd() {
        return Err(Errno::ENOPROTOOPT);
    }
    let mut fd: libc::c_int = -1;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into `fd`, an int on
    // our stack, and sets `len`.
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_PEERPIDFD,
            std::ptr::addr_of_mut!(fd).cast(),
            &mut len,
        )
    };
    Errno::result(rc)?;
    if fd < 0 {
        return Err(Errno::EINVAL);
    }
    // SAFETY: the kernel just made this descriptor (O_CLOEXEC) for us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `pidfd_send_signal(pidfd, 0, NULL, 0)`: does the process exist?
fn signal0(pidfd: i32) -> Result<(), Errno> {
    // SAFETY: signal 0 delivers nothing; the info pointer is NULL.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd,
            0,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    Errno::result(rc).map(drop)
}

/// The start time of process `pid`, from `/proc/PID/stat` (read without
/// blocking and bounded; procfs answers at once).
fn start_time(pid: i32) -> Option<u64> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(format!("/proc/{pid}/stat"))
        .ok()?;
    let mut buf = Vec::with_capacity(512);
    file.take(STAT_MAX as u64).read_to_end(&mut buf).ok()?;
    parse_start_time(&buf)
}

#[cfg(test)]
mod tests;
