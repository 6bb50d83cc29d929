//! The hot-update snapshot: everything a new cinit image needs to carry on
//! exactly where the old one stopped, as bytes.
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
use crate::control::pending::Pending;
use crate::control::saved::ClientRecord;
use crate::control::saved::ControlState;
use crate::engine::{TAG_NODE, TAG_SERVICE, TAG_TIMELINE};
use crate::fds::store::TAG_HELD;
use crate::logs::snap::TAG_LOG;
pub use crate::proto::wire::Lost;
use crate::proto::wire::{Out, Sections};
use crate::ready::pipe::TAG_READY;

pub const MAGIC: [u8; 8] = *b"cinitsnp";
pub const FORMAT: u16 = 1;
const HEADER_LEN: usize = 24;

/// The tags of the daemon's own sections (the daemon is above this room, so
/// its tags are kept here): its CONSOLE (cinit's console descriptor, the
/// services' stdio descriptor, what was not written yet, lines dropped) and
/// a WAITER per client waiting for the result of the update.
pub const TAG_CONSOLE: u8 = 5;
pub const TAG_WAITER: u8 = 9;

mod tag {
    pub const META: u8 = 1;
    pub const CONTROL: u8 = 6;
    pub const CLIENT: u8 = 7;
    pub const PENDING: u8 = 8;
    pub const FOLLOWER: u8 = 13;
}

/// The order of the body: after META, the sections of each group in turn,
/// the groups in the order the format always had; sections of one group
/// keep the order their owner put them in. Every owner's tags are here.
const ORDER: [&[u8]; 12] = [
    &[TAG_TREE],
    &[TAG_NODE],
    &[TAG_SERVICE],
    &[TAG_CONSOLE],
    &[tag::CONTROL],
    &[tag::CLIENT],
    &[tag::PENDING, tag::FOLLOWER],
    &[TAG_WAITER],
    &[TAG_LOG],
    &[TAG_READY],
    &[TAG_TIMELINE],
    &[TAG_HELD],
];

/// Where sections tagged `t` go in the body ([`ORDER`]); `None` for a tag
/// this cinit does not know.
fn rank(t: u8) -> Option<usize> {
    ORDER.iter().position(|group| group.contains(&t))
}

/// The tags of the owners that write and read their sections themselves
/// (the tree, the engine, the daemon); the container hands them their
/// sections as they are.
const OWNED: [u8; 9] = [
    TAG_TREE,
    TAG_NODE,
    TAG_SERVICE,
    TAG_CONSOLE,
    TAG_WAITER,
    TAG_LOG,
    TAG_READY,
    TAG_TIMELINE,
    TAG_HELD,
];

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// The cinit version that wrote it.
    pub writer: String,
    /// The sections of the owners that read them themselves
    /// ([`crate::engine::Engine::load`], [`crate::config::tree::Tree::load`]).
    pub sections: Sections,
    pub control: Option<ControlState>,
    pub pending: Vec<Pending>,
}

mod write;
pub use write::encode;

mod read;
pub use read::{decode, Unreadable};

#[cfg(test)]
mod tests;
