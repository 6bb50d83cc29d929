//! The system lifecycle: what each signal means, and the shutdown and rescue
//! sequences as a pure state machine.
//!
//! A [`Sequence`] is driven by the daemon: on every loop iteration it is given
//! the [`Facts`] (are the services down, how many other processes are left, is
//! the current helper still running) and answers with the [`Command`]s that
//! move it on. It never touches the system, so every path — including the
//! timeouts — is unit-tested with made-up facts and times.
//!
//! | step | ends when | at most | then |
//! |---|---|---|---|
//! | `services` | every service is down | [`SERVICES_MAX_MS`] | `term` |
//! | `term` | no other process is left | `conf/sleep_before_kill` | `kill` (skipped if none left) |
//! | `kill` | no other process is left | [`KILL_WAIT_MS`] | `last` (rescue: `shell`) |
//! | `last` | `conf/last` exits | [`LAST_MAX_MS`] | `final` |
//! | `final` | sync, unmount, remount `/` read-only done | [`FINAL_MAX_MS`] | `reboot` |
//! | `reboot` | (reboot(2) does not return) | – | – |
//! | `shell` | the rescue shell exits | – | boot the root service again |
//!
//! Invariants: steps only move forward; every step but `shell` has a
//! deadline; while a sequence runs, a second request is refused (the first
//! one wins), except that a shutdown may replace a rescue shell.
//!
//! Also pure, for the daemon to carry out: which action may begin while a
//! sequence runs ([`admit`]), how long the client that asked is waited for
//! ([`Requester`]), and how each goal ends ([`reboot_mode`],
//! [`container_exit_status`]).
//!
//! A signal and a `cinit-ctl` request name the same [`SystemAction`] (the
//! type the wire carries); a sequence's goal is any of them but `update`,
//! which the daemon carries out itself.

use nix::sys::reboot::RebootMode;

use crate::proto::SystemAction;
use crate::sys::clock::seconds;
use crate::sys::clock::Millis;
use crate::sys::process::Pid;

/// Longest time for all services to stop before the sequence goes on
/// regardless (each service is bounded by its own `delay` anyway).
pub const SERVICES_MAX_MS: Millis = 90_000;
/// Longest wait for processes to vanish after the global SIGKILL.
pub const KILL_WAIT_MS: Millis = 1_000;
/// Longest run of `conf/last` before it is killed.
pub const LAST_MAX_MS: Millis = 30_000;
/// Longest run of the final sync / unmount / remount before rebooting anyway.
pub const FINAL_MAX_MS: Millis = 10_000;

/// The documented signal map. `None`: not a lifecycle signal.
pub fn action_for_signal(signal: i32) -> Option<SystemAction> {
    Some(match signal {
        libc::SIGHUP | libc::SIGINT => SystemAction::Reboot,
        libc::SIGUSR1 => SystemAction::Halt,
        libc::SIGUSR2 => SystemAction::Rescue,
        libc::SIGTERM | libc::SIGPWR => SystemAction::Poweroff,
        libc::SIGCONT => SystemAction::Update,
        _ => return None,
    })
}

/// Exit status when reboot(2) is refused in a container (see the README):
/// the status of the failed service whose `on-failure` began the
/// shutdown (`failed`), else the goal's.
pub fn container_exit_status(goal: SystemAction, failed: Option<i32>) -> i32 {
    if let Some(status) = failed {
        return status;
    }
    match goal {
        SystemAction::Reboot => 129,
        SystemAction::Halt | SystemAction::Poweroff | SystemAction::Rescue => 0,
        SystemAction::Update => 0,
    }
}

/// reboot(2)'s mode for the end of a shutdown; `None` for the goals no
/// shutdown has (a rescue ends in its shell, an update is no sequence).
pub fn reboot_mode(goal: SystemAction) -> Option<RebootMode> {
    match goal {
        SystemAction::Reboot => Some(RebootMode::RB_AUTOBOOT),
        SystemAction::Halt => Some(RebootMode::RB_HALT_SYSTEM),
        SystemAction::Poweroff => Some(RebootMode::RB_POWER_OFF),
        SystemAction::Rescue | SystemAction::Update => None,
    }
}

/// Longest wait for the client that asked for a shutdown to go away.
pub const REQUESTER_GRACE_MS: Millis = 1_000;

