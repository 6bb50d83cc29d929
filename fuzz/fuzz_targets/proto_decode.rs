//! The control protocol decoder (`src/proto/message/decode.rs`) on arbitrary bytes, taken
//! as one request frame and as one reply frame.
//!
//! Proves: `decode_header`, `decode_request` and `decode_reply` never panic;
//! an accepted header announces a frame between the header size and the
//! limit, and a too-large one is refused by the header alone, before any
//! allocation; "incomplete" always asks for more bytes than were given; and
//! whatever decodes, re-encodes to a frame that decodes to the same value
//! (a request re-encodes to no more bytes than it came in, so cinit's own
//! encoding of anything it accepted fits the request limit).
#![no_main]

use cinit::proto::{
    decode_header, decode_reply, decode_request, encode_reply, encode_request, DecodeError, Reply,
    HEADER_LEN, MAX_REPLY, MAX_REQUEST,
};
use libfuzzer_sys::fuzz_target;

fn check_header(data: &[u8], max: usize) {
    match decode_header(data, max) {
        Ok(h) => {
            assert!(h.frame_len >= HEADER_LEN && h.frame_len <= max, "{h:?}");
            assert_eq!(data.get(..2), Some(&b"ci"[..]));
        }
        Err(DecodeError::Incomplete(n)) => assert!(n > data.len(), "{n} <= {}", data.len()),
        Err(DecodeError::TooLarge(n)) => assert!(n > max as u64),
        Err(_) => {}
    }
}

/// Whether every field of the reply's encoding fits a u16 length, as all
/// of cinit's own replies do (`Frame::field` cuts longer values).
fn fits_fields(r: &Reply) -> bool {
    match r {
        // A note came in one field, so it fits one again.
        Reply::Services(list) | Reply::Status { services: list, .. } => list.iter().all(|s| {
            let text = s.name.len() + s.state.len() + s.reason.as_ref().map_or(0, String::len);
            text + 64 <= usize::from(u16::MAX)
        }),
        Reply::LogLines(batch) => batch
            .lines
            .iter()
            .all(|l| cinit::proto::line_wire_len(l) <= usize::from(u16::MAX)),
        Reply::Timeline(t) => t.services.iter().all(|e| {
            let deps = 4 * (e.needs.len() + e.wants.len());
            e.name.len() + e.state.len() + deps + 128 <= usize::from(u16::MAX)
        }),
        _ => true,
    }
}

fuzz_target!(|data: &[u8]| {
    check_header(data, MAX_REQUEST);
    check_header(data, MAX_REPLY);

    match decode_request(data) {
        Ok(req) => {
            assert!(data.len() <= MAX_REQUEST);
            let again = encode_request(&req);
            assert!(again.len() <= data.len(), "{req:?} grew");
            assert_eq!(decode_request(&again), Ok(req));
        }
        Err(DecodeError::Incomplete(n)) => assert!(n > data.len()),
        Err(_) => {}
    }

    match decode_reply(data) {
        Ok(reply) => {
            assert!(data.len() <= MAX_REPLY);
            if fits_fields(&reply) {
                let again = encode_reply(&reply);
                assert_eq!(decode_reply(&again), Ok(reply));
            }
        }
        Err(DecodeError::Incomplete(n)) => assert!(n > data.len()),
        Err(_) => {}
    }
});
