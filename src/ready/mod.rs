//! Floor 3 of the house (doc/DESIGN.md, "Rooms"): it may import `config`, `engine`,
//! `proto` and `sys`.
//!
//! Readiness at run time: PID 1's readiness pipes for `notification-fd`
//! ([`pipe`]), the `ready-probe` tries in flight ([`prober`]), and sd_notify:
//! the `notify-socket` datagram socket ([`notify_sock`]) and its messages
//! ([`notify`]). The files
//! that ask for them are parsed in [`crate::config`]; what readiness means
//! for a service's state is in [`crate::engine`].

pub mod notify;
pub mod notify_sock;
pub mod pipe;
pub mod prober;
