//! PID 1: boot, then one event loop, forever.
//!
//! Order at start: block signals (so none is lost) → refuse unless PID 1 →
//! signalfd → mount API filesystems → console as stdio → disable
//! ctrl-alt-del → control socket → load the tree → start the root service →
//! loop.
//!
//! Each loop iteration, in this fixed order:
//! 1. `poll()` on the signalfd, the readiness pipes, probe connects, the control socket and
//!    its clients, the log pipes (and the console when output is pending),
//!    with the timeout of the nearest deadline. The only blocking call. Each
//!    descriptor carries its owner's token and results are sorted by token,
//!    never by position (`daemon/event/wake.rs`).
//! 2. Drain the signalfd, if poll says it has something; read the
//!    readiness pipes poll reported (`notification-fd`) and the notify
//!    socket (`notify-socket`, `daemon/event/notify.rs`).
//! 3. Reap every exited child (known services and orphans alike), if a
//!    SIGCHLD came (or without a signalfd: on every wakeup).
//! 4. Control: accept clients, read requests, carry them out.
//! 5. Fire due deadlines (restarts after backoff, stop escalations).
//! 6. Move a shutdown or rescue sequence on ([`crate::daemon::lifecycle`]); move
//!    the `ready-probe`s on (`daemon/event/probing.rs`).
//! 7. Answer pending operations that have completed; expire slow clients.
//! 8. Hand the descriptors let go of to the closer ([`crate::fds::closer`]);
//!    flush the console as far as it goes without blocking.
//! 9. Move a requested hot update on: start the new image's preflight,
//!    judge its answer, and re-execute once it passed and the control
//!    queue is empty (`daemon/event/check.rs`).
//!
//! An iteration that panics is caught and logged; the loop goes on. Nothing
//! here ever returns or exits once the PID-1 check has passed.

use std::os::fd::AsRawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};

use nix::poll::PollFlags;
use nix::sys::signal::Signal;

use crate::config::conf::read_conf;
use crate::config::paths::{profile_from_args, Paths, DEFAULT_ROOT};
use crate::config::tree::Tree;
use crate::control::commands::Services;
use crate::control::pending::Pending;
use crate::control::Control;
use crate::daemon::host::RealHost;
use crate::daemon::lifecycle::{action_for_signal, admit, Requester, Sequence, Step};
use crate::daemon::{boot, emergency};
use crate::engine::Engine;
use crate::proto::Reply;
use crate::sys::clock::seconds;
use crate::sys::clock::Millis;
use crate::sys::clock::{now_ms, poll_timeout};
use crate::sys::console::Console;
use crate::sys::process::Pid;
use crate::sys::reap::reap;
use crate::sys::signals::{block_handled, SignalSource};
use crate::update::snapshot;
use crate::update::{self, Handover, SelfExec};

mod system;

mod hot;

mod ready;

mod notify;

mod fds;

mod probing;

mod failure;
mod watchdog;

mod check;

mod wake;
use wake::Woken;

mod serve;
use serve::{answer_pending, serve_batch};

#[cfg(test)]
mod tests;

/// A process the lifecycle waits for: `conf/last`, the final sync child, or
/// the rescue shell. Not a service: the engine does not know it.
struct Helper {
    pid: Pid,
    what: &'static str,
    since: Millis,
}

struct Daemon {
    host: RealHost,
    engine: Engine,
    tree: Tree,
    paths: Paths,
    /// How to re-execute this binary for a hot update.
    exec: SelfExec,
    signals: Option<SignalSource>,
    control: Option<Control>,
    pending: Vec<Pending>,
    /// More children may be waiting to be reaped.
    reap_pending: bool,
    /// A shutdown or rescue in progress (the first request wins).
    sequence: Option<Sequence>,
    /// The client that asked for the sequence, and until when processes
    /// are not signalled while it is still connected (so it can print the
    /// answer before `kill(-1)` reaches it).
    requester: Option<Requester>,
    helper: Option<Helper>,
    /// The rescue shell a shutdown took over from (it gets SIGHUP).
    former_shell: Option<Pid>,
    /// The shutdown under way was begun by a failed service's
    /// `on-failure`: its exit status, cinit's own in a container
    /// (`daemon/event/failure.rs`).
    failure_exit: Option<i32>,
    /// A hot update was requested; done at the end of an iteration.
    update_requested: bool,
    /// Clients waiting for the result of the update.
    update_waiters: Vec<u64>,
    /// The new image's preflight, while it runs (see `daemon/event/check.rs`).
    preflight: Option<crate::update::preflight::Running>,
    /// `ready-probe` tries in flight (see `daemon/event/probing.rs`).
    probes: crate::ready::prober::Probes,
}

