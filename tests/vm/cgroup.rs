//! cgroup v2 containment in the real system (Debian's kernel, real
//! controllers): a `cgroup` file's limits in force (crond's `memory.max`
//! and `pids.max`; a service over its `memory.max` OOM-killed and the
//! reason saying so; a fork storm held at its `pids.max`), a daemon that
//! double-forks out of its process group gone after `stop`, and `status`
//! with the cgroup's memory, CPU time and tasks.
//!
//! The test services are `vm/hog`, `vm/storm`, `vm/escape` and `vm/mem`
//! (`rootfs-test/vm-svc/`), outside init's tree: each scenario starts its
//! own. A service's cgroup is found from its process (`/proc/PID/cgroup`,
//! below `/sys/fs/cgroup`), so the scenarios read the limits where the
//! kernel applies them, whatever cinit named the cgroup.

use crate::context::log_with;
use crate::harness::{Vm, STEP_TIMEOUT};
use crate::{fetch_page, power_off};
use std::time::Instant;

/// The cgroup v2 directory of process `pid`.
fn cgroup_of(vm: &mut Vm, pid: u32) -> String {
    let reply = vm.run_ok(&format!("cat /proc/{pid}/cgroup"));
    let path = match reply.lines[..] {
        [ref line] => line.strip_prefix("0::").map(str::to_string),
        _ => None,
    };
    match path {
        Some(p) if p != "/" => format!("/sys/fs/cgroup{p}"),
        _ => vm.fail(&format!(
            "process {pid} is in no cgroup of its own (cgroup v2 only): {:?}",
            reply.lines
        )),
    }
}

/// The one line of a cgroup interface file.
fn read_line(vm: &mut Vm, path: &str) -> String {
    let reply = vm.run_ok(&format!("cat {path}"));
    match reply.lines[..] {
        [ref line] => line.trim().to_string(),
        _ => vm.fail(&format!("{path} holds {:?}, not one line", reply.lines)),
    }
}

