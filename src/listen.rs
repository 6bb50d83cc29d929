//! Creating the listening sockets a service's `sockets` file declares
//! ([`crate::socket_conf`]).

use std::os::fd::OwnedFd;

use crate::socket_conf::SocketSpec;

/// Why a socket could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindError {
    /// The errno of the failed call, if a call failed.
    pub errno: Option<i32>,
    /// What failed, naming the address.
    pub message: String,
}

impl std::fmt::Display for BindError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A new socket for `spec`: bound, listening (streams), close-on-exec,
/// blocking.
pub fn bind(spec: &SocketSpec) -> Result<OwnedFd, BindError> {
    Err(BindError {
        errno: Some(libc::ENOSYS),
        message: format!("cannot listen on {}: not implemented", spec.describe()),
    })
}
