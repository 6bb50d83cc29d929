//! Floor 4 of the house (doc/DESIGN.md, "Rooms"): it may import the rooms of floors 0 to
//! 3. The control socket and its connections (`server.rs`), who is calling
//! ([`peer`]), descriptors on a connection ([`fds`]), carrying out the
//! requests ([`commands`], through its [`commands::Host`] seam, so without
//! the daemon's concrete host), requests that wait ([`pending`], [`wait`],
//! [`logfollow`]), the boot timeline reply ([`timeline`]), `signal` and `reload` (`signal.rs`) and what a hot
//! update keeps of it all ([`saved`]). The fd store's requests, which need
//! the descriptors sent along and the caller's process, are carried out by
//! the daemon.

pub mod commands;
pub mod fault;
pub mod fds;
pub mod logfollow;
pub mod peer;
pub mod pending;
mod server;
mod signal;
pub mod socket;
pub mod timeline;
pub mod wait;
pub use server::saved;
pub use server::{
    Control, Incoming, OpenError, PollKey, CLIENT_DEADLINE_MS, MAX_CLIENTS, MAX_FDS_IN,
    MAX_FDS_OUT, MAX_OUT_PER_CLIENT, SOCKET_NAME,
};
