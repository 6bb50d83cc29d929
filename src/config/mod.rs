//! Configuration: everything read from the service tree and `$CINIT_DIR`
//! before a service runs: one service directory's files ([`svcdir`]),
//! the whole tree ([`tree`], [`canon`]), the `sockets` file ([`sockets`]),
//! log settings ([`logconf`]), global settings ([`conf`]), where things are
//! ([`paths`]) and the offline check of a tree ([`check`]).
//!
//! Pure parsing and validation; it reads files but starts nothing. It may
//! import `engine` (the node it builds), `ready` (the readiness files) and
//! `sys` (safe path walking).

pub mod canon;
pub mod conf;
pub mod logconf;
pub mod paths;
pub mod probe;
pub mod ready;
pub mod sockets;
pub mod svcdir;
pub mod tree;
