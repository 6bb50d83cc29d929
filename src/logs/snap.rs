//! Logs across a hot update: a LOG section per log, written from the live
//! logs and read straight back into them ([`Logs::save`], [`Logs::load`]).
//!
//! Pipes (both ends of each), rings (lines, numbering, drop counts),
//! partial lines, the file writers' pipes, cursors and pids, and the
//! processes of each service all carry over: nothing a service writes
//! during the exec is lost, since its pipe stays open and is read by the new
//! image, and a writer process simply keeps running. Field order is the
//! format (doc/DESIGN.md); new fields only ever go at the end.
//!
//! Decoding never trusts a length: strings and byte fields are checked
//! against what is left, line counts are bounded by what the largest ring
//! can hold. A section is read to its end before any descriptor it names
//! is adopted, so a damaged one adopts nothing and is reported.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::config::logconf::{FileTarget, MAX_KEEP, MAX_RING, MIN_RING};
use crate::logs::file::FileOut;
use crate::logs::kmsglog::KmsgLog;
use crate::logs::line::Splitter;
use crate::logs::ring::{Ring, LINE_OVERHEAD};
use crate::logs::{Logs, ServiceLog};
use crate::proto::wire::{In, Lost, Out, Sections};
use crate::proto::LogLine;

/// The logs' snapshot section tag (doc/DESIGN.md, "Hot update snapshot",
/// keeps the table of every owner's tags).
pub const TAG_LOG: u8 = 11;

/// Most lines one record may hold: what the largest ring can.
pub const MAX_LINES: usize = MAX_RING / LINE_OVERHEAD + 1;
/// Most bytes of ring contents written into one snapshot, over all logs
/// (the snapshot is read back at most 256 MiB): beyond it, the oldest lines
/// of the logs written last are left out and counted as dropped.
pub const SNAPSHOT_LINE_BUDGET: usize = 128 << 20;

/// Adopt descriptor `fd` handed over by the previous image, if it is
/// really open.
fn adopt_fd(fd: i32, is_open: &impl Fn(i32) -> bool) -> Option<OwnedFd> {
    // SAFETY: the snapshot names the descriptor as one the previous image
    // owned and handed over; it is open, and nothing else here owns it.
    (fd >= 3 && is_open(fd)).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The ring's lines, newest kept within `budget` bytes (which shrinks by
/// what they use), borrowed from the ring (written straight from it, not
/// copied first: a line and its text were an allocation each); how many
/// were left out.
fn lines_within<'a>(
    ring: &'a Ring,
    budget: &mut usize,
) -> (impl ExactSizeIterator<Item = &'a LogLine>, u64) {
    let mut keep = ring.len();
    let mut used = 0usize;
    for (k, l) in ring.lines().enumerate().rev() {
        let cost = l.text.len() + LINE_OVERHEAD;
        if used + cost > *budget {
            keep = ring.len() - k - 1;
            break;
        }
        used += cost;
    }
    *budget = budget.saturating_sub(used);
    let skip = ring.len() - keep;
    (ring.lines().skip(skip), skip as u64)
}

fn save_lines<'a>(o: &mut Out, lines: impl ExactSizeIterator<Item = &'a LogLine>) {
    o.len(lines.len());
    for l in lines {
        o.u64(l.seq);
        o.u64(l.mono_ms);
        o.u64(l.wall_ms);
        o.str(&l.text);
    }
}