/// The client that asked for a shutdown: processes are not signalled while
/// it is still connected or (if it is in our PID namespace) alive, until
/// `until`, so it can print the answer and exit on its own.
#[derive(Debug, Clone, Copy)]
pub struct Requester {
    pub client: u64,
    pid: Option<Pid>,
    until: Millis,
}

impl Requester {
    /// `client` (its process `pid`, `None` outside our PID namespace) asked
    /// at `now`.
    pub fn new(client: u64, pid: Option<Pid>, now: Millis) -> Requester {
        let until = now.saturating_add(REQUESTER_GRACE_MS);
        Requester { client, pid, until }
    }

    /// When to look again at the latest.
    pub fn until(&self) -> Millis {
        self.until
    }

    /// Whether processes are still spared for it at `now`: within the
    /// grace, while it is `connected` or its process is `alive` (asked
    /// only if it has left and has a pid here).
    pub fn waits(&self, now: Millis, connected: bool, alive: impl FnOnce(Pid) -> bool) -> bool {
        now < self.until && (connected || self.pid.is_some_and(alive))
    }
}

/// Whether `action` may begin while `current` runs (none, or one that
/// yields to it: the first request wins); otherwise why not.
pub fn admit(current: Option<&Sequence>, action: SystemAction) -> Result<(), String> {
    match current {
        Some(seq) if !seq.yields_to(action) => Err(seq.busy_message(action)),
        _ => Ok(()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Services,
    Term,
    Kill,
    Last,
    Final,
    Reboot,
    Shell,
    /// The rescue shell exited; the daemon boots again and drops the sequence.
    Finished,
}

/// What the daemon observed just before asking the sequence to move on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Facts {
    pub services_down: bool,
    /// Processes other than PID 1 (kernel threads not counted).
    pub others: usize,
    /// The current step's helper (`conf/last`, the final child, the rescue
    /// shell) has not exited yet.
    pub helper_running: bool,
}

/// Something for the daemon to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Log(String),
    /// Stop every service ([`crate::engine::Engine::stop_all`]).
    StopServices,
    /// `kill(-1, SIGTERM)` and `kill(-1, SIGCONT)`.
    TermAll,
    /// `kill(-1, SIGKILL)` from a forked child.
    KillAll,
    /// Start `conf/last` as the helper (no helper if there is none).
    RunLast,
    /// Fork the child that syncs, unmounts and remounts `/` read-only.
    RunFinal,
    /// SIGKILL the helper's process group: it ran out of time.
    KillHelper,
    /// Call reboot(2) for the goal.
    Reboot(SystemAction),
    /// Start the rescue shell as the helper.
    RescueShell,
    /// Leave halting mode and start the root service again.
    Boot,
}

#[derive(Debug, Clone)]
pub struct Sequence {
    /// Reboot, halt, poweroff or rescue: an update is no sequence.
    goal: SystemAction,
    step: Step,
    started: Millis,
    step_started: Millis,
    deadline: Option<Millis>,
    sleep_before_kill_ms: Millis,
}

impl Sequence {
    /// Begin a sequence; returns it with its first commands. `goal` is a
    /// shutdown or `Rescue`; the daemon carries out `Update` itself.
    pub fn begin(
        goal: SystemAction,
        now: Millis,
        sleep_before_kill_s: u32,
    ) -> (Sequence, Vec<Command>) {
        let seq = Sequence {
            goal,
            step: Step::Services,
            started: now,
            step_started: now,
            deadline: Some(now.saturating_add(SERVICES_MAX_MS)),
            sleep_before_kill_ms: Millis::from(sleep_before_kill_s).saturating_mul(1000),
        };
        let what = match goal {
            SystemAction::Rescue => "rescue: stopping every service and process".to_string(),
            g => format!("{}: stopping services", g.word()),
        };
        (seq, vec![Command::Log(what), Command::StopServices])
    }

    pub fn goal(&self) -> SystemAction {
        self.goal
    }

    pub fn step(&self) -> Step {
        self.step
    }

    /// When the sequence must be looked at again without outside input.
    pub fn deadline(&self) -> Option<Millis> {
        self.deadline
    }

    /// Whether a new request for `action` may replace this sequence: only a
    /// shutdown, and only once the rescue shell runs.
    pub fn yields_to(&self, action: SystemAction) -> bool {
        use SystemAction::*;
        self.step == Step::Shell && matches!(action, Reboot | Halt | Poweroff)
    }

