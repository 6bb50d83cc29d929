//! A process as the kernel names it: its id, and how it ended.
//!
//! The lowest shared types: every room that starts, signals or reaps a
//! process uses these, so they live at the bottom of the house.

use std::fmt;

/// A process id (also a process group id, for `kill(-pgid)`).
pub type Pid = i32;

/// The image this process runs right now (a writer, the closer, a
/// re-exec: the binary PID 1 runs), even if its
/// file was replaced or deleted since.
pub const SELF_EXE: &str = "/proc/self/exe";

/// How a process ended (from `waitpid`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Code(i32),
    Signal(i32),
}

impl ExitStatus {
    pub fn success(self) -> bool {
        self == ExitStatus::Code(0)
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ExitStatus::Code(c) => write!(f, "exit status {c}"),
            ExitStatus::Signal(s) => match nix::sys::signal::Signal::try_from(s) {
                Ok(sig) => write!(f, "killed by {}", sig.as_str()),
                Err(_) => write!(f, "killed by signal {s}"),
            },
        }
    }
}
