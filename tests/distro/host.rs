//! The host side of `tests/distro/`: ssh logins and HTTP requests through
//! QEMU's forwarded ports, the image's filesystem checked after QEMU exits,
//! and the QEMU settings that depend on the host (free ports, the guest's
//! clock).

use crate::harness::Vm;
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};

/// A port on 127.0.0.1 nothing listens on now (QEMU binds it a moment
/// later; another process taking it in between fails QEMU's start loudly).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

/// QEMU's `-rtc` option: the guest's clock starts 40 s into the current
/// minute, so that cron, started some 10 s into the boot, turns the minute
/// and runs a `* * * * *` job soon after instead of up to a minute later.
/// (A clock up to a minute off is harmless to everything else here; e2fsck
/// accepts superblock times up to a day in the future.)
pub fn rtc_base() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let start = now - now % 60 + 40;
    let formatted = Command::new("date")
        .args(["-u", "-d", &format!("@{start}"), "+%Y-%m-%dT%H:%M:%S"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    match formatted {
        Some(t) => format!("base={t}"),
        None => "base=utc".to_string(),
    }
}

/// Run a host tool; whether it succeeded, and its output and errors.
fn run_host(cmd: &mut Command) -> (bool, String) {
    match cmd.output() {
        Ok(out) => (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        ),
        Err(e) => (false, format!("cannot run {cmd:?}: {e}")),
    }
}

impl Vm {
    /// The ssh command line to the guest, for `cmd`.
    pub fn ssh_command(&self, cmd: &str) -> Command {
        let mut c = Command::new("ssh");
        c.arg("-i")
            .arg(&self.key)
            .arg("-p")
            .arg(self.ssh_port.to_string())
            .args([
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "LogLevel=ERROR",
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=20",
                "root@127.0.0.1",
                cmd,
            ])
            .stdin(Stdio::null());
        c
    }

    /// Run `cmd` over ssh from the host.
    pub fn ssh(&mut self, cmd: &str) -> Output {
        match self.ssh_command(cmd).output() {
            Ok(out) => out,
            Err(e) => self.fail(&format!("cannot run ssh: {e}")),
        }
    }

    /// Run `cmd` over ssh; it must succeed. Its standard output.
    pub fn ssh_ok(&mut self, cmd: &str) -> String {
        let out = self.ssh(cmd);
        if !out.status.success() {
            self.fail(&format!(
                "ssh `{cmd}`: {}\nstdout: {}\nstderr: {}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// GET / from nginx through the forwarded port, once: the status line
    /// and body, or why not.
    pub fn http_get(&self) -> Result<String, String> {
        let out = Command::new("curl")
            .args(["-sS", "-m", "10", "-i"])
            .arg(format!("http://127.0.0.1:{}/", self.http_port))
            .output()
            .map_err(|e| format!("cannot run curl: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "curl {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// After QEMU's exit: the image's ext4 filesystem must be clean
    /// (`dumpe2fs -h` says so and shows no journal waiting for recovery,
    /// and a forced read-only `e2fsck -fn` finds nothing).
    pub fn expect_clean_image(&mut self) {
        let image = self.image.clone();
        let dump = run_host(Command::new("dumpe2fs").arg("-h").arg(&image));
        let state = dump
            .1
            .lines()
            .find(|l| l.starts_with("Filesystem state:"))
            .map(|l| l.trim_start_matches("Filesystem state:").trim().to_string());
        if state.as_deref() != Some("clean") {
            self.fail(&format!(
                "dumpe2fs -h {}: state {state:?}, not clean:\n{}",
                image.display(),
                dump.1
            ));
        }
        // An ext4 that was not unmounted or remounted read-only keeps the
        // state `clean` (that field records errors) but has its journal
        // marked for recovery: the real sign of an unclean shutdown.
        if dump
            .1
            .lines()
            .any(|l| l.starts_with("Filesystem features:") && l.contains("needs_recovery"))
        {
            self.fail(&format!(
                "dumpe2fs -h {}: the journal needs recovery (not unmounted cleanly):\n{}",
                image.display(),
                dump.1
            ));
        }
        let (ok, text) = run_host(Command::new("e2fsck").arg("-fn").arg(&image));
        if !ok {
            self.fail(&format!(
                "e2fsck -fn {} found problems:\n{text}",
                image.display()
            ));
        }
    }
}
