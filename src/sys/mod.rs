//! The system: the syscall seam and its real implementation. The engine's
//! window on the machine ([`host`]), spawning ([`spawn`]), signals
//! ([`signals`]), reaping ([`reap`]), the clock ([`clock`]), the descriptor
//! limit ([`nofile`]), walking paths safely ([`safepath`]), the shutdown's
//! system-wide operations ([`ops`]), cinit's console ([`console`]) and
//! resource shortages ([`shortage`]).
//!
//! The lowest room with `engine` and `proto`: it may import `engine` for the
//! shared small types, and nothing above it.

pub mod clock;
pub mod console;
pub mod nofile;
pub mod ops;
pub mod place;
pub mod process;
pub mod reap;
pub mod safepath;
pub mod shortage;
pub mod signals;
pub mod spawn;
