//! Floor 3 of the house (doc/DESIGN.md, "Rooms"): it may import `config`, `engine`,
//! `proto` and `sys`.
//!
//! Readiness at run time: PID 1's readiness pipes for `notification-fd`
//! ([`pipe`]) and the `ready-probe` tries in flight ([`prober`]). The files
//! that ask for them are parsed in [`crate::config`]; what readiness means
//! for a service's state is in [`crate::engine`].

pub mod pipe;
pub mod prober;
