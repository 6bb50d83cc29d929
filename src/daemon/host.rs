//! The engine's window on the real system: spawning (stdio from the
//! service's log, [`crate::logs`], and a readiness pipe at
//! `notification-fd`), signalling process groups, and logging state changes.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use nix::sys::signal::Signal;
use nix::unistd::Pid as NixPid;

use crate::config::context::{read_context, step_text};
use crate::config::dirlist::{Kept, Listing, ServiceDir};
use crate::config::logconf::read_log_config;
use crate::config::svcdir::{read_exec, FileError};
use crate::engine::state::{SpawnError, State};
use crate::engine::{Host, Report, Role, Spawned};
use crate::fds::store::FdTable;
use crate::logs::Logs;
use crate::ready::pipe::ReadyPipes;
use crate::sys::clock::now_ms;
use crate::sys::clock::seconds;
use crate::sys::clock::Millis;
use crate::sys::console::Console;
use crate::sys::process::Pid;
use crate::sys::shortage::{Said, Shortages};
use crate::sys::spawn::{spawn_in, spawn_with_pid, ExecContext, Step};

pub struct RealHost {
    pub console: Console,
    /// Service output and cinit's own messages.
    pub logs: Logs,
    /// Console fd given to children as stdio (≥ 3, close-on-exec).
    pub child_stdio: Option<OwnedFd>,
    /// Service directory of each engine index, as a C string for the
    /// spawn (the one copy: [`dir_of`] reads it as a path).
    cdirs: Vec<CString>,
    /// What the loads of this loop turn listed in the directories of the
    /// services they loaded, for their first start ([`Kept`]).
    kept: Kept,
    /// Read ends of the readiness pipes of processes not ready yet.
    pub ready: ReadyPipes,
    /// Sockets and stored descriptors held for services.
    pub fds: FdTable,
    /// Starts failing for want of descriptors, memory or processes.
    pub shortages: Shortages,
    /// The service whose next `backoff` line is left out: its start failed
    /// with a shortage already said ([`Said::Repeat`]).
    quiet: Option<usize>,
    /// The line a report is written into, kept for its capacity (a line
    /// per start of each service; cinit's log keeps its own copy).
    report_line: String,
    /// Each service's stop and reload signals, read at its start.
    pub(super) sigs: super::svcsig::SvcSignals,
    /// The services' cgroups, if there are any.
    pub(super) cg: super::contain::Contain,
    /// Each service's cgroup, as its starts gave it ([`super::svccg`]).
    pub(super) cgroups: super::svccg::SvcCgroups,
    /// The sd_notify socket and what `notify-socket` services said.
    pub notify: super::notify::Notify,
}

/// The most bytes of a report's line buffer kept between reports.
const REPORT_LINE_KEPT: usize = 256;

impl RealHost {
    pub fn new(console: Console, child_stdio: Option<OwnedFd>) -> RealHost {
        RealHost {
            console,
            logs: Logs::new(),
            child_stdio,
            cdirs: Vec::new(),
            kept: Kept::default(),
            ready: ReadyPipes::default(),
            fds: FdTable::default(),
            shortages: Shortages::default(),
            quiet: None,
            report_line: String::new(),
            sigs: Default::default(),
            cg: Default::default(),
            cgroups: Default::default(),
            notify: Default::default(),
        }
    }

    /// Register the directories of newly added services (in index order),
    /// with what their load listed there (empty: nothing listed, as for
    /// the services a hot update takes over); a start in this loop turn
    /// answers from that listing instead of listing again.
    pub fn add_dirs(&mut self, dirs: &[PathBuf], listings: Vec<Listing>) {
        self.kept.add(self.cdirs.len(), listings);
        // Exactly as many as there are services, not a doubled capacity.
        self.cdirs.reserve_exact(dirs.len());
        for d in dirs {
            self.cdirs
                .push(CString::new(d.as_os_str().as_bytes()).unwrap_or_default());
        }
    }

    /// The directory of service `svc`.
    pub fn dir(&self, svc: usize) -> Option<&std::path::Path> {
        self.cdirs.get(svc).map(dir_of)
    }

