//! A service's `cgroup` file and the cgroup figures of `cinit-ctl status`
//! and `top`, with the real `cinit` as PID 1 in namespaces, and the
//! writing of settings against the kernel's own cgroup v2 files.
//!
//! The figures need a cgroup v2 hierarchy the test may write: a hybrid
//! host's `/sys/fs/cgroup/unified` (this CI's kind: no controller but the
//! core files, `cpu.stat` and `cgroup.procs`) or a pure v2
//! `/sys/fs/cgroup`. The tests make their own temporary cgroups there
//! (`cinit-t-PID-N`) and remove them, processes moved out first, even
//! when they fail. Without root or such a hierarchy they say so and skip.
//! Memory limits and the OOM killer need real controllers: the QEMU suite
//! covers them.

#![cfg(test)]

mod common;

use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use cinit::sys::cgroup::apply::{apply_settings, Setting};
use cinit::sys::cgroup::layout::{service_cgroup, BASE_FILE, SERVICES};

/// The root of a cgroup v2 hierarchy this test may write, if any.
fn v2_root() -> Option<PathBuf> {
    ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.join("cgroup.procs").exists() && p.join("cgroup.subtree_control").exists())
}

/// A temporary base `ROOT/cinit-t-PID-N` with `svc/` and the given
/// service leaves, removed on drop (its processes moved back to the root
/// first).
struct TempBase {
    root: PathBuf,
    base: PathBuf,
    leaves: Vec<PathBuf>,
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

impl TempBase {
    /// `None` (and a note) where there is no writable cgroup v2 or no root.
    fn new(names: &[&str]) -> Option<TempBase> {
        if !runs_as_root("makes cgroups") {
            return None;
        }
        let Some(root) = v2_root() else {
            eprintln!("skipping: no cgroup v2 hierarchy here");
            return None;
        };
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let base = root.join(format!("cinit-t-{}-{n}", std::process::id()));
        if let Err(e) = fs::create_dir(&base) {
            eprintln!("skipping: cannot make {}: {e}", base.display());
            return None;
        }
        let mut t = TempBase {
            root,
            base: base.clone(),
            leaves: Vec::new(),
        };
        fs::create_dir(base.join(SERVICES)).unwrap();
        for name in names {
            let leaf = service_cgroup(&base, name);
            fs::create_dir(&leaf).unwrap();
            t.leaves.push(leaf);
        }
        Some(t)
    }

