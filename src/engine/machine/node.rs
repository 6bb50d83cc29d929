//! What the engine is given and what it asks for: a service's [`Node`],
//! the [`Host`] the engine acts through, and the small shared types.

use nix::sys::signal::Signal;

use crate::engine::state::{Reason, SpawnError, State};
use crate::sys::clock::Millis;
use crate::sys::process::{ExitStatus, Pid};

/// Seconds from SIGTERM to SIGKILL when a service has no `delay` file.
pub const DEFAULT_DELAY_S: u32 = 5;
/// A respawn service that ran at least this long has its backoff reset.
pub const STABLE_MS: Millis = 10_000;
/// Delay before the second quick restart; doubles for each further one.
pub const BACKOFF_FIRST_MS: Millis = 100;
/// Longest delay between two restarts.
pub const BACKOFF_MAX_MS: Millis = 30_000;
/// How long a process may take to disappear after SIGKILL before a shutdown
/// gives up on it (a process in uninterruptible sleep never does).
pub const KILL_WAIT_MS: Millis = 1_000;

/// Restart delay after the `quick_deaths`-th quick death in a row:
/// 0 (immediate), 100 ms, 200 ms, 400 ms, … capped at 30 s.
pub fn restart_delay(quick_deaths: u32) -> Millis {
    if quick_deaths <= 1 {
        return 0;
    }
    let shift = (quick_deaths - 2).min(20);
    BACKOFF_FIRST_MS
        .saturating_mul(1 << shift)
        .min(BACKOFF_MAX_MS)
}

/// The static description of one service, as loaded from its directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    pub respawn: bool,
    /// Seconds between SIGTERM and SIGKILL; `None` = [`DEFAULT_DELAY_S`].
    pub delay_s: Option<u32>,
    pub needs: Vec<usize>,
    pub wants: Vec<usize>,
    /// A `needs/` entry pointing nowhere: (entry, why). Makes it need-failed.
    /// Boxed, as `broken` and `probe`: rare, and a node is held per service
    /// for PID 1's life (8 bytes each instead of 40 to 56).
    pub missing_need: Option<Box<(String, String)>>,
    /// A reason this service can never start (cycle, unreadable directory).
    pub broken: Option<Box<Reason>>,
    /// `notification-fd`: the descriptor on which the process signals
    /// readiness. Only a respawn service uses it (see [`Node::ready_fd`]).
    pub notify_fd: Option<i32>,
    /// `ready-timeout`: the longest time in `starting`, in milliseconds.
    pub ready_timeout_ms: Option<Millis>,
    /// `ready-probe`: what must hold before the process counts as ready.
    /// Only a respawn service has one (the loader refuses it elsewhere).
    pub probe: Option<Box<crate::engine::probe::Probe>>,
    /// A grouping: neither `on` nor `off`, nothing runs when it starts or
    /// stops (like a systemd target). A stop cascading from one of its
    /// needs parks it in `waiting` instead of stopping it (see
    /// `engine/machine/stop.rs`).
    pub grouping: bool,
    /// `watchdog`: how long the main process may go without a
    /// `WATCHDOG=1`, in milliseconds. Only a respawn service has one (the
    /// loader reads it nowhere else; see [`Node::watchdog`]). 32 bits: it
    /// fits the node's padding, so a node costs no byte more.
    pub watchdog_ms: Option<std::num::NonZeroU32>,
    /// `restart-limit` and `on-failure`; `None` for a service with
    /// neither (boxed: rare, and nothing is allocated without them).
    pub failure: Option<Box<crate::engine::failure::Policy>>,
    /// `notify-socket`: the process says it is ready with sd_notify's
    /// `READY=1` on `NOTIFY_SOCKET`. Only a respawn service uses it.
    pub notify_socket: bool,
}

impl Node {
    pub fn new(name: &str) -> Self {
        Node {
            name: name.to_string(),
            respawn: false,
            delay_s: None,
            needs: Vec::new(),
            wants: Vec::new(),
            missing_need: None,
            broken: None,
            notify_fd: None,
            ready_timeout_ms: None,
            probe: None,
            grouping: false,
            watchdog_ms: None,
            failure: None,
            notify_socket: false,
        }
    }

    /// A respawn service's `watchdog`, in milliseconds.
    pub fn watchdog(&self) -> Option<Millis> {
        self.watchdog_ms
            .filter(|_| self.respawn)
            .map(|ms| Millis::from(ms.get()))
    }

