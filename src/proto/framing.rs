//! The framing of one control connection's input, without its socket:
//! how much to read next and how a complete request is cut off the front
//! of what has been read. Pure, so that it is unit-tested and fuzzed (the
//! `proto_stream` target) exactly as the daemon uses it.
//!
//! Invariant: a connection never buffers more than one maximal request
//! frame ([`proto::MAX_REQUEST`]); a frame's announced length is checked
//! from its header before anything else.

use crate::proto::{self, DecodeError, Request};

/// How many bytes to read next from a connection holding `buffered` bytes
/// of input that are not a whole request yet: at most what fills one
/// request frame. Pure, like [`take_request`]: the framing of a connection
/// without its socket (the `proto_stream` fuzz target drives both).
pub fn read_room(buffered: usize) -> usize {
    proto::MAX_REQUEST.saturating_sub(buffered).max(1)
}

/// What the front of a connection's input holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Framed {
    /// Not a whole frame yet: read more.
    Partial,
    /// A whole request, now taken off the input.
    Request(Request),
    /// A protocol error: answered, then the connection is closed.
    Refused(DecodeError),
}

/// Take one complete request off the front of `input`, if one is there.
/// Bytes behind it (a pipelined request) stay in `input`.
pub fn take_request(input: &mut Vec<u8>) -> Framed {
    let header = match proto::decode_header(input, proto::MAX_REQUEST) {
        Ok(h) => h,
        Err(DecodeError::Incomplete(_)) => return Framed::Partial,
        Err(e) => return Framed::Refused(e),
    };
    let Some(frame) = input.get(..header.frame_len) else {
        return Framed::Partial; // not complete yet
    };
    match proto::decode_request(frame) {
        Ok(request) => {
            input.drain(..header.frame_len);
            Framed::Request(request)
        }
        Err(DecodeError::Incomplete(_)) => Framed::Partial,
        Err(e) => Framed::Refused(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_takes_pipelined_requests_one_at_a_time() {
        let mut input = proto::encode_request(&Request::Version);
        input.extend(proto::encode_request(&Request::Status { names: vec![] }));
        input.extend(b"ci");
        assert_eq!(take_request(&mut input), Framed::Request(Request::Version));
        assert_eq!(
            take_request(&mut input),
            Framed::Request(Request::Status { names: vec![] })
        );
        assert_eq!(input, b"ci", "a partial frame stays buffered");
        assert_eq!(take_request(&mut input), Framed::Partial);
        assert_eq!(read_room(input.len()), proto::MAX_REQUEST - 2);
        assert_eq!(read_room(proto::MAX_REQUEST), 1);
        input.extend([1, 2, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(
            take_request(&mut input),
            Framed::Refused(DecodeError::TooLarge(0xffff_ffff + 8))
        );
        assert_eq!(
            take_request(&mut b"GE".to_vec()),
            Framed::Refused(DecodeError::BadMagic)
        );
    }
}
