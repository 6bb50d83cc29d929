//! Descriptors passed over a Unix stream socket (`SCM_RIGHTS`): one sent
//! along with a run of bytes, and bytes received together with the
//! descriptors that came with them. Used by the control server
//! (non-blocking) and by `cinit-ctl` (blocking).
//!
//! Invariants: every descriptor received is an [`OwnedFd`] before
//! [`recv_with_fds`] returns, and close-on-exec from the start
//! (`MSG_CMSG_CLOEXEC`), so none can leak into a child or stay open
//! unowned. The control buffer has room for [`MAX_FDS`], the most the
//! kernel attaches to one message (`SCM_MAX_FD`): it never has to close
//! descriptors that did not fit, which it would do in the receiver (for
//! PID 1, a close that may block; see [`crate::fds::closer`]). A message still
//! comes truncated when this process has no free descriptor numbers.
//!
//! The receiving side calls `recvmsg(2)` itself rather than through nix:
//! nix refuses to walk the control data of a truncated message, but the
//! kernel has installed the descriptors that fitted by then, and they would
//! stay open with nobody to close them.

use std::io::IoSlice;
use std::mem::size_of;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, UnixAddr};

/// Most descriptors one receive takes: the kernel's `SCM_MAX_FD`.
pub const MAX_FDS: usize = 253;

/// Bytes of control data for [`MAX_FDS`] descriptors.
// SAFETY: CMSG_SPACE is arithmetic on its argument; nothing is dereferenced.
const CONTROL_BYTES: usize =
    unsafe { libc::CMSG_SPACE((MAX_FDS * size_of::<i32>()) as u32) } as usize;

/// The control buffer, in words so that it is aligned for `cmsghdr`.
pub(crate) const CONTROL_WORDS: usize = CONTROL_BYTES.div_ceil(size_of::<u64>());

/// What one receive brought.
#[derive(Debug)]
pub struct Received {
    /// Bytes written to the front of the buffer; 0 is the end of the stream.
    pub bytes: usize,
    /// The descriptors that came with them, in the order they were sent.
    pub fds: Vec<OwnedFd>,
    /// This process had no room for all the descriptors sent: the kernel
    /// closed those that did not fit.
    pub truncated: bool,
}

/// Receive bytes into `buf` and any descriptors sent with them. Without
/// `wait`, `EAGAIN` when nothing is there; with it, the socket's receive
/// timeout applies (`EAGAIN` when it passes).
pub fn recv_with_fds(sock: BorrowedFd<'_>, buf: &mut [u8], wait: bool) -> Result<Received, Errno> {
    let mut control = [0u64; CONTROL_WORDS];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: an all-zero msghdr is valid: null pointers with zero lengths
    // (musl's padding fields included).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    let mut flags = libc::MSG_CMSG_CLOEXEC;
    if !wait {
        flags |= libc::MSG_DONTWAIT;
    }
    // SAFETY: `msg` points at `iov` (which points at `buf`) and at
    // `control`, all alive for the call and no longer than the lengths
    // stated; the kernel writes only within them.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, flags) };
    if n < 0 {
        return Err(Errno::last());
    }
    // Owned first, whatever else the message says.
    let fds = take_rights(&msg);
    Ok(Received {
        bytes: usize::try_from(n).unwrap_or(0),
        fds,
        truncated: msg.msg_flags & libc::MSG_CTRUNC != 0,
    })
}

/// Every descriptor in the `SCM_RIGHTS` messages of `msg`, as filled in by
/// `recvmsg`, each owned from here on.
// The lengths are `size_t` in glibc and `socklen_t` in musl.
#[allow(clippy::unnecessary_cast)]
fn take_rights(msg: &libc::msghdr) -> Vec<OwnedFd> {
    let mut fds = Vec::new();
    // SAFETY: the kernel installed each descriptor in our table for this
    // message; nothing else knows of it.
    each_right(msg, |raw| fds.push(unsafe { OwnedFd::from_raw_fd(raw) }));
    fds
}

/// Call `f` with each descriptor (`>= 0`) in the `SCM_RIGHTS` messages of
/// `msg`, as filled in by `recvmsg`. Allocates nothing (the closer process
/// calls it in a forked child).
#[allow(clippy::unnecessary_cast)]
pub(crate) fn each_right(msg: &libc::msghdr, mut f: impl FnMut(i32)) {
    let start = msg.msg_control as usize;
    let end = start.saturating_add(msg.msg_controllen as usize);
    // SAFETY: `msg` was filled in by recvmsg: its control pointer and the
    // length the kernel wrote there describe a valid control buffer, which
    // CMSG_FIRSTHDR and CMSG_NXTHDR walk without leaving it.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(msg) };
    while !cmsg.is_null() {
        // SAFETY: a header the walk returned lies inside the buffer;
        // read_unaligned needs no alignment.
        let hdr = unsafe { std::ptr::read_unaligned(cmsg) };
        if hdr.cmsg_level == libc::SOL_SOCKET && hdr.cmsg_type == libc::SCM_RIGHTS {
            // SAFETY: as above; CMSG_DATA only offsets the pointer.
            let data = unsafe { libc::CMSG_DATA(cmsg) };
            // SAFETY: CMSG_LEN is arithmetic on its argument.
            let header = unsafe { libc::CMSG_LEN(0) } as usize;
            let stated = (hdr.cmsg_len as usize).saturating_sub(header);
            // Never past the end of what the kernel wrote.
            let room = end.saturating_sub(data as usize);
            for i in 0..stated.min(room) / size_of::<i32>() {
                // SAFETY: `i` counts whole descriptors within the data the
                // kernel wrote (bounded by `room`); read_unaligned needs no
                // alignment.
                let raw = unsafe { std::ptr::read_unaligned(data.cast::<i32>().add(i)) };
                if raw >= 0 {
                    f(raw);
                }
            }
        }
        // SAFETY: as for CMSG_FIRSTHDR; returns null past the last header.
        cmsg = unsafe { libc::CMSG_NXTHDR(msg, cmsg) };
    }
}

