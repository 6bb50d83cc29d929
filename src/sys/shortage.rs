//! Resource shortages that keep services from starting: said once per
//! cause, not once per service and retry.
//!
//! A start that fails with EMFILE, ENFILE, EAGAIN or ENOMEM is retried with
//! backoff (a respawn service); with hundreds of services that is hundreds
//! of identical console lines per round, or, read the other way, a retry
//! loop nobody is told about. Instead:
//!
//! - the first failure of a cause opens an *episode* and gives one console
//!   line (`cannot start services: Too many open files (EMFILE); retrying
//!   with backoff`); the service that hit it reports its `backoff` as
//!   usual;
//! - further failures of that cause are counted, and their services'
//!   `backoff` lines are left out (their state and reason are in
//!   `cinit-ctl status`);
//! - the episode ends once a start has succeeded and the cause has not been
//!   seen for [`CLEAR_MS`], with one line that counts what happened; the
//!   wait keeps a shortage at the edge (some starts succeed, some fail)
//!   from opening and closing an episode on every retry;
//! - while an episode is open, [`Shortages::notes`] give `cinit-ctl status`
//!   its header line.
//!
//! Pure: no system calls; the caller passes the errno and the time.

use crate::sys::clock::seconds;
use crate::sys::clock::Millis;

/// Quiet time (no failure of the cause, a success since) that ends an
/// episode.
pub const CLEAR_MS: Millis = 10_000;

/// The causes: resources the whole system (or PID 1) ran out of, which
/// no single service can fix.
const CAUSES: [(i32, &str); 4] = [
    (libc::EMFILE, "EMFILE"),
    (libc::ENFILE, "ENFILE"),
    (libc::EAGAIN, "EAGAIN"),
    (libc::ENOMEM, "ENOMEM"),
];

/// The position of `errno` in [`CAUSES`], if it is one.
fn cause(errno: i32) -> Option<usize> {
    CAUSES.iter().position(|&(e, _)| e == errno)
}

/// `Too many open files (EMFILE)`.
fn describe(i: usize) -> String {
    let (errno, name) = CAUSES.get(i).copied().unwrap_or((0, "?"));
    format!("{} ({name})", nix::errno::Errno::from_raw(errno).desc())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Episode {
    since: Millis,
    last: Millis,
    failures: u64,
}

/// What a failed start means for the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Said {
    /// Not a shortage: report it as any failure.
    Other,
    /// The first of its cause: say this line (and report the service).
    First(String),
    /// Another of an open episode: counted; the service's own line is left
    /// out.
    Repeat,
}

/// The open episodes, by cause, and the last successful start.
#[derive(Debug, Clone, Default)]
pub struct Shortages {
    open: [Option<Episode>; CAUSES.len()],
    last_start: Option<Millis>,
}

impl Shortages {
    /// A start failed with `errno` at `now`.
    pub fn failed(&mut self, errno: i32, now: Millis) -> Said {
        let Some(slot) = cause(errno).and_then(|i| self.open.get_mut(i).map(|s| (i, s))) else {
            return Said::Other;
        };
        let (i, slot) = slot;
        match slot {
            Some(ep) => {
                ep.last = now;
                ep.failures = ep.failures.saturating_add(1);
                Said::Repeat
            }
            None => {
                *slot = Some(Episode {
                    since: now,
                    last: now,
                    failures: 1,
                });
                Said::First(format!(
                    "cannot start services: {}; retrying with backoff \
                     (said once until it clears)",
                    describe(i)
                ))
            }
        }
    }

    /// A start succeeded at `now`; returns the lines of episodes it ends.
    pub fn started(&mut self, now: Millis) -> Vec<String> {
        self.last_start = Some(now);
        self.tick(now)
    }

