//! cinit: a minimal, static init system for Linux.
//!
//! Pure logic (no system calls, unit-tested without forking):
//! [`svcdir`] file formats, [`tree`] loading, [`graph`] cycles, [`engine`]
//! the supervision state machine, [`state`] the user-visible words,
//! [`paths`], [`conf`], [`check`]; [`timeline`], [`bootchart`] and [`dot`],
//! the boot timeline as `cinit-ctl analyze` and `graph` show it.
//!
//! System edges (used only by the PID-1 binary): [`spawn`], [`signals`],
//! [`reap`], [`console`], [`boot`], [`clock`], and [`daemon`], the event loop
//! that ties them together.
//!
//! Daemon code must not panic: `unwrap`, `expect`, `panic!` and indexing are
//! denied by the lint table in `Cargo.toml`; tests opt out locally.

pub mod boot;
pub mod bootchart;
pub mod canon;
pub mod check;
pub mod client;
pub mod clock;
pub mod closer;
pub mod commands;
pub mod conf;
pub mod console;
pub mod control;
pub mod control_fds;
pub mod control_socket;
pub mod daemon;
pub mod dot;
pub mod emergency;
pub mod engine;
pub mod fault;
pub mod fdclient;
pub mod fdplace;
pub mod fdstore;
pub mod framing;
pub mod graph;
pub mod host;
pub mod json;
pub mod kmsg;
pub mod kmsglog;
pub mod lifecycle;
pub mod listen;
pub mod listen_exec;
pub mod logclient;
pub mod logconf;
pub mod logfile;
pub mod logfmt;
pub mod logfollow;
pub mod logline;
pub mod logring;
pub mod logs;
pub mod logsnap;
pub mod logwriter;
pub mod nofile;
pub mod paths;
pub mod peer;
pub mod preflight;
pub mod probe;
pub mod prober;
pub mod proto;
pub mod ready_conf;
pub mod ready_pipe;
pub mod reap;
pub mod safepath;
pub mod scm;
pub mod shortage;
pub mod signals;
pub mod snapshot;
pub mod socket_conf;
pub mod spawn;
pub mod state;
pub mod svcdir;
pub mod sysops;
pub mod timeline;
pub mod tree;
pub mod update;
pub mod wait;

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
