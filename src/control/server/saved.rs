//! The control room's part of the hot-update snapshot: the listening
//! socket (its CONTROL section) and each connected client (a CLIENT
//! section each), written from the live server and read straight back
//! into it ([`Control::save`], [`Control::load`]).

use super::*;
use crate::proto::wire::{In, Lost, Sections};

/// The control server's snapshot section tags (doc/DESIGN.md, "Hot update
/// snapshot", keeps the table of every owner's tags).
pub const TAG_CONTROL: u8 = 6;
pub const TAG_CLIENT: u8 = 7;

/// Read a CLIENT section: the client's id, its descriptor's number, and
/// what builds the client once the descriptor is adopted.
fn read_client(p: &mut In) -> Option<(u64, i32, impl FnOnce(Foreign) -> Client)> {
    let (id, fd, uid) = (p.u64()?, p.i32()?, p.u32()?);
    let (input, output) = (p.bytes()?, p.bytes()?);
    let (closing, busy, deadline) = (p.bool()?, p.bool()?, p.opt_u64()?);
    Some((id, fd, move |conn: Foreign| {
        // The kernel keeps the peer's credentials with the connection.
        let pid = getsockopt(&conn, sockopt::PeerCredentials).map_or(0, |cred| cred.pid());
        let peer = Peer::after_update(conn.as_fd(), pid);
        let mut client = Client::new(id, conn, uid, peer, deadline);
        client.input = input;
        client.output = output;
        client.closing = closing;
        client.busy = busy;
        client
    }))
}

impl Control {
    /// Write the CONTROL section (the listener's descriptor, its path, the
    /// next client id, then (appended) whether the bound socket file is
    /// known and its device and inode), and a CLIENT section per client
    /// handed over (id, descriptor, uid, unread input, unsent output, the
    /// closing and busy flags, the deadline). The descriptors stay owned
    /// here (the exec may fail).
    ///
    /// A client with descriptors in transit (passed to us with bytes of a
    /// request not complete yet, or queued to go with a reply) is not
    /// handed over: the snapshot cannot carry them, and a request or reply
    /// without its descriptor would mean something else. Its connection is
    /// close-on-exec, like the descriptors, so the client sees the
    /// connection end (`cinit-ctl` exits 3) and may send the request again;
    /// a descriptor that was being fetched with removal is lost with it.
    /// [`Control::raw_fds`] leaves out the same clients.
    pub fn save(&self, out: &mut Sections) {
        out.put(TAG_CONTROL, |o| {
            o.i32(self.listener.as_raw_fd());
            o.path(&self.path);
            o.u64(self.next_id);
            let (dev, ino) = self.bound.unwrap_or_default();
            o.u8(u8::from(self.bound.is_some()));
            o.u64(dev);
            o.u64(ino);
        });
        for c in self.handed_over() {
            out.put(TAG_CLIENT, |o| {
                o.u64(c.id);
                o.i32(c.fd.as_raw_fd());
                o.u32(c.uid);
                o.bytes(&c.input);
                o.bytes(&c.output);
                o.bool(c.closing);
                o.bool(c.busy);
                o.opt_u64(c.deadline);
            });
        }
    }

    /// Every descriptor a hot update hands over (listener first): those
    /// [`Control::save`] names.
    pub fn raw_fds(&self) -> Vec<i32> {
        std::iter::once(self.listener.as_raw_fd())
            .chain(self.handed_over().map(|c| c.fd.as_raw_fd()))
            .collect()
    }

    /// The pidfds pinning the clients' processes: made anew by
    /// [`Control::load`] (never handed over), so a restore's sweep must
    /// keep them.
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

    /// Take over the control socket after a hot update, from its CONTROL
    /// and CLIENT sections. `is_open` tells whether a descriptor number is
    /// really open in this process; clients whose descriptor is not are
    /// dropped. `None` when there is no control socket to take over (no
    /// section, a damaged one, or a listener that did not survive). What is
    /// lost goes to `lost`.
    pub fn load(
        from: &Sections,
        is_open: impl Fn(i32) -> bool,
        lost: &mut Lost,
    ) -> Option<Control> {
        let control = from.read_last(TAG_CONTROL, lost, |p| {
            let (listener, path, next_id) = (p.i32()?, p.path()?, p.u64()?);
            // Appended field: absent from an older writer.
            let bound = (|| {
                let present = p.bool()?;
                let (dev, ino) = (p.u64()?, p.u64()?);
                present.then_some((dev, ino))
            })();
            Some((listener, path, next_id, bound))
        });
        let clients = from.read_all(TAG_CLIENT, lost, read_client);
        let clients = clients.into_iter().flatten();
        let Some((listener_fd, path, next_id, bound)) = control else {
            let n = clients.count();
            if n > 0 {
                lost.push(format!("{n} control clients without a control socket"));
            }
            return None;
        };
        if !is_open(listener_fd) {
            lost.push(format!(
                "the control socket's descriptor {listener_fd} did not survive"
            ));
            return None;
        }
        // SAFETY: the descriptor is open, and the snapshot names it as the
        // listener that the previous image owned; nothing else owns it now.
        let listener = unsafe { OwnedFd::from_raw_fd(listener_fd) };
        let mut adopted = Vec::new();
        for (id, fd, build) in clients {
            if fd == listener_fd || !is_open(fd) || adopted.len() >= MAX_CLIENTS {
                lost.push(format!("control client {id} lost in the update"));
                continue;
            }
            // SAFETY: as above, for a client connection.
            adopted.push(build(Foreign::new(unsafe { OwnedFd::from_raw_fd(fd) })));
        }
        Some(Control {
            listener,
            // An older image did not say: then trust the path, which it
            // left as it was.
            bound: bound.or_else(|| socket_identity(&path)),
            path,
            clients: adopted,
            next_id,
            accept_paused_until: None,
            ready: Vec::new(),
        })
    }
}
