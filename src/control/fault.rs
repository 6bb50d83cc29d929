//! Fault injection for the tests: a way to make PID 1 panic on purpose, so
//! that the recovery from an internal error can be tested for real.
//!
//! Compiled into debug builds only (the binaries `cargo test` runs); in a
//! release build every function here is an empty inline stub, so the
//! installed cinit has no way to be told to fail.
//!
//! `CINIT_FAULT` in cinit's environment selects the fault:
//!
//! | value        | effect                                                         |
//! |--------------|----------------------------------------------------------------|
//! | `start:NAME` | a `start NAME` request panics while it is handled               |
//! | `loop:NAME`  | after a `start NAME` request, every event-loop iteration panics |
//! | `no-peerpidfd` | act as a kernel without `SO_PEERPIDFD` (before Linux 6.5): peers are pinned by their start time |

/// Called for each service name of a `start` request.
#[cfg(debug_assertions)]
pub fn on_start(name: &str) {
    use std::sync::atomic::Ordering;
    let Some(fault) = std::env::var_os("CINIT_FAULT") else {
        return;
    };
    let fault = fault.to_string_lossy();
    if fault.strip_prefix("loop:") == Some(name) {
        imp::LOOP.store(true, Ordering::Relaxed);
    }
    if fault.strip_prefix("start:") == Some(name) {
        // The one deliberate panic in daemon code: it is what is tested.
        #[allow(clippy::panic)]
        {
            panic!("injected fault: start {name}");
        }
    }
}

/// Called at the start of each event-loop iteration.
#[cfg(debug_assertions)]
pub fn on_iteration() {
    if imp::LOOP.load(std::sync::atomic::Ordering::Relaxed) {
        #[allow(clippy::panic)]
        {
            panic!("injected fault: event loop");
        }
    }
}

/// Whether to act as if the kernel had no `SO_PEERPIDFD`
/// ([`crate::control::peer`]), so the start-time fallback can be tested on any
/// kernel.
#[cfg(debug_assertions)]
pub fn no_peer_pidfd() -> bool {
    std::env::var_os("CINIT_FAULT").is_some_and(|f| f == "no-peerpidfd")
}

#[cfg(debug_assertions)]
mod imp {
    use std::sync::atomic::AtomicBool;
    /// Set once a `loop:NAME` fault has been triggered.
    pub static LOOP: AtomicBool = AtomicBool::new(false);
}

#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn on_start(_name: &str) {}

#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn on_iteration() {}

#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn no_peer_pidfd() -> bool {
    false
}
