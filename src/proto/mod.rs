//! The control protocol between `cinit` and `cinit-ctl`: encoding and
//! decoding only, no I/O. `doc/PROTOCOL.md` is the specification.
//!
//! A frame is an 8-byte header — magic `ci`, protocol version, opcode,
//! payload length (u32, big-endian) — and a payload of fields: tag (u8),
//! length (u16, big-endian), value. Readers skip fields with unknown tags;
//! opcodes and tags are never reused.
//!
//! Invariants: decoding never panics and never allocates more than the frame
//! it is given (lengths are checked against the bytes present, and the frame
//! size against [`MAX_REQUEST`] / [`MAX_REPLY`] before anyone allocates).

pub mod framing;
pub mod json;

use std::fmt;

pub use crate::logs::ring::LogLine;

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
}

/// `FLAGS` bit of a start request: do not start needs and wants.
pub const FLAG_NO_DEPS: u32 = 1;
/// `FLAGS` bit of a log request: keep sending new lines.
pub const FLAG_FOLLOW: u32 = 2;
/// `FLAGS` bit of an fd fetch: remove the descriptor from the store.
pub const FLAG_REMOVE: u32 = 4;

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// More bytes are needed: at least this many in total.
    Incomplete(usize),
    BadMagic,
    /// The header announces a frame larger than allowed.
    TooLarge(u64),
    /// A protocol version this build does not speak.
    BadVersion(u8),
    Malformed(&'static str),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Incomplete(n) => write!(f, "incomplete frame ({n} bytes needed)"),
            DecodeError::BadMagic => f.write_str("not a cinit control frame"),
            DecodeError::TooLarge(n) => write!(f, "frame of {n} bytes is too large"),
            DecodeError::BadVersion(v) => {
                write!(
                    f,
                    "protocol version {v} is not supported (this side speaks {VERSION})"
                )
            }
            DecodeError::Malformed(what) => write!(f, "malformed frame: {what}"),
        }
    }
}

/// A decoded header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub version: u8,
    pub opcode: u8,
    /// Total frame length, header included.
    pub frame_len: usize,
}

/// Decode a header from the start of `buf`, checking the frame size against
/// `max` before anything is allocated for it.
pub fn decode_header(buf: &[u8], max: usize) -> Result<Header, DecodeError> {
    let Some(h) = buf.get(..HEADER_LEN) else {
        if buf.len() >= 2 && buf.get(..2) != Some(&MAGIC[..]) {
            return Err(DecodeError::BadMagic);
        }
        return Err(DecodeError::Incomplete(HEADER_LEN));
    };
    let (magic, version, opcode, len) = match h {
        [m0, m1, v, o, l0, l1, l2, l3] => {
            ([*m0, *m1], *v, *o, u32::from_be_bytes([*l0, *l1, *l2, *l3]))
        }
        _ => return Err(DecodeError::Incomplete(HEADER_LEN)),
    };
    if magic != MAGIC {
        return Err(DecodeError::BadMagic);
    }
    let total = u64::from(len) + HEADER_LEN as u64;
    if total > max as u64 {
        return Err(DecodeError::TooLarge(total));
    }
    if version != VERSION {
        return Err(DecodeError::BadVersion(version));
    }
    Ok(Header {
        version,
        opcode,
        frame_len: total as usize,
    })
}

/// Iterate over the fields of a payload.
struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u8, &'a [u8]), DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let (tag, len, body) = match self.rest {
            [tag, l0, l1, body @ ..] => (*tag, usize::from(u16::from_be_bytes([*l0, *l1])), body),
            _ => {
                self.rest = &[];
                return Some(Err(DecodeError::Malformed("truncated field header")));
            }
        };
        match (body.get(..len), body.get(len..)) {
            (Some(value), Some(rest)) => {
                self.rest = rest;
                Some(Ok((tag, value)))
            }
            _ => {
                self.rest = &[];
                Some(Err(DecodeError::Malformed("field longer than the frame")))
            }
        }
    }
}

fn fields(payload: &[u8]) -> Fields<'_> {
    Fields { rest: payload }
}

fn text(v: &[u8]) -> Result<String, DecodeError> {
    std::str::from_utf8(v)
        .map(str::to_string)
        .map_err(|_| DecodeError::Malformed("text is not UTF-8"))
}

fn be_u32(v: &[u8]) -> Result<u32, DecodeError> {
    <[u8; 4]>::try_from(v)
        .map(u32::from_be_bytes)
        .map_err(|_| DecodeError::Malformed("bad u32 field"))
}

fn be_u64(v: &[u8]) -> Result<u64, DecodeError> {
    <[u8; 8]>::try_from(v)
        .map(u64::from_be_bytes)
        .map_err(|_| DecodeError::Malformed("bad u64 field"))
}

fn byte(v: &[u8]) -> Result<u8, DecodeError> {
    match v {
        [b] => Ok(*b),
        _ => Err(DecodeError::Malformed("bad u8 field")),
    }
}

