//! A service's execution context (`user`, `limits`, `nice`,
//! `oom-score-adj`, `no-new-privs`), with the real `cinit` as PID 1 in
//! namespaces: each service records what its process got from
//! `/proc/$$/…` into a marker file.
//!
//! Other uids need more than the user namespace's one mapped uid: the user
//! tests run cinit as the real root (PID and mount namespaces only) and
//! bind-mount a fixture `/etc/passwd` and `/etc/group` over the real ones
//! inside the private mount namespace, before cinit starts. They need root
//! and say so when skipped.

#![cfg(test)]

mod common;

use common::*;
use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

/// A script body that copies `/proc/$$/FILE` of its own shell into marker
/// `NAME.FILE` for each file.
fn record(fx: &Fixture, name: &str, files: &[&str]) -> String {
    files
        .iter()
        .map(|f| {
            format!(
                "cat /proc/$$/{f} > '{}'\n",
                fx.mark(&format!("{name}.{f}")).display()
            )
        })
        .collect()
}

/// The value of `key:` in a `/proc/PID/status` text, whitespace-collapsed.
fn field(status: &str, key: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The nice value in a `/proc/PID/stat` text (field 19).
fn nice_of(stat: &str) -> String {
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    rest.split_whitespace().nth(16).unwrap_or("").to_string()
}

/// The soft and hard values of a `/proc/PID/limits` line starting `what`.
fn limit_of(limits: &str, what: &str) -> (String, String) {
    let rest = limits
        .lines()
        .find_map(|l| l.strip_prefix(what))
        .unwrap_or("");
    let mut w = rest.split_whitespace();
    (
        w.next().unwrap_or("").to_string(),
        w.next().unwrap_or("").to_string(),
    )
}

/// Everyone may reach the fixture and write the markers: services run as
/// other users.
fn open_fixture(fx: &Fixture) {
    for (p, mode) in [(fx.path().to_path_buf(), 0o755), (fx.marks(), 0o777)] {
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
    }
}

/// Boots cinit as the real root with a control socket, after bind-mounting
/// the fixture's `passwd` and `group` over `/etc`'s in its private mount
/// namespace.
fn boot_with_users(fx: &Fixture, passwd: &str, group: &str) -> Cinit {
    let (p, g) = (fx.path().join("passwd"), fx.path().join("group"));
    fs::write(&p, passwd).unwrap();
    fs::write(&g, group).unwrap();
    let script = format!(
        "/bin/mount --bind '{}' /etc/passwd && /bin/mount --bind '{}' /etc/group && exec \"$0\" \"$@\"",
        p.display(),
        g.display()
    );
    let c = Cinit::launch_with(
        fx,
        &[],
        &[],
        &LaunchOpts {
            user_ns: false,
            ctl_dir: Some(fx.ctl_dir()),
            wrapper: vec![
                OsString::from("/bin/sh"),
                OsString::from("-c"),
                script.into(),
            ],
            ..LaunchOpts::default()
        },
    );
    c.wait_listening();
    c
}

const PASSWD: &str = "root:x:0:0::/root:/bin/sh\nsvcuser:x:4242:4343::/nonexistent:/bin/sh\n";
const GROUP: &str = "root:x:0:\nsvcgrp:x:4343:\nextra:x:4444:other,svcuser\nlone:x:4545:\n";

/// Proves `user`: a name alone gives the passwd entry's uid and gid and the
/// user's groups from /etc/group (real, effective, saved and filesystem ids
/// alike); numbers with groups give exactly those, the first primary, and
/// need no passwd entry; a group by name; `off` runs with the context too;
/// an `on` the user cannot execute fails saying the user; the environment
/// is exactly on.env (no HOME or USER added).
#[test]
fn user_and_groups_by_name_and_number() {
    if !runs_as_root("setuid to other uids needs the real root") {
        return;
    }
    let fx = Fixture::new();
    open_fixture(&fx);
    let files = ["status", "environ"];
    let init = fx.service("init");
    for (name, user) in [
        ("byname", "svcuser\n"),
        ("bynum", "5151:4545:4444"),
        ("groupname", "4242:lone"),
    ] {
        fx.service(name)
            .script(&record(&fx, name, &files))
            .file("user", user);
        init.wants(name);
    }
    fx.service("offsvc")
        .respawn()
        .script("exec sleep 1000")
        .off_script(&record(&fx, "off", &["status"]))
        .file("user", "svcuser");
    init.wants("offsvc");
    fx.service("rootonly")
        .script_mode("exit 0", 0o700)
        .file("user", "svcuser");
    init.wants("rootonly");
    let c = boot_with_users(&fx, PASSWD, GROUP);
    for name in ["byname", "bynum", "groupname"] {
        c.expect_outcome(name, "done");
    }
    c.expect_failed_with("rootonly", "as user svcuser: Permission denied");
    c.wait_state("running", "offsvc");
    let out = c.ctl(&["stop", "offsvc"]);
    c.check(out.code() == Some(0), &out.dump());
    c.wait_state("stopped", "offsvc");
    let st = |n: &str| fx.read_mark(&format!("{n}.status"));
    c.check_all(vec![
        (
            field(&st("byname"), "Uid") == "4242 4242 4242 4242",
            st("byname"),
        ),
        (
            field(&st("byname"), "Gid") == "4343 4343 4343 4343",
            st("byname"),
        ),
        (field(&st("byname"), "Groups") == "4343 4444", st("byname")),
        (
            field(&st("bynum"), "Uid") == "5151 5151 5151 5151",
            st("bynum"),
        ),
        (
            field(&st("bynum"), "Gid") == "4545 4545 4545 4545",
            st("bynum"),
        ),
        (field(&st("bynum"), "Groups") == "4444 4545", st("bynum")),
        (
            field(&st("groupname"), "Gid") == "4545 4545 4545 4545",
            st("groupname"),
        ),
        (field(&st("groupname"), "Groups") == "4545", st("groupname")),
        (
            field(&st("off"), "Uid") == "4242 4242 4242 4242",
            format!("off: {}", st("off")),
        ),
        (
            fx.read_mark("byname.environ") == format!("{PATH_ENV}\0"),
            format!("environ: {:?}", fx.read_mark("byname.environ")),
        ),
    ]);
}

/// Proves a `ready-probe` program runs with its service's execution
/// context, as `on` does: as the service's user and groups, with its
/// limits; never as root for a service that is not. The service becomes
/// `running` only through the probe, so the probe did run.
#[test]
fn a_probe_runs_as_its_service_user() {
    if !runs_as_root("setuid to other uids needs the real root") {
        return;
    }
    let fx = Fixture::new();
    open_fixture(&fx);
    let probed = fx.service("probed");
    probed
        .respawn()
        .script("exec sleep 1000")
        .file("user", "svcuser")
        .file("limits", "nofile 77:88\n")
        .file("ready-probe", "exec ./probe\n");
    let probe = probed.dir().join("probe");
    fs::write(
        &probe,
        format!(
            "#!/bin/sh\n{}exit 0\n",
            record(&fx, "probe", &["status", "limits"])
        ),
    )
    .unwrap();
    fs::set_permissions(&probe, fs::Permissions::from_mode(0o755)).unwrap();
    fx.service("init").wants("probed");
    let c = boot_with_users(&fx, PASSWD, GROUP);
    c.wait_state("running", "probed");
    let st = fx.read_mark("probe.status");
    let lim = fx.read_mark("probe.limits");
    c.check_all(vec![
        (field(&st, "Uid") == "4242 4242 4242 4242", st.clone()),
        (field(&st, "Gid") == "4343 4343 4343 4343", st.clone()),
        (field(&st, "Groups") == "4343 4444", st),
        (
            limit_of(&lim, "Max open files") == ("77".into(), "88".into()),
            lim,
        ),
    ]);
}

/// Proves a `user` naming nobody in /etc/passwd fails the service with the
/// file and the reason, and the service never runs (as root or at all).
#[test]
fn unknown_user_fails_naming_the_file() {
    let fx = Fixture::new();
    fx.service("ghost")
        .script(&sh_touch(&fx.mark("ran")))
        .file("user", "cinit-no-such-user");
    fx.service("init").wants("ghost");
    let c = fx.boot();
    let user = fx.svc_path("ghost").join("user");
    c.expect_failed_with(
        "ghost",
        &format!(
            "{}: no user cinit-no-such-user in /etc/passwd",
            user.display()
        ),
    );
    c.check(!fx.has_mark("ran"), "the service ran");
}

/// Proves `limits`, `nice`, `oom-score-adj` and `no-new-privs` reach the
/// service's process (and its descriptor limit is the file's), while a
/// service without them keeps the descriptor limit cinit started with (not
/// PID 1's raised one), the nice value cinit started with, NoNewPrivs 0.
#[test]
fn limits_nice_oom_and_no_new_privs_apply() {
    let fx = Fixture::new();
    let files = ["limits", "stat", "oom_score_adj", "status"];
    fx.service("ctx")
        .script(&record(&fx, "ctx", &files))
        .file(
            "limits",
            "# test\nnofile 100:200\ncore 0\nfsize 1048576:unlimited\n",
        )
        .file("nice", "19\n")
        .file("oom-score-adj", "500\n")
        .file("no-new-privs", "");
    fx.service("plain").script(&record(&fx, "plain", &files));
    fx.service("init").wants("ctx").wants("plain");
    let c = fx.boot();
    c.expect_outcome("ctx", "done");
    c.expect_outcome("plain", "done");
    let m = |n: &str| fx.read_mark(n);
    let mut own = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into `own`.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut own) };
    let limit = |v: u64| {
        if v == libc::RLIM_INFINITY {
            "unlimited".to_string()
        } else {
            v.to_string()
        }
    };
    let started = (limit(own.rlim_cur), limit(own.rlim_max));
    // SAFETY: getpriority has no preconditions. The test's own nice value
    // (a build run under `nice` passes it on), as cinit inherits it.
    let own_nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }.to_string();
    c.check_all(vec![
        (
            limit_of(&m("ctx.limits"), "Max open files") == ("100".into(), "200".into()),
            m("ctx.limits"),
        ),
        (
            limit_of(&m("ctx.limits"), "Max core file size") == ("0".into(), "0".into()),
            m("ctx.limits"),
        ),
        (
            limit_of(&m("ctx.limits"), "Max file size") == ("1048576".into(), "unlimited".into()),
            m("ctx.limits"),
        ),
        (nice_of(&m("ctx.stat")) == "19", m("ctx.stat")),
        (
            m("ctx.oom_score_adj").trim() == "500",
            m("ctx.oom_score_adj"),
        ),
        (
            field(&m("ctx.status"), "NoNewPrivs") == "1",
            m("ctx.status"),
        ),
        (
            limit_of(&m("plain.limits"), "Max open files") == started,
            format!("started with {started:?}:\n{}", m("plain.limits")),
        ),
        (nice_of(&m("plain.stat")) == own_nice, m("plain.stat")),
        (
            field(&m("plain.status"), "NoNewPrivs") == "0",
            m("plain.status"),
        ),
    ]);
}

