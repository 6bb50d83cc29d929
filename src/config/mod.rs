//! Floor 2 of the house (doc/DESIGN.md, "Rooms"): it may import `engine` and `sys`.
//!
//! Configuration: everything read from the service tree and `$CINIT_DIR`
//! before a service runs. One service directory's files ([`svcdir`]), the
//! whole tree ([`tree`], [`canon`]), the `sockets` file ([`sockets`]), the
//! readiness files ([`ready`], [`probe`]), signal names ([`signal`]), log
//! settings ([`logconf`]), global settings ([`conf`]), where things are
//! ([`paths`]), and the execution context, user and limits ([`context`],
//! [`passwd`]), the `cgroup` file ([`cgroupconf`]), the `watchdog` file
//! ([`watchdog`]), the `condition` file ([`condition`]), templates and
//! their instances ([`instance`]). Parsing and
//! validation only: it reads files but starts nothing.

pub mod canon;
pub mod cgroupconf;
pub mod condition;
pub mod conf;
pub mod context;
pub mod dirlist;
pub mod failure;
pub mod instance;
pub mod logconf;
pub mod passwd;
pub mod paths;
pub mod probe;
pub mod ready;
pub mod signal;
pub mod sockets;
pub mod svcdir;
pub mod tree;
pub mod watchdog;
