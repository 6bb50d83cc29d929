//! Floor 1 of the house (doc/DESIGN.md, "Rooms"): it may import only `sys`. The wire: the
//! one byte codec ([`wire`]) that the control protocol and the hot-update
//! snapshot both use, the protocol's frames and every message (shared by
//! `cinit` and `cinit-ctl`), request framing ([`framing`]) and the JSON
//! quoting of `--json` ([`json`]).

pub mod framing;
pub mod json;
mod message;
pub mod wire;
pub use message::{
    decode_header, decode_reply, decode_request, encode_reply, encode_request, line_wire_len,
    DecodeError, ErrorCode, FdInfo, Header, LogBatch, LogLine, Reply, Request, ServiceInfo,
    SystemAction, Timeline, TimelineEntry, FLAG_ALL, FLAG_FOLLOW, FLAG_NO_DEPS, FLAG_REMOVE,
    HEADER_LEN, MAGIC, MAX_REPLY, MAX_REQUEST, VERSION,
};
pub use message::{op, tag};
