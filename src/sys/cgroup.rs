//! cgroup v2 containment of services.
//!
//! Every service runs in a cgroup of its own, so that `stop` reaches every
//! process it made, however it forked. [`layout`] says where each cgroup
//! is (pure: the names, no system call); [`find`] reads where the
//! hierarchy and cinit's own cgroup are (pure: the parsing); [`setup`]
//! takes the base at boot (system calls); [`ops`] makes, kills, signals
//! and watches one service's cgroup (system calls); [`file`] is their
//! raw, bounded file access; [`apply`] writes a service's `cgroup` file
//! into its cgroup (system calls), [`parse`] reads the kernel's figures
//! (pure).

pub mod apply;
pub mod file;
pub mod find;
pub mod layout;
pub mod ops;
pub mod parse;
pub mod setup;
