//! Service output and cinit's own messages in PID 1: the log pipes, the
//! rings, mirroring to the console, `/dev/kmsg`, and file output
//! ([`crate::logs::file`]).
//!
//! Each service gets a pipe at its first spawn. PID 1 keeps both ends for
//! as long as the service is loaded (close-on-exec; the read end
//! non-blocking, the write end blocking, as the service's stdout must be):
//! every `on` and `off` process of the service gets the write end as stdout
//! and stderr and `/dev/null` as stdin, and since PID 1 holds a writer
//! too, nothing a dying process wrote is lost and the next one writes into
//! the same pipe. The read ends are in the main `poll()`; each wakeup reads
//! at most [`READ_CHUNK`] bytes per pipe, so a flooding service cannot
//! starve signals, reaping or the control socket. Lines go into the
//! service's [`Ring`] (its `log.size`), to the console as `NAME: line` when
//! mirrored, and to its `log.file` writer. A partial line is completed by
//! the next read, or handed out when the process that wrote it exits (after
//! the pipe is drained) or after
//! [`PARTIAL_FLUSH_MS`](crate::logs::line::PARTIAL_FLUSH_MS).
//!
//! A service with a `console` file gets the console as stdio instead, as
//! before logs existed: no pipe, no ring.
//!
//! cinit's own messages go into a ring of their own ([`OWN_RING`]), to the
//! console and, when cinit is the machine's init, to `/dev/kmsg` as
//! `<6>cinit: …` ([`crate::logs::kmsglog`]: within the kernel's rate limit, a
//! refused write counted). A line the kernel shows on the console itself
//! (its console loglevel above 6) is not written to the console by cinit as
//! well, so each line appears once ([`crate::logs::kmsg`]). In a PID namespace
//! that is not the machine's (a container, the tests), never: that would
//! write into the host's kernel log.
//!
//! Invariants: no call blocks; every buffer is bounded (rings by their
//! capacity, partial lines by [`MAX_LINE`](crate::logs::line::MAX_LINE), the
//! read buffer by [`READ_CHUNK`]).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::path::Path;

use nix::poll::PollFlags;

use crate::config::dirlist::ServiceDir;
use crate::config::logconf::{read_log_config, LogConfig, MAX_RING, MIN_RING};
use crate::logs::file::FileOut;
use crate::logs::kmsglog::KmsgLog;
use crate::logs::line::Splitter;
use crate::logs::ring::Ring;
use crate::sys::clock::Millis;
use crate::sys::console::{one_line, Console};
use crate::sys::process::Pid;
use crate::sys::spawn::ChildFds;
use crate::HashMap;

/// Most bytes read from one pipe per wakeup.
pub const READ_CHUNK: usize = 64 << 10;
/// Most bytes read from a pipe when its writer exited (the rest of what it
/// wrote), before the partial line is handed out.
const EXIT_DRAIN: usize = 1 << 20;
/// Size of cinit's own ring.
pub const OWN_RING: usize = 256 << 10;
/// Longest line kept in cinit's own log (a message naming many long paths
/// is cut; a service's lines are bounded by the splitter).
const MAX_OWN_LINE: usize = 4096;

/// The wall clock in milliseconds since the epoch (0 if unset).
pub fn wall_ms() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_REALTIME).map_or(0, |ts| {
        let secs = u64::try_from(ts.tv_sec()).unwrap_or(0);
        let nanos = u64::try_from(ts.tv_nsec()).unwrap_or(0);
        secs.saturating_mul(1000).saturating_add(nanos / 1_000_000)
    })
}

/// Whose descriptor a log poll result is: service `svc`'s output pipe, or
/// the pipe to its log file writer (polled while bytes wait for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollKey {
    Pipe(usize),
    Writer(usize),
}

/// Every log PID 1 keeps.
pub struct Logs {
    /// By service index; `None` until the service first runs a process.
    pub services: Vec<Option<ServiceLog>>,
    /// Service names by index, for the mirror prefix.
    pub names: Vec<String>,
    /// cinit's own messages.
    pub own: Ring,
    /// cinit's writer of the kernel log (the machine's init only).
    pub kmsg: Option<KmsgLog>,
    /// Processes of services (pid → service), to drain the pipe when one
    /// exits.
    pub procs: HashMap<Pid, usize>,
    /// The configuration problems last reported per service, so a
    /// respawning service does not repeat them.
    reported: HashMap<usize, String>,
    /// The read buffer: empty until the first read, then [`READ_CHUNK`]
    /// bytes for good (see [`read_some`]).
    buf: Vec<u8>,
    /// The services that may have timed work ([`timed`]), ascending.
    timed: Vec<usize>,
}

