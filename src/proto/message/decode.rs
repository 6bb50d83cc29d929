//! Decoding frames: the header, the fields of a payload, requests and
//! replies (part of [`super`]).

use super::*;
use crate::proto::wire::In;

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
    let mut h = In(h);
    let (magic, version, opcode, len) = match (h.array::<2>(), h.u8(), h.u8(), h.u32()) {
        (Some(m), Some(v), Some(o), Some(l)) => (m, v, o, l),
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

/// Iterate over the fields of a payload (read by [`In::field`]).
pub(super) struct Fields<'a>(In<'a>);

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u8, &'a [u8]), DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        let field = self.0.field()?;
        Some(field.map(|(t, v)| (t, v.0)).map_err(DecodeError::Malformed))
    }
}

pub(super) fn fields(payload: &[u8]) -> Fields<'_> {
    Fields(In(payload))
}

pub(super) fn text(v: &[u8]) -> Result<String, DecodeError> {
    In(v)
        .rest_str()
        .ok_or(DecodeError::Malformed("text is not UTF-8"))
}

pub(super) fn be_u32(v: &[u8]) -> Result<u32, DecodeError> {
    In(v)
        .whole(In::u32)
        .ok_or(DecodeError::Malformed("bad u32 field"))
}

pub(super) fn be_u64(v: &[u8]) -> Result<u64, DecodeError> {
    In(v)
        .whole(In::u64)
        .ok_or(DecodeError::Malformed("bad u64 field"))
}

pub(super) fn byte(v: &[u8]) -> Result<u8, DecodeError> {
    In(v)
        .whole(In::u8)
        .ok_or(DecodeError::Malformed("bad u8 field"))
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
    let mut signal = 0u8;
    for field in fields(payload) {
        let (t, v) = field?;
        match t {
            tag::NAME => names.push(text(v)?),
            tag::FD_NAME => fd_name = text(v)?,
            tag::FLAGS => flags = be_u32(v)?,
            tag::LINES => lines = be_u32(v)?,
            tag::SIGNAL => signal = byte(v)?,
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
        // A name is required; without one the server answers that no
        // service is named (as for an empty name).
        op::SIGNAL => Request::Signal {
            name: names.into_iter().next().unwrap_or_default(),
            signal,
            all: flags & FLAG_ALL != 0,
        },
        op::RELOAD => Request::Reload {
            name: names.into_iter().next().unwrap_or_default(),
        },
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
            tag::STATUS_TEXT => s.status_text = Some(text(v)?),
            tag::NOTIFY => s.notify = Some(text(v)?),
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
