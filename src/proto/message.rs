//! The control protocol between `cinit` and `cinit-ctl`: encoding and
//! decoding only, no I/O. `doc/PROTOCOL.md` is the specification.
//!
//! A frame is an 8-byte header — magic `ci`, protocol version, opcode,
//! payload length (u32, big-endian) — and a payload of fields: tag (u8),
//! length (u16, big-endian), value. Readers skip fields with unknown tags;
//! opcodes and tags are never reused. Frames and fields are written and
//! read with the crate's one codec, [`crate::proto::wire`] (its field
//! spelling); this module says only which fields each message has.
//!
//! Invariants: decoding never panics and never allocates more than the frame
//! it is given (lengths are checked against the bytes present, and the frame
//! size against [`MAX_REQUEST`] / [`MAX_REPLY`] before anyone allocates).

use std::fmt;

pub use log::LogLine;

mod log;
pub use log::line_wire_len;

mod fds;
pub use fds::FdInfo;

pub const MAGIC: [u8; 2] = *b"ci";
/// The protocol version this build speaks.
pub const VERSION: u8 = 1;
pub const HEADER_LEN: usize = 8;
/// Largest request frame (header included) a server accepts.
pub const MAX_REQUEST: usize = 4096;
/// Largest reply frame (header included) a client accepts.
pub const MAX_REPLY: usize = 8 << 20;

/// Opcodes. Requests are below 0x80, replies 0x80 and above.
pub mod op {
    pub const VERSION: u8 = 0x01;
    pub const STATUS: u8 = 0x02;
    pub const START: u8 = 0x03;
    pub const STOP: u8 = 0x04;
    pub const RESTART: u8 = 0x05;
    pub const LOG: u8 = 0x07;
    pub const WAIT: u8 = 0x06;
    pub const ANALYZE: u8 = 0x08;
    pub const FD_STORE: u8 = 0x09;
    pub const FD_FETCH: u8 = 0x0a;
    pub const FD_DROP: u8 = 0x0b;
    pub const FD_LIST: u8 = 0x0c;
    pub const SIGNAL: u8 = 0x0d;
    pub const RELOAD: u8 = 0x0e;
    pub const REBOOT: u8 = 0x10;
    pub const HALT: u8 = 0x11;
    pub const POWEROFF: u8 = 0x12;
    pub const RESCUE: u8 = 0x13;
    pub const UPDATE: u8 = 0x14;
    pub const OK: u8 = 0x80;
    pub const ERROR: u8 = 0x81;
    pub const UNSUPPORTED: u8 = 0x82;
    pub const VERSION_INFO: u8 = 0x83;
    pub const SERVICES: u8 = 0x84;
    pub const LOG_LINES: u8 = 0x85;
    pub const TIMELINE: u8 = 0x86;
    pub const FD_PASSED: u8 = 0x87;
    pub const FDS: u8 = 0x88;
}

