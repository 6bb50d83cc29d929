//! sd_notify in the event loop: read the notify socket without blocking
//! (at most [`MAX_PER_WAKE`] datagrams per wake-up), tell which service
//! sent each one, and act on it.
//!
//! Part of [`crate::daemon`] (a child module sharing the daemon's state).
//! It runs where the readiness pipes are read: after the signalfd, before
//! reaping, so a `READY=1` sent just before an exit counts.
//!
//! Who sent: the kernel's credentials (`SCM_CREDENTIALS`) give the
//! sender's pid. The process is pinned with a pidfd first; then, with
//! cgroups, its `/proc/PID/cgroup` must be a `notify-socket` service's
//! cgroup, and without them its session must be one led by such a
//! service's main process (each service starts in a session of its own);
//! and the pinned process must still be alive afterwards, so what was read
//! was that process's and not a successor's with the same pid. The pid
//! could in principle have been reused between the send and the pin (the
//! sender exited and was reaped, and a new process got its number); the
//! newcomer is then judged as itself, and speaks only for its own service.
//!
//! Whatever is dropped (cut by the kernel, malformed, from a process that
//! is no service's) is counted; descriptors that came with it, and any not
//! stored, go to the closer ([`crate::fds::closer`]), never closed here.
//!
//! The functions here are `#[inline(never)]`: inlined into the loop's
//! body they cost about 1.2 KB more of PID 1's text (measured both ways).

use nix::errno::Errno;

use super::Daemon;
use crate::daemon::notify::{alive, pin};
use crate::fds::store::{self, Foreign};
use crate::ready::notify::{parse, Message, MAX_DATAGRAM};
use crate::ready::notify_sock::{self, MAX_PER_WAKE};
use crate::sys::clock::Millis;
use crate::sys::process::Pid;

impl Daemon {
    /// Read what the notify socket holds (it was reported readable).
    #[inline(never)]
    pub(super) fn read_notify(&mut self, now: Millis) {
        let mut buf = [0u8; MAX_DATAGRAM];
        for _ in 0..MAX_PER_WAKE {
            let Some(sock) = self.host.notify.fd() else {
                return;
            };
            let d = match notify_sock::recv(sock, &mut buf) {
                Ok(d) => d,
                Err(Errno::EINTR) => continue,
                Err(_) => return,
            };
            // Owned by the closer's wrapper from here: dropping one never
            // closes it on this thread.
            let fds: Vec<Foreign> = d.fds.into_iter().map(Foreign::new).collect();
            if d.truncated {
                let why = "cut by the kernel (too long, or too many descriptors)";
                self.notify_dropped(d.pid, why, "");
                continue;
            }
            let Some(svc) = self.notify_sender(d.pid) else {
                self.notify_dropped(d.pid, "not a process of a notify-socket service", "");
                continue;
            };
            match parse(buf.get(..d.bytes).unwrap_or(&[])) {
                Ok(msg) => self.notify_act(now, svc, msg, fds),
                Err(e) => self.notify_dropped(d.pid, e.why(), e.key()),
            }
        }
    }

    /// Count a dropped datagram; a line in cinit's log at the 1st, 2nd,
    /// 4th, 8th… drop, so a flood cannot fill the log.
    fn notify_dropped(&mut self, pid: Pid, why: &str, key: &str) {
        let n = self.host.notify.dropped.saturating_add(1);
        self.host.notify.dropped = n;
        if n.is_power_of_two() {
            self.host.log(&format!(
                "notify socket: dropped a datagram from pid {pid}: {why}{key} ({n} dropped in all)"
            ));
        }
    }

    /// A line about what service `name` asked for over sd_notify.
    fn notify_note(&mut self, name: &str, what: &str, why: &dyn std::fmt::Display) {
        self.host.log(&format!("{name}: {what}: {why}"));
    }

    /// The `notify-socket` service process `pid` belongs to (see the
    /// module doc), if any.
    fn notify_sender(&self, pid: Pid) -> Option<usize> {
        self.notify_member(pid).map(|(svc, _)| svc)
    }

