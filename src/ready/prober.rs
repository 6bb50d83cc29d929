//! PID 1's readiness probes in flight: the sockets of connect tries and
//! the pids of probe programs, each try bounded by its own deadline.
//!
//! Nothing here blocks. A TCP or Unix try is a non-blocking socket: the
//! connect either finishes at once, fails at once (a refused port, a full
//! Unix backlog: `EAGAIN`), or is in progress, and then its socket is in
//! the poll set for `POLLOUT` and `SO_ERROR` says how it ended. A program
//! is a child spawned by the caller ([`crate::daemon::host::RealHost::spawn_probe`])
//! and reaped by the normal reaper, which asks [`Probes::reaped`] first.
//!
//! Invariants: a pid is signalled only while it is in this table, and it
//! leaves the table when it is reaped, so a reaped pid (which the kernel
//! may give to someone else) is never signalled. A probe child that is
//! killed (its try ran out of time, or its service left `starting`) stays
//! known until it is reaped, so its exit is never taken for an orphan's.
//! The sockets are PID 1's own, made here and never passed in or out, so
//! dropping them (a plain close) is all their cleanup.

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;

use nix::errno::Errno;
use nix::poll::PollFlags;
use nix::sys::socket::{
    connect, getsockopt, socket, sockopt, AddressFamily, SockFlag, SockType, SockaddrStorage,
    UnixAddr,
};

use crate::config::probe::Run;
use crate::engine::probe::Probe;
use crate::sys::clock::Millis;
use crate::sys::process::ExitStatus;
use crate::sys::process::Pid;
use crate::sys::safepath::{components, fstat, openat};

/// One service's probe with what its try holds.
struct Live {
    run: Run,
    probe: Probe,
    /// The socket of a connect under way.
    sock: Option<OwnedFd>,
    /// The probe program under way (unreaped).
    child: Option<Pid>,
    /// A failure already said on the log (said once per run).
    said: bool,
}

/// What starting a try gave.
pub enum Begun {
    /// The probe held at once: this main process is ready.
    Ready(Pid),
    /// Under way, or failed at once (the next try is scheduled).
    Pending,
    /// A program must be spawned for service `svc`: the caller spawns it
    /// and hands the result to [`Probes::spawned`].
    Exec { svc: usize, argv: Vec<String> },
}

#[derive(Default)]
pub struct Probes {
    live: Vec<Live>,
    /// Probe programs killed and not reaped yet.
    killed: Vec<Pid>,
}

/// SIGKILL to a probe program's process group (it is its own session, so
/// whatever it started goes too). Only called for unreaped pids.
fn kill(pid: Pid) {
    if pid > 1 {
        let _ =
            nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
    }
}

impl Probes {
    /// Probe `pid` of `svc`, spawned at `now`, with `probe`. A run the
    /// service had already (an earlier process) is dropped.
    pub fn add(&mut self, svc: usize, pid: Pid, probe: Probe, now: Millis) {
        self.retain(|s, _| s != svc);
        self.live.push(Live {
            run: Run::new(svc, pid, now),
            probe,
            sock: None,
            child: None,
            said: false,
        });
    }

    /// Keep only the runs `keep(svc, pid)` wants; the others are dropped:
    /// their sockets closed, their programs killed.
    pub fn retain(&mut self, keep: impl Fn(usize, Pid) -> bool) {
        let killed = &mut self.killed;
        self.live.retain_mut(|l| {
            if keep(l.run.svc, l.run.pid) {
                return true;
            }
            if let Some(pid) = l.child.take() {
                kill(pid);
                killed.push(pid);
            }
            false
        });
    }

    /// Drop every run (before a hot update: the new cinit probes again).
    pub fn drop_all(&mut self) {
        self.retain(|_, _| false);
    }

