//! Carrying out control requests against the running services.
//!
//! A request is checked (permission, service names) and either answered at
//! once or becomes a [`Pending`] operation, answered when the services it
//! touches have come to a result: `start` when every named service is
//! settled (running, done, failed, need-failed, backoff); `stop` when the
//! named services and every service that needed them are down; `restart`
//! when they are down and then settled again; `wait` when every named
//! service is up or has failed ([`crate::control::wait`]). Nothing here blocks.
//!
//! Service names are paths relative to `svc/`; an absolute path inside the
//! tree also works; anything outside it is refused. For root, a service
//! that exists but is not loaded yet (not reachable from the root) is
//! loaded on demand. For anyone else a name is only text: it must spell a
//! service already loaded, as `cinit-ctl list` shows it
//! ([`loaded_by_name`]); nothing is looked up on disk for them, so the
//! answer cannot tell what exists there, and nothing is loaded.
//!
//! The system is reached only through [`Host`] (the daemon's `RealHost`;
//! a fake in the unit tests), so every decision here is tested without
//! forking: nothing in this module spawns, signals or touches a socket.

use std::path::{Component, Path, PathBuf};

use crate::config::dirlist::Listing;
use crate::config::tree::Tree;
use crate::control::logfollow::LogFollow;
use crate::control::pending::Pending;
use crate::control::wait::info;
use crate::engine::Engine;
use crate::logs::ring::Ring;
use crate::proto::{ErrorCode, Reply, Request, ServiceInfo, SystemAction};
use crate::sys::clock::Millis;

/// What carrying out requests needs of the system, beyond what the engine
/// needs to start and stop services ([`crate::engine::Host`]).
pub trait Host: crate::engine::Host {
    /// Say `text` in cinit's own log.
    fn log(&mut self, text: &str);
    /// One line for each shortage (descriptors, memory, processes) that
    /// keeps services from starting now.
    fn shortage_notes(&self, now: Millis) -> Vec<String>;
    /// The log of service `svc` (`None`: cinit's own); `None` for a
    /// service that has not logged yet.
    fn log_ring(&self, svc: Option<usize>) -> Option<&Ring>;
    /// Close the sockets and stored descriptors held for `svc`; how many.
    fn release_fds(&mut self, svc: usize) -> usize;
    /// Services were loaded on demand: their directories, in index order,
    /// and what the load listed in each (for a start in the same turn).
    fn add_dirs(&mut self, dirs: &[PathBuf], listings: Vec<Listing>);
    /// Send `sig` (`None`: its `reload-signal`, by default SIGHUP) to
    /// service `svc`, whose main process `main` is unreaped: to that
    /// process, or with `all` to every process of the service. The signal
    /// sent, or why not.
    fn send_signal(
        &mut self,
        svc: usize,
        main: crate::sys::process::Pid,
        sig: Option<i32>,
        all: bool,
    ) -> Result<i32, String>;
    /// What `notify-socket` service `svc` said last over sd_notify: its
    /// `STATUS=` text and the other words ([`ServiceInfo::notify`]).
    fn notify_said(&self, svc: usize) -> (Option<String>, Option<String>) {
        let _ = svc;
        (None, None)
    }
}

/// Everything a request may touch.
pub struct Services<'a, H: Host> {
    pub engine: &'a mut Engine,
    pub tree: &'a mut Tree,
    pub host: &'a mut H,
    /// Set while a shutdown or rescue is taking the system down: state
    /// changes are refused with this message.
    pub frozen: Option<String>,
}

#[cfg_attr(test, derive(Debug, PartialEq))]
pub enum Outcome {
    Reply(Reply),
    Pending(Pending),
    /// A system action (reboot, rescue, update…) for the daemon to decide.
    System(SystemAction),
}

pub(crate) fn error(code: ErrorCode, message: String) -> Outcome {
    Outcome::Reply(Reply::Error { code, message })
}

fn verb(req: &Request) -> &'static str {
    match req {
        Request::Version => "version",
        Request::Status { .. } => "status",
        Request::Start { .. } => "start",
        Request::Stop { .. } => "stop",
        Request::Restart { .. } => "restart",
        Request::Wait { .. } => "wait",
        Request::System(a) => a.word(),
        Request::Log { .. } => "log",
        Request::Analyze => "analyze",
        Request::FdStore { .. }
        | Request::FdFetch { .. }
        | Request::FdDrop { .. }
        | Request::FdList { .. } => "fdstore",
        Request::Signal { .. } => "signal",
        Request::Reload { .. } => "reload",
        Request::Unknown(_) => "unknown",
    }
}

