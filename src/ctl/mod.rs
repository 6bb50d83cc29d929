//! `cinit-ctl`, the client: one request over the control socket
//! ([`client`]), the log stream ([`log`]), the fd store commands
//! ([`fdstore`]), the boot chart ([`bootchart`]) and the graph ([`dot`]).
//!
//! Top of the tree with `daemon`: it may import `proto`, `config`,
//! `control`'s timeline table and `sys`; nothing imports it.

pub mod bootchart;
pub mod check;
pub mod client;
pub mod dot;
pub mod fdstore;
pub mod log;
pub mod status;
