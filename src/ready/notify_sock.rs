//! The sd_notify socket: one datagram socket PID 1 binds in its control
//! directory (`/run/cinit/notify`), handed to every `notify-socket`
//! service as `NOTIFY_SOCKET`, and read without ever blocking.
//!
//! One shared socket rather than one per service: one descriptor in PID 1
//! however many services use it, bound once (at the first start that needs
//! it), and one more descriptor across a hot update. The path says nothing
//! about who sent a datagram: the sender is told by the credentials the
//! kernel attaches (`SO_PASSCRED`: `SCM_CREDENTIALS`, the sender's real
//! pid), and the daemon checks that this pid is a process of a service
//! (`daemon/notify.rs`). A path, not an abstract name: an abstract name
//! is in the network namespace, where any process could bind it first; the
//! path is in cinit's own directory, and mode 0666 so a service running as
//! another user can send (credentials, not permissions, decide).
//!
//! Invariants: every receive is `MSG_DONTWAIT | MSG_CMSG_CLOEXEC` into a
//! buffer of [`MAX_DATAGRAM`] bytes with room for [`MAX_FDS`] descriptors;
//! every descriptor received is an [`OwnedFd`] before [`recv`] returns (the
//! caller decides whether it is stored or handed to the closer), and a
//! message the kernel cut (`MSG_TRUNC`, `MSG_CTRUNC`) says so.

use std::mem::size_of;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::errno::Errno;

pub use super::notify::MAX_DATAGRAM;
use crate::proto::wire::{In, Lost, Sections};

/// The socket's name in the control directory.
pub const SOCKET_NAME: &str = "notify";
/// The notify socket's snapshot section tag (doc/DESIGN.md, "Hot update
/// snapshot").
pub const TAG_NOTIFY: u8 = 15;
/// Most descriptors one datagram brings (the kernel's `SCM_MAX_FD`).
pub const MAX_FDS: usize = 253;
/// Most datagrams read per loop iteration: a flood is read over several
/// iterations, between which everything else runs.
pub const MAX_PER_WAKE: usize = 16;

// SAFETY: CMSG_SPACE is arithmetic on its argument; nothing is dereferenced.
const CONTROL_BYTES: usize = unsafe {
    libc::CMSG_SPACE((MAX_FDS * size_of::<i32>()) as u32) as usize
        + libc::CMSG_SPACE(size_of::<libc::ucred>() as u32) as usize
};
const CONTROL_WORDS: usize = CONTROL_BYTES.div_ceil(size_of::<u64>());

/// One datagram.
#[derive(Debug)]
pub struct Datagram {
    pub bytes: usize,
    /// The sender's pid, as seen in our PID namespace (0: outside it).
    pub pid: i32,
    pub uid: u32,
    pub fds: Vec<OwnedFd>,
    /// Cut by the kernel: longer than the buffer, or descriptors that did
    /// not fit.
    pub truncated: bool,
}

/// Bind the socket at `path` (a stale file there is removed first):
/// non-blocking, close-on-exec, `SO_PASSCRED`, mode 0666.
pub fn bind(path: &Path) -> Result<OwnedFd, Errno> {
    use nix::sys::socket::{self, sockopt, AddressFamily, SockFlag, SockType, UnixAddr};
    let fd = socket::socket(
        AddressFamily::Unix,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )?;
    socket::setsockopt(&fd, sockopt::PassCred, &true)?;
    let _ = std::fs::remove_file(path);
    let addr = UnixAddr::new(path)?;
    socket::bind(fd.as_raw_fd(), &addr)?;
    let c =
        std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| Errno::EINVAL)?;
    // SAFETY: chmod on a NUL-terminated path we own.
    if unsafe { libc::chmod(c.as_ptr(), 0o666) } != 0 {
        return Err(Errno::last());
    }
    Ok(fd)
}

/// Receive one datagram into `buf` without waiting (`EAGAIN`: none).
// The lengths are `size_t` in glibc and `socklen_t` in musl.
#[allow(clippy::unnecessary_cast)]
#[inline(never)]
pub fn recv(sock: BorrowedFd<'_>, buf: &mut [u8]) -> Result<Datagram, Errno> {
    let mut control = [0u64; CONTROL_WORDS];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: an all-zero msghdr is valid (null pointers, zero lengths).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    let flags = libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC;
    // SAFETY: `msg` points at `iov` (at `buf`) and `control`, alive for
    // the call; the kernel writes only within the lengths stated.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, flags) };
    if n < 0 {
        return Err(Errno::last());
    }
    let mut d = Datagram {
        bytes: usize::try_from(n).unwrap_or(0).min(buf.len()),
        pid: 0,
        uid: u32::MAX,
        fds: Vec::new(),
        truncated: msg.msg_flags & (libc::MSG_TRUNC | libc::MSG_CTRUNC) != 0,
    };
    let start = msg.msg_control as usize;
    let end = start.saturating_add(msg.msg_controllen as usize);
    // SAFETY: `msg` was filled in by recvmsg; CMSG_FIRSTHDR and
    // CMSG_NXTHDR walk the control data it describes without leaving it.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    while !cmsg.is_null() {
        // SAFETY: a header the walk returned lies inside the buffer.
        let hdr = unsafe { std::ptr::read_unaligned(cmsg) };
        // SAFETY: CMSG_DATA only offsets the pointer; CMSG_LEN is arithmetic.
        let (data, header) = unsafe { (libc::CMSG_DATA(cmsg), libc::CMSG_LEN(0) as usize) };
        let stated = (hdr.cmsg_len as usize).saturating_sub(header);
        let len = stated.min(end.saturating_sub(data as usize));
        if hdr.cmsg_level == libc::SOL_SOCKET {
            if hdr.cmsg_type == libc::SCM_RIGHTS {
                for i in 0..len / size_of::<i32>() {
                    // SAFETY: `i` counts whole descriptors within the data
                    // the kernel wrote; read_unaligned needs no alignment.
                    let raw = unsafe { std::ptr::read_unaligned(data.cast::<i32>().add(i)) };
                    if raw >= 0 {
                        // SAFETY: the kernel installed it for this message.
                        d.fds.push(unsafe { OwnedFd::from_raw_fd(raw) });
                    }
                }
            } else if hdr.cmsg_type == libc::SCM_CREDENTIALS && len >= size_of::<libc::ucred>() {
                // SAFETY: a whole ucred lies within the data the kernel wrote.
                let cred = unsafe { std::ptr::read_unaligned(data.cast::<libc::ucred>()) };
                d.pid = cred.pid;
                d.uid = cred.uid;
            }
        }
        // SAFETY: as for CMSG_FIRSTHDR; null past the last header.
        cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
    }
    Ok(d)
}

