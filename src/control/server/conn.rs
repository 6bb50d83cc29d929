//! One control connection: its buffers, its deadline, the descriptors that
//! travel with its bytes, and the non-blocking reads and writes on it (part
//! of [`crate::control`], which keeps the table of connections).
//!
//! Invariants: a connection holds at most [`MAX_FDS_IN`] received
//! descriptors not yet given to a request and at most [`MAX_FDS_OUT`] to be
//! sent; every one is a [`Foreign`], so a connection that goes (closed,
//! evicted, dropped at its deadline) hands them all to the closer
//! ([`crate::fds::closer`]). A client that passes more is dropped. Whenever the
//! output is thrown away, so are the descriptors anchored in it
//! ([`Client::abort`]).
//!
//! The connection itself is closed by PID 1 only when no descriptor can be
//! queued in it unread (closing a Unix socket releases what its queue
//! holds, in the closer's place): the client's end of the stream was read;
//! or nothing can be queued any more (the client hung up, or the kernel
//! refuses it descriptors: `SO_PASSRIGHTS` off since accept) and nothing is
//! left unread (`FIONREAD`, one call on these paths only). Otherwise the
//! connection goes to the closer too: in practice, a client that may pass
//! descriptors dropped while still connected (deadline, eviction, protocol
//! error).

use std::os::fd::{AsFd, AsRawFd};

use nix::errno::Errno;
use nix::sys::socket::{send, MsgFlags};

use super::{Incoming, CLIENT_DEADLINE_MS, MAX_OUT_PER_CLIENT};
use crate::control::fds::{Anchored, NextSend};
use crate::control::peer::Peer;
use crate::fds::closer::Foreign;
use crate::fds::scm;
use crate::proto::framing::{read_room, take_request, Framed};
use crate::proto::{self, DecodeError, ErrorCode, Reply, Request};
use crate::sys::clock::Millis;

/// Most descriptors a client may have passed that no request has taken
/// yet (one read brings at most [`scm::MAX_FDS`]).
pub const MAX_FDS_IN: usize = 4;
/// Most descriptors waiting to be sent to one client.
pub const MAX_FDS_OUT: usize = 4;

/// One connected client.
pub(super) struct Client {
    pub id: u64,
    pub fd: Foreign,
    pub uid: u32,
    /// The peer's pid in our PID namespace (0 from outside it), and its
    /// process pinned at accept ([`crate::control::peer`]).
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
    pub fds_in: Anchored<Foreign>,
    /// Descriptors to send with the output.
    pub fds_out: Anchored<Foreign>,
    /// A read found the end of the client's stream: nothing is queued in
    /// it, and nothing can be any more.
    pub eof: bool,
    /// The client closed its end (poll said POLLHUP): nothing more can be
    /// queued, though some may be left unread.
    pub hung_up: bool,
    /// The kernel refuses descriptors sent to this connection (set at
    /// accept, see [`crate::control::socket::guard`]).
    pub refuses_fds: bool,
}

impl Drop for Client {
    fn drop(&mut self) {
        let sealed = self.hung_up || self.refuses_fds;
        if self.eof || (sealed && unread(&self.fd) == Some(0)) {
            self.fd.close_here();
        }
    }
}

/// Bytes queued in a connection that we have not read.
fn unread(fd: &Foreign) -> Option<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int through a valid pointer.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n) };
    (rc == 0).then(|| usize::try_from(n).unwrap_or(usize::MAX))
}

impl Client {
    pub fn new(id: u64, fd: Foreign, uid: u32, peer: Peer, deadline: Option<Millis>) -> Client {
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
            eof: false,
            hung_up: false,
            refuses_fds: false,
        }
    }

    /// Whether this client's input is not read for now: it may carry
    /// descriptors and the closer is behind ([`crate::fds::closer::congested`]).
    pub fn held_back(&self) -> bool {
        !self.refuses_fds && crate::fds::closer::congested()
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
pub(super) fn queue(c: &mut Client, now: Millis, bytes: &[u8], fd: Option<Foreign>) {
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
                // goes to the closer (the client may have closed its copy
                // already).
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
        Ok(got) => {
            // Foreign at once: whatever happens next, they go to the closer.
            let fds: Vec<Foreign> = got.fds.into_iter().map(Foreign::new).collect();
            if got.truncated || got.bytes == 0 {
                // The end of the stream; or we had no room for all the
                // descriptors (the kernel closed the rest).
                c.eof |= got.bytes == 0;
                c.abort();
                return None;
            }
            c.input
                .extend_from_slice(buf.get(..got.bytes).unwrap_or(&[]));
            // They came with this read: anchored at its last byte. More
            // than a connection may hold: the client is dropped.
            let last = c.input.len().saturating_sub(1);
            for fd in fds {
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
