//! One control connection: its buffers, its deadline, the descriptors that
//! travel with its bytes, and the non-blocking reads and writes on it (part
//! of [`crate::control`], which keeps the table of connections).
//!
//! Invariants: a connection holds at most [`MAX_FDS_IN`] received
//! descriptors not yet given to a request and at most [`MAX_FDS_OUT`] to be
//! sent; every one is an `OwnedFd`, so a connection that goes (closed,
//! evicted, dropped at its deadline) closes them all. A client that passes
//! more, or more at once than a read takes ([`scm::MAX_FDS`]), is dropped.
//! Whenever the output is thrown away, so are the descriptors anchored in
//! it ([`Client::abort`]).

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::socket::{send, MsgFlags};

use super::{Incoming, CLIENT_DEADLINE_MS, MAX_OUT_PER_CLIENT};
use crate::control_fds::{Anchored, NextSend};
use crate::engine::Millis;
use crate::framing::{read_room, take_request, Framed};
use crate::peer::Peer;
use crate::proto::{self, DecodeError, ErrorCode, Reply, Request};
use crate::scm;

/// Most descriptors a client may have passed that no request has taken
/// yet (one read brings at most [`scm::MAX_FDS`]).
pub const MAX_FDS_IN: usize = 4;
/// Most descriptors waiting to be sent to one client.
pub const MAX_FDS_OUT: usize = 4;

/// One connected client.
pub(super) struct Client {
    pub id: u64,
    pub fd: OwnedFd,
    pub uid: u32,
    /// The peer's pid in our PID namespace (0 from outside it), and its
    /// process pinned at accept ([`crate::peer`]).
    pub peer: Peer,
    pub input: Vec<u8>,
    pub output: Vec<u8>,
    /// Close once the output is flushed.
    pub closing: bool,
    /// A request is being carried out; nothing more is read meanwhile.
    pub busy: bool,
    /// Close at this time; `None` while busy (the operation has its own pace).
    pub deadline: Option<Millis>,
    /// Descriptors received with the input, not yet given to a request.
    pub fds_in: Anchored<OwnedFd>,
    /// Descriptors to send with the output.
    pub fds_out: Anchored<OwnedFd>,
}

impl Client {
    pub fn new(id: u64, fd: OwnedFd, uid: u32, peer: Peer, deadline: Option<Millis>) -> Client {
        Client {
            id,
            fd,
            uid,
            peer,
            input: Vec::with_capacity(256),
            output: Vec::new(),
            closing: false,
            busy: false,
            deadline,
            fds_in: Anchored::new(MAX_FDS_IN),
            fds_out: Anchored::new(MAX_FDS_OUT),
        }
    }

    /// Close at once: nothing more is sent, and every descriptor held for
    /// the connection is closed.
    pub fn abort(&mut self) {
        self.closing = true;
        self.output.clear();
        self.fds_out.clear();
        self.fds_in.clear();
    }

    /// Whether descriptors wait here in either direction.
    pub fn holds_fds(&self) -> bool {
        !self.fds_in.is_empty() || !self.fds_out.is_empty()
    }
}

/// Queue bytes for a client, dropping the client if its queue would exceed
/// [`MAX_OUT_PER_CLIENT`]. With `fd`, the descriptor goes with the first of
/// these bytes; a client that already has [`MAX_FDS_OUT`] waiting is
/// dropped (closing it).
pub(super) fn queue(c: &mut Client, now: Millis, bytes: &[u8], fd: Option<OwnedFd>) {
    if c.output.len().saturating_add(bytes.len()) > MAX_OUT_PER_CLIENT {
        c.abort();
        return;
    }
    if let Some(fd) = fd {
        if bytes.is_empty() || c.fds_out.push(c.output.len(), fd).is_err() {
            c.abort();
            return;
        }
    }
    c.output.extend_from_slice(bytes);
    c.deadline = Some(now.saturating_add(CLIENT_DEADLINE_MS));
}