/// Field tags.
pub mod tag {
    pub const NAME: u8 = 1;
    pub const FLAGS: u8 = 2;
    pub const SERVICE: u8 = 3;
    pub const STATE: u8 = 4;
    pub const PID: u8 = 5;
    pub const SINCE_MS: u8 = 6;
    pub const RESTARTS: u8 = 7;
    pub const REASON: u8 = 8;
    pub const MESSAGE: u8 = 9;
    pub const CODE: u8 = 10;
    pub const SERVER_VERSION: u8 = 11;
    pub const OPCODE: u8 = 12;
    pub const DEPENDENT: u8 = 13;
    pub const RESPAWN: u8 = 14;
    /// The name of a stored descriptor (fd requests, FD_PASSED, FD_ENTRY).
    pub const FD_NAME: u8 = 15;
    /// FDS: one descriptor held (nested: FD_NAME, FD_KIND, FD_LISTEN).
    pub const FD_ENTRY: u8 = 16;
    pub const FD_KIND: u8 = 17;
    /// u8 (1): the descriptor is a socket from the `sockets` file.
    pub const FD_LISTEN: u8 = 18;
    /// u32: how many of the newest lines a LOG request wants (0 = all).
    pub const LINES: u8 = 20;
    /// A nested list of fields: one log line (tags 22–25).
    pub const LINE: u8 = 21;
    pub const SEQ: u8 = 22;
    pub const MONO_MS: u8 = 23;
    pub const WALL_MS: u8 = 24;
    pub const TEXT: u8 = 25;
    /// u64: lines the log's ring dropped to make room, in all.
    pub const DROPPED: u8 = 26;
    /// u64: lines this client should have got before these but did not
    /// (they were dropped while it was behind).
    pub const MISSED: u8 = 27;
    /// u8 (1): more LOG_LINES frames follow for this request.
    pub const MORE: u8 = 28;
    /// TIMELINE: one service (nested: NAME, STATE, RESPAWN, 31–37).
    pub const ENTRY: u8 = 30;
    pub const REQUESTED_MS: u8 = 31;
    pub const STARTABLE_MS: u8 = 32;
    pub const SPAWNED_MS: u8 = 33;
    pub const READY_MS: u8 = 34;
    pub const ENDED_MS: u8 = 35;
    /// u32 positions of the entries this one needs (repeatable).
    pub const NEEDS: u8 = 36;
    /// u32 positions of the entries this one wants (repeatable).
    pub const WANTS: u8 = 37;
    /// cinit's own start on the monotonic clock.
    pub const STARTED_MS: u8 = 38;
    /// The server's monotonic clock when it answered.
    pub const NOW_MS: u8 = 39;
    /// SERVICES in reply to STATUS of every service (no NAME): a line cinit
    /// has to say about itself that concerns every service (a resource
    /// shortage); repeatable.
    pub const NOTE: u8 = 40;
    /// u8: the signal number of a SIGNAL request.
    pub const SIGNAL: u8 = 41;
    /// SERVICE: the text of the last sd_notify `STATUS=` (at most 256
    /// bytes, no control characters).
    pub const STATUS_TEXT: u8 = 42;
    /// SERVICE: what else sd_notify said, in words (`reloading`,
    /// `stopping`, `errno N`, `main pid N`).
    pub const NOTIFY: u8 = 43;
}

/// `FLAGS` bit of a start request: do not start needs and wants.
pub const FLAG_NO_DEPS: u32 = 1;
/// `FLAGS` bit of a log request: keep sending new lines.
pub const FLAG_FOLLOW: u32 = 2;
/// `FLAGS` bit of an fd fetch: remove the descriptor from the store.
pub const FLAG_REMOVE: u32 = 4;
/// `FLAGS` bit of a signal request: every process of the service, not
/// only its main one.
pub const FLAG_ALL: u32 = 8;

/// A system-wide action (the same as the signals): the one type from the
/// request or signal to the lifecycle's sequence and reboot(2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SystemAction {
    Reboot,
    Halt,
    Poweroff,
    Rescue,
    Update,
}

