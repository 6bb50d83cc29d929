//! PID 1: boot, then one event loop, forever.
//!
//! Order at start: block signals (so none is lost) → refuse unless PID 1 →
//! signalfd → mount API filesystems → console as stdio → disable
//! ctrl-alt-del → load the tree → start the root service → loop.
//!
//! Each loop iteration, in this fixed order:
//! 1. `poll()` on the signalfd (and the console when output is pending),
//!    with the timeout of the nearest deadline. The only blocking call.
//! 2. Drain the signalfd.
//! 3. Reap every exited child (known services and orphans alike).
//! 4. Fire due deadlines (restarts after backoff, stop escalations).
//! 5. Flush the console as far as it goes without blocking.
//!
//! An iteration that panics is caught and logged; the loop goes on. Nothing
//! here ever returns or exits once the PID-1 check has passed.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, Ordering};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::unistd::Pid as NixPid;

use crate::boot;
use crate::clock::{now_ms, poll_timeout};
use crate::conf::read_conf;
use crate::console::Console;
use crate::engine::{seconds, Engine, Host, Millis, Pid, Report, Role, Spawned};
use crate::paths::{profile_from_args, Paths, DEFAULT_ROOT};
use crate::reap::reap;
use crate::signals::{block_handled, SignalSource};
use crate::spawn::spawn;
use crate::state::SpawnError;
use crate::svcdir::read_exec;
use crate::tree::load;

/// The non-blocking console fd, for the panic hook (which must not allocate
/// or block). -1 until the console is open.
static PANIC_FD: AtomicI32 = AtomicI32::new(-1);

/// Format a log line with the monotonic time, like the kernel's printk.
fn stamp(now: Millis, text: &str) -> String {
    format!("[{:5}.{:03}] cinit: {text}", now / 1000, now % 1000)
}

/// The engine's view of the real system.
struct RealHost {
    console: Console,
    /// Console fd given to children as stdio (≥ 3, close-on-exec).
    child_stdio: Option<OwnedFd>,
    dirs: Vec<PathBuf>,
    cdirs: Vec<CString>,
}

impl RealHost {
    fn log(&mut self, text: &str) {
        self.console.line(&stamp(now_ms(), text));
    }
}

impl Host for RealHost {
    fn spawn(&mut self, svc: usize, role: Role) -> Result<Spawned, SpawnError> {
        let (Some(dir), Some(cdir)) = (self.dirs.get(svc), self.cdirs.get(svc)) else {
            return Err(SpawnError::Config("unknown service".into()));
        };
        let which = match role {
            Role::On => "on",
            Role::Off => "off",
        };
        let spec = match read_exec(dir, which) {
            Ok(Some(spec)) => spec,
            Ok(None) => return Ok(Spawned::Nothing),
            Err(e) => return Err(SpawnError::Config(e.to_string())),
        };
        let stdio: RawFd = match &self.child_stdio {
            Some(fd) => fd.as_raw_fd(),
            None => return Err(SpawnError::Config("no console for stdio".into())),
        };
        spawn(&spec, cdir, stdio)
            .map(Spawned::Pid)
            .map_err(|errno| SpawnError::Exec {
                path: String::from_utf8_lossy(spec.path.as_bytes()).into_owned(),
                errno,
            })
    }

    fn signal_group(&mut self, pgid: Pid, sig: Signal) {
        // Never pgid 0 (our own group), 1 (init's group) or negative (-1 = all).
        if pgid > 1 {
            let _ = nix::sys::signal::killpg(NixPid::from_raw(pgid), sig);
        }
    }

    fn report(&mut self, _svc: usize, name: &str, r: Report) {
        // A line per start, finish and failure; `waiting` is the quiet default.
        if r.state == crate::state::State::Waiting {
            return;
        }
        let mut text = format!("{} {name}", r.state);
        if let Some(pid) = r.pid {
            text.push_str(&format!(" (pid {pid})"));
        }
        if let Some(took) = r.took {
            text.push_str(&format!(" in {}", seconds(took)));
        }
        if let Some(detail) = r.detail {
            text.push_str(": ");
            text.push_str(&detail);
        }
        self.log(&text);
    }
}

struct Daemon {
    host: RealHost,
    engine: Engine,
    signals: Option<SignalSource>,
    /// More children may be waiting to be reaped.
    reap_pending: bool,
}

impl Daemon {
    /// One iteration of the loop (see the module doc for the order).
    fn iterate(&mut self) {
        let now = now_ms();
        let mut timeout = poll_timeout(now, self.engine.next_deadline());
        if self.signals.is_none() {
            // Degraded: without a signalfd, reap on a short timer.
            timeout = Some(timeout.map_or(100, |t| t.min(100)));
        }
        if self.reap_pending {
            // The reap bound was hit last time: do not sleep before the rest.
            timeout = Some(0);
        }
        let console_pending = self.host.console.pending();
        let ready = {
            let mut fds: Vec<PollFd> = Vec::with_capacity(2);
            if let Some(s) = &self.signals {
                fds.push(PollFd::new(s.fd(), PollFlags::POLLIN));
            }
            if console_pending {
                if let Some(fd) = self.host.console.fd() {
                    fds.push(PollFd::new(fd, PollFlags::POLLOUT));
                }
            }
            let t = match timeout {
                None => PollTimeout::NONE,
                Some(ms) => PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
            };
            poll(&mut fds, t)
        };
        if let Err(e) = ready {
            if e != Errno::EINTR {
                self.host.log(&format!("poll failed: {}", e.desc()));
            }
        }
        self.drain_signals();
        let now = now_ms();
        let (engine, host) = (&mut self.engine, &mut self.host);
        // Orphans (pids the engine does not own) are reaped silently.
        self.reap_pending = reap(|pid, status| {
            engine.child_exited(host, now, pid, status);
        });
        self.engine.tick(&mut self.host, now_ms());
        self.host.console.flush();
    }