/// Send what the socket takes now: plain bytes up to the next descriptor,
/// that descriptor with its frame's bytes, and so on. A busy client being
/// streamed to (a log follower) has a deadline only while bytes wait for
/// it, renewed whenever it takes some: a slow reader is dropped, a quiet
/// stream is not.
pub(super) fn flush(c: &mut Client, now: Millis) {
    while !c.output.is_empty() {
        let sent = {
            let sock = c.fd.as_fd();
            match c.fds_out.next_send(c.output.len()) {
                NextSend::WithFd(end, fd) => {
                    let bytes = c.output.get(..end).unwrap_or(&[]);
                    scm::send_with_fd(sock, bytes, fd.as_fd(), false)
                }
                NextSend::Plain(end) => send(
                    sock.as_raw_fd(),
                    c.output.get(..end).unwrap_or(&[]),
                    MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
                ),
            }
        };
        match sent {
            Ok(0) => return, // not expected on a stream; try again later
            Ok(n) => {
                c.output.drain(..n.min(c.output.len()));
                // A descriptor that went along is the client's now: ours
                // is closed here.
                drop(c.fds_out.take_front(n));
                if c.busy {
                    c.deadline = Some(now.saturating_add(CLIENT_DEADLINE_MS));
                }
            }
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => return,
            Err(_) => {
                c.abort();
                return;
            }
        }
    }
    if c.busy {
        c.deadline = None;
    } else if !c.closing {
        c.deadline = Some(now.saturating_add(CLIENT_DEADLINE_MS));
    }
}

/// Read what is available, with any descriptors passed along; return a
/// request once a whole frame is there. Protocol errors are answered and
/// the client is closed after the reply.
pub(super) fn read_request(c: &mut Client, now: Millis) -> Option<Incoming> {
    let mut chunk = [0u8; proto::MAX_REQUEST];
    let buf = chunk.get_mut(..read_room(c.input.len()))?;
    match scm::recv_with_fds(c.fd.as_fd(), buf, false) {
        // More descriptors at once than a read takes: the kernel closed
        // the rest, and this client is not playing by the rules.
        Ok(got) if got.truncated => {
            c.abort();
            return None;
        }
        Ok(got) if got.bytes == 0 => {
            c.abort();
            return None;
        }
        Ok(got) => {
            c.input
                .extend_from_slice(buf.get(..got.bytes).unwrap_or(&[]));
            // They came with this read: anchored at its last byte.
            let last = c.input.len().saturating_sub(1);
            for fd in got.fds {
                if c.fds_in.push(last, fd).is_err() {
                    c.abort();
                    return None;
                }
            }
        }
        Err(Errno::EAGAIN | Errno::EINTR) => return None,
        Err(_) => {
            c.abort();
            return None;
        }
    }
    parse_request(c, now)
}

/// Take one complete request from the client's input buffer, if there is
/// one, with the descriptors that came with its bytes.
pub(super) fn parse_request(c: &mut Client, now: Millis) -> Option<Incoming> {
    let before = c.input.len();
    match take_request(&mut c.input) {
        Framed::Partial => None,
        Framed::Request(request) => {
            c.busy = true;
            c.deadline = None;
            let taken = before.saturating_sub(c.input.len());
            let mut fds = c.fds_in.take_front(taken);
            if !matches!(request, Request::FdStore { .. }) {
                // Only FD_STORE takes a descriptor: others are closed now,
                // not held while the request is carried out.
                fds.clear();
            }
            Some(Incoming {
                client: c.id,
                uid: c.uid,
                pid: c.peer.pid,
                request,
                fds,
            })
        }
        Framed::Refused(e) => {
            refuse(c, now, &e);
            None
        }
    }
}

fn refuse(c: &mut Client, now: Millis, e: &DecodeError) {
    let reply = Reply::Error {
        code: ErrorCode::Protocol,
        message: e.to_string(),
    };
    queue(c, now, &proto::encode_reply(&reply), None);
    c.closing = true;
    c.input.clear();
    c.fds_in.clear();
    flush(c, now);
}
