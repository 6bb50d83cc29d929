//! The control room's part of the hot-update snapshot: the listening
//! socket and each connected client, as records the snapshot carries, and
//! the control server's side of writing and adopting them.

use std::path::PathBuf;

use super::*;
use crate::proto::wire::{In, Out};

/// One connected control client.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientRecord {
    pub id: u64,
    pub fd: i32,
    pub uid: u32,
    pub input: Vec<u8>,
    pub output: Vec<u8>,
    pub closing: bool,
    pub busy: bool,
    pub deadline: Option<u64>,
}

/// The control socket and its clients.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ControlState {
    pub listener_fd: i32,
    pub path: PathBuf,
    pub next_id: u64,
    pub clients: Vec<ClientRecord>,
    /// Device and inode of the socket file the listener is bound to
    /// (`None`: unknown, e.g. written by an older cinit).
    pub bound: Option<(u64, u64)>,
}

impl ClientRecord {
    /// Write the CLIENT section's payload (tag 7 of the hot-update
    /// snapshot): id, descriptor, uid, unread input, unsent output, the
    /// closing and busy flags, the deadline.
    pub(crate) fn save(&self, o: &mut Out) {
        o.u64(self.id);
        o.i32(self.fd);
        o.u32(self.uid);
        o.bytes(&self.input);
        o.bytes(&self.output);
        o.bool(self.closing);
        o.bool(self.busy);
        o.opt_u64(self.deadline);
    }

    /// Read the CLIENT section's payload; `None` if it is damaged.
    pub(crate) fn load(p: &mut In) -> Option<ClientRecord> {
        Some(ClientRecord {
            id: p.u64()?,
            fd: p.i32()?,
            uid: p.u32()?,
            input: p.bytes()?,
            output: p.bytes()?,
            closing: p.bool()?,
            busy: p.bool()?,
            deadline: p.opt_u64()?,
        })
    }
}

impl ControlState {
    /// Write the CONTROL section's payload (tag 6): the listener's
    /// descriptor, its path, the next client id, then (appended) whether
    /// the bound socket file is known and its device and inode. The clients
    /// go in sections of their own ([`ClientRecord::save`]).
    pub(crate) fn save(&self, o: &mut Out) {
        o.i32(self.listener_fd);
        o.path(&self.path);
        o.u64(self.next_id);
        let (dev, ino) = self.bound.unwrap_or_default();
        o.u8(u8::from(self.bound.is_some()));
        o.u64(dev);
        o.u64(ino);
    }

    /// Read the CONTROL section's payload, without clients; `None` if it
    /// is damaged.
    pub(crate) fn load(p: &mut In) -> Option<ControlState> {
        Some(ControlState {
            listener_fd: p.i32()?,
            path: p.path()?,
            next_id: p.u64()?,
            clients: Vec::new(),
            // Appended field: absent from an older writer.
            bound: (|| {
                let present = p.bool()?;
                let (dev, ino) = (p.u64()?, p.u64()?);
                present.then_some((dev, ino))
            })(),
        })
    }
}

impl Control {
    /// The listener and every client, for the hot-update snapshot. The
    /// descriptors stay owned here (the exec may fail).
    ///
    /// A client with descriptors in transit (passed to us with bytes of a
    /// request not complete yet, or queued to go with a reply) is not
    /// handed over: the snapshot cannot carry them, and a request or reply
    /// without its descriptor would mean something else. Its connection is
    /// close-on-exec, like the descriptors, so the client sees the
    /// connection end (`cinit-ctl` exits 3) and may send the request again;
    /// a descriptor that was being fetched with removal is lost with it.
    /// [`Control::raw_fds`] leaves out the same clients.
    pub fn export(&self) -> ControlState {
        ControlState {
            listener_fd: self.listener.as_raw_fd(),
            path: self.path.clone(),
            next_id: self.next_id,
            bound: self.bound,
            clients: self
                .handed_over()
                .map(|c| ClientRecord {
                    id: c.id,
                    fd: c.fd.as_raw_fd(),
                    uid: c.uid,
                    input: c.input.clone(),
                    output: c.output.clone(),
                    closing: c.closing,
                    busy: c.busy,
                    deadline: c.deadline,
                })
                .collect(),
        }
    }

    /// Every descriptor a hot update hands over (listener first): those
    /// [`Control::export`] names.
    pub fn raw_fds(&self) -> Vec<i32> {
        std::iter::once(self.listener.as_raw_fd())
            .chain(self.handed_over().map(|c| c.fd.as_raw_fd()))
            .collect()
    }

    /// The pidfds pinning the clients' processes: made anew by [`adopt`]
    /// (never handed over), so a restore's sweep must keep them.
    ///
    /// [`adopt`]: Control::adopt
    pub fn pidfds(&self) -> Vec<i32> {
        self.clients.iter().filter_map(|c| c.peer.pidfd()).collect()
    }

    /// Drop the clients a hot update would not hand over (their connections
    /// and descriptors go to the closer rather than to the exec, which
    /// would close them in PID 1).
    pub fn drop_unhanded(&mut self) {
        self.clients.retain(|c| !c.holds_fds());
    }

    /// The clients a hot update hands over: those without descriptors in
    /// transit.
    pub(super) fn handed_over(&self) -> impl Iterator<Item = &Client> {
        self.clients.iter().filter(|c| !c.holds_fds())
    }

    /// Take over the control socket after a hot update. `is_open` tells
    /// whether a descriptor number is really open in this process; clients
    /// whose descriptor is not are dropped (and reported).
    pub fn adopt(
        st: ControlState,
        is_open: impl Fn(i32) -> bool,
    ) -> Result<(Control, Vec<String>), String> {
        if !is_open(st.listener_fd) {
            return Err(format!(
                "the control socket's descriptor {} did not survive",
                st.listener_fd
            ));
        }
        let mut notes = Vec::new();
        // SAFETY: the descriptor is open, and the snapshot names it as the
        // listener that the previous image owned; nothing else owns it now.
        let listener = unsafe { OwnedFd::from_raw_fd(st.listener_fd) };
        let mut clients = Vec::with_capacity(st.clients.len());
        for c in st.clients {
            if c.fd == st.listener_fd || !is_open(c.fd) || clients.len() >= MAX_CLIENTS {
                notes.push(format!("control client {} lost in the update", c.id));
                continue;
            }
            // SAFETY: as above, for a client connection.
            let fd = Foreign::new(unsafe { OwnedFd::from_raw_fd(c.fd) });
            // The kernel keeps the peer's credentials with the connection.
            let pid = getsockopt(&fd, sockopt::PeerCredentials).map_or(0, |cred| cred.pid());
            let peer = Peer::after_update(fd.as_fd(), pid);
            let mut client = Client::new(c.id, fd, c.uid, peer, c.deadline);
            client.input = c.input;
            client.output = c.output;
            client.closing = c.closing;
            client.busy = c.busy;
            clients.push(client);
        }
        let control = Control {
            listener,
            // An older image did not say: then trust the path, which it
            // left as it was.
            bound: st.bound.or_else(|| socket_identity(&st.path)),
            path: st.path,
            clients,
            next_id: st.next_id,
            accept_paused_until: None,
            ready: Vec::new(),
        };
        Ok((control, notes))
    }
}