    /// Move host pid `pid` into `leaf`.
    fn put(&self, leaf: &Path, pid: i32) {
        fs::write(leaf.join("cgroup.procs"), pid.to_string()).unwrap();
    }
}

impl Drop for TempBase {
    fn drop(&mut self) {
        for leaf in self.leaves.iter().rev() {
            let procs = fs::read_to_string(leaf.join("cgroup.procs")).unwrap_or_default();
            for pid in procs.lines() {
                let _ = fs::write(self.root.join("cgroup.procs"), pid);
            }
            let _ = fs::remove_dir(leaf);
        }
        let _ = fs::remove_dir(self.base.join(SERVICES));
        let _ = fs::remove_dir(&self.base);
    }
}

/// Proves a service whose `cgroup` file asks for a memory limit never runs
/// without it: where cinit has no cgroup v2 (or no memory controller) its
/// start fails naming the file and the setting, and `on` never runs.
#[test]
fn a_limit_that_cannot_be_set_fails_the_start() {
    let fx = Fixture::new();
    fx.service("limited")
        .script(&sh_touch(&fx.mark("ran")))
        .file("cgroup", "# the limit\nmemory.max 64M\n");
    fx.service("plain").script(&sh_touch(&fx.mark("plain")));
    fx.service("init").wants("limited").wants("plain");
    let c = fx.boot();
    let file = fx.svc_path("limited").join("cgroup");
    let got = c.expect_failed_with("limited", &format!("{}: memory.max", file.display()));
    c.check(
        got.rest()
            .contains("memory.max asked for but cinit has no cgroup v2 here")
            || got.rest().contains("controller memory not available"),
        &format!("the reason says why: {}", got.line),
    );
    c.expect_outcome("plain", "done");
    c.check(!fx.has_mark("ran"), "the service ran without its limit");
    c.check(fx.has_mark("plain"), "a service without the file ran");
}

/// Proves settings are written into a real cgroup v2 only where the base
/// has their controller: `memory.max` below a base without the memory
/// controller fails with "controller memory not available" and writes
/// nothing; a controller the base has (where it has one) is enabled on the
/// way down and its value written.
#[test]
fn settings_need_the_controller_in_a_real_cgroup() {
    let Some(t) = TempBase::new(&["svc/a"]) else {
        return;
    };
    let (leaf, svc) = (&t.leaves[0], t.base.join(SERVICES));
    let available = fs::read_to_string(t.base.join("cgroup.controllers")).unwrap();
    let setting = |file: &str, value: &str| Setting {
        file: file.into(),
        value: value.into(),
    };
    if !available.split_whitespace().any(|c| c == "memory") {
        let err = apply_settings(leaf, &svc, &t.base, &[setting("memory.max", "64M")]).unwrap_err();
        assert!(
            err.starts_with("memory.max 64M: controller memory not available"),
            "{err}"
        );
        assert!(!leaf.join("memory.max").exists());
    }
    if available.split_whitespace().any(|c| c == "pids") {
        apply_settings(leaf, &svc, &t.base, &[setting("pids.max", "32")]).unwrap();
        assert_eq!(fs::read_to_string(leaf.join("pids.max")).unwrap(), "32\n");
    }
}

/// Proves `cinit-ctl status NAME` reads the figures of the service's
/// cgroup itself: with the base named in the control directory's
/// `cgroup` file and the service's process in `BASE/svc/LEAF` (the name's
/// `/` escaped), `--json` has `tasks` 1 and a `cpu_usec`, the line says
/// `1 task` and `cpu`, and `top` lists the service (`-n 1`: again every
/// second, the screen cleared first); a service whose cgroup does not
/// exist has `null` figures. Without the base file there are no figures
/// and `top` says so (exit 1).
#[test]
fn status_and_top_read_the_cgroup() {
    let Some(t) = TempBase::new(&["web/x"]) else {
        return;
    };
    let fx = Fixture::new();
    fx.service("web/x").script("exec sleep 1000").respawn();
    fx.service("idle").script("exec sleep 1000").respawn();
    fx.service("init").wants("web/x").wants("idle");
    let c = fx.boot_ctl();
    c.wait_state("running", "web/x");
    c.wait_state("running", "idle");
    let pid: i32 = c.ctl(&["pid", "web/x"]).stdout.trim().parse().unwrap();
    // The host pid of the service (cinit's child whose namespace pid it is).
    let main = c
        .children()
        .into_iter()
        .find(|p| p.ns_pid() == Some(pid))
        .unwrap();

    let top = c.ctl(&["top"]);
    c.check(
        top.code() == Some(1),
        &format!("top without cgroups: {}", top.dump()),
    );
    c.check(
        top.stderr.contains("no cgroups"),
        &format!("top says why: {}", top.dump()),
    );

    fs::write(
        c.ctl_dir_via_proc().join(BASE_FILE),
        format!("{}\n", t.base.display()),
    )
    .unwrap();
    t.put(&t.leaves[0], main.pid);

    let json = c.ctl(&["status", "--json", "web/x", "idle"]);
    c.check(json.code() == Some(0), &json.dump());
    let (web, idle) = json.stdout.split_once("},{").unwrap();
    c.check(web.contains("\"tasks\":1"), &format!("tasks: {web}"));
    let cpu = web
        .split("\"cpu_usec\":")
        .nth(1)
        .and_then(|r| r.split([',', '}']).next())
        .unwrap_or("");
    c.check(
        cpu.parse::<u64>().is_ok(),
        &format!("cpu_usec is a number: {web}"),
    );
    c.check(
        idle.contains("\"tasks\":null") && idle.contains("\"cpu_usec\":null"),
        &format!("no cgroup, no figures: {idle}"),
    );
    let line = c.ctl(&["status", "web/x"]).stdout;
    c.check(
        line.contains("1 task") && line.contains("cpu "),
        &format!("status line: {line}"),
    );
    let top = c.ctl(&["top", "--cpu"]);
    c.check(top.code() == Some(0), &top.dump());
    let rows: Vec<&str> = top.stdout.lines().collect();
    c.check(
        rows.len() == 2 && rows[1].starts_with("web/x ") && rows[1].ends_with(" 1"),
        &format!("top lists the service with its cgroup: {}", top.stdout),
    );

    // `-n 1`: the screen again every second, cleared first each time.
    let mut again = c
        .ctl_cmd(&["top", "-n", "1"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2500));
    again.kill().unwrap();
    let out = again.wait_with_output().unwrap();
    let screens = String::from_utf8_lossy(&out.stdout);
    let cleared = screens.matches("\x1b[H\x1b[2J").count();
    c.check(
        cleared >= 2 && screens.matches("web/x ").count() == cleared,
        &format!("top -n 1 repeats, clearing the screen: {screens:?}"),
    );
}
