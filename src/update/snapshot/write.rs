//! Writing a snapshot: the header and the body in its order (part of
//! [`super`]).

use super::*;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0100_0000_01b3;

/// FNV-1a-64 of `data` from `h`, a byte at a time.
fn fnv1a_from(h: u64, data: &[u8]) -> u64 {
    data.iter()
        .fold(h, |h, &b| (h ^ u64::from(b)).wrapping_mul(FNV_PRIME))
}

pub(super) fn fnv1a(data: &[u8]) -> u64 {
    fnv1a_from(FNV_OFFSET, data)
}

/// FNV-1a-64 over 8-byte little-endian words, then the bytes after the
/// last whole word one at a time ([`FORMAT_WORDS`]).
pub(super) fn fnv1a_words(data: &[u8]) -> u64 {
    let words = data.chunks_exact(8);
    let rest = words.remainder();
    let h = words.fold(FNV_OFFSET, |h, w| {
        let w = <[u8; 8]>::try_from(w).map_or(0, u64::from_le_bytes);
        (h ^ w).wrapping_mul(FNV_PRIME)
    });
    fnv1a_from(h, rest)
}

/// The body's checksum in `format` (one [`decode`] accepts).
pub(super) fn checksum(format: u16, body: &[u8]) -> u64 {
    if format == FORMAT_WORDS {
        fnv1a_words(body)
    } else {
        fnv1a(body)
    }
}

/// Encode a snapshot: the header, the META section, then the sections in
/// [`ORDER`] (a tag not there is left out).
pub fn encode(s: &Snapshot) -> Vec<u8> {
    encode_owned(s.clone())
}

/// [`encode`], consuming the snapshot: the sections are arranged in place
/// rather than copied first (a hot update writes its snapshot once).
/// The same bytes as [`encode`].
pub fn encode_owned(s: Snapshot) -> Vec<u8> {
    encode_as(s, FORMAT)
}

/// [`encode_owned`] in `format` ([`FORMAT`] or [`FORMAT_WORDS`]; they
/// differ only in the checksum).
pub fn encode_as(s: Snapshot, format: u16) -> Vec<u8> {
    let mut sections = s.sections;
    arrange(&mut sections);
    let mut meta = Out::default();
    meta.str(&s.writer);
    // The body goes straight after a placeholder header, which is filled
    // in at the end: no second copy of the body.
    let mut body = Out(Vec::with_capacity(HEADER_LEN + sections.encoded_len() + 64));
    body.0.resize(HEADER_LEN, 0);
    body.section(TAG_META, meta);
    sections.write(&mut body);
    let mut out = body.0;
    let len = out.len().saturating_sub(HEADER_LEN);
    let sum = checksum(format, out.get(HEADER_LEN..).unwrap_or(&[]));
    let mut header = Vec::with_capacity(HEADER_LEN);
    header.extend_from_slice(&MAGIC);
    header.extend_from_slice(&format.to_be_bytes());
    header.extend_from_slice(&0u16.to_be_bytes());
    header.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
    header.extend_from_slice(&sum.to_be_bytes());
    if let Some(h) = out.get_mut(..HEADER_LEN) {
        h.copy_from_slice(&header);
    }
    out
}
