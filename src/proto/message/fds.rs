//! The fd-store requests and their replies on the wire (part of
//! [`crate::proto`], split out as a responsibility of its own).
//!
//! Every fd request names a service (`NAME`; absent or empty = the caller's own
//! service) and, but for FD_LIST, a stored descriptor (`FD_NAME`).
//! FD_STORE carries exactly one descriptor as `SCM_RIGHTS` ancillary data
//! sent with the frame's bytes; the FD_PASSED reply to FD_FETCH carries one
//! the same way. FD_FETCH with `FLAGS` bit 2 also removes it from the store.
//! FD_LIST is answered with FDS: one `FD_ENTRY` (nested `FD_NAME`,
//! `FD_KIND`, `FD_LISTEN`) per descriptor held.

use super::encode::{finish, frame};
use super::{byte, fields, op, tag, text, DecodeError, Request, FLAG_REMOVE};

/// One descriptor cinit holds for a service.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FdInfo {
    pub name: String,
    /// What it is, for people: `tcp 0.0.0.0:80`, `socket`, `pipe`, a path.
    pub kind: String,
    /// A socket from the service's `sockets` file (not stored by it).
    pub listen: bool,
}

/// The request's service and fd name, as the decoder collected them.
pub(super) fn decode_request(
    opcode: u8,
    names: Vec<String>,
    fd_name: String,
    flags: u32,
) -> Request {
    let service = names.into_iter().next().unwrap_or_default();
    match opcode {
        op::FD_STORE => Request::FdStore {
            service,
            name: fd_name,
        },
        op::FD_FETCH => Request::FdFetch {
            service,
            name: fd_name,
            remove: flags & FLAG_REMOVE != 0,
        },
        op::FD_DROP => Request::FdDrop {
            service,
            name: fd_name,
        },
        _ => Request::FdList { service },
    }
}

pub(super) fn encode_request(req: &Request) -> Vec<u8> {
    let (opcode, service, name, flags) = match req {
        Request::FdStore { service, name } => (op::FD_STORE, service, Some(name), 0),
        Request::FdFetch {
            service,
            name,
            remove,
        } => (
            op::FD_FETCH,
            service,
            Some(name),
            if *remove { FLAG_REMOVE } else { 0 },
        ),
        Request::FdDrop { service, name } => (op::FD_DROP, service, Some(name), 0),
        Request::FdList { service } => (op::FD_LIST, service, None, 0),
        _ => return Vec::new(),
    };
    let mut f = frame(opcode);
    // No NAME is the caller's own service, as an empty one.
    if !service.is_empty() {
        f.field_bytes(tag::NAME, service.as_bytes());
    }
    // An empty name is sent as none (both are refused by the server).
    if let Some(n) = name.filter(|n| !n.is_empty()) {
        f.field_bytes(tag::FD_NAME, n.as_bytes());
    }
    if flags != 0 {
        f.field_u32(tag::FLAGS, flags);
    }
    finish(f)
}

pub(super) fn encode_passed(name: &str) -> Vec<u8> {
    let mut f = frame(op::FD_PASSED);
    f.field_bytes(tag::FD_NAME, name.as_bytes());
    finish(f)
}

pub(super) fn encode_list(list: &[FdInfo]) -> Vec<u8> {
    let mut f = frame(op::FDS);
    for info in list {
        let at = f.field(tag::FD_ENTRY);
        f.field_bytes(tag::FD_NAME, info.name.as_bytes());
        f.field_bytes(tag::FD_KIND, info.kind.as_bytes());
        if info.listen {
            f.field_u8(tag::FD_LISTEN, 1);
        }
        f.end(at);
    }
    finish(f)
}

pub(super) fn decode_entry(payload: &[u8]) -> Result<FdInfo, DecodeError> {
    let mut info = FdInfo::default();
    for field in fields(payload) {
        let (t, v) = field?;
        match t {
            tag::FD_NAME => info.name = text(v)?,
            tag::FD_KIND => info.kind = text(v)?,
            tag::FD_LISTEN => info.listen = byte(v)? != 0,
            _ => {}
        }
    }
    Ok(info)
}
