//! The sample system's life: every service up at a cold boot, stop, start
//! and restart, reboot, poweroff and halt by signal and by command, rescue
//! mode, and hot updates.

use crate::harness::{Vm, STEP_TIMEOUT};
use crate::{entry, fetch_page, pids, power_off, ONCE, PAGE, RESPAWN, SKIPPED};

/// Cold boot: every service of the sample system reaches its state, httpd
/// serves the page, and `poweroff` powers off.
#[test]
#[ignore = "boots QEMU: run with make test-vm"]
fn boot() {
    let mut vm = Vm::boot("boot", "");
    let t = vm.wait_ready("init");
    vm.note(format!(
        "guest time: kernel start to cinit {:.3}s, cinit `booting as PID 1` to `done init` {:.3}s; \
         QEMU wall time to `done init` {:.2}s",
        t.kernel_s, t.cinit_s, t.wall_s
    ));
    if !vm.seen("cinit: root service init, 11 services") {
        vm.fail("no `root service init, 11 services` line");
    }
    let log = vm.log();
    if let Some(bad) = log
        .lines()
        .find(|l| l.contains("cinit: failed ") || l.contains("cinit: need-failed "))
    {
        vm.fail(&format!("a service failed at boot: {bad}"));
    }

    let services = vm.list();
    if services.len() != RESPAWN.len() + ONCE.len() + SKIPPED.len() {
        vm.fail(&format!("expected 11 services, got {services:?}"));
    }
    for &name in RESPAWN {
        let (state, pid) = entry(&mut vm, &services, name);
        if state != "running" || pid.is_none() {
            vm.fail(&format!(
                "{name}: {state} {pid:?}, expected running with a pid"
            ));
        }
    }
    for &name in ONCE {
        let (state, pid) = entry(&mut vm, &services, name);
        if state != "done" || pid.is_some() {
            vm.fail(&format!(
                "{name}: {state} {pid:?}, expected done without a pid"
            ));
        }
    }
    // No data disk, no `cinit.data` on the command line: `data` is
    // skipped, its condition the reason, and nothing of it ran.
    let (state, pid) = entry(&mut vm, &services, "data");
    if state != "skipped" || pid.is_some() {
        vm.fail(&format!("data: {state} {pid:?}, expected skipped"));
    }
    let status = vm.run_ok("cinit-ctl status data").text();
    if !status.starts_with("data: skipped, for ")
        || !status
            .trim_end()
            .ends_with(": condition: cmdline cinit.data")
    {
        vm.fail(&format!("`cinit-ctl status data`: {status}"));
    }
    if vm.seen("data: /dev/vda mounted")
        || !vm.seen("cinit: skipped data: condition: cmdline cinit.data")
    {
        vm.fail("data ran, or no `skipped data` line on the console");
    }
    // The pids are those of the programs the services name.
    for &(name, comm) in &[
        ("crond", "crond"),
        ("httpd", "httpd"),
        ("klogd", "klogd"),
        ("shell", "sh"),
        ("syslogd", "syslogd"),
    ] {
        let pid = entry(&mut vm, &services, name).1.unwrap_or_default();
        let reply = vm.run_ok(&format!("cat /proc/{pid}/comm"));
        if reply.lines != [comm] {
            vm.fail(&format!(
                "{name}: /proc/{pid}/comm is {:?}, expected {comm}",
                reply.lines
            ));
        }
    }

    fetch_page(&mut vm);
    power_off(&mut vm);
}

/// `cinit-ctl stop`, `start` and `restart` of httpd: the service really
/// stops (the page is gone) and comes back with a new pid each time.
#[test]
#[ignore = "boots QEMU: run with make test-vm"]
fn stop_start_restart_httpd() {
    let mut vm = Vm::boot("stop_start_restart_httpd", "");
    vm.wait_ready("init");
    let p1 = vm.pid("httpd");
    fetch_page(&mut vm);

    vm.run_ok("cinit-ctl stop httpd");
    let services = vm.list();
    let (state, pid) = entry(&mut vm, &services, "httpd");
    if state != "stopped" || pid.is_some() {
        vm.fail(&format!("httpd after stop: {state} {pid:?}"));
    }
    let reply = vm.run(&format!("test -e /proc/{p1}"));
    if reply.rc == 0 {
        vm.fail(&format!("httpd's process {p1} still exists after stop"));
    }
    let reply = vm.run("wget -qO- http://127.0.0.1:8080/");
    if reply.rc == 0 || reply.text().contains(PAGE) {
        vm.fail(&format!(
            "wget still works after `cinit-ctl stop httpd`:\n{}",
            reply.text()
        ));
    }
    if vm.run("cinit-ctl pid httpd").rc == 0 {
        vm.fail("`cinit-ctl pid httpd` succeeds while httpd is stopped");
    }

    vm.run_ok("cinit-ctl start httpd");
    let p2 = vm.pid("httpd");
    if p2 == p1 {
        vm.fail(&format!("httpd has its old pid {p1} after stop and start"));
    }
    let services = vm.list();
    if entry(&mut vm, &services, "httpd") != ("running".to_string(), Some(p2)) {
        vm.fail(&format!("httpd after start: {services:?}"));
    }
    fetch_page(&mut vm);

    vm.run_ok("cinit-ctl restart httpd");
    let p3 = vm.pid("httpd");
    if p3 == p2 {
        vm.fail(&format!("httpd kept its pid {p2} across a restart"));
    }
    let services = vm.list();
    if entry(&mut vm, &services, "httpd") != ("running".to_string(), Some(p3)) {
        vm.fail(&format!("httpd after restart: {services:?}"));
    }
    fetch_page(&mut vm);
    vm.note(format!(
        "httpd pids: {p1} -> stop, start {p2} -> restart {p3}"
    ));
    power_off(&mut vm);
}

