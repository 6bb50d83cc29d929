//! The logs' timed work: partial lines handed out after
//! [`PARTIAL_FLUSH_MS`](crate::logs::line::PARTIAL_FLUSH_MS), file writers
//! started and fed ([`Logs::tick`], [`Logs::next_deadline`]), and the
//! look-up of a reaped log writer ([`Logs::writer_exited`]).
//!
//! Part of [`super`]. Only a service with a partial line or a file output
//! has such work ([`ServiceLog::has_timed_work`]); the logs keep the set of
//! them, so a loop wake-up visits those, not every service (a service that
//! writes whole lines to its ring has none).
//!
//! Invariant: `timed` holds every service whose log has timed work (it may
//! hold more for a while: [`Logs::tick`] drops those that have none left).
//! A partial line can only come from the splitter, which is only run
//! through `take_in`; a file output only from the settings applied at a
//! spawn or a restored snapshot. Each of those marks its service.

use super::{wall_ms, Console, Logs, Millis, Pid, RawFd, ServiceLog};
use crate::logs::kmsglog::KmsgLog;

/// Add `svc` to the ascending list `timed` unless it is there. A sorted
/// list rather than a tree: few services have timed work at a time, and
/// its code is a fraction of a `BTreeSet`'s in PID 1's binary.
pub(super) fn mark(timed: &mut Vec<usize>, svc: usize) {
    if let Err(at) = timed.binary_search(&svc) {
        timed.insert(at, svc);
    }
}

impl Logs {
    /// Mark service `svc` if its log has timed work.
    pub(crate) fn mark_timed(&mut self, svc: usize) {
        if self.get(svc).is_some_and(ServiceLog::has_timed_work) {
            mark(&mut self.timed, svc);
        }
    }

    /// Whether `pid` is a log writer (reaped: it is restarted later, unless
    /// the system is `going_down`). Returns the line for cinit's log if it
    /// was. `Some(None)`: a writer, with nothing to say.
    pub fn writer_exited(
        &mut self,
        now: Millis,
        pid: Pid,
        status: crate::sys::process::ExitStatus,
        going_down: bool,
    ) -> Option<Option<String>> {
        // Every log with a file output is in `timed`.
        let svc = self.timed.iter().copied().find(|&i| {
            self.get(i)
                .and_then(|l| l.file.as_ref())
                .is_some_and(|f| f.pid == Some(pid))
        })?;
        let name = self.name(svc).to_string();
        let f = self.get_mut(svc)?.file.as_mut()?;
        Some(f.exited(now, &name, status, going_down))
    }

    /// Timed work: hand out partial lines that waited long enough, start
    /// file writers that are due (not while `halting`: a shutdown or rescue
    /// is under way), and move lines to them. Returns lines for cinit's
    /// log.
    pub fn tick(
        &mut self,
        now: Millis,
        halting: bool,
        console_fd: Option<RawFd>,
        console: &mut Console,
    ) -> Vec<String> {
        let svcs = self.timed.clone();
        let notes = self.tick_services(&svcs, now, halting, console_fd, console);
        let services = &self.services;
        self.timed.retain(|&svc| {
            services
                .get(svc)
                .and_then(Option::as_ref)
                .is_some_and(ServiceLog::has_timed_work)
        });
        notes
    }

    /// [`Logs::tick`] for the services `svcs` (in order).
    pub(super) fn tick_services(
        &mut self,
        svcs: &[usize],
        now: Millis,
        halting: bool,
        console_fd: Option<RawFd>,
        console: &mut Console,
    ) -> Vec<String> {
        let mut notes = Vec::new();
        let wall = wall_ms();
        for &svc in svcs {
            let due = self
                .get(svc)
                .and_then(|l| l.splitter.deadline())
                .is_some_and(|d| d <= now);
            if due {
                self.take_in(svc, now, wall, console, |s, emit| s.flush(emit));
            }
            let name = self.names.get(svc).map_or("?", String::as_str);
            let Some(log) = self.services.get_mut(svc).and_then(Option::as_mut) else {
                continue;
            };
            let Some(f) = log.file.as_mut() else {
                continue;
            };
            f.pump(&log.ring, now, wall);
            if let (false, Some(fd)) = (halting, console_fd) {
                notes.extend(f.start_if_due(&log.ring, now, name, fd));
            }
        }
        notes
    }

    /// The nearest time [`Logs::tick`] has work.
    pub fn next_deadline(&self) -> Option<Millis> {
        self.timed
            .iter()
            .filter_map(|&svc| self.get(svc))
            .flat_map(|l| {
                [
                    l.splitter.deadline(),
                    l.file.as_ref().and_then(|f| f.deadline(&l.ring)),
                ]
            })
            .flatten()
            .chain(self.kmsg.as_ref().and_then(KmsgLog::deadline))
            .min()
    }
}

#[cfg(test)]
mod tests;