impl SystemAction {
    pub fn opcode(self) -> u8 {
        match self {
            SystemAction::Reboot => op::REBOOT,
            SystemAction::Halt => op::HALT,
            SystemAction::Poweroff => op::POWEROFF,
            SystemAction::Rescue => op::RESCUE,
            SystemAction::Update => op::UPDATE,
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            SystemAction::Reboot => "reboot",
            SystemAction::Halt => "halt",
            SystemAction::Poweroff => "poweroff",
            SystemAction::Rescue => "rescue",
            SystemAction::Update => "update",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Version,
    /// Status of the named services; all known services when empty.
    Status {
        names: Vec<String>,
    },
    Start {
        names: Vec<String>,
        no_deps: bool,
    },
    Stop {
        names: Vec<String>,
    },
    Restart {
        names: Vec<String>,
    },
    /// Wait until every named service is up or has failed.
    Wait {
        names: Vec<String>,
    },
    System(SystemAction),
    /// The log of a service (`None`: cinit's own): the newest `lines`
    /// lines (0 = all held), then, with `follow`, new ones as they come.
    Log {
        name: Option<String>,
        lines: u32,
        follow: bool,
    },
    /// The boot timeline of every loaded service.
    Analyze,
    /// Hold the descriptor sent with the request for `service` under `name`.
    /// An empty `service` is the caller's own (by its process).
    FdStore {
        service: String,
        name: String,
    },
    /// Send back a stored descriptor (and, with `remove`, forget it).
    FdFetch {
        service: String,
        name: String,
        remove: bool,
    },
    /// Close and forget a stored descriptor.
    FdDrop {
        service: String,
        name: String,
    },
    /// The descriptors held for `service`.
    FdList {
        service: String,
    },
    /// Send `signal` to the main process of service `name`; with `all`,
    /// to every process of the service (its process group; its cgroup
    /// where it has one).
    Signal {
        name: String,
        signal: u8,
        all: bool,
    },
    /// Send service `name`'s reload signal (`reload-signal`, SIGHUP) to
    /// its main process.
    Reload {
        name: String,
    },
    /// A well-formed frame with an opcode this build does not know.
    Unknown(u8),
}

impl Request {
    /// The fd-store requests, carried out with the descriptors sent along
    /// and the caller's process.
    pub fn is_fd(&self) -> bool {
        matches!(
            self,
            Request::FdStore { .. }
                | Request::FdFetch { .. }
                | Request::FdDrop { .. }
                | Request::FdList { .. }
        )
    }

    /// Requests any local user may make; everything else needs uid 0.
    pub fn is_read_only(&self) -> bool {
        matches!(
            self,
            Request::Version
                | Request::Status { .. }
                | Request::Wait { .. }
                | Request::Analyze
                | Request::Unknown(_)
        )
    }
}

/// Error codes; the same numbers are `cinit-ctl`'s exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// A negative result: failed, not running, need-failed.
    Failed = 1,
    /// Bad request or unknown service.
    Usage = 2,
    /// Malformed frame, unsupported version.
    Protocol = 3,
    /// The peer may not do this.
    Permission = 4,
}

impl ErrorCode {
    fn from_u8(v: u8) -> ErrorCode {
        match v {
            1 => ErrorCode::Failed,
            2 => ErrorCode::Usage,
            4 => ErrorCode::Permission,
            _ => ErrorCode::Protocol,
        }
    }
}

/// One service in a status or result reply.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServiceInfo {
    pub name: String,
    pub state: String,
    pub pid: Option<u32>,
    /// Milliseconds since the service entered its state.
    pub since_ms: u64,
    pub restarts: u32,
    pub reason: Option<String>,
    pub respawn: bool,
    /// Acted on because it depends on a requested service (stop/restart).
    pub dependent: bool,
    /// sd_notify's last `STATUS=` text (`notify-socket` services).
    pub status_text: Option<String>,
    /// What else sd_notify said, in words.
    pub notify: Option<String>,
}

/// One service in a TIMELINE reply. Times are absolute milliseconds on
/// the server's monotonic clock; `None` = not reached in its latest start.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TimelineEntry {
    pub name: String,
    pub state: String,
    pub respawn: bool,
    pub requested_ms: Option<u64>,
    pub startable_ms: Option<u64>,
    pub spawned_ms: Option<u64>,
    pub ready_ms: Option<u64>,
    pub ended_ms: Option<u64>,
    /// Positions (in the same reply) of the services it needs.
    pub needs: Vec<usize>,
    /// Positions (in the same reply) of the services it wants.
    pub wants: Vec<usize>,
}

/// The reply to ANALYZE.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Timeline {
    /// When cinit itself started (monotonic ms), if known.
    pub started_ms: Option<u64>,
    /// The server's monotonic clock when it answered.
    pub now_ms: u64,
    pub services: Vec<TimelineEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Ok {
        message: Option<String>,
    },
    Error {
        code: ErrorCode,
        message: String,
    },
    Unsupported {
        opcode: u8,
    },
    Version {
        server: String,
        protocol: u8,
    },
    Services(Vec<ServiceInfo>),
    /// The reply to STATUS when cinit has something to say about itself
    /// (`notes`, never empty): a SERVICES frame with NOTE fields. Without
    /// notes, STATUS is answered with [`Reply::Services`], so clients that
    /// know no notes see no difference.
    Status {
        notes: Vec<String>,
        services: Vec<ServiceInfo>,
    },
    LogLines(LogBatch),
    Timeline(Timeline),
    /// The answer to FD_FETCH; the descriptor travels with the frame.
    FdPassed {
        name: String,
    },
    Fds(Vec<FdInfo>),
}

/// Lines of a log, in one LOG_LINES frame.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogBatch {
    pub lines: Vec<LogLine>,
    /// Lines the log's ring dropped to make room, in all.
    pub dropped: u64,
    /// Lines this client missed just before these (dropped while it was
    /// behind).
    pub missed: u64,
    /// More frames follow for the same request.
    pub more: bool,
}

mod decode;
use decode::{be_u64, byte, fields, text};
pub use decode::{decode_header, decode_reply, decode_request, DecodeError, Header};

mod encode;
pub use encode::{encode_reply, encode_request};

mod timeline;

#[cfg(test)]
mod tests;
