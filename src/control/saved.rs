//! The control room's part of the hot-update snapshot: the listening
//! socket and each connected client, as records the snapshot carries.

use std::path::PathBuf;

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