    /// [`Daemon::notify_sender`], with the pidfd that pinned the process.
    #[inline(never)]
    fn notify_member(&self, pid: Pid) -> Option<(usize, std::os::fd::OwnedFd)> {
        let pinned = pin(pid)?;
        let svc = match self.host.cgroup_of_pid(pid) {
            Some(path) => {
                let is = |i: usize| self.host.cgroup_path(i).as_deref() == Some(path.as_str());
                // Its session's service first (one look-up), else any
                // `notify-socket` service (a process that left its session).
                session_leader(pid)
                    .and_then(|sid| self.engine.notifier_led_by(sid))
                    .filter(|&i| is(i))
                    .or_else(|| (0..self.engine.len()).find(|&i| self.engine.notifies(i) && is(i)))
            }
            None => session_leader(pid).and_then(|sid| self.engine.notifier_led_by(sid)),
        };
        svc.filter(|_| alive(&pinned)).map(|svc| (svc, pinned))
    }

    /// Act on one message from a process of service `svc`; `fds` came
    /// with it.
    #[inline(never)]
    fn notify_act(&mut self, now: Millis, svc: usize, msg: Message, mut fds: Vec<Foreign>) {
        let name = self
            .engine
            .status(svc)
            .map(|s| s.name.to_string())
            .unwrap_or_default();
        if let Some(pid) = msg.mainpid {
            match self.notify_member(pid) {
                Some((of, pinned)) if of == svc => self.host.notify.set_main(svc, pid, pinned),
                _ => {
                    let why = format!("not a process of {name}");
                    self.notify_note(&name, &format!("MAINPID={pid} refused"), &why);
                }
            }
        }
        if let Some(s) = self.host.notify.said_mut(svc) {
            if let Some(text) = msg.status.clone() {
                s.status = Some(text);
            }
            s.stopping |= msg.stopping;
            // Reloading lasts until the next READY=1 (systemd's meaning).
            s.reloading = (s.reloading || msg.reloading) && !msg.ready;
            if msg.errno.is_some() {
                s.errno = msg.errno;
            }
        }
        if msg.fdstore {
            self.notify_store(svc, &name, msg.fd_name(), &mut fds);
        }
        if msg.fdstore_remove {
            // Removed descriptors go to the closer as they drop.
            if let Err(e) = self.host.fds.drop_stored(svc, msg.fd_name()) {
                self.notify_note(&name, "FDSTOREREMOVE", &e);
            }
        }
        if let Some(ms) = msg.extend_ms {
            self.engine.extend_deadline(svc, now, ms);
        }
        if msg.watchdog {
            self.watchdog_ping(svc, now);
        }
        if msg.watchdog_trigger {
            self.watchdog_trigger(svc, now);
        }
        if msg.ready {
            if let Some(main) = self.engine.status(svc).and_then(|s| s.pid) {
                self.engine.ready(&mut self.host, now, main);
            }
        }
        // Descriptors not stored are dropped here, to the closer.
        drop(fds);
    }

    /// `FDSTORE=1`: the first descriptor into service `svc`'s store under
    /// `fd_name`, with `cinit-ctl fdstore put`'s limits and duplicate check
    /// (a name holds one descriptor there); any others are dropped.
    #[inline(never)]
    fn notify_store(&mut self, svc: usize, name: &str, fd_name: &str, fds: &mut Vec<Foreign>) {
        if fds.is_empty() {
            return;
        }
        let fd = fds.remove(0);
        let stored = match self.host.dir(svc).map(store::read_capacity) {
            Some(Ok(n)) => self.host.fds.store(svc, fd_name, fd, n, store::same_file),
            Some(Err(e)) => return self.notify_note(name, "FDSTORE refused", &e),
            None => return,
        };
        if let Err(e) = stored {
            self.notify_note(name, "FDSTORE refused", &e);
        }
        if !fds.is_empty() {
            let why = "one descriptor per name; the others are closed";
            self.notify_note(name, "FDSTORE", &why);
        }
    }
}

/// The session of `pid` (`getsid`), if it can be read.
fn session_leader(pid: Pid) -> Option<Pid> {
    let p = (pid > 0).then(|| nix::unistd::Pid::from_raw(pid))?;
    nix::unistd::getsid(Some(p)).ok().map(|s| s.as_raw())
}
