//! What the Debian server's suite adds to the shared serial console
//! ([`cinit_testkit::serial::Console`]): how QEMU boots it (a fresh copy of
//! the ext4 image as a virtio disk, two forwarded TCP ports for ssh and
//! http, the guest's clock late in a minute, no `quiet`), the timeouts,
//! what "up" means (`cinit: done init`), the login on the getty, and where
//! transcripts go (`target/distro/logs/NAME.log`). `host.rs` adds what the
//! host does with the guest: ssh, http, the image checked after QEMU exits.
//!
//! [`Vm`] dereferences to the console, so a scenario calls `vm.expect`,
//! `vm.run_ok` or `vm.fail` on it directly.

use crate::host::{free_port, rtc_base};
use cinit_testkit::serial::{self, Console, Suite};
use std::fs;
use std::ops::{Deref, DerefMut};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

pub use serial::stamp;

/// Everything one boot may take, QEMU's start to its exit: TCG on a busy
/// two-core machine, a cron minute to wait for, two host keys made.
pub const SCENARIO_TIMEOUT: Duration = Duration::from_secs(300);

/// QEMU's start to `cinit: done init` (ssh-keygen -A makes an RSA key
/// under TCG: 5–20 s).
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(120);

/// One command, one login, one shutdown.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(45);

/// The root shell's prompt: Debian's bash, `PS1` of /etc/bash.bashrc.
pub const PROMPT: &str = "root@cinit-debian:~# ";

/// The files under test, from `make test-distro`.
pub struct Files {
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    pub image: PathBuf,
    pub key: PathBuf,
}

/// The kernel, initramfs, root image and ssh key of `make test-distro`;
/// fails (never skips) when a variable or its file is missing.
pub fn files() -> Files {
    let get = |var| serial::file_from_env(var, "run the distribution test with `make test-distro`");
    Files {
        kernel: get("CINIT_DISTRO_KERNEL"),
        initrd: get("CINIT_DISTRO_INITRD"),
        image: get("CINIT_DISTRO_IMAGE"),
        key: get("CINIT_DISTRO_KEY"),
    }
}

fn work_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/distro")
}

fn suite() -> Suite {
    Suite {
        title: "cinit distribution test",
        logs: work_dir().join("logs"),
        scenario: SCENARIO_TIMEOUT,
        step: STEP_TIMEOUT,
    }
}

/// A QEMU running the Debian image; killed on drop.
pub struct Vm {
    console: Console,
    pub image: PathBuf,
    pub key: PathBuf,
    pub ssh_port: u16,
    pub http_port: u16,
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
    /// Boot a fresh copy of the image (so each scenario starts from the
    /// image as built, and leaves its own copy to check).
    pub fn boot(name: &str) -> Vm {
        Vm::boot_with(name, "")
    }

    /// [`Vm::boot`] with more words on the kernel command line.
    pub fn boot_with(name: &str, words: &str) -> Vm {
        let f = files();
        let dir = work_dir().join("vms");
        fs::create_dir_all(&dir).expect("create target/distro/vms");
        let image = dir.join(format!("{name}.img"));
        let copied = Command::new("cp")
            .arg("--sparse=always")
            .arg(&f.image)
            .arg(&image)
            .status()
            .expect("run cp");
        assert!(
            copied.success(),
            "cannot copy the image to {}",
            image.display()
        );
        Vm::boot_image(name, image, words)
    }

    /// Boot `image` as it is (the copy an earlier boot left: booting it
    /// again), with more words on the kernel command line.
    pub fn boot_image(name: &str, image: PathBuf, words: &str) -> Vm {
        let f = files();
        let ssh_port = free_port();
        let http_port = std::iter::repeat_with(free_port)
            .find(|&p| p != ssh_port)
            .expect("a second free port");
        let nic = format!(
            "user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:{ssh_port}-:22,\
             hostfwd=tcp:127.0.0.1:{http_port}-:80"
        );
        let drive = format!("file={},if=virtio,format=raw", image.display());
        // Without `quiet`: the kernel prints at its default loglevel, the
        // case in which cinit's lines once appeared twice.
        let append = format!("console=ttyS0 panic=-1 root=/dev/vda {words}")
            .trim_end()
            .to_string();
        let mut args = serial::base_args(512, &f.kernel, &f.initrd, &append);
        for (option, value) in [("-drive", drive), ("-nic", nic), ("-rtc", rtc_base())] {
            args.push(option.to_string());
            args.push(value);
        }
        Vm {
            console: Console::start(name, suite(), &args),
            image,
            key: f.key,
            ssh_port,
            http_port,
        }
    }

    /// Wait for `cinit: done init`, the whole system up.
    pub fn wait_up(&mut self) {
        self.expect_since(0, "cinit: done init", BOOT_TIMEOUT);
    }

    /// Log in on the getty as a person would: the login prompt, root, the
    /// password, the shell's prompt; then a wide terminal, so that bash does
    /// not wrap the typed lines.
    pub fn login(&mut self) {
        self.expect_since(0, "cinit-debian login: ", BOOT_TIMEOUT);
        // The prompt may have been printed before cinit's last boot lines:
        // a line typed now still reaches agetty, which reads the tty.
        self.send("root");
        self.expect("Password: ", STEP_TIMEOUT);
        self.send("cinit");
        self.expect(PROMPT, STEP_TIMEOUT);
        self.run_ok("stty cols 500 rows 50; bind 'set enable-bracketed-paste off'");
    }
}