/// Write the NOTIFY section: `fd i32`, `dropped u64`. The socket stays
/// owned by the caller (the exec may fail).
pub fn save(fd: RawFd, dropped: u64, out: &mut Sections) {
    out.put(TAG_NOTIFY, |o| {
        o.i32(fd);
        o.u64(dropped);
    });
}

/// Take the socket over from the previous image's NOTIFY section: a
/// descriptor that is open, a socket, and not `taken` by anything adopted
/// before. Returns it (if any) and the count of dropped datagrams.
pub fn load(
    from: &Sections,
    taken: &[RawFd],
    is_open: impl Fn(RawFd) -> bool,
    lost: &mut Lost,
) -> (Option<OwnedFd>, u64) {
    let read = |p: &mut In| Some((p.i32()?, p.u64()?));
    let Some((fd, dropped)) = from.read_last(TAG_NOTIFY, lost, read) else {
        return (None, 0);
    };
    if fd < 3 || taken.contains(&fd) || !is_open(fd) || !is_socket(fd) {
        lost.push(format!(
            "the notify socket (descriptor {fd}); bound again at the next start that needs it"
        ));
        return (None, dropped);
    }
    // SAFETY: an open socket the snapshot names as the previous image's
    // notify socket; nothing adopted before owns it (checked above).
    (Some(unsafe { OwnedFd::from_raw_fd(fd) }), dropped)
}

fn is_socket(fd: RawFd) -> bool {
    // SAFETY: a zeroed stat is a valid buffer; fstat only writes into it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat on any number only reads the descriptor table.
    let rc = unsafe { libc::fstat(fd, &mut st) };
    rc == 0 && st.st_mode & libc::S_IFMT == libc::S_IFSOCK
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixDatagram;

    #[test]
    fn a_datagram_comes_with_its_credentials_and_descriptors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SOCKET_NAME);
        let sock = bind(&path).unwrap();
        let mut buf = [0u8; MAX_DATAGRAM];
        assert_eq!(recv(sock.as_fd(), &mut buf).unwrap_err(), Errno::EAGAIN);
        let client = UnixDatagram::unbound().unwrap();
        client.send_to(b"READY=1", &path).unwrap();
        let d = recv(sock.as_fd(), &mut buf).unwrap();
        assert_eq!(&buf[..d.bytes], b"READY=1");
        assert_eq!(d.pid, std::process::id() as i32);
        assert!(d.fds.is_empty() && !d.truncated);
        // Descriptors come along (SCM_RIGHTS), close-on-exec.
        let file = std::fs::File::open("/dev/null").unwrap();
        let fds = [file.as_raw_fd()];
        let iov = [std::io::IoSlice::new(b"FDSTORE=1")];
        let cmsg = [nix::sys::socket::ControlMessage::ScmRights(&fds)];
        let addr = nix::sys::socket::UnixAddr::new(&path).unwrap();
        nix::sys::socket::sendmsg(
            client.as_raw_fd(),
            &iov,
            &cmsg,
            nix::sys::socket::MsgFlags::empty(),
            Some(&addr),
        )
        .unwrap();
        let d = recv(sock.as_fd(), &mut buf).unwrap();
        assert_eq!(d.fds.len(), 1);
        let flags = nix::fcntl::fcntl(&d.fds[0], nix::fcntl::FcntlArg::F_GETFD).unwrap();
        assert_ne!(flags & libc::FD_CLOEXEC, 0);
        // Too long: cut, and said so.
        client.send_to(&[b'x'; MAX_DATAGRAM + 1], &path).unwrap();
        let d = recv(sock.as_fd(), &mut buf).unwrap();
        assert!(d.truncated);
    }

    #[test]
    fn the_socket_crosses_an_update_only_when_it_is_one() {
        let dir = tempfile::tempdir().unwrap();
        let sock = bind(&dir.path().join(SOCKET_NAME)).unwrap();
        let raw = sock.as_raw_fd();
        let mut s = Sections::default();
        save(raw, 7, &mut s);
        let mut lost = Lost::new();
        let (taken, n) = load(&s, &[raw], |_| true, &mut lost);
        assert!(taken.is_none() && n == 7 && lost.len() == 1);
        let file = std::fs::File::open("/dev/null").unwrap();
        let mut s2 = Sections::default();
        save(file.as_raw_fd(), 0, &mut s2);
        let (none, _) = load(&s2, &[], |_| true, &mut Lost::new());
        assert!(none.is_none(), "not a socket");
        let (got, _) = load(&s, &[], |_| true, &mut Lost::new());
        let got = got.unwrap();
        assert_eq!(got.as_raw_fd(), raw);
        std::mem::forget(sock); // now owned by `got`
    }
}
