//! Adversarial suite, family B: runtime faults (issue #7; the case matrix
//! is in `testing.md` §5 B). One test per case, named `b<N>_<what it
//! proves>`, with the real `cinit` as PID 1 in namespaces.
//!
//! Besides its own promise, every test checks the family's invariant: PID 1
//! is alive, still reaps (no zombie child left), its control socket answers
//! `status` quickly, and a healthy bystander service keeps its process.
//!
//! Cases that live elsewhere because an existing test already proved most of
//! them: B1 `ns_supervise::b1_crash_loop_is_throttled_and_pid1_stays_idle`,
//! B3 `ns_lifecycle::b3_double_forked_daemon_is_adopted_and_killed_at_shutdown`,
//! B12 `ns_exec::b12_child_inherits_nothing_from_pid1`. B13 (an internal
//! panic) belongs to the fault-injection tests.
//!
//! Some cases need a small C program (`tests/adv/helper.c`: a storm of
//! orphans, a fork bomb, an allocation); it is compiled once per test run
//! with the system's `cc`.

#![cfg(test)]

mod common;

use common::*;
use std::ffi::OsString;
use std::fs;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::thread::sleep;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// The compiled `tests/adv/helper.c`.
fn helper() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| compile_c_helper("adv/helper.c", "adv-helper"))
}

/// A respawn bystander running `/bin/sleep 1999`.
fn healthy(fx: &Fixture) {
    fx.service("healthy")
        .respawn()
        .on_link("/bin/sleep")
        .params(&["1999"]);
}

/// The bystander's process.
fn healthy_proc(c: &Cinit) -> Proc {
    c.wait_child_argv(&["/bin/sleep", "1999"], None)
}

/// PID 1's CPU time spent during `window` (the caller keeps the load on).
fn cpu_during(c: &Cinit, window: Duration) -> f64 {
    let before = c.proc().cpu_secs();
    sleep(window);
    c.proc().cpu_secs() - before
}

/// The family invariant: PID 1 alive, `status` answered within 2 s naming
/// the bystander `running` with the same process, no zombie child left.
#[track_caller]
fn invariant(c: &mut Cinit, bystander: Proc, after: &str) {
    c.assert_alive();
    let (out, took) = c.ctl_timed(&["status", "healthy"]);
    c.check(
        out.code() == Some(0) && out.stdout.starts_with("healthy: running"),
        &format!(
            "after {after}: `status healthy` answered wrongly:\n{}",
            out.dump()
        ),
    );
    c.check(
        took < Duration::from_secs(2),
        &format!("after {after}: `status` took {took:?}"),
    );
    c.check(
        bystander.is_alive() && c.children().contains(&bystander),
        &format!(
            "after {after}: the bystander {} was touched",
            bystander.describe()
        ),
    );
    c.wait_until(
        &format!("no zombie child of cinit after {after}"),
        Duration::from_secs(5),
        |c| c.zombie_children() == 0,
    );
}

/// One parsed `cinit-ctl status NAME` line: state, pid, restarts, reason.
#[derive(Debug, Default)]
struct Status {
    state: String,
    pid: Option<i32>,
    restarts: u32,
    reason: String,
    line: String,
}

/// `cinit-ctl status NAME`, parsed (`NAME: STATE[, pid N], for Xs[, K
/// restarts][: reason]`).
#[track_caller]
fn status(c: &Cinit, name: &str) -> Status {
    let out = c.ctl(&["status", name]);
    let prefix = format!("{name}: ");
    let Some((line, rest)) = out
        .stdout
        .lines()
        .find_map(|l| Some((l, l.strip_prefix(&prefix)?)))
    else {
        c.fail(&format!("no status line for {name}:\n{}", out.dump()));
    };
    let (head, reason) = match rest.split_once(": ") {
        Some((head, reason)) => (head, reason.to_owned()),
        None => (rest, String::new()),
    };
    let mut st = Status {
        reason,
        line: line.to_owned(),
        ..Status::default()
    };
    for (i, part) in head.split(", ").enumerate() {
        if i == 0 {
            st.state = part.to_owned();
        } else if let Some(p) = part.strip_prefix("pid ") {
            st.pid = p.parse().ok();
        } else if let Some(n) = part.strip_suffix(" restarts") {
            st.restarts = n.parse().unwrap_or(0);
        }
    }
    st
}

