//! cinit's own lines in the kernel log: who prints a line on the console,
//! and the kernel's rate limit for `/dev/kmsg` mirrored in cinit. Pure: fed
//! with times and with what the kernel's files said; the descriptor and the
//! reads of procfs are in [`crate::logs::kmsglog`].
//!
//! The kernel prints a record on its consoles when its level is below
//! `console_loglevel` (the first field of `/proc/sys/kernel/printk`) or when
//! `ignore_loglevel` is set. cinit writes its lines at level 6, so on a boot
//! without `quiet` (console_loglevel 7) the kernel shows each one: cinit then
//! leaves that line off the console itself ([`kernel_shows`]), and each line
//! appears once. When the kernel would not show it (`quiet`, loglevel 4), or
//! the line did not go into the kernel log, cinit writes it itself.
//!
//! A writer of `/dev/kmsg` gets, per open file, a burst of 10 records per
//! 5 s when `printk.devkmsg=ratelimit` (the default); the kernel answers
//! success for a record over the limit and drops it. cinit counts its own
//! writes the same way ([`Limiter`]) and holds back a line the kernel would
//! drop: held lines are still on the console (cinit writes them itself) and
//! in `cinit-ctl log`, and once the window reopens one note says how many
//! the kernel log missed ([`missed_note`]). Reopening `/dev/kmsg` would get
//! a fresh burst, but it would defeat a limit the administrator chose.
//!
//! Invariants: [`Limiter::admit`] never admits more than [`BURST`] records
//! into a window the kernel counts as one, whenever within [`MARGIN_MS`] the
//! kernel's clock puts them; the counters saturate.

use crate::sys::clock::Millis;

/// The level of cinit's records (`<6>`, informational).
pub const LEVEL: u8 = 6;
/// The kernel's burst per window (`DEFAULT_RATELIMIT_BURST`).
pub const BURST: u32 = 10;
/// The kernel's window (`DEFAULT_RATELIMIT_INTERVAL`, 5 s).
pub const INTERVAL_MS: Millis = 5000;
/// How far cinit's clock may be from the kernel's view of a window:
/// jiffies (10 ms each at HZ=100; a window ends only after `begin +
/// interval` has passed) and the time between cinit reading its clock and
/// the write reaching the kernel (the clock is read just before the write).
pub const MARGIN_MS: Millis = 50;
/// How long what the kernel's files said is trusted (a runtime change,
/// `dmesg -n`, takes effect within this).
pub const REFRESH_MS: Millis = 1000;

/// `/proc/sys/kernel/printk_devkmsg`: what the kernel does with records
/// written to `/dev/kmsg`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Every record is logged.
    On,
    /// Records are ignored (and `/dev/kmsg` cannot be opened).
    Off,
    /// [`BURST`] records per window per open file, the rest dropped.
    Ratelimit,
}

/// The mode the file names; `None` for anything else.
pub fn parse_mode(text: &str) -> Option<Mode> {
    match text.trim() {
        "on" => Some(Mode::On),
        "off" => Some(Mode::Off),
        "ratelimit" => Some(Mode::Ratelimit),
        _ => None,
    }
}

/// The console loglevel: the first field of `/proc/sys/kernel/printk`.
pub fn parse_loglevel(text: &str) -> Option<u8> {
    text.split_whitespace().next()?.parse().ok()
}

/// `/sys/module/printk/parameters/ignore_loglevel` (`Y` or `N`).
pub fn parse_flag(text: &str) -> Option<bool> {
    match text.trim() {
        "Y" | "y" | "1" => Some(true),
        "N" | "n" | "0" => Some(false),
        _ => None,
    }
}

/// Whether the kernel prints a record of [`LEVEL`] on its consoles
/// (`suppress_message_printing` in kernel/printk/printk.c, negated).
pub fn kernel_shows(console_loglevel: u8, ignore_loglevel: bool) -> bool {
    ignore_loglevel || LEVEL < console_loglevel
}

/// What cinit knows of the kernel's settings, refreshed at most every
/// [`REFRESH_MS`]. `None`: unreadable.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct View {
    pub loglevel: Option<u8>,
    pub ignore_loglevel: Option<bool>,
    pub mode: Option<Mode>,
    /// When it was read; `None`: never.
    pub read_at: Option<Millis>,
}

impl View {
    /// Whether it is time to read the files again.
    pub fn stale(&self, now: Millis) -> bool {
        self.read_at
            .is_none_or(|t| now < t || now - t >= REFRESH_MS)
    }

