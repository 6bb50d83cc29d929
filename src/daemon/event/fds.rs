//! The fd store, the daemon's side: carrying out FD_STORE, FD_FETCH,
//! FD_DROP and FD_LIST ([`crate::fds::store`] holds the descriptors), and who
//! may do so. (The held descriptors cross a hot update by themselves:
//! [`crate::fds::store::FdTable::save`].)
//!
//! Who may: root, or a process of the service itself — one whose session is
//! the service's (each service runs in a session of its own, led by its
//! main process), told by the peer pid the kernel gives the control socket
//! (`SO_PEERCRED`), and only while the process that connected is still the
//! one with that pid ([`crate::control::peer`]): a caller whose process has gone is
//! refused, whatever process has its number now. A client in another PID
//! namespace has no pid here, so only root may act from there. An empty
//! service name is the caller's own service.
//!
//! For a caller other than root, the permission is decided before any
//! name is looked up, and the name is only compared as text with the
//! caller's own service ([`crate::control::commands::loaded_by_name`]): nothing on
//! disk is looked at, nothing is loaded, and every refusal reads the same
//! whatever exists at that path.
//!
//! Who may is decided by `fd_service` and `may_pass_fds`, which are given
//! the caller's session and reach the services through the
//! [`Host`] seam, not the daemon: they are unit-tested with a fake host
//! (`daemon/event/tests.rs`).
//!
//! Part of [`crate::daemon`] (a child module sharing the daemon's state).

use std::path::Path;

use super::Daemon;
use crate::control::commands::{loaded_by_name, resolve, Host, Services};
use crate::control::peer::Session;
use crate::control::Incoming;
use crate::engine::Engine;
use crate::fds::store::{self, Foreign};
use crate::proto::{ErrorCode, Reply, Request};
use crate::sys::clock::Millis;

fn error(code: ErrorCode, message: String) -> Reply {
    Reply::Error { code, message }
}

/// The service whose main process leads session `sid`.
fn service_led_by(engine: &Engine, sid: i32) -> Option<usize> {
    (0..engine.len()).find(|&i| engine.status(i).and_then(|s| s.pid) == Some(sid))
}

/// The refusal for a caller whose process has gone since it connected.
fn gone(pid: i32) -> Reply {
    error(
        ErrorCode::Permission,
        format!(
            "permission denied: the process that connected (pid {pid}) has gone; \
             its pid may be another process's now"
        ),
    )
}

/// Whether a client connecting as `uid` may pass descriptors at all:
/// root, or a process of a service that has an `fdstore` file (the only
/// request that takes one is FD_STORE). Others get their connection's
/// `SO_PASSRIGHTS` turned off at accept. Decided once per connection: a
/// service given an `fdstore` file later has its processes connect again.
/// `sid` is the session of the connecting process ([`session_of`]), asked
/// for only when the caller is not root; `dir` is a service's directory.
pub(super) fn may_pass_fds<'a>(
    engine: &Engine,
    uid: u32,
    sid: impl FnOnce() -> Option<i32>,
    dir: impl FnOnce(usize) -> Option<&'a Path>,
) -> bool {
    uid == 0
        || sid()
            .and_then(|sid| service_led_by(engine, sid))
            .and_then(dir)
            .is_some_and(has_capacity_file)
}

/// The session of `pid`, as far as accept can tell: a decision about the
/// connection's option only, never a right (requests check the pinned
/// process, [`crate::control::peer`]).
pub(super) fn session_of(pid: i32) -> Option<i32> {
    let pid = (pid > 0).then(|| nix::unistd::Pid::from_raw(pid))?;
    nix::unistd::getsid(Some(pid)).ok().map(|s| s.as_raw())
}

fn has_capacity_file(dir: &Path) -> bool {
    // An instance's is its template's.
    let files = crate::config::dirlist::ServiceDir::unlisted(dir);
    std::fs::symlink_metadata(files.path().join(store::CAPACITY_FILE)).is_ok()
}