/// Send `bytes` with `fd` attached to the first of them. Returns how many
/// bytes the socket took: once that is at least one, `fd` went along
/// (the receiver has its own copy; ours may be closed). Without `wait`,
/// `EAGAIN` when the socket takes nothing now. Never raises SIGPIPE.
pub fn send_with_fd(
    sock: BorrowedFd<'_>,
    bytes: &[u8],
    fd: BorrowedFd<'_>,
    wait: bool,
) -> Result<usize, Errno> {
    if bytes.is_empty() {
        // A stream socket sends no message for no bytes: the descriptor
        // would silently stay behind.
        return Err(Errno::EINVAL);
    }
    let fds = [fd.as_raw_fd()];
    let mut flags = MsgFlags::MSG_NOSIGNAL;
    if !wait {
        flags |= MsgFlags::MSG_DONTWAIT;
    }
    sendmsg::<UnixAddr>(
        sock.as_raw_fd(),
        &[IoSlice::new(bytes)],
        &[ControlMessage::ScmRights(&fds)],
        flags,
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    /// Where a descriptor of this process points.
    fn link(fd: &impl AsRawFd) -> std::path::PathBuf {
        std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap()
    }

    fn cloexec(fd: &impl AsRawFd) -> bool {
        // SAFETY: F_GETFD on a descriptor we hold.
        let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
        flags & libc::FD_CLOEXEC != 0
    }

    #[test]
    fn a_descriptor_travels_with_the_first_byte_and_arrives_close_on_exec() {
        let (a, b) = UnixStream::pair().unwrap();
        let (pipe_r, pipe_w) = std::io::pipe().unwrap();
        (&a).write_all(b"before").unwrap();
        assert_eq!(
            send_with_fd(a.as_fd(), b"with", pipe_w.as_fd(), true).unwrap(),
            4
        );
        drop(pipe_w);
        let mut buf = [0u8; 6];
        // The bytes before the descriptor's come without it.
        let r = recv_with_fds(b.as_fd(), &mut buf, false).unwrap();
        assert_eq!((r.bytes, r.fds.len(), r.truncated), (6, 0, false));
        let mut buf = [0u8; 16];
        let r = recv_with_fds(b.as_fd(), &mut buf, false).unwrap();
        assert_eq!(&buf[..r.bytes], b"with");
        assert_eq!(r.fds.len(), 1);
        assert_eq!(link(&r.fds[0]), link(&pipe_r));
        assert!(cloexec(&r.fds[0]), "received descriptors are close-on-exec");
        // It is the same pipe: writing to the received end reaches ours.
        let mut w = std::fs::File::from(r.fds.into_iter().next().unwrap());
        w.write_all(b"x").unwrap();
        let mut got = [0u8; 1];
        (&pipe_r).read_exact(&mut got).unwrap();
        assert_eq!(&got, b"x");
    }

    #[test]
    fn the_most_descriptors_a_message_carries_all_arrive() {
        let (a, b) = UnixStream::pair().unwrap();
        let (pipe_r, pipe_w) = std::io::pipe().unwrap();
        let fds = [pipe_w.as_raw_fd(); MAX_FDS];
        // One more than the kernel carries is refused at the sender.
        let more = [pipe_w.as_raw_fd(); MAX_FDS + 1];
        assert!(sendmsg::<UnixAddr>(
            a.as_raw_fd(),
            &[IoSlice::new(b"more")],
            &[ControlMessage::ScmRights(&more)],
            MsgFlags::empty(),
            None,
        )
        .is_err());
        sendmsg::<UnixAddr>(
            a.as_raw_fd(),
            &[IoSlice::new(b"many")],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::empty(),
            None,
        )
        .unwrap();
        drop(pipe_w);
        let mut buf = [0u8; 16];
        let r = recv_with_fds(b.as_fd(), &mut buf, false).unwrap();
        assert!(!r.truncated, "none is closed by the kernel");
        assert_eq!(r.fds.len(), MAX_FDS, "all are ours");
        drop(r);
        // No copy of the write end is left anywhere: the read end sees EOF.
        let mut rest = Vec::new();
        (&pipe_r).read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
    }

    #[test]
    fn nothing_there_is_eagain_and_an_empty_send_is_refused() {
        let (a, b) = UnixStream::pair().unwrap();
        let mut buf = [0u8; 4];
        assert_eq!(
            recv_with_fds(b.as_fd(), &mut buf, false).unwrap_err(),
            Errno::EAGAIN
        );
        assert_eq!(
            send_with_fd(a.as_fd(), b"", a.as_fd(), false).unwrap_err(),
            Errno::EINVAL
        );
        drop(a);
        let r = recv_with_fds(b.as_fd(), &mut buf, false).unwrap();
        assert_eq!((r.bytes, r.fds.len()), (0, 0), "end of stream");
    }
}
