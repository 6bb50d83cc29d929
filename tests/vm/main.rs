//! The QEMU boot suite: the sample system (`services/`, `rootfs-test/`) as
//! the initramfs of a real Debian kernel under QEMU (TCG), with the real
//! cinit as PID 1, driven over the serial console.
//!
//! Run with `make test-vm`, which builds the initramfs and sets
//! `CINIT_VM_KERNEL` and `CINIT_VM_INITRD`. Every test is `#[ignore]`d so
//! that a plain `cargo test` skips them; run with `--ignored` they fail
//! (never skip) when those variables or files are missing.
//!
//! Each scenario is one boot (one QEMU). The serial console is driven by
//! the console shared with `tests/distro/`
//! ([`cinit_testkit::serial::Console`]), which reads it into a buffer from
//! a thread; the test waits for text with deadlines (`vm.expect`), types
//! lines into the root shell of the sample system and captures command
//! output between computed markers (`vm.run`). A `Kernel panic` line (PID 1
//! died) fails the scenario at once. The whole serial log is saved to
//! `target/vm/logs/<scenario>.log`, on success too; a failure message names
//! that file and shows its tail. [`harness`] holds what is particular to
//! this suite (QEMU's arguments, the timeouts, what "ready" means); the
//! scenarios are in [`lifecycle`], [`system`], [`kmsg`], [`context`],
//! [`cgroup`] and [`instances`].
//!
//! With `-no-reboot` QEMU exits 0 on poweroff and on reboot alike: the
//! outcome is read from the kernel's `reboot: Power down` / `reboot:
//! Restarting system` lines. Halt prints `reboot: System halted` and QEMU
//! keeps running; the harness kills it.

#![cfg(test)]

mod cgroup;
mod context;
mod harness;
mod instances;
mod kmsg;
mod lifecycle;
mod system;

use harness::{Services, Vm, STEP_TIMEOUT};

/// The sample system's services that keep running.
const RESPAWN: &[&str] = &["crond", "httpd", "klogd", "shell", "syslogd"];

/// The sample system's services that run once (or have nothing to run).
const ONCE: &[&str] = &["banner", "hostname", "init", "loopback", "mounts"];

/// The sample system's services whose condition does not hold in a boot
/// without a data disk (no `cinit.data` on the kernel command line).
const SKIPPED: &[&str] = &["data"];

/// The page httpd serves (as user www, on 127.0.0.1:8080: www may not
/// bind port 80).
const PAGE: &str = "Hello from cinit";

/// Fetch the page from httpd, trying for up to 10 s inside the guest: a
/// respawn service is `running` once spawned, which can be before it
/// listens.
fn fetch_page(vm: &mut Vm) -> String {
    let reply = vm.run(
        "i=0; until wget -qO- http://127.0.0.1:8080/; do i=$((i+1)); \
         [ $i -ge 100 ] && break; usleep 100000; done",
    );
    let text = reply.text();
    if reply.rc != 0 || !text.contains(PAGE) {
        vm.fail(&format!(
            "httpd does not serve the page (status {}):\n{text}",
            reply.rc
        ));
    }
    text
}

/// The pids of the running services.
fn pids(services: &Services) -> Vec<(String, u32)> {
    services
        .iter()
        .filter_map(|(name, (_, pid))| pid.map(|p| (name.clone(), p)))
        .collect()
}

/// The state and pid of `name` in a list.
fn entry(vm: &mut Vm, services: &Services, name: &str) -> (String, Option<u32>) {
    match services.get(name) {
        Some(e) => e.clone(),
        None => vm.fail(&format!("{name} is not in `cinit-ctl list`: {services:?}")),
    }
}

/// Power off with the shell's `poweroff` (cinit-ctl poweroff) and check
/// the whole way down: the orderly sequence, the kernel's power-off line,
/// QEMU's exit status 0.
fn power_off(vm: &mut Vm) {
    let mark = vm.mark();
    vm.send("poweroff");
    vm.expect_shutdown("poweroff");
    vm.expect("reboot: Power down", STEP_TIMEOUT);
    vm.expect_since(mark, "poweroff: shutting down", STEP_TIMEOUT);
    vm.expect_exit_ok();
    if vm.seen("reboot: Restarting system") {
        vm.fail("a poweroff restarted the machine");
    }
    let wall = vm.elapsed().as_secs_f64();
    vm.note(format!("QEMU wall time, start to exit: {wall:.2}s"));
}