    fn drain_signals(&mut self) {
        let Some(source) = self.signals.as_mut() else {
            return;
        };
        while let Some(sig) = source.read() {
            if sig.signal == Signal::SIGCHLD as i32 {
                continue; // reaping happens on every iteration
            }
            let who = format!("from pid {} uid {}", sig.pid, sig.uid);
            if !sig.privileged() {
                self.host
                    .log(&format!("ignoring {} {who}: not root", sig.name()));
                continue;
            }
            self.host.log(&format!(
                "received {} {who}; the lifecycle actions are not implemented yet",
                sig.name()
            ));
        }
    }
}

/// Write a fixed message without allocating; used by the panic hook.
fn raw_log(msg: &[u8]) {
    let fd = PANIC_FD.load(Ordering::Relaxed);
    let fd = if fd >= 0 { fd } else { 2 };
    // SAFETY: writing a valid buffer to a descriptor number; a bad fd only
    // yields EBADF.
    unsafe {
        libc::write(fd, msg.as_ptr().cast(), msg.len());
    }
}

/// Run cinit as PID 1. Returns only (with exit status 1) when not PID 1.
pub fn main() -> i32 {
    // Block first: a signal arriving before the signalfd exists must wait.
    let blocked = block_handled();
    let pid = std::process::id();
    if pid != 1 {
        eprintln!(
            "cinit: must run as PID 1 (this is pid {pid}); \
             to try it safely: unshare --user --map-root-user --pid --fork --mount-proc cinit"
        );
        return 1;
    }
    std::panic::set_hook(Box::new(|_| {
        raw_log(b"cinit: internal error (panic); continuing\n");
    }));

    let signals = blocked.and_then(|set| SignalSource::new(&set));
    let mount_notes = boot::mount_api_filesystems();
    let paths = Paths::from_process_env();
    let (fds, console_note) = boot::setup_console(&paths.console);
    if let Some(fd) = &fds.log {
        PANIC_FD.store(fd.as_raw_fd(), Ordering::Relaxed);
    }
    let mut host = RealHost {
        console: Console::new(fds.log),
        child_stdio: fds.child,
        dirs: Vec::new(),
        cdirs: Vec::new(),
    };
    host.log(&format!(
        "cinit {} booting as PID 1",
        env!("CARGO_PKG_VERSION")
    ));
    for note in mount_notes.iter().chain(console_note.iter()) {
        host.log(note);
    }
    if let Some(note) = boot::disable_ctrl_alt_del() {
        host.log(&note);
    }
    let signals = match signals {
        Ok(s) => Some(s),
        Err(e) => {
            host.log(&format!(
                "emergency: cannot set up signals ({}); reaping on a timer",
                e.desc()
            ));
            None
        }
    };
    // Services get their own cwd; PID 1 should not pin any filesystem.
    let _ = std::env::set_current_dir("/");

    let engine = match catch_unwind(AssertUnwindSafe(|| boot_tree(&mut host, &paths))) {
        Ok(engine) => engine,
        Err(_) => {
            host.log("emergency: internal error while loading the service tree");
            Engine::new(Vec::new())
        }
    };
    let mut daemon = Daemon {
        host,
        engine,
        signals,
        reap_pending: false,
    };
    loop {
        if catch_unwind(AssertUnwindSafe(|| daemon.iterate())).is_err() {
            daemon
                .host
                .log("internal error in the event loop; continuing");
        }
    }
}

/// Load the tree from the root service and start it. On failure, an empty
/// engine: the loop still reaps (the emergency path of the lifecycle work).
fn boot_tree(host: &mut RealHost, paths: &Paths) -> Engine {
    // The kernel passes unknown command-line words as raw bytes: never assume
    // UTF-8 (std::env::args would panic); words that are not text are ignored.
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .filter_map(|a| a.into_string().ok())
        .collect();
    let root_name = match profile_from_args(&args) {
        Ok(Some(p)) => {
            host.log(&format!("profile {p}"));
            p
        }
        Ok(None) => DEFAULT_ROOT.to_string(),
        Err(word) => {
            host.log(&format!(
                "ignoring {word}: not a service name; using {DEFAULT_ROOT}"
            ));
            DEFAULT_ROOT.to_string()
        }
    };
    let (_, conf_problems) = read_conf(&paths.conf);
    for p in conf_problems {
        host.log(&format!("config: conf: {p}"));
    }
    let tree = load(&paths.svc, &[paths.svc.join(&root_name)]);
    for p in &tree.problems {
        host.log(&format!("config: {p}"));
    }
    let Some(&root) = tree.roots.first() else {
        host.log(&format!(
            "emergency: no root service {}; nothing to start",
            paths.svc.join(&root_name).display()
        ));
        return Engine::new(Vec::new());
    };
    host.cdirs = tree
        .dirs
        .iter()
        .map(|d| CString::new(d.as_os_str().as_bytes()).unwrap_or_default())
        .collect();
    host.dirs = tree.dirs;
    host.log(&format!(
        "root service {root_name}, {} services",
        tree.nodes.len()
    ));
    let mut engine = Engine::new(tree.nodes);
    engine.start(host, now_ms(), root);
    engine
}