    /// The loop turn is over (the loop is about to wait): what this
    /// turn's loads listed is forgotten, so every later start lists its
    /// directory again and sees the edits made since.
    pub fn end_turn(&mut self) {
        self.kept.forget();
    }

    pub fn log(&mut self, text: &str) {
        let now = now_ms();
        self.logs.own_line(now, text, &mut self.console);
    }

    /// Read the service pipes poll found readable ([`Logs::handle_events`]).
    pub fn read_logs(
        &mut self,
        now: Millis,
        events: &[(crate::logs::PollKey, nix::poll::PollFlags)],
    ) {
        self.logs.handle_events(now, events, &mut self.console);
    }

    /// A child was reaped: the end of a service process's output is read;
    /// a log writer is scheduled to start again (not while the system is
    /// `going_down`). Returns true for a log writer (no business of the
    /// engine's).
    pub fn reaped(
        &mut self,
        now: Millis,
        pid: Pid,
        status: crate::sys::process::ExitStatus,
        going_down: bool,
    ) -> bool {
        if let Some(note) = self.logs.writer_exited(now, pid, status, going_down) {
            if let Some(note) = note {
                self.log(&note);
            }
            return true;
        }
        self.logs.process_exited(now, pid, &mut self.console);
        false
    }

    /// Count a start's outcome against the shortages: say a new one, end
    /// those that are over, and mark a repeat's `backoff` line as quiet.
    fn note_start(&mut self, svc: usize, result: &Result<Spawned, SpawnError>) {
        let now = now_ms();
        match result {
            Ok(Spawned::Pid(_)) => {
                for line in self.shortages.started(now) {
                    self.log(&line);
                }
            }
            Ok(Spawned::Nothing | Spawned::Skipped(_)) => {}
            Err(SpawnError::Exec { errno, .. } | SpawnError::Listen { errno, .. }) => {
                match self.shortages.failed(*errno, now) {
                    Said::First(line) => self.log(&line),
                    Said::Repeat => self.quiet = Some(svc),
                    Said::Other => {}
                }
            }
            Err(SpawnError::Config(_)) => {}
        }
    }

    /// End the shortages that are over ([`Shortages::tick`]).
    pub fn tick_shortages(&mut self, now: Millis) {
        for line in self.shortages.tick(now) {
            self.log(&line);
        }
    }

    /// The logs' timed work ([`Logs::tick`]).
    pub fn tick_logs(&mut self, now: Millis, halting: bool) {
        let fd = self.child_stdio.as_ref().map(|f| f.as_raw_fd());
        self.logs.missed_note(now, &mut self.console);
        for note in self.logs.tick(now, halting, fd, &mut self.console) {
            self.log(&note);
        }
    }
}

