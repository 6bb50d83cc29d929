//! Service instances on the sample system: the template `getty@` (busybox
//! getty with a root shell on the terminal `/dev/INSTANCE`) started from
//! the console as `getty@tty2`, with nothing made on disk.

use crate::harness::Vm;
use crate::{entry, power_off};

/// `cinit-ctl start getty@tty2` from the console starts an instance of
/// the template `getty@`: `list` shows it running with a pid, `status`
/// names it, its process has `/dev/tty2` (the `%i` of its `.params`) as
/// its terminal and `TTY=tty2` (the `%i` of its `.env`) in its
/// environment, no directory `getty@tty2` was made, and a stop ends it.
#[test]
#[ignore = "boots QEMU: run with make test-vm"]
fn an_instance_started_from_the_console() {
    let mut vm = Vm::boot("an_instance_started_from_the_console", "");
    vm.wait_ready("init");
    vm.run_ok("cinit-ctl start getty@tty2");
    let services = vm.list();
    let (state, pid) = entry(&mut vm, &services, "getty@tty2");
    let Some(pid) = pid.filter(|_| state == "running") else {
        vm.fail(&format!(
            "getty@tty2: {state} {pid:?}, expected running with a pid"
        ));
    };
    if services.contains_key("getty@") {
        vm.fail("the template itself was started");
    }
    let status = vm.run_ok("cinit-ctl status getty@tty2").text();
    if !status.contains("getty@tty2") || !status.contains("running") {
        vm.fail(&format!("status of the instance:\n{status}"));
    }
    // getty opens the terminal as its stdin (then runs the shell there).
    let tty = vm.run_ok(&format!(
        "i=0; until [ \"$(readlink /proc/{pid}/fd/0)\" = /dev/tty2 ]; do \
         i=$((i+1)); [ $i -ge 100 ] && break; usleep 100000; done; readlink /proc/{pid}/fd/0"
    ));
    if tty.lines != ["/dev/tty2"] {
        vm.fail(&format!(
            "the instance's stdin is {:?}, not /dev/tty2",
            tty.lines
        ));
    }
    let env = vm.run_ok(&format!("tr '\\0' '\\n' < /proc/{pid}/environ"));
    if !env.lines.iter().any(|l| l == "TTY=tty2") {
        vm.fail(&format!("no TTY=tty2 in the environment: {:?}", env.lines));
    }
    if vm.run("test -e /etc/cinit/svc/getty@tty2").rc == 0 {
        vm.fail("a directory getty@tty2 was made");
    }
    vm.note(format!("getty@tty2 running as pid {pid}:\n{status}"));
    vm.run_ok("cinit-ctl stop getty@tty2");
    let services = vm.list();
    let (state, pid) = entry(&mut vm, &services, "getty@tty2");
    if state != "stopped" || pid.is_some() {
        vm.fail(&format!("getty@tty2 after stop: {state} {pid:?}"));
    }
    power_off(&mut vm);
}
