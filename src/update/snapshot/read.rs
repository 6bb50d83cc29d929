//! Reading a snapshot: the cursor over a payload and the decoder, which
//! keeps what it can and lists what it lost (part of [`super`]).

use super::*;
use crate::proto::wire::In;
use write::checksum;

// ----- reading -----

/// Why nothing at all could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unreadable {
    NotASnapshot,
    Format(u16),
    Truncated,
}

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unreadable::NotASnapshot => f.write_str("not a cinit snapshot"),
            Unreadable::Format(v) => write!(
                f,
                "snapshot format {v} is not known to this cinit (it reads formats \
                 {FORMAT}..{FORMAT_WORDS})"
            ),
            Unreadable::Truncated => f.write_str("snapshot is truncated"),
        }
    }
}

/// Decode a snapshot. Sections that cannot be read are listed in `Lost`;
/// a checksum mismatch is reported there too, and decoding goes on.
pub fn decode(data: &[u8]) -> Result<(Snapshot, Lost), Unreadable> {
    decode_owned(data.to_vec())
}

/// [`decode`], keeping `data` as the sections' buffer (a hot update reads
/// 400 kB at 1000 services; this saves copying them again).
pub fn decode_owned(data: Vec<u8>) -> Result<(Snapshot, Lost), Unreadable> {
    let mut h = In(&data);
    if h.array::<8>() != Some(MAGIC) {
        return Err(Unreadable::NotASnapshot);
    }
    let format = u16::from_be_bytes(h.array().ok_or(Unreadable::Truncated)?);
    if format != FORMAT && format != FORMAT_WORDS {
        return Err(Unreadable::Format(format));
    }
    let _reserved = h.array::<2>().ok_or(Unreadable::Truncated)?;
    let len = h.len().ok_or(Unreadable::Truncated)?;
    let sum = h.u64().ok_or(Unreadable::Truncated)?;
    let mut lost = Lost::new();
    let end = match h.take(len) {
        Some(_) => HEADER_LEN.saturating_add(len),
        None => {
            lost.push(format!("snapshot truncated: {} of {len} bytes", h.0.len()));
            data.len()
        }
    };
    if checksum(format, data.get(HEADER_LEN..end).unwrap_or_default()) != sum {
        lost.push("snapshot checksum does not match; reading it anyway".to_string());
    }
    let mut data = data;
    data.truncate(end);
    let mut sections = Sections::cut_at(data, HEADER_LEN, &mut lost);
    let writer = sections.read_last(TAG_META, &mut lost, |p| p.str());
    arrange(&mut sections);
    let writer = writer.unwrap_or_default();
    Ok((Snapshot { writer, sections }, lost))
}