impl RealHost {
    /// Spawn `role` of `svc`; with `ready_fd`, also a readiness pipe whose
    /// write end the child gets at that descriptor (and only the child: the
    /// parent's copy closes when this returns); with `watchdog`, the
    /// watchdog's variables (`svcdog.rs`). `start`: a start a request
    /// asked for, which runs nothing if the service's condition does not
    /// hold ([`crate::config::condition`]).
    fn spawn_with(
        &mut self,
        svc: usize,
        role: Role,
        (ready_fd, watchdog): (Option<RawFd>, Option<Millis>),
        start: bool,
    ) -> Result<Spawned, SpawnError> {
        let Some((dir, cdir)) = self.cdirs.get(svc).map(|c| (dir_of(c), c)) else {
            return Err(SpawnError::Config("unknown service".into()));
        };
        let which = match role {
            Role::On => "on",
            Role::Off => "off",
        };
        // The service's files, from one listing of its directory: the one
        // its load made in this loop turn (its first start, at boot), else
        // a new one, whose descriptor is closed before anything is made.
        let files = match self.kept.take(svc) {
            Some(listing) => ServiceDir::from_listing(dir, listing),
            None => ServiceDir::open(dir),
        };
        // No system call for a service without the file: the listing
        // says it is absent.
        if start {
            let failed = crate::config::condition::check(&files)
                .map_err(|e| file_error(&e, &dir.join(which)))?;
            if let Some(failed) = failed {
                return Ok(Spawned::Skipped(failed));
            }
        }
        let mut spec = match read_exec(&files, which) {
            Ok(Some(mut spec)) => {
                if let Some(ms) = watchdog {
                    super::svcdog::add_env(&mut spec.envp, ms);
                }
                spec
            }
            // No program: nothing to run, a success (a grouping service) —
            // unless the service directory itself is gone since it was loaded.
            Ok(None) => {
                return match std::fs::symlink_metadata(files.path()) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(SpawnError::Config(
                        format!("{}: service directory is gone", dir.display()),
                    )),
                    _ => Ok(Spawned::Nothing),
                };
            }
            // Out of descriptors or memory while reading the service's
            // files: `on` cannot be executed for now, as temporary as the
            // same errno from the exec itself.
            Err(e) => return Err(file_error(&e, &dir.join(which))),
        };
        let (sockets, sigs) = match role {
            Role::On => {
                // sd_notify: NOTIFY_SOCKET replaces any the service's
                // environment names.
                if let Some(env) = self
                    .notify
                    .for_start(svc, &files)
                    .map_err(SpawnError::Config)?
                {
                    spec.envp
                        .retain(|e| !e.as_bytes().starts_with(b"NOTIFY_SOCKET="));
                    spec.envp.push(env);
                }
                // A bad signal file fails the start: a service is never
                // stopped with a signal its author did not ask for.
                let sigs =
                    super::svcsig::read(&files).map_err(|e| file_error(&e, &dir.join(which)))?;
                (Some(crate::config::sockets::load(&files)), Some(sigs))
            }
            Role::Off => (None, None),
        };
        let log_config = read_log_config(&files);
        // User, limits, nice, OOM score, no_new_privs: a file that does
        // not parse or names no user fails the start (never as root
        // instead); a service without them reads nothing here.
        let context = read_context(&files).map_err(|e| file_error(&e, &dir.join(which)))?;
        // The `cgroup` file: written into the service's cgroup below.
        let settings = crate::config::cgroupconf::read(&files)
            .map_err(|e| file_error(&e, &dir.join(which)))?;
        let cwd = instance_cwd(&files);
        drop(files);
        let stdio: RawFd = match &self.child_stdio {
            Some(fd) => fd.as_raw_fd(),
            None => return Err(SpawnError::Config("no console for stdio".into())),
        };
        // Named after the service's program, even when it is started
        // through the `--listen-exec` trampoline (the name is made only
        // for an error).
        let exec_error = |errno| SpawnError::Exec {
            path: String::from_utf8_lossy(spec.path.as_bytes()).into_owned(),
            errno,
        };
        let ctx = context.as_ref();
        // The service's cgroup, made at its first start in this image.
        let join = self
            .cg
            .procs_to_join(svc, dir)
            .map_err(SpawnError::Config)?;
        // The settings go into it before anything is spawned into it; no
        // cgroup: a service with settings fails here.
        let given = join.as_ref().map(|j| super::svccg::Given {
            path: &j.dir,
            new: j.new,
        });
        self.cgroups.cgroup_settings(svc, dir, &settings, given)?;
        // A pipe that cannot be made (a full descriptor table) is as
        // temporary as the same errno from the exec: a backoff and a retry.
        let pipe = ready_fd
            .map(|target| ReadyPipes::open(target).map(|p| (p, target)))
            .transpose()
            .map_err(exec_error)?;
        // The service's sockets and stored descriptors, at 3, 4, …
        let passed = match sockets {
            Some(specs) => held_fds(&mut self.fds, svc, dir, specs, ready_fd)?,
            None => Vec::new(),
        };
        let wrapped = if passed.is_empty() {
            None
        } else {
            let names: Vec<&str> = passed.iter().map(|(_, n)| n.as_str()).collect();
            Some(crate::fds::listen_exec::wrap(&spec, &names).map_err(exec_error)?)
        };
        let (mut fds, notes) = self.logs.stdio_with(svc, log_config, stdio, now_ms());
        fds.extra.extend(
            passed
                .iter()
                .zip(FIRST_PASSED_FD..)
                .map(|((fd, _), t)| (*fd, t)),
        );
        if let Some((p, target)) = &pipe {
            fds.extra.push((p.write.as_raw_fd(), *target));
        }
        let cg = &mut self.cg;
        let spawned = spawn_with_pid(
            wrapped.as_ref().unwrap_or(&spec),
            cwd.as_ref().unwrap_or(cdir),
            &fds,
            (ctx, join.as_ref().map(|j| j.procs.as_c_str())),
            watchdog.map(|_| super::svcdog::PID_VAR),
        )
        .map_err(|f| match ctx {
            // Not in its cgroup: the reason names the cgroup.
            _ if f.step == Step::Cgroup => SpawnError::Config(cg.join_failed(svc, dir, f.errno)),
            None => exec_error(f.errno),
            Some(ctx) => context_error(ctx, f, dir, exec_error(f.errno)),
        });
        for note in notes {
            self.log(&note);
        }
        let pid = spawned?;
        if let Some(pair) = sigs {
            self.sigs.set(svc, pair);
        }
        self.logs.track(pid, svc);
        if let Some((p, _)) = pipe {
            self.ready.watch(p.read, pid, svc);
        }
        Ok(Spawned::Pid(pid))
    }
}

