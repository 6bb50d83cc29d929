//! Floor 3 of the house (doc/DESIGN.md, "Rooms"): it may import `config`, `engine`,
//! `proto` and `sys`. Service output and cinit's own messages: the pipes
//! (`pipes.rs`), the rings ([`ring`], [`line`](mod@line)), file output ([`file`](mod@file),
//! [`writer`]), the kernel log ([`kmsg`], [`kmsglog`]), the shape of a line
//! ([`fmt`]) and logs across a hot update ([`snap`]).

pub mod file;
pub mod fmt;
pub mod kmsg;
pub mod kmsglog;
pub mod line;
mod pipes;
pub mod ring;
pub mod snap;
pub mod writer;
pub use pipes::{is_machine_init, wall_ms, Logs, PollKey, ServiceLog, OWN_RING, READ_CHUNK};
