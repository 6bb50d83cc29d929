//! Serving the control socket's requests, the daemon's side: a batch of
//! requests carried out in order, and the pending operations answered,
//! kept or forgotten. Generic over the command handling's [`Host`] seam,
//! and given the control socket's answers as closures, so it is
//! unit-tested with a fake host (`daemon/event/tests.rs`).
//!
//! Invariants: a batch is served in the order it came; its fd requests and
//! system actions are handed back, each kind in its order, for after the
//! whole batch; of the operations of departed clients only restarts are
//! kept, at most [`MAX_ORPHANED_RESTARTS`].
//!
//! Part of [`crate::daemon`] (a child module of the event loop).

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::control::commands::{execute, progress, Host, Outcome, Services};
use crate::control::pending::Pending;
use crate::control::Incoming;
use crate::proto::{ErrorCode, Reply, SystemAction};
use crate::sys::clock::Millis;

/// Most restarts kept going after their clients left (each waits for its
/// services to go down before starting them again).
pub(super) const MAX_ORPHANED_RESTARTS: usize = 64;

/// Carry out a batch of `requests` in the order they came, answering each
/// through `reply` or adding it to `pending`. The fd requests and the
/// system actions among them are returned, in order, for the caller to
/// carry out after the whole batch, fd requests first: a shutdown asked
/// for with other requests begins once they are served.
pub(super) fn serve_batch<H: Host>(
    sv: &mut Services<H>,
    now: Millis,
    requests: Vec<Incoming>,
    pending: &mut Vec<Pending>,
    mut reply: impl FnMut(u64, Reply),
) -> (Vec<Incoming>, Vec<(u64, SystemAction)>) {
    let mut system = Vec::new();
    let mut fd_requests = Vec::new();
    for inc in requests {
        if inc.request.is_fd() {
            fd_requests.push(inc);
            continue;
        }
        // A request that hits an internal error gets an error reply; the
        // rest of the batch is still served.
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            execute(sv, now, inc.client, inc.uid, &inc.request)
        }))
        .unwrap_or_else(|_| {
            sv.host
                .log("internal error while handling a request; continuing");
            Outcome::Reply(Reply::Error {
                code: ErrorCode::Failed,
                message: "internal error in cinit; the request was not carried out".to_owned(),
            })
        });
        match outcome {
            Outcome::Reply(r) => reply(inc.client, r),
            // Unprivileged waits are capped (see crate::control::wait).
            Outcome::Pending(p) => match crate::control::wait::refusal(pending, &p) {
                Some(refused) => reply(inc.client, refused),
                None => pending.push(p),
            },
            Outcome::System(action) => system.push((inc.client, action)),
        }
    }
    (fd_requests, system)
}

/// Answer every operation in `pending` that has completed (`reply`), and
/// forget it. A client that went away (not `connected`) does not cancel
/// what it asked for: a restart still starts its services again once they
/// are down (at most [`MAX_ORPHANED_RESTARTS`] such restarts are kept);
/// other operations of a departed client are forgotten.
pub(super) fn answer_pending<H: Host>(
    sv: &mut Services<H>,
    pending: &mut Vec<Pending>,
    now: Millis,
    connected: impl Fn(u64) -> bool,
    mut reply: impl FnMut(u64, Reply),
) {
    let mut orphans = 0;
    pending.retain_mut(|p| {
        let connected = connected(p.client());
        if !connected {
            if !p.outlives_client() {
                return false;
            }
            orphans += 1;
            if orphans > MAX_ORPHANED_RESTARTS {
                return false;
            }
        }
        match progress(sv, now, p) {
            Some(answer) => {
                if connected {
                    reply(p.client(), answer);
                }
                false
            }
            None => connected || p.outlives_client(),
        }
    });
}
