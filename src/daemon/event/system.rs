//! The daemon's side of the lifecycle: accepting system actions (from
//! signals and from `cinit-ctl`), and carrying out the commands of a
//! shutdown or rescue [`Sequence`]. What is decided (which action may
//! begin, how long the requester is waited for, how a goal ends) is in
//! [`crate::daemon::lifecycle`], pure and unit-tested; here it is carried
//! out.
//!
//! Part of [`crate::daemon`] (a child module sharing the daemon's state).

use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;

use nix::errno::Errno;
use nix::sys::signal::Signal;

use super::{Daemon, Helper};
use crate::config::conf::{read_conf, shell_spec};
use crate::config::dirlist::ServiceDir;
use crate::config::svcdir::read_exec;
use crate::control::Control;
use crate::daemon::lifecycle::{admit, container_exit_status, reboot_mode};
use crate::daemon::lifecycle::{Command, Facts, Requester, Sequence, Step};
use crate::proto::{ErrorCode, Reply, SystemAction};
use crate::sys::clock::Millis;
use crate::sys::ops;
use crate::sys::process::Pid;
use crate::sys::spawn::{spawn, spawn_shell, ChildFds};

impl Daemon {
    /// A system action requested over the control socket by `client`.
    pub(super) fn system_request(&mut self, now: Millis, client: u64, a: SystemAction) {
        let reply = match self.begin_action(now, a, Some(client)) {
            // The update is answered by whichever image comes out of it.
            Ok(_) if a == SystemAction::Update => return,
            Ok(message) => Reply::Ok {
                message: Some(message),
            },
            Err(message) => {
                self.host.log(&message);
                Reply::Error {
                    code: ErrorCode::Failed,
                    message,
                }
            }
        };
        if let Some(control) = self.control.as_mut() {
            control.reply(client, now, &reply);
        }
    }

    /// Start `action` unless another one is in progress (the first wins).
    /// Returns what to tell the requester.
    pub(super) fn begin_action(
        &mut self,
        now: Millis,
        action: SystemAction,
        client: Option<u64>,
    ) -> Result<String, String> {
        admit(self.sequence.as_ref(), action)?;
        if self.sequence.is_some() {
            // Leaving the rescue shell for a shutdown: the shell is just one
            // more process for the global kill now, which an interactive
            // shell ignores; it gets SIGHUP with it.
            self.former_shell = self.helper.take().map(|h| h.pid);
        }
        match action {
            SystemAction::Update => {
                self.listen_again(now);
                self.update_requested = true;
                self.update_waiters.extend(client);
                Ok("update: re-executing cinit".to_string())
            }
            goal => {
                // Another cause than a failure (`on-failure` sets it anew).
                self.failure_exit = None;
                let (conf, problems) = read_conf(&self.paths.conf);
                for p in problems {
                    self.host.log(&format!("config: conf: {p}"));
                }
                let (seq, commands) = Sequence::begin(goal, now, conf.sleep_before_kill_s);
                self.sequence = Some(seq);
                self.requester = client.map(|c| {
                    Requester::new(c, self.control.as_ref().and_then(|x| x.peer_pid(c)), now)
                });
                for c in commands {
                    self.run_command(now, c);
                }
                Ok(match goal {
                    SystemAction::Rescue => {
                        "rescue: stopping everything, then starting a shell".into()
                    }
                    g => format!("{}: shutting down", g.word()),
                })
            }
        }
    }

    /// Before a hot update (SIGCONT or `cinit-ctl update`): if the control
    /// socket's path no longer names our socket (removed, replaced, or its
    /// tmpfs unmounted), or there is no control socket at all, listen there
    /// again. The update then hands the new socket over.
    fn listen_again(&mut self, now: Millis) {
        let note = match self.control.as_mut() {
            Some(control) => control.ensure_listening(now),
            None => match Control::open(&self.paths.ctl) {
                Ok((control, _)) => {
                    let note = format!("listening on {}", control.path().display());
                    self.control = Some(control);
                    Some(note)
                }
                Err(e) => Some(format!("still no control socket: {e}")),
            },
        };
        if let Some(note) = note {
            self.host.log(&note);
        }
    }

    /// Move the sequence on as far as it goes now.
    pub(super) fn drive_sequence(&mut self, now: Millis) {
        if self.sequence.is_none() {
            self.requester = None;
        }
        // Each round moves at least one step forward, and there are fewer
        // than ten steps: the bound only guards against a bookkeeping bug.
        for _ in 0..16 {
            let Some(seq) = self.sequence.as_mut() else {
                return;
            };
            let others = if matches!(seq.step(), Step::Term | Step::Kill) {
                // Unknown (no /proc): assume something is left and wait.
                ops::count_others().unwrap_or(1)
            } else {
                0
            };
            // The requester may still be printing our answer.
            let requester_waits = self.requester.is_some_and(|r| {
                let connected = self
                    .control
                    .as_ref()
                    .is_some_and(|x| x.is_connected(r.client));
                r.waits(now, connected, ops::is_alive)
            });
            if !requester_waits {
                self.requester = None;
            }
            let facts = Facts {
                services_down: self.engine.all_down() && !requester_waits,
                others,
                helper_running: self.helper.is_some(),
            };
            let commands = seq.advance(now, &facts);
            if commands.is_empty() {
                break;
            }
            for c in commands {
                self.run_command(now, c);
            }
        }
        if self
            .sequence
            .as_ref()
            .is_some_and(|s| s.step() == Step::Finished)
        {
            self.sequence = None;
        }
    }

