//! Floor 1 of the house (doc/DESIGN.md, "Rooms"): it may import only `sys` and `proto`. The pure
//! supervision state machine ([`Engine`]), what it is given ([`Node`],
//! [`probe::Probe`]) and acts through ([`Host`]), the dependency graph
//! ([`graph`]) and the user-visible states ([`state`]).

pub mod failure;
pub mod graph;
mod machine;
pub mod probe;
mod save;
pub use save::{TAG_NODE, TAG_SERVICE, TAG_TIMELINE};
pub mod state;
pub use machine::{
    restart_delay, Engine, Failure, Host, Node, Report, Role, Spawned, Status, Timeline, Times,
    BACKOFF_FIRST_MS, BACKOFF_MAX_MS, DEFAULT_DELAY_S, KILL_WAIT_MS, STABLE_MS,
};