    /// How a refused request is explained.
    pub fn busy_message(&self, action: SystemAction) -> String {
        let what = action.word();
        match self.goal {
            SystemAction::Rescue => format!("{what} refused: rescue mode is in progress"),
            g => format!("{what} refused: a {} is already in progress", g.word()),
        }
    }

    fn enter(&mut self, step: Step, now: Millis, limit: Option<Millis>) {
        self.step = step;
        self.step_started = now;
        self.deadline = limit.map(|l| now.saturating_add(l));
    }

    fn took(&self, now: Millis) -> String {
        seconds(now.saturating_sub(self.step_started))
    }

    fn due(&self, now: Millis) -> bool {
        self.deadline.is_some_and(|d| d <= now)
    }

    /// Move on as far as the facts allow. Call again (with fresh facts)
    /// while it returns commands.
    pub fn advance(&mut self, now: Millis, f: &Facts) -> Vec<Command> {
        let g = self.goal.word();
        match self.step {
            Step::Services if f.services_down || self.due(now) => {
                let how = if f.services_down {
                    format!("{g}: services stopped in {}", self.took(now))
                } else {
                    format!(
                        "{g}: services still not stopped after {}; going on",
                        self.took(now)
                    )
                };
                self.enter(Step::Term, now, Some(self.sleep_before_kill_ms));
                vec![
                    Command::Log(how),
                    Command::Log(format!("{g}: sending SIGTERM to every process")),
                    Command::TermAll,
                ]
            }
            Step::Term if f.others == 0 => {
                let how = format!("{g}: every process gone in {}", self.took(now));
                let mut cmds = vec![Command::Log(how)];
                cmds.extend(self.after_kill(now));
                cmds
            }
            Step::Term if self.due(now) => {
                let how = format!(
                    "{g}: {} processes left after {}; sending SIGKILL",
                    f.others,
                    self.took(now)
                );
                self.enter(Step::Kill, now, Some(KILL_WAIT_MS));
                vec![Command::Log(how), Command::KillAll]
            }
            Step::Kill if f.others == 0 || self.due(now) => {
                let how = if f.others == 0 {
                    format!("{g}: every process gone in {}", self.took(now))
                } else {
                    format!(
                        "{g}: {} processes survive SIGKILL (uninterruptible sleep?); going on",
                        f.others
                    )
                };
                let mut cmds = vec![Command::Log(how)];
                cmds.extend(self.after_kill(now));
                cmds
            }
            Step::Last if !f.helper_running || self.due(now) => {
                let mut cmds = Vec::new();
                if f.helper_running {
                    cmds.push(Command::Log(format!(
                        "{g}: conf/last still running after {}; killed",
                        self.took(now)
                    )));
                    cmds.push(Command::KillHelper);
                }
                self.enter(Step::Final, now, Some(FINAL_MAX_MS));
                cmds.push(Command::RunFinal);
                cmds
            }
            Step::Final if !f.helper_running || self.due(now) => {
                let mut cmds = Vec::new();
                if f.helper_running {
                    cmds.push(Command::Log(format!(
                        "{g}: sync and unmount still running after {}; going on",
                        self.took(now)
                    )));
                    cmds.push(Command::KillHelper);
                }
                let total = seconds(now.saturating_sub(self.started));
                self.enter(Step::Reboot, now, None);
                cmds.push(Command::Log(format!("{g}: now, after {total}")));
                cmds.push(Command::Reboot(self.goal));
                cmds
            }
            Step::Shell if !f.helper_running => {
                self.enter(Step::Finished, now, None);
                vec![
                    Command::Log("rescue: the shell exited; booting again".to_string()),
                    Command::Boot,
                ]
            }
            _ => Vec::new(),
        }
    }

    /// The step after the global kill: the rescue shell, or `conf/last`.
    fn after_kill(&mut self, now: Millis) -> Vec<Command> {
        if self.goal == SystemAction::Rescue {
            self.enter(Step::Shell, now, None);
            vec![
                Command::Log("rescue: starting the rescue shell".to_string()),
                Command::RescueShell,
            ]
        } else {
            self.enter(Step::Last, now, Some(LAST_MAX_MS));
            vec![Command::RunLast]
        }
    }
}

#[cfg(test)]
mod tests;
