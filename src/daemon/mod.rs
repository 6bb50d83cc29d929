//! Floor 6 of the house (doc/DESIGN.md, "Rooms"): the top, beside `ctl`; it may import
//! every room below it, and nothing but the `cinit` binary imports it. Boot
//! ([`boot`]), the one event loop (`event.rs`), the adapter between the engine and
//! the rooms ([`host::RealHost`]), carrying out control requests
//! ([`commands`]), the system lifecycle ([`lifecycle`]) and the last resort
//! ([`emergency`]).

pub mod boot;
pub mod commands;
pub mod emergency;
mod event;
pub mod host;
pub mod lifecycle;
pub use event::main;