/// The kernel's last line for each way the machine ends.
const KERNEL_ENDS: [&str; 3] = [
    "reboot: Restarting system",
    "reboot: Power down",
    "reboot: System halted",
];

/// Sends a signal to PID 1 from the console shell (`kill`), and checks the
/// orderly sequence of `goal`, the kernel's line `kernel` and none of the
/// other [`KERNEL_ENDS`]; QEMU then exits 0, except after a halt, when it
/// keeps running (the harness kills it).
fn shutdown_by_signal(name: &str, kill: &str, goal: &str, kernel: &str) {
    let mut vm = Vm::boot(name, "");
    vm.wait_ready("init");
    vm.send(kill);
    vm.expect_shutdown(goal);
    vm.expect(kernel, STEP_TIMEOUT);
    let halt = goal == "halt";
    if !halt {
        vm.expect_exit_ok();
    }
    if let Some(other) = KERNEL_ENDS
        .iter()
        .find(|&&end| end != kernel && vm.seen(end))
    {
        vm.fail(&format!("{goal}: the kernel also said {other:?}"));
    }
    if halt && !vm.running() {
        vm.fail("QEMU exited after a halt");
    }
}

/// One test per row: `name: command => goal, the kernel's last line`,
/// each run by [`shutdown_by_signal`].
macro_rules! shutdown_by_signal {
    ($($(#[$doc:meta])* $name:ident: $kill:literal => $goal:literal, $kernel:literal;)*) => {$(
        $(#[$doc])*
        #[test]
        #[ignore = "boots QEMU: run with make test-vm"]
        fn $name() {
            shutdown_by_signal(stringify!($name), $kill, $goal, $kernel);
        }
    )*};
}

shutdown_by_signal! {
    /// SIGHUP to PID 1 reboots, through the orderly sequence.
    sighup_reboots: "kill -HUP 1" => "reboot", "reboot: Restarting system";
    /// SIGTERM to PID 1 powers off, through the orderly sequence.
    sigterm_powers_off: "kill -TERM 1" => "poweroff", "reboot: Power down";
    /// SIGUSR1 to PID 1 halts: the orderly sequence, `reboot: System
    /// halted`, and QEMU keeps running.
    sigusr1_halts: "kill -USR1 1" => "halt", "reboot: System halted";
}

/// The shell's `poweroff` (cinit-ctl poweroff) powers off; cinit-ctl gets
/// its answer before the end.
#[test]
#[ignore = "boots QEMU: run with make test-vm"]
fn poweroff_command_powers_off() {
    let mut vm = Vm::boot("poweroff_command_powers_off", "");
    vm.wait_ready("init");
    power_off(&mut vm);
}

/// SIGUSR2 to PID 1: every service and process stopped, a rescue shell on
/// the console, from which `cinit-ctl reboot` reboots.
#[test]
#[ignore = "boots QEMU: run with make test-vm"]
fn rescue() {
    let mut vm = Vm::boot("rescue", "");
    vm.wait_ready("init");
    let shell = vm.pid("shell");
    vm.send("kill -USR2 1");
    vm.expect(
        "cinit: rescue: stopping every service and process",
        STEP_TIMEOUT,
    );
    vm.expect("cinit: rescue: starting the rescue shell", STEP_TIMEOUT);
    let at = vm.expect("cinit: rescue shell /bin/sh (pid ", STEP_TIMEOUT);
    vm.expect(") on the console", STEP_TIMEOUT);
    let line = vm.line_at(at);
    let rescue_pid: Option<u32> = line
        .split_once("(pid ")
        .and_then(|(_, rest)| rest.split_once(')'))
        .and_then(|(pid, _)| pid.parse().ok());
    let Some(rescue_pid) = rescue_pid else {
        vm.fail(&format!("cannot read the rescue shell's pid from {line:?}"));
    };
    // The rescue shell's prompt: a plain ash as root in `/`.
    vm.expect("/ # ", STEP_TIMEOUT);

    let services = vm.list();
    if services.len() != RESPAWN.len() + ONCE.len() + SKIPPED.len() {
        vm.fail(&format!("expected 11 services, got {services:?}"));
    }
    // A skipped service ran nothing: rescue leaves it `skipped`, as it
    // leaves a failed one `failed` (it stops what runs).
    if let Some((name, e)) = services.iter().find(|(name, (state, pid))| {
        let down = if SKIPPED.contains(&name.as_str()) {
            "skipped"
        } else {
            "stopped"
        };
        state != down || pid.is_some()
    }) {
        vm.fail(&format!(
            "in rescue mode {name} is {e:?}, not stopped (skipped: {SKIPPED:?})"
        ));
    }
    // Only PID 1, kernel threads, the rescue shell and `ps` itself are left.
    let ps = vm.run_ok("ps");
    let mut saw_rescue = false;
    for line in ps.lines.iter().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(pid), Some(command)) = (
            fields.first().and_then(|p| p.parse::<u32>().ok()),
            fields.get(2..).map(|c| c.join(" ")),
        ) else {
            vm.fail(&format!("unexpected `ps` line {line:?}"));
        };
        saw_rescue |= pid == rescue_pid;
        let allowed = pid == 1
            || pid == rescue_pid
            || command.starts_with('[')
            || command.starts_with("{ps}")
            || command == "ps";
        if !allowed {
            vm.fail(&format!("a process is left in rescue mode: {line}"));
        }
    }
    if !saw_rescue {
        vm.fail(&format!(
            "the rescue shell {rescue_pid} is not in `ps`:\n{}",
            ps.text()
        ));
    }
    let reply = vm.run(&format!("test -e /proc/{shell}"));
    if reply.rc == 0 {
        vm.fail(&format!(
            "the console shell {shell} still exists in rescue mode"
        ));
    }

    vm.send("cinit-ctl reboot");
    vm.expect_shutdown("reboot");
    vm.expect("reboot: Restarting system", STEP_TIMEOUT);
    vm.expect_exit_ok();
}