/// While processes are being waited for at shutdown, look again this often
/// even without a SIGCHLD (the last one may not be our child).
const RECHECK_MS: Millis = 50;
/// Consecutive failed loop iterations before the emergency path.
const MAX_FAILED_ITERATIONS: u32 = 100;

impl Daemon {
    /// The nearest time something must happen without outside input.
    fn next_deadline(&self, now: Millis) -> Option<Millis> {
        let recheck = self
            .sequence
            .as_ref()
            .filter(|s| matches!(s.step(), Step::Term | Step::Kill))
            .map(|_| now.saturating_add(RECHECK_MS));
        [
            self.engine.next_deadline(),
            self.control.as_ref().and_then(Control::next_deadline),
            self.sequence.as_ref().and_then(Sequence::deadline),
            self.host.logs.next_deadline(),
            self.preflight.as_ref().map(|p| p.deadline),
            self.host.shortages.deadline(),
            crate::fds::closer::next_deadline(),
            self.probes.next_deadline(),
            // A process spawned with a probe since it was last looked at.
            self.engine.has_probe_starts().then_some(now),
            // A failure `on-failure` has not acted on yet.
            self.engine.has_failures().then_some(now),
            // While the requester may still be there, look every RECHECK_MS
            // (its exit is no event of ours).
            self.requester
                .map(|r| r.until().min(now.saturating_add(RECHECK_MS))),
            recheck,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Hand what came from outside and was let go of to the closer
    /// ([`crate::fds::closer`]). No new closer is started while a shutdown waits
    /// for every process to be gone: it would be waited for too.
    fn flush_closer(&self, now: Millis) {
        crate::fds::closer::hold_starts(
            self.sequence
                .as_ref()
                .is_some_and(|s| matches!(s.step(), Step::Term | Step::Kill)),
        );
        crate::fds::closer::flush(now);
    }

    /// The refusal message for state changes while the system goes down.
    fn frozen(&self) -> Option<String> {
        self.sequence
            .as_ref()
            .filter(|s| s.step() != Step::Shell)
            .map(|s| format!("the system is going down ({})", s.goal().word()))
    }

    /// One iteration of the loop (see the module doc for the order).
    fn iterate(&mut self) {
        crate::control::fault::on_iteration();
        let now = now_ms();
        let mut timeout = poll_timeout(now, self.next_deadline(now));
        if self.signals.is_none() {
            // Degraded: without a signalfd, reap on a short timer.
            timeout = Some(timeout.map_or(100, |t| t.min(100)));
        }
        if self.reap_pending || self.control.as_ref().is_some_and(Control::has_ready) {
            timeout = Some(0); // work is waiting: do not sleep
        }
        let Woken {
            signalled,
            control: control_events,
            logs: log_events,
            ready: ready_events,
            probes: probe_events,
            preflight: preflight_event,
            notify: notify_event,
        } = self.wait(now, timeout);
        // The wait may have lasted the whole idle time: lines read now are
        // stamped with the time they were read, not the time the loop slept.
        let now = now_ms();
        // Before anything can add a log.
        self.host.read_logs(now, &log_events);
        if signalled {
            self.drain_signals();
        }
        let now = now_ms();
        self.read_readiness(now, &ready_events);
        if notify_event {
            self.read_notify(now);
        }
        if preflight_event {
            if let Some(p) = self.preflight.as_mut() {
                p.read();
            }
        }
        // Without a signalfd, no SIGCHLD tells when: reap on every wakeup.
        if self.reap_pending || self.signals.is_none() {
            // As for `tick_logs` below: no log writer starts meanwhile.
            let going_down = self.engine.is_halting() || self.sequence.is_some();
            let (engine, host, helper) = (&mut self.engine, &mut self.host, &mut self.helper);
            let preflight = &mut self.preflight;
            let probes = &mut self.probes;
            // Orphans (pids the engine does not own) are reaped silently.
            self.reap_pending = reap(|pid, status| {
                // The new image's preflight: never a service.
                if let Some(p) = preflight.as_mut().filter(|p| p.pid == pid) {
                    p.status = Some(status);
                    return;
                }
                // A closer (crate::fds::closer) is nobody's business but its own.
                if crate::fds::closer::reaped(pid) {
                    return;
                }
                // A probe program: its exit 0 makes its service ready.
                match probes.reaped(now, pid, status) {
                    Some(Some(main)) => {
                        engine.ready(host, now, main);
                        return;
                    }
                    Some(None) => return,
                    None => {}
                }
                // Gone: its readiness pipe (if any) can say nothing more.
                host.ready.forget(pid);
                if let Some(h) = helper.take_if(|h| h.pid == pid) {
                    let took = seconds(now.saturating_sub(h.since));
                    host.log(&format!("{} (pid {pid}) ended in {took}: {status}", h.what));
                    return;
                }
                // A log writer, or a service process whose output is read
                // to its end before the engine hears of the exit.
                if host.reaped(now, pid, status, going_down) {
                    return;
                }
                engine.child_exited(host, now, pid, status);
            });
            // The stops waiting for a cgroup to empty look again: a
            // process of it may be among those just reaped.
            self.engine.recheck_drains(&mut self.host, now);
        }
        self.serve_control(now, &control_events);
        let now = now_ms();
        // What the requests let go of, before anything else runs.
        self.flush_closer(now);
        self.engine.tick(&mut self.host, now);
        // After reaping, requests and deadlines, which may fail services.
        self.on_failures(now);
        // No log writer starts while a shutdown or rescue is under way.
        let going_down = self.engine.is_halting() || self.sequence.is_some();
        self.host.tick_logs(now, going_down);
        self.host.tick_shortages(now);
        self.drive_sequence(now);
        // After reaping and the deadlines: see `daemon/event/probing.rs`.
        self.run_probes(now_ms(), &probe_events);
        self.answer_pending(now);
        if let Some(control) = self.control.as_mut() {
            crate::control::logfollow::feed_all(&mut self.pending, &self.host.logs, control, now);
        }
        if let Some(control) = self.control.as_mut() {
            control.expire(now);
        }
        // Whatever came from outside and was let go of in this iteration.
        self.flush_closer(now_ms());
        self.host.console.flush();
        self.drive_update(now_ms());
    }

    fn serve_control(&mut self, now: Millis, events: &[(crate::control::PollKey, PollFlags)]) {
        let frozen = self.frozen();
        let Some(control) = self.control.as_mut() else {
            return;
        };
        let requests = if events.is_empty() && !control.has_ready() {
            Vec::new()
        } else {
            let (engine, host) = (&self.engine, &self.host);
            let may_pass = |uid, pid| {
                fds::may_pass_fds(engine, uid, || fds::session_of(pid), |svc| host.dir(svc))
            };
            control.handle_events(now, events, &may_pass)
        };
        let mut sv = Services {
            frozen,
            engine: &mut self.engine,
            tree: &mut self.tree,
            host: &mut self.host,
        };
        let reply = |client, r: Reply| control.reply(client, now, &r);
        let (fd_requests, system) = serve_batch(&mut sv, now, requests, &mut self.pending, reply);
        for inc in fd_requests {
            self.fd_request(now, inc);
        }
        for (client, action) in system {
            self.system_request(now, client, action);
        }
    }

    /// Reply to every pending operation that has completed
    /// ([`answer_pending`]).
    fn answer_pending(&mut self, now: Millis) {
        let Some(control) = self.control.as_mut() else {
            self.pending.clear();
            return;
        };
        let mut sv = Services {
            frozen: None,
            engine: &mut self.engine,
            tree: &mut self.tree,
            host: &mut self.host,
        };
        let connected = |c| control.is_connected(c);
        let mut replies = Vec::new();
        answer_pending(&mut sv, &mut self.pending, now, connected, |c, r| {
            replies.push((c, r))
        });
        for (client, reply) in replies {
            control.reply(client, now, &reply);
        }
    }

    fn drain_signals(&mut self) {
        let Some(source) = self.signals.as_mut() else {
            return;
        };
        let mut actions = Vec::new();
        while let Some(sig) = source.read() {
            if sig.signal == Signal::SIGCHLD as i32 {
                // One SIGCHLD stands for any number of exits: reap them all.
                self.reap_pending = true;
                continue;
            }
            let who = format!("from pid {} uid {}", sig.pid, sig.uid);
            if !sig.privileged() {
                self.host
                    .log(&format!("ignoring {} {who}: not root", sig.name()));
                continue;
            }
            let Some(action) = action_for_signal(sig.signal) else {
                continue;
            };
            actions.push((action, format!("{} {who}", sig.name())));
        }
        let now = now_ms();
        for (action, what) in actions {
            // One line per signal: what was received, or why it is refused.
            if let Err(why) = admit(self.sequence.as_ref(), action) {
                self.host.log(&format!("{what}: {why}"));
                continue;
            }
            self.host.log(&format!("received {what}"));
            if let Err(why) = self.begin_action(now, action, None) {
                self.host.log(&why);
            }
        }
    }
}

mod start;
pub use start::main;
