//! The edge of [`crate::logs::kmsg`]: the `/dev/kmsg` descriptor, the reads of
//! the kernel's settings (`/proc/sys/kernel/printk`,
//! `/proc/sys/kernel/printk_devkmsg`,
//! `/sys/module/printk/parameters/ignore_loglevel`, at most once per
//! [`REFRESH_MS`](crate::logs::kmsg::REFRESH_MS) and only when cinit logs), and
//! the counts of lines the kernel log missed.
//!
//! Only the machine's init has one ([`crate::logs::is_machine_init`]). The
//! descriptor is opened once, write-only, O_NONBLOCK, close-on-exec, and
//! kept across a hot update (the kernel's rate limit is per open file; a
//! new file would get a new burst). No call blocks: procfs and sysfs reads
//! of a few bytes, one write of one record.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::errno::Errno;

use crate::logs::kmsg::{missed_note, parse_flag, parse_loglevel, parse_mode, Limiter, Mode, View};
use crate::sys::clock::Millis;

/// Longest record written to `/dev/kmsg`.
const KMSG_MAX: usize = 1000;
const PRINTK: &str = "/proc/sys/kernel/printk";
const DEVKMSG: &str = "/proc/sys/kernel/printk_devkmsg";
const IGNORE_LOGLEVEL: &str = "/sys/module/printk/parameters/ignore_loglevel";

/// The clock the rate limit is counted with, read just before a write (the
/// loop's `now` may be older by the work done since).
fn clock_now(_: Millis) -> Millis {
    crate::sys::clock::now_ms()
}

/// cinit's writer of the kernel log.
#[derive(Debug)]
pub struct KmsgLog {
    fd: Option<OwnedFd>,
    /// [`clock_now`]; the tests' own clock in unit tests.
    clock: fn(Millis) -> Millis,
    /// Whether the kernel's settings are read (not in unit tests, which
    /// give them).
    read_settings: bool,
    pub view: View,
    pub limiter: Limiter,
    /// Lines a write refused (counted, noted later).
    pub refused: u64,
    /// Whether cinit's console is the kernel's (`/dev/console`): only then
    /// does a line the kernel shows need no console write of cinit's.
    pub console_is_kernels: bool,
    /// Said once: the kernel log is off, or its settings unreadable.
    said_off: bool,
    said_unreadable: bool,
    /// Lines to log once (the kernel log disabled, a file unreadable).
    pub notes: Vec<String>,
}

impl Default for KmsgLog {
    fn default() -> KmsgLog {
        KmsgLog {
            fd: None,
            clock: clock_now,
            read_settings: true,
            view: View::default(),
            limiter: Limiter::default(),
            refused: 0,
            console_is_kernels: false,
            said_off: false,
            said_unreadable: false,
            notes: Vec::new(),
        }
    }
}

/// A small file's text, or why not.
fn read_small(path: &str) -> Result<String, Errno> {
    std::fs::read_to_string(path).map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0)))
}

impl KmsgLog {
    /// Open `/dev/kmsg`. `None` when the kernel log is off (then said
    /// once) or cannot be opened.
    pub fn open() -> KmsgLog {
        use nix::fcntl::OFlag;
        let fd = nix::fcntl::open(
            "/dev/kmsg",
            OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC | OFlag::O_NOCTTY,
            nix::sys::stat::Mode::empty(),
        );
        let mut k = KmsgLog {
            console_is_kernels: true,
            ..KmsgLog::default()
        };
        match fd {
            Ok(fd) => k.fd = crate::sys::place::above_stdio(fd).ok(),
            Err(e) => {
                let off = read_small(DEVKMSG).ok().and_then(|t| parse_mode(&t)) == Some(Mode::Off);
                k.said_off = off;
                k.notes.push(if off {
                    "the kernel log is off (printk.devkmsg=off): cinit's messages are \
                     on the console and in cinit-ctl log only"
                        .to_string()
                } else {
                    format!(
                        "cannot open /dev/kmsg ({}): cinit's messages are not in the kernel log",
                        e.desc()
                    )
                });
            }
        }
        k
    }