/// The argv of in-namespace pid `ns_pid`, read through cinit's root (its
/// mount namespace has the namespace's own /proc).
fn ns_cmdline(c: &Cinit, ns_pid: i32) -> Vec<String> {
    let path = format!("/proc/{}/root/proc/{ns_pid}/cmdline", c.host_pid());
    let bytes = fs::read(path).unwrap_or_default();
    String::from_utf8_lossy(&bytes)
        .split('\0')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Launch options: control socket in the fixture, plus `wrapper`.
fn opts_with_wrapper(fx: &Fixture, wrapper: &[&str]) -> LaunchOpts {
    LaunchOpts {
        ctl_dir: Some(fx.ctl_dir()),
        wrapper: wrapper.iter().map(OsString::from).collect(),
        ..LaunchOpts::default()
    }
}

/// Boots with `opts` and waits for the control socket line.
fn boot_opts(fx: &Fixture, opts: &LaunchOpts) -> Cinit {
    let c = Cinit::launch_with(fx, &[], &[], opts);
    c.wait_listening();
    c
}

/// A wrapper that sets the namespace's own `pid_max` before exec'ing cinit
/// (kernel ≥ 6.14; the host's value is untouched).
fn pid_max_wrapper(max: u32) -> Vec<String> {
    vec![
        "/bin/sh".to_owned(),
        "-c".to_owned(),
        format!("echo {max} > /proc/sys/kernel/pid_max && exec \"$0\" \"$@\""),
    ]
}

/// The seconds in a console line's `[   12.345]` stamp.
fn stamp_secs(line: &str) -> Option<f64> {
    let (_, stamped) = line.split_once('[')?;
    let (stamp, _) = stamped.split_once(']')?;
    stamp.trim().parse().ok()
}

// ---------------------------------------------------------------------------
// B2. A service that forks and exits
// ---------------------------------------------------------------------------

/// B2 (a service that forks and exits, `sleep 1000 & exit 0`). Proves the
/// main pid's exit is handled by policy and the grandchild is adopted, never
/// confused with the service: a once service ends `done` with no pid while
/// its `sleep 1001` lives on as a child of PID 1; killing that orphan is
/// reaped and changes nothing about the service (no new state line, still
/// `done`). A respawn service doing the same piles up at most one orphan per
/// (backed-off) restart: ≤ 10 in 3 s, each adopted, and `status` never shows
/// an orphan's pid as the service's. All orphans are reaped when killed.
#[test]
fn b2_forking_service_grandchild_is_adopted_and_reaped() {
    let fx = Fixture::new();
    healthy(&fx);
    fx.service("fork_once")
        .script("sleep 1001 </dev/null >/dev/null 2>&1 &\nexit 0");
    let starts = fx.mark("starts");
    fx.service("fork_respawn").respawn().script(&format!(
        "sleep 1002 </dev/null >/dev/null 2>&1 &\necho $! >> '{}'\nexit 0",
        starts.display()
    ));
    fx.service("init")
        .needs("healthy")
        .wants("fork_once")
        .wants("fork_respawn");
    let mut c = fx.boot_ctl();
    let bystander = healthy_proc(&c);
    c.expect_outcome("fork_once", "done");
    let orphan = c.wait_child_argv(&["sleep", "1001"], None);
    c.check(
        orphan.ppid() == c.host_pid(),
        &format!("the grandchild was not adopted: {}", orphan.describe()),
    );
    let st = status(&c, "fork_once");
    c.check(
        st.state == "done" && st.pid.is_none(),
        &format!("a once service whose main exited shows: {}", st.line),
    );

    // The respawn variant, over 3 s.
    sleep(Duration::from_secs(3));
    let spawned: Vec<i32> = fx
        .read_mark("starts")
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    let orphans = c.children_with_argv(&["sleep", "1002"]);
    c.check(
        !spawned.is_empty() && spawned.len() <= 10,
        &format!(
            "{} restarts of a daemonizing respawn service in 3 s (expected 1..=10)",
            spawned.len()
        ),
    );
    c.check(
        orphans.len() == spawned.len() && orphans.iter().all(|p| p.ppid() == c.host_pid()),
        &format!(
            "{} orphans adopted by cinit for {} starts: {:?}",
            orphans.len(),
            spawned.len(),
            orphans.iter().map(Proc::describe).collect::<Vec<_>>()
        ),
    );
    let st = status(&c, "fork_respawn");
    let orphan_pids: Vec<i32> = orphans.iter().filter_map(|p| p.ns_pid()).collect();
    c.check(
        st.pid.is_none_or(|p| !orphan_pids.contains(&p)),
        &format!(
            "status shows an orphan as the service: {} (orphans {orphan_pids:?})",
            st.line
        ),
    );

    // Killing the once service's orphan: reaped, the service untouched.
    let lines_before = c.lines_of("fork_once").len();
    c.check(
        send_signal(orphan.pid, libc::SIGKILL),
        "could not kill the orphan",
    );
    c.wait_until("the orphan to be reaped", TIMEOUT, |c| {
        !c.children().contains(&orphan)
    });
    sleep(Duration::from_millis(200));
    let st = status(&c, "fork_once");
    c.check(
        c.lines_of("fork_once").len() == lines_before && st.state == "done",
        &format!(
            "the orphan's death changed the service: {} / {:?}",
            st.line,
            c.lines_of("fork_once")
        ),
    );
    for p in &orphans {
        send_signal(p.pid, libc::SIGKILL);
    }
    c.wait_until("every killed orphan to be reaped", TIMEOUT, |c| {
        orphans.iter().all(|p| !c.children().contains(p))
    });
    invariant(&mut c, bystander, "the orphans died");
}

// ---------------------------------------------------------------------------
// B4. Orphan storm
// ---------------------------------------------------------------------------

/// B4 (a service spawns 10 000 short-lived orphans). Proves SIGCHLDs that
/// coalesce lose nothing: the helper double-forks 10 000 grandchildren that
/// exit at once (each an orphan for PID 1); afterwards cinit has no zombie
/// child, and 12 once services that exit with status 3 during the storm are
/// each recorded `failed` with `exit status 3` (no supervised exit missed).
#[test]
fn b4_ten_thousand_orphans_leave_no_zombie() {
    let fx = Fixture::new();
    healthy(&fx);
    let done = fx.mark("storm-done");
    fx.service("storm")
        .respawn()
        .on_link(helper().to_str().unwrap())
        .params(&["orphans", "10000", done.to_str().unwrap()]);
    let init = fx.service("init");
    init.needs("healthy").needs("storm");
    for k in 0..12 {
        let name = format!("tick{k}");
        fx.service(&name)
            .needs("storm")
            .script(&format!("sleep {:.2}\nexit 3", f64::from(k) * 0.15));
        init.wants(&name);
    }
    let mut c = fx.boot_ctl();
    let bystander = healthy_proc(&c);
    let t0 = Instant::now();
    c.wait_until(
        "the storm of 10 000 orphans to end",
        Duration::from_secs(60),
        |_| fx.read_mark("storm-done").trim() == "10000",
    );
    let storm = t0.elapsed();
    c.wait_until("every orphan to be reaped", Duration::from_secs(10), |c| {
        c.zombie_children() == 0 && c.children().len() == 2
    });
    for k in 0..12 {
        c.expect_failed_with(&format!("tick{k}"), "exit status 3");
    }
    let running = c.count_state("running", "storm");
    c.check(
        running == 1,
        &format!("the storm service was started {running} times (storm took {storm:?})"),
    );
    invariant(&mut c, bystander, "10 000 orphans");
}

// ---------------------------------------------------------------------------
// B5. kill -9, kill -STOP
// ---------------------------------------------------------------------------

/// B5 (`kill -9` on a supervised child; `kill -STOP` then a stop request).
/// Proves a SIGKILLed respawn service is recorded as signalled (`restarted
/// after killed by SIGKILL`, status reason SIGKILL, 1 restart) and
/// respawned; a stopped service is stopped with SIGTERM plus SIGCONT (it
/// dies by SIGTERM in well under its 1 s delay); a stopped service that
/// ignores SIGTERM is continued (no longer `T` before the deadline) and then
/// SIGKILLed after its 1 s delay.
#[test]
fn b5_kill9_is_recorded_and_stopped_services_get_cont_then_kill() {
    let fx = Fixture::new();
    healthy(&fx);
    fx.service("victim")
        .respawn()
        .on_link("/bin/sleep")
        .params(&["1003"]);
    fx.service("frozen")
        .respawn()
        .delay(1)
        .on_link("/bin/sleep")
        .params(&["1004"]);
    fx.service("frozen_stubborn")
        .respawn()
        .delay(1)
        .script("trap '' TERM\nexec sleep 1005");
    fx.service("init")
        .needs("healthy")
        .needs("victim")
        .needs("frozen")
        .needs("frozen_stubborn");
    let mut c = fx.boot_ctl();
    let bystander = healthy_proc(&c);

    // kill -9.
    let first = c.wait_child_argv(&["/bin/sleep", "1003"], None);
    c.check(
        send_signal(first.pid, libc::SIGKILL),
        "could not kill victim",
    );
    let second = c.wait_child_argv(&["/bin/sleep", "1003"], Some(first));
    c.wait_until("the restart line of victim", TIMEOUT, |c| {
        c.count_state("running", "victim") >= 2
    });
    let line = c.lines_of("victim").last().unwrap().line.clone();
    let st = status(&c, "victim");
    c.check_all(vec![
        (
            line.contains("killed by SIGKILL"),
            format!("restart line does not record the signal: {line}"),
        ),
        (
            st.state == "running"
                && st.restarts == 1
                && st.reason.contains("SIGKILL")
                && st.pid == second.ns_pid(),
            format!("status after kill -9: {}", st.line),
        ),
    ]);

    // kill -STOP, then stop: TERM + CONT.
    let p = c.wait_child_argv(&["/bin/sleep", "1004"], None);
    c.check(send_signal(p.pid, libc::SIGSTOP), "could not stop frozen");
    c.wait_until("frozen to be stopped (T)", TIMEOUT, |_| p.state() == 'T');
    let (out, took) = c.ctl_timed(&["stop", "frozen"]);
    let line = c.wait_state("stopped", "frozen").line;
    c.check_all(vec![
        (out.code() == Some(0), format!("stop frozen:\n{}", out.dump())),
        (
            took < Duration::from_millis(800),
            format!("stopping a SIGSTOPped service took {took:?}: no SIGCONT with the SIGTERM? ({line})"),
        ),
        (!p.is_alive(), format!("still there: {}", p.describe())),
    ]);

    // kill -STOP a TERM-ignoring service, then stop: CONT, then KILL.
    let p = c.wait_child_argv(&["sleep", "1005"], None);
    c.check(
        send_signal(p.pid, libc::SIGSTOP),
        "could not stop frozen_stubborn",
    );
    c.wait_until("frozen_stubborn to be stopped (T)", TIMEOUT, |_| {
        p.state() == 'T'
    });
    let t0 = Instant::now();
    let mut ctl = c.ctl_cmd(&["stop", "frozen_stubborn"]);
    let mut client = ctl
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    c.wait_until(
        "frozen_stubborn to be continued",
        Duration::from_millis(800),
        |_| p.state() != 'T',
    );
    let continued = t0.elapsed();
    c.check(
        p.is_alive(),
        &format!("SIGTERM killed a TERM-ignoring process: {}", p.describe()),
    );
    let line = c.wait_state("stopped", "frozen_stubborn").line;
    let took = t0.elapsed();
    let code = client.wait().unwrap().code();
    c.check_all(vec![
        (code == Some(0), format!("stop frozen_stubborn exited {code:?}")),
        (
            took >= Duration::from_millis(900) && took < Duration::from_secs(4),
            format!("KILL came after {took:?} (continued after {continued:?}), expected about 1 s: {line}"),
        ),
        (!p.is_alive(), format!("still there: {}", p.describe())),
    ]);
    invariant(&mut c, bystander, "kill -9 and kill -STOP");
}

// ---------------------------------------------------------------------------
// B6. fd exhaustion
// ---------------------------------------------------------------------------

/// B6 (fd exhaustion: `prlimit --nofile=32` on PID 1 and 100 idle clients).
/// Proves a full descriptor table does not make PID 1 spin (< 0.3 s CPU in
/// 2 s while `accept` would fail with EMFILE), a respawn service killed
/// meanwhile goes to `backoff` (its files cannot be opened: a temporary
/// error), never `failed`, and runs again once the clients are gone; then
/// `status` answers at once.
#[test]
fn b6_fd_exhaustion_neither_spins_nor_fails_services() {
    let fx = Fixture::new();
    healthy(&fx);
    fx.service("victim").respawn().script("exec sleep 1010");
    fx.service("init").needs("healthy").needs("victim");
    let prlimit = util_bin("prlimit");
    let mut c = boot_opts(
        &fx,
        &opts_with_wrapper(&fx, &[prlimit.to_str().unwrap(), "--nofile=32:32", "--"]),
    );
    let bystander = healthy_proc(&c);
    let limits = fs::read_to_string(format!("/proc/{}/limits", c.host_pid())).unwrap();
    c.check(
        limits
            .lines()
            .any(|l| l.starts_with("Max open files") && l.contains(" 32 ")),
        &format!("prlimit did not apply:\n{limits}"),
    );
    let victim = c.wait_child_argv(&["sleep", "1010"], None);
    let conns: Vec<UnixStream> = (0..100).map(|_| c.connect()).collect();
    c.wait_until("cinit's descriptor table to fill", TIMEOUT, |c| {
        c.proc().fds().len() >= 31
    });
    c.check(
        send_signal(victim.pid, libc::SIGKILL),
        "could not kill victim",
    );
    let cpu = cpu_during(&c, Duration::from_secs(2));
    c.check(
        cpu < 0.3,
        &format!("PID 1 used {cpu:.2} s CPU in 2 s with a full descriptor table"),
    );
    c.wait_state("backoff", "victim");
    c.check(
        !c.has_state("failed", "victim"),
        "a respawn service failed for good on a full descriptor table",
    );
    drop(conns);
    let (out, took) = c.ctl_timed(&["status", "victim"]);
    c.check(
        out.code().is_some() && took < Duration::from_secs(3),
        &format!(
            "status after the clients left took {took:?}:\n{}",
            out.dump()
        ),
    );
    let again = c.wait_for("victim to run again", Duration::from_secs(40), |c| {
        c.children_with_argv(&["sleep", "1010"])
            .into_iter()
            .find(|p| p.is_alive())
    });
    c.check(again != victim, "the killed victim is still listed");
    invariant(&mut c, bystander, "fd exhaustion");
}

// ---------------------------------------------------------------------------
// B7. PID exhaustion
// ---------------------------------------------------------------------------

/// B7 (PID exhaustion: the namespace's `pid_max` = 320, the kernel's
/// minimum being 301; a fork bomb in a service). Proves the control socket
/// still answers while no pid is free, a respawn service started then meets
/// EAGAIN and goes to `backoff` (retried, not failed; `start` answers with
/// that state), and it runs once the bomb is stopped through the control
/// socket.
#[test]
fn b7_pid_exhaustion_keeps_control_and_retries_spawn() {
    let fx = Fixture::new();
    healthy(&fx);
    let bombed = fx.mark("bombed");
    fx.service("bomb")
        .respawn()
        .delay(1)
        .on_link(helper().to_str().unwrap())
        .params(&["forkbomb", bombed.to_str().unwrap()]);
    fx.service("late")
        .respawn()
        .on_link("/bin/sleep")
        .params(&["1011"]);
    fx.service("init").needs("healthy").needs("bomb");
    let wrapper = pid_max_wrapper(320);
    let w: Vec<&str> = wrapper.iter().map(String::as_str).collect();
    let mut c = boot_opts(&fx, &opts_with_wrapper(&fx, &w));
    let bystander = healthy_proc(&c);
    c.wait_until(
        "the fork bomb to hit the limit",
        Duration::from_secs(20),
        |_| fx.read_mark("bombed").contains("EAGAIN"),
    );
    let (out, took) = c.ctl_timed(&["status"]);
    c.check(
        out.code() == Some(0)
            && out.stdout.contains("bomb: running")
            && took < Duration::from_secs(2),
        &format!("status with no free pid took {took:?}:\n{}", out.dump()),
    );
    // `start` answers once the service is settled: here in `backoff`.
    let out = c.ctl(&["start", "late"]);
    c.check(
        out.code() == Some(1) && out.all().contains("backoff"),
        &format!("start late with no free pid:\n{}", out.dump()),
    );
    let backoff = c.wait_state("backoff", "late");
    c.check(
        (backoff.line.contains("Try again")
            || backoff.line.contains("Resource temporarily unavailable"))
            && backoff.line.contains("retry in"),
        &format!("expected an EAGAIN backoff: {}", backoff.line),
    );
    let (out, took) = c.ctl_timed(&["stop", "bomb"]);
    c.check(
        out.code() == Some(0) && took < Duration::from_secs(4),
        &format!("stop bomb took {took:?}:\n{}", out.dump()),
    );
    c.wait_state_for("running", "late", Duration::from_secs(10));
    c.check(
        !c.has_state("failed", "late"),
        "late failed instead of retrying",
    );
    invariant(&mut c, bystander, "a fork bomb");
}

// ---------------------------------------------------------------------------
// B8. Memory cgroup OOM
// ---------------------------------------------------------------------------

/// A v1 memory cgroup made for one test, removed in `Drop` even when the
/// test fails (its processes are moved back to the root group first).
struct MemCgroup {
    dir: PathBuf,
}

const MEMCG_ROOT: &str = "/sys/fs/cgroup/memory";

impl MemCgroup {
    fn new(limit: &str) -> Self {
        let dir = Path::new(MEMCG_ROOT).join(format!(
            "cinit-test-b8-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos())
        ));
        fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        let me = Self { dir };
        fs::write(me.dir.join("memory.limit_in_bytes"), limit).unwrap();
        // Without this, the group could swap instead of meeting its limit.
        let _ = fs::write(me.dir.join("memory.memsw.limit_in_bytes"), limit);
        let _ = fs::write(me.dir.join("memory.swappiness"), "0");
        me
    }

    fn add(&self, pid: i32) {
        fs::write(self.dir.join("cgroup.procs"), pid.to_string()).unwrap();
    }

    fn file(&self, name: &str) -> String {
        fs::read_to_string(self.dir.join(name)).unwrap_or_default()
    }
}

impl Drop for MemCgroup {
    fn drop(&mut self) {
        for _ in 0..200 {
            let procs = self.file("cgroup.procs");
            for pid in procs.split_whitespace() {
                let _ = fs::write(Path::new(MEMCG_ROOT).join("cgroup.procs"), pid);
            }
            if fs::remove_dir(&self.dir).is_ok() || !self.dir.exists() {
                return;
            }
            sleep(POLL);
        }
        eprintln!("could not remove the cgroup {}", self.dir.display());
    }
}

/// B8 (memory pressure: a memory cgroup v1 limited to 64 MiB holds PID 1,
/// and a service allocates 200 MiB). Proves the OOM killer takes the
/// service, not PID 1: the cgroup counts OOM kills, the service is recorded
/// as killed by SIGKILL and respawned by policy, PID 1 survives and stays
/// small, and services get `oom_score_adj` 0.
#[test]
fn b8_memory_cgroup_oom_kills_the_service_not_pid1() {
    let fx = Fixture::new();
    healthy(&fx);
    fx.service("hog")
        .respawn()
        .on_link(helper().to_str().unwrap())
        .params(&["alloc", "200"]);
    fx.service("init").needs("healthy");
    let cg = MemCgroup::new("67108864");
    let mut c = fx.boot_ctl();
    let bystander = healthy_proc(&c);
    cg.add(c.host_pid());
    let out = c.ctl(&["start", "hog"]);
    c.check(
        out.code() == Some(0),
        &format!("start hog:\n{}", out.dump()),
    );
    c.wait_until(
        "the hog to be OOM-killed and respawned twice",
        Duration::from_secs(20),
        |c| c.count_state("running", "hog") >= 3,
    );
    let st = status(&c, "hog");
    let oom = cg.file("memory.oom_control");
    let kills: u64 = oom
        .lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    let restarted = c
        .lines_of("hog")
        .into_iter()
        .filter(|l| l.line.contains("killed by SIGKILL"))
        .count();
    let hog = c
        .children()
        .into_iter()
        .find(|p| p.cmdline().first().map(String::as_str) == helper().to_str() && p.is_alive());
    let adj =
        |p: Proc| fs::read_to_string(format!("/proc/{}/oom_score_adj", p.pid)).unwrap_or_default();
    let rss_kb: u64 = c
        .proc()
        .status_field("VmRSS")
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(u64::MAX);
    c.check_all(vec![
        (kills >= 2, format!("memory.oom_control:\n{oom}")),
        (
            restarted >= 2,
            format!("restarts not recorded as SIGKILL: {:?}", c.lines_of("hog")),
        ),
        (
            st.reason.contains("SIGKILL") && st.restarts >= 2,
            format!("status: {}", st.line),
        ),
        (rss_kb < 16 * 1024, format!("PID 1's RSS is {rss_kb} kB")),
        (
            adj(bystander).trim() == "0"
                && hog.is_none_or(|h| adj(h).trim() == "0" || adj(h).is_empty()),
            format!(
                "oom_score_adj of services: bystander {:?}, hog {:?}",
                adj(bystander),
                hog.map(adj)
            ),
        ),
    ]);
    let out = c.ctl(&["stop", "hog"]);
    c.check(out.code() == Some(0), &format!("stop hog:\n{}", out.dump()));
    invariant(&mut c, bystander, "OOM kills");
    drop(c);
    drop(cg);
}

// ---------------------------------------------------------------------------
// B9. The monotonic clock ten years ahead
// ---------------------------------------------------------------------------

/// B9, the namespace part (CLOCK_MONOTONIC and CLOCK_BOOTTIME +10 years
/// through a time namespace). Proves no deadline arithmetic overflows or
/// misfires: the console stamps show the 10 years, a crash loop still backs
/// off (3..=8 starts in 2 s, the backoff line says `restart in`), a stop
/// still escalates to SIGKILL after its 1 s delay, and nothing logs an
/// internal error. (Realtime jumps are global; they need the VM.)
#[test]
fn b9_monotonic_clock_ten_years_ahead_changes_nothing() {
    const TEN_YEARS: u64 = 315_360_000;
    let fx = Fixture::new();
    healthy(&fx);
    let times = fx.mark("times");
    fx.service("crashy")
        .respawn()
        .script(&format!("echo x >> '{}'\nexit 1", times.display()));
    fx.service("stubborn")
        .respawn()
        .delay(1)
        .script("trap '' TERM\nexec sleep 1012");
    fx.service("init")
        .needs("healthy")
        .needs("crashy")
        .needs("stubborn");
    let opts = LaunchOpts {
        ctl_dir: Some(fx.ctl_dir()),
        unshare_args: vec![
            OsString::from("--time"),
            OsString::from(format!("--monotonic={TEN_YEARS}")),
            OsString::from(format!("--boottime={TEN_YEARS}")),
        ],
        ..LaunchOpts::default()
    };
    let mut c = boot_opts(&fx, &opts);
    let bystander = healthy_proc(&c);
    let first = c.console().lines().next().unwrap_or_default().to_owned();
    c.check(
        stamp_secs(&first).is_some_and(|s| s >= TEN_YEARS as f64),
        &format!("the console stamp does not show the time namespace: {first}"),
    );
    c.wait_until("crashy to start", TIMEOUT, |_| fx.has_mark("times"));
    sleep(Duration::from_secs(2));
    let n = fx.read_mark("times").lines().count();
    c.check(
        (3..=8).contains(&n),
        &format!("{n} starts of a crash loop in about 2 s, expected 3..=8"),
    );
    let backoff = c.wait_state("backoff", "crashy");
    c.check(
        backoff.line.contains("restart in 0."),
        &format!("odd backoff: {}", backoff.line),
    );
    c.wait_child_argv(&["sleep", "1012"], None);
    let (out, took) = c.ctl_timed(&["stop", "stubborn"]);
    let line = c.wait_state("stopped", "stubborn").line;
    c.check_all(vec![
        (
            out.code() == Some(0),
            format!("stop stubborn:\n{}", out.dump()),
        ),
        (
            took >= Duration::from_millis(900) && took < Duration::from_secs(4),
            format!("the 1 s kill delay took {took:?}: {line}"),
        ),
        (
            !c.console().contains("internal error"),
            "an internal error was logged".to_owned(),
        ),
    ]);
    invariant(&mut c, bystander, "ten years of monotonic time");
}

// ---------------------------------------------------------------------------
// B10. PID reuse
// ---------------------------------------------------------------------------

/// Body of a canary: a process in its own session (so a stray `killpg` of
/// its pid would reach it) that records any signal cinit could send.
fn canary_script(hits: &Path) -> String {
    let h = hits.display();
    format!(
        "#!/bin/sh\ntrap 'echo \"$$ TERM\" >> {h}' TERM\ntrap 'echo \"$$ CONT\" >> {h}' CONT\n\
         trap 'echo \"$$ HUP\" >> {h}' HUP\ntrap 'echo \"$$ INT\" >> {h}' INT\n\
         sleep 0.2 </dev/null & wait\n"
    )
}

/// B10 (PID reuse: the namespace's `pid_max` = 400, so pids wrap into
/// 300..399 again and again). Proves cinit never signals a pid it has
/// reaped and never reports a foreign one: while 8 lanes of short-lived
/// canaries (each its own session, trapping TERM/CONT/HUP/INT, and its lane
/// recording a death by any signal) churn through the pids, the test
/// restarts two services again and again (one dies at once on TERM, one
/// exits 0.1 s after it with a 1 s KILL delay still pending) and checks
/// every pid `cinit-ctl list` shows: no canary is ever hit, and a shown pid
/// is always the service's own process.
#[test]
fn b10_pid_reuse_never_hits_a_foreign_process() {
    let fx = Fixture::new();
    healthy(&fx);
    let hits = fx.mark("hits");
    let canary = fx.mark("canary.sh");
    fs::write(&canary, canary_script(&hits)).unwrap();
    fs::set_permissions(&canary, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    fx.service("churn").respawn().script(&format!(
        "lane() {{\n  while :; do\n    ( setsid '{c}'; s=$?; [ $s -gt 128 ] && echo \"lane status $s\" >> '{h}' )\n  done\n}}\n\
         for i in 1 2 3 4 5 6 7 8; do lane & done\nwait",
        c = canary.display(),
        h = hits.display()
    ));
    fx.service("t_fast")
        .respawn()
        .on_link("/bin/sleep")
        .params(&["1020"]);
    fx.service("t_slow")
        .respawn()
        .delay(1)
        .script("trap 'sleep 0.1; exit 0' TERM\nsleep 1021 </dev/null &\nwait");
    fx.service("init")
        .needs("healthy")
        .needs("churn")
        .needs("t_fast")
        .needs("t_slow");
    let wrapper = pid_max_wrapper(400);
    let w: Vec<&str> = wrapper.iter().map(String::as_str).collect();
    let mut c = boot_opts(&fx, &opts_with_wrapper(&fx, &w));
    let bystander = healthy_proc(&c);
    c.wait_state("running", "t_slow");
    let own = |svc: &str, argv: &[String]| -> bool {
        match svc {
            "t_fast" => argv.iter().any(|a| a == "1020"),
            "t_slow" => argv.iter().any(|a| a.contains("/t_slow/")),
            "churn" => argv.iter().any(|a| a.contains("/churn/")),
            "healthy" => argv.iter().any(|a| a == "1999"),
            _ => true,
        }
    };
    let t0 = Instant::now();
    let mut fast_pids = Vec::new();
    let mut restarts = 0;
    let mut checked = 0;
    while t0.elapsed() < Duration::from_secs(5) {
        let out = c.ctl(&["restart", "t_fast", "t_slow"]);
        c.check(out.code() == Some(0), &format!("restart:\n{}", out.dump()));
        restarts += 1;
        let list = c.ctl(&["list"]).stdout;
        for l in list.lines() {
            let cols: Vec<&str> = l.split_whitespace().collect();
            let (Some(name), Some(pid)) = (
                cols.first(),
                cols.get(2).and_then(|p| p.parse::<i32>().ok()),
            ) else {
                continue;
            };
            if *name == "t_fast" {
                fast_pids.push(pid);
            }
            let argv = ns_cmdline(&c, pid);
            checked += 1;
            if argv.is_empty() || own(name, &argv) {
                continue;
            }
            // Either the service's process just went and its pid was reused
            // (cinit must then have moved on), or cinit shows a foreign pid.
            let again = c.ctl(&["list"]).stdout;
            let still = again.lines().any(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                cols.first() == Some(name) && cols.get(2) == Some(&pid.to_string().as_str())
            });
            if still && !own(name, &ns_cmdline(&c, pid)) {
                c.fail(&format!(
                    "`list` shows pid {pid} for {name}, but that is {:?}",
                    ns_cmdline(&c, pid)
                ));
            }
        }
    }
    // Let every pending KILL deadline pass under churn.
    sleep(Duration::from_millis(1500));
    let wrapped = fast_pids.windows(2).filter(|w| w[1] < w[0]).count();
    let hit = fx.read_mark("hits");
    c.check_all(vec![
        (
            hit.is_empty(),
            format!("foreign processes were signalled:\n{hit}"),
        ),
        (
            restarts >= 5 && checked >= 10,
            format!("only {restarts} restarts and {checked} pids checked"),
        ),
        (
            wrapped >= 1,
            format!("pids never wrapped: t_fast had {fast_pids:?}"),
        ),
    ]);
    invariant(&mut c, bystander, "pid reuse");
}

// ---------------------------------------------------------------------------
// B11. A console nobody reads
// ---------------------------------------------------------------------------

/// B11 (blocked output: cinit's console is a FIFO nobody reads, and a
/// service floods it: the service has the `console` flag, so it writes to
/// the console itself rather than into its log). Proves PID 1 never blocks
/// on output: with the FIFO
/// full (the flooding `yes` blocked in its write) and a crash loop making
/// cinit log, `status` answers at once, PID 1 uses < 0.3 s CPU in 2 s, a
/// SIGKILLed service is reaped and respawned, and the flooder can be stopped.
#[test]
fn b11_full_console_never_blocks_pid1() {
    let fx = Fixture::new();
    healthy(&fx);
    fx.service("flood")
        .respawn()
        .on_link("/usr/bin/yes")
        .params(&["flood"])
        .file("console", "");
    fx.service("crashy").respawn().script("exit 1");
    fx.service("victim")
        .respawn()
        .on_link("/bin/sleep")
        .params(&["1013"]);
    fx.service("init")
        .needs("healthy")
        .needs("flood")
        .needs("crashy")
        .needs("victim");
    let fifo = fx.path().join("console.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let opts = LaunchOpts {
        ctl_dir: Some(fx.ctl_dir()),
        env: vec![(
            OsString::from("CINIT_CONSOLE"),
            fifo.clone().into_os_string(),
        )],
        ..LaunchOpts::default()
    };
    let mut c = Cinit::launch_with(&fx, &[], &[], &opts);
    c.wait_until("the control socket", TIMEOUT, |c| c.socket_path().exists());
    let bystander = healthy_proc(&c);
    let flood = c.wait_child_argv(&["/usr/bin/yes", "flood"], None);
    c.wait_until("the flooder to block on the full FIFO", TIMEOUT, |_| {
        fs::read_to_string(format!("/proc/{}/wchan", flood.pid))
            .is_ok_and(|w| w.contains("pipe_write"))
            || flood.state() == 'S'
    });
    let cpu = cpu_during(&c, Duration::from_secs(2));
    c.check(
        cpu < 0.3,
        &format!("PID 1 used {cpu:.2} s CPU in 2 s with a full console"),
    );
    let victim = c.wait_child_argv(&["/bin/sleep", "1013"], None);
    c.check(
        send_signal(victim.pid, libc::SIGKILL),
        "could not kill victim",
    );
    c.wait_child_argv(&["/bin/sleep", "1013"], Some(victim));
    let st = status(&c, "victim");
    c.check(
        st.state == "running" && st.restarts == 1,
        &format!("victim after kill -9 with a full console: {}", st.line),
    );
    let (out, took) = c.ctl_timed(&["stop", "flood"]);
    c.check(
        out.code() == Some(0) && took < Duration::from_secs(3),
        &format!("stop flood took {took:?}:\n{}", out.dump()),
    );
    c.check(!flood.is_alive(), "the flooder survived its stop");
    invariant(&mut c, bystander, "a console nobody reads");
}
