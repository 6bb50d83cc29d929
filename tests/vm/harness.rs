//! What the sample system's suite adds to the shared serial console
//! ([`cinit_testkit::serial::Console`]): how QEMU boots it (the kernel and
//! initramfs of `make test-vm`, 256 MiB, `quiet` unless asked otherwise),
//! the timeouts, what "ready" means (the root service done and the console
//! shell's prompt shown: no login), the shutdown lines, `cinit-ctl list`
//! and `pid` parsed strictly, and where serial logs go
//! (`target/vm/logs/NAME.log`).
//!
//! [`Vm`] dereferences to the console, so a scenario calls `vm.expect`,
//! `vm.run_ok` or `vm.fail` on it directly.

use cinit_testkit::serial::{self, Console, Suite};
use std::collections::BTreeMap;
use std::ops::{Deref, DerefMut};
use std::path::PathBuf;
use std::time::Duration;

pub use serial::stamp;

/// Everything one scenario may take, boot to QEMU's exit. TCG on a busy
/// two-core machine is slow; a boot takes 2–10 s.
pub const SCENARIO_TIMEOUT: Duration = Duration::from_secs(90);

/// From QEMU's start to the root service being up and the shell prompt.
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(60);

/// One command, one shutdown sequence, one expected line.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// The `PS1` of the sample system's shell is `\h:\w# ` and it starts in
/// `/root` (`~`).
pub const PROMPT: &str = ":~# ";

/// The kernel and initramfs under test, from `make test-vm`. Panics
/// (fails the test) when they are not given or do not exist.
pub fn vm_files() -> (PathBuf, PathBuf) {
    let how = "the QEMU boot tests need CINIT_VM_KERNEL and CINIT_VM_INITRD; \
               run `make initramfs` and set them, or run `make test-vm`";
    (
        serial::file_from_env("CINIT_VM_KERNEL", how),
        serial::file_from_env("CINIT_VM_INITRD", how),
    )
}

fn suite() -> Suite {
    Suite {
        title: "cinit QEMU boot test",
        logs: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/vm/logs"),
        scenario: SCENARIO_TIMEOUT,
        step: STEP_TIMEOUT,
    }
}

/// `cinit-ctl list`: name → (state, pid).
pub type Services = BTreeMap<String, (String, Option<u32>)>;

/// Guest-side boot times, from cinit's `[ sssss.mmm]` stamps.
pub struct BootTimes {
    /// Kernel start to cinit's `booting as PID 1` line.
    pub kernel_s: f64,
    /// `booting as PID 1` to `done ROOT`.
    pub cinit_s: f64,
    /// QEMU start to seeing `done ROOT` on the host.
    pub wall_s: f64,
}

/// A QEMU running the sample system, killed on drop.
pub struct Vm {
    console: Console,
}

impl Deref for Vm {
    type Target = Console;
    fn deref(&self) -> &Console {
        &self.console
    }
}

impl DerefMut for Vm {
    fn deref_mut(&mut self) -> &mut Console {
        &mut self.console
    }
}

impl Vm {
    /// Boot the sample system; `extra` is appended to the kernel command
    /// line.
    pub fn boot(name: &str, extra: &str) -> Vm {
        Vm::boot_with(name, extra, &[])
    }

    /// [`Vm::boot`] with more QEMU arguments (a disk, say).
    pub fn boot_with(name: &str, extra: &str, qemu_args: &[String]) -> Vm {
        Vm::start(name, &format!("quiet {extra}"), qemu_args)
    }

    /// [`Vm::boot`] without `quiet`: the kernel's console loglevel stays
    /// 7, and the kernel prints every level-6 record on the console.
    pub fn boot_loud(name: &str, extra: &str) -> Vm {
        Vm::start(name, extra, &[])
    }

    fn start(name: &str, extra: &str, qemu_args: &[String]) -> Vm {
        let (kernel, initrd) = vm_files();
        let append = format!("console=ttyS0 panic=-1 {extra}")
            .trim_end()
            .to_string();
        let mut args = serial::base_args(256, &kernel, &initrd, &append);
        args.extend_from_slice(qemu_args);
        Vm {
            console: Console::start(name, suite(), &args),
        }
    }

    /// Wait for the root service `root` to be up (`cinit: done ROOT`)
    /// and for the console shell's prompt, so that typed input is read.
    pub fn wait_ready(&mut self, root: &str) -> BootTimes {
        let done = self.expect(&format!("cinit: done {root}\r\n"), BOOT_TIMEOUT);
        let wall_s = self.elapsed().as_secs_f64();
        self.expect_since(0, PROMPT, BOOT_TIMEOUT);
        let booting = self.expect_since(0, "booting as PID 1", STEP_TIMEOUT);
        let (Some(t0), Some(t1)) = (stamp(&self.line_at(booting)), stamp(&self.line_at(done)))
        else {
            self.fail("cannot read the stamps of `booting as PID 1` and `done ROOT`");
        };
        BootTimes {
            kernel_s: t0,
            cinit_s: t1 - t0,
            wall_s,
        }
    }

    /// `cinit-ctl list`, parsed.
    pub fn list(&mut self) -> Services {
        let reply = self.run_ok("cinit-ctl list");
        let mut services = Services::new();
        for line in &reply.lines {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let row = match fields[..] {
                [name, state] => Some((name, state, None)),
                [name, state, pid] => pid.parse().ok().map(|p| (name, state, Some(p))),
                _ => None,
            };
            let Some((name, state, pid)) = row else {
                self.fail(&format!("`cinit-ctl list`: unexpected line {line:?}"));
            };
            services.insert(name.to_string(), (state.to_string(), pid));
        }
        services
    }

    /// `cinit-ctl pid NAME`, which must succeed.
    pub fn pid(&mut self, name: &str) -> u32 {
        let reply = self.run_ok(&format!("cinit-ctl pid {name}"));
        match reply.lines[..] {
            [ref line] => match line.trim().parse() {
                Ok(pid) => pid,
                Err(_) => self.fail(&format!("`cinit-ctl pid {name}` printed {line:?}")),
            },
            _ => self.fail(&format!("`cinit-ctl pid {name}` printed {:?}", reply.lines)),
        }
    }

    /// Wait for QEMU to exit (after a poweroff or reboot), by the
    /// scenario's deadline; it must exit 0.
    pub fn expect_exit_ok(&mut self) {
        self.expect_exit(SCENARIO_TIMEOUT);
    }

    /// The orderly shutdown lines of `goal` (reboot, halt, poweroff), in
    /// order: services stopped, the global SIGTERM, the reboot(2) call.
    pub fn expect_shutdown(&mut self, goal: &str) {
        for step in [
            "stopping services",
            "services stopped in",
            "sending SIGTERM to every process",
            "now, after",
        ] {
            self.expect(&format!("cinit: {goal}: {step}"), STEP_TIMEOUT);
        }
    }
}