impl RealHost {
    /// Spawn a `ready-probe` program of `svc` (`argv`, program first) as the
    /// service's own `on` is spawned ([`spawn`]: clean signal mask and
    /// dispositions, its own session, only its stdio): in the service
    /// directory (a relative program is found there), with the
    /// environment of `on.env`, its output in the service's log, stdin
    /// `/dev/null`, and no sockets or readiness pipe; as the service's
    /// user, with its limits ([`read_context`], read now as a start reads
    /// it: a probe never runs as root for a service that does not).
    /// Returns the pid or the errno.
    pub fn spawn_probe(&mut self, svc: usize, argv: &[String]) -> Result<Pid, i32> {
        let Some((dir, cdir)) = self.cdirs.get(svc).map(|c| (dir_of(c), c)) else {
            return Err(libc::EINVAL);
        };
        let files = ServiceDir::open(dir);
        let envp = match read_exec(&files, "on") {
            Ok(spec) => spec.map(|s| s.envp).unwrap_or_default(),
            Err(e) => return Err(e.errno.unwrap_or(libc::EINVAL)),
        };
        let context = read_context(&files).map_err(|e| e.errno.unwrap_or(libc::EINVAL))?;
        let cwd = instance_cwd(&files);
        drop(files);
        let argv: Vec<CString> = argv
            .iter()
            .map(|a| CString::new(a.as_bytes()).map_err(|_| libc::EINVAL))
            .collect::<Result<_, _>>()?;
        let path = argv.first().cloned().ok_or(libc::EINVAL)?;
        let spec = crate::sys::spawn::ExecSpec { path, argv, envp };
        let stdio: RawFd = match &self.child_stdio {
            Some(fd) => fd.as_raw_fd(),
            None => return Err(libc::EBADF),
        };
        let (mut fds, notes) = self.logs.stdio(svc, dir, stdio, now_ms());
        fds.stdin = None;
        fds.extra.clear();
        let spawned = spawn_in(
            &spec,
            cwd.as_ref().unwrap_or(cdir),
            &fds,
            context.as_ref(),
            None,
        )
        .map_err(|f| f.errno);
        for note in notes {
            self.log(&note);
        }
        spawned
    }
}

/// Where an instance runs: its template's directory (it has none of its
/// own, [`crate::config::instance`]); `None` for any other service, which
/// runs in its directory.
fn instance_cwd(files: &ServiceDir) -> Option<CString> {
    files
        .instance()
        .and_then(|_| CString::new(files.path().as_os_str().as_bytes()).ok())
}

/// A service file that could not be read. Out of descriptors or memory,
/// `program` cannot be executed for now, as temporary as the same errno
/// from the exec (a respawn service backs off and retries); anything else
/// is a configuration error.
fn file_error(e: &crate::config::svcdir::FileError, program: &std::path::Path) -> SpawnError {
    let err = match e.errno {
        Some(errno) => SpawnError::Exec {
            path: program.to_string_lossy().into_owned(),
            errno,
        },
        None => SpawnError::Config(e.to_string()),
    };
    if err.is_transient() {
        err
    } else {
        SpawnError::Config(e.to_string())
    }
}