impl Logs {
    /// Write a LOG section per log, cinit's own first (the descriptors stay
    /// owned here: the exec may fail). Fields: service (present u8, u32),
    /// name, the pipe's ends (-1: none), ring capacity, next number and
    /// drop count, the lines, the partial line and since when, mirroring,
    /// the file output (present u8, then path, rotation, keep, its pipe's
    /// ends, next number, output not written, lines missed, the writer's
    /// pid (0: none), failures, restart time, start time), the processes,
    /// then cinit's own `/dev/kmsg` state (refused, held, window start and
    /// count, descriptor).
    pub fn save(&self, out: &mut Sections) {
        let mut budget = SNAPSHOT_LINE_BUDGET;
        let (lines, left_out) = lines_within(&self.own, &mut budget);
        let k = self.kmsg.as_ref();
        out.put(TAG_LOG, |o| {
            o.bool(false);
            o.u32(0);
            o.str("");
            o.i32(-1);
            o.i32(-1);
            o.u64(self.own.capacity() as u64);
            o.u64(self.own.next_seq());
            o.u64(self.own.dropped() + left_out);
            save_lines(o, lines);
            o.bytes(&[]);
            o.opt_u64(None);
            o.bool(false); // mirror
            o.bool(false); // file
            o.len(0); // processes
            o.u64(k.map_or(0, |k| k.refused));
            o.u64(k.map_or(0, |k| k.limiter.held));
            o.opt_u64(k.and_then(|k| k.limiter.begin));
            o.u32(k.map_or(0, |k| k.limiter.sent));
            o.i32(k.and_then(KmsgLog::raw_fd).unwrap_or(-1));
        });
        // Each service's processes, grouped once: (service, pid) in order,
        // so that a service's are a run found by binary search, instead of
        // a pass over every process per service (quadratic).
        let mut procs: Vec<(usize, i32)> = self.procs.iter().map(|(&p, &s)| (s, p)).collect();
        procs.sort_unstable();
        for (i, log) in self.services.iter().enumerate() {
            let Some(log) = log else {
                continue;
            };
            let first = procs.partition_point(|&(s, _)| s < i);
            let mine = procs.get(first..).unwrap_or_default();
            let mine = mine.get(..mine.partition_point(|&(s, _)| s == i));
            let (lines, left_out) = lines_within(&log.ring, &mut budget);
            let (partial, since) = log.splitter.partial();
            let fd = |f: Option<&OwnedFd>| f.map_or(-1, |f| f.as_raw_fd());
            out.put(TAG_LOG, |o| {
                let svc = u32::try_from(i).ok();
                o.bool(svc.is_some());
                o.u32(svc.unwrap_or(0));
                o.str(self.names.get(i).map_or("", String::as_str));
                o.i32(fd(log.pipe.as_ref().map(|p| &p.0)));
                o.i32(fd(log.pipe.as_ref().map(|p| &p.1)));
                o.u64(log.ring.capacity() as u64);
                o.u64(log.ring.next_seq());
                o.u64(log.ring.dropped() + left_out);
                save_lines(o, lines);
                o.bytes(partial);
                o.opt_u64(since);
                o.bool(log.mirror);
                o.bool(log.file.is_some());
                if let Some(f) = &log.file {
                    o.path(&f.target.path);
                    o.u64(f.target.rotate_bytes);
                    o.u32(f.target.keep);
                    o.i32(f.read.as_raw_fd());
                    o.i32(f.write.as_raw_fd());
                    o.u64(f.next);
                    o.bytes(&f.out);
                    o.u64(f.missed);
                    o.i32(f.pid.unwrap_or(0));
                    o.u32(f.failures);
                    o.opt_u64(f.restart_at);
                    o.u64(f.started_at);
                }
                let mine = mine.unwrap_or_default();
                o.len(mine.len());
                for &(_, p) in mine {
                    o.i32(p);
                }
                // cinit's own log only.
                o.u64(0);
                o.u64(0);
                o.opt_u64(None);
                o.u32(0);
                o.i32(-1);
            });
        }
    }

    /// Take over the logs of the previous image from its LOG sections.
    /// `services`: how many services the restored engine has (logs beyond
    /// are dropped); `is_open` tells whether a descriptor is really open.
    /// Each thing lost, a damaged section included, is a line in `lost`.
    pub fn load(
        &mut self,
        from: &Sections,
        services: usize,
        is_open: impl Fn(i32) -> bool,
        lost: &mut Lost,
    ) {
        let adopt = |fd| adopt_fd(fd, &is_open);
        // Sized once for every service's log instead of growing a step at
        // a time.
        let logs = from.count(TAG_LOG).min(services);
        self.services.reserve(logs);
        self.names.reserve(logs);
        let notes = from.read_all(TAG_LOG, lost, |p| self.load_one(p, services, &adopt));
        lost.extend(notes.into_iter().flatten().flatten());
    }

