//! Loading a service tree: from root directories, follow `needs/` and `wants/`
//! breadth-first and build the engine's [`Node`] table.
//!
//! Identity is the canonical path: two links to one directory are one
//! service. A service's name is that path relative to the canonical `svc/`
//! directory (or the absolute path, for a service outside it).
//!
//! Invariants: at most [`MAX_SERVICES`] services; every problem found is
//! returned as a [`Problem`] naming the service, the file and the reason, and
//! never stops the rest of the tree from loading. Cycles are marked on every
//! member (they can never start), so the engine need not know about them.

use std::collections::VecDeque;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::config::canon::Canon;
use crate::config::dirlist::{Listing, ServiceDir};
use crate::config::probe::{conflict, read_ready_probe, READY_PROBE};
use crate::config::ready::{read_notification_fd, read_ready_timeout};
use crate::config::svcdir::{
    is_grouping, read_delay, read_deps, read_respawn, resolve_service_dir,
};
use crate::engine::graph::find_cycles;
use crate::engine::state::Reason;
use crate::engine::Node;

/// Most services one tree may hold; beyond this, links are reported and ignored.
/// 16 Ki services × a few hundred bytes stays well under the memory budget.
pub const MAX_SERVICES: usize = 16 * 1024;

/// Something wrong in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub service: String,
    pub file: PathBuf,
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}: {}",
            self.file.display(),
            self.service,
            self.reason
        )
    }
}

/// A loaded tree. More roots can be added later ([`Tree::add_root`]); new
/// services get the next indices, so earlier indices stay valid.
///
/// The service table has one owner: the tree builds the [`Node`]s, and
/// [`Tree::take_nodes`] hands them over (cinit gives them to its engine,
/// which keeps them for good), so `nodes` holds only the services loaded
/// since the last hand-over, from index `handed` on. `dirs` and the index
/// cover every service ever loaded.
#[derive(Debug, Default)]
pub struct Tree {
    /// The services from index `handed` on (all of them, until a
    /// [`Tree::take_nodes`]).
    pub nodes: Vec<Node>,
    /// What the load listed in each directory of `nodes` (same places),
    /// for the starts of the same loop turn ([`Tree::take_loaded`]).
    listings: Vec<Listing>,
    /// How many services were handed over: `nodes[k]` is service
    /// `handed + k`.
    handed: usize,
    /// Canonical directory of each service, handed over or not.
    pub dirs: Vec<PathBuf>,
    /// Indices of the requested roots, in order (a root that could not be
    /// loaded is missing here and reported in `problems`).
    pub roots: Vec<usize>,
    pub problems: Vec<Problem>,
    /// The canonical `svc/` directory.
    svc_root: PathBuf,
    /// Each service by its directory (in `dirs`, not copied).
    index: DirIndex,
    queue: VecDeque<usize>,
    /// Path resolution cache of the load in progress (empty between loads).
    canon: Canon,
    /// The directory of the service being read ([`Tree::read_service`]),
    /// kept between services for its capacity.
    scratch: PathBuf,
    /// How many times the whole tree was searched for cycles.
    #[cfg(test)]
    cycle_searches: usize,
}

/// The display name of a service directory.
pub fn service_name(svc_root: &Path, dir: &Path) -> String {
    if let Some(rel) = plain_rest(svc_root, dir) {
        return String::from_utf8_lossy(rel).into_owned();
    }
    match dir.strip_prefix(svc_root) {
        Ok(rel) if rel.as_os_str().is_empty() => ".".to_string(),
        Ok(rel) => rel.to_string_lossy().into_owned(),
        Err(_) => dir.to_string_lossy().into_owned(),
    }
}

/// `dir` after `root/`, compared as bytes, when that answers what
/// `dir.strip_prefix(root)` answers: the rest is plain (no empty, `.` or
/// trailing component) and `root` is not empty and ends in a name. That is
/// every canonical directory under the canonical `svc/` (each service's,
/// once per load), and saves parsing both paths into components; any other
/// spelling gets `None` and goes the component way.
fn plain_rest<'a>(root: &Path, dir: &'a Path) -> Option<&'a [u8]> {
    let root = root.as_os_str().as_bytes();
    let rest = dir
        .as_os_str()
        .as_bytes()
        .strip_prefix(root)?
        .strip_prefix(b"/")?;
    let plain = !root.is_empty()
        && !root.ends_with(b"/")
        && !root.ends_with(b"/.")
        && root != b"."
        && rest
            .split(|&b| b == b'/')
            .all(|c| !c.is_empty() && c != b".");
    plain.then_some(rest)
}

