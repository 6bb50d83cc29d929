//! The control socket: a Unix stream socket in a tmpfs control directory,
//! and the table of connected clients. I/O only; requests are decoded by
//! [`crate::proto`] and carried out by [`crate::control::commands`]; one
//! connection's reads and writes are in `control/server/conn.rs`.
//!
//! PID 1 never waits for a client: every socket is non-blocking; at most
//! [`MAX_CLIENTS`] are connected (a new one evicts the oldest idle one);
//! each connection has a deadline while it owes us a request or we owe it
//! bytes; a request is read into a fixed buffer and its announced length is
//! checked before anything else; replies are queued up to
//! [`MAX_OUT_PER_CLIENT`] and a client that does not take them is dropped at
//! its deadline. Unknown opcodes are answered, not disconnected.
//!
//! Descriptors travel both ways (`SCM_RIGHTS`): those a client passes come
//! with the request whose bytes they were sent with ([`Incoming::fds`]);
//! [`Control::reply_with_fd`] sends one with a reply's first byte. At most
//! [`MAX_FDS_IN`] and [`MAX_FDS_OUT`] wait per connection, all owned by it,
//! so a client that goes closes them, through the closer
//! ([`crate::fds::closer`]): PID 1 never makes the last close of a descriptor
//! that came from outside. A peer that may not pass descriptors at all
//! (decided at accept by the caller of [`Control::handle_events`]) has them
//! refused by the kernel where it can (`SO_PASSRIGHTS`, Linux 6.16). A hot update hands over no
//! descriptor in transit: a client holding any is not handed over (see
//! [`Control::save`]).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::poll::PollFlags;
use nix::sys::socket::{accept4, getsockopt, sockopt, SockFlag};

use crate::control::peer::{Peer, Session};
use crate::control::socket::{answers, guard, listen_at, prepare_dir, socket_identity};
use crate::fds::closer::Foreign;
use crate::proto::{self, ErrorCode, Reply, Request};
use crate::sys::clock::Millis;

mod conn;
pub mod saved;
use conn::{flush, parse_request, queue, read_request, Client};
pub use conn::{MAX_FDS_IN, MAX_FDS_OUT};

/// The socket's file name inside the control directory.
pub const SOCKET_NAME: &str = "control";
/// Most clients connected at once.
pub const MAX_CLIENTS: usize = 64;

/// Whose descriptor a poll result is: the listening socket or a client
/// (by its id, which is never reused while cinit runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollKey {
    Listener,
    Client(u64),
}

/// How long a client may take to send a request or to read our reply.
pub const CLIENT_DEADLINE_MS: Millis = 5_000;
/// Most reply bytes queued for one client.
pub const MAX_OUT_PER_CLIENT: usize = 1 << 20;
/// Most connections accepted per wakeup, so a connect storm cannot starve
/// signals and reaping.
const ACCEPTS_PER_WAKEUP: usize = 32;
/// How long to stop polling the listener after EMFILE/ENFILE, so a full
/// descriptor table does not turn into a busy loop.
const ACCEPT_PAUSE_MS: Millis = 100;

/// A decoded request, with who sent it.
#[derive(Debug)]
pub struct Incoming {
    pub client: u64,
    pub uid: u32,
    /// The sender's pid in our PID namespace (0: outside it, or unknown).
    pub pid: i32,
    pub request: Request,
    /// Descriptors that came with the request (`SCM_RIGHTS`), close-on-exec.
    /// Only an FD_STORE keeps them (normally one); those sent with any
    /// other request were dropped (to the closer) as it was read.
    pub fds: Vec<Foreign>,
}

pub struct Control {
    listener: OwnedFd,
    path: PathBuf,
    /// Device and inode of the socket file `listener` is bound to, to tell
    /// whether `path` still names it ([`Control::ensure_listening`]).
    bound: Option<(u64, u64)>,
    clients: Vec<Client>,
    next_id: u64,
    accept_paused_until: Option<Millis>,
    /// Requests already buffered (pipelined behind an earlier one).
    ready: Vec<Incoming>,
}

/// Why there is no control socket.
#[derive(Debug)]
pub enum OpenError {
    /// Another cinit answers on the socket.
    InUse(PathBuf),
    Failed(String),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::InUse(p) => write!(
                f,
                "{} is in use by another running cinit; not listening",
                p.display()
            ),
            OpenError::Failed(msg) => f.write_str(msg),
        }
    }
}

