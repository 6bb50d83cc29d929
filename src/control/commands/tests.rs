//! Unit tests of carrying out requests, without a system: a real service
//! tree in a temporary directory, the real engine, and a fake [`Host`] that
//! hands out made-up pids and records what it is asked (no fork, no
//! socket). Here: the fake, the fixture, and names as text; permissions,
//! names on disk and frozen changes are in `tests/access.rs`, what each
//! request does and when it is answered in `tests/requests.rs`. The
//! daemon's adapter tests (`daemon/event/tests.rs`) use the same fixture.

use super::*;
use crate::engine::state::SpawnError;
use crate::engine::{Report, Role, Spawned};
use crate::sys::process::{ExitStatus, Pid};
use nix::sys::signal::Signal;
use std::collections::HashMap;
use std::fs;

mod access;
mod requests;
mod signal;

/// A tree with `init` needing `a` and `getty/1` loaded; `private` (a
/// service-like directory) exists but is not loaded.
fn tree() -> (tempfile::TempDir, Tree) {
    let t = tempfile::tempdir().unwrap();
    let svc = fs::canonicalize(t.path()).unwrap().join("svc");
    for s in ["init/needs", "a", "getty/1", "private/svc"] {
        fs::create_dir_all(svc.join(s)).unwrap();
    }
    std::os::unix::fs::symlink(svc.join("a"), svc.join("init/needs/a")).unwrap();
    let tree = crate::config::tree::load(&svc, &[svc.join("init"), svc.join("getty/1")]);
    assert_eq!(tree.problems, vec![]);
    (t, tree)
}

/// Proves a loaded service is found from its name as text, however a
/// plain path spells it: trailing slash, `./`, doubled slashes, absolute.
#[test]
fn a_loaded_service_is_found_by_its_name_as_text() {
    let (_t, tree) = tree();
    let a = tree.index_of_dir(&tree.svc_root().join("a")).unwrap();
    let getty = tree.index_of_dir(&tree.svc_root().join("getty/1")).unwrap();
    assert_eq!(loaded_by_name(&tree, "a"), Some(a));
    assert_eq!(loaded_by_name(&tree, "a/"), Some(a));
    assert_eq!(loaded_by_name(&tree, "./a"), Some(a));
    assert_eq!(loaded_by_name(&tree, "getty/1"), Some(getty));
    assert_eq!(loaded_by_name(&tree, "getty//1"), Some(getty));
    let abs = tree.svc_root().join("getty/1");
    assert_eq!(loaded_by_name(&tree, abs.to_str().unwrap()), Some(getty));
}

/// Proves every name that is not a loaded service's plain path is none,
/// whatever is on disk there: unloaded services, links, `..`, outside.
#[test]
fn anything_else_is_no_loaded_service_whatever_is_on_disk() {
    let (t, tree) = tree();
    for name in [
        "private",     // exists, not loaded
        "private/svc", // exists, not loaded
        "absent",      // does not exist
        "",
        ".",
        "getty",        // a directory, not a service
        "init/needs/a", // a link to a loaded service: not its name
        "getty/../a",   // `..` is not resolved as text
        "../svc/a",     // nor here
        "/etc",         // outside the tree
        "/",            // the root directory
    ] {
        assert_eq!(loaded_by_name(&tree, name), None, "{name:?}");
    }
    // The tree's path spelled another way (not canonical) is not it.
    let other = t.path().join("x/../svc/a");
    assert_eq!(loaded_by_name(&tree, other.to_str().unwrap()), None);
}

/// Proves the refusal for a name that is no loaded service depends on the
/// name alone.
#[test]
fn the_refusal_depends_on_the_name_only() {
    assert_eq!(not_loaded("x"), not_loaded("x"));
    assert!(not_loaded("/root/private").contains("/root/private"));
    assert!(not_loaded("x").starts_with("no such service: x "));
}

/// The host as command handling sees it, with nothing behind it.
pub(crate) struct Fake {
    next_pid: Pid,
    /// `(service, pid)` of each `on` spawned.
    pub(crate) spawned: Vec<(usize, Pid)>,
    /// Process groups signalled, in order.
    signalled: Vec<(Pid, Signal)>,
    /// cinit's own log lines.
    lines: Vec<String>,
    /// What [`Host::shortage_notes`] answers.
    notes: Vec<String>,
    own: Ring,
    /// The one service with a log so far, and its ring.
    svc_log: Option<(usize, Ring)>,
    /// Descriptors held per service; released ones are removed.
    held: HashMap<usize, usize>,
    released: Vec<usize>,
    dirs: Vec<PathBuf>,
    /// Each signal sent on request: (service, main pid, signal, all).
    pub(crate) sent: Vec<(usize, Pid, Option<i32>, bool)>,
}

impl crate::engine::Host for Fake {
    fn spawn(&mut self, svc: usize, role: Role) -> Result<Spawned, SpawnError> {
        if role == Role::Off {
            return Ok(Spawned::Nothing);
        }
        self.next_pid += 1;
        self.spawned.push((svc, self.next_pid));
        Ok(Spawned::Pid(self.next_pid))
    }
    fn signal_group(&mut self, pgid: Pid, sig: Signal) {
        self.signalled.push((pgid, sig));
    }
    fn report(&mut self, _svc: usize, _name: &str, _report: Report) {}
}