/// Proves a step of the context the child cannot take fails the service
/// with the file and the step: in a user namespace, a negative nice is
/// refused (no CAP_SYS_NICE over the initial namespace).
#[test]
fn a_failed_step_names_its_file() {
    let fx = Fixture::new();
    fx.service("greedy")
        .script(&sh_touch(&fx.mark("ran")))
        .file("nice", "-5\n");
    fx.service("init").wants("greedy");
    let c = fx.boot();
    let nice = fx.svc_path("greedy").join("nice");
    c.expect_failed_with(
        "greedy",
        &format!("{}: nice -5: Permission denied", nice.display()),
    );
    c.check(!fx.has_mark("ran"), "the service ran");
}

/// Proves `cinit-ctl check` rejects each bad context file with the file
/// and the reason, and accepts good ones.
#[test]
fn check_rejects_bad_context_files() {
    let fx = Fixture::new();
    let bad = [
        (
            "user",
            "cinit-no-such-user",
            "no user cinit-no-such-user in /etc/passwd",
        ),
        (
            "limits",
            "nofile 10:5\n",
            "line 1: nofile: soft limit above the hard limit",
        ),
        ("nice", "20\n", "is not a number from -20 to 19"),
        (
            "oom-score-adj",
            "-1001",
            "is not a number from -1000 to 1000",
        ),
    ];
    for (file, content, _) in bad {
        fx.service(&format!("bad-{file}"))
            .script("exit 0")
            .file(file, content);
    }
    fx.service("good")
        .script("exit 0")
        .file("user", "0:0")
        .file("limits", "nofile 1024\n")
        .file("nice", "-3")
        .file("oom-score-adj", "-1000")
        .file("no-new-privs", "");
    fx.service("init").script("exit 0");
    let mut cmd = Command::new(ctl_bin());
    cmd.arg("check").arg(fx.etc()).env_clear();
    let out = run(cmd, fx.path(), Duration::from_secs(10));
    let text = out.all();
    assert_eq!(out.code(), Some(1), "{text}");
    for (file, _, why) in bad {
        let path = fx.svc_path(&format!("bad-{file}")).join(file);
        let head = format!("{}: bad-{file}: ", path.display());
        assert!(
            text.lines()
                .any(|l| l.starts_with(&head) && l.contains(why)),
            "no `{}: …{why}` in:\n{text}",
            path.display()
        );
    }
    assert!(!text.contains("/good/"), "{text}");
}
