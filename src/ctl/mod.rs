//! Floor 6 of the house (doc/DESIGN.md, "Rooms"): the top, beside `daemon`; it may import
//! every room below it, and nothing imports it.
//!
//! `cinit-ctl`, the client: one request over the control socket
//! ([`client`]), status lines ([`status`]), the log stream ([`log`]), the fd
//! store commands ([`fdstore`]), seconds on the command line
//! ([`seconds`]), the boot chart ([`bootchart`]), the graph
//! ([`dot`]), the offline check of a tree ([`check`]), and the cgroup
//! figures of `status` and `top` ([`cgstats`], [`top`]).

pub mod bootchart;
pub mod cgstats;
pub mod check;
pub mod client;
pub mod dot;
pub mod fdstore;
pub mod log;
pub mod seconds;
pub mod status;
pub mod top;
