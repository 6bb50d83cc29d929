//! Floor 3 of the house (doc/DESIGN.md, "Rooms"): it may import `config`, `engine`, `proto`
//! and `sys`.
//!
//! Descriptors cinit holds or hands on: the listening sockets a service's
//! `sockets` file declares ([`listen`]), passing them the systemd way
//! ([`listen_exec`]), the fd store ([`store`]), descriptors over a Unix socket
//! ([`scm`]) and closing outside descriptors off PID 1's thread ([`closer`]).

pub mod closer;
pub mod listen;
pub mod listen_exec;
pub mod scm;
pub mod store;
