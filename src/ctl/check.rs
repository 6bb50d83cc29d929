//! Offline validation of a whole cinit tree (`cinit-ctl check [DIR]`).
//!
//! Every directory below `svc/` is a service (nesting is allowed, as in
//! `getty/1`). Each is loaded exactly as cinit loads it at boot, plus the
//! checks that cinit can only make when it executes a program: `on`/`off`
//! exist, are regular files (or links to one) and are executable, and their
//! `.params`/`.env` parse, and the log settings (`log.size`, `log.file`,
//! `log.mirror`, `console`) are valid; readiness files that would have no
//! effect (`notification-fd` or `watchdog` in a once service, `ready-timeout`
//! in a respawn service without `notification-fd` or `ready-probe`) are
//! reported too, as
//! is an `exec` probe whose program cannot be executed; so is a `sockets`
//! file that does not parse, or that declares an address another service
//! already declares (both could not be bound); so is an execution context
//! (`user`, `limits`, `nice`, `oom-score-adj`) that does not parse or names
//! a user or group this system's `/etc/passwd` and `/etc/group` do not
//! have, and a `cgroup` or `condition` file that does not parse (a
//! condition is not evaluated: it is about the system that boots). The directories of each
//! `log.file` and Unix socket are judged as cinit will judge them
//! ([`crate::sys::safepath`], for root as the only trusted owner): a link on the
//! way, a directory that is not root's or that others may write, a log
//! file that is not a regular file with one link, each is reported (cinit
//! would refuse it). So are `restart-limit` and `on-failure` files that
//! do not parse, would have no effect, or name no service (`failure`).
//! Nothing is started or created.
//! A template (`getty@`) is checked as a service is; an instance
//! (`getty@ttyS1`, reached by a link) is its template's files, checked
//! there once; a link to an instance whose template is missing, or with a
//! bad instance name, is a problem of the link.
//! Every problem is collected; one bad service never hides another.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::config::conf::read_conf;
use crate::config::dirlist::ServiceDir;
use crate::config::logconf::read_log_config;
use crate::config::probe::READY_PROBE;
use crate::config::ready::{NOTIFICATION_FD, NOTIFY_SOCKET, READY_TIMEOUT};
use crate::config::sockets::{self, Address};
use crate::config::svcdir::{describe_io, read_exec};
use crate::config::tree::{load, service_name, Problem, MAX_SERVICES};
use crate::engine::Node;

/// What `check` found.
#[derive(Debug, Default)]
pub struct Report {
    pub services: usize,
    pub problems: Vec<Problem>,
}

/// Every service directory below `svc` (not following symlinks, skipping
/// dot-directories), in sorted order.
fn service_dirs(svc: &Path, problems: &mut Vec<Problem>) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![svc.to_path_buf()];
    while let Some(dir) = todo.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) => {
                problems.push(Problem {
                    service: service_name(svc, &dir),
                    file: dir.clone(),
                    reason: describe_io(&e),
                });
                continue;
            }
        };
        let mut subdirs: Vec<std::ffi::OsString> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.file_name())
            .filter(|n| !n.to_string_lossy().starts_with('.'))
            .collect();
        // Siblings: their paths compare as their names do. Unique names:
        // unstable sorts give the same order as stable ones.
        subdirs.sort_unstable();
        for name in subdirs.into_iter().rev() {
            if found.len() >= MAX_SERVICES {
                break;
            }
            let sub = dir.join(name);
            found.push(sub.clone());
            todo.push(sub);
        }
    }
    // In `Path` order, each key made once (`order`).
    found.sort_by_cached_key(|p| order::key(p));
    // `needs/` and `wants/` directories are not services themselves.
    found.retain(|d| {
        !matches!(
            d.file_name().and_then(|n| n.to_str()),
            Some("needs" | "wants")
        )
    });
    found
}

/// Problems with `on` or `off` that only show when executing it.
fn check_program(name: &str, files: &ServiceDir, prog: &str, problems: &mut Vec<Problem>) {
    // An absent program is valid; a listing says so without a probe.
    if let Ok(false) = files.exists(prog) {
        return;
    }
    let dir = files.path();
    let path = dir.join(prog);
    let mut add = |reason: String| {
        problems.push(Problem {
            service: name.to_string(),
            file: path.clone(),
            reason,
        })
    };
    let Ok(link_meta) = fs::symlink_metadata(&path) else {
        return; // absent: nothing to run, which is valid
    };
    match fs::metadata(&path) {
        Err(e) if link_meta.file_type().is_symlink() => {
            let target = fs::read_link(&path).unwrap_or_default();
            add(format!(
                "broken symlink to {}: {}",
                target.display(),
                describe_io(&e)
            ));
        }
        Err(e) => add(describe_io(&e)),
        Ok(m) if !m.is_file() => add("not a regular file".to_string()),
        Ok(m) if m.permissions().mode() & 0o111 == 0 => add("not executable".to_string()),
        Ok(_) => {}
    }
    if let Err(e) = read_exec(files, prog) {
        problems.push(Problem {
            service: name.to_string(),
            file: e.file,
            reason: e.reason,
        });
    }
}