/// Find (loading if needed) the service called `name`.
pub(crate) fn resolve<H: Host>(sv: &mut Services<H>, name: &str) -> Result<usize, String> {
    if name.is_empty() {
        return Err("empty service name".to_string());
    }
    let root = sv.tree.svc_root().to_path_buf();
    let given = Path::new(name);
    let path = if given.is_absolute() {
        given.to_path_buf()
    } else {
        root.join(given)
    };
    if let Some(i) = loaded_plain(sv.tree, &root, &path) {
        return Ok(i);
    }
    let dir = match std::fs::canonicalize(&path) {
        Ok(dir) => dir,
        // Not there: perhaps an instance of a template that is.
        Err(_) => crate::config::instance::resolve_request(name, &path)?
            .ok_or_else(|| format!("no such service: {name} (no directory {})", path.display()))?,
    };
    if !dir.starts_with(&root) {
        return Err(format!(
            "{name} is outside the service tree {}",
            root.display()
        ));
    }
    if dir == root {
        return Err(format!(
            "{name} names the service tree {} itself, not a service",
            root.display()
        ));
    }
    if crate::config::instance::is_template(&dir) {
        return Err(format!(
            "{name} is a template, never started itself; start an instance, {name}NAME"
        ));
    }
    // An instance has no directory of its own (its template has).
    if !dir.is_dir() && crate::config::instance::template_of(&dir).is_none() {
        return Err(format!("{name} is not a service directory"));
    }
    if let Some(i) = sv.tree.index_of_dir(&dir) {
        return Ok(i);
    }
    let (nodes_before, problems_before) = (sv.tree.len(), sv.tree.problems.len());
    let i = sv
        .tree
        .add_root(&dir)
        .ok_or_else(|| format!("cannot load service {name}"))?;
    // The new services move to the engine, their one owner.
    // What the load listed serves the start that follows it.
    let (nodes, listings) = sv.tree.take_loaded();
    sv.engine.add_nodes(nodes);
    sv.host
        .add_dirs(sv.tree.dirs.get(nodes_before..).unwrap_or(&[]), listings);
    let problems: Vec<String> = sv
        .tree
        .problems
        .get(problems_before..)
        .unwrap_or(&[])
        .iter()
        .map(|p| format!("config: {p}"))
        .collect();
    for p in problems {
        sv.host.log(&p);
    }
    Ok(i)
}

/// The loaded service at `path`, if `path` is already canonical: below the
/// service root only plain names (no `.`, `..`), none of them a symlink, the
/// last a directory. One `lstat` per name below the root, where
/// `realpath(3)` reads every component of the whole path; anything else is
/// left to the full resolution.
fn loaded_plain(tree: &Tree, root: &Path, path: &Path) -> Option<usize> {
    let rel = path.strip_prefix(root).ok()?;
    let mut cur = root.to_path_buf();
    let mut is_dir = false;
    for c in rel.components() {
        let std::path::Component::Normal(n) = c else {
            return None;
        };
        cur.push(n);
        let meta = std::fs::symlink_metadata(&cur).ok()?;
        if meta.file_type().is_symlink() {
            return None;
        }
        is_dir = meta.is_dir();
    }
    if !is_dir {
        return None;
    }
    tree.index_of_dir(&cur)
}

/// The loaded service that `name` spells, from the text alone (no file
/// system access): a path relative to `svc/`, or absolute inside it, of
/// plain names (`.` is skipped; `..` is refused), naming a directory cinit
/// has loaded under that very (canonical) path.
pub(crate) fn loaded_by_name(tree: &Tree, name: &str) -> Option<usize> {
    let root = tree.svc_root();
    let given = Path::new(name);
    let rel = if given.is_absolute() {
        given.strip_prefix(root).ok()?
    } else {
        given
    };
    let mut path = root.to_path_buf();
    let mut plain = false;
    for c in rel.components() {
        match c {
            Component::Normal(n) => {
                path.push(n);
                plain = true;
            }
            Component::CurDir => {}
            _ => return None,
        }
    }
    plain.then(|| tree.index_of_dir(&path)).flatten()
}

