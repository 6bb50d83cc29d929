//! The client side of the control protocol, used by `cinit-ctl`: one
//! connection, one request, one reply (or, for a log, a stream of them).
//! Blocking I/O with timeouts is fine here — this is not PID 1.
//!
//! The fd store's requests pass descriptors ([`crate::fds::scm`]): one goes with
//! the first byte of an FD_STORE request ([`request_with_fd`]), and one comes
//! with the first byte of an FD_PASSED reply ([`request_fd`]). Such a reply
//! is read with `recvmsg` throughout and never past its frame, so the
//! descriptor is not lost to a plain read and is not mistaken for another
//! frame's.

use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use nix::errno::Errno;

use crate::fds::scm;
use crate::proto::{self, DecodeError, Reply, Request};

#[derive(Debug)]
pub enum ClientError {
    /// The socket could not be reached.
    Connect(String),
    /// The connection broke or the reply was not understood.
    Protocol(String),
    /// No reply within the timeout the caller gave.
    TimedOut(String),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Connect(m) | ClientError::Protocol(m) | ClientError::TimedOut(m) => {
                f.write_str(m)
            }
        }
    }
}

/// Send `req` to the cinit listening on `socket` and read its reply.
/// `timeout` bounds the wait for the reply (`None`: wait as long as it takes,
/// for operations such as `start` that end when the services do).
pub fn request(
    socket: &Path,
    req: &Request,
    timeout: Option<Duration>,
) -> Result<Reply, ClientError> {
    request_held(socket, req, timeout).map(|(reply, _)| reply)
}

/// [`request`], also returning the open connection. Holding it tells cinit
/// the client is still there: after a reboot request, cinit waits (up to a
/// second) for the requester to go before it signals every process, so the
/// answer can be printed first.
pub fn request_held(
    socket: &Path,
    req: &Request,
    timeout: Option<Duration>,
) -> Result<(Reply, UnixStream), ClientError> {
    let mut stream = connect(socket, req, timeout)?;
    let reply = read_reply(&mut stream, socket)?;
    Ok((reply, stream))
}

/// Send `req` and hand every reply frame to `on_reply` until it returns
/// false (the last frame of a stream). `timeout` bounds the wait for each
/// frame (`None`: forever, for a follower).
pub fn stream(
    socket: &Path,
    req: &Request,
    timeout: Option<Duration>,
    mut on_reply: impl FnMut(Reply) -> bool,
) -> Result<(), ClientError> {
    let mut stream = connect(socket, req, timeout)?;
    while on_reply(read_reply(&mut stream, socket)?) {}
    Ok(())
}

/// Send `req` with descriptor `fd` attached to its first byte (FD_STORE)
/// and read the reply. `timeout` as for [`request`].
pub fn request_with_fd(
    socket: &Path,
    req: &Request,
    fd: BorrowedFd<'_>,
    timeout: Option<Duration>,
) -> Result<Reply, ClientError> {
    let stream = open(socket, timeout)?;
    match send_request_with_fd(&stream, req, fd) {
        Ok(()) => {}
        // cinit turned descriptor passing off for this connection
        // (`SO_PASSRIGHTS`, Linux 6.16+): the kernel refuses the message.
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => return Ok(refused_fds()),
        Err(e) => {
            let m = format!("cannot send to {}: {e}", socket.display());
            return Err(ClientError::Protocol(m));
        }
    }
    read_reply_with_fd(&stream, socket).map(|(reply, _)| reply)
}

/// The answer to a descriptor the kernel would not pass because cinit
/// refuses descriptors from this process: a permission error, as cinit
/// gives when it reads the request first.
fn refused_fds() -> Reply {
    Reply::Error {
        code: proto::ErrorCode::Permission,
        message: "permission denied: cinit takes descriptors only from root and from \
                  processes of services with an fdstore file"
            .to_string(),
    }
}

