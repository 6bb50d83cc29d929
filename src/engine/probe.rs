//! What a service's readiness probe checks, as the engine carries it in a
//! [`super::Node`]: the value and the limit of one try. The `ready-probe`
//! file and its parser are in [`crate::config::probe`]; the tries in flight
//! are in [`crate::ready::prober`].

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::sys::clock::Millis;

/// Longest wait for one TCP or Unix connect.
pub const CONNECT_TRY_MS: Millis = 1_000;
/// Longest run of one probe program; it is killed (SIGKILL) after that.
pub const EXEC_TRY_MS: Millis = 5_000;

/// What a service's probe checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// A TCP connect to this address succeeds.
    Tcp(SocketAddr),
    /// A connect to the Unix stream socket at this absolute path succeeds.
    Unix(PathBuf),
    /// This program (argv, program first) exits 0.
    Exec(Vec<String>),
}

impl Probe {
    /// The probe as a `ready-probe` line (parsing it gives it back).
    pub fn line(&self) -> String {
        match self {
            Probe::Tcp(a) => format!("tcp:{a}"),
            Probe::Unix(p) => format!("unix:{}", p.display()),
            Probe::Exec(argv) => format!("exec {}", argv.join(" ")),
        }
    }

    /// The longest one try may take.
    pub fn try_limit(&self) -> Millis {
        match self {
            Probe::Exec(_) => EXEC_TRY_MS,
            Probe::Tcp(_) | Probe::Unix(_) => CONNECT_TRY_MS,
        }
    }
}