/// A start with an execution context that failed: a step of the context
/// names its file and what it did; an exec error (`exec`) says the user it
/// ran as.
fn context_error(
    ctx: &ExecContext,
    f: crate::sys::spawn::Failure,
    dir: &std::path::Path,
    exec: SpawnError,
) -> SpawnError {
    let desc = nix::errno::Errno::from_raw(f.errno).desc();
    match step_text(ctx, f.step) {
        Some((file, what)) => {
            SpawnError::Config(format!("{}: {what}: {desc}", dir.join(file).display()))
        }
        None => match (exec, &ctx.creds) {
            (SpawnError::Exec { path, errno }, Some(c)) => SpawnError::Exec {
                path: format!("{path} as user {}", c.name),
                errno,
            },
            (other, _) => other,
        },
    }
}

/// The first descriptor number a service's sockets and stored descriptors
/// get (after stdin, stdout and stderr, as `sd_listen_fds` expects).
const FIRST_PASSED_FD: RawFd = 3;

/// Bind the sockets the service's `sockets` file declares (`specs`, read
/// with its other files; those held from
/// an earlier start are kept) and list what `on` is passed: the sockets,
/// then the stored descriptors, with their names.
/// A service directory kept as a C string, as a path.
fn dir_of(c: &CString) -> &std::path::Path {
    std::path::Path::new(std::ffi::OsStr::from_bytes(c.as_bytes()))
}

fn held_fds(
    table: &mut FdTable,
    svc: usize,
    dir: &std::path::Path,
    specs: Result<Vec<crate::config::sockets::SocketSpec>, FileError>,
    ready_fd: Option<RawFd>,
) -> Result<Vec<(RawFd, String)>, SpawnError> {
    // Out of descriptors, even a missing `sockets` file cannot be looked
    // for (the kernel takes the descriptor number before the path).
    let specs = specs.map_err(|e| file_error(&e, &dir.join("on")))?;
    table
        .set_listeners(svc, specs, crate::fds::listen::bind)
        .map_err(|e| match e.errno {
            Some(errno) => SpawnError::Listen {
                message: e.message,
                errno,
            },
            None => SpawnError::Config(e.message),
        })?;
    let passed: Vec<(RawFd, String)> = table
        .passed(svc)
        .into_iter()
        .map(|(fd, n)| (fd, n.to_string()))
        .collect();
    let last = FIRST_PASSED_FD.saturating_add(passed.len() as RawFd);
    if let Some(n) = ready_fd.filter(|n| (FIRST_PASSED_FD..last).contains(n)) {
        return Err(SpawnError::Config(format!(
            "{}: notification-fd {n} is one of the descriptors the service is passed \
                 ({FIRST_PASSED_FD} to {}); choose {last} or above",
            dir.display(),
            last - 1
        )));
    }
    Ok(passed)
}

/// What the command handling asks of the system
/// ([`crate::control::commands`]): the parts of this host it reads and
/// changes.
impl crate::control::commands::Host for RealHost {
    fn log(&mut self, text: &str) {
        RealHost::log(self, text);
    }

    fn shortage_notes(&self, now: Millis) -> Vec<String> {
        self.shortages.notes(now)
    }

    fn log_ring(&self, svc: Option<usize>) -> Option<&crate::logs::ring::Ring> {
        match svc {
            None => Some(&self.logs.own),
            Some(i) => self.logs.get(i).map(|l| &l.ring),
        }
    }

    fn release_fds(&mut self, svc: usize) -> usize {
        self.fds.release(svc, |l| {
            crate::fds::listen::stop_listening(std::os::fd::AsFd::as_fd(l))
        })
    }

    fn add_dirs(&mut self, dirs: &[PathBuf], listings: Vec<Listing>) {
        RealHost::add_dirs(self, dirs, listings);
    }