/// Readiness files that are valid but do nothing: `notification-fd` in a
/// once service (it is up when `on` exits 0), `watchdog` in a once
/// service (only a respawn service is watched), `ready-timeout` in a respawn
/// service without `notification-fd` or `ready-probe` (it is up when
/// spawned, never `starting`); and the program of an `exec` probe that
/// cannot be executed. Their contents were checked when the tree was
/// loaded.
fn check_readiness(node: &Node, files: &ServiceDir, problems: &mut Vec<Problem>) {
    let dir = files.path();
    let has = |f: &str| files.exists(f).unwrap_or(true);
    let mut add = |file: &str, reason: &str| {
        problems.push(Problem {
            service: node.name.clone(),
            file: dir.join(file),
            reason: reason.to_string(),
        })
    };
    if !node.respawn && has(NOTIFICATION_FD) {
        add(
            NOTIFICATION_FD,
            "ignored: not a respawn service (a once service is up when on exits 0)",
        );
    }
    if !node.respawn && has(crate::config::watchdog::WATCHDOG) {
        add(
            crate::config::watchdog::WATCHDOG,
            "ignored: not a respawn service (only a respawn service's process is watched)",
        );
    }
    if !node.respawn && has(NOTIFY_SOCKET) {
        add(
            NOTIFY_SOCKET,
            "ignored: not a respawn service (a once service is up when on exits 0)",
        );
    }
    if let Some(crate::engine::probe::Probe::Exec(argv)) = node.probe.as_deref() {
        if let Some(why) = argv.first().and_then(|p| probe_program(dir, p)) {
            add(READY_PROBE, &why);
        }
    }
    if node.respawn
        && !has(NOTIFICATION_FD)
        && !has(READY_PROBE)
        && !has(NOTIFY_SOCKET)
        && node.ready_timeout_ms.is_some()
    {
        add(
            READY_TIMEOUT,
            "has no effect: a respawn service without notification-fd, notify-socket or \
             ready-probe is up when it is spawned",
        );
    }
}

/// What is wrong with the program of an `exec` probe (found in the
/// service directory when relative), if anything.
fn probe_program(dir: &Path, program: &str) -> Option<String> {
    let path = dir.join(program);
    match fs::metadata(&path) {
        Err(e) => Some(format!("exec {program}: {}", describe_io(&e))),
        Ok(m) if !m.is_file() => Some(format!("exec {program}: not a regular file")),
        Ok(m) if m.permissions().mode() & 0o111 == 0 => {
            Some(format!("exec {program}: not executable"))
        }
        Ok(_) => None,
    }
}

/// Each address declared so far ([`Address::clash_key`]), with its service:
/// a map, so that a tree of many sockets is checked in linear time.
type Taken = crate::HashMap<Address, String>;

/// The `sockets` file of a service: it parses, and no address in it is
/// already another service's (`taken`).
fn check_sockets(node: &Node, files: &ServiceDir, taken: &mut Taken, problems: &mut Vec<Problem>) {
    let dir = files.path();
    let specs = match sockets::load(files) {
        Ok(specs) => specs,
        Err(e) => {
            problems.push(Problem {
                service: node.name.clone(),
                file: e.file,
                reason: e.reason,
            });
            return;
        }
    };
    for spec in &specs {
        if let Address::Unix { path, .. } = &spec.address {
            if let Some(why) = judge_path(path, false) {
                problems.push(Problem {
                    service: node.name.clone(),
                    file: dir.join(sockets::FILE),
                    reason: format!("{}: {why}", spec.address.to_conf()),
                });
            }
        }
    }
    for spec in specs {
        match taken.get(&spec.address.clash_key()) {
            Some(other) => problems.push(Problem {
                service: node.name.clone(),
                file: dir.join(sockets::FILE),
                reason: format!(
                    "{} is also a socket of {other}; only one service can listen there",
                    spec.address.to_conf()
                ),
            }),
            None => {
                taken.insert(spec.address.clash_key(), node.name.clone());
            }
        }
    }
}

