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
    let mut sections = s.sections.clone();
    sections.arrange(rank);
    let mut body = Out::default();
    let mut meta = Out::default();
    meta.str(&s.writer);
    body.section(TAG_META, meta);
    sections.write(&mut body);
    let mut out = Vec::with_capacity(HEADER_LEN + body.0.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(
        &u32::try_from(body.0.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    out.extend_from_slice(&fnv1a(&body.0).to_be_bytes());
    out.extend_from_slice(&body.0);
    out
}
