//! The `sockets` file of a service directory: the listening sockets cinit
//! creates for the service and passes to it (socket activation). Pure:
//! parsing only; [`crate::listen`] binds them.
//!
//! (Format to be specified.)

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The file's name in a service directory.
pub const FILE: &str = "sockets";
/// Most sockets one service may declare.
pub const MAX_SOCKETS: usize = 16;

/// Where a socket listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// A Unix socket file; `dgram` for `SOCK_DGRAM`, else a stream.
    Unix {
        path: PathBuf,
        dgram: bool,
    },
    Tcp(SocketAddr),
    Udp(SocketAddr),
}

/// One declared socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketSpec {
    /// Its name in `LISTEN_FDNAMES`.
    pub name: String,
    pub address: Address,
    /// Unix sockets: the socket file's mode.
    pub mode: u32,
    /// Unix sockets: owner and group of the socket file (names or numbers),
    /// `None` = root.
    pub owner: Option<String>,
    pub group: Option<String>,
    /// Stream sockets: the `listen(2)` backlog.
    pub backlog: i32,
}

impl SocketSpec {
    /// How the socket is shown to people: `tcp 0.0.0.0:80`, `unix /run/x`.
    pub fn describe(&self) -> String {
        match &self.address {
            Address::Unix { path, dgram } => format!(
                "{} {}",
                if *dgram { "unix-dgram" } else { "unix" },
                path.display()
            ),
            Address::Tcp(a) => format!("tcp {a}"),
            Address::Udp(a) => format!("udp {a}"),
        }
    }
}

/// Parse a `sockets` file's text. Errors name the line and the reason.
pub fn parse(text: &str) -> Result<Vec<SocketSpec>, String> {
    let _ = text;
    Ok(Vec::new())
}

/// The sockets of the service in `dir`: none without a `sockets` file.
/// Errors name the file and the reason.
pub fn read(dir: &Path) -> Result<Vec<SocketSpec>, String> {
    let path = dir.join(FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => parse(&text).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}