impl Tree {
    /// An empty tree for services under `svc_root`.
    pub fn new(svc_root: &Path) -> Tree {
        let canonical = std::fs::canonicalize(svc_root).unwrap_or_else(|_| svc_root.to_path_buf());
        Tree {
            svc_root: canonical,
            ..Tree::default()
        }
    }

    /// The canonical `svc/` directory.
    pub fn svc_root(&self) -> &Path {
        &self.svc_root
    }

    /// How many services the tree has loaded, handed over or not.
    pub fn len(&self) -> usize {
        self.dirs.len()
    }

    /// Whether no service was loaded.
    pub fn is_empty(&self) -> bool {
        self.dirs.is_empty()
    }

    /// Hand over the services loaded since the last hand-over, in index
    /// order (their indices continue the ones handed before). Later loads
    /// still find them by directory, and a cycle can never reach back into
    /// them: a service handed over only points at services loaded before
    /// it, so every new cycle lies among the new services.
    pub fn take_nodes(&mut self) -> Vec<Node> {
        self.take_loaded().0
    }

    /// [`Tree::take_nodes`], and what the load listed in each of their
    /// directories ([`Listing`], the same places), for starts in the
    /// same loop turn as the load (`doc/DESIGN.md`, "Reading a service
    /// directory once at boot").
    pub fn take_loaded(&mut self) -> (Vec<Node>, Vec<Listing>) {
        let nodes = std::mem::take(&mut self.nodes);
        self.handed += nodes.len();
        (nodes, std::mem::take(&mut self.listings))
    }

    /// The service at index `i`, if it was not handed over.
    fn node_mut(&mut self, i: usize) -> Option<&mut Node> {
        i.checked_sub(self.handed)
            .and_then(|k| self.nodes.get_mut(k))
    }

    /// The index of the service in canonical directory `dir`, if loaded.
    pub fn index_of_dir(&self, dir: &Path) -> Option<usize> {
        self.index.get(&self.dirs, dir)
    }

    /// Load `root` and everything it reaches that is not loaded yet.
    /// Returns its index, or `None` (with a problem recorded) if it cannot
    /// be a service. Searches the whole tree for new cycles: for many roots
    /// at once, [`load`] reads them all and searches once.
    pub fn add_root(&mut self, root: &Path) -> Option<usize> {
        let i = self.read_root(root);
        let cycles = self.mark_cycles();
        self.problems.extend(cycles.into_iter().map(|(_, p)| p));
        self.end_load();
        i
    }

    /// After a load: forget what was learnt about the file system (it is
    /// only good for this load) and give back what the load grew that
    /// PID 1 would otherwise hold for good (the work queue, the directory
    /// buffer, the doubled capacity of the directory list).
    fn end_load(&mut self) {
        self.canon.forget();
        self.scratch = PathBuf::new();
        self.queue = VecDeque::new();
        self.dirs.shrink_to_fit();
    }

    /// Read `root` and every new service it reaches, without the cycle
    /// search.
    fn read_root(&mut self, root: &Path) -> Option<usize> {
        let name = service_name(&self.svc_root, root);
        let i = match resolve_service_dir(root, &mut self.canon) {
            Ok(dir) => match self.add(dir) {
                Some(i) => i,
                None => {
                    self.problem(&name, root, format!("more than {MAX_SERVICES} services"));
                    return None;
                }
            },
            Err(why) => {
                self.problem(&name, root, why);
                return None;
            }
        };
        while let Some(j) = self.queue.pop_front() {
            self.read_service(j);
        }
        Some(i)
    }

    fn problem(&mut self, service: &str, file: &Path, reason: impl Into<String>) {
        self.problems.push(Problem {
            service: service.to_string(),
            file: file.to_path_buf(),
            reason: reason.into(),
        });
    }

    /// The index of the service at canonical `dir`, adding it if new.
    fn add(&mut self, mut dir: PathBuf) -> Option<usize> {
        let h = DirIndex::hash(&dir);
        if let Some(i) = self.index.get_hashed(&self.dirs, &dir, h) {
            return Some(i);
        }
        if self.dirs.len() >= MAX_SERVICES {
            return None;
        }
        let i = self.dirs.len();
        // The name made once and moved in (not copied by `Node::new`).
        let mut node = Node::new("");
        node.name = service_name(&self.svc_root, &dir);
        self.nodes.push(node);
        self.listings.push(Listing::UNLISTED);
        self.index.insert_hashed(h, i);
        // Built by joining component after component, its capacity may
        // be twice its length; it is kept for PID 1's life.
        dir.shrink_to_fit();
        self.dirs.push(dir);
        self.queue.push_back(i);
        Some(i)
    }