    fn send_signal(
        &mut self,
        svc: usize,
        main: Pid,
        sig: Option<i32>,
        all: bool,
    ) -> Result<i32, String> {
        let sig = match sig {
            Some(s) => s,
            None => self.signals_of(svc).1,
        };
        // Every process of the service: its cgroup; without cgroups, the
        // process group `on` leads (it starts in a session of its own).
        if all {
            if let Some(sent) = self.signal_cgroup(svc, sig) {
                return sent.map(|()| sig);
            }
        }
        // sd_notify's MAINPID, when it is another process: it too.
        self.notify.signal_main(svc, main, all, sig);
        super::svcsig::send(main, sig, all)
            .map(|()| sig)
            .map_err(|e| nix::errno::Errno::from_raw(e).desc().to_string())
    }

    fn notify_said(&self, svc: usize) -> (Option<String>, Option<String>) {
        self.notify
            .said(svc)
            .map_or((None, None), |s| (s.status.clone(), s.words()))
    }
}

impl Host for RealHost {
    fn spawn(&mut self, svc: usize, role: Role) -> Result<Spawned, SpawnError> {
        let result = self.spawn_with(svc, role, (None, None), false);
        self.note_start(svc, &result);
        result
    }

    fn spawn_ready(&mut self, svc: usize, fd: i32) -> Result<Spawned, SpawnError> {
        let result = self.spawn_with(svc, Role::On, (Some(fd), None), false);
        self.note_start(svc, &result);
        result
    }

    fn spawn_main(
        &mut self,
        svc: usize,
        ready_fd: Option<i32>,
        watchdog: Option<Millis>,
    ) -> Result<Spawned, SpawnError> {
        let result = self.spawn_with(svc, Role::On, (ready_fd, watchdog), false);
        self.note_start(svc, &result);
        result
    }

    fn start(
        &mut self,
        svc: usize,
        ready_fd: Option<i32>,
        watchdog: Option<Millis>,
    ) -> Result<Spawned, SpawnError> {
        let result = self.spawn_with(svc, Role::On, (ready_fd, watchdog), true);
        self.note_start(svc, &result);
        result
    }

    fn signal_group(&mut self, pgid: Pid, sig: Signal) {
        // Never pgid 0 (our own group), 1 (init's group) or negative (-1 = all).
        if pgid > 1 {
            let _ = nix::sys::signal::killpg(NixPid::from_raw(pgid), sig);
        }
    }

    fn kill_rest(&mut self, svc: usize) -> bool {
        self.kill_cgroup(svc)
    }

    fn populated(&mut self, svc: usize) -> bool {
        self.cgroup_populated(svc)
    }

    fn signal_stop(&mut self, svc: usize, pgid: Pid) {
        let sig = self.signals_of(svc).0;
        let _ = super::svcsig::send(pgid, sig, true);
        // sd_notify's MAINPID, when it left the group.
        self.notify.signal_main(svc, pgid, true, sig);
    }

    fn exit_reason(
        &mut self,
        svc: usize,
        status: crate::sys::process::ExitStatus,
    ) -> Option<String> {
        self.cgroups.oom_reason(svc, status)
    }

    fn report(&mut self, svc: usize, name: &str, r: Report) {
        self.logs.set_name(svc, name);
        // A line per start, finish and failure; `waiting` is the quiet
        // default (a grouping parked by a stop says why), and so is the
        // backoff of a shortage said already.
        let quiet = self.quiet.take() == Some(svc) && r.state == State::Backoff;
        if r.state == State::Waiting && r.detail.is_none() || quiet {
            return;
        }
        // One buffer for the whole line, kept between lines.
        use std::fmt::Write;
        let mut text = std::mem::take(&mut self.report_line);
        text.clear();
        // Writing into a String cannot fail.
        let _ = write!(text, "{} {name}", r.state);
        if let Some(pid) = r.pid {
            let _ = write!(text, " (pid {pid})");
        }
        if let Some(took) = r.took {
            let _ = write!(text, " in {}", seconds(took));
        }
        if let Some(detail) = r.detail {
            text.push_str(": ");
            text.push_str(&detail);
        }
        self.log(&text);
        // A long detail is not kept for good.
        if text.capacity() <= REPORT_LINE_KEPT {
            self.report_line = text;
        }
    }
}