    fn run_command(&mut self, now: Millis, command: Command) {
        match command {
            Command::Log(text) => self.host.log(&text),
            Command::StopServices => self.engine.stop_all(&mut self.host, now),
            Command::TermAll => {
                if let Some(pid) = self.former_shell.take() {
                    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGHUP);
                }
                for sig in [Signal::SIGTERM, Signal::SIGCONT] {
                    if let Err(e) = ops::signal_all(sig) {
                        self.host.log(&format!(
                            "cannot send {} to all: {}",
                            sig.as_str(),
                            e.desc()
                        ));
                    }
                }
            }
            Command::KillAll => {
                if let Err(e) = ops::kill_all_from_child() {
                    self.host.log(&format!(
                        "cannot fork for SIGKILL to all ({}); sent it from PID 1",
                        e.desc()
                    ));
                }
            }
            Command::RunLast => self.run_last(now),
            Command::RunFinal => {
                let unmount = ops::in_initial_pid_ns() == Some(true);
                match ops::fork_final(unmount) {
                    Ok(pid) => self.set_helper(pid, "final sync", now),
                    Err(e) => {
                        // Better a possible stall than unwritten data.
                        self.host.log(&format!(
                            "cannot fork the final sync ({}); syncing from PID 1",
                            e.desc()
                        ));
                        // SAFETY: sync(2) has no memory effects.
                        unsafe { libc::sync() };
                    }
                }
            }
            Command::KillHelper => {
                if let Some(h) = self.helper.take() {
                    // Spawned helpers lead their own group; forked ones do not.
                    let pid = nix::unistd::Pid::from_raw(h.pid);
                    let _ = nix::sys::signal::killpg(pid, Signal::SIGKILL);
                    let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
                }
            }
            Command::Reboot(goal) => self.reboot(goal),
            Command::RescueShell => {
                // From the shell, services may be started and stopped again.
                self.engine.resume();
                self.run_shell(now);
            }
            Command::Boot => {
                self.engine.resume();
                if let Some(&root) = self.tree.roots.first() {
                    self.engine.start(&mut self.host, now, root);
                }
            }
        }
    }

    fn set_helper(&mut self, pid: Pid, what: &'static str, now: Millis) {
        self.helper = Some(Helper {
            pid,
            what,
            since: now,
        });
    }

    fn conf_cdir(&self) -> CString {
        CString::new(self.paths.conf.as_os_str().as_bytes()).unwrap_or_default()
    }

    fn run_last(&mut self, now: Millis) {
        let spec = match read_exec(&ServiceDir::unlisted(&self.paths.conf), "last") {
            Ok(Some(spec)) => spec,
            Ok(None) => return,
            Err(e) => {
                self.host.log(&format!("not running conf/last: {e}"));
                return;
            }
        };
        let Some(stdio) = self.host.child_stdio.as_ref().map(|f| f.as_raw_fd()) else {
            self.host
                .log("not running conf/last: no console for its stdio");
            return;
        };
        match spawn(&spec, &self.conf_cdir(), &ChildFds::console(stdio)) {
            Ok(pid) => {
                self.host.log(&format!("running conf/last (pid {pid})"));
                self.set_helper(pid, "conf/last", now);
            }
            Err(errno) => self.host.log(&format!(
                "cannot run conf/last: {}",
                nix::errno::Errno::from_raw(errno).desc()
            )),
        }
    }

    fn run_shell(&mut self, now: Millis) {
        let spec = match shell_spec(&self.paths.conf, "rescue") {
            Ok(spec) => spec,
            Err(why) => {
                self.host.log(&format!("no rescue shell: {why}"));
                return;
            }
        };
        let Some(stdio) = self.host.child_stdio.as_ref().map(|f| f.as_raw_fd()) else {
            self.host.log("no rescue shell: no console for its stdio");
            return;
        };
        let root = CString::new("/").unwrap_or_default();
        match spawn_shell(&spec, &root, stdio) {
            Ok(pid) => {
                let name = spec.path.to_string_lossy().into_owned();
                self.host
                    .log(&format!("rescue shell {name} (pid {pid}) on the console"));
                self.set_helper(pid, "rescue shell", now);
            }
            Err(errno) => self.host.log(&format!(
                "cannot start the rescue shell: {}",
                nix::errno::Errno::from_raw(errno).desc()
            )),
        }
    }

    /// The end of a shutdown. Returns only if reboot(2) failed and cinit
    /// stays up.
    fn reboot(&mut self, goal: SystemAction) {
        if let Some(control) = self.control.as_mut() {
            control.flush_all(crate::sys::clock::now_ms());
        }
        self.host.console.drain(2000);
        let err = reboot_mode(goal).map_or(Errno::EINVAL, ops::reboot);
        if err == Errno::EPERM && ops::in_initial_pid_ns() == Some(false) {
            let status = container_exit_status(goal, self.failure_exit);
            self.host.log(&format!(
                "{}: reboot(2) is not permitted here (a container); exiting with status {status}",
                goal.word()
            ));
            self.host.console.drain(2000);
            std::process::exit(status);
        }
        self.host.log(&format!(
            "{}: reboot(2) failed: {}; cinit stays up with every service stopped \
             (send the request again, or start services)",
            goal.word(),
            err.desc()
        ));
        self.sequence = None;
        self.failure_exit = None;
        self.engine.resume();
    }
}