/// The number after `"key":` in a JSON text.
fn json_number(text: &str, key: &str) -> Option<u64> {
    let (_, rest) = text.split_once(&format!("\"{key}\":"))?;
    let digits: String = rest
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The pids of the processes whose command line holds `marker`, with
/// their parent, process group and session (`/proc/PID/stat` fields 4–6).
/// The pattern is written so that the `grep` looking does not match
/// itself.
fn marked(vm: &mut Vm, marker: &str) -> Vec<[u32; 4]> {
    let (head, tail) = marker.split_at(1);
    let reply = vm.run(&format!(
        "for f in $(grep -l '[{head}]{tail}' /proc/[0-9]*/cmdline 2>/dev/null); do \
         d=${{f%/cmdline}}; echo ${{d#/proc/}} $(cut -d' ' -f4-6 $d/stat 2>/dev/null); done"
    ));
    reply
        .lines
        .iter()
        .filter_map(|l| {
            let n: Vec<u32> = l
                .split_whitespace()
                .filter_map(|f| f.parse().ok())
                .collect();
            match n[..] {
                [pid, ppid, pgrp, sid] => Some([pid, ppid, pgrp, sid]),
                _ => None, // gone between the listing and the read
            }
        })
        .collect()
}

/// How many live processes have the command name `comm` (`/proc/PID/stat`
/// is `PID (COMM) STATE ...`; a zombie, `Z`, has exited and only waits for
/// its parent, PID 1 for orphans, to reap it).
fn count_comm(vm: &mut Vm, comm: &str) -> usize {
    let reply = vm.run(&format!(
        "cat /proc/[0-9]*/stat 2>/dev/null | grep -c '^[0-9]* ({comm}) [^Z]'"
    ));
    match reply.lines[..] {
        [ref n] => n.trim().parse().unwrap_or(usize::MAX),
        _ => vm.fail(&format!("cannot count {comm}: {:?}", reply.lines)),
    }
}

/// The sample system's crond has a `cgroup` file (`memory.max 32M`,
/// `pids.max 64`): the cgroup its process is in has exactly those limits,
/// in the kernel's units, and holds no process of another service.
#[test]
#[ignore = "boots QEMU: run with make test-vm"]
fn crond_runs_under_its_cgroup_limits() {
    let mut vm = Vm::boot("crond_runs_under_its_cgroup_limits", "");
    vm.wait_ready("init");
    let crond = vm.pid("crond");
    let cg = cgroup_of(&mut vm, crond);
    let memory = read_line(&mut vm, &format!("{cg}/memory.max"));
    let pids = read_line(&mut vm, &format!("{cg}/pids.max"));
    if memory != "33554432" || pids != "64" {
        vm.fail(&format!(
            "crond's cgroup {cg} has memory.max {memory} and pids.max {pids}, expected \
             33554432 (32M) and 64"
        ));
    }
    let procs = vm.run_ok(&format!("cat {cg}/cgroup.procs")).lines;
    if procs != [crond.to_string()] {
        vm.fail(&format!(
            "crond's cgroup {cg} holds {procs:?}, expected only crond ({crond})"
        ));
    }
    let httpd = vm.pid("httpd");
    let other = cgroup_of(&mut vm, httpd);
    if other == cg {
        vm.fail(&format!("httpd and crond share the cgroup {cg}"));
    }
    power_off(&mut vm);
}

/// vm/hog (busybox dd with a 64 MiB buffer, a once service) has `memory.max
/// 16M` in its `cgroup` file: the kernel's OOM killer kills it inside its
/// cgroup (the kernel log says `CONSTRAINT_MEMCG`: the cgroup's limit, not
/// the machine's memory), `cinit-ctl start` exits 1, the service is
/// `failed` and `status` gives the reason the issue asks for, `killed by
/// the OOM killer (memory.max 16M)`, not just SIGKILL. The rest of the
/// system is untouched: httpd still serves.
#[test]
#[ignore = "boots QEMU: run with make test-vm"]
fn a_service_over_its_memory_max_is_oom_killed() {
    let mut vm = Vm::boot("a_service_over_its_memory_max_is_oom_killed", "");
    vm.wait_ready("init");
    let start = vm.run("cinit-ctl start vm/hog");
    if start.rc != 1 {
        vm.fail(&format!(
            "`cinit-ctl start vm/hog` exited {}, expected 1 (failed): {}",
            start.rc,
            start.text()
        ));
    }
    let services = vm.list();
    let state = services.get("vm/hog").map(|(s, _)| s.clone());
    if state.as_deref() != Some("failed") {
        vm.fail(&format!("vm/hog is {state:?}, expected failed"));
    }
    let status = vm.run("cinit-ctl status vm/hog").text();
    vm.note(format!("cinit-ctl status vm/hog:\n{status}"));
    if !status.contains("killed by the OOM killer (memory.max 16M)") {
        vm.fail(&format!(
            "`cinit-ctl status vm/hog` lacks `killed by the OOM killer (memory.max 16M)`:\n\
             {status}"
        ));
    }
    let oom = vm.run("dmesg | grep -o 'oom-kill:.*'").text();
    if !oom.contains("constraint=CONSTRAINT_MEMCG") || !oom.contains("task=dd") {
        vm.fail(&format!(
            "the kernel log has no OOM kill of dd in its memory cgroup:\n{oom}"
        ));
    }
    fetch_page(&mut vm);
    power_off(&mut vm);
}

/// vm/storm (rootfs-test/vm-tools/forkstorm.c: forks children that wait,
/// as fast as it can, retrying when refused, up to 1000) has `pids.max 16`:
/// its cgroup reaches 16 tasks and no more (16 forkstorm processes in the
/// whole system, again a second later, the kernel counting refused forks
/// in `pids.events`), the machine stays responsive (the console shell and
/// `cinit-ctl list` answer while the storm goes on), and `stop` leaves
/// none of them.
#[test]
#[ignore = "boots QEMU: run with make test-vm"]
fn pids_max_stops_a_fork_storm() {
    let mut vm = Vm::boot("pids_max_stops_a_fork_storm", "");
    vm.wait_ready("init");
    vm.run_ok("cinit-ctl start vm/storm");
    let pid = vm.pid("vm/storm");
    let cg = cgroup_of(&mut vm, pid);
    let max = read_line(&mut vm, &format!("{cg}/pids.max"));
    if max != "16" {
        vm.fail(&format!(
            "vm/storm's cgroup {cg} has pids.max {max}, expected 16"
        ));
    }
    log_with(
        &mut vm,
        "vm/storm",
        "forkstorm: fork refused after 15 children",
    );
    for when in ["at the first refusal", "a second later"] {
        let n = count_comm(&mut vm, "forkstorm");
        let current = read_line(&mut vm, &format!("{cg}/pids.current"));
        if n != 16 || current != "16" {
            vm.fail(&format!(
                "{when}: {n} forkstorm processes, pids.current {current}; expected 16 (pids.max)"
            ));
        }
        vm.run_ok("sleep 1");
    }
    let events = read_line(&mut vm, &format!("{cg}/pids.events"));
    let refused: u64 = events
        .strip_prefix("max ")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    if refused == 0 {
        vm.fail(&format!("pids.events says no fork was refused: {events}"));
    }
    let asked = Instant::now();
    vm.run_ok("echo responsive");
    vm.run_ok("cinit-ctl list >/dev/null");
    let took = asked.elapsed();
    if took > STEP_TIMEOUT {
        vm.fail(&format!(
            "the console took {took:?} to answer during the storm"
        ));
    }
    vm.note(format!(
        "during the storm: {refused} forks refused, console and cinit-ctl answered in {took:?}"
    ));
    vm.run_ok("cinit-ctl stop vm/storm");
    let left = count_comm(&mut vm, "forkstorm");
    if left != 0 {
        vm.fail(&format!("{left} forkstorm processes left after stop"));
    }
    power_off(&mut vm);
}

/// vm/escape's `on` runs a child that calls setsid() and forks again: the
/// grandchild (its `$0` the marker `vm-escaped-daemon`) is reparented to
/// PID 1 in a session and process group of its own, out of reach of the
/// signals a stop sends the service's process group (the scenario checks
/// that it really escaped). After `cinit-ctl stop vm/escape` no process
/// with the marker is left, and the service is `stopped`.
#[test]
#[ignore = "boots QEMU: run with make test-vm"]
fn a_double_forked_daemon_is_gone_after_stop() {
    let mut vm = Vm::boot("a_double_forked_daemon_is_gone_after_stop", "");
    vm.wait_ready("init");
    vm.run_ok("cinit-ctl start vm/escape");
    let main = vm.pid("vm/escape");
    log_with(&mut vm, "vm/escape", "escape: the grandchild is out");
    let start = Instant::now();
    let escaped = loop {
        // The intermediate `sh` carries the marker too, until it exits.
        let found = marked(&mut vm, "vm-escaped-daemon");
        if let [one] = found[..] {
            if one[1] == 1 {
                break one;
            }
        }
        if start.elapsed() > STEP_TIMEOUT {
            vm.fail(&format!("no single escaped daemon: {found:?}"));
        }
    };
    let [pid, _, pgrp, sid] = escaped;
    if pgrp == main || sid == main {
        vm.fail(&format!(
            "the grandchild {pid} is still in the service's group or session ({main}): \
             pgrp {pgrp}, session {sid}"
        ));
    }
    vm.note(format!(
        "main {main}; escaped {pid}: parent 1, group {pgrp}, session {sid}"
    ));
    vm.run_ok("cinit-ctl stop vm/escape");
    let left = marked(&mut vm, "vm-escaped-daemon");
    if !left.is_empty() {
        vm.fail(&format!(
            "after stop the escaped daemon is still there (pid, parent, group, session): \
             {left:?}"
        ));
    }
    let services = vm.list();
    let entry = services.get("vm/escape").cloned();
    if entry != Some(("stopped".to_string(), None)) {
        vm.fail(&format!("vm/escape after stop: {entry:?}"));
    }
    power_off(&mut vm);
}

/// vm/mem (a shell holding 8 MiB in a variable, waiting in one `sleep`
/// child): `cinit-ctl status vm/mem` shows its memory and its tasks, and
/// `--json` has `memory_bytes` of at least the 8 MiB it holds (below 64
/// MiB), `tasks` 2 (the shell and its sleep, as the cgroup's
/// `cgroup.procs` lists them) and `cpu_usec` above 0 (making the 8 MiB
/// took CPU time).
#[test]
#[ignore = "boots QEMU: run with make test-vm"]
fn status_shows_memory_cpu_and_tasks() {
    let mut vm = Vm::boot("status_shows_memory_cpu_and_tasks", "");
    vm.wait_ready("init");
    vm.run_ok("cinit-ctl start vm/mem");
    log_with(&mut vm, "vm/mem", "mem: holding 8388608 bytes");
    let pid = vm.pid("vm/mem");
    let cg = cgroup_of(&mut vm, pid);
    let procs = vm.run_ok(&format!("cat {cg}/cgroup.procs")).lines;
    if procs.len() != 2 {
        vm.fail(&format!(
            "vm/mem's cgroup holds {procs:?}, expected 2 processes"
        ));
    }

    let text = vm.run_ok("cinit-ctl status vm/mem");
    vm.note(format!("cinit-ctl status vm/mem:\n{}", text.text()));
    let line_with = |word: &str| {
        text.lines
            .iter()
            .find(|l| l.to_lowercase().contains(word))
            .cloned()
    };
    let tasks_shown = line_with("tasks").is_some_and(|l| {
        l.split(|c: char| !c.is_ascii_alphanumeric())
            .any(|w| w == "2")
    });
    let memory_shown = line_with("memory").is_some_and(|l| l.chars().any(|c| c.is_ascii_digit()));
    if !tasks_shown || !memory_shown {
        vm.fail(&format!(
            "`cinit-ctl status vm/mem` does not show its memory and its 2 tasks:\n{}",
            text.text()
        ));
    }

    let json = vm.run_ok("cinit-ctl --json status vm/mem").text();
    vm.note(format!("cinit-ctl --json status vm/mem:\n{json}"));
    let memory = json_number(&json, "memory_bytes");
    let tasks = json_number(&json, "tasks");
    let cpu = json_number(&json, "cpu_usec");
    let fine = memory.is_some_and(|m| (8 << 20..64 << 20).contains(&m))
        && tasks == Some(2)
        && cpu.is_some_and(|c| c > 0);
    if !fine {
        vm.fail(&format!(
            "--json status: memory_bytes {memory:?} (expected 8 to 64 MiB), tasks {tasks:?} \
             (expected 2), cpu_usec {cpu:?} (expected > 0):\n{json}"
        ));
    }
    power_off(&mut vm);
}