impl Control {
    /// Set up the control directory and listen on its socket.
    /// Returns the server and notes for the console.
    pub fn open(dir: &Path) -> Result<(Control, Vec<String>), OpenError> {
        let mut notes = Vec::new();
        if let Some(note) = prepare_dir(dir).map_err(OpenError::Failed)? {
            notes.push(note);
        }
        let path = dir.join(SOCKET_NAME);
        if std::fs::symlink_metadata(&path).is_ok() {
            // A live listener means another cinit; a refused connect means a
            // stale socket from a dead one, which is replaced.
            if answers(&path)? {
                return Err(OpenError::InUse(path));
            }
            let _ = std::fs::remove_file(&path);
            notes.push(format!("replaced stale socket {}", path.display()));
        }
        let listener = listen_at(&path)?;
        Ok((
            Control {
                listener,
                bound: socket_identity(&path),
                path,
                clients: Vec::with_capacity(MAX_CLIENTS),
                next_id: 1,
                accept_paused_until: None,
                ready: Vec::new(),
            },
            notes,
        ))
    }

    /// Make sure the socket path still names our listener. If the socket
    /// file was removed or replaced, or the control directory's tmpfs was
    /// unmounted, nobody can connect any more: prepare the directory again
    /// (mounting a tmpfs if needed), remove what is at the path unless it is
    /// another live listener, and listen on a fresh socket there.
    /// Connections already queued on the old socket are accepted first
    /// (their requests become ready). Returns a line for the console when
    /// something was wrong, `None` when all is well.
    pub fn ensure_listening(&mut self, now: Millis) -> Option<String> {
        let found = socket_identity(&self.path);
        if found.is_some() && found == self.bound {
            return None;
        }
        let shown = self.path.display().to_string();
        let what = match std::fs::symlink_metadata(&self.path) {
            Err(_) => "was gone",
            Ok(m) if m.file_type().is_socket() => "was replaced by another socket",
            Ok(_) => "was replaced by something else",
        };
        let fail = |why: &dyn std::fmt::Display| {
            Some(format!(
                "control socket {shown} {what}; cannot listen again: {why}"
            ))
        };
        let Some(dir) = self.path.parent().map(Path::to_path_buf) else {
            return fail(&"no directory");
        };
        let mounted = match prepare_dir(&dir) {
            Ok(note) => note,
            Err(e) => return fail(&e),
        };
        if std::fs::symlink_metadata(&self.path).is_ok() {
            match answers(&self.path) {
                Ok(true) => return fail(&"another process listens there; left alone"),
                Ok(false) => {
                    if let Err(e) = std::fs::remove_file(&self.path) {
                        return fail(&e);
                    }
                }
                Err(e) => return fail(&e),
            }
        }
        let listener = match listen_at(&self.path) {
            Ok(l) => l,
            Err(e) => return fail(&e),
        };
        // Nobody can reach the old socket any more, but connections may
        // still wait in its queue.
        let mut drained = Vec::new();
        self.accept_new(now, &mut drained, &|_, _| true);
        self.ready.extend(drained);
        self.listener = listener;
        self.bound = socket_identity(&self.path);
        let mounted = mounted.map(|m| format!(" ({m})")).unwrap_or_default();
        Some(format!(
            "control socket {shown} {what}; listening again{mounted}"
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The descriptors to poll and for what, each with the key that
    /// [`Control::handle_events`] expects back with its events.
    pub fn poll_interest(
        &self,
        now: Millis,
    ) -> impl Iterator<Item = (BorrowedFd<'_>, PollFlags, PollKey)> + '_ {
        let paused = self.accept_paused_until.is_some_and(|t| t > now);
        let listen = if paused {
            PollFlags::empty()
        } else {
            PollFlags::POLLIN
        };
        let clients = self.clients.iter().map(|c| {
            let mut flags = PollFlags::empty();
            if !c.busy && !c.closing && !c.held_back() {
                flags |= PollFlags::POLLIN;
            }
            if !c.output.is_empty() {
                flags |= PollFlags::POLLOUT;
            }
            (c.fd.as_fd(), flags, PollKey::Client(c.id))
        });
        std::iter::once((self.listener.as_fd(), listen, PollKey::Listener)).chain(clients)
    }

    /// The earliest client deadline (or the end of an accept pause).
    pub fn next_deadline(&self) -> Option<Millis> {
        self.clients
            .iter()
            .filter_map(|c| c.deadline)
            .chain(self.accept_paused_until)
            .min()
    }

    /// Act on poll results (each with the key [`Control::poll_interest`]
    /// gave; in any order, quiet ones may be left out) and return the
    /// complete requests read. `may_pass(uid, pid)`: whether a new client
    /// may pass descriptors at all.
    pub fn handle_events(
        &mut self,
        now: Millis,
        revents: &[(PollKey, PollFlags)],
        may_pass: &dyn Fn(u32, i32) -> bool,
    ) -> Vec<Incoming> {
        let mut incoming = std::mem::take(&mut self.ready);
        // Clients first, last connected first (requests of one wakeup are
        // carried out in that order), then new connections. A key whose
        // client is gone meanwhile matches nothing.
        for c in self.clients.iter_mut().rev() {
            let Some(&(_, ev)) = revents.iter().find(|(k, _)| *k == PollKey::Client(c.id)) else {
                continue;
            };
            if ev.contains(PollFlags::POLLOUT) {
                flush(c, now);
            }
            let gone = ev.intersects(PollFlags::POLLHUP | PollFlags::POLLERR);
            c.hung_up |= ev.contains(PollFlags::POLLHUP);
            if gone && (c.busy || c.closing || c.held_back()) {
                // poll reports a hang-up even when not asked for; a client
                // that left while waiting (or while its input is held back)
                // must go now, or the loop would spin.
                c.abort();
                continue;
            }
            if (ev.intersects(PollFlags::POLLIN) || gone) && !c.busy && !c.closing && !c.held_back()
            {
                if let Some(req) = read_request(c, now) {
                    incoming.push(req);
                }
            }
        }
        if revents
            .iter()
            .any(|(k, e)| *k == PollKey::Listener && e.contains(PollFlags::POLLIN))
        {
            self.accept_new(now, &mut incoming, may_pass);
        }
        self.reap_closed();
        incoming
    }

    /// Queue a reply for `client` (if it is still connected). A request the
    /// client had already sent behind this one becomes ready.
    pub fn reply(&mut self, client: u64, now: Millis, reply: &Reply) {
        self.answer(client, now, reply, None);
    }

    /// [`Control::reply`] with a descriptor sent along (`SCM_RIGHTS`) with
    /// the reply's first byte. Ours is closed once it was sent, or when the
    /// client goes away first. A client that already has [`MAX_FDS_OUT`]
    /// descriptors waiting for it (it does not read) is dropped.
    pub fn reply_with_fd(&mut self, client: u64, now: Millis, reply: &Reply, fd: Foreign) {
        self.answer(client, now, reply, Some(fd));
    }

    fn answer(&mut self, client: u64, now: Millis, reply: &Reply, fd: Option<Foreign>) {
        if let Some(c) = self.clients.iter_mut().find(|c| c.id == client) {
            c.busy = false;
            let mut bytes = proto::encode_reply(reply);
            let mut fd = fd;
            if bytes.len() > MAX_OUT_PER_CLIENT {
                // Say why rather than close the connection without a word.
                bytes = proto::encode_reply(&Reply::Error {
                    code: ErrorCode::Failed,
                    message: format!(
                        "the reply ({} bytes) is larger than a client may be sent \
                         at once ({MAX_OUT_PER_CLIENT} bytes); ask for fewer services by name",
                        bytes.len()
                    ),
                });
                fd = None; // an error carries none
            }
            queue(c, now, &bytes, fd);
            flush(c, now);
            if !c.closing {
                if let Some(next) = parse_request(c, now) {
                    self.ready.push(next);
                }
            }
        }
        self.reap_closed();
    }

    /// Queue one frame of a streamed answer (a log) for `client`, which
    /// stays busy: nothing more is read from it meanwhile. The stream ends
    /// with an ordinary [`Control::reply`]. Returns false if the client is
    /// gone (or was dropped because its queue overflowed).
    pub fn push(&mut self, client: u64, now: Millis, reply: &Reply) -> bool {
        let Some(c) = self.clients.iter_mut().find(|c| c.id == client) else {
            return false;
        };
        queue(c, now, &proto::encode_reply(reply), None);
        flush(c, now);
        let alive = !c.closing;
        self.reap_closed();
        alive
    }

    /// Reply bytes queued for `client` and not yet taken by its socket
    /// (`None` if it is not connected): how streams are paced.
    pub fn queued(&self, client: u64) -> Option<usize> {
        self.clients
            .iter()
            .find(|c| c.id == client && !c.closing)
            .map(|c| c.output.len())
    }

    /// Send every client what its socket takes now (before reboot or exec).
    pub fn flush_all(&mut self, now: Millis) {
        for c in &mut self.clients {
            flush(c, now);
        }
    }

    /// Whether requests are waiting to be handled without any new I/O.
    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Clients waiting for the answer to a request.
    pub fn busy_clients(&self) -> Vec<u64> {
        self.clients
            .iter()
            .filter(|c| c.busy)
            .map(|c| c.id)
            .collect()
    }

    /// The pid of `client`'s process, if it is in our PID namespace.
    pub fn peer_pid(&self, client: u64) -> Option<i32> {
        self.clients
            .iter()
            .find(|c| c.id == client)
            .map(|c| c.peer.pid)
            .filter(|&p| p > 1)
    }

    /// The session of `client`'s process, if that process (the one that
    /// connected) is still there: see [`Peer::session`]. A client no longer
    /// connected is [`Session::Gone`].
    pub fn peer_session(&self, client: u64) -> Session {
        self.clients
            .iter()
            .find(|c| c.id == client)
            .map_or(Session::Gone, |c| c.peer.session())
    }

    /// Whether `client` is still connected.
    pub fn is_connected(&self, client: u64) -> bool {
        self.clients.iter().any(|c| c.id == client)
    }

    /// Drop clients whose deadline has passed; end an accept pause.
    pub fn expire(&mut self, now: Millis) {
        for c in &mut self.clients {
            if c.deadline.is_some_and(|d| d <= now) {
                c.abort();
            }
        }
        if self.accept_paused_until.is_some_and(|t| t <= now) {
            self.accept_paused_until = None;
        }
        self.reap_closed();
    }

    fn reap_closed(&mut self) {
        self.clients.retain(|c| !(c.closing && c.output.is_empty()));
    }

    /// Accept waiting connections. A client usually sends its request right
    /// after connecting: it is read at once, without waiting for another
    /// poll round, and a complete one is added to `incoming`.
    fn accept_new(
        &mut self,
        now: Millis,
        incoming: &mut Vec<Incoming>,
        may_pass: &dyn Fn(u32, i32) -> bool,
    ) {
        for _ in 0..ACCEPTS_PER_WAKEUP {
            let raw = match accept4(
                self.listener.as_raw_fd(),
                SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
            ) {
                Ok(fd) => fd,
                Err(Errno::EINTR | Errno::ECONNABORTED) => continue,
                Err(Errno::EMFILE | Errno::ENFILE | Errno::ENOBUFS | Errno::ENOMEM) => {
                    self.accept_paused_until = Some(now.saturating_add(ACCEPT_PAUSE_MS));
                    return;
                }
                Err(_) => return, // EAGAIN: no more pending connections
            };
            // SAFETY: accept4 returned a new descriptor that nothing else owns.
            let fd = unsafe { OwnedFd::from_raw_fd(raw) };
            let Ok(cred) = getsockopt(&fd, sockopt::PeerCredentials) else {
                continue; // no credentials, no service: drop it
            };
            if self.clients.len() >= MAX_CLIENTS {
                // Evict the oldest client that is not waiting for an operation.
                match self.clients.iter().position(|c| !c.busy) {
                    Some(oldest) => {
                        self.clients.remove(oldest);
                    }
                    None => continue, // all busy: the newcomer is dropped
                }
            }
            // Pinned now: by the time a request comes, the pid may be
            // another process's.
            let peer = Peer::at_accept(fd.as_fd(), cred.pid());
            let refuses_fds = guard(&fd, !may_pass(cred.uid(), cred.pid()));
            let mut client = Client::new(
                self.next_id,
                Foreign::new(fd),
                cred.uid(),
                peer,
                Some(now.saturating_add(CLIENT_DEADLINE_MS)),
            );
            client.refuses_fds = refuses_fds;
            self.next_id += 1;
            if !client.held_back() {
                if let Some(req) = read_request(&mut client, now) {
                    incoming.push(req);
                }
            }
            self.clients.push(client);
        }
    }
}

#[cfg(test)]
mod tests;