/// Whether a process `pid` is the machine's own init (PID 1 of the
/// initial PID namespace), the only case where cinit writes to
/// `/dev/kmsg`. Unknown (no /proc) counts as no.
pub fn is_machine_init(pid: u32, in_initial_pid_ns: Option<bool>) -> bool {
    pid == 1 && in_initial_pid_ns == Some(true)
}

/// Whether a file could not be read for want of descriptors or memory (the
/// file may be fine; cinit is short), as opposed to a bad or unreadable file.
fn shortage(e: &crate::config::svcdir::FileError) -> bool {
    matches!(
        e.errno,
        Some(libc::EMFILE | libc::ENFILE | libc::ENOMEM | libc::EAGAIN | libc::EINTR)
    )
}

impl Default for Logs {
    fn default() -> Logs {
        Logs::new()
    }
}

impl Logs {
    /// No service logs yet; `/dev/kmsg` opened if cinit is the machine's
    /// init.
    pub fn new() -> Logs {
        let kmsg = is_machine_init(std::process::id(), crate::sys::ops::in_initial_pid_ns())
            .then(KmsgLog::open);
        Logs {
            services: Vec::new(),
            names: Vec::new(),
            own: Ring::new(OWN_RING),
            kmsg,
            procs: HashMap::default(),
            reported: HashMap::default(),
            buf: Vec::new(),
            timed: Vec::new(),
        }
    }

    /// Whether cinit's console is the kernel's (see
    /// [`KmsgLog::console_is_kernels`]).
    pub fn console_is_kernels(&mut self, yes: bool) {
        if let Some(k) = self.kmsg.as_mut() {
            k.console_is_kernels = yes;
        }
    }

    /// One of cinit's own messages: into its ring, the kernel log and the
    /// console (stamped), unless the kernel shows it there itself. A note
    /// of lines the kernel log missed comes first when it is due.
    pub fn own_line(&mut self, now: Millis, text: &str, console: &mut Console) {
        self.missed_note(now, console);
        self.own_record(now, text, console);
        let notes = self
            .kmsg
            .as_mut()
            .map(|k| std::mem::take(&mut k.notes))
            .unwrap_or_default();
        for note in notes {
            self.own_record(now, &note, console);
        }
    }

    /// Log the note of lines the kernel log missed if it is due (the rate
    /// limit's window reopened). Also run by the loop at
    /// [`Logs::next_deadline`], so the note comes without a next line.
    pub fn missed_note(&mut self, now: Millis, console: &mut Console) {
        if let Some(note) = self.kmsg.as_mut().and_then(|k| k.due_note(now)) {
            self.own_record(now, &note, console);
        }
    }

    fn own_record(&mut self, now: Millis, text: &str, console: &mut Console) {
        let text = crate::logs::ring::cut_to(one_line(text).into_owned(), MAX_OWN_LINE);
        let shown = self.kmsg.as_mut().is_some_and(|k| k.send(now, &text));
        if !shown {
            console.stamped_line(now, &text);
        }
        self.own.push(now, wall_ms(), text);
    }

    /// Remember service `svc`'s name (for the mirror prefix).
    pub fn set_name(&mut self, svc: usize, name: impl Into<String>) {
        if self.names.len() <= svc {
            self.names.resize(svc + 1, String::new());
        }
        if let Some(n) = self.names.get_mut(svc).filter(|n| n.is_empty()) {
            // A name read from a snapshot is moved here, not copied.
            *n = name.into();
        }
    }

    fn name(&self, svc: usize) -> &str {
        self.names.get(svc).map_or("?", String::as_str)
    }

    /// The log of service `svc`, if it has one.
    pub fn get(&self, svc: usize) -> Option<&ServiceLog> {
        self.services.get(svc).and_then(Option::as_ref)
    }

    fn get_mut(&mut self, svc: usize) -> Option<&mut ServiceLog> {
        self.services.get_mut(svc).and_then(Option::as_mut)
    }

    /// The stdio for a new process of service `svc` in `dir`: reads the
    /// service's log files, creates the pipe at the first spawn and applies
    /// changed settings. `console` is the console descriptor for children.
    /// Returns the descriptors and lines for cinit's log (configuration
    /// problems, a pipe that cannot be made).
    pub fn stdio(
        &mut self,
        svc: usize,
        dir: &Path,
        console: RawFd,
        now: Millis,
    ) -> (ChildFds, Vec<String>) {
        let read = read_log_config(&ServiceDir::unlisted(dir));
        self.stdio_with(svc, read, console, now)
    }