    /// The descriptor a spawn must hand the readiness pipe to: a respawn
    /// service's `notification-fd` (a once service is up when `on` exits).
    pub fn ready_fd(&self) -> Option<i32> {
        self.notify_fd.filter(|_| self.respawn)
    }

    /// Whether a spawn of this service is `starting` until something says
    /// it is ready: a respawn service with `notification-fd`,
    /// `notify-socket` or `ready-probe`.
    pub fn gated(&self) -> bool {
        self.respawn && (self.notify_fd.is_some() || self.notify_socket || self.probe.is_some())
    }
}

/// Which program of a service a process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    On,
    Off,
}

/// Result of a successful [`Host::spawn`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spawned {
    Pid(Pid),
    /// The service has no `on` (or `off`): nothing to run, success.
    Nothing,
    /// Only from [`Host::start`]: a condition of the service did not hold
    /// (this one, as written): nothing ran.
    Skipped(String),
}

/// One line for the console: a service entered `state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub state: State,
    pub pid: Option<Pid>,
    /// How long the previous phase took (a once run, an uptime).
    pub took: Option<Millis>,
    pub detail: Option<String>,
}

/// The engine's window on the system.
pub trait Host {
    /// Start `role` of service `svc` in a clean child. Must not block beyond
    /// the spawn itself.
    fn spawn(&mut self, svc: usize, role: Role) -> Result<Spawned, SpawnError>;
    /// Start `on` of service `svc` with the write end of a new readiness
    /// pipe at descriptor `fd`; the host reports the newline that arrives on
    /// it as [`Engine::ready`](super::Engine::ready). A host without readiness pipes (the default)
    /// spawns plainly: the service then stays `starting` until the caller
    /// says otherwise.
    fn spawn_ready(&mut self, svc: usize, fd: i32) -> Result<Spawned, SpawnError> {
        let _ = fd;
        self.spawn(svc, Role::On)
    }
    /// Start `on` of service `svc`: with `ready_fd`, as
    /// [`Host::spawn_ready`]; with `watchdog` (milliseconds), its process
    /// also gets `WATCHDOG_USEC` and `WATCHDOG_PID` (its own pid). A host
    /// without watchdogs (the default) ignores `watchdog`.
    fn spawn_main(
        &mut self,
        svc: usize,
        ready_fd: Option<i32>,
        watchdog: Option<Millis>,
    ) -> Result<Spawned, SpawnError> {
        let _ = watchdog;
        match ready_fd {
            Some(fd) => self.spawn_ready(svc, fd),
            None => self.spawn(svc, Role::On),
        }
    }
    /// Start `on` of service `svc` at a request (not a restart): as
    /// [`Host::spawn_main`], but first the service's condition, if it has
    /// one; one that does not hold answers [`Spawned::Skipped`]. A host
    /// without conditions (the default) spawns.
    fn start(
        &mut self,
        svc: usize,
        ready_fd: Option<i32>,
        watchdog: Option<Millis>,
    ) -> Result<Spawned, SpawnError> {
        self.spawn_main(svc, ready_fd, watchdog)
    }
    /// Send `sig` to the process group led by `pgid` (an unreaped child).
    fn signal_group(&mut self, pgid: Pid, sig: Signal);
    /// Send service `svc`'s stop signal (its `stop-signal` file, by
    /// default SIGTERM) to the process group led by `pgid`, its unreaped
    /// main process.
    fn signal_stop(&mut self, svc: usize, pgid: Pid) {
        let _ = svc;
        self.signal_group(pgid, Signal::SIGTERM);
    }
    /// A service changed state.
    fn report(&mut self, svc: usize, name: &str, report: Report);
    /// Kill every process left in service `svc`'s cgroup; true if it
    /// holds any (a stop then waits until [`Host::populated`] says it is
    /// empty). A host without cgroups (the default) has none.
    fn kill_rest(&mut self, svc: usize) -> bool {
        let _ = svc;
        false
    }
    /// Whether service `svc`'s cgroup still holds processes.
    fn populated(&mut self, svc: usize) -> bool {
        let _ = svc;
        false
    }
    /// How the main process of service `svc`, ended with `status`, died,
    /// in words, when the host saw more than the status says (a SIGKILL
    /// from the OOM killer in the service's cgroup); `None`: the status
    /// says it all. Asked once per death of a main process that fails it
    /// or restarts it.
    fn exit_reason(&mut self, svc: usize, status: ExitStatus) -> Option<String> {
        let _ = (svc, status);
        None
    }
}