    /// Read one LOG section and take it over; `None` (nothing adopted) if
    /// it is damaged, else what was lost.
    fn load_one(
        &mut self,
        p: &mut In,
        services: usize,
        adopt: &dyn Fn(i32) -> Option<OwnedFd>,
    ) -> Option<Vec<String>> {
        // Everything is read before anything is adopted.
        let svc = p.bool()?.then_some(p.u32()?);
        let name = p.str()?;
        let (read_fd, write_fd) = (p.i32()?, p.i32()?);
        let capacity = usize::try_from(p.u64()?).unwrap_or(MAX_RING);
        let (next_seq, dropped) = (p.u64()?, p.u64()?);
        let n = p.len().filter(|&n| n <= MAX_LINES)?;
        // Sized once, never beyond what the bytes left can hold (a line is
        // at least 28 bytes).
        let mut lines = Vec::with_capacity(n.min(p.0.len() / 28));
        for _ in 0..n {
            lines.push(LogLine {
                seq: p.u64()?,
                mono_ms: p.u64()?,
                wall_ms: p.u64()?,
                text: p.str()?,
            });
        }
        let ring = Ring::restore(capacity, next_seq, dropped, lines);
        let splitter = Splitter::with_partial(p.bytes()?, p.opt_u64()?);
        let mirror = p.bool()?;
        let file = if p.bool()? {
            let target = FileTarget {
                path: p.path()?,
                rotate_bytes: p.u64()?,
                keep: p.u32()?.min(MAX_KEEP),
            };
            let (read_at, write_at, next, out) = (p.i32()?, p.i32()?, p.u64()?, p.bytes()?);
            let (missed, pid, failures) = (p.u64()?, p.i32()?, p.u32()?);
            let (restart_at, started_at) = (p.opt_u64()?, p.u64()?);
            // Built once both descriptors are adopted.
            let build = move |read: OwnedFd, write: OwnedFd| FileOut {
                target,
                read,
                write,
                next,
                out,
                missed,
                pid: (pid > 1).then_some(pid),
                // Unknown: a writer is started if none runs.
                unread: pid <= 1,
                failures,
                // Not kept: a refusal is said again once.
                refused: None,
                restart_at,
                started_at,
            };
            Some((read_at, write_at, build))
        } else {
            None
        };
        let n = p.count()?;
        let mut procs = Vec::with_capacity(n.min(p.0.len() / 4));
        for _ in 0..n {
            procs.push(p.i32()?);
        }
        let kmsg_refused = p.u64()?;
        // Fields an older writer did not have: missing ones keep their
        // defaults.
        let kmsg_held = p.u64().unwrap_or(0);
        let kmsg_begin = p.opt_u64().flatten();
        let kmsg_sent = p.u32().unwrap_or(0);
        let kmsg_fd = p.i32().unwrap_or(-1);

        let mut lost = Vec::new();
        let Some(svc) = svc else {
            let mut own = ring;
            own.set_capacity(crate::logs::OWN_RING);
            // The new image's first lines (if any) follow the old ones.
            let mine: Vec<LogLine> = self.own.lines().cloned().collect();
            self.own = own;
            for l in mine {
                self.own.push(l.mono_ms, l.wall_ms, l.text);
            }
            if let Some(k) = self.kmsg.as_mut() {
                k.refused = kmsg_refused;
                k.limiter.held = kmsg_held;
                // The same open file: the kernel's count goes on, and so
                // does cinit's. Otherwise the file opened by this image
                // starts a new count on both sides.
                if let Some(fd) = adopt(kmsg_fd) {
                    k.adopt_fd(fd);
                    k.limiter.begin = kmsg_begin;
                    k.limiter.sent = kmsg_sent;
                }
            }
            return Some(lost);
        };
        let svc = svc as usize;
        if svc >= services {
            lost.push(format!("the log of service #{svc} (not in the tree)"));
            return Some(lost);
        }
        let mut log = ServiceLog::new(MIN_RING);
        log.ring = ring;
        log.ring
            .set_capacity(log.ring.capacity().clamp(MIN_RING, MAX_RING));
        log.splitter = splitter;
        log.mirror = mirror;
        match (adopt(read_fd), adopt(write_fd)) {
            (Some(rd), Some(wr)) => log.pipe = Some((rd, wr)),
            _ if read_fd < 0 => {}
            _ => lost.push(format!("the log pipe of {name}")),
        }
        if let Some((read_at, write_at, build)) = file {
            match (adopt(read_at), adopt(write_at)) {
                (Some(read), Some(write)) => log.file = Some(Box::new(build(read, write))),
                _ => lost.push(format!("the log file output of {name}")),
            }
        }
        for p in procs.into_iter().filter(|&p| p > 1) {
            self.procs.insert(p, svc);
        }
        if self.services.len() <= svc {
            self.services.resize_with(svc + 1, || None);
        }
        if let Some(slot) = self.services.get_mut(svc) {
            *slot = Some(log);
        }
        // A restored partial line or file output has timed work.
        self.mark_timed(svc);
        if !name.is_empty() {
            self.set_name(svc, name);
        }
        Some(lost)
    }
}

#[cfg(test)]
mod tests;
