//! Encoding frames: requests and replies (part of [`super`]).

use super::*;

/// Builds a frame: header first, fields appended, length patched at the end.
pub(super) struct Frame {
    pub(super) buf: Vec<u8>,
}

impl Frame {
    pub(super) fn new(opcode: u8) -> Frame {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&MAGIC);
        buf.extend_from_slice(&[VERSION, opcode, 0, 0, 0, 0]);
        Frame { buf }
    }

    /// Append a field; values longer than a field can hold are cut (only our
    /// own strings are encoded, and names are far shorter).
    pub(super) fn field(&mut self, t: u8, value: &[u8]) {
        let len = value.len().min(usize::from(u16::MAX));
        self.buf.push(t);
        self.buf.extend_from_slice(&(len as u16).to_be_bytes());
        self.buf
            .extend_from_slice(value.get(..len).unwrap_or(value));
    }

    pub(super) fn finish(mut self) -> Vec<u8> {
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
