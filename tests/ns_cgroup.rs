//! cgroup v2 containment, with the real `cinit` as PID 1 in namespaces
//! started in a fresh cgroup of its own ([`common::cgroup::TestCgroup`]:
//! on a hybrid host such as CI's, below `/sys/fs/cgroup/unified`):
//! each service in `BASE/svc/LEAF`, PID 1 in `BASE/cinit`, the base named
//! in the control directory, a daemon that forked out of its process
//! group killed by `stop` (before `stop` says `stopped`), reached by
//! `signal --all`, and still contained after a hot update; and, in the
//! host's root cgroup, the fallback to process groups, said once.
//!
//! These tests need a writable cgroup v2 and fail without one, unless
//! `CINIT_TEST_NO_CGROUP=1` says there is none.

#![cfg(test)]

mod common;

use common::cgroup::{cgroup_of, TestCgroup};
use common::*;
use std::time::{Duration, Instant};

/// The service that escapes: `on` starts a grandchild in a session of its
/// own (`setsid`, out of `on`'s process group), whose parent exits at
/// once (it is reparented to PID 1), touches `up` and idles as
/// `sleep 1001`; `on` itself idles as `sleep 1000`. With `trap`, the
/// grandchild is a shell that records USR1 in `got` instead.
fn escaping(fx: &Fixture, name: &str, trap: bool) {
    let up = fx.mark(&format!("{}-up", name.replace('/', "-")));
    let inner = if trap {
        let got = fx.mark("got");
        format!(
            "trap \"echo usr1 >> {}\" USR1; touch {}; while :; do sleep 0.05; done",
            got.display(),
            up.display()
        )
    } else {
        format!("touch {}; exec sleep 1001", up.display())
    };
    fx.service(name)
        .respawn()
        .delay(20)
        .script(&format!("(setsid sh -c '{inner}' &)\nexec sleep 1000\n"));
}

/// Waits for the escaped grandchild's `up` mark and returns it (a child
/// of PID 1 by then) with the main process.
fn wait_both(c: &Cinit, fx: &Fixture, name: &str, argv: &[&str]) -> (Proc, Proc) {
    let up = format!("{}-up", name.replace('/', "-"));
    c.wait_until("the escaped grandchild", TIMEOUT, |_| fx.has_mark(&up));
    let main = c.wait_child_argv(&["sleep", "1000"], None);
    let escaped = c.wait_for("the grandchild as PID 1's child", TIMEOUT, |c| {
        c.children().into_iter().find(|p| {
            p.cmdline()
                .starts_with(&argv.iter().map(|a| a.to_string()).collect::<Vec<_>>())
        })
    });
    c.check(
        escaped.session() != main.session() && escaped.pgrp() != main.pgrp(),
        "the grandchild did not leave the service's process group",
    );
    (main, escaped)
}

/// Runs `cinit-ctl ARGS`, expects exit 0.
#[track_caller]
fn ctl_ok(c: &Cinit, args: &[&str]) -> RunOutput {
    let out = c.ctl(args);
    c.check(
        out.code() == Some(0),
        &format!("cinit-ctl {args:?}\n{}", out.dump()),
    );
    out
}

/// Proves the layout: `on` and the grandchild it forked out of its
/// process group are in `BASE/svc/LEAF` (a name with `/` escaped to one
/// component), PID 1 in `BASE/cinit`; the control directory's `cgroup`
/// file names the base; the boot says where the services are.
#[test]
fn services_and_pid1_are_in_their_cgroups() {
    let Some(cg) = TestCgroup::new() else { return };
    let (base_dir, base) = (cg.dir().to_path_buf(), cg.path());
    let fx = Fixture::new();
    escaping(&fx, "net/d", false);
    fx.service("init").wants("net/d");
    let c = fx.boot_ctl_in(cg);
    let (main, escaped) = wait_both(&c, &fx, "net/d", &["sleep", "1001"]);
    let want = format!("{base}/svc/net%2fd");
    c.check_all(vec![
        (
            cgroup_of(main.pid).as_deref() == Some(want.as_str()),
            format!("on is in {:?}, not {want}", cgroup_of(main.pid)),
        ),
        (
            cgroup_of(escaped.pid).as_deref() == Some(want.as_str()),
            format!(
                "the grandchild is in {:?}, not {want}",
                cgroup_of(escaped.pid)
            ),
        ),
        (
            cgroup_of(c.host_pid()) == Some(format!("{base}/cinit")),
            format!("PID 1 is in {:?}", cgroup_of(c.host_pid())),
        ),
    ]);
    let file = std::fs::read_to_string(c.ctl_dir_via_proc().join("cgroup")).unwrap_or_default();
    c.check(
        file == format!("{}\n", base_dir.display()),
        &format!("the control directory's cgroup file says {file:?}"),
    );
    c.check(
        c.console().contains(&format!(
            "cgroup v2: services in {}/svc/",
            base_dir.display()
        )),
        "no boot line saying where the services are",
    );
}

