//! One QEMU driven over its serial console, for the boot suites
//! (`tests/vm/`, `tests/distro/`).
//!
//! [`Console::start`] runs `qemu-system-x86_64` with the suite's arguments
//! (built on [`base_args`]: TCG, `-no-reboot`, the serial console on QEMU's
//! stdio). A thread reads the console into a shared buffer, another QEMU's
//! stderr; both wake the test through a condition variable. The test waits
//! for text with deadlines ([`Console::expect`]), types lines
//! ([`Console::send`]) and runs shell commands whose output it takes
//! between two markers the shell computes ([`Console::run`]), so the echo
//! of the typed line never matches.
//!
//! Invariants: every wait ends by its own timeout or the scenario's
//! deadline, whichever is first; a `Kernel panic` line (PID 1 died) fails
//! the scenario at once; every failure ([`Console::fail`]) kills QEMU,
//! saves the whole transcript to `LOGS/NAME.log` and panics with its path
//! and tail; the transcript is saved on success too, and QEMU never
//! outlives the console (killed on drop, and by the kernel if the test
//! process dies first).
//!
//! What differs between the suites stays with them and comes in through
//! [`Suite`] and the arguments: QEMU's kernel, initramfs, disk and network
//! arguments, the prompt, the login, what "up" means, the timeouts and the
//! transcripts' directory.

use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

mod text;

use text::find;
pub use text::{clean, is_console_log, stamp, without_kernel_interjections};

/// The kernel prints this when PID 1 dies: always a failure.
pub const PANIC: &str = "Kernel panic";

/// Lines of the transcript shown in a failure message.
const TAIL_LINES: usize = 80;

/// What a suite sets for all its scenarios.
#[derive(Clone, Debug)]
pub struct Suite {
    /// The transcript's first line: `# TITLE: NAME`.
    pub title: &'static str,
    /// Where transcripts go, one `NAME.log` per scenario.
    pub logs: PathBuf,
    /// Everything one scenario may take, QEMU's start to its exit.
    pub scenario: Duration,
    /// One command, one awaited line, one shutdown step.
    pub step: Duration,
}

/// The path in environment variable `var`, which must name a file; fails
/// (never skips) otherwise, saying `how` to get it.
pub fn file_from_env(var: &str, how: &str) -> PathBuf {
    let Some(value) = std::env::var_os(var) else {
        panic!("{var} is not set: {how}");
    };
    let path = PathBuf::from(value);
    assert!(
        path.is_file(),
        "{var}={} does not exist or is not a file: {how}",
        path.display()
    );
    path
}