    /// [`Logs::stdio`] with the log settings already read
    /// ([`read_log_config`]: the settings and the problems found), so the
    /// caller reads them with the service's other files.
    pub fn stdio_with(
        &mut self,
        svc: usize,
        (cfg, problems): (LogConfig, Vec<crate::config::svcdir::FileError>),
        console: RawFd,
        now: Millis,
    ) -> (ChildFds, Vec<String>) {
        let mut notes = self.problems_to_report(svc, &problems);
        // Files that could not be read for now (no descriptors left): keep
        // the settings the service already has.
        let short = problems.iter().any(shortage);
        if cfg.console {
            return (ChildFds::console(console), notes);
        }
        if self.services.len() <= svc {
            // Room for every named service at once, not doubling per
            // spawn: a slot costs a `ServiceLog` whether it is used or not.
            let want = self.names.len().max(svc + 1);
            self.services
                .reserve_exact(want.saturating_sub(self.services.len()));
            self.services.resize_with(svc + 1, || None);
        }
        // Borrowed from `names` alone (not `self`): no copy per spawn.
        let name = self.names.get(svc).map_or("?", String::as_str);
        let Some(slot) = self.services.get_mut(svc) else {
            return (ChildFds::console(console), notes);
        };
        let log = slot.get_or_insert_with(|| ServiceLog::new(cfg.ring_bytes));
        if !short {
            apply(log, &cfg, now, name, &mut notes);
        }
        let timed = log.has_timed_work();
        if log.pipe.is_none() {
            match service_pipe() {
                Ok(p) => log.pipe = Some(p),
                Err(e) => notes.push(format!(
                    "log: {name}: cannot create a pipe for its output ({}); \
                     it goes to the console for now",
                    e.desc()
                )),
            }
        }
        let fds = match &log.pipe {
            Some((_, w)) => ChildFds {
                stdin: None,
                stdout: w.as_raw_fd(),
                stderr: w.as_raw_fd(),
                extra: Vec::new(),
            },
            None => ChildFds::console(console),
        };
        if timed {
            timed::mark(&mut self.timed, svc);
        }
        (fds, notes)
    }

    /// Lines for cinit's log about `problems`, unless the same ones were
    /// reported for this service last time.
    fn problems_to_report(
        &mut self,
        svc: usize,
        problems: &[crate::config::svcdir::FileError],
    ) -> Vec<String> {
        // The common case: nothing to say now, nothing said before.
        if problems.is_empty() && !self.reported.contains_key(&svc) {
            return Vec::new();
        }
        let name = self.name(svc);
        let lines: Vec<String> = problems
            .iter()
            .filter(|p| !shortage(p))
            .map(|p| {
                format!(
                    "config: {}: {name}: {}; using the default",
                    p.file.display(),
                    p.reason
                )
            })
            .collect();
        let key = lines.join("\n");
        if self
            .reported
            .get(&svc)
            .map_or(key.is_empty(), |k| *k == key)
        {
            return Vec::new();
        }
        // Only services with problems have an entry: the common case, none,
        // costs no memory per service.
        if key.is_empty() {
            self.reported.remove(&svc);
        } else {
            self.reported.insert(svc, key);
        }
        lines
    }

    /// Service `svc` has a new process `pid`.
    pub fn track(&mut self, pid: Pid, svc: usize) {
        self.procs.insert(pid, svc);
    }

