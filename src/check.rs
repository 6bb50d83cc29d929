//! Offline validation of a whole cinit tree (`cinit-ctl check [DIR]`).
//!
//! Every directory below `svc/` is a service (nesting is allowed, as in
//! `getty/1`). Each is loaded exactly as cinit loads it at boot, plus the
//! checks that cinit can only make when it executes a program: `on`/`off`
//! exist, are regular files (or links to one) and are executable, and their
//! `.params`/`.env` parse, and the log settings (`log.size`, `log.file`,
//! `log.mirror`, `console`) are valid; readiness files that would have no
//! effect (`notification-fd` in a once service, `ready-timeout` in a respawn
//! service without `notification-fd`) are reported too; so is a `sockets`
//! file that does not parse, or that declares an address another service
//! already declares (both could not be bound). The directories of each
//! `log.file` and Unix socket are judged as cinit will judge them
//! ([`crate::safepath`], for root as the only trusted owner): a link on the
//! way, a directory that is not root's or that others may write, a log
//! file that is not a regular file with one link, each is reported (cinit
//! would refuse it). Nothing is started or created.
//! Every problem is collected; one bad service never hides another.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::conf::read_conf;
use crate::engine::Node;
use crate::logconf::read_log_config;
use crate::ready_conf::{NOTIFICATION_FD, READY_TIMEOUT};
use crate::socket_conf::{self, Address};
use crate::svcdir::{describe_io, read_exec};
use crate::tree::{load, service_name, Problem, MAX_SERVICES};

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
        let mut subdirs: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .map(|e| e.path())
            .collect();
        // Unique paths: unstable sorts give the same order as stable ones.
        subdirs.sort_unstable();
        for sub in subdirs.into_iter().rev() {
            if found.len() >= MAX_SERVICES {
                break;
            }
            found.push(sub.clone());
            todo.push(sub);
        }
    }
    found.sort_unstable();
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
fn check_program(name: &str, dir: &Path, prog: &str, problems: &mut Vec<Problem>) {
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
    if let Err(e) = read_exec(dir, prog) {
        problems.push(Problem {
            service: name.to_string(),
            file: e.file,
            reason: e.reason,
        });
    }
}

/// Readiness files that are valid but do nothing: `notification-fd` in a
/// once service (it is up when `on` exits 0), `ready-timeout` in a respawn
/// service without `notification-fd` (it is up when spawned, never
/// `starting`). Their contents were checked when the tree was loaded.
fn check_readiness(node: &Node, dir: &Path, problems: &mut Vec<Problem>) {
    let has = |f: &str| fs::symlink_metadata(dir.join(f)).is_ok();
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
    if node.respawn && !has(NOTIFICATION_FD) && node.ready_timeout_ms.is_some() {
        add(
            READY_TIMEOUT,
            "has no effect: a respawn service without notification-fd is up when it is spawned",
        );
    }
}

/// The `sockets` file of a service: it parses, and no address in it is
/// already another service's (`taken`: each address declared so far, with
/// its service).
fn check_sockets(
    node: &Node,
    dir: &Path,
    taken: &mut Vec<(Address, String)>,
    problems: &mut Vec<Problem>,
) {
    let specs = match socket_conf::load(dir) {
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
                    file: dir.join(socket_conf::FILE),
                    reason: format!("{}: {why}", spec.address.to_conf()),
                });
            }
        }
    }
    for spec in specs {
        match taken.iter().find(|(a, _)| a.clashes(&spec.address)) {
            Some((_, other)) => problems.push(Problem {
                service: node.name.clone(),
                file: dir.join(socket_conf::FILE),
                reason: format!(
                    "{} is also a socket of {other}; only one service can listen there",
                    spec.address.to_conf()
                ),
            }),
            None => taken.push((spec.address, node.name.clone())),
        }
    }
}

