//! The closer process (part of [`crate::fds::closer`]): started with `fork()`
//! from PID 1, which is single-threaded, it keeps only its end of a
//! `SOCK_SEQPACKET` socket pair, receives descriptors on it and closes
//! them once PID 1 has released them (see [`crate::fds::closer`]), and
//! exits at the end of the socket (PID 1 closed its end, or a hot update's
//! exec did) or after [`IDLE_S`] without work and holding nothing. It runs
//! no code of PID 1's after the fork but its own loop, allocates nothing,
//! and never returns into (a copy of) the event loop. It is reaped like any
//! child: [`crate::fds::closer::reaped`] tells it apart; a hot update's new
//! image does not know it and reaps it as an orphan.

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::socket::{send, sendmsg, ControlMessage, MsgFlags, UnixAddr};

use super::Helpers;
use crate::fds::scm;
use crate::sys::process::Pid;

/// A closer exits after this long without a descriptor to close.
const IDLE_S: i64 = 10;
/// Its name in `ps` (`/proc/PID/comm`).
pub const NAME: &[u8] = b"cinit-closer\0";

/// A running closer, as PID 1 sees it.
#[derive(Debug)]
pub struct Process {
    pid: Pid,
    /// Our end of its socket (close-on-exec: a hot update's exec closes it,
    /// and the closer sees the end).
    sock: OwnedFd,
}

/// The real thing.
pub struct Real;

impl Helpers for Real {
    type Helper = Process;

    fn start(&mut self) -> Result<Process, Errno> {
        let mut pair = [-1; 2];
        // SAFETY: socketpair writes two descriptors through a valid pointer.
        let rc = unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
                0,
                pair.as_mut_ptr(),
            )
        };
        if rc != 0 {
            return Err(Errno::last());
        }
        // SAFETY: both descriptors were just made and nothing else owns them.
        let (ours, theirs) =
            unsafe { (OwnedFd::from_raw_fd(pair[0]), OwnedFd::from_raw_fd(pair[1])) };
        // SAFETY: PID 1 is single-threaded; the child runs only `serve`,
        // which makes system calls on its own stack and ends with _exit.
        match unsafe { libc::fork() } {
            0 => serve(theirs.as_raw_fd()),
            -1 => Err(Errno::last()),
            pid => Ok(Process { pid, sock: ours }),
        }
    }

    fn pid(&self, h: &Process) -> Pid {
        h.pid
    }

    fn send(&mut self, h: &Process, fds: &[RawFd]) -> Result<(), Errno> {
        sendmsg::<UnixAddr>(
            h.sock.as_raw_fd(),
            &[IoSlice::new(b"c")],
            &[ControlMessage::ScmRights(fds)],
            MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
            None,
        )
        .map(drop)
    }

    fn release(&mut self, h: &Process) -> Result<(), Errno> {
        send(
            h.sock.as_raw_fd(),
            b"r",
            MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
        )
        .map(drop)
    }

    fn unread(&mut self, h: &Process) -> Option<usize> {
        let mut n: libc::c_int = 0;
        // SAFETY: SIOCOUTQ (the same number as TIOCOUTQ, which the libc
        // crate names) writes one int through a valid pointer; on a Unix
        // socket it is the memory of what was sent and not taken yet.
        let rc = unsafe { libc::ioctl(h.sock.as_fd().as_raw_fd(), libc::TIOCOUTQ, &mut n) };
        (rc == 0).then(|| usize::try_from(n).unwrap_or(0))
    }

    fn kill(&mut self, h: Process) {
        // SAFETY: kill(2) has no memory effects; the pid is our child's, not
        // reaped yet, so it names no other process.
        unsafe { libc::kill(h.pid, libc::SIGKILL) };
        drop(h.sock);
    }

    fn forget(&mut self, h: Process) {
        drop(h.sock);
    }
}

/// The closer's whole life, in the forked child: keep only `sock`, then
/// close every descriptor that comes over it.
fn serve(sock: RawFd) -> ! {
    // SAFETY: plain system calls on values of this function; nothing is
    // shared with PID 1 any more (a forked copy), nothing is allocated, and
    // the process ends with _exit, never unwinding into PID 1's code.
    unsafe {
        libc::prctl(libc::PR_SET_NAME, NAME.as_ptr());
        // PID 1 blocks the signals it reads from its signalfd: a shutdown's
        // SIGTERM must end the closer.
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
        // Its socket at 0, nothing else open: it holds no copy of PID 1's
        // descriptors (not the last ones: PID 1 lets go of one only through
        // a message to this process, read after this).
        if sock != 0 && libc::dup2(sock, 0) != 0 {
            libc::_exit(1);
        }
        if libc::syscall(libc::SYS_close_range, 1u32, u32::MAX, 0u32) != 0 {
            for fd in 1..65_536 {
                libc::close(fd);
            }
        }
        let idle = libc::timeval {
            tv_sec: IDLE_S,
            tv_usec: 0,
        };
        libc::setsockopt(
            0,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&idle as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        );
        let mut byte = [0u8; 1];
        let mut control = [0u64; scm::CONTROL_WORDS];
        // What the last message brought, not closed until PID 1 says its
        // own copies are (the next message of any kind, or the end).
        let mut held = [-1 as RawFd; scm::MAX_FDS];
        let mut holding = 0usize;
        loop {
            let mut iov = libc::iovec {
                iov_base: byte.as_mut_ptr().cast(),
                iov_len: byte.len(),
            };
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = std::mem::size_of_val(&control) as _;
            let n = libc::recvmsg(0, &mut msg, libc::MSG_CMSG_CLOEXEC);
            let err = (n < 0).then(Errno::last);
            if err == Some(Errno::EINTR) {
                continue;
            }
            // Idle, but holding what PID 1 has not released yet: the
            // release, the end of the socket or a SIGKILL comes; wait on.
            if err == Some(Errno::EAGAIN) && holding > 0 {
                continue;
            }
            // Any message means PID 1's copies of what is held are closed
            // (it sends nothing before that); so does the end of the
            // socket. This is what may block, here rather than in PID 1.
            for fd in held.iter().take(holding) {
                libc::close(*fd);
            }
            holding = 0;
            if n <= 0 {
                // The end of the socket, or idle with nothing held: done.
                libc::_exit(0);
            }
            scm::each_right(&msg, |fd| match held.get_mut(holding) {
                Some(slot) => {
                    *slot = fd;
                    holding += 1;
                }
                // Not reachable: a message brings at most MAX_FDS. Better a
                // close now than a descriptor lost.
                None => {
                    libc::close(fd);
                }
            });
        }
    }
}