impl Host for Fake {
    fn log(&mut self, text: &str) {
        self.lines.push(text.to_string());
    }
    fn shortage_notes(&self, _now: Millis) -> Vec<String> {
        self.notes.clone()
    }
    fn log_ring(&self, svc: Option<usize>) -> Option<&Ring> {
        match (svc, &self.svc_log) {
            (None, _) => Some(&self.own),
            (Some(i), Some((j, ring))) if i == *j => Some(ring),
            _ => None,
        }
    }
    fn release_fds(&mut self, svc: usize) -> usize {
        self.released.push(svc);
        self.held.remove(&svc).unwrap_or(0)
    }
    fn add_dirs(&mut self, dirs: &[PathBuf], _: Vec<crate::config::dirlist::Listing>) {
        self.dirs.extend_from_slice(dirs);
    }
    fn send_signal(
        &mut self,
        svc: usize,
        main: Pid,
        sig: Option<i32>,
        all: bool,
    ) -> Result<i32, String> {
        self.sent.push((svc, main, sig, all));
        Ok(sig.unwrap_or(libc::SIGHUP))
    }
}

/// When requests are made; later events are a little after.
pub(crate) const NOW: Millis = 10_000;
/// The client every request comes from.
pub(crate) const CLIENT: u64 = 7;
/// A user other than root.
pub(crate) const USER: u32 = 1000;

/// A running cinit's state, minus the system: `web` (respawn) needs `db`
/// (respawn), both loaded from the root `web`, neither started. Also on
/// disk: `private` (a service, not loaded), `odd` (a service with a bad
/// `delay` file, not loaded), `notes` (a file in `svc/`), and `outside`, a
/// service-like directory next to `svc/`.
pub(crate) struct World {
    t: tempfile::TempDir,
    pub(crate) tree: Tree,
    pub(crate) engine: Engine,
    pub(crate) host: Fake,
    frozen: Option<String>,
}

impl World {
    pub(crate) fn new() -> World {
        let t = tempfile::tempdir().unwrap();
        let base = fs::canonicalize(t.path()).unwrap();
        let svc = base.join("svc");
        for s in ["web", "db", "private", "odd"] {
            fs::create_dir_all(svc.join(s)).unwrap();
            fs::write(svc.join(s).join("on"), "#!/bin/sh\n").unwrap();
        }
        fs::create_dir(svc.join("web/needs")).unwrap();
        for s in ["web", "db"] {
            fs::write(svc.join(s).join("respawn"), "").unwrap();
        }
        fs::write(svc.join("odd/delay"), "soon\n").unwrap();
        std::os::unix::fs::symlink(svc.join("db"), svc.join("web/needs/db")).unwrap();
        fs::write(svc.join("notes"), "not a service\n").unwrap();
        fs::create_dir_all(base.join("outside")).unwrap();
        let mut tree = crate::config::tree::load(&svc, &[svc.join("web")]);
        assert_eq!(tree.problems, vec![]);
        let engine = Engine::new(tree.take_nodes());
        let host = Fake {
            next_pid: 100,
            spawned: Vec::new(),
            signalled: Vec::new(),
            lines: Vec::new(),
            notes: Vec::new(),
            own: Ring::new(4096),
            svc_log: None,
            held: HashMap::new(),
            released: Vec::new(),
            dirs: tree.dirs.clone(),
            sent: Vec::new(),
        };
        World {
            t,
            tree,
            engine,
            host,
            frozen: None,
        }
    }

    pub(crate) fn svc_root(&self) -> PathBuf {
        self.tree.svc_root().to_path_buf()
    }

    /// The index of loaded service `name`.
    pub(crate) fn index(&self, name: &str) -> usize {
        self.tree.index_of_dir(&self.svc_root().join(name)).unwrap()
    }

    pub(crate) fn services(&mut self) -> Services<'_, Fake> {
        Services {
            engine: &mut self.engine,
            tree: &mut self.tree,
            host: &mut self.host,
            frozen: self.frozen.clone(),
        }
    }

    /// Carry out `req` from `uid`.
    pub(crate) fn run(&mut self, uid: u32, req: Request) -> Outcome {
        execute(&mut self.services(), NOW, CLIENT, uid, &req)
    }

    /// Answer `p` if it is complete, at `now`.
    fn progress(&mut self, now: Millis, p: &mut Pending) -> Option<Reply> {
        progress(&mut self.services(), now, p)
    }

    /// The latest process of service `svc` exits with a status of 0.
    pub(crate) fn exit(&mut self, now: Millis, svc: usize) {
        let pid = self
            .host
            .spawned
            .iter()
            .rev()
            .find(|s| s.0 == svc)
            .unwrap()
            .1;
        assert!(self
            .engine
            .child_exited(&mut self.host, now, pid, ExitStatus::Code(0)));
    }
}

pub(crate) fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn status(list: &[&str]) -> Request {
    Request::Status { names: names(list) }
}

/// The error an outcome is, or a panic.
fn refusal(outcome: Outcome) -> (ErrorCode, String) {
    match outcome {
        Outcome::Reply(Reply::Error { code, message }) => (code, message),
        other => panic!("expected an error, got {other:?}"),
    }
}

/// `(name, state, dependent)` of each service in a reply.
fn listed(reply: &Reply) -> Vec<(String, String, bool)> {
    let services = match reply {
        Reply::Services(s) | Reply::Status { services: s, .. } => s,
        other => panic!("expected services, got {other:?}"),
    };
    services
        .iter()
        .map(|s| (s.name.clone(), s.state.clone(), s.dependent))
        .collect()
}

fn row(name: &str, state: &str, dependent: bool) -> (String, String, bool) {
    (name.to_string(), state.to_string(), dependent)
}
