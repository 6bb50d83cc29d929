//! Floor 5 of the house (doc/DESIGN.md, "Rooms"): it may import the rooms of floors 0
//! to 4. The hot update: the exec and the hand-over (`exec.rs`), which
//! descriptors are open (`fdtable.rs`), the snapshot
//! container ([`snapshot`]) and the preflight of a new image
//! ([`preflight`]).

mod exec;
mod fdtable;
pub mod preflight;
pub mod snapshot;
pub use exec::{
    cloexec_all, close_others, exec_with_snapshot, is_open, set_cloexec, take_handover, Handover,
    SelfExec, ENV_VAR,
};
pub use fdtable::OpenFds;
