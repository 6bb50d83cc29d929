//! A whole control connection: an arbitrary byte stream, read in arbitrary
//! chunks through the framing the daemon uses (`framing::read_room` for how
//! much one read may take, `framing::take_request` for cutting frames off
//! the buffered input), answering each request before reading on, as
//! `src/control/server/conn.rs` does (with `src/proto/framing.rs`).
//!
//! Input layout: the first byte gives the number (0-15) of chunk sizes that
//! follow as u16 (big-endian); they are used in turn as the most one read
//! returns (zero chunk sizes: every read fills the buffer). The rest is the
//! stream the client sends.
//!
//! Proves: no panic; the buffered input never exceeds one maximal request
//! frame (`proto::MAX_REQUEST`), so a connection's memory is bounded
//! whatever it sends; every request taken re-encodes and decodes to itself;
//! and the outcome (the requests, then a refusal or the bytes left at
//! EOF) is the same however the stream is cut into reads.
#![no_main]

use cinit::proto::framing::{read_room, take_request, Framed};
use cinit::proto::{decode_request, encode_request, DecodeError, Request, MAX_REQUEST};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, PartialEq)]
struct Outcome {
    requests: Vec<Request>,
    refused: Option<DecodeError>,
    /// Input still buffered when the stream ended (a partial frame).
    left: Vec<u8>,
}

/// Feed `stream` to one connection, each read returning at most the next
/// of `chunks` bytes (all it has room for when `chunks` is empty).
fn run(stream: &[u8], chunks: &[usize]) -> Outcome {
    let mut input = Vec::new();
    let mut requests = Vec::new();
    let mut pos = 0;
    let mut reads = 0usize;
    while pos < stream.len() {
        let room = read_room(input.len());
        let limit = chunks
            .get(reads % chunks.len().max(1))
            .copied()
            .unwrap_or(room);
        reads += 1;
        let n = room.min(limit).min(stream.len() - pos);
        input.extend_from_slice(&stream[pos..pos + n]);
        pos += n;
        assert!(input.len() <= MAX_REQUEST, "{} bytes buffered", input.len());
        // A request is answered before anything more is read; the answer
        // makes the next buffered one ready.
        loop {
            match take_request(&mut input) {
                Framed::Partial => break,
                Framed::Request(req) => {
                    assert_eq!(decode_request(&encode_request(&req)), Ok(req.clone()));
                    requests.push(req);
                }
                Framed::Refused(e) => {
                    return Outcome {
                        requests,
                        refused: Some(e),
                        left: Vec::new(),
                    }
                }
            }
        }
    }
    Outcome {
        requests,
        refused: None,
        left: input,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&count, rest)) = data.split_first() else {
        return;
    };
    let count = usize::from(count % 16).min(rest.len() / 2);
    let (sizes, stream) = rest.split_at(count * 2);
    let chunks: Vec<usize> = sizes
        .chunks_exact(2)
        .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])) % (2 * MAX_REQUEST) + 1)
        .collect();
    // Reading byte by byte is one of the cuts tried (chunk sizes of 1).
    let cut = run(stream, &chunks);
    let whole = run(stream, &[]);
    assert_eq!(cut, whole, "the outcome depends on how the stream is cut");
});
