//! cgroup v2 containment of services.
//!
//! Every service runs in a cgroup of its own, so that `stop` reaches every
//! process it made, however it forked. [`layout`] says where each cgroup
//! is (pure: the names, no system call).

pub mod apply;
pub mod layout;
pub mod parse;
