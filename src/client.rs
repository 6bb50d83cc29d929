//! The client side of the control protocol, used by `cinit-ctl`: one
//! connection, one request, one reply (or, for a log, a stream of them).
//! Blocking I/O with timeouts is fine here — this is not PID 1.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

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

fn connect(
    socket: &Path,
    req: &Request,
    timeout: Option<Duration>,
) -> Result<UnixStream, ClientError> {
    let mut stream = UnixStream::connect(socket).map_err(|e| {
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
    stream
        .write_all(&proto::encode_request(req))
        .map_err(|e| proto_err("cannot send to", &e))?;
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