/// Proves `stop` kills a double-forking daemon's grandchild, which left
/// the process group (so the stop signal never reached it): when `stop`
/// returns, the service is `stopped` and the grandchild is gone, and
/// `stop` did not wait for the service's 20 s `delay` (the rest of the
/// cgroup is killed as soon as the main process is gone).
#[test]
fn stop_kills_what_left_the_process_group() {
    let Some(cg) = TestCgroup::new() else { return };
    let fx = Fixture::new();
    escaping(&fx, "d", false);
    fx.service("init").wants("d");
    let c = fx.boot_ctl_in(cg);
    let (_, escaped) = wait_both(&c, &fx, "d", &["sleep", "1001"]);
    let t = Instant::now();
    ctl_ok(&c, &["stop", "d"]);
    let took = t.elapsed();
    let gone = !escaped.is_alive();
    c.check_all(vec![
        (
            gone,
            format!("the grandchild {} survived stop", escaped.describe()),
        ),
        (c.has_state("stopped", "d"), "d is not stopped".into()),
        (
            took < Duration::from_secs(10),
            format!("stop took {took:?}"),
        ),
    ]);
}

/// Proves `kill-mode` `group` keeps what left the process group (as an
/// sshd's open sessions must survive its restart): `stop` ends once the
/// main process is gone, the service is `stopped`, and the grandchild still
/// runs. And a `kill-mode` that is neither `cgroup` nor `group` fails the
/// start, naming the file: a service is never stopped otherwise than its
/// author asked.
#[test]
fn kill_mode_group_keeps_what_left_the_group() {
    let Some(cg) = TestCgroup::new() else { return };
    let fx = Fixture::new();
    escaping(&fx, "d", false);
    fx.service("d").file("kill-mode", "group\n");
    fx.service("bad")
        .script("exec sleep 1000")
        .file("kill-mode", "process\n");
    fx.service("init").wants("d");
    fx.service("init").wants("bad");
    let c = fx.boot_ctl_in(cg);
    let (_, escaped) = wait_both(&c, &fx, "d", &["sleep", "1001"]);
    ctl_ok(&c, &["stop", "d"]);
    c.check_all(vec![
        (
            escaped.is_alive(),
            format!("the grandchild {} did not survive stop", escaped.describe()),
        ),
        (c.has_state("stopped", "d"), "d is not stopped".into()),
    ]);
    let file = fx.svc_path("bad").join("kill-mode");
    c.expect_failed_with(
        "bad",
        &format!("{}: not a kill mode (cgroup or group)", file.display()),
    );
}

/// Proves `signal --all` reaches every process of the service's cgroup,
/// the grandchild out of the process group included.
#[test]
fn signal_all_reaches_the_escaped_grandchild() {
    let Some(cg) = TestCgroup::new() else { return };
    let fx = Fixture::new();
    escaping(&fx, "d", true);
    fx.service("init").wants("d");
    let c = fx.boot_ctl_in(cg);
    wait_both(&c, &fx, "d", &["sh", "-c"]);
    let out = ctl_ok(&c, &["signal", "--all", "d", "USR1"]);
    c.check(out.stdout.contains("every process of d"), &out.dump());
    c.wait_until("the grandchild to record USR1", TIMEOUT, |_| {
        fx.has_mark("got") && fx.read_mark("got").contains("usr1")
    });
}