    fn read_service(&mut self, i: usize) {
        // The directory is copied into a buffer the tree keeps (`self` is
        // changed while it is read), and the node `add` made is filled in
        // place of a new one: no allocation for either per service.
        let mut dir = std::mem::take(&mut self.scratch);
        dir.clear();
        match self.dirs.get(i) {
            Some(d) => dir.as_mut_os_string().push(d.as_os_str()),
            None => return,
        }
        let Some(slot) = self.node_mut(i) else {
            self.scratch = dir;
            return;
        };
        // Freshly made by `add` (only `read_service` fills it): the same
        // node `Node::new(name)` would give.
        let mut node = std::mem::replace(slot, Node::new(""));
        let name = std::mem::take(&mut node.name);
        // One open and one listing; only the files there are opened.
        let files = ServiceDir::open(&dir);
        if let Some(l) = i
            .checked_sub(self.handed)
            .and_then(|k| self.listings.get_mut(k))
        {
            *l = files.listing();
        }
        node.grouping = is_grouping(&files);
        match read_respawn(&files) {
            Ok(r) => node.respawn = r,
            Err(e) => {
                self.problem(&name, &e.file, &e.reason);
                node.broken = Some(Box::new(Reason::Config(e.to_string())));
            }
        }
        match read_delay(&files) {
            Ok(d) => node.delay_s = d,
            Err(e) => self.problem(&name, &e.file, format!("{}; using the default", e.reason)),
        }
        // Read at each start, which fails on a bad one; here only said
        // (at boot, and by `cinit-ctl check`). No system call without them.
        for file in ["stop-signal", "reload-signal"] {
            if let Err(e) = crate::config::signal::read(&files, file) {
                self.problem(&name, &e.file, e.reason);
            }
        }
        if let Err(e) = crate::config::signal::read_kill_mode(&files) {
            self.problem(&name, &e.file, e.reason);
        }
        // Readiness and the watchdog: a bad file fails the service rather
        // than starting it without the readiness (or watchdog) its author
        // asked for. A once service's
        // `notification-fd` is not read: it is up when `on` exits.
        let notify = if node.respawn {
            read_notification_fd(&files)
        } else {
            Ok(None)
        };
        for result in [
            notify.map(|fd| node.notify_fd = fd),
            read_ready_timeout(&files).map(|t| node.ready_timeout_ms = t),
            // Only a respawn service is watched: not read elsewhere.
            if node.respawn {
                crate::config::watchdog::read_watchdog(&files).map(|w| node.watchdog_ms = w)
            } else {
                Ok(())
            },
        ] {
            if let Err(e) = result {
                self.problem(&name, &e.file, &e.reason);
                node.broken = Some(Box::new(Reason::Config(e.to_string())));
            }
        }
        // A probe is a respawn service's alternative to `notification-fd`;
        // anything else is refused rather than guessed ([`conflict`]).
        match read_ready_probe(&files) {
            Ok(Some(probe)) => match conflict(node.respawn, node.notify_fd.is_some()) {
                Some(why) => {
                    let file = dir.join(READY_PROBE);
                    self.problem(&name, &file, why);
                    node.broken = Some(Box::new(Reason::Config(format!(
                        "{}: {why}",
                        file.display()
                    ))));
                }
                None => node.probe = Some(Box::new(probe)),
            },
            Ok(None) => {}
            Err(e) => {
                self.problem(&name, &e.file, &e.reason);
                node.broken = Some(Box::new(Reason::Config(e.to_string())));
            }
        }
        // `restart-limit` and `on-failure`: as the readiness files, a bad
        // one fails the service rather than running it without them.
        match crate::config::failure::read_policy(&files, node.respawn) {
            Ok(policy) => node.failure = policy.map(Box::new),
            Err(e) => {
                self.problem(&name, &e.file, &e.reason);
                node.broken = Some(Box::new(Reason::Config(e.to_string())));
            }
        }
        // sd_notify: a respawn service's other way to say "ready".
        if node.respawn {
            self.load_notify_socket(&name, &files, &mut node);
        }
        for kind in ["needs", "wants"] {
            // Two entries may name the same service; a set keeps the check
            // linear in the entries (a root may want thousands).
            let mut seen = crate::TreeSet::default();
            let entries = match read_deps(&files, kind, &mut self.canon) {
                Ok(entries) => entries,
                Err(e) => {
                    self.problem(&name, &e.file, &e.reason);
                    node.broken = Some(Box::new(Reason::Config(e.to_string())));
                    continue;
                }
            };
            for entry in entries {
                // The entry's name, made only where a problem shows it.
                let shown = |root: &Path| service_name(root, &entry.entry);
                // A template is never started itself, only its instances.
                let target = match entry.target.and_then(crate::config::instance::not_template) {
                    Ok(t) => t,
                    Err(why) => {
                        if kind == "needs" {
                            self.problem(&name, &entry.entry, format!("need: {why}"));
                            node.missing_need
                                .get_or_insert_with(|| Box::new((shown(&self.svc_root), why)));
                        } else {
                            self.problem(&name, &entry.entry, format!("want: {why} (ignored)"));
                        }
                        continue;
                    }
                };
                let Some(j) = self.add(target) else {
                    let why = format!("more than {MAX_SERVICES} services");
                    self.problem(&name, &entry.entry, &why);
                    if kind == "needs" {
                        node.missing_need
                            .get_or_insert_with(|| Box::new((shown(&self.svc_root), why)));
                    }
                    continue;
                };
                let list = if kind == "needs" {
                    &mut node.needs
                } else {
                    &mut node.wants
                };
                if seen.insert(j) {
                    list.push(j);
                }
            }
        }
        node.name = name;
        if let Some(slot) = self.node_mut(i) {
            *slot = node;
        }
        self.scratch = dir;
    }

