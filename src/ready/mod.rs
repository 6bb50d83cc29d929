//! Readiness: how a service says it is up. The `notification-fd` and
//! `ready-timeout` files ([`conf`]), PID 1's readiness pipes ([`pipe`]),
//! the `ready-probe` file and its pure rules ([`probe`]) and the probes in
//! flight ([`prober`]).
//!
//! It may import `engine` (service indices and times), `config` (service
//! directory files) and `sys`.

pub mod pipe;
pub mod prober;