/// The service an fd `request` from `uid` (pid `pid`) is about, if the
/// caller may touch its descriptors. `session` is the caller's session,
/// asked for only when the answer depends on it: not for root naming a
/// service.
pub(super) fn fd_service<H: Host>(
    sv: &mut Services<H>,
    request: &Request,
    uid: u32,
    pid: i32,
    session: impl FnOnce() -> Session,
) -> Result<usize, Reply> {
    let service = match request {
        Request::FdStore { service, .. }
        | Request::FdFetch { service, .. }
        | Request::FdDrop { service, .. }
        | Request::FdList { service } => service,
        _ => return Err(error(ErrorCode::Usage, "not an fd request".into())),
    };
    if uid == 0 && !service.is_empty() {
        // Root may touch any service's: no need to know whose process
        // this is.
        return resolve(sv, service).map_err(|m| error(ErrorCode::Usage, m));
    }
    // The caller's own service, from the session of the process that
    // connected.
    let own = match session() {
        Session::Gone => return Err(gone(pid)),
        Session::Outside | Session::In(None) => None,
        Session::In(Some(sid)) => service_led_by(sv.engine, sid),
    };
    if service.is_empty() {
        return own.ok_or_else(|| {
            error(
                ErrorCode::Usage,
                format!(
                    "no service given, and the caller (pid {pid}) is not part of a \
                     running service; name the service"
                ),
            )
        });
    }
    // Not root: the name must spell the caller's own service. Compared
    // as text, after the permission is known.
    match own {
        Some(svc) if loaded_by_name(sv.tree, service) == Some(svc) => Ok(svc),
        _ => Err(error(
            ErrorCode::Permission,
            format!(
                "permission denied: only root or a process of {service} may use its \
                 descriptors (you are uid {uid})"
            ),
        )),
    }
}

impl Daemon {
    /// Carry out an fd request and answer it. Descriptors sent with it that
    /// are not stored are dropped here (to the closer).
    pub(super) fn fd_request(&mut self, now: Millis, inc: Incoming) {
        let Incoming {
            client,
            uid,
            pid,
            request,
            mut fds,
        } = inc;
        let control = self.control.as_ref();
        let mut sv = Services {
            frozen: None,
            engine: &mut self.engine,
            tree: &mut self.tree,
            host: &mut self.host,
        };
        // The caller's session: from the process that connected (getsid,
        // then the check that it is still that process).
        let session = || control.map_or(Session::Gone, |c| c.peer_session(client));
        let (reply, fd) = match fd_service(&mut sv, &request, uid, pid, session) {
            Err(reply) => (reply, None),
            Ok(svc) => self.fd_carry_out(svc, &request, &mut fds),
        };
        drop(fds);
        let Some(control) = self.control.as_mut() else {
            return;
        };
        match fd {
            Some(fd) => control.reply_with_fd(client, now, &reply, fd),
            None => control.reply(client, now, &reply),
        }
    }

    fn fd_carry_out(
        &mut self,
        svc: usize,
        request: &Request,
        fds: &mut Vec<Foreign>,
    ) -> (Reply, Option<Foreign>) {
        let name = self
            .engine
            .status(svc)
            .map(|s| s.name.to_string())
            .unwrap_or_default();
        let failed = |e: store::FdError| error(ErrorCode::Failed, format!("{name}: {e}"));
        let table = &mut self.host.fds;
        match request {
            Request::FdStore { name: fd_name, .. } => {
                if fds.is_empty() {
                    let m = "storing takes one descriptor sent with the request; none came";
                    return (error(ErrorCode::Usage, m.into()), None);
                }
                let capacity = match self.host.dir(svc).map(|d| {
                    store::read_capacity(crate::config::dirlist::ServiceDir::unlisted(d).path())
                }) {
                    Some(Ok(n)) => n,
                    Some(Err(e)) => {
                        let m = format!("{name}: cannot store descriptors: {e}");
                        return (error(ErrorCode::Failed, m), None);
                    }
                    None => 0,
                };
                // The first one; any others are closed with the request.
                let Some(fd) = (!fds.is_empty()).then(|| fds.remove(0)) else {
                    return (error(ErrorCode::Usage, "no descriptor".into()), None);
                };
                let table = &mut self.host.fds;
                match table.store(svc, fd_name, fd, capacity, store::same_file) {
                    Ok(()) => (Reply::Ok { message: None }, None),
                    Err(e) => (failed(e), None),
                }
            }
            Request::FdFetch {
                name: fd_name,
                remove,
                ..
            } => match table.fetch(svc, fd_name, *remove) {
                Ok(fd) => (
                    Reply::FdPassed {
                        name: fd_name.clone(),
                    },
                    Some(fd),
                ),
                Err(e) => (failed(e), None),
            },
            Request::FdDrop { name: fd_name, .. } => match table.drop_stored(svc, fd_name) {
                Ok(()) => (Reply::Ok { message: None }, None),
                Err(e) => (failed(e), None),
            },
            _ => (Reply::Fds(table.list(svc, store::describe)), None),
        }
    }
}