    /// A writer to `fd` that believes `view` and counts time as given
    /// (unit tests: a pipe instead of `/dev/kmsg`).
    #[cfg(test)]
    pub fn for_test(fd: OwnedFd, view: View) -> KmsgLog {
        KmsgLog {
            fd: Some(fd),
            clock: |now| now,
            read_settings: false,
            view,
            console_is_kernels: true,
            ..KmsgLog::default()
        }
    }

    /// Take over the descriptor a previous image kept open.
    pub fn adopt_fd(&mut self, fd: OwnedFd) {
        self.fd = Some(fd);
    }

    pub fn raw_fd(&self) -> Option<RawFd> {
        self.fd.as_ref().map(AsRawFd::as_raw_fd)
    }

    /// Read the kernel's settings again if what cinit knows is older than
    /// [`REFRESH_MS`](crate::logs::kmsg::REFRESH_MS).
    fn refresh(&mut self, now: Millis) {
        if !self.read_settings || !self.view.stale(now) {
            return;
        }
        let printk = read_small(PRINTK);
        self.view = View {
            loglevel: printk.as_deref().ok().and_then(parse_loglevel),
            ignore_loglevel: read_small(IGNORE_LOGLEVEL)
                .ok()
                .and_then(|t| parse_flag(&t)),
            mode: read_small(DEVKMSG).ok().and_then(|t| parse_mode(&t)),
            read_at: Some(now),
        };
        if self.view.loglevel.is_none() && !self.said_unreadable {
            self.said_unreadable = true;
            let why = printk
                .err()
                .map_or("not a number".to_string(), |e| e.desc().to_string());
            self.notes.push(format!(
                "cannot read the console loglevel from {PRINTK} ({why}): cinit writes \
                 its messages to the console itself; the kernel may show them too"
            ));
        }
        if self.view.mode == Some(Mode::Off) && !self.said_off {
            self.said_off = true;
            self.notes.push(
                "the kernel log is off (printk_devkmsg is off): cinit's messages are \
                 on the console and in cinit-ctl log only"
                    .to_string(),
            );
        }
    }

    /// Write `text` as a record, within the rate limit. Returns whether
    /// the kernel shows it on the console (then cinit does not).
    pub fn send(&mut self, now: Millis, text: &str) -> bool {
        if self.fd.is_none() {
            return false;
        }
        self.refresh(now);
        if self.view.mode == Some(Mode::Off) {
            return false;
        }
        if !self.limiter.admit((self.clock)(now), self.view.limited()) {
            self.limiter.hold();
            return false;
        }
        // The kernel refuses records over 1 KiB. The newline ends the
        // record: without it the kernel keeps the record open for a
        // continuation, and readers do not see it until the next one.
        let mut record = crate::logs::ring::cut_to(format!("<6>cinit: {text}"), KMSG_MAX - 1);
        record.push('\n');
        let written = self
            .fd
            .as_ref()
            .is_some_and(|fd| nix::unistd::write(fd, record.as_bytes()).is_ok());
        if !written {
            self.refused = self.refused.saturating_add(1);
            return false;
        }
        self.view.kernel_shows() && self.console_is_kernels
    }

    /// The note of lines the kernel log missed, when it can be written now
    /// (the window has room again); the counts start again.
    pub fn due_note(&mut self, now: Millis) -> Option<String> {
        if self.fd.is_none() || (self.limiter.held == 0 && self.refused == 0) {
            return None;
        }
        // The loop's `now`, no clock read: this runs every iteration while
        // lines are held, and the window ends well before the note is due.
        if self.view.limited() && !self.limiter.has_room(now) {
            return None;
        }
        let note = missed_note(self.limiter.held, self.refused);
        self.limiter.held = 0;
        self.refused = 0;
        note
    }

    /// When the held lines' note is due (for the loop's deadline).
    pub fn deadline(&self) -> Option<Millis> {
        self.fd.as_ref().and(self.limiter.reopens_at())
    }
}

#[cfg(test)]
mod tests;