    /// The poll interest, each with the key [`Logs::handle_events`]
    /// expects back with its events: every pipe's read end, and the write
    /// end of a file writer's pipe while it has bytes waiting.
    pub fn poll_interest(&self) -> impl Iterator<Item = (BorrowedFd<'_>, PollFlags, PollKey)> + '_ {
        self.services
            .iter()
            .enumerate()
            .filter_map(|(svc, log)| log.as_ref().map(|log| (svc, log)))
            .flat_map(|(svc, log)| {
                let pipe = log
                    .pipe
                    .as_ref()
                    .map(|(r, _)| (r.as_fd(), PollFlags::POLLIN, PollKey::Pipe(svc)));
                let writer = log
                    .file
                    .as_ref()
                    .filter(|f| f.wants_pollout())
                    .map(|f| (f.pollout_fd(), PollFlags::POLLOUT, PollKey::Writer(svc)));
                pipe.into_iter().chain(writer)
            })
    }

    /// Act on poll results (each with the key [`Logs::poll_interest`]
    /// gave; in any order, quiet ones may be left out): read each readable
    /// pipe once, at most [`READ_CHUNK`] bytes, and move its file writer on
    /// (once per service, whether its pipe, its writer or both woke).
    pub fn handle_events(
        &mut self,
        now: Millis,
        revents: &[(PollKey, PollFlags)],
        console: &mut Console,
    ) {
        let wanted = PollFlags::POLLIN | PollFlags::POLLHUP;
        // A writer is polled only while bytes wait for it (rare), so this
        // look-up runs for few events.
        let pipe_read = |logs: &Self, svc: usize| {
            logs.has_pipe(svc)
                && revents
                    .iter()
                    .any(|&(k, e)| k == PollKey::Pipe(svc) && e.intersects(wanted))
        };
        let wall = wall_ms();
        for &(key, ev) in revents {
            let svc = match key {
                PollKey::Pipe(svc) if ev.intersects(wanted) && self.has_pipe(svc) => {
                    self.read_pipe(svc, READ_CHUNK, now, wall, console);
                    svc
                }
                // The pipe's own event moves the writer on.
                PollKey::Writer(svc) if !ev.is_empty() && !pipe_read(self, svc) => svc,
                _ => continue,
            };
            if let Some(log) = self.get_mut(svc) {
                if let Some(f) = log.file.as_mut() {
                    f.pump(&log.ring, now, wall);
                }
            }
        }
    }

    /// Whether service `svc` has an output pipe.
    fn has_pipe(&self, svc: usize) -> bool {
        self.get(svc).is_some_and(|l| l.pipe.is_some())
    }

    /// Read up to `budget` bytes from service `svc`'s pipe (one read per
    /// [`READ_CHUNK`]) and take in the lines.
    fn read_pipe(
        &mut self,
        svc: usize,
        budget: usize,
        now: Millis,
        wall: u64,
        console: &mut Console,
    ) {
        let mut buf = std::mem::take(&mut self.buf);
        let mut left = budget;
        while left > 0 {
            let n = match self.get(svc).and_then(|l| l.pipe.as_ref()) {
                Some((r, _)) => read_some(r, &mut buf, left),
                None => 0,
            };
            if n == 0 {
                break;
            }
            left = left.saturating_sub(n);
            let bytes = buf.get(..n).unwrap_or(&[]);
            self.take_in(svc, now, wall, console, |s, emit| s.feed(now, bytes, emit));
        }
        // Kept at its length: made again (or zeroed) at every read, it
        // would cost 64 KiB of writes per wakeup.
        self.buf = buf;
    }

    /// Run `f` on service `svc`'s splitter and take the lines it hands out
    /// into the ring and the console.
    fn take_in(
        &mut self,
        svc: usize,
        now: Millis,
        wall: u64,
        console: &mut Console,
        f: impl FnOnce(&mut Splitter, &mut dyn FnMut(String)),
    ) {
        let name = self.names.get(svc).map_or("?", String::as_str);
        let Some(log) = self.services.get_mut(svc).and_then(Option::as_mut) else {
            return;
        };
        let (ring, mirror) = (&mut log.ring, log.mirror);
        f(&mut log.splitter, &mut |line: String| {
            if mirror {
                if console.mirror_room(name.len() + 2 + line.len()) {
                    console.mirror(&format!("{name}: {line}"));
                } else {
                    console.mirror_dropped();
                }
            }
            ring.push(now, wall, line);
        });
        if log.has_timed_work() {
            timed::mark(&mut self.timed, svc);
        }
    }

    /// A child was reaped. If it was a process of a service, what it wrote
    /// is read to the end and its partial line handed out, so lines never
    /// run together across a restart.
    pub fn process_exited(&mut self, now: Millis, pid: Pid, console: &mut Console) {
        let Some(svc) = self.procs.remove(&pid) else {
            return;
        };
        let wall = wall_ms();
        self.read_pipe(svc, EXIT_DRAIN, now, wall, console);
        self.take_in(svc, now, wall, console, |s, emit| s.flush(emit));
    }

    /// Every descriptor held (for the hot update).
    pub fn raw_fds(&self) -> Vec<RawFd> {
        let mut v = Vec::new();
        for log in self.services.iter().flatten() {
            if let Some((r, w)) = &log.pipe {
                v.extend([r.as_raw_fd(), w.as_raw_fd()]);
            }
            if let Some(f) = &log.file {
                v.extend(f.raw_fds());
            }
        }
        v.extend(self.kmsg.as_ref().and_then(KmsgLog::raw_fd));
        v
    }
}

/// Apply (new) settings to an existing log: ring size, mirroring, file.
fn apply(log: &mut ServiceLog, cfg: &LogConfig, now: Millis, name: &str, notes: &mut Vec<String>) {
    log.ring
        .set_capacity(cfg.ring_bytes.clamp(MIN_RING, MAX_RING));
    log.mirror = cfg.mirror;
    let same = log.file.as_ref().map(|f| &f.target) == cfg.file.as_ref();
    if same {
        return;
    }
    // A changed log.file: dropping the old pipe lets the old writer read
    // what is left in it and exit (it is then reaped as an orphan); the new
    // one starts with the next line.
    log.file = None;
    if let Some(target) = &cfg.file {
        match FileOut::new(target.clone(), log.ring.next_seq(), now) {
            Ok(f) => log.file = Some(Box::new(f)),
            Err(e) => notes.push(format!(
                "log: {name}: cannot set up {}: {}",
                target.path.display(),
                e.desc()
            )),
        }
    }
}

mod service;

mod timed;
pub use service::ServiceLog;
use service::{read_some, service_pipe};

#[cfg(test)]
mod tests;