/// What cinit will say about the directory of `target` (a log file or a
/// socket) and, for a log file, the file itself; `None` if nothing. What
/// does not exist yet would be created by root, which is fine.
fn judge_path(target: &Path, log_file: bool) -> Option<String> {
    use crate::safepath::{components, judge_file, open_dir, stat_at, Missing, PathError};
    let owners = [0];
    let refused = |e: PathError| {
        let verdict = if e.why.is_refusal() {
            "refused"
        } else {
            "cannot be checked"
        };
        format!("{}: {verdict}: {e}", target.display())
    };
    let name = match components(target) {
        Ok((_, name)) => name,
        Err(why) => {
            return Some(refused(PathError {
                at: target.to_path_buf(),
                why,
            }))
        }
    };
    let parent = target.parent().unwrap_or(Path::new("/"));
    let dir = match open_dir(parent, Missing::Stop, &owners) {
        Ok(Some(dir)) => dir,
        Ok(None) => return None,
        Err(e) => return Some(refused(e)),
    };
    if !log_file {
        return None;
    }
    let st = stat_at(&dir, name).ok().flatten()?;
    judge_file(st.st_mode, st.st_nlink).err().map(|why| {
        refused(PathError {
            at: target.to_path_buf(),
            why,
        })
    })
}

/// The `fdstore` file of a service, if it has one: a number from 0 to 64.
fn check_fdstore(node: &Node, dir: &Path, problems: &mut Vec<Problem>) {
    let file = dir.join(crate::fdstore::CAPACITY_FILE);
    let reason = match fs::read_to_string(&file) {
        Ok(text) => crate::fdstore::parse_capacity(&text).err(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => Some(e.to_string()),
    };
    if let Some(reason) = reason {
        problems.push(Problem {
            service: node.name.clone(),
            file,
            reason,
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
    let mut sockets = Vec::new();
    for (node, dir) in tree.nodes.iter().zip(&tree.dirs) {
        for prog in ["on", "off"] {
            check_program(&node.name, dir, prog, &mut report.problems);
        }
        let (log, log_problems) = read_log_config(dir);
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
        check_readiness(node, dir, &mut report.problems);
        check_sockets(node, dir, &mut sockets, &mut report.problems);
        check_fdstore(node, dir, &mut report.problems);
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
        check_program("conf", &dir, hook, &mut ps);
        // read_exec problems were already reported by read_conf.
        report
            .problems
            .extend(ps.into_iter().filter(|p| p.file == dir.join(hook)));
    }
    report.problems = by_file(std::mem::take(&mut report.problems));
    report.problems.dedup();
    report
}

/// `problems` ordered by file, each file's in the order found: a stable sort
/// by file, done as buckets so that it shares the path sort above.
fn by_file(problems: Vec<Problem>) -> Vec<Problem> {
    let mut files: Vec<PathBuf> = problems.iter().map(|p| p.file.clone()).collect();
    files.sort_unstable();
    files.dedup();
    let mut buckets: Vec<Vec<Problem>> = files.iter().map(|_| Vec::new()).collect();
    for p in problems {
        if let Some(bucket) = files
            .binary_search(&p.file)
            .ok()
            .and_then(|k| buckets.get_mut(k))
        {
            bucket.push(p);
        }
    }
    buckets.into_iter().flatten().collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn exe(path: &Path) {
        fs::write(path, "#!/bin/sh\n").unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn clean_tree_has_no_problems_and_counts_nested_services() {
        let t = tempfile::tempdir().unwrap();
        let svc = t.path().join("svc");
        fs::create_dir_all(svc.join("init/needs")).unwrap();
        fs::create_dir_all(svc.join("getty/1")).unwrap();
        exe(&svc.join("getty/1/on"));
        symlink("/bin/true", svc.join("getty/on")).unwrap();
        symlink("../../getty/1", svc.join("init/needs/g1")).unwrap();
        let r = check(t.path());
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert_eq!(r.services, 3);
    }

    #[test]
    fn every_problem_is_listed() {
        let t = tempfile::tempdir().unwrap();
        let svc = t.path().join("svc");
        for s in ["init", "a", "b", "c", "d"] {
            fs::create_dir_all(svc.join(s)).unwrap();
        }
        fs::write(svc.join("a/on"), "#!/bin/sh\n").unwrap(); // not executable
        symlink("/nonexistent/prog", svc.join("b/on")).unwrap();
        fs::create_dir_all(svc.join("c/needs")).unwrap();
        symlink("../../d", svc.join("c/needs/d")).unwrap();
        fs::create_dir_all(svc.join("d/wants")).unwrap();
        symlink("../../c", svc.join("d/wants/c")).unwrap();
        symlink("../../zz", svc.join("d/wants/zz")).unwrap();
        fs::write(svc.join("d/delay"), "x").unwrap();
        exe(&svc.join("init/on"));
        fs::write(svc.join("init/on.env"), "PATH=/bin\nnonsense\n").unwrap();
        let r = check(t.path());
        let text: Vec<String> = r.problems.iter().map(|p| p.to_string()).collect();
        let has = |s: &str| text.iter().any(|p| p.contains(s));
        assert!(has("a/on: a: not executable"), "{text:#?}");
        assert!(
            has("b/on: b: broken symlink to /nonexistent/prog"),
            "{text:#?}"
        );
        assert!(has("c: dependency cycle: c -> d -> c"), "{text:#?}");
        assert!(has("zz: d: want: no such service"), "{text:#?}");
        assert!(has("d/delay: d:"), "{text:#?}");
        assert!(
            has("init/on.env: init: line 2: not NAME=value"),
            "{text:#?}"
        );
        assert_eq!(text.len(), 7, "{text:#?}");
    }

    #[test]
    fn log_settings_are_checked() {
        let t = tempfile::tempdir().unwrap();
        let svc = t.path().join("svc");
        fs::create_dir_all(svc.join("good")).unwrap();
        fs::create_dir_all(svc.join("bad")).unwrap();
        fs::write(svc.join("good/log.size"), "1M\n").unwrap();
        fs::write(svc.join("good/log.file"), "/var/log/good\n256k\n2\n").unwrap();
        fs::write(svc.join("good/log.mirror"), "yes\n").unwrap();
        fs::write(svc.join("good/console"), "").unwrap();
        fs::write(svc.join("bad/log.size"), "huge").unwrap();
        fs::write(svc.join("bad/log.file"), "log/here\n").unwrap();
        fs::create_dir(svc.join("bad/log.mirror")).unwrap();
        let r = check(t.path());
        let text: Vec<String> = r.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(text.len(), 3, "{text:#?}");
        assert!(text[0].contains("bad/log.file: bad: line 1: log/here is not an absolute path"));
        assert!(
            text[1].contains("bad/log.mirror: bad: not a regular file"),
            "{text:#?}"
        );
        assert!(text[2].contains("bad/log.size: bad: \"huge\" is not a size"));
    }

    #[test]
    fn readiness_files_are_checked_and_useless_ones_reported() {
        let t = tempfile::tempdir().unwrap();
        let svc = t.path().join("svc");
        for s in ["good", "once", "plain", "badfd", "badtime"] {
            fs::create_dir_all(svc.join(s)).unwrap();
        }
        for s in ["good", "plain", "badfd"] {
            fs::write(svc.join(s).join("respawn"), "").unwrap();
        }
        fs::write(svc.join("good/notification-fd"), "3\n").unwrap();
        fs::write(svc.join("good/ready-timeout"), "10\n").unwrap();
        fs::write(svc.join("once/notification-fd"), "3\n").unwrap();
        fs::write(svc.join("once/ready-timeout"), "1.5\n").unwrap();
        fs::write(svc.join("plain/ready-timeout"), "2\n").unwrap();
        fs::write(svc.join("badfd/notification-fd"), "many").unwrap();
        fs::write(svc.join("badtime/ready-timeout"), "-3").unwrap();
        let r = check(t.path());
        let text: Vec<String> = r.problems.iter().map(|p| p.to_string()).collect();
        let has = |s: &str| text.iter().any(|p| p.contains(s));
        assert!(
            has("badfd/notification-fd: badfd: \"many\" is not a descriptor number"),
            "{text:#?}"
        );
        assert!(
            has("badtime/ready-timeout: badtime: \"-3\" is not a number of seconds"),
            "{text:#?}"
        );
        assert!(
            has("once/notification-fd: once: ignored: not a respawn service"),
            "{text:#?}"
        );
        assert!(
            has("plain/ready-timeout: plain: has no effect: a respawn service without notification-fd"),
            "{text:#?}"
        );
        assert_eq!(text.len(), 4, "{text:#?}");
    }

    #[test]
    fn sockets_and_fdstore_files_are_checked_and_shared_addresses_reported() {
        let t = tempfile::tempdir().unwrap();
        let svc = t.path().join("svc");
        for s in ["good", "bad", "clash", "other"] {
            fs::create_dir_all(svc.join(s)).unwrap();
        }
        fs::write(
            svc.join("good/sockets"),
            "# web\nhttp tcp:80\nctl unix:/run/good mode=0600 owner=www\n",
        )
        .unwrap();
        fs::write(
            svc.join("bad/sockets"),
            "http tcp:81\nctl unix:/run/x mod=0660\n",
        )
        .unwrap();
        fs::write(
            svc.join("clash/sockets"),
            "web tcp:0.0.0.0:80\nlog unix-dgram:/run/good\n",
        )
        .unwrap();
        fs::write(svc.join("other/sockets"), "web udp:80\nweb6 tcp:[::]:80\n").unwrap();
        fs::write(svc.join("good/fdstore"), "8\n").unwrap();
        fs::write(svc.join("other/fdstore"), "100\n").unwrap();
        let r = check(t.path());
        let text: Vec<String> = r.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(text.len(), 4, "{text:#?}");
        assert!(
            text[3].ends_with(
                "other/fdstore: other: expected a number from 0 to 64 (how many \
                 descriptors cinit may hold), got \"100\""
            ),
            "{text:#?}"
        );
        assert!(
            text[0].ends_with(
                "bad/sockets: bad: line 2: unknown option \"mod=0660\"; \
                 options are mode=, owner=, group= (unix) and backlog="
            ),
            "{text:#?}"
        );
        assert!(
            text[1].ends_with(
                "good/sockets: good: tcp:0.0.0.0:80 is also a socket of clash; \
                 only one service can listen there"
            ),
            "{text:#?}"
        );
        assert!(
            text[2].ends_with(
                "good/sockets: good: unix:/run/good is also a socket of clash; \
                 only one service can listen there"
            ),
            "{text:#?}"
        );
    }

    #[test]
    fn log_files_and_socket_directories_are_judged_as_cinit_will() {
        let t = tempfile::tempdir().unwrap();
        let svc = t.path().join("svc");
        fs::create_dir_all(svc.join("web")).unwrap();
        // The temporary directory is root's only when the tests run as
        // root; as anyone else the first refusal is that very directory.
        let base = fs::canonicalize(t.path()).unwrap();
        let real = base.join("real");
        fs::create_dir(&real).unwrap();
        symlink(&real, base.join("link")).unwrap();
        fs::write(
            svc.join("web/log.file"),
            format!("{}/link/web.log\n", base.display()),
        )
        .unwrap();
        fs::write(
            svc.join("web/sockets"),
            format!(
                "ctl unix:{}/link/ctl\nok unix:/run/cinit-check-test/ok\n",
                base.display()
            ),
        )
        .unwrap();
        let r = check(t.path());
        let text: Vec<String> = r.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(text.len(), 2, "{text:#?}");
        assert!(
            text[0].contains(&format!(
                "web/log.file: web: {b}/link/web.log: refused: {b}",
                b = base.display()
            )),
            "{text:#?}"
        );
        assert!(
            text[1].contains(&format!(
                "web/sockets: web: unix:{b}/link/ctl: {b}/link/ctl: refused: {b}",
                b = base.display()
            )),
            "{text:#?}"
        );
        if nix::unistd::geteuid().is_root() {
            assert!(text[0].ends_with("/link: a symbolic link (never followed here)"));
            // A hard link as the log file, in a directory that is fine.
            fs::write(base.join("victim"), "").unwrap();
            fs::hard_link(base.join("victim"), real.join("web.log")).unwrap();
            fs::write(
                svc.join("web/log.file"),
                format!("{}/web.log\n", real.display()),
            )
            .unwrap();
            fs::remove_file(svc.join("web/sockets")).unwrap();
            let text: Vec<String> = check(t.path())
                .problems
                .iter()
                .map(|p| p.to_string())
                .collect();
            assert_eq!(text.len(), 1, "{text:#?}");
            assert!(
                text[0].ends_with("web.log: a regular file with 2 links (a hard link)"),
                "{text:#?}"
            );
        }
    }

    #[test]
    fn missing_svc_dir_is_a_problem() {
        let t = tempfile::tempdir().unwrap();
        assert_eq!(check(t.path()).problems.len(), 1);
    }

    proptest::proptest! {
        #[test]
        fn by_file_is_a_stable_sort_by_file(
            picks in proptest::collection::vec((0..4usize, 0..3usize), 0..24)
        ) {
            // Few files and reasons, so that files and whole problems repeat;
            // "a/b/" and "a/b" are one path.
            let files = ["a/b", "a-b", "a/b/", "a"];
            let problems: Vec<Problem> = picks
                .iter()
                .map(|&(f, r)| Problem {
                    service: "s".to_string(),
                    file: PathBuf::from(files[f]),
                    reason: r.to_string(),
                })
                .collect();
            let mut stable = problems.clone();
            stable.sort_by(|a, b| a.file.cmp(&b.file));
            proptest::prop_assert_eq!(by_file(problems), stable);
        }
    }
}
