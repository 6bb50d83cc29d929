//! The serial-console harness of `tests/distro.rs`: one QEMU booting the
//! Debian example from its ext4 image, with two forwarded TCP ports (ssh and
//! http) and the console on QEMU's stdio.
//!
//! A thread reads the console into a buffer; the test waits for text with
//! deadlines ([`Vm::expect`]), types lines into the shell it logged into on
//! the getty and takes a command's output between two markers the shell
//! computes ([`Vm::run`]), so the echo of the typed line never matches. A
//! `Kernel panic` fails at once. Every failure kills QEMU, saves the whole
//! transcript to `target/distro/logs/NAME.log` and shows its tail; the log is
//! saved on success too.

use crate::host::{free_port, rtc_base};
use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

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

const PANIC: &str = "Kernel panic";
const TAIL_LINES: usize = 80;

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
    let get = |var: &str| {
        let Some(value) = std::env::var_os(var) else {
            panic!("{var} is not set: run the distribution test with `make test-distro`");
        };
        let path = PathBuf::from(value);
        assert!(
            path.is_file(),
            "{var}={} is not a file: run `make test-distro`",
            path.display()
        );
        path
    };
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

#[derive(Default)]
struct Shared {
    out: Mutex<(Vec<u8>, bool)>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, (Vec<u8>, bool)> {
        self.out.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Console text made readable: no carriage returns, no escape sequences
/// (bash's bracketed-paste switches, agetty's clear).
pub fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {}
            '\u{1b}' => {
                if chars.peek() == Some(&'[') {
                    chars.next();
                    for c in chars.by_ref() {
                        if ('\u{40}'..='\u{7e}').contains(&c) {
                            break;
                        }
                    }
                } else {
                    chars.next();
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// The seconds of a line stamped `[ sssss.mmm]` (cinit) or `[ ss.uuuuuu]`
/// (the kernel), wherever the stamp starts in the line.
pub fn stamp(line: &str) -> Option<f64> {
    let rest = line.trim_start().strip_prefix('[')?;
    let (secs, _) = rest.split_once(']')?;
    secs.trim().parse().ok()
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len().max(1))
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// A command's output (the stamped console lines of cinit and the kernel
/// left out) and exit status.
#[derive(Debug)]
pub struct Reply {
    pub lines: Vec<String>,
    pub rc: i32,
}

impl Reply {
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }
}

/// A QEMU running the Debian image; killed on drop.
pub struct Vm {
    name: String,
    pub image: PathBuf,
    pub key: PathBuf,
    pub ssh_port: u16,
    pub http_port: u16,
    cmdline: String,
    child: Child,
    stdin: Option<ChildStdin>,
    shared: Arc<Shared>,
    reader: Option<JoinHandle<()>>,
    pos: usize,
    started: Instant,
    deadline: Instant,
    commands: u32,
    exited: bool,
    failure: Option<String>,
    saved: bool,
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
        let args: Vec<String> = [
            "-accel",
            "tcg",
            "-m",
            "512",
            "-display",
            "none",
            "-no-reboot",
            "-serial",
            "stdio",
            "-monitor",
            "none",
            "-kernel",
            &f.kernel.to_string_lossy(),
            "-initrd",
            &f.initrd.to_string_lossy(),
            "-append",
            &append,
            "-drive",
            &drive,
            "-nic",
            &nic,
            "-rtc",
            &rtc_base(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let cmdline = format!("qemu-system-x86_64 {}", args.join(" "));
        let mut command = Command::new("qemu-system-x86_64");
        command
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        // SAFETY: prctl(2) is async-signal-safe. If the test process dies
        // without dropping the Vm, the kernel kills QEMU.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let started = Instant::now();
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: cannot start {cmdline}: {e}"));
        let shared = Arc::new(Shared::default());
        let mut stdout = child.stdout.take().expect("piped stdout");
        let from_thread = Arc::clone(&shared);
        let reader = std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            loop {
                let n = match stdout.read(&mut chunk) {
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Ok(0) | Err(_) => 0,
                    Ok(n) => n,
                };
                let mut out = from_thread.lock();
                if n == 0 {
                    out.1 = true;
                } else {
                    out.0.extend_from_slice(&chunk[..n]);
                }
                from_thread.changed.notify_all();
                if n == 0 {
                    return;
                }
            }
        });
        eprintln!("{name}: {cmdline}");
        Vm {
            name: name.to_string(),
            image,
            key: f.key,
            ssh_port,
            http_port,
            cmdline,
            stdin: child.stdin.take(),
            child,
            shared,
            reader: Some(reader),
            pos: 0,
            started,
            deadline: started + SCENARIO_TIMEOUT,
            commands: 0,
            exited: false,
            failure: None,
            saved: false,
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Where the next [`Vm::expect`] starts.
    pub fn mark(&self) -> usize {
        self.pos
    }

    /// The whole console so far, cleaned.
    pub fn log(&self) -> String {
        clean(&String::from_utf8_lossy(&self.shared.lock().0))
    }

    /// The console text from byte `from` on, cleaned.
    pub fn log_since(&self, from: usize) -> String {
        let out = self.shared.lock();
        clean(&String::from_utf8_lossy(
            out.0.get(from..).unwrap_or_default(),
        ))
    }

    fn raw(&self, from: usize, to: usize) -> String {
        let out = self.shared.lock();
        let to = to.min(out.0.len());
        String::from_utf8_lossy(out.0.get(from.min(to)..to).unwrap_or_default()).into_owned()
    }

    /// Wait for `needle` after the current position, within `timeout` and
    /// the scenario's deadline; move past it. Returns its byte range.
    pub fn expect(&mut self, needle: &str, timeout: Duration) -> (usize, usize) {
        self.expect_since(self.pos, needle, timeout)
    }

    /// [`Vm::expect`] searching from `from`.
    pub fn expect_since(&mut self, from: usize, needle: &str, timeout: Duration) -> (usize, usize) {
        let deadline = (Instant::now() + timeout).min(self.deadline);
        let shared = Arc::clone(&self.shared);
        let mut out = shared.lock();
        let problem = loop {
            if find(&out.0, PANIC.as_bytes(), 0).is_some() {
                break format!("`{PANIC}` on the console while waiting for {needle:?}");
            }
            if let Some(start) = find(&out.0, needle.as_bytes(), from) {
                let end = start + needle.len();
                self.pos = self.pos.max(end);
                return (start, end);
            }
            if out.1 {
                break format!("QEMU exited while waiting for {needle:?}");
            }
            let now = Instant::now();
            if now >= deadline {
                break format!("timed out after {timeout:?} waiting for {needle:?}");
            }
            out = shared
                .changed
                .wait_timeout(out, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        };
        drop(out);
        self.fail(&problem)
    }

    /// Type a line into the console.
    pub fn send(&mut self, line: &str) {
        let result = match self.stdin.as_mut() {
            Some(stdin) => stdin
                .write_all(format!("{line}\n").as_bytes())
                .and_then(|()| stdin.flush()),
            None => Err(std::io::Error::other("stdin closed")),
        };
        if let Err(e) = result {
            self.fail(&format!("cannot type {line:?} into QEMU: {e}"));
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

    /// Run `cmd` in the console shell; its output and status.
    pub fn run(&mut self, cmd: &str) -> Reply {
        self.run_within(cmd, STEP_TIMEOUT)
    }

    /// [`Vm::run`] with its own time limit.
    pub fn run_within(&mut self, cmd: &str, timeout: Duration) -> Reply {
        self.commands += 1;
        let n = self.commands;
        self.send(&format!(
            "echo R{n}B-$((6*7)); {cmd}; echo R{n}E-$((6*7)) rc=$?"
        ));
        let (_, begin) = self.expect(&format!("R{n}B-42"), timeout);
        let (end, after) = self.expect(&format!("R{n}E-42 rc="), timeout);
        let (eol, _) = self.expect("\n", STEP_TIMEOUT);
        let rc_text = clean(&self.raw(after, eol));
        let Ok(rc) = rc_text.trim().parse() else {
            self.fail(&format!("`{cmd}`: cannot read its status from {rc_text:?}"));
        };
        let lines = clean(&self.raw(begin, end))
            .lines()
            .filter(|l| stamp(l).is_none())
            .map(|l| l.trim_end().to_string())
            .filter(|l| !l.is_empty())
            .collect();
        Reply { lines, rc }
    }

    /// Run `cmd`, which must succeed.
    pub fn run_ok(&mut self, cmd: &str) -> Reply {
        let reply = self.run(cmd);
        if reply.rc != 0 {
            self.fail(&format!("`{cmd}` exited {}:\n{}", reply.rc, reply.text()));
        }
        reply
    }

    /// Wait for QEMU to exit on its own (after a poweroff or a reboot with
    /// -no-reboot); it must exit 0.
    pub fn expect_exit(&mut self, timeout: Duration) {
        let deadline = (Instant::now() + timeout).min(self.deadline);
        let shared = Arc::clone(&self.shared);
        let mut out = shared.lock();
        while !out.1 {
            let now = Instant::now();
            if now >= deadline {
                drop(out);
                self.fail("QEMU did not exit");
            }
            out = shared
                .changed
                .wait_timeout(out, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        drop(out);
        let status = match self.child.wait() {
            Ok(s) => s,
            Err(e) => self.fail(&format!("cannot wait for QEMU: {e}")),
        };
        self.exited = true;
        if self.log().contains(PANIC) {
            self.fail(&format!("`{PANIC}` on the console"));
        }
        if !status.success() {
            self.fail(&format!("QEMU exited with {status}"));
        }
    }

    /// Fail the scenario: kill QEMU, save the transcript, panic with its
    /// path and tail.
    pub fn fail(&mut self, msg: &str) -> ! {
        self.failure = Some(msg.to_string());
        let path = self.finish();
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n");
        panic!(
            "{}: {msg}\n(after {:.1}s; console transcript: {})\n--- last {TAIL_LINES} lines ---\n{tail}\n---",
            self.name,
            self.elapsed().as_secs_f64(),
            path.display()
        );
    }

    fn finish(&mut self) -> PathBuf {
        let path = work_dir().join("logs").join(format!("{}.log", self.name));
        if self.saved {
            return path;
        }
        self.saved = true;
        self.stdin = None;
        if !self.exited {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        let result = match (&self.failure, std::thread::panicking()) {
            (Some(msg), _) => format!("FAILED: {msg}"),
            (None, true) => "FAILED (the test panicked)".to_string(),
            (None, false) => "passed".to_string(),
        };
        let mut text = String::new();
        let _ = writeln!(text, "# cinit distribution test: {}", self.name);
        let _ = writeln!(text, "# command: {}", self.cmdline);
        let _ = writeln!(text, "# result: {result}");
        let _ = writeln!(text, "# wall time: {:.1}s", self.elapsed().as_secs_f64());
        text.push_str(&String::from_utf8_lossy(&self.shared.lock().0).replace('\r', ""));
        let saved = path
            .parent()
            .map_or(Ok(()), fs::create_dir_all)
            .and_then(|()| fs::write(&path, text));
        if let Err(e) = saved {
            eprintln!("{}: cannot save {}: {e}", self.name, path.display());
        }
        path
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        let path = self.finish();
        eprintln!("{}: console transcript in {}", self.name, path.display());
    }
}
