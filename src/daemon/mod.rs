//! Floor 6 of the house (doc/DESIGN.md, "Rooms"): the top, beside `ctl`; it may import
//! every room below it, and nothing but the `cinit` binary imports it. Boot
//! ([`boot`]), the one event loop (`event.rs`), the adapter between the engine,
//! the command handling and the rooms ([`host::RealHost`], the real side of
//! [`crate::engine::Host`] and [`crate::control::commands::Host`]), the fd
//! store's requests (`event/fds.rs`), the system lifecycle ([`lifecycle`]),
//! each service's cgroup settings and OOM count (`svccg.rs`), a watched
//! service's environment (`svcdog.rs`) and the last resort ([`emergency`]).

pub mod boot;
mod contain;
pub mod emergency;
mod event;
pub mod host;
pub mod lifecycle;
mod notify;
mod svccg;
mod svcdog;
mod svcsig;
pub use event::main;
