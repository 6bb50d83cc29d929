//! The engine's window on the real system: spawning (stdio from the
//! service's log, [`crate::logs`], and a readiness pipe at
//! `notification-fd`), signalling process groups, and logging state changes.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use nix::sys::signal::Signal;
use nix::unistd::Pid as NixPid;

use crate::config::dirlist::{Kept, Listing};
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

// Spawning a service's `on`/`off` and a probe: `host/spawn.rs`.
mod spawn;
use spawn::dir_of;

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