/// Split a complete frame into header and payload.
fn split_frame(frame: &[u8], max: usize) -> Result<(Header, &[u8]), DecodeError> {
    let header = decode_header(frame, max)?;
    match frame.get(HEADER_LEN..header.frame_len) {
        Some(payload) if frame.len() == header.frame_len => Ok((header, payload)),
        Some(_) => Err(DecodeError::Malformed("bytes after the frame")),
        None => Err(DecodeError::Incomplete(header.frame_len)),
    }
}

/// Decode one complete request frame.
pub fn decode_request(frame: &[u8]) -> Result<Request, DecodeError> {
    let (header, payload) = split_frame(frame, MAX_REQUEST)?;
    let mut names = Vec::new();
    let mut flags = 0u32;
    let mut lines = 0u32;
    let mut fd_name = String::new();
    for field in fields(payload) {
        let (t, v) = field?;
        match t {
            tag::NAME => names.push(text(v)?),
            tag::FD_NAME => fd_name = text(v)?,
            tag::FLAGS => flags = be_u32(v)?,
            tag::LINES => lines = be_u32(v)?,
            _ => {} // unknown fields are skipped
        }
    }
    Ok(match header.opcode {
        op::VERSION => Request::Version,
        op::STATUS => Request::Status { names },
        op::START => Request::Start {
            names,
            no_deps: flags & FLAG_NO_DEPS != 0,
        },
        op::STOP => Request::Stop { names },
        op::RESTART => Request::Restart { names },
        op::WAIT => Request::Wait { names },
        op::REBOOT => Request::System(SystemAction::Reboot),
        op::HALT => Request::System(SystemAction::Halt),
        op::POWEROFF => Request::System(SystemAction::Poweroff),
        op::RESCUE => Request::System(SystemAction::Rescue),
        op::UPDATE => Request::System(SystemAction::Update),
        op::LOG => Request::Log {
            name: names.into_iter().next(),
            lines,
            follow: flags & FLAG_FOLLOW != 0,
        },
        op::ANALYZE => Request::Analyze,
        op::FD_STORE | op::FD_FETCH | op::FD_DROP | op::FD_LIST => {
            fds::decode_request(header.opcode, names, fd_name, flags)
        }
        other => Request::Unknown(other),
    })
}

fn decode_service(payload: &[u8]) -> Result<ServiceInfo, DecodeError> {
    let mut s = ServiceInfo::default();
    for field in fields(payload) {
        let (t, v) = field?;
        match t {
            tag::NAME => s.name = text(v)?,
            tag::STATE => s.state = text(v)?,
            tag::PID => s.pid = Some(be_u32(v)?),
            tag::SINCE_MS => s.since_ms = be_u64(v)?,
            tag::RESTARTS => s.restarts = be_u32(v)?,
            tag::REASON => s.reason = Some(text(v)?),
            tag::RESPAWN => s.respawn = byte(v)? != 0,
            tag::DEPENDENT => s.dependent = byte(v)? != 0,
            _ => {}
        }
    }
    Ok(s)
}

/// Decode one complete reply frame.
pub fn decode_reply(frame: &[u8]) -> Result<Reply, DecodeError> {
    let (header, payload) = split_frame(frame, MAX_REPLY)?;
    if header.opcode == op::TIMELINE {
        return timeline::decode(payload).map(Reply::Timeline);
    }
    let mut message = None;
    let mut code = None;
    let mut server = String::new();
    let mut opcode = 0u8;
    let mut services = Vec::new();
    let mut batch = LogBatch::default();
    let mut fd_name = String::new();
    let mut fd_list = Vec::new();
    let mut notes = Vec::new();
    for field in fields(payload) {
        let (t, v) = field?;
        match t {
            tag::NOTE => notes.push(text(v)?),
            tag::FD_NAME => fd_name = text(v)?,
            tag::FD_ENTRY => fd_list.push(fds::decode_entry(v)?),
            tag::LINE => batch.lines.push(log::decode_line(v)?),
            tag::DROPPED => batch.dropped = be_u64(v)?,
            tag::MISSED => batch.missed = be_u64(v)?,
            tag::MORE => batch.more = byte(v)? != 0,
            tag::MESSAGE => message = Some(text(v)?),
            tag::CODE => code = Some(byte(v)?),
            tag::SERVER_VERSION => server = text(v)?,
            tag::OPCODE => opcode = byte(v)?,
            tag::SERVICE => services.push(decode_service(v)?),
            _ => {}
        }
    }
    match header.opcode {
        op::OK => Ok(Reply::Ok { message }),
        op::ERROR => Ok(Reply::Error {
            code: ErrorCode::from_u8(code.unwrap_or(3)),
            message: message.unwrap_or_default(),
        }),
        op::UNSUPPORTED => Ok(Reply::Unsupported { opcode }),
        op::VERSION_INFO => Ok(Reply::Version {
            server,
            protocol: header.version,
        }),
        op::SERVICES if notes.is_empty() => Ok(Reply::Services(services)),
        op::SERVICES => Ok(Reply::Status { notes, services }),
        op::LOG_LINES => Ok(Reply::LogLines(batch)),
        op::FD_PASSED => Ok(Reply::FdPassed { name: fd_name }),
        op::FDS => Ok(Reply::Fds(fd_list)),
        _ => Err(DecodeError::Malformed("unknown reply opcode")),
    }
}

