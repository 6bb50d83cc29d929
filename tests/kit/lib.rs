//! Test support shared by cinit's integration test crates that needs
//! neither the cinit binary nor its library.
//!
//! * [`serial`]: one QEMU driven over its serial console: start, read the
//!   console from a thread, wait for text with deadlines, type lines, run a
//!   shell command between computed markers, fail with the transcript's
//!   tail, save the transcript, kill QEMU on drop. Used by the sample-system
//!   suite (`tests/vm/`) and the Debian server (`tests/distro/`), which keep
//!   what differs between them: QEMU's arguments, the prompt, the login,
//!   what "up" means, the timeouts and where transcripts go.
//! * [`chart`]: a boot chart rendered by headless Chromium and its pixels
//!   counted (`tests/vm/`, and `tests/ns_timeline.rs` through
//!   `tests/common`).
//!
//! The namespace-test helpers stay in `tests/common/mod.rs`: they name the
//! built binary with `env!("CARGO_BIN_EXE_cinit")`, which Cargo sets only
//! for the package's own test crates.

pub mod chart;
pub mod serial;
