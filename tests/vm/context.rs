//! The execution context in the real system: httpd as the unprivileged
//! user `www` (its `user` file), syslogd with its `limits` file, the
//! kernel's descriptor limit for a service without one, and `cinit-ctl
//! signal` and `reload` reaching a service's process. What the kernel
//! applied is read where the kernel shows it (`/proc/PID/status`,
//! `/proc/PID/limits`), not from cinit.

use crate::harness::Vm;
use crate::{fetch_page, power_off};

/// The fields of `/proc/PID/status` line `key` (`Uid:` gives real,
/// effective, saved and filesystem uid).
fn status_fields(vm: &mut Vm, pid: u32, key: &str) -> Vec<String> {
    let reply = vm.run_ok(&format!("grep '^{key}:' /proc/{pid}/status"));
    match reply.lines[..] {
        [ref line] => line
            .split_whitespace()
            .skip(1)
            .map(str::to_string)
            .collect(),
        _ => vm.fail(&format!(
            "/proc/{pid}/status has no single {key} line: {:?}",
            reply.lines
        )),
    }
}

/// The soft and hard limit of `/proc/PID/limits` row `what` (`Max open
/// files`).
fn limit(vm: &mut Vm, pid: u32, what: &str) -> (String, String) {
    let reply = vm.run_ok(&format!("grep '^{what} ' /proc/{pid}/limits"));
    let fields: Vec<String> = match reply.lines[..] {
        [ref line] => line
            .strip_prefix(what)
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        _ => vm.fail(&format!(
            "/proc/{pid}/limits has no single {what:?} row: {:?}",
            reply.lines
        )),
    };
    match &fields[..] {
        [soft, hard, ..] => (soft.clone(), hard.clone()),
        _ => vm.fail(&format!("/proc/{pid}/limits: {what:?} row {fields:?}")),
    }
}

/// `cinit-ctl log NAME` once it holds `needle` (waiting up to 10 s in the
/// guest); fails the scenario if it never does.
pub(crate) fn log_with(vm: &mut Vm, name: &str, needle: &str) -> Vec<String> {
    let reply = vm.run(&format!(
        "for i in $(seq 100); do cinit-ctl log {name} | grep -q '{needle}' && break; \
         usleep 100000; done; cinit-ctl log {name}"
    ));
    if !reply.lines.iter().any(|l| l.contains(needle)) {
        vm.fail(&format!(
            "`cinit-ctl log {name}` never shows {needle:?}:\n{}",
            reply.text()
        ));
    }
    reply.lines
}

/// httpd's `user` file says `www`: the kernel shows uid 33 and gid 33 in
/// every slot (real, effective, saved, filesystem), the supplementary
/// groups are exactly www's from /etc/group (33, and `srv`, 50, which
/// lists www as a member), and its `no-new-privs` file is in force. As www
/// it still serves the page (its files are readable by others, its port
/// 8080 needs no privilege).
#[test]
#[ignore = "boots QEMU: run with make test-vm"]
fn httpd_runs_as_www() {
    let mut vm = Vm::boot("httpd_runs_as_www", "");
    vm.wait_ready("init");
    let pid = vm.pid("httpd");
    for key in ["Uid", "Gid"] {
        let ids = status_fields(&mut vm, pid, key);
        if ids != ["33", "33", "33", "33"] {
            vm.fail(&format!(
                "httpd ({pid}) has {key} {ids:?}, expected www's 33"
            ));
        }
    }
    let groups = status_fields(&mut vm, pid, "Groups");
    if groups != ["33", "50"] {
        vm.fail(&format!(
            "httpd ({pid}) has the supplementary groups {groups:?}, expected www's 33 and 50"
        ));
    }
    let nnp = status_fields(&mut vm, pid, "NoNewPrivs");
    if nnp != ["1"] {
        vm.fail(&format!("httpd ({pid}) has NoNewPrivs {nnp:?}, expected 1"));
    }
    fetch_page(&mut vm);
    power_off(&mut vm);
}

/// syslogd's `limits` file (`nofile 256:512`, `core 0`) is what the kernel
/// applied to it; crond, which has no `limits` file, has the kernel's boot
/// default of 1024 open files (4096 hard), while PID 1 itself runs with
/// its raised limit: a service does not inherit that.
#[test]
#[ignore = "boots QEMU: run with make test-vm"]
fn syslogd_limits_and_the_default_nofile() {
    let mut vm = Vm::boot("syslogd_limits_and_the_default_nofile", "");
    vm.wait_ready("init");
    let syslogd = vm.pid("syslogd");
    let nofile = limit(&mut vm, syslogd, "Max open files");
    if nofile != ("256".to_string(), "512".to_string()) {
        vm.fail(&format!(
            "syslogd's open files limit is {nofile:?}, expected 256/512 from its limits file"
        ));
    }
    let core = limit(&mut vm, syslogd, "Max core file size");
    if core != ("0".to_string(), "0".to_string()) {
        vm.fail(&format!(
            "syslogd's core size limit is {core:?}, expected 0/0 from its limits file"
        ));
    }
    let crond = vm.pid("crond");
    let nofile = limit(&mut vm, crond, "Max open files");
    if nofile != ("1024".to_string(), "4096".to_string()) {
        vm.fail(&format!(
            "crond (no limits file) has the open files limit {nofile:?}, expected the \
             kernel's 1024/4096"
        ));
    }
    let (own, _) = limit(&mut vm, 1, "Max open files");
    if own.parse::<u64>().unwrap_or(0) <= 4096 {
        vm.fail(&format!(
            "PID 1's open files limit is {own}: not raised, so crond's proves nothing"
        ));
    }
    vm.note(format!(
        "open files: PID 1 {own}, syslogd 256/512, crond 1024/4096"
    ));
    power_off(&mut vm);
}

/// `cinit-ctl signal vm/sig HUP` reaches the service's main process (a
/// shell that traps the signal and logs it) and `cinit-ctl reload vm/sig`
/// sends its `reload-signal`, SIGUSR1, not the default SIGHUP; the process
/// survives both (same pid). Once the service is stopped, both exit 1.
#[test]
#[ignore = "boots QEMU: run with make test-vm"]
fn signal_and_reload_reach_the_process() {
    let mut vm = Vm::boot("signal_and_reload_reach_the_process", "");
    vm.wait_ready("init");
    vm.run_ok("cinit-ctl start vm/sig");
    let pid = vm.pid("vm/sig");
    log_with(&mut vm, "vm/sig", "sig: waiting for signals");

    vm.run_ok("cinit-ctl signal vm/sig HUP");
    log_with(&mut vm, "vm/sig", "sig: got SIGHUP");

    vm.run_ok("cinit-ctl reload vm/sig");
    let log = log_with(&mut vm, "vm/sig", "sig: got SIGUSR1");
    let hups = log.iter().filter(|l| l.contains("sig: got SIGHUP")).count();
    if hups != 1 {
        vm.fail(&format!(
            "after one `signal HUP` and one reload, the log holds {hups} SIGHUPs:\n{}",
            log.join("\n")
        ));
    }
    let now = vm.pid("vm/sig");
    if now != pid {
        vm.fail(&format!("vm/sig changed pid from {pid} to {now}"));
    }

    vm.run_ok("cinit-ctl stop vm/sig");
    for cmd in ["cinit-ctl signal vm/sig HUP", "cinit-ctl reload vm/sig"] {
        let reply = vm.run(cmd);
        if reply.rc != 1 {
            vm.fail(&format!(
                "`{cmd}` on a stopped service exited {}, expected 1: {}",
                reply.rc,
                reply.text()
            ));
        }
    }
    power_off(&mut vm);
}