/// Hot update: SIGCONT re-executes cinit keeping every service; a new
/// binary put in place atomically takes over through `cinit-ctl update`;
/// the new image then owns the poweroff path.
#[test]
#[ignore = "boots QEMU: run with make test-vm"]
fn hot_update() {
    let mut vm = Vm::boot("hot_update", "");
    vm.wait_ready("init");
    let before = vm.list();
    let count = before.len();

    let mark = vm.mark();
    vm.run_ok("kill -CONT 1");
    let took = vm.expect_not(
        mark,
        "took over from cinit",
        "cinit: update failed",
        STEP_TIMEOUT,
    );
    let line = vm.line_at(took);
    if !line.ends_with(&format!("as PID 1: {count} services kept")) {
        vm.fail(&format!("unexpected take-over line: {line}"));
    }
    let after = vm.list();
    if after != before {
        vm.fail(&format!(
            "services changed across SIGCONT:\nbefore {before:?}\nafter  {after:?}"
        ));
    }

    vm.run_ok("cp /sbin/cinit.alt /sbin/cinit.new && mv /sbin/cinit.new /sbin/cinit");
    let mark = vm.mark();
    let reply = vm.run("cinit-ctl update");
    let text = reply.text();
    if reply.rc != 0 || !(text.contains("updated: cinit ") && text.contains("-alt) is running")) {
        vm.fail(&format!(
            "unexpected reply to `cinit-ctl update` (status {}): {text}",
            reply.rc
        ));
    }
    let took = vm.expect_not(
        mark,
        "took over from cinit",
        "cinit: update failed",
        STEP_TIMEOUT,
    );
    let line = vm.line_at(took);
    if !line.contains("-alt) took over") {
        vm.fail(&format!("the alt build did not take over: {line}"));
    }
    let version = vm.run_ok("cinit-ctl version");
    let server = version
        .lines
        .iter()
        .find(|l| l.starts_with("cinit "))
        .cloned()
        .unwrap_or_default();
    if !server.ends_with("-alt) (protocol 1)") {
        vm.fail(&format!(
            "`cinit-ctl version` does not show the alt build: {:?}",
            version.lines
        ));
    }
    let after = vm.list();
    if after != before {
        vm.fail(&format!(
            "services changed across the update:\nbefore {before:?}\nafter  {after:?}"
        ));
    }
    vm.note(format!(
        "after the update: {server}; pids kept: {:?}",
        pids(&after)
    ));
    power_off(&mut vm);
}