/// Send `req` and read a reply that may carry a descriptor (FD_FETCH,
/// answered by FD_PASSED): the reply and the descriptor that came with it,
/// close-on-exec. `timeout` as for [`request`].
pub fn request_fd(
    socket: &Path,
    req: &Request,
    timeout: Option<Duration>,
) -> Result<(Reply, Option<OwnedFd>), ClientError> {
    let stream = connect(socket, req, timeout)?;
    read_reply_with_fd(&stream, socket)
}

/// Write the frame of `req` on `stream` with `fd` attached to its first
/// byte (`SCM_RIGHTS`).
pub fn send_request_with_fd(
    stream: &UnixStream,
    req: &Request,
    fd: BorrowedFd<'_>,
) -> std::io::Result<()> {
    let frame = proto::encode_request(req);
    let sent = loop {
        match scm::send_with_fd(stream.as_fd(), &frame, fd, true) {
            Err(Errno::EINTR) => {}
            other => break other.map_err(std::io::Error::from)?,
        }
    };
    // The descriptor went with the first chunk; the rest is plain bytes.
    let mut out = stream;
    out.write_all(frame.get(sent..).unwrap_or(&[]))
}

/// Read one reply frame from `stream`, and the descriptor that came with
/// it, if any (more than one: the first; the others are closed). Only the
/// frame's own bytes are read, each read with `recvmsg`. `socket` names the
/// server in errors.
pub fn read_reply_with_fd(
    stream: &UnixStream,
    socket: &Path,
) -> Result<(Reply, Option<OwnedFd>), ClientError> {
    let proto_err = |what: &str, e: &dyn std::fmt::Display| {
        ClientError::Protocol(format!("{what} {}: {e}", socket.display()))
    };
    let mut frame = vec![0u8; proto::HEADER_LEN];
    let mut fds = Vec::new();
    let mut have = 0;
    let mut header_read = false;
    while have < frame.len() {
        let buf = frame.get_mut(have..).unwrap_or(&mut []);
        let got = match scm::recv_with_fds(stream.as_fd(), buf, true) {
            Ok(got) => got,
            Err(Errno::EINTR) => continue,
            Err(Errno::EAGAIN) if have == 0 => {
                return Err(ClientError::TimedOut(format!(
                    "no reply from {} in time",
                    socket.display()
                )))
            }
            Err(e) => return Err(proto_err("no reply from", &e)),
        };
        if got.truncated {
            return Err(proto_err("bad reply from", &"too many descriptors"));
        }
        if got.bytes == 0 {
            return Err(proto_err(
                if have == 0 {
                    "no reply from"
                } else {
                    "truncated reply from"
                },
                &"connection closed",
            ));
        }
        fds.extend(got.fds);
        have += got.bytes;
        if have == proto::HEADER_LEN && !header_read {
            header_read = true;
            let h = proto::decode_header(&frame, proto::MAX_REPLY)
                .map_err(|e: DecodeError| proto_err("bad reply from", &e))?;
            frame.resize(h.frame_len, 0);
        }
    }
    let reply = proto::decode_reply(&frame).map_err(|e| proto_err("bad reply from", &e))?;
    Ok((reply, fds.into_iter().next()))
}

/// A connection to `socket` with `timeout` for replies.
fn open(socket: &Path, timeout: Option<Duration>) -> Result<UnixStream, ClientError> {
    let stream = UnixStream::connect(socket).map_err(|e| {
        ClientError::Connect(format!(
            "cannot connect to {}: {e}; is cinit running? (set CINIT_CTL_DIR if its control directory is elsewhere; if the socket was removed, `kill -CONT 1` makes cinit listen again)",
            socket.display()
        ))
    })?;
    let proto_err = |what: &str, e: &dyn std::fmt::Display| {
        ClientError::Protocol(format!("{what} {}: {e}", socket.display()))
    };
    stream
        .set_write_timeout(Some(Duration::from_secs(10)))
        .and_then(|()| stream.set_read_timeout(timeout))
        .map_err(|e| proto_err("cannot set timeouts on", &e))?;
    Ok(stream)
}

