//! Descriptors: the listening sockets a service's `sockets` file declares
//! ([`listen`]), handing them to a child the systemd way ([`listen_exec`],
//! [`place`]), the fd store ([`store`]), descriptors over a Unix socket
//! ([`scm`]) and closing outside descriptors off PID 1's thread
//! ([`closer`]).
//!
//! It may import `config` (the sockets file), `engine` and `sys`.

pub mod closer;
pub mod listen;
pub mod listen_exec;
pub mod scm;
pub mod store;
