//! Floor 0 of the house (doc/DESIGN.md, "Rooms"): the bottom. It imports no other room.
//!
//! The system: what every room needs from the kernel, and the shared small
//! types. The clock and [`clock::Millis`], a process's [`process::Pid`] and
//! [`process::ExitStatus`], spawning ([`spawn`], with [`place`] ordering a
//! child's descriptors), signals ([`signals`]), reaping ([`reap`]), the
//! descriptor limit ([`nofile`]), walking paths safely ([`safepath`]), the
//! shutdown's system-wide operations ([`ops`]), cinit's console
//! ([`console`]), resource shortages ([`shortage`]), cgroup v2
//! containment ([`cgroup`]) and the event loop's poll set, which pairs each
//! descriptor with its owner's token ([`poll`]).

pub mod cgroup;
pub mod clock;
pub mod console;
pub mod nofile;
pub mod ops;
pub mod place;
pub mod poll;
pub mod process;
pub mod reap;
pub mod safepath;
pub mod shortage;
pub mod signals;
pub mod spawn;