    /// End the episodes that are over at `now`; one line each.
    pub fn tick(&mut self, now: Millis) -> Vec<String> {
        let Some(start) = self.last_start else {
            return Vec::new();
        };
        let mut lines = Vec::new();
        for (i, slot) in self.open.iter_mut().enumerate() {
            let Some(ep) = *slot else { continue };
            if start > ep.last && now >= ep.last.saturating_add(CLEAR_MS) {
                *slot = None;
                lines.push(format!(
                    "services start again: {} cleared; {} start(s) failed over {}",
                    describe(i),
                    ep.failures,
                    seconds(ep.last.saturating_sub(ep.since))
                ));
            }
        }
        lines
    }

    /// When [`Shortages::tick`] may next end an episode (None: nothing
    /// to wait for: no episode, or no success since its last failure).
    pub fn deadline(&self) -> Option<Millis> {
        let start = self.last_start?;
        self.open
            .iter()
            .flatten()
            .filter(|ep| start > ep.last)
            .map(|ep| ep.last.saturating_add(CLEAR_MS))
            .min()
    }

    /// One line per open episode, for `cinit-ctl status`.
    pub fn notes(&self, now: Millis) -> Vec<String> {
        self.open
            .iter()
            .enumerate()
            .filter_map(|(i, slot)| slot.map(|ep| (i, ep)))
            .map(|(i, ep)| {
                format!(
                    "cannot start services: {} for {}, {} failed start(s), the last {} ago; \
                     retrying with backoff",
                    describe(i),
                    seconds(now.saturating_sub(ep.since)),
                    ep.failures,
                    seconds(now.saturating_sub(ep.last))
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves a cause is said once, repeats are counted quietly, and other
    /// errors are not shortages.
    #[test]
    fn said_once_per_cause() {
        let mut s = Shortages::default();
        assert_eq!(s.failed(libc::ENOENT, 0), Said::Other);
        assert_eq!(s.failed(libc::ETXTBSY, 0), Said::Other);
        let Said::First(line) = s.failed(libc::EMFILE, 100) else {
            panic!("first EMFILE is said");
        };
        assert_eq!(
            line,
            "cannot start services: Too many open files (EMFILE); retrying with backoff \
             (said once until it clears)"
        );
        for t in 0..500 {
            assert_eq!(s.failed(libc::EMFILE, 200 + t), Said::Repeat);
        }
        assert!(matches!(s.failed(libc::ENOMEM, 300), Said::First(_)));
        assert_eq!(s.notes(1100).len(), 2);
        assert!(s.notes(1100)[0].starts_with(
            "cannot start services: Too many open files (EMFILE) for 1.000s, 501 failed start(s)"
        ));
    }

    /// Proves an episode ends only after a success and CLEAR_MS without
    /// the cause, with a count; a success right after a failure (a
    /// shortage at the edge) does not end it.
    #[test]
    fn an_episode_clears_after_quiet_and_a_success() {
        let mut s = Shortages::default();
        assert!(matches!(s.failed(libc::EMFILE, 1000), Said::First(_)));
        assert_eq!(s.failed(libc::EMFILE, 2000), Said::Repeat);
        assert!(
            s.started(2500).is_empty(),
            "too soon after the last failure"
        );
        assert_eq!(s.deadline(), Some(2000 + CLEAR_MS));
        assert!(s.tick(2000 + CLEAR_MS - 1).is_empty());
        let lines = s.tick(2000 + CLEAR_MS);
        assert_eq!(
            lines,
            [
                "services start again: Too many open files (EMFILE) cleared; \
              2 start(s) failed over 1.000s"
            ]
        );
        assert!(s.notes(20_000).is_empty());
        assert_eq!(s.deadline(), None);
        assert!(
            matches!(s.failed(libc::EMFILE, 30_000), Said::First(_)),
            "a new episode is said again"
        );
    }

    /// Proves failures alone never end an episode (no success, no clear),
    /// and a success before the last failure does not count.
    #[test]
    fn no_success_no_clear() {
        let mut s = Shortages::default();
        assert!(s.started(10).is_empty());
        assert!(matches!(s.failed(libc::EAGAIN, 1000), Said::First(_)));
        assert_eq!(s.deadline(), None, "the only success is older");
        assert!(s.tick(1_000_000).is_empty());
        assert_eq!(s.notes(1_000_000).len(), 1);
    }
}
