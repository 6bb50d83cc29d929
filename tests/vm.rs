#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]
//! The QEMU boot suite: the sample system (`services/`, `rootfs-test/`) as
//! the initramfs of a real Debian kernel under QEMU (TCG), with the real
//! cinit as PID 1, driven over the serial console.
//!
//! Run with `make test-vm`, which builds the initramfs and sets
//! `CINIT_VM_KERNEL` and `CINIT_VM_INITRD`. Every test is `#[ignore]`d so
//! that a plain `cargo test` skips them; run with `--ignored` they fail
//! (never skip) when those variables or files are missing.
//!
//! Each scenario is one boot (one QEMU). The harness ([`harness::Vm`])
//! reads the serial console into a buffer from a thread; the test waits for
//! text with deadlines ([`harness::Vm::expect`]), types lines into the root
//! shell of the sample system and captures command output between computed
//! markers ([`harness::Vm::run`]). A `Kernel panic` line (PID 1 died) fails
//! the scenario at once. The whole serial log is saved to
//! `target/vm/logs/<scenario>.log`, on success too; a failure message names
//! that file and shows its tail.
//!
//! With `-no-reboot` QEMU exits 0 on poweroff and on reboot alike: the
//! outcome is read from the kernel's `reboot: Power down` / `reboot:
//! Restarting system` lines. Halt prints `reboot: System halted` and QEMU
//! keeps running; the harness kills it.

#[path = "common/chart.rs"]
mod chart;

mod harness {
    use std::collections::BTreeMap;
    use std::fmt::Write as _;
    use std::fs;
    use std::io::{Read, Write};
    use std::os::unix::process::CommandExt;
    use std::path::PathBuf;
    use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
    use std::sync::{Arc, Condvar, Mutex, MutexGuard};
    use std::thread::JoinHandle;
    use std::time::{Duration, Instant};

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

    /// The kernel prints this when PID 1 dies: always a failure.
    const PANIC: &str = "Kernel panic";

    /// Lines of the serial log shown in a failure message.
    const TAIL_LINES: usize = 60;

    /// The kernel and initramfs under test, from `make test-vm`. Panics
    /// (fails the test) when they are not given or do not exist.
    pub fn vm_files() -> (PathBuf, PathBuf) {
        let get = |var: &str| {
            let Some(value) = std::env::var_os(var) else {
                panic!(
                    "{var} is not set: the QEMU boot tests need CINIT_VM_KERNEL and \
                     CINIT_VM_INITRD; run them with `make test-vm`"
                );
            };
            let path = PathBuf::from(value);
            assert!(
                path.is_file(),
                "{var}={} does not exist or is not a file: run `make initramfs` (or `make test-vm`)",
                path.display()
            );
            path
        };
        (get("CINIT_VM_KERNEL"), get("CINIT_VM_INITRD"))
    }