fn connect(
    socket: &Path,
    req: &Request,
    timeout: Option<Duration>,
) -> Result<UnixStream, ClientError> {
    let mut stream = open(socket, timeout)?;
    stream
        .write_all(&proto::encode_request(req))
        .map_err(|e| ClientError::Protocol(format!("cannot send to {}: {e}", socket.display())))?;
    Ok(stream)
}

fn read_reply(stream: &mut UnixStream, socket: &Path) -> Result<Reply, ClientError> {
    let proto_err = |what: &str, e: &dyn std::fmt::Display| {
        ClientError::Protocol(format!("{what} {}: {e}", socket.display()))
    };
    let mut header = [0u8; proto::HEADER_LEN];
    stream.read_exact(&mut header).map_err(|e| match e.kind() {
        // What a read timeout looks like (EAGAIN, or ETIMEDOUT elsewhere).
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            ClientError::TimedOut(format!("no reply from {} in time", socket.display()))
        }
        _ => proto_err("no reply from", &e),
    })?;
    let h = proto::decode_header(&header, proto::MAX_REPLY)
        .map_err(|e: DecodeError| proto_err("bad reply from", &e))?;
    let mut frame = header.to_vec();
    frame.resize(h.frame_len, 0);
    stream
        .read_exact(frame.get_mut(proto::HEADER_LEN..).unwrap_or(&mut []))
        .map_err(|e| proto_err("truncated reply from", &e))?;
    proto::decode_reply(&frame).map_err(|e| proto_err("bad reply from", &e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    fn link(fd: &impl AsRawFd) -> std::path::PathBuf {
        std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap()
    }

    #[test]
    fn a_request_carries_its_descriptor_with_its_first_byte() {
        let (client, server) = UnixStream::pair().unwrap();
        let (pipe_r, _pipe_w) = std::io::pipe().unwrap();
        let req = Request::FdStore {
            service: "web".into(),
            name: "conn".into(),
        };
        send_request_with_fd(&client, &req, pipe_r.as_fd()).unwrap();
        let frame = proto::encode_request(&req);
        let mut buf = vec![0u8; frame.len()];
        let got = scm::recv_with_fds(server.as_fd(), &mut buf, true).unwrap();
        assert_eq!(got.bytes, frame.len(), "one frame, one message");
        assert_eq!(buf, frame);
        assert_eq!(got.fds.len(), 1);
        assert_eq!(link(&got.fds[0]), link(&pipe_r));
    }

    #[test]
    fn a_reply_brings_its_own_descriptor_and_no_other_frames() {
        let (client, server) = UnixStream::pair().unwrap();
        let (pipe_r, _pipe_w) = std::io::pipe().unwrap();
        let before = proto::encode_reply(&Reply::Ok { message: None });
        let passed = proto::encode_reply(&Reply::FdPassed {
            name: "conn".into(),
        });
        // A plain frame, then the FD_PASSED frame sent in two pieces: the
        // descriptor with the first 3 bytes, the rest without.
        (&server).write_all(&before).unwrap();
        scm::send_with_fd(server.as_fd(), &passed[..3], pipe_r.as_fd(), true).unwrap();
        (&server).write_all(&passed[3..]).unwrap();
        let socket = Path::new("test");
        let (reply, fd) = read_reply_with_fd(&client, socket).unwrap();
        assert_eq!(reply, Reply::Ok { message: None });
        assert!(fd.is_none(), "the next frame's descriptor stays with it");
        let (reply, fd) = read_reply_with_fd(&client, socket).unwrap();
        assert_eq!(
            reply,
            Reply::FdPassed {
                name: "conn".into()
            }
        );
        assert_eq!(link(&fd.unwrap()), link(&pipe_r));
        // The connection ends: a clear error, no hang.
        drop(server);
        match read_reply_with_fd(&client, socket) {
            Err(ClientError::Protocol(m)) => assert!(m.contains("connection closed"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_reply_that_does_not_come_in_time_is_a_timeout() {
        let (client, _server) = UnixStream::pair().unwrap();
        client
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        assert!(matches!(
            read_reply_with_fd(&client, Path::new("test")),
            Err(ClientError::TimedOut(_))
        ));
    }
}