/// Proves a hot update keeps the containment: after `cinit-ctl update`
/// the same main process is still in its cgroup, PID 1 still in
/// `BASE/cinit` (nothing moved, nothing killed, no fallback said), and a
/// stop afterwards still kills the escaped grandchild.
#[test]
fn a_hot_update_keeps_the_cgroups() {
    let Some(cg) = TestCgroup::new() else { return };
    let base = cg.path();
    let fx = Fixture::new();
    escaping(&fx, "d", false);
    fx.service("init").wants("d");
    let c = fx.boot_ctl_in(cg);
    let (main, escaped) = wait_both(&c, &fx, "d", &["sleep", "1001"]);
    let out = ctl_ok(&c, &["update"]);
    c.check(out.stdout.starts_with("updated"), &out.dump());
    let want = format!("{base}/svc/d");
    c.check_all(vec![
        (
            main.is_alive() && escaped.is_alive(),
            "a process died in the update".into(),
        ),
        (
            cgroup_of(main.pid).as_deref() == Some(want.as_str()),
            format!("on is in {:?} after the update", cgroup_of(main.pid)),
        ),
        (
            cgroup_of(c.host_pid()) == Some(format!("{base}/cinit")),
            format!("PID 1 is in {:?} after the update", cgroup_of(c.host_pid())),
        ),
        (
            !c.console().contains("no writable cgroup"),
            "the new image fell back to process groups".into(),
        ),
    ]);
    ctl_ok(&c, &["stop", "d"]);
    c.check(
        !escaped.is_alive(),
        &format!(
            "the grandchild {} survived stop after the update",
            escaped.describe()
        ),
    );
}

/// Proves the fallback: cinit started in the host's root cgroup (the real
/// root of the hierarchy, which only the machine's init may use) makes no
/// cgroup, stays where it is, writes no `cgroup` file, says once why
/// services are tracked by process group, and `stop` works as before.
#[test]
fn the_root_cgroup_is_refused_and_said_once() {
    let fx = Fixture::new();
    fx.service("s").respawn().script("exec sleep 1000");
    fx.service("init").wants("s");
    let before = cgroup_of(std::process::id() as i32);
    let c = fx.boot_ctl();
    let main = c.wait_child_argv(&["sleep", "1000"], None);
    ctl_ok(&c, &["stop", "s"]);
    let said = c.console().matches("no writable cgroup v2 (").count();
    c.check_all(vec![
        (said == 1, format!("the fallback was said {said} times")),
        (
            c.console()
                .contains("services are tracked by process group"),
            "the fallback line does not say what happens instead".into(),
        ),
        (!main.is_alive(), "s survived stop".into()),
        (c.has_state("stopped", "s"), "s is not stopped".into()),
        (cgroup_of(c.host_pid()) == before, "PID 1 was moved".into()),
        (
            !c.ctl_dir_via_proc().join("cgroup").exists()
                && c.ctl_dir_via_proc().join("control").exists(),
            "a cgroup file without cgroups".into(),
        ),
    ]);
}

/// Proves the fallback does not hinge on the user namespace: cinit as the
/// real root, PID 1 of a PID namespace only (the machine's identity
/// `uid_map`, but not the machine's PID namespace), started in the host's
/// root cgroup, is not the machine's init: it makes no cgroup in the
/// host's root, stays where it is, and says why once.
#[test]
fn the_root_cgroup_is_refused_to_real_root_in_a_pid_namespace() {
    if !runs_as_root("cinit as the real root in a PID namespace") {
        return;
    }
    let fx = Fixture::new();
    fx.service("s").respawn().script("exec sleep 1000");
    fx.service("init").wants("s");
    let before = cgroup_of(std::process::id() as i32);
    let c = fx.boot_ctl_real_root();
    c.wait_child_argv(&["sleep", "1000"], None);
    let said = c.console().matches("no writable cgroup v2 (").count();
    c.check_all(vec![
        (said == 1, format!("the fallback was said {said} times")),
        (cgroup_of(c.host_pid()) == before, "PID 1 was moved".into()),
        (
            !c.ctl_dir_via_proc().join("cgroup").exists(),
            "a cgroup file without cgroups".into(),
        ),
    ]);
}
