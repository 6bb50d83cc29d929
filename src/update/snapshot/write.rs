//! Writing a snapshot: the header and the body in its order (part of
//! [`super`]).

use super::*;

pub(super) fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Encode a snapshot.
pub fn encode(s: &Snapshot) -> Vec<u8> {
    let mut all = s.sections.clone();
    if let Some(c) = &s.control {
        all.put(tag::CONTROL, |o| c.save(o));
        for cl in &c.clients {
            all.put(tag::CLIENT, |o| cl.save(o));
        }
    }
    for p in &s.pending {
        // A log reader has a section of its own.
        if let Pending::Log(f) = p {
            all.put(tag::FOLLOWER, |o| f.save(o));
        } else {
            all.put(tag::PENDING, |o| p.save(o));
        }
    }
    all.arrange(rank);
    seal(&s.writer, &all)
}

/// The snapshot of `sections` (arranged in [`ORDER`]), written by cinit
/// version `writer`: the header, the META section, then the sections.
pub(super) fn seal(writer: &str, sections: &Sections) -> Vec<u8> {
    let mut body = Out::default();
    let mut meta = Out::default();
    meta.str(writer);
    body.section(tag::META, meta);
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
