//! cinit: a minimal, static init system for Linux.
//!
//! The crate is a house of rooms, one folder each; each room's `mod.rs`
//! says what it owns and what it may import (doc/DESIGN.md draws the
//! picture). From the bottom up:
//!
//! - [`engine`]: the pure supervision state machine, the dependency graph,
//!   the service states and the shared small types (`Millis`, `Pid`);
//!   [`proto`]: the wire codec and every control message, shared with the
//!   CLI; [`sys`]: the syscall seam and its real implementation.
//! - [`config`]: the service tree and settings; [`ready`]: readiness pipes
//!   and probes; [`fds`]: listening sockets and the fd store; [`logs`]:
//!   service output and cinit's own messages; [`control`]: the control
//!   socket and command handling; [`update`]: the hot-update snapshot and
//!   re-exec.
//! - [`daemon`]: boot and the one event loop of PID 1; [`ctl`]: the client,
//!   `cinit-ctl`.
//!
//! Daemon code must not panic: `unwrap`, `expect`, `panic!` and indexing are
//! denied by the lint table in `Cargo.toml`; tests opt out locally.

pub mod config;
pub mod control;
pub mod ctl;
pub mod daemon;
pub mod engine;
pub mod fds;
pub mod logs;
pub mod proto;
pub mod ready;
pub mod sys;
pub mod update;

/// A hash map with fixed keys. Its keys are service paths from root's
/// configuration and pids from the kernel, so random keys would buy nothing,
/// and they would cost every binary `getrandom` and its error path.
pub(crate) type HashMap<K, V> = std::collections::HashMap<K, V, FixedHasher>;
/// A hash set with fixed keys, as [`HashMap`].
pub(crate) type HashSet<K> = std::collections::HashSet<K, FixedHasher>;
/// SipHash with zero keys.
pub(crate) type FixedHasher = std::hash::BuildHasherDefault<std::hash::DefaultHasher>;

/// The build id, from `CINIT_BUILD_ID` at compile time (the Makefile sets
/// it from `git describe`); empty when built without it.
pub const BUILD_ID: &str = match option_env!("CINIT_BUILD_ID") {
    Some(id) => id,
    None => "",
};

/// The version shown to users: `0.1.0`, or `0.1.0 (BUILD_ID)`.
pub fn version() -> String {
    let v = env!("CARGO_PKG_VERSION");
    if BUILD_ID.is_empty() {
        v.to_string()
    } else {
        format!("{v} ({BUILD_ID})")
    }
}
