//! Hot update, the daemon's side: write the snapshot and re-execute
//! ([`Daemon::hot_update`]), and carry on from a snapshot in the new image
//! ([`Daemon::restore`]).
//!
//! Part of [`crate::daemon`] (a child module sharing the daemon's state).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::start::signals_or_log;
use super::Daemon;
use crate::config::paths::Paths;
use crate::config::tree::Tree;
use crate::control::pending;
use crate::control::Control;
use crate::daemon::host::RealHost;
use crate::engine::Engine;
use crate::fds::store::FdTable;
use crate::proto::wire::Sections;
use crate::proto::{ErrorCode, Reply};
use crate::ready::pipe::ReadyPipes;
use crate::sys::clock::Millis;
use crate::sys::console::Console;
use crate::sys::signals::SignalSource;
use crate::update::snapshot::{self, Lost, Snapshot, TAG_CONSOLE, TAG_WAITER};
use crate::update::{self, OpenFds, SelfExec};

/// Adopt descriptor `fd` from the previous image, if it was handed over
/// open.
fn adopt_fd(fd: i32, open: &OpenFds) -> Option<OwnedFd> {
    // SAFETY: the snapshot names the descriptor as one the previous image
    // owned and handed over; it is open, and nothing else here owns it.
    (fd >= 3 && open.contains(fd)).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

impl Daemon {
    /// The descriptors a hot update hands to the next image: the control
    /// socket and its clients, and both console descriptors.
    fn handed_fds(&self) -> Vec<i32> {
        let mut fds: Vec<i32> = self
            .control
            .as_ref()
            .map(Control::raw_fds)
            .unwrap_or_default();
        fds.extend(self.host.console.fd().map(|f| f.as_raw_fd()));
        fds.extend(self.host.child_stdio.as_ref().map(|f| f.as_raw_fd()));
        fds.extend(self.host.logs.raw_fds());
        fds.extend(self.host.ready.raw_fds());
        fds.extend(self.host.fds.raw_fds());
        fds.extend(self.host.notify.raw_fd());
        fds
    }

    /// After a restore: operations naming services that were not restored,
    /// and busy clients that nothing would ever answer, get an error now
    /// instead of waiting forever.
    fn drop_unanswerable(&mut self, waiters: &[u64], lost: &mut Lost) {
        let n = self.engine.len();
        let now = crate::sys::clock::now_ms();
        let (keep, stale): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.services().all(|i| i < n));
        self.pending = keep;
        let Some(control) = self.control.as_mut() else {
            return;
        };
        let answered: Vec<u64> = self
            .pending
            .iter()
            .map(pending::Pending::client)
            .chain(waiters.iter().copied())
            .collect();
        let orphaned: Vec<u64> = control
            .busy_clients()
            .into_iter()
            .filter(|c| !answered.contains(c))
            .collect();
        if !stale.is_empty() || !orphaned.is_empty() {
            lost.push(format!(
                "{} requests in progress (their clients get an error)",
                orphaned.len()
            ));
        }
        let reply = Reply::Error {
            code: ErrorCode::Failed,
            message: "the request was lost in a hot update of cinit; send it again".into(),
        };
        for c in orphaned {
            control.reply(c, now, &reply);
        }
    }

    /// Re-execute cinit, the image open at `image` (proved by its
    /// preflight), with a snapshot of everything in `format` (one the new
    /// image said it reads). Returns only if the exec failed; the daemon
    /// then carries on unchanged.
    pub(super) fn hot_update(&mut self, now: Millis, image: i32, format: u16) {
        // The exec would close what is not handed over in this thread:
        // clients with descriptors in transit go to the closer first, and
        // everything queued for it must have gone.
        if let Some(control) = self.control.as_mut() {
            control.drop_unhanded();
        }
        crate::fds::closer::flush(now);
        let waiting = crate::fds::closer::pending();
        if waiting > 0 {
            let message = format!(
                "update refused: {waiting} descriptors wait to be closed (no closer process \
                 can be started now); try again"
            );
            self.cancel_update(now, &message);
            return;
        }
        let path = self
            .exec
            .path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        self.host.log(&format!(
            "update: re-executing {path} with {} services",
            self.engine.len()
        ));
        let mut sections = Sections::default();
        self.tree.save(&mut sections);
        self.engine.save(&mut sections);
        self.engine.save_timeline(&mut sections);
        let (queued, dropped) = self.host.console.export();
        let log_fd = self.host.console.fd().map_or(-1, |f| f.as_raw_fd());
        let child_fd = self.host.child_stdio.as_ref().map_or(-1, |f| f.as_raw_fd());
        sections.put(TAG_CONSOLE, |o| {
            o.i32(log_fd);
            o.i32(child_fd);
            o.bytes(&queued);
            o.u64(dropped);
        });
        if let Some(control) = &self.control {
            control.save(&mut sections);
        }
        pending::save_all(&self.pending, &mut sections);
        self.host.logs.save(&mut sections);
        self.host.ready.save(&mut sections);
        self.host.fds.save(&mut sections);
        if let Some(fd) = self.host.notify.raw_fd() {
            crate::ready::notify_sock::save(fd, self.host.notify.dropped, &mut sections);
        }
        for &w in &self.update_waiters {
            sections.put(TAG_WAITER, |o| o.u64(w));
        }
        let snap = Snapshot {
            writer: crate::version(),
            sections,
        };
        let bytes = snapshot::encode_as(snap, format);
        // Probes in flight are not handed over: their sockets would close at
        // the exec anyway, and a probe program left running would be an
        // orphan of the new cinit, running on past its deadline. The new
        // cinit probes the services still `starting` from scratch.
        self.probes.drop_all();
        let why = update::exec_with_snapshot(&self.exec, image, &bytes, &self.handed_fds());
        // Still here: the exec failed; probe again what was being probed.
        self.engine.requeue_probes();
        // Otherwise nothing changed.
        let message = format!("update failed: {why}; the running cinit carries on");
        self.cancel_update(now, &message);
    }

    /// Tell everyone waiting for an update that it did not happen.
    pub(super) fn cancel_update(&mut self, now: Millis, message: &str) {
        self.host.log(message);
        let message = message.to_string();
        let waiters = std::mem::take(&mut self.update_waiters);
        if let Some(control) = self.control.as_mut() {
            let reply = Reply::Error {
                code: ErrorCode::Failed,
                message,
            };
            for c in waiters {
                control.reply(c, now, &reply);
            }
        }
    }

    /// Carry on from the previous image's snapshot: adopt its descriptors,
    /// services and clients; report what could not be adopted.
    pub(super) fn restore(
        snap: Snapshot,
        mut lost: Lost,
        signals: nix::Result<SignalSource>,
        paths: Paths,
        exec: SelfExec,
    ) -> Daemon {
        // The limit stays raised across `execve`; the original comes along.
        let limit_note = crate::sys::nofile::raise_at_start(true);
        // What was handed over open, asked once (one poll per 1024
        // descriptors, not one fcntl each): only those are adopted.
        let open = OpenFds::scan();
        let is_open = |fd| open.contains(fd);
        let console = snap.sections.read_last(TAG_CONSOLE, &mut lost, |p| {
            Some((p.i32()?, p.i32()?, p.bytes()?, p.u64()?))
        });
        let (log_fd, child_fd, pending, dropped) = match console {
            Some((log, child, pending, dropped)) => (
                adopt_fd(log, &open),
                adopt_fd(child, &open),
                pending,
                dropped,
            ),
            None => (None, None, Vec::new(), 0),
        };
        let waiters = snap.sections.read_all(TAG_WAITER, &mut lost, |p| p.u64());
        let waiters: Vec<u64> = waiters.into_iter().flatten().collect();
        let (log_fd, child_fd) = match (log_fd, child_fd) {
            (Some(l), Some(c)) => (Some(l), Some(c)),
            _ => {
                lost.push("console descriptors lost; console opened again".to_string());
                let (fds, _) = crate::daemon::boot::setup_console(&paths.console);
                (fds.log, fds.child)
            }
        };
        crate::daemon::emergency::set_console(
            log_fd.as_ref().map_or(-1, |f| f.as_raw_fd()),
            child_fd.as_ref().map_or(-1, |f| f.as_raw_fd()),
        );
        let mut host = RealHost::new(Console::adopt(log_fd, pending, dropped), child_fd);
        host.logs
            .console_is_kernels(crate::config::paths::is_kernel_console(&paths.console));
        let signals = signals_or_log(&mut host, signals);
        let control = Control::load(&snap.sections, is_open, &mut lost);
        // Readiness pipes: every descriptor adopted so far is taken.
        let mut taken: Vec<i32> = control.as_ref().map(Control::raw_fds).unwrap_or_default();
        taken.extend(host.console.fd().map(|f| f.as_raw_fd()));
        taken.extend(host.child_stdio.as_ref().map(|f| f.as_raw_fd()));
        taken.extend(signals.as_ref().map(|s| s.fd().as_raw_fd()));
        let (ready, notes) = ReadyPipes::load(&snap.sections, &taken, &mut lost);
        for n in notes {
            lost.push(format!(
                "{n}; its service stays starting until it exits or times out"
            ));
        }
        host.ready = ready;
        let (engine, notes) =
            Engine::load(&snap.sections, |l| crate::config::probe::parse_line(l).ok());
        lost.extend(notes);
        let services = engine.len();
        let (engine, tree) = match Tree::load(&snap.sections, &mut lost) {
            Some(tree) if tree.dirs.len() == services => {
                host.add_dirs(&tree.dirs, Vec::new());
                host.logs.load(&snap.sections, services, is_open, &mut lost);
                // Held descriptors: every descriptor adopted so far is taken.
                taken.extend(host.ready.raw_fds());
                taken.extend(host.logs.raw_fds());
                host.fds = FdTable::load(&snap.sections, services, is_open, &taken, &mut lost);
                taken.extend(host.fds.raw_fds());
                let (sock, dropped) =
                    crate::ready::notify_sock::load(&snap.sections, &taken, is_open, &mut lost);
                host.notify.adopt(sock, dropped);
                (engine, tree)
            }
            _ => {
                lost.push(format!(
                    "the service tree was lost; {services} services keep running \
                     unsupervised"
                ));
                (Engine::new(Vec::new()), Tree::new(&paths.svc))
            }
        };
        let mut daemon = Daemon::assemble(host, engine, tree, paths, exec, signals, control);
        // The old cinit's probes were dropped before the exec: probe the
        // services still `starting` again, from the first try.
        daemon.engine.requeue_probes();
        // The watchdogs' deadlines are not in the snapshot: armed afresh.
        daemon.engine.rearm_watchdogs(crate::sys::clock::now_ms());
        daemon.pending = pending::load_all(&snap.sections, &mut lost);
        daemon.drop_unanswerable(&waiters, &mut lost);
        // A descriptor the snapshot handed over but nothing adopted is closed.
        let mut keep = daemon.handed_fds();
        keep.extend(daemon.signals.as_ref().map(|s| s.fd().as_raw_fd()));
        // Made by this image while adopting the clients, not handed over.
        keep.extend(
            daemon
                .control
                .as_ref()
                .map(Control::pidfds)
                .unwrap_or_default(),
        );
        let closed = update::close_others(&keep);
        // Adopted descriptors are ours again: close-on-exec, as at boot (one
        // system call for all of them: only ours are left open).
        update::cloexec_all(&keep);
        crate::sys::spawn::reserve_prefix();
        if daemon.control.is_none() {
            // The old listener is closed by now, so its socket file is stale
            // and a fresh one takes its place.
            match Control::open(&daemon.paths.ctl) {
                Ok((control, _)) => {
                    lost.push("control clients lost; listening again".to_string());
                    daemon.control = Some(control);
                }
                Err(e) => lost.push(format!("no control socket: {e}")),
            }
        }
        let version = crate::version();
        let from = if snap.writer.is_empty() {
            "an unknown version".to_string()
        } else {
            snap.writer
        };
        daemon.host.log(&format!(
            "cinit {version} took over from cinit {from} as PID 1: {} services kept",
            daemon.engine.len()
        ));
        if let Some(note) = limit_note {
            daemon.host.log(&note);
        }
        // The base the former image took (PID 1 is in its own leaf of
        // it): every service's cgroup is kept as it is.
        let (cg, line) =
            super::super::contain::Contain::setup(&daemon.paths.svc, &daemon.paths.ctl, true);
        daemon.host.cg = cg;
        daemon.host.log(&line);
        if closed > 0 {
            daemon.host.log(&format!(
                "update: closed {closed} descriptor(s) nobody owns"
            ));
        }
        for l in &lost {
            daemon.host.log(&format!("update: lost: {l}"));
        }
        let now = crate::sys::clock::now_ms();
        let message = if lost.is_empty() {
            format!("updated: cinit {version} is running (was {from})")
        } else {
            format!(
                "updated with losses: cinit {version} is running (was {from}); {}",
                lost.join("; ")
            )
        };
        if let Some(control) = daemon.control.as_mut() {
            for c in waiters {
                control.reply(
                    c,
                    now,
                    &Reply::Ok {
                        message: Some(message.clone()),
                    },
                );
            }
        }
        daemon
    }
}
