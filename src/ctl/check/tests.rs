//! Tests of [`super::check`]: whole trees with every kind of problem, each
//! reported once, in file order.

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

/// A `cgroup` file that does not parse is reported with its line; a good
/// one is not (whether this machine has the controller is for the start).
#[test]
fn cgroup_files_are_checked() {
    let t = tempfile::tempdir().unwrap();
    let svc = t.path().join("svc");
    for s in ["good", "bad"] {
        fs::create_dir_all(svc.join(s)).unwrap();
    }
    fs::write(svc.join("good/cgroup"), "memory.max 64M\npids.max 32\n").unwrap();
    fs::write(svc.join("bad/cgroup"), "pids.max 8\ncgroup.kill 1\n").unwrap();
    let r = check(t.path());
    let text: Vec<String> = r.problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(text.len(), 1, "{text:#?}");
    assert!(
        text[0].contains("bad/cgroup: bad: line 2: cgroup.kill is cinit's to manage"),
        "{text:#?}"
    );
}

/// Proves a `condition` file that does not parse is reported with its
/// file, line and reason; a good one is not, whether or not it holds here
/// (it is evaluated at a start on the system that boots).
#[test]
fn condition_files_are_checked() {
    let t = tempfile::tempdir().unwrap();
    let svc = t.path().join("svc");
    for s in ["good", "bad"] {
        fs::create_dir_all(svc.join(s)).unwrap();
    }
    let good = "# a disk\nexists /dev/nothing-here\n!cmdline nodata\n";
    fs::write(svc.join("good/condition"), good).unwrap();
    fs::write(svc.join("bad/condition"), "exists /a\n\nexists dev/vda\n").unwrap();
    let r = check(t.path());
    let text: Vec<String> = r.problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(text.len(), 1, "{text:#?}");
    assert!(
        text[0].contains("bad/condition: bad: line 3: exists \"dev/vda\": not an absolute path"),
        "{text:#?}"
    );
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

/// `ready-probe`: a bad line, a host name, a once service and one with
/// `notification-fd` too are reported with file, service and reason, as
/// is an `exec` program that is missing or not executable; a good probe
/// makes `ready-timeout` count (no "has no effect").
#[test]
fn ready_probe_files_are_checked() {
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().unwrap();
    let svc = t.path().join("svc");
    let cases = [
        ("good", true, "tcp:127.0.0.1:80"),
        ("prog", true, "exec ./check"),
        ("noexec", true, "exec ./check"),
        ("missing", true, "exec /nonexistent/check"),
        ("name", true, "tcp:example.com:80"),
        ("junk", true, "hello"),
        ("once", false, "tcp:127.0.0.1:80"),
        ("both", true, "unix:/run/x.sock"),
    ];
    for (name, respawn, line) in cases {
        let d = svc.join(name);
        fs::create_dir_all(&d).unwrap();
        if respawn {
            fs::write(d.join("respawn"), "").unwrap();
        }
        fs::write(d.join("ready-probe"), format!("{line}\n")).unwrap();
    }
    fs::write(svc.join("good/ready-timeout"), "5\n").unwrap();
    fs::write(svc.join("both/notification-fd"), "3\n").unwrap();
    for (name, mode) in [("prog", 0o755), ("noexec", 0o644)] {
        let p = svc.join(name).join("check");
        fs::write(&p, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
    }
    let r = check(t.path());
    let text: Vec<String> = r.problems.iter().map(|p| p.to_string()).collect();
    let has = |s: &str| text.iter().any(|p| p.contains(s));
    for want in [
        "noexec/ready-probe: noexec: exec ./check: not executable",
        "missing/ready-probe: missing: exec /nonexistent/check: No such file or directory",
        "name/ready-probe: name: tcp:example.com:80: \"example.com\" is not an IP address",
        "junk/ready-probe: junk: \"hello\" is not a probe",
        "once/ready-probe: once: not a respawn service",
        "both/ready-probe: both: notification-fd is there too: choose one",
    ] {
        assert!(has(want), "{want}: {text:#?}");
    }
    assert_eq!(text.len(), 6, "{text:#?}");
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
            "web/log.file: web: {b}/link/web.log: refused: ",
            b = base.display()
        )),
        "{text:#?}"
    );
    assert!(
        text[1].contains(&format!(
            "web/sockets: web: unix:{b}/link/ctl: {b}/link/ctl: refused: ",
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

/// Proves `check` of the failure files: a syntax error names the file,
/// the line and the reason; a once service's `restart-limit` is said to be
/// ignored; a window no crash loop can fill is said; `on-failure start`
/// of a missing service, or of the service itself, is said; a good
/// pair says nothing.
#[test]
fn failure_files_are_checked() {
    let t = tempfile::tempdir().unwrap();
    let svc = t.path().join("svc");
    for s in ["good", "other", "once", "slow", "ghost", "me", "bad"] {
        fs::create_dir_all(svc.join(s)).unwrap();
        exe(&svc.join(s).join("on"));
    }
    for s in ["good", "slow", "me", "bad"] {
        fs::write(svc.join(s).join("respawn"), "").unwrap();
    }
    fs::write(svc.join("good/restart-limit"), "3 10\n").unwrap();
    fs::write(svc.join("good/on-failure"), "start other\n").unwrap();
    fs::write(svc.join("once/restart-limit"), "3 10\n").unwrap();
    fs::write(svc.join("once/on-failure"), "poweroff\n").unwrap();
    fs::write(svc.join("slow/restart-limit"), "10 20\n").unwrap();
    fs::write(svc.join("ghost/on-failure"), "start nowhere\n").unwrap();
    fs::write(svc.join("me/on-failure"), "start me\n").unwrap();
    fs::write(svc.join("bad/restart-limit"), "\n3\n").unwrap();
    let r = check(t.path());
    let text: Vec<String> = r.problems.iter().map(|p| p.to_string()).collect();
    let has = |s: &str| text.iter().any(|p| p.contains(s));
    assert!(
        has("bad/restart-limit: bad: line 2: not N SECONDS; write N SECONDS"),
        "{text:#?}"
    );
    assert!(
        has("once/restart-limit: once: ignored: not a respawn service"),
        "{text:#?}"
    );
    assert!(
        has(
            "slow/restart-limit: slow: never reached by a crash loop: the restart delays \
             between 10 quick exits add up to 25.5s, more than 20s"
        ),
        "{text:#?}"
    );
    assert!(
        has("ghost/on-failure: ghost: start nowhere: no such service"),
        "{text:#?}"
    );
    assert!(
        has("me/on-failure: me: start me: names this very service"),
        "{text:#?}"
    );
    assert_eq!(text.len(), 5, "{text:#?}");
}