    /// Where serial logs go.
    fn log_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/vm/logs")
    }

    #[derive(Default)]
    struct Output {
        serial: Vec<u8>,
        stderr: Vec<u8>,
        serial_eof: bool,
    }

    #[derive(Default)]
    struct Shared {
        out: Mutex<Output>,
        changed: Condvar,
    }

    impl Shared {
        fn lock(&self) -> MutexGuard<'_, Output> {
            self.out.lock().unwrap_or_else(|e| e.into_inner())
        }
    }

    /// A byte range of the serial log.
    #[derive(Clone, Copy, Debug)]
    pub struct Span {
        pub start: usize,
        pub end: usize,
    }

    /// The output of a command typed into a shell: its lines (cleaned of
    /// carriage returns, escape sequences, and cinit's and the kernel's
    /// console lines) and its exit status.
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
        name: String,
        cmdline: String,
        child: Child,
        stdin: Option<ChildStdin>,
        shared: Arc<Shared>,
        readers: Vec<JoinHandle<()>>,
        /// Where the next [`Vm::expect`] starts searching.
        pos: usize,
        started: Instant,
        deadline: Instant,
        commands: u32,
        exit: Option<ExitStatus>,
        notes: Vec<String>,
        failure: Option<String>,
        finished: bool,
    }

    fn reader(
        mut from: impl Read + Send + 'static,
        shared: Arc<Shared>,
        serial: bool,
    ) -> JoinHandle<()> {
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            loop {
                let n = match from.read(&mut chunk) {
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Ok(0) | Err(_) => 0,
                    Ok(n) => n,
                };
                let mut out = shared.lock();
                if n == 0 {
                    if serial {
                        out.serial_eof = true;
                    }
                    shared.changed.notify_all();
                    return;
                }
                let data = &chunk[..n];
                if serial {
                    out.serial.extend_from_slice(data);
                } else {
                    out.stderr.extend_from_slice(data);
                }
                shared.changed.notify_all();
            }
        })
    }

    fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
        if needle.is_empty() {
            return Some(from);
        }
        hay.get(from..)?
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|i| i + from)
    }

    /// Serial text made readable: no carriage returns, no escape sequences
    /// (the shell's `ESC[6n` cursor query follows every prompt).
    pub fn clean(text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\r' => {}
                '\u{1b}' => {
                    if chars.peek() == Some(&'[') {
                        chars.next();
                        // Parameters and intermediates, then one final byte.
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

    /// The seconds of a console line stamped `[ sssss.mmm] ...` (cinit) or
    /// `[   ss.uuuuuu] ...` (the kernel).
    pub fn stamp(line: &str) -> Option<f64> {
        let rest = line.trim_start().strip_prefix('[')?;
        let (secs, _) = rest.split_once(']')?;
        secs.trim().parse().ok()
    }

    /// A line written by cinit's or the kernel's console logging, not by a
    /// command.
    pub fn is_console_log(line: &str) -> bool {
        stamp(line).is_some()
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
            let args: Vec<String> = [
                "-accel",
                "tcg",
                "-m",
                "256",
                "-display",
                "none",
                "-no-reboot",
                "-serial",
                "stdio",
                "-monitor",
                "none",
                "-kernel",
                &kernel.to_string_lossy(),
                "-initrd",
                &initrd.to_string_lossy(),
                "-append",
                &append,
            ]
            .iter()
            .map(|s| s.to_string())
            .chain(qemu_args.iter().cloned())
            .collect();
            let cmdline = format!("qemu-system-x86_64 {}", args.join(" "));
            let started = Instant::now();
            let mut command = Command::new("qemu-system-x86_64");
            command
                .args(&args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            // SAFETY: prctl(2) is async-signal-safe and touches no memory of
            // the parent. If the test thread dies without dropping the Vm
            // (the test binary killed by a CI timeout), the kernel kills
            // QEMU: a halted guest would otherwise run forever.
            unsafe {
                command.pre_exec(|| {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            let mut child = command
                .spawn()
                .unwrap_or_else(|e| panic!("{name}: cannot start {cmdline}: {e}"));
            let shared = Arc::new(Shared::default());
            let stdout = child.stdout.take().expect("piped stdout");
            let stderr = child.stderr.take().expect("piped stderr");
            let readers = vec![
                reader(stdout, Arc::clone(&shared), true),
                reader(stderr, Arc::clone(&shared), false),
            ];
            Vm {
                name: name.to_string(),
                cmdline,
                stdin: child.stdin.take(),
                child,
                shared,
                readers,
                pos: 0,
                started,
                deadline: started + SCENARIO_TIMEOUT,
                commands: 0,
                exit: None,
                notes: Vec::new(),
                failure: None,
                finished: false,
            }
        }

        /// A line for the log header (and stderr: `--nocapture` shows it).
        pub fn note(&mut self, text: String) {
            eprintln!("{}: {text}", self.name);
            self.notes.push(text);
        }

        pub fn elapsed(&self) -> Duration {
            self.started.elapsed()
        }

        /// The current search position (for [`Vm::expect_since`]).
        pub fn mark(&self) -> usize {
            self.pos
        }

        /// The serial text of a byte range.
        pub fn text(&self, from: usize, to: usize) -> String {
            let out = self.shared.lock();
            let to = to.min(out.serial.len());
            String::from_utf8_lossy(out.serial.get(from.min(to)..to).unwrap_or_default())
                .into_owned()
        }

        /// The whole serial log so far, cleaned.
        pub fn log(&self) -> String {
            clean(&String::from_utf8_lossy(&self.shared.lock().serial))
        }

        /// The (cleaned) line of the serial log holding `span`, up to `end`
        /// or the next newline. When a console stamp (`[ sssss.mmm]`)
        /// precedes the match, the line starts there: a prompt printed on
        /// the same line is left out.
        fn line_upto(&self, span: Span, end: Option<usize>) -> String {
            let (line, needle) = {
                let out = self.shared.lock();
                let s = &out.serial;
                let start = s[..span.start]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |i| i + 1);
                let end = end.unwrap_or_else(|| find(s, b"\n", span.start).unwrap_or(s.len()));
                let text = |a: usize, b: usize| clean(&String::from_utf8_lossy(&s[a..b]));
                (text(start, end), text(span.start, span.end))
            };
            let at = line.find(needle.trim_end()).unwrap_or(line.len());
            let from = line[..at]
                .rmatch_indices('[')
                .map(|(i, _)| i)
                .find(|&i| stamp(&line[i..]).is_some())
                .unwrap_or(0);
            line[from..].to_string()
        }

        /// The line holding `span` as far as it has arrived.
        pub fn line_of(&self, span: Span) -> String {
            self.line_upto(span, None)
        }

        /// The line holding `span`, once it is complete.
        pub fn line_at(&mut self, span: Span) -> String {
            // From the start: the needle may end with the newline itself.
            let eol = self.expect_since(span.start, "\n", STEP_TIMEOUT);
            self.line_upto(span, Some(eol.start))
        }

        /// Wait until `needle` appears after the current position, within
        /// `timeout` (and the scenario's deadline); move past it.
        pub fn expect(&mut self, needle: &str, timeout: Duration) -> Span {
            let from = self.pos;
            self.expect_since(from, needle, timeout)
        }

        /// Like [`Vm::expect`], but searching from `from`, for output that
        /// may come before or after other awaited output (the position only
        /// moves forward).
        pub fn expect_since(&mut self, from: usize, needle: &str, timeout: Duration) -> Span {
            let deadline = (Instant::now() + timeout).min(self.deadline);
            let shared = Arc::clone(&self.shared);
            let mut out = shared.lock();
            let problem = loop {
                if let Some(at) = find(&out.serial, PANIC.as_bytes(), 0) {
                    break format!("`{PANIC}` on the console (byte {at}) while waiting for {needle:?}: PID 1 died");
                }
                if let Some(start) = find(&out.serial, needle.as_bytes(), from) {
                    let end = start + needle.len();
                    self.pos = self.pos.max(end);
                    return Span { start, end };
                }
                if out.serial_eof {
                    break format!("QEMU exited while waiting for {needle:?}");
                }
                let now = Instant::now();
                if now >= deadline {
                    let which = if deadline == self.deadline {
                        format!("the scenario deadline ({SCENARIO_TIMEOUT:?})")
                    } else {
                        format!("{timeout:?}")
                    };
                    break format!("timed out after {which} waiting for {needle:?}");
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

        /// Wait for `good` after `from`; fail at once, with that line, if
        /// `bad` comes first (say, an error line that makes waiting for the
        /// good one pointless).
        pub fn expect_not(
            &mut self,
            from: usize,
            good: &str,
            bad: &str,
            timeout: Duration,
        ) -> Span {
            let deadline = (Instant::now() + timeout).min(self.deadline);
            let first = {
                let shared = Arc::clone(&self.shared);
                let mut out = shared.lock();
                loop {
                    let g = find(&out.serial, good.as_bytes(), from);
                    let b = find(&out.serial, bad.as_bytes(), from);
                    if g.is_some() || b.is_some() || out.serial_eof || Instant::now() >= deadline {
                        break b.filter(|&b| g.is_none_or(|g| b < g));
                    }
                    let left = deadline.saturating_duration_since(Instant::now());
                    out = shared
                        .changed
                        .wait_timeout(out, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            };
            if let Some(at) = first {
                let line = self.line_of(Span {
                    start: at,
                    end: at + bad.len(),
                });
                self.fail(&format!("expected {good:?}, got: {line}"));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            self.expect_since(from, good, left)
        }

        /// Whether `needle` appears anywhere in the serial log so far.
        pub fn seen(&self, needle: &str) -> bool {
            find(&self.shared.lock().serial, needle.as_bytes(), 0).is_some()
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

        /// Run `cmd` in the console shell; return its output and status.
        /// The output is taken between two markers the shell computes
        /// (`$((6*7))`), so the echo of the typed line never matches.
        pub fn run(&mut self, cmd: &str) -> Reply {
            self.commands += 1;
            let n = self.commands;
            self.send(&format!(
                "echo R{n}B-$((6*7)); {cmd}; echo R{n}E-$((6*7)) rc=$?"
            ));
            let begin = self.expect(&format!("R{n}B-42"), STEP_TIMEOUT);
            let end = self.expect(&format!("R{n}E-42 rc="), STEP_TIMEOUT);
            let eol = self.expect("\n", STEP_TIMEOUT);
            let rc_text = clean(&self.text(end.end, eol.start));
            let Ok(rc) = rc_text.trim().parse() else {
                self.fail(&format!("`{cmd}`: cannot read its status from {rc_text:?}"));
            };
            let lines = clean(&self.text(begin.end, end.start))
                .lines()
                .filter(|l| !is_console_log(l))
                .map(|l| l.trim_end().to_string())
                .filter(|l| !l.is_empty())
                .collect();
            Reply { lines, rc }
        }

        /// Run `cmd`, which must succeed.
        pub fn run_ok(&mut self, cmd: &str) -> Reply {
            let reply = self.run(cmd);
            if reply.rc != 0 {
                self.fail(&format!(
                    "`{cmd}` exited {}; output:\n{}",
                    reply.rc,
                    reply.text()
                ));
            }
            reply
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

        /// Wait for QEMU to exit (after a poweroff or reboot); it must exit 0.
        pub fn expect_exit_ok(&mut self) {
            let shared = Arc::clone(&self.shared);
            let mut out = shared.lock();
            while !out.serial_eof {
                let now = Instant::now();
                if now >= self.deadline {
                    drop(out);
                    self.fail("QEMU did not exit");
                }
                out = shared
                    .changed
                    .wait_timeout(out, self.deadline - now)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            drop(out);
            let status = match self.child.wait() {
                Ok(status) => status,
                Err(e) => self.fail(&format!("cannot wait for QEMU: {e}")),
            };
            self.exit = Some(status);
            if self.seen(PANIC) {
                self.fail(&format!("`{PANIC}` on the console: PID 1 died"));
            }
            if !status.success() {
                self.fail(&format!("QEMU exited with {status}"));
            }
        }

        /// Whether QEMU is still running.
        pub fn running(&mut self) -> bool {
            matches!(self.child.try_wait(), Ok(None))
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

        /// Fail the scenario: kill QEMU, save the log, panic with its path
        /// and tail.
        pub fn fail(&mut self, msg: &str) -> ! {
            self.failure = Some(msg.to_string());
            let path = self.finish();
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n");
            panic!(
                "{}: {msg}\n(after {:.1}s; serial log: {})\n--- last {TAIL_LINES} lines of the serial log ---\n{tail}\n---",
                self.name,
                self.elapsed().as_secs_f64(),
                path.display()
            );
        }

        /// Kill QEMU if it still runs, collect its output, save the log.
        fn finish(&mut self) -> PathBuf {
            let path = log_dir().join(format!("{}.log", self.name));
            if self.finished {
                return path;
            }
            self.finished = true;
            self.stdin = None;
            if self.exit.is_none() {
                let _ = self.child.kill();
                self.exit = self.child.wait().ok();
            }
            for r in self.readers.drain(..) {
                let _ = r.join();
            }
            let result = match (&self.failure, std::thread::panicking()) {
                (Some(msg), _) => format!("FAILED: {msg}"),
                (None, true) => "FAILED (the test panicked)".to_string(),
                (None, false) => "passed".to_string(),
            };
            let mut text = String::new();
            let _ = writeln!(text, "# cinit QEMU boot test: {}", self.name);
            let _ = writeln!(text, "# command: {}", self.cmdline);
            let _ = writeln!(text, "# result: {result}");
            let _ = writeln!(
                text,
                "# QEMU wall time: {:.2}s; exit: {}",
                self.elapsed().as_secs_f64(),
                self.exit.map_or("unknown".to_string(), |s| s.to_string())
            );
            for note in &self.notes {
                let _ = writeln!(text, "# {note}");
            }
            let (serial, stderr) = {
                let out = self.shared.lock();
                (
                    String::from_utf8_lossy(&out.serial).replace('\r', ""),
                    String::from_utf8_lossy(&out.stderr).into_owned(),
                )
            };
            text.push_str(&serial);
            if !stderr.is_empty() {
                let _ = write!(text, "\n# QEMU stderr:\n{stderr}");
            }
            if let Err(e) = fs::create_dir_all(log_dir()).and_then(|()| fs::write(&path, text)) {
                eprintln!("{}: cannot save {}: {e}", self.name, path.display());
            }
            path
        }
    }

    impl Drop for Vm {
        fn drop(&mut self) {
            let path = self.finish();
            if std::thread::panicking() && self.failure.is_none() {
                eprintln!("{}: serial log saved to {}", self.name, path.display());
            }
        }
    }
}

use harness::{Services, Vm, STEP_TIMEOUT};
use std::time::{Duration, Instant};

/// The sample system's services that keep running.
const RESPAWN: &[&str] = &["crond", "httpd", "klogd", "shell", "syslogd"];

/// The sample system's services that run once (or have nothing to run).
const ONCE: &[&str] = &["banner", "data", "hostname", "init", "loopback", "mounts"];

/// The page httpd serves.
const PAGE: &str = "Hello from cinit";

/// Fetch the page from httpd, trying for up to 10 s inside the guest: a
/// respawn service is `running` once spawned, which can be before it
/// listens.
fn fetch_page(vm: &mut Vm) -> String {
    let reply = vm.run(
        "i=0; until wget -qO- http://127.0.0.1/; do i=$((i+1)); \
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
    if services.len() != RESPAWN.len() + ONCE.len() {
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
    let reply = vm.run("wget -qO- http://127.0.0.1/");
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

/// SIGHUP to PID 1 reboots, through the orderly sequence.
#[test]
#[ignore = "boots QEMU: run with make test-vm"]
fn sighup_reboots() {
    let mut vm = Vm::boot("sighup_reboots", "");
    vm.wait_ready("init");
    vm.send("kill -HUP 1");
    vm.expect_shutdown("reboot");
    vm.expect("reboot: Restarting system", STEP_TIMEOUT);
    vm.expect_exit_ok();
    if vm.seen("reboot: Power down") {
        vm.fail("a reboot powered off");
    }
}

/// SIGTERM to PID 1 powers off, through the orderly sequence.
#[test]
#[ignore = "boots QEMU: run with make test-vm"]
fn sigterm_powers_off() {
    let mut vm = Vm::boot("sigterm_powers_off", "");
    vm.wait_ready("init");
    vm.send("kill -TERM 1");
    vm.expect_shutdown("poweroff");
    vm.expect("reboot: Power down", STEP_TIMEOUT);
    vm.expect_exit_ok();
    if vm.seen("reboot: Restarting system") {
        vm.fail("a poweroff restarted the machine");
    }
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

/// SIGUSR1 to PID 1 halts: the orderly sequence, `reboot: System halted`,
/// and QEMU keeps running (the harness kills it).
#[test]
#[ignore = "boots QEMU: run with make test-vm"]
fn sigusr1_halts() {
    let mut vm = Vm::boot("sigusr1_halts", "");
    vm.wait_ready("init");
    vm.send("kill -USR1 1");
    vm.expect_shutdown("halt");
    vm.expect("reboot: System halted", STEP_TIMEOUT);
    if vm.seen("reboot: Power down") || vm.seen("reboot: Restarting system") {
        vm.fail("a halt powered off or restarted");
    }
    if !vm.running() {
        vm.fail("QEMU exited after a halt");
    }
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
    if services.len() != RESPAWN.len() + ONCE.len() {
        vm.fail(&format!("expected 11 services, got {services:?}"));
    }
    if let Some((name, e)) = services
        .iter()
        .find(|(_, (state, pid))| state != "stopped" || pid.is_some())
    {
        vm.fail(&format!("in rescue mode {name} is {e:?}, not stopped"));
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

/// `cprofile:minimal` on the kernel command line boots the `minimal`
/// profile: only the mounts and the console shell.
#[test]
#[ignore = "boots QEMU: run with make test-vm"]
fn minimal_profile() {
    let mut vm = Vm::boot("minimal_profile", "cprofile:minimal");
    vm.wait_ready("minimal");
    if !vm.seen("cinit: profile minimal") {
        vm.fail("no `profile minimal` line on the console");
    }
    let services = vm.list();
    let names: Vec<&str> = services.keys().map(String::as_str).collect();
    if names != ["minimal", "mounts", "shell"] {
        vm.fail(&format!(
            "the minimal profile runs {names:?}, expected minimal, mounts, shell"
        ));
    }
    let expected = [
        ("minimal", "done"),
        ("mounts", "done"),
        ("shell", "running"),
    ];
    for (name, state) in expected {
        let (s, _) = entry(&mut vm, &services, name);
        if s != state {
            vm.fail(&format!("{name} is {s}, expected {state}"));
        }
    }
    power_off(&mut vm);
}

/// With a virtio disk attached, the `data` service loads the virtio modules
/// and mounts it on /data (the file put into the image is readable there);
/// at poweroff its `off` unmounts it before the power goes. (Without a disk,
/// every other scenario shows it skipping cleanly: `boot` checks it is
/// `done`.)
#[test]
#[ignore = "boots QEMU: run with make test-vm"]
fn data_disk() {
    let dir = std::env::temp_dir().join(format!("cinit-vm-data-{}", std::process::id()));
    let content = dir.join("content");
    std::fs::create_dir_all(&content).unwrap();
    std::fs::write(content.join("hello"), "hello from the data disk\n").unwrap();
    let image = dir.join("data.img");
    let made = std::process::Command::new("mkfs.ext4")
        .args(["-q", "-F", "-d"])
        .arg(&content)
        .arg(&image)
        .arg("8M")
        .status()
        .expect("mkfs.ext4 (e2fsprogs) is needed for this scenario");
    assert!(made.success(), "mkfs.ext4 failed: {made}");
    let drive = format!("file={},if=virtio,format=raw", image.display());
    let mut vm = Vm::boot_with("data_disk", "", &["-drive".to_string(), drive]);
    vm.wait_ready("init");
    if !vm.seen("data: /dev/vda mounted on /data") {
        vm.fail("the data service did not mount the disk");
    }
    let reply = vm.run_ok("cat /data/hello");
    if reply.lines != ["hello from the data disk"] {
        vm.fail(&format!("/data/hello reads {:?}", reply.lines));
    }
    let services = vm.list();
    let (state, _) = entry(&mut vm, &services, "data");
    if state != "done" {
        vm.fail(&format!("data is {state}, expected done"));
    }
    power_off(&mut vm);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Waits until `cinit-ctl pid NAME` shows a pid other than `old` (the
/// service was respawned); returns it and how long it took.
fn wait_new_pid(vm: &mut Vm, name: &str, old: u32) -> (u32, Duration) {
    let start = Instant::now();
    loop {
        let reply = vm.run(&format!("cinit-ctl pid {name}"));
        if let [ref line] = reply.lines[..] {
            if let Ok(pid) = line.trim().parse::<u32>() {
                if reply.rc == 0 && pid != old {
                    return (pid, start.elapsed());
                }
            }
        }
        if start.elapsed() > STEP_TIMEOUT {
            vm.fail(&format!("{name} was not respawned (old pid {old})"));
        }
    }
}

/// B9 (the realtime half; the monotonic half runs in a time namespace):
/// the wall clock set 10 years ahead, then 20 years back, with `date -s` in
/// the real system. Proves cinit's timers do not follow the wall clock:
/// after each jump a killed respawn service (crond) comes back as after any
/// first death (well within the step timeout, not 10 years or never), and
/// the control socket answers; the machine then powers off normally.
#[test]
#[ignore = "boots QEMU: run with make test-vm"]
fn b9_realtime_jumps_leave_timers_alone() {
    let mut vm = Vm::boot("b9_realtime_jumps_leave_timers_alone", "");
    vm.wait_ready("init");
    let mut pid = vm.pid("crond");
    for (jump, what) in [
        ("+ 315360000", "10 years ahead"),
        ("- 630720000", "20 years back"),
    ] {
        vm.run_ok(&format!("date -s @$(( $(date +%s) {jump} )) >/dev/null"));
        vm.run_ok(&format!("kill -KILL {pid}"));
        let (new, took) = wait_new_pid(&mut vm, "crond", pid);
        vm.note(format!("clock {what}: crond respawned in {took:?}"));
        pid = new;
        vm.run_ok("cinit-ctl status crond");
    }
    power_off(&mut vm);
}

/// B13 in the real system: a fatal fault in PID 1 (SIGSEGV sent to it from
/// the console). Proves the kernel never panics: cinit enters its
/// emergency path (`emergency: fatal fault in PID 1`, then a shell on the
/// console, which answers), and from there SIGTERM still powers the
/// machine off cleanly (`reboot: Power down`, QEMU exits 0, no `Kernel
/// panic` line).
#[test]
#[ignore = "boots QEMU: run with make test-vm"]
fn b13_a_fault_in_pid1_does_not_panic_the_kernel() {
    let mut vm = Vm::boot("b13_a_fault_in_pid1_does_not_panic_the_kernel", "");
    vm.wait_ready("init");
    // The console shell service gives way to a `sleep`, so that the
    // emergency shell is the only reader of the console afterwards (two
    // shells would split typed lines between them).
    vm.send("(sleep 1; kill -SEGV 1) & exec sleep 1000");
    vm.expect("cinit: emergency: fatal fault in PID 1", STEP_TIMEOUT);
    vm.expect(
        "cinit: emergency: starting a shell on the console",
        STEP_TIMEOUT,
    );
    vm.send("echo EMERGENCY-$((6*7))");
    vm.expect("EMERGENCY-42", STEP_TIMEOUT);
    vm.send("kill -TERM 1");
    vm.expect("reboot: Power down", STEP_TIMEOUT);
    vm.expect_exit_ok();
}

/// Service logs on the real system: a message sent to busybox syslogd
/// (which writes to its stdout) is in `cinit-ctl log syslogd` with its
/// timestamps, and in /var/log/messages, written by the log writer, not by
/// PID 1; cinit's own messages are a log (`cinit-ctl log`) and, cinit
/// being the real init here, in the kernel log as well (booted with
/// `printk.devkmsg=on`, so the kernel's rate limit of 10 lines per 5 s for
/// `/dev/kmsg` writers does not drop the later ones).
#[test]
#[ignore = "boots QEMU: run with make test-vm"]
fn logs_of_the_sample_system() {
    let mut vm = Vm::boot("logs_of_the_sample_system", "printk.devkmsg=on");
    vm.wait_ready("init");
    vm.run_ok("logger -t vmtest hello-from-the-vm");
    // The line goes logger → syslogd → its pipe → PID 1; wait for it with a
    // bound instead of guessing a delay.
    let shown = vm.run(
        "for i in $(seq 100); do cinit-ctl log syslogd | grep -q hello-from-the-vm && break; \
         sleep 0.1; done; cinit-ctl log syslogd",
    );
    vm.note(format!("cinit-ctl log syslogd:\n{}", shown.text()));
    let Some(line) = shown.lines.iter().find(|l| l.contains("hello-from-the-vm")) else {
        vm.fail(&format!(
            "`cinit-ctl log syslogd` lacks the message:\n{}",
            shown.text()
        ));
    };
    // `2026-11-21T10:00:00.123Z [   12.345] text`: UTC and boot time.
    let stamped = line.len() > 24
        && line.as_bytes()[4] == b'-'
        && line.as_bytes()[10] == b'T'
        && line.contains("Z [")
        && line.contains("] ");
    if !stamped {
        vm.fail(&format!("the log line has no timestamps: {line:?}"));
    }
    let file = vm.run(
        "for i in $(seq 100); do grep -q hello-from-the-vm /var/log/messages && break; \
         sleep 0.1; done; grep -c hello-from-the-vm /var/log/messages",
    );
    if file.rc != 0 || file.lines != ["1"] {
        vm.fail(&format!(
            "/var/log/messages should hold the message once: {file:?}"
        ));
    }
    let own = vm.run_ok("cinit-ctl log | grep -c 'done init'");
    if own.lines != ["1"] {
        vm.fail(&format!(
            "cinit's own log should hold `done init` once: {own:?}"
        ));
    }
    let kmsg = vm.run_ok("dmesg | grep -c -e 'cinit: done init' -e 'booting as PID 1'");
    if kmsg
        .lines
        .first()
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or(0)
        != 2
    {
        vm.fail(&format!("the kernel log lacks cinit's messages: {kmsg:?}"));
    }
    power_off(&mut vm);
}

/// The boot timeline of the real system: `cinit-ctl analyze` lists all 11
/// sample services with a total and a critical chain that ends at the root
/// service, and `analyze --svg - --deps` gives a boot chart that headless
/// Chromium renders with bars in the running and done colours. The chart
/// is kept as `target/vm/bootchart.svg` (and its screenshot as `.png`).
#[test]
#[ignore = "boots QEMU: run with make test-vm"]
fn boot_chart_of_the_sample_system() {
    chart::chromium();
    let mut vm = Vm::boot("boot_chart_of_the_sample_system", "");
    vm.wait_ready("init");
    let report = vm.run_ok("cinit-ctl analyze");
    vm.note(format!("cinit-ctl analyze:\n{}", report.text()));
    let text = report.text();
    let rows = |name: &str| {
        report
            .lines
            .iter()
            .filter(|l| l.split_whitespace().last() == Some(name))
            .count()
    };
    for &name in RESPAWN.iter().chain(ONCE) {
        if rows(name) == 0 {
            vm.fail(&format!("analyze lacks a row for {name}:\n{text}"));
        }
    }
    let chain_head = report
        .lines
        .iter()
        .skip_while(|l| !l.starts_with("critical chain"))
        .nth(1);
    if !text.contains("total ") || !chain_head.is_some_and(|l| l.starts_with("init @")) {
        vm.fail(&format!(
            "analyze lacks the total or a critical chain from init:\n{text}"
        ));
    }

    let svg = vm.run_ok("cinit-ctl analyze --svg - --deps").text();
    if !svg.starts_with("<svg") || !svg.trim_end().ends_with("</svg>") {
        vm.fail(&format!("not an SVG document:\n{svg}"));
    }
    for &name in RESPAWN.iter().chain(ONCE) {
        if !svg.contains(&format!(">{name}<")) {
            vm.fail(&format!("the chart has no label {name}"));
        }
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/vm");
    std::fs::create_dir_all(&dir).unwrap();
    let svg_path = dir.join("bootchart.svg");
    std::fs::write(&svg_path, &svg).unwrap();
    power_off(&mut vm);

    let shot = chart::render(&svg_path, &dir.join("bootchart.png"));
    let colour = |s: &str| cinit::ctl::bootchart::state_colour(s);
    let running = shot.count(colour("running").light);
    let done = shot.count(colour("done").solid) + shot.count(colour("done").light);
    assert!(
        running >= 2_000 && done >= 2_000 && shot.colours() >= 20,
        "the rendered chart lacks its bars: running {running}, done {done} pixels, {} colours; \
         see {}",
        shot.colours(),
        svg_path.display()
    );
}

/// cinit's own log (`cinit-ctl log`), the messages without their stamps.
fn own_messages(vm: &mut Vm) -> Vec<String> {
    let reply = vm.run_ok("cinit-ctl log");
    reply
        .lines
        .iter()
        .filter_map(|l| l.split_once("] ").map(|(_, m)| m.to_string()))
        .collect()
}

/// cinit's lines in the kernel log (`dmesg`), the messages only. The reply
/// says `K:` for `cinit:`, so that it is not taken for cinit's lines.
fn kmsg_messages(vm: &mut Vm) -> Vec<String> {
    let reply = vm.run_ok("dmesg | grep -o 'cinit: .*' | sed 's/^cinit: /K: /'");
    reply
        .lines
        .iter()
        .filter_map(|l| l.strip_prefix("K: ").map(str::to_string))
        .collect()
}

/// How often each message is in `lines`.
fn counts(lines: &[String]) -> std::collections::BTreeMap<&str, usize> {
    let mut m = std::collections::BTreeMap::new();
    for l in lines {
        *m.entry(l.as_str()).or_insert(0) += 1;
    }
    m
}

/// Every message of cinit's own log is on the serial console as `cinit:
/// MESSAGE` at the end of a line exactly as often as in the log, and no
/// console line holds two stamped lines of cinit's (one glued into
/// another).
fn each_once_on_the_console(vm: &mut Vm, own: &[String]) {
    // The console lines of the last commands have arrived.
    vm.run_ok("sleep 1");
    let log = vm.log();
    let mut wrong = Vec::new();
    for (message, n) in counts(own) {
        let seen = log.matches(&format!("cinit: {message}\n")).count();
        if seen != n {
            wrong.push(format!(
                "{seen}× on the console, {n}× in the log: {message}"
            ));
        }
    }
    for line in log.lines() {
        // `[    2.053] cinit: mounted tmpfs[    2.075269] cinit: mounted…`
        let stamped = line
            .match_indices("] cinit: ")
            .filter(|&(i, _)| {
                line[..i]
                    .rfind('[')
                    .and_then(|open| harness::stamp(&line[open..]))
                    .is_some()
            })
            .count();
        if stamped > 1 {
            wrong.push(format!("glued: {line}"));
        }
    }
    if !wrong.is_empty() {
        vm.fail(&format!(
            "cinit's lines are not each once on the console:\n{}",
            wrong.join("\n")
        ));
    }
    vm.note(format!(
        "{} lines of cinit's, each once on the console",
        own.len()
    ));
}

/// The console loglevel (the first field of /proc/sys/kernel/printk).
fn console_loglevel(vm: &mut Vm) -> u32 {
    let reply = vm.run_ok("cat /proc/sys/kernel/printk");
    reply
        .lines
        .first()
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Every message of cinit's own log is in the kernel log as often.
fn all_in_the_kernel_log(vm: &mut Vm, own: &[String]) {
    let kmsg = kmsg_messages(vm);
    let (own_n, kmsg_n) = (counts(own), counts(&kmsg));
    let missing: Vec<String> = own_n
        .iter()
        .filter(|(m, n)| kmsg_n.get(*m).copied().unwrap_or(0) < **n)
        .map(|(m, _)| (*m).to_string())
        .collect();
    if !missing.is_empty() {
        vm.fail(&format!("not in dmesg:\n{}", missing.join("\n")));
    }
}

/// Booted without `quiet`: the console loglevel is 7, so the kernel prints
/// every record cinit writes to `/dev/kmsg` (level 6) on the console (with
/// `printk.devkmsg=on`, no rate limit). Each of cinit's own lines
/// (`cinit-ctl log`) is on the serial console exactly once, none glued into
/// another line, and each is in `dmesg`. Before, each line was there twice,
/// cinit's copy and the kernel's, often one inside the other.
#[test]
#[ignore = "boots QEMU: run with make test-vm"]
fn kmsg_each_line_once_without_quiet() {
    let mut vm = Vm::boot_loud("kmsg_each_line_once_without_quiet", "printk.devkmsg=on");
    vm.wait_ready("init");
    let level = console_loglevel(&mut vm);
    if level != 7 {
        vm.fail(&format!("the console loglevel is {level}, not 7"));
    }
    vm.run_ok("cinit-ctl restart httpd");
    let own = own_messages(&mut vm);
    each_once_on_the_console(&mut vm, &own);
    all_in_the_kernel_log(&mut vm, &own);
    power_off(&mut vm);
}

/// Booted with `quiet` (console loglevel 4: the kernel prints none of
/// cinit's records), then the loglevel changed at run time: `dmesg -n 8`
/// (the kernel prints them) and `dmesg -n 1` (it prints none), each
/// followed by lines of cinit's (a restart of httpd) more than a second
/// later. Each of cinit's lines is on the console exactly once throughout,
/// and each is in `dmesg`.
#[test]
#[ignore = "boots QEMU: run with make test-vm"]
fn kmsg_each_line_once_with_quiet_and_dmesg_n() {
    let mut vm = Vm::boot(
        "kmsg_each_line_once_with_quiet_and_dmesg_n",
        "printk.devkmsg=on",
    );
    vm.wait_ready("init");
    let level = console_loglevel(&mut vm);
    if level != 4 {
        vm.fail(&format!("the console loglevel is {level}, not 4"));
    }
    // cinit reads the loglevel again after a second.
    vm.run_ok("dmesg -n 8; sleep 2; cinit-ctl restart httpd");
    vm.run_ok("dmesg -n 1; sleep 2; cinit-ctl restart httpd");
    let own = own_messages(&mut vm);
    if own.iter().filter(|m| m.contains("httpd")).count() < 4 {
        vm.fail(&format!(
            "the restarts left no lines in cinit's log: {own:?}"
        ));
    }
    each_once_on_the_console(&mut vm, &own);
    all_in_the_kernel_log(&mut vm, &own);
    power_off(&mut vm);
}

/// Booted without `quiet` and with the kernel's default rate limit for
/// `/dev/kmsg` (10 records per 5 s per open file): the boot's burst of
/// cinit's lines is more than the kernel takes. cinit holds back what the
/// kernel would drop, writes it to the console itself, and once the window
/// is over notes in its own log (and the console, and the kernel log) how
/// many lines the kernel log missed. The notes add up to exactly the lines
/// of cinit's own log that `dmesg` lacks, and each line is on the console
/// once. Before, the kernel dropped lines without a word and the rest were
/// on the console twice.
#[test]
#[ignore = "boots QEMU: run with make test-vm"]
fn kmsg_rate_limit_is_noted_and_counted() {
    let mut vm = Vm::boot_loud("kmsg_rate_limit_is_noted_and_counted", "");
    vm.wait_ready("init");
    let mode = vm.run_ok("cat /proc/sys/kernel/printk_devkmsg");
    if mode.lines != ["ratelimit"] {
        vm.fail(&format!(
            "printk_devkmsg is {:?}, not ratelimit",
            mode.lines
        ));
    }
    noted_as_missed_is_what_dmesg_lacks(&mut vm);
    power_off(&mut vm);
}

/// Wait for the note of lines the kernel log missed and until nothing is
/// held back any more; then the notes must add up to exactly the lines of
/// cinit's own log that `dmesg` lacks, and each line must be on the
/// console once.
fn noted_as_missed_is_what_dmesg_lacks(vm: &mut Vm) {
    const NOTE: &str = " not written to the kernel log";
    // The note comes once the window is surely over (a little over 5 s);
    // then nothing is held back any more.
    vm.run(&format!(
        "for i in $(seq 150); do cinit-ctl log | grep -q '{NOTE}' && break; \
         usleep 100000; done; sleep 6"
    ));
    let own = own_messages(vm);
    let noted: usize = own
        .iter()
        .filter(|m| m.contains(NOTE))
        .filter_map(|m| m.split_whitespace().next()?.parse::<usize>().ok())
        .sum();
    if noted == 0 {
        vm.fail(&format!("no note of lines the kernel log missed: {own:?}"));
    }
    let kmsg = kmsg_messages(vm);
    let kmsg_n = counts(&kmsg);
    let mut missing = 0;
    for (message, n) in counts(&own) {
        let got = kmsg_n.get(message).copied().unwrap_or(0);
        if got > n {
            vm.fail(&format!("{got}× in dmesg, {n}× in cinit's log: {message}"));
        }
        missing += n - got;
    }
    vm.note(format!(
        "{} lines of cinit's; {} in dmesg; {missing} missing; the notes say {noted}",
        own.len(),
        kmsg.len()
    ));
    if missing != noted {
        vm.fail(&format!(
            "dmesg lacks {missing} of cinit's lines, the notes say {noted}"
        ));
    }
    each_once_on_the_console(vm, &own);
}

/// The descriptors of PID 1 open on /dev/kmsg, as `ls -l /proc/1/fd` shows
/// them (`N -> /dev/kmsg`).
fn kmsg_fds(vm: &mut Vm) -> Vec<String> {
    let reply =
        vm.run_ok("ls -l /proc/1/fd | grep /dev/kmsg | sed 's/.* \\([0-9]*\\) -> /\\1 -> /'");
    reply.lines
}

/// A hot update (`kill -CONT 1`, cinit executing itself) while the boot's
/// burst is still held back: the new image keeps the same open /dev/kmsg
/// (the kernel's count is per open file; a new one would start a new
/// count the old window does not know of) and the window and held count,
/// so the note after the update still adds up to exactly what `dmesg`
/// lacks, and each line is on the console once.
#[test]
#[ignore = "boots QEMU: run with make test-vm"]
fn kmsg_rate_limit_carries_across_a_hot_update() {
    let mut vm = Vm::boot_loud("kmsg_rate_limit_carries_across_a_hot_update", "");
    vm.wait_ready("init");
    let before = kmsg_fds(&mut vm);
    let mark = vm.mark();
    vm.run_ok("kill -CONT 1");
    vm.expect_not(
        mark,
        "took over from cinit",
        "cinit: update failed",
        STEP_TIMEOUT,
    );
    let after = kmsg_fds(&mut vm);
    vm.note(format!(
        "/dev/kmsg of PID 1: before {before:?}, after {after:?}"
    ));
    if before.len() != 1 || after != before {
        vm.fail(&format!(
            "PID 1 should keep its one /dev/kmsg across the update: before {before:?}, \
             after {after:?}"
        ));
    }
    noted_as_missed_is_what_dmesg_lacks(&mut vm);
    power_off(&mut vm);
}