    /// Whether a record cinit wrote is on the console without cinit. An
    /// unreadable loglevel counts as no: a line shown twice is better than
    /// a line not shown. `ignore_loglevel` unreadable counts as unset (it
    /// can only make the kernel show more, so at worst a line twice).
    pub fn kernel_shows(&self) -> bool {
        self.mode != Some(Mode::Off)
            && self
                .loglevel
                .is_some_and(|l| kernel_shows(l, self.ignore_loglevel == Some(true)))
    }

    /// Whether cinit must keep to the kernel's limit. Unreadable counts as
    /// the default, `ratelimit`.
    pub fn limited(&self) -> bool {
        !matches!(self.mode, Some(Mode::On | Mode::Off))
    }
}

/// The kernel's per-file rate limit as cinit counts it (`___ratelimit` in
/// lib/ratelimit.c): the kernel starts a window at a record it counts and
/// starts a new one at the first record more than [`INTERVAL_MS`] later.
///
/// cinit cannot see the kernel's clock (jiffies, and the write comes a
/// little after cinit read its own), so within [`MARGIN_MS`] of a window's
/// end it cannot know whether the kernel would start a new window: a line
/// there is held back, so that each record cinit writes is surely in the
/// old window or surely starts a new one. (Counting both possibilities on
/// would need every possible window start kept; a record near the end
/// could otherwise start a kernel window cinit does not know of.)
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Limiter {
    /// Start of the current window; `None` before the first record.
    pub begin: Option<Millis>,
    /// Records written in the current window.
    pub sent: u32,
    /// Lines held back (not written) since the last note.
    pub held: u64,
}

impl Limiter {
    /// The window and count a record written at `now` would be counted
    /// in; `None` near the window's end, where the kernel may count it in
    /// either.
    fn window_at(&self, now: Millis) -> Option<(Millis, u32)> {
        let Some(begin) = self.begin else {
            return Some((now, 0));
        };
        // A clock that looks back (never, for CLOCK_MONOTONIC) counts as
        // the same window: holding back is the safe side.
        let age = now.saturating_sub(begin);
        if age >= INTERVAL_MS + MARGIN_MS {
            Some((now, 0))
        } else if age + MARGIN_MS > INTERVAL_MS {
            None
        } else {
            Some((begin, self.sent))
        }
    }

    /// Whether a record may be written at `now`; if so it is counted.
    /// `enforce`: the kernel limits (`ratelimit`); otherwise every record is
    /// written and still counted, so a switch to `ratelimit` finds the count
    /// no lower than the kernel's.
    pub fn admit(&mut self, now: Millis, enforce: bool) -> bool {
        let (begin, sent) = match self.window_at(now) {
            Some(w) if !enforce || w.1 < BURST => w,
            _ if !enforce => (now, 0),
            _ => return false,
        };
        self.begin = Some(begin);
        self.sent = sent.saturating_add(1);
        true
    }

    /// Count a line held back (not written to the kernel log).
    pub fn hold(&mut self) {
        self.held = self.held.saturating_add(1);
    }

    /// When a window with held lines is surely over (then the note is due).
    pub fn reopens_at(&self) -> Option<Millis> {
        let begin = self.begin?;
        (self.held > 0).then(|| begin.saturating_add(INTERVAL_MS + MARGIN_MS))
    }

    /// Whether a record written at `now` would be admitted.
    pub fn has_room(&self, now: Millis) -> bool {
        self.window_at(now).is_some_and(|(_, sent)| sent < BURST)
    }
}

/// The note for lines the kernel log missed: `held` over the rate limit,
/// `refused` by a failed write.
pub fn missed_note(held: u64, refused: u64) -> Option<String> {
    let total = held.saturating_add(refused);
    let why = match (held, refused) {
        (0, 0) => return None,
        (_, 0) => format!("the kernel's rate limit for /dev/kmsg, {BURST} lines per 5 s"),
        (0, _) => "/dev/kmsg refused them".to_string(),
        _ => format!("{held} over the kernel's rate limit for /dev/kmsg, {refused} refused"),
    };
    let lines = if total == 1 { "line" } else { "lines" };
    Some(format!(
        "{total} {lines} not written to the kernel log ({why}); \
         they are on the console and in cinit-ctl log"
    ))
}

#[cfg(test)]
mod tests;