/// The arguments every boot shares: TCG (KVM does not work on the test
/// machines), no display, `-no-reboot` (a reboot ends QEMU, exit 0, like a
/// poweroff; the kernel's last line tells them apart), the serial console
/// on stdio, no monitor; `memory` MiB, the kernel, its initramfs and
/// command line. A suite appends its disks and network.
pub fn base_args(memory: u32, kernel: &Path, initrd: &Path, append: &str) -> Vec<String> {
    let memory = memory.to_string();
    [
        "-accel",
        "tcg",
        "-m",
        &memory,
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
        append,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
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

    /// Wait for a change until `deadline`.
    fn wait<'a>(&self, out: MutexGuard<'a, Output>, deadline: Instant) -> MutexGuard<'a, Output> {
        let left = deadline.saturating_duration_since(Instant::now());
        self.changed
            .wait_timeout(out, left)
            .unwrap_or_else(|e| e.into_inner())
            .0
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

/// A QEMU with its serial console, killed on drop.
pub struct Console {
    name: String,
    suite: Suite,
    cmdline: String,
    child: Child,
    stdin: Option<ChildStdin>,
    shared: Arc<Shared>,
    readers: Vec<JoinHandle<()>>,
    /// Where the next [`Console::expect`] starts searching.
    pos: usize,
    started: Instant,
    deadline: Instant,
    commands: u32,
    exit: Option<ExitStatus>,
    notes: Vec<String>,
    failure: Option<String>,
    finished: bool,
}

impl Console {
    /// Start `qemu-system-x86_64 ARGS` for scenario `name`; its serial
    /// console must be on stdio ([`base_args`]).
    pub fn start(name: &str, suite: Suite, args: &[String]) -> Console {
        let cmdline = format!("qemu-system-x86_64 {}", args.join(" "));
        let mut command = Command::new("qemu-system-x86_64");
        command
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // SAFETY: prctl(2) is async-signal-safe and touches no memory of
        // the parent. If the test thread dies without dropping the console
        // (the test binary killed by a CI timeout), the kernel kills QEMU:
        // a halted guest would otherwise run forever.
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
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let readers = vec![
            reader(stdout, Arc::clone(&shared), true),
            reader(stderr, Arc::clone(&shared), false),
        ];
        eprintln!("{name}: {cmdline}");
        Console {
            name: name.to_string(),
            deadline: started + suite.scenario,
            suite,
            cmdline,
            stdin: child.stdin.take(),
            child,
            shared,
            readers,
            pos: 0,
            started,
            commands: 0,
            exit: None,
            notes: Vec::new(),
            failure: None,
            finished: false,
        }
    }

    /// A line for the transcript's header (and stderr: `--nocapture`
    /// shows it).
    pub fn note(&mut self, text: String) {
        eprintln!("{}: {text}", self.name);
        self.notes.push(text);
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// The current search position (for [`Console::expect_since`]).
    pub fn mark(&self) -> usize {
        self.pos
    }

    /// The serial text of a byte range, raw.
    pub fn text(&self, from: usize, to: usize) -> String {
        let out = self.shared.lock();
        let to = to.min(out.serial.len());
        String::from_utf8_lossy(out.serial.get(from.min(to)..to).unwrap_or_default()).into_owned()
    }

    /// The whole serial log so far, cleaned.
    pub fn log(&self) -> String {
        self.log_since(0)
    }

    /// The serial log from byte `from` on, cleaned.
    pub fn log_since(&self, from: usize) -> String {
        let out = self.shared.lock();
        clean(&String::from_utf8_lossy(
            out.serial.get(from..).unwrap_or_default(),
        ))
    }

    /// The (cleaned) line of the serial log holding `span` as far as it
    /// has arrived; from the console stamp before the match, if any.
    pub fn line_of(&self, span: Span) -> String {
        text::line_around(&self.shared.lock().serial, span, None)
    }

    /// The line holding `span`, once it is complete.
    pub fn line_at(&mut self, span: Span) -> String {
        // From the start: the needle may end with the newline itself.
        let eol = self.expect_since(span.start, "\n", self.suite.step);
        text::line_around(&self.shared.lock().serial, span, Some(eol.start))
    }

    /// Wait until `needle` appears after the current position, within
    /// `timeout` (and the scenario's deadline); move past it.
    pub fn expect(&mut self, needle: &str, timeout: Duration) -> Span {
        let from = self.pos;
        self.expect_since(from, needle, timeout)
    }

    /// Like [`Console::expect`], but searching from `from`, for output
    /// that may come before or after other awaited output (the position
    /// only moves forward).
    pub fn expect_since(&mut self, from: usize, needle: &str, timeout: Duration) -> Span {
        let deadline = (Instant::now() + timeout).min(self.deadline);
        let shared = Arc::clone(&self.shared);
        let mut out = shared.lock();
        let problem = loop {
            if let Some(at) = find(&out.serial, PANIC.as_bytes(), 0) {
                break format!(
                    "`{PANIC}` on the console (byte {at}) while waiting for {needle:?}: PID 1 died"
                );
            }
            if let Some(start) = find(&out.serial, needle.as_bytes(), from) {
                let end = start + needle.len();
                self.pos = self.pos.max(end);
                return Span { start, end };
            }
            if out.serial_eof {
                break format!("QEMU exited while waiting for {needle:?}");
            }
            if Instant::now() >= deadline {
                let which = if deadline == self.deadline {
                    format!("the scenario deadline ({:?})", self.suite.scenario)
                } else {
                    format!("{timeout:?}")
                };
                break format!("timed out after {which} waiting for {needle:?}");
            }
            out = shared.wait(out, deadline);
        };
        drop(out);
        self.fail(&problem)
    }

    /// Wait for `good` after `from`; fail at once, with that line, if
    /// `bad` comes first (say, an error line that makes waiting for the
    /// good one pointless).
    pub fn expect_not(&mut self, from: usize, good: &str, bad: &str, timeout: Duration) -> Span {
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
                out = shared.wait(out, deadline);
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

    /// Run `cmd` in the console's shell; return its output and status.
    pub fn run(&mut self, cmd: &str) -> Reply {
        self.run_within(cmd, self.suite.step)
    }

    /// [`Console::run`] with its own time limit. The output is taken
    /// between two markers the shell computes (`$((6*7))`), so the echo
    /// of the typed line never matches.
    pub fn run_within(&mut self, cmd: &str, timeout: Duration) -> Reply {
        self.commands += 1;
        let n = self.commands;
        self.send(&format!(
            "echo R{n}B-$((6*7)); {cmd}; echo R{n}E-$((6*7)) rc=$?"
        ));
        let begin = self.expect(&format!("R{n}B-42"), timeout);
        let end = self.expect(&format!("R{n}E-42 rc="), timeout);
        let eol = self.expect("\n", self.suite.step);
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

    /// Wait, within `timeout` and the scenario's deadline, for QEMU to
    /// exit on its own (after a poweroff, or a reboot with `-no-reboot`):
    /// it must exit 0, with no `Kernel panic` on the console.
    pub fn expect_exit(&mut self, timeout: Duration) {
        let deadline = (Instant::now() + timeout).min(self.deadline);
        let shared = Arc::clone(&self.shared);
        let mut out = shared.lock();
        while !out.serial_eof {
            if Instant::now() >= deadline {
                drop(out);
                self.fail("QEMU did not exit");
            }
            out = shared.wait(out, deadline);
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

    /// Fail the scenario: kill QEMU, save the transcript, panic with its
    /// path and tail (and QEMU's own errors, if it printed any).
    pub fn fail(&mut self, msg: &str) -> ! {
        self.failure = Some(msg.to_string());
        let path = self.finish();
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n");
        let stderr = String::from_utf8_lossy(&self.shared.lock().stderr).into_owned();
        let stderr = if stderr.trim().is_empty() {
            String::new()
        } else {
            format!("\n--- QEMU's stderr ---\n{}", stderr.trim_end())
        };
        panic!(
            "{}: {msg}\n(after {:.1}s; serial log: {})\n--- last {TAIL_LINES} lines of the serial log ---\n{tail}{stderr}\n---",
            self.name,
            self.elapsed().as_secs_f64(),
            path.display()
        );
    }

    /// Kill QEMU if it still runs, collect its output, save the
    /// transcript; its path.
    fn finish(&mut self) -> PathBuf {
        let path = self.suite.logs.join(format!("{}.log", self.name));
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
        let _ = writeln!(text, "# {}: {}", self.suite.title, self.name);
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
        let saved = fs::create_dir_all(&self.suite.logs).and_then(|()| fs::write(&path, text));
        if let Err(e) = saved {
            eprintln!("{}: cannot save {}: {e}", self.name, path.display());
        }
        path
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let path = self.finish();
        // A failure's message already names the transcript.
        if self.failure.is_none() {
            eprintln!("{}: serial log saved to {}", self.name, path.display());
        }
    }
}