/// Builds a frame: header first, fields appended, length patched at the end.
struct Frame {
    buf: Vec<u8>,
}

impl Frame {
    fn new(opcode: u8) -> Frame {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&MAGIC);
        buf.extend_from_slice(&[VERSION, opcode, 0, 0, 0, 0]);
        Frame { buf }
    }

    /// Append a field; values longer than a field can hold are cut (only our
    /// own strings are encoded, and names are far shorter).
    fn field(&mut self, t: u8, value: &[u8]) {
        let len = value.len().min(usize::from(u16::MAX));
        self.buf.push(t);
        self.buf.extend_from_slice(&(len as u16).to_be_bytes());
        self.buf
            .extend_from_slice(value.get(..len).unwrap_or(value));
    }

    fn finish(mut self) -> Vec<u8> {
        let len = u32::try_from(self.buf.len() - HEADER_LEN).unwrap_or(u32::MAX);
        if let Some(slot) = self.buf.get_mut(4..8) {
            slot.copy_from_slice(&len.to_be_bytes());
        }
        self.buf
    }
}

pub fn encode_request(req: &Request) -> Vec<u8> {
    let (opcode, names, flags): (u8, &[String], u32) = match req {
        Request::Version => (op::VERSION, &[], 0),
        Request::Status { names } => (op::STATUS, names, 0),
        Request::Start { names, no_deps } => {
            (op::START, names, if *no_deps { FLAG_NO_DEPS } else { 0 })
        }
        Request::Stop { names } => (op::STOP, names, 0),
        Request::Restart { names } => (op::RESTART, names, 0),
        Request::Wait { names } => (op::WAIT, names, 0),
        Request::System(action) => (action.opcode(), &[], 0),
        Request::Log { .. } => return log::encode_request(req),
        Request::Analyze => (op::ANALYZE, &[], 0),
        Request::FdStore { .. }
        | Request::FdFetch { .. }
        | Request::FdDrop { .. }
        | Request::FdList { .. } => return fds::encode_request(req),
        Request::Unknown(opcode) => (*opcode, &[], 0),
    };
    let mut f = Frame::new(opcode);
    for name in names {
        f.field(tag::NAME, name.as_bytes());
    }
    if flags != 0 {
        f.field(tag::FLAGS, &flags.to_be_bytes());
    }
    f.finish()
}

fn encode_service(s: &ServiceInfo) -> Vec<u8> {
    let mut f = Frame { buf: Vec::new() };
    f.field(tag::NAME, s.name.as_bytes());
    f.field(tag::STATE, s.state.as_bytes());
    if let Some(pid) = s.pid {
        f.field(tag::PID, &pid.to_be_bytes());
    }
    f.field(tag::SINCE_MS, &s.since_ms.to_be_bytes());
    f.field(tag::RESTARTS, &s.restarts.to_be_bytes());
    if let Some(reason) = &s.reason {
        f.field(tag::REASON, reason.as_bytes());
    }
    if s.respawn {
        f.field(tag::RESPAWN, &[1]);
    }
    if s.dependent {
        f.field(tag::DEPENDENT, &[1]);
    }
    f.buf
}

pub fn encode_reply(reply: &Reply) -> Vec<u8> {
    match reply {
        Reply::Ok { message } => {
            let mut f = Frame::new(op::OK);
            if let Some(m) = message {
                f.field(tag::MESSAGE, m.as_bytes());
            }
            f.finish()
        }
        Reply::Error { code, message } => {
            let mut f = Frame::new(op::ERROR);
            f.field(tag::CODE, &[*code as u8]);
            f.field(tag::MESSAGE, message.as_bytes());
            f.finish()
        }
        Reply::Unsupported { opcode } => {
            let mut f = Frame::new(op::UNSUPPORTED);
            f.field(tag::OPCODE, &[*opcode]);
            f.finish()
        }
        Reply::Version { server, .. } => {
            let mut f = Frame::new(op::VERSION_INFO);
            f.field(tag::SERVER_VERSION, server.as_bytes());
            f.finish()
        }
        Reply::Services(list) => {
            let mut f = Frame::new(op::SERVICES);
            for s in list {
                f.field(tag::SERVICE, &encode_service(s));
            }
            f.finish()
        }
        Reply::Status { notes, services } => {
            let mut f = Frame::new(op::SERVICES);
            for n in notes {
                f.field(tag::NOTE, n.as_bytes());
            }
            for s in services {
                f.field(tag::SERVICE, &encode_service(s));
            }
            f.finish()
        }
        Reply::LogLines(batch) => log::encode_lines(batch),
        Reply::Timeline(t) => timeline::encode(t),
        Reply::FdPassed { name } => fds::encode_passed(name),
        Reply::Fds(list) => fds::encode_list(list),
    }
}

mod timeline;

#[cfg(test)]
mod tests;