    /// Mark every cycle not marked yet on its members; one problem per
    /// newly marked member, each with the smallest member of its cycle, in
    /// the order of that member (the order [`find_cycles`] gives).
    /// Searches the services not handed over (the handed ones were searched
    /// before they were, and no new edge leads back to them).
    fn mark_cycles(&mut self) -> Vec<(usize, Problem)> {
        #[cfg(test)]
        {
            self.cycle_searches += 1;
        }
        let base = self.handed;
        // Positions in `nodes`; an edge to a handed service leaves the
        // graph (usize::MAX), which `find_cycles` ignores.
        let adj: Vec<Vec<usize>> = self
            .nodes
            .iter()
            .map(|n| {
                n.needs
                    .iter()
                    .chain(n.wants.iter())
                    .map(|&w| w.checked_sub(base).unwrap_or(usize::MAX))
                    .collect()
            })
            .collect();
        let mut found = Vec::new();
        for cycle in find_cycles(&adj) {
            let names: Vec<&str> = cycle
                .path
                .iter()
                .filter_map(|&k| self.nodes.get(k).map(|n| n.name.as_str()))
                .collect();
            let path = cycle_text(&names);
            let first = base + cycle.members.first().copied().unwrap_or(0);
            for &m in &cycle.members {
                // Cycles found by an earlier load are already marked.
                let (name, dir) = match (self.nodes.get(m), self.dirs.get(base + m)) {
                    (Some(n), Some(d))
                        if !matches!(n.broken.as_deref(), Some(Reason::Cycle(_))) =>
                    {
                        (n.name.clone(), d.clone())
                    }
                    _ => continue,
                };
                found.push((
                    first,
                    Problem {
                        service: name,
                        file: dir,
                        reason: format!("dependency cycle: {path}"),
                    },
                ));
                if let Some(node) = self.nodes.get_mut(m) {
                    node.broken = Some(Box::new(Reason::Cycle(path.clone())));
                }
            }
        }
        found
    }
}

/// Most names a cycle's text shows; a longer cycle shows its first and last
/// names around `...` and its length. Every member carries the text as its
/// reason, so a full 1000-long path would be 1000 reasons of kilobytes each:
/// lines cut on the console, and a status reply too big to send.
pub const CYCLE_NAMES_SHOWN: usize = 8;

/// `a -> b -> c -> a` for the cycle through `names` (in order), shortened
/// beyond [`CYCLE_NAMES_SHOWN`] names to `a -> b -> c -> ... -> y -> z -> a
/// (a cycle of N)`.
pub fn cycle_text(names: &[&str]) -> String {
    let Some(&first) = names.first() else {
        return String::new();
    };
    let n = names.len();
    if n <= CYCLE_NAMES_SHOWN {
        let mut all = names.to_vec();
        all.push(first);
        return all.join(" -> ");
    }
    let head = names
        .get(..CYCLE_NAMES_SHOWN / 2)
        .unwrap_or(&[])
        .join(" -> ");
    let tail = names
        .get(n - (CYCLE_NAMES_SHOWN / 2 - 1)..)
        .unwrap_or(&[])
        .join(" -> ");
    format!("{head} -> ... -> {tail} -> {first} (a cycle of {n})")
}

mod index;
mod notify;
use index::DirIndex;
mod roots;
pub use roots::load;
mod save;
pub use save::TAG_TREE;

#[cfg(test)]
mod tests;