/// The one answer a user other than root gets for a name that is not a
/// loaded service: the same whatever is, or is not, at that path.
pub(crate) fn not_loaded(name: &str) -> String {
    format!(
        "no such service: {name} (users other than root may name only services cinit \
         has loaded, as `cinit-ctl list` shows them)"
    )
}

/// [`resolve`] for root; [`loaded_by_name`] for anyone else.
pub(crate) fn resolve_as<H: Host>(
    sv: &mut Services<H>,
    name: &str,
    uid: u32,
) -> Result<usize, String> {
    if uid == 0 {
        resolve(sv, name)
    } else {
        loaded_by_name(sv.tree, name).ok_or_else(|| not_loaded(name))
    }
}

fn resolve_all<H: Host>(
    sv: &mut Services<H>,
    names: &[String],
    uid: u32,
) -> Result<Vec<usize>, Outcome> {
    if names.is_empty() {
        return Err(error(ErrorCode::Usage, "no service named".to_string()));
    }
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        match resolve_as(sv, name, uid) {
            Ok(i) if !out.contains(&i) => out.push(i),
            Ok(_) => {}
            Err(msg) => return Err(error(ErrorCode::Usage, msg)),
        }
    }
    Ok(out)
}

fn infos(engine: &Engine, now: Millis, svcs: &[usize], dependent: bool) -> Vec<ServiceInfo> {
    svcs.iter()
        .map(|&i| info(engine, now, i, dependent))
        .collect()
}

/// The reply to stop/restart: the dependents (marked), then the named ones.
fn dependents_first(engine: &Engine, now: Millis, deps: &[usize], roots: &[usize]) -> Reply {
    let mut list = infos(engine, now, deps, true);
    list.extend(infos(engine, now, roots, false));
    Reply::Services(list)
}

/// Carry out one request from a client with user id `uid`.
pub fn execute<H: Host>(
    sv: &mut Services<H>,
    now: Millis,
    client: u64,
    uid: u32,
    req: &Request,
) -> Outcome {
    if uid != 0 && !req.is_read_only() {
        return error(
            ErrorCode::Permission,
            format!(
                "permission denied: {} needs root (you are uid {uid})",
                verb(req)
            ),
        );
    }
    if let (Some(why), Request::Start { .. } | Request::Stop { .. } | Request::Restart { .. }) =
        (&sv.frozen, req)
    {
        let message = format!("{} refused: {why}", verb(req));
        sv.host.log(&message);
        return error(ErrorCode::Failed, message);
    }
    match req {
        Request::Version => Outcome::Reply(Reply::Version {
            server: crate::version(),
            protocol: crate::proto::VERSION,
        }),
        Request::Status { names } => {
            let svcs: Vec<usize> = if names.is_empty() {
                (0..sv.engine.len()).collect()
            } else {
                match resolve_all(sv, names, uid) {
                    Ok(s) => s,
                    Err(outcome) => return outcome,
                }
            };
            let mut services = infos(sv.engine, now, &svcs, false);
            for (s, &i) in services.iter_mut().zip(&svcs) {
                (s.status_text, s.notify) = sv.host.notify_said(i);
            }
            // A shortage that keeps services from starting heads the whole
            // list (asked by name, each service's reason says it, and the
            // first line stays the service's).
            let notes = if names.is_empty() {
                sv.host.shortage_notes(now)
            } else {
                Vec::new()
            };
            Outcome::Reply(if notes.is_empty() {
                Reply::Services(services)
            } else {
                Reply::Status { notes, services }
            })
        }
        Request::Start { names, no_deps } => {
            names
                .iter()
                .for_each(|n| crate::control::fault::on_start(n));
            let svcs = match resolve_all(sv, names, uid) {
                Ok(s) => s,
                Err(outcome) => return outcome,
            };
            for &i in &svcs {
                if *no_deps {
                    sv.engine.start_alone(sv.host, now, i);
                } else {
                    sv.engine.start(sv.host, now, i);
                }
            }
            Outcome::Pending(Pending::Start { client, svcs })
        }
        Request::Stop { names } | Request::Restart { names } => {
            let roots = match resolve_all(sv, names, uid) {
                Ok(s) => s,
                Err(outcome) => return outcome,
            };
            let deps = sv.engine.stop_with_dependents(sv.host, now, &roots);
            if matches!(req, Request::Stop { .. }) {
                Outcome::Pending(Pending::Stop {
                    client,
                    roots,
                    deps,
                })
            } else {
                Outcome::Pending(Pending::Restart {
                    client,
                    roots,
                    deps,
                    starting: false,
                })
            }
        }
        Request::Wait { names } => match resolve_all(sv, names, uid) {
            Ok(svcs) => Outcome::Pending(Pending::Wait { client, svcs, uid }),
            Err(outcome) => outcome,
        },
        Request::System(action) => Outcome::System(*action),
        Request::Log {
            name,
            lines,
            follow,
        } => {
            let svc = match name.as_deref().map(|n| resolve(sv, n)) {
                None => None,
                Some(Ok(i)) => Some(i),
                Some(Err(msg)) => return error(ErrorCode::Usage, msg),
            };
            let ring = sv.host.log_ring(svc);
            Outcome::Pending(Pending::Log(LogFollow::new(
                client, svc, ring, *lines, *follow,
            )))
        }
        Request::Analyze => Outcome::Reply(crate::control::timeline::reply(sv.engine, now)),
        // They need the descriptors sent along and the caller's process:
        // the daemon carries them out (crate::fds::store).
        Request::FdStore { .. }
        | Request::FdFetch { .. }
        | Request::FdDrop { .. }
        | Request::FdList { .. } => {
            error(ErrorCode::Failed, "fd requests are not handled here".into())
        }
        Request::Signal { name, signal, all } => {
            crate::control::signal::execute(sv, name, Some(i32::from(*signal)), *all)
        }
        Request::Reload { name } => crate::control::signal::execute(sv, name, None, false),
        Request::Unknown(opcode) => Outcome::Reply(Reply::Unsupported { opcode: *opcode }),
    }
}