    /// The sockets whose connect is under way, for `POLLOUT`.
    pub fn poll_fds(&self) -> Vec<BorrowedFd<'_>> {
        self.live
            .iter()
            .filter_map(|l| l.sock.as_ref().map(AsFd::as_fd))
            .collect()
    }

    /// The nearest time a try is due or runs out.
    pub fn next_deadline(&self) -> Option<Millis> {
        self.live.iter().map(|l| l.run.deadline()).min()
    }

    /// Sockets poll reported: a finished connect. Returns the main
    /// processes whose probe held.
    pub fn handle(&mut self, now: Millis, revents: &[(RawFd, PollFlags)]) -> Vec<Pid> {
        let mut ready = Vec::new();
        for (fd, _) in revents.iter().filter(|(_, ev)| !ev.is_empty()) {
            let Some(l) = self
                .live
                .iter_mut()
                .find(|l| l.sock.as_ref().map(AsRawFd::as_raw_fd) == Some(*fd))
            else {
                continue;
            };
            let ok = l
                .sock
                .as_ref()
                .is_some_and(|s| getsockopt(s, sockopt::SocketError).is_ok_and(|e| e == 0));
            // Closed either way: a probe only needs the connect.
            l.sock = None;
            if ok {
                ready.push(l.run.pid);
            } else {
                l.run.fail(now);
            }
        }
        ready
    }

    /// Tries past their deadline fail: a connect is abandoned, a program
    /// killed.
    pub fn expire(&mut self, now: Millis) {
        for l in self.live.iter_mut().filter(|l| l.run.is_overdue(now)) {
            l.sock = None;
            if let Some(pid) = l.child.take() {
                kill(pid);
                self.killed.push(pid);
            }
            l.run.fail(now);
        }
    }

    /// The runs whose next try is due (indices for [`Probes::begin`],
    /// valid until the table changes otherwise).
    pub fn due(&self, now: Millis) -> Vec<usize> {
        (0..self.live.len())
            .filter(|&k| self.live.get(k).is_some_and(|l| l.run.is_due(now)))
            .collect()
    }

    /// Start a try of run `k`.
    pub fn begin(&mut self, k: usize, now: Millis) -> Begun {
        let Some(l) = self.live.get_mut(k) else {
            return Begun::Pending;
        };
        l.run.begin(now, l.probe.try_limit());
        let started = match &l.probe {
            Probe::Exec(argv) => {
                return Begun::Exec {
                    svc: l.run.svc,
                    argv: argv.clone(),
                }
            }
            Probe::Tcp(addr) => connect_tcp(*addr),
            Probe::Unix(path) => connect_unix(path),
        };
        match started {
            Ok(Connect::Done) => return Begun::Ready(l.run.pid),
            Ok(Connect::InProgress(sock)) => l.sock = Some(sock),
            Err(_) => l.run.fail(now),
        }
        Begun::Pending
    }

    /// The program of run `k` was spawned (`Ok(pid)`) or could not be
    /// (`Err(errno)`: a failed try). Returns a line for the log the first
    /// time a run's program cannot be spawned.
    pub fn spawned(&mut self, k: usize, now: Millis, result: Result<Pid, i32>) -> Option<String> {
        let l = self.live.get_mut(k)?;
        match result {
            Ok(pid) => {
                l.child = Some(pid);
                None
            }
            Err(errno) => {
                l.run.fail(now);
                let first = !l.said;
                l.said = true;
                first.then(|| {
                    format!(
                        "ready-probe {}: cannot execute it: {}; trying again",
                        l.probe.line(),
                        Errno::from_raw(errno).desc()
                    )
                })
            }
        }
    }

    /// A child was reaped. `None`: not a probe program. `Some(Some(main))`:
    /// the probe of main process `main` held (exit 0). `Some(None)`: a
    /// probe program that failed or was killed.
    pub fn reaped(&mut self, now: Millis, pid: Pid, status: ExitStatus) -> Option<Option<Pid>> {
        if let Some(at) = self.killed.iter().position(|&p| p == pid) {
            self.killed.swap_remove(at);
            return Some(None);
        }
        let l = self.live.iter_mut().find(|l| l.child == Some(pid))?;
        l.child = None;
        if status.success() {
            return Some(Some(l.run.pid));
        }
        l.run.fail(now);
        Some(None)
    }
}

enum Connect {
    /// Connected already.
    Done,
    /// `EINPROGRESS`: poll for `POLLOUT`, then read `SO_ERROR`.
    InProgress(OwnedFd),
}

fn stream(family: AddressFamily) -> Result<OwnedFd, Errno> {
    socket(
        family,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )
}

fn finish(sock: OwnedFd, result: Result<(), Errno>) -> Result<Connect, Errno> {
    match result {
        Ok(()) => Ok(Connect::Done),
        Err(Errno::EINPROGRESS) => Ok(Connect::InProgress(sock)),
        // EAGAIN: a Unix listener's backlog is full; like a refusal, a
        // failed try (the socket is dropped, closed by PID 1).
        Err(e) => Err(e),
    }
}

fn connect_tcp(addr: SocketAddr) -> Result<Connect, Errno> {
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::Inet,
        SocketAddr::V6(_) => AddressFamily::Inet6,
    };
    let sock = stream(family)?;
    let r = connect(sock.as_raw_fd(), &SockaddrStorage::from(addr));
    finish(sock, r)
}

/// Connect to the Unix socket at `path` without following a link anyone
/// planted: the directories are walked from `/` one at a time with
/// `O_PATH | O_NOFOLLOW` (a link on the way fails the walk), the socket
/// file itself is opened the same way and must be a socket (a link there
/// is opened as the link, and refused), and the connect goes to
/// `/proc/self/fd/N` of that very inode. So a user who can write the
/// socket's directory can make the try fail, never make PID 1 connect to
/// another socket. Unlike [`crate::sys::safepath::open_dir`] the owners are not
/// judged: a daemon's socket directory is often its own user's, and a
/// connect (no bytes sent) gives nothing away. Needs `/proc`, which cinit
/// mounts at boot.
fn connect_unix(path: &Path) -> Result<Connect, Errno> {
    let (dirs, name) = components(path).map_err(|_| Errno::EINVAL)?;
    let flags = libc::O_PATH | libc::O_NOFOLLOW;
    let mut dir = openat(None, OsStr::new("/"), flags | libc::O_DIRECTORY, 0)?;
    for d in dirs {
        dir = openat(Some(&dir), d, flags | libc::O_DIRECTORY, 0)?;
    }
    let file = openat(Some(&dir), name, flags, 0)?;
    if fstat(&file)?.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return Err(Errno::ENOTSOCK);
    }
    let via = format!("/proc/self/fd/{}", file.as_raw_fd());
    let addr = UnixAddr::new(via.as_str())?;
    let sock = stream(AddressFamily::Unix)?;
    let r = connect(sock.as_raw_fd(), &addr);
    finish(sock, r)
}
