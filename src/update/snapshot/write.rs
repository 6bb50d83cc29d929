//! Writing a snapshot: the header and the body in its order (part of
//! [`super`]).

use super::*;

pub(super) fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
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
    let mut sections = s.sections;
    sections.arrange(rank);
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
    let sum = fnv1a(out.get(HEADER_LEN..).unwrap_or(&[]));
    let mut header = Vec::with_capacity(HEADER_LEN);
    header.extend_from_slice(&MAGIC);
    header.extend_from_slice(&FORMAT.to_be_bytes());
    header.extend_from_slice(&0u16.to_be_bytes());
    header.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
    header.extend_from_slice(&sum.to_be_bytes());
    if let Some(h) = out.get_mut(..HEADER_LEN) {
        h.copy_from_slice(&header);
    }
    out
}