/// What cinit will say about the directory of `target` (a log file or a
/// socket) and, for a log file, the file itself; `None` if nothing.
fn judge_path(target: &Path, log_file: bool) -> Option<String> {
    crate::sys::safepath::inspect(target, log_file, &[0])
        .err()
        .map(|e| {
            let verdict = if e.why.is_refusal() {
                "refused"
            } else {
                "cannot be checked"
            };
            format!("{}: {verdict}: {e}", target.display())
        })
}

/// The `fdstore` file of a service, if it has one: a number from 0 to 64.
fn check_fdstore(node: &Node, dir: &Path, problems: &mut Vec<Problem>) {
    // Read as cinit reads it: a regular file of at most 64 KiB, never
    // blocking on a FIFO or reading a device forever.
    if let Err(e) = crate::fds::store::read_capacity(dir) {
        problems.push(Problem {
            service: node.name.clone(),
            file: e.file,
            reason: e.reason,
        });
    }
}

/// Check the tree under `base` (a directory holding `svc/` and maybe `conf/`).
pub fn check(base: &Path) -> Report {
    let mut report = Report::default();
    let svc = base.join("svc");
    if !svc.is_dir() {
        report.problems.push(Problem {
            service: "-".to_string(),
            file: svc,
            reason: "no service directory here".to_string(),
        });
        return report;
    }
    let svc = fs::canonicalize(&svc).unwrap_or(svc);
    let dirs = service_dirs(&svc, &mut report.problems);
    let tree = load(&svc, &dirs);
    report.services = tree.nodes.len();
    report.problems.extend(tree.problems);
    let mut sockets = Taken::default();
    for (node, dir) in tree.nodes.iter().zip(&tree.dirs) {
        // An instance's files are its template's, checked as the
        // template's own (its `sockets` would clash with them).
        if crate::config::instance::files_of(dir).is_some() {
            continue;
        }
        // Listed once: each optional file below is looked up in the
        // listing, not probed by its path (most are absent).
        let files = ServiceDir::open(dir);
        for prog in ["on", "off"] {
            check_program(&node.name, &files, prog, &mut report.problems);
        }
        let (log, log_problems) = read_log_config(&files);
        if let Some(why) = log.file.and_then(|f| judge_path(&f.path, true)) {
            report.problems.push(Problem {
                service: node.name.clone(),
                file: dir.join("log.file"),
                reason: why,
            });
        }
        report
            .problems
            .extend(log_problems.into_iter().map(|e| Problem {
                service: node.name.clone(),
                file: e.file,
                reason: e.reason,
            }));
        check_readiness(node, &files, &mut report.problems);
        failure::check_failure(node, &files, &svc, &mut report.problems);
        check_sockets(node, &files, &mut sockets, &mut report.problems);
        if !matches!(files.exists(crate::fds::store::CAPACITY_FILE), Ok(false)) {
            check_fdstore(node, dir, &mut report.problems);
        }
        let context = crate::config::context::read_context(&files).err();
        let cgroup = crate::config::cgroupconf::read(&files).err();
        let condition = crate::config::condition::read(&files).err();
        for e in context.into_iter().chain(cgroup).chain(condition) {
            report.problems.push(Problem {
                service: node.name.clone(),
                file: e.file,
                reason: e.reason,
            });
        }
    }
    let (_, conf_problems) = read_conf(&base.join("conf"));
    for e in conf_problems {
        report.problems.push(Problem {
            service: "conf".to_string(),
            file: e.file,
            reason: e.reason,
        });
    }
    for hook in ["last", "panic"] {
        let dir = base.join("conf");
        let mut ps = Vec::new();
        check_program("conf", &ServiceDir::unlisted(&dir), hook, &mut ps);
        // read_exec problems were already reported by read_conf.
        report
            .problems
            .extend(ps.into_iter().filter(|p| p.file == dir.join(hook)));
    }
    report.problems = by_file(std::mem::take(&mut report.problems));
    report.problems.dedup();
    report
}

/// `problems` ordered by file (in `Path` order, by [`order::key`]), each
/// file's in the order found.
fn by_file(problems: Vec<Problem>) -> Vec<Problem> {
    let mut keyed: Vec<(Vec<u8>, usize, Problem)> = problems
        .into_iter()
        .enumerate()
        .map(|(k, p)| (order::key(&p.file), k, p))
        .collect();
    keyed.sort_unstable_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    keyed.into_iter().map(|(_, _, p)| p).collect()
}

mod failure;
mod order;
#[cfg(test)]
mod tests;
