//! The hot-update snapshot's container: everything a new cinit image needs
//! to carry on exactly where the old one stopped, as bytes.
//!
//! Pure codec (no system calls); [`crate::update`] writes it to a memfd and
//! reads it back after `execve`. The format is documented in
//! `doc/DESIGN.md` ("Hot update snapshot"); in short:
//!
//! ```text
//! header:  "cinitsnp" | format u16 | reserved u16 | body length u32 | FNV-1a-64 of body
//! body:    section*    section = tag u8 | length u32 | payload
//! payload: fields in a fixed order (integers big-endian; strings and lists
//!          length-prefixed with u32)
//! ```
//!
//! The container owns only the header, the checksum, the META section (the
//! writer's version), the order of the sections and the version rule. Each
//! owner of state (the engine, the tree, the control server, the logs, the
//! readiness pipes, the fd table, the daemon itself) writes its own sections
//! from its live state and reads them back into it, adopting the
//! descriptors they name; its tags are its own ([`ORDER`] lists them all).
//!
//! Version rules: sections and fields are only ever *added* — a new section
//! gets a new tag, a new field goes at the end of its section. A reader
//! skips unknown tags and ignores bytes after the fields it knows; a field
//! missing at the end of a section (an older writer) takes its default. The
//! format number changes only when this rule must be broken; a reader
//! refuses a format it does not know. Each section decodes on its own: a
//! damaged one is reported as lost and the others are still adopted.
//!
//! Decoding never panics and never trusts a length: every read is checked
//! against what is left, and counts are bounded.

use crate::config::tree::TAG_TREE;
use crate::control::pending::{TAG_FOLLOWER, TAG_PENDING};
use crate::control::saved::{TAG_CLIENT, TAG_CONTROL};
use crate::engine::{TAG_NODE, TAG_SERVICE, TAG_TIMELINE};
use crate::fds::store::TAG_HELD;
use crate::logs::snap::TAG_LOG;
pub use crate::proto::wire::Lost;
use crate::proto::wire::{Out, Sections};
use crate::ready::notify_sock::TAG_NOTIFY;
use crate::ready::pipe::TAG_READY;

pub const MAGIC: [u8; 8] = *b"cinitsnp";
/// The format every cinit reads and writes: the body's checksum is FNV-1a
/// over its bytes, one at a time.
pub const FORMAT: u16 = 1;
/// The same body, its checksum FNV-1a over 8-byte little-endian words (and
/// the last bytes one at a time): one dependent multiply per 8 bytes
/// instead of per byte, about 0.5 ms less on each side of an update of
/// 1000 logged services (406 kB), 3 ms at 10 000. Written only to a new
/// image whose preflight says it reads it ([`format_for`]).
pub const FORMAT_WORDS: u16 = 2;

/// The format to write for a new image that reads `lo..=hi`: the faster
/// one if it reads it, else format 1 (`None`: neither).
pub fn format_for((lo, hi): (u16, u16)) -> Option<u16> {
    [FORMAT_WORDS, FORMAT]
        .into_iter()
        .find(|f| (lo..=hi).contains(f))
}
const HEADER_LEN: usize = 24;

/// The container's own section: the version of the cinit that wrote it.
const TAG_META: u8 = 1;

/// The tags of the daemon's own sections (the daemon is above this room, so
/// its tags are kept here): its CONSOLE (cinit's console descriptor, the
/// services' stdio descriptor, what was not written yet, lines dropped) and
/// a WAITER per client waiting for the result of the update.
pub const TAG_CONSOLE: u8 = 5;
pub const TAG_WAITER: u8 = 9;

/// The order of the body: after META, the sections of each group in turn,
/// the groups in the order the format always had; sections of one group
/// keep the order their owner put them in. Every owner's tags are here; a
/// tag missing here is dropped by both writing and reading.
const ORDER: [&[u8]; 13] = [
    &[TAG_TREE],
    &[TAG_NODE],
    &[TAG_SERVICE],
    &[TAG_CONSOLE],
    &[TAG_CONTROL],
    &[TAG_CLIENT],
    &[TAG_PENDING, TAG_FOLLOWER],
    &[TAG_WAITER],
    &[TAG_LOG],
    &[TAG_READY],
    &[TAG_TIMELINE],
    &[TAG_HELD],
    &[TAG_NOTIFY],
];

/// Where sections of each tag go in the body (the index of its group in
/// [`ORDER`]; `None` for a tag this cinit does not know), worked out once
/// per body: its 4000 sections (1000 logged services) are ranked by a
/// look-up each instead of a search through [`ORDER`] each.
fn ranks() -> [Option<u8>; 256] {
    let mut table = [None; 256];
    for (r, group) in ORDER.iter().enumerate() {
        for &t in *group {
            if let Some(slot) = table.get_mut(usize::from(t)) {
                *slot = u8::try_from(r).ok();
            }
        }
    }
    table
}

/// Order `sections` as the body has them ([`ORDER`]), dropping tags this
/// cinit does not know.
fn arrange(sections: &mut Sections) {
    let table = ranks();
    sections.arrange(|t| {
        table
            .get(usize::from(t))
            .copied()
            .flatten()
            .map(usize::from)
    });
}

/// A snapshot: who wrote it, and the owners' sections (in [`ORDER`] once
/// decoded), which each owner reads itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// The cinit version that wrote it.
    pub writer: String,
    pub sections: Sections,
}

mod write;
pub use write::{encode, encode_as, encode_owned};

mod read;
pub use read::{decode, decode_owned, Unreadable};

#[cfg(test)]
mod tests;