/// Whether the stop part of a stop or restart is over for service `i`: it
/// is down, or nothing is stopping it any more because a later request
/// started it again (the later request wins; waiting for it to go down
/// would wait forever).
fn stop_over(engine: &Engine, i: usize) -> bool {
    engine.is_down(i) || !engine.is_being_stopped(i)
}

/// A service stopped on request gives up its sockets and stored
/// descriptors: nobody would accept on them (connections would hang rather
/// than be refused), and a later start begins afresh. A crash, a restart
/// or a hot update keeps them.
fn release_held<H: Host>(sv: &mut Services<H>, svcs: impl Iterator<Item = usize>) {
    for i in svcs {
        if !sv.engine.is_down(i) {
            continue; // started again by a later request
        }
        let closed = sv.host.release_fds(i);
        if closed > 0 {
            let name = sv.engine.status(i).map(|s| s.name.to_string());
            sv.host.log(&format!(
                "{}: closed its {closed} held descriptor(s) (stopped on request)",
                name.unwrap_or_default()
            ));
        }
    }
}

/// Advance a pending operation; the reply once it is complete.
pub fn progress<H: Host>(sv: &mut Services<H>, now: Millis, p: &mut Pending) -> Option<Reply> {
    match p {
        // Log readers are answered in frames by `logfollow::feed_all`.
        Pending::Log(_) => None,
        Pending::Start { svcs, .. } => svcs
            .iter()
            .all(|&i| sv.engine.is_settled(i))
            .then(|| Reply::Services(infos(sv.engine, now, svcs, false))),
        Pending::Stop { roots, deps, .. } => {
            let down = roots
                .iter()
                .chain(deps.iter())
                .all(|&i| stop_over(sv.engine, i));
            if down {
                release_held(sv, roots.iter().chain(deps.iter()).copied());
            }
            down.then(|| dependents_first(sv.engine, now, deps, roots))
        }
        Pending::Restart {
            roots,
            deps,
            starting,
            ..
        } => {
            if !*starting {
                if !roots
                    .iter()
                    .chain(deps.iter())
                    .all(|&i| stop_over(sv.engine, i))
                {
                    return None;
                }
                *starting = true;
                for &i in roots.iter().chain(deps.iter()) {
                    sv.engine.start(sv.host, now, i);
                }
            }
            let settled = roots
                .iter()
                .chain(deps.iter())
                .all(|&i| sv.engine.is_settled(i));
            settled.then(|| dependents_first(sv.engine, now, deps, roots))
        }
        Pending::Wait { svcs, .. } => crate::control::wait::answer(sv.engine, now, svcs),
    }
}

#[cfg(test)]
pub(crate) mod tests;
