//! Encoding frames: requests and replies (part of [`super`]).

use super::*;
use crate::proto::wire::Out;

/// Begin a frame: the header, with a length slot [`finish`] fills in.
pub(super) fn frame(opcode: u8) -> Out {
    let mut f = Out(Vec::with_capacity(64));
    f.put(&MAGIC);
    f.u8(VERSION);
    f.u8(opcode);
    f.open_u32();
    f
}

/// The frame's bytes, its payload length patched into the header.
pub(super) fn finish(mut f: Out) -> Vec<u8> {
    f.close_u32(HEADER_LEN);
    f.0
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
        // Left out when empty or 0, as a decoder reads their absence:
        // what decodes never re-encodes larger.
        Request::Signal { name, signal, all } => {
            let mut f = frame(op::SIGNAL);
            if !name.is_empty() {
                f.field_bytes(tag::NAME, name.as_bytes());
            }
            if *signal != 0 {
                f.field_u8(tag::SIGNAL, *signal);
            }
            if *all {
                f.field_u32(tag::FLAGS, FLAG_ALL);
            }
            return finish(f);
        }
        Request::Reload { name } if name.is_empty() => (op::RELOAD, &[], 0),
        Request::Reload { name } => (op::RELOAD, std::slice::from_ref(name), 0),
        Request::Unknown(opcode) => (*opcode, &[], 0),
    };
    let mut f = frame(opcode);
    for name in names {
        f.field_bytes(tag::NAME, name.as_bytes());
    }
    if flags != 0 {
        f.field_u32(tag::FLAGS, flags);
    }
    finish(f)
}

/// One SERVICE field, its value the service's own nested fields.
fn encode_service(f: &mut Out, s: &ServiceInfo) {
    let at = f.field(tag::SERVICE);
    f.field_bytes(tag::NAME, s.name.as_bytes());
    f.field_bytes(tag::STATE, s.state.as_bytes());
    if let Some(pid) = s.pid {
        f.field_u32(tag::PID, pid);
    }
    f.field_u64(tag::SINCE_MS, s.since_ms);
    f.field_u32(tag::RESTARTS, s.restarts);
    if let Some(reason) = &s.reason {
        f.field_bytes(tag::REASON, reason.as_bytes());
    }
    if s.respawn {
        f.field_u8(tag::RESPAWN, 1);
    }
    if s.dependent {
        f.field_u8(tag::DEPENDENT, 1);
    }
    if let Some(t) = &s.status_text {
        f.field_bytes(tag::STATUS_TEXT, t.as_bytes());
    }
    if let Some(t) = &s.notify {
        f.field_bytes(tag::NOTIFY, t.as_bytes());
    }
    f.end(at);
}

pub fn encode_reply(reply: &Reply) -> Vec<u8> {
    match reply {
        Reply::Ok { message } => {
            let mut f = frame(op::OK);
            if let Some(m) = message {
                f.field_bytes(tag::MESSAGE, m.as_bytes());
            }
            finish(f)
        }
        Reply::Error { code, message } => {
            let mut f = frame(op::ERROR);
            f.field_u8(tag::CODE, *code as u8);
            f.field_bytes(tag::MESSAGE, message.as_bytes());
            finish(f)
        }
        Reply::Unsupported { opcode } => {
            let mut f = frame(op::UNSUPPORTED);
            f.field_u8(tag::OPCODE, *opcode);
            finish(f)
        }
        Reply::Version { server, .. } => {
            let mut f = frame(op::VERSION_INFO);
            f.field_bytes(tag::SERVER_VERSION, server.as_bytes());
            finish(f)
        }
        Reply::Services(list) => {
            let mut f = frame(op::SERVICES);
            for s in list {
                encode_service(&mut f, s);
            }
            finish(f)
        }
        Reply::Status { notes, services } => {
            let mut f = frame(op::SERVICES);
            for n in notes {
                f.field_bytes(tag::NOTE, n.as_bytes());
            }
            for s in services {
                encode_service(&mut f, s);
            }
            finish(f)
        }
        Reply::LogLines(batch) => log::encode_lines(batch),
        Reply::Timeline(t) => timeline::encode(t),
        Reply::FdPassed { name } => fds::encode_passed(name),
        Reply::Fds(list) => fds::encode_list(list),
    }
}
