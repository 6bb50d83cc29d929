//! Logs across a hot update: the snapshot records of every log (section
//! 11) and of every log reader (section 13), and handing them from one
//! image to the next ([`Logs::export`], [`Logs::adopt`]).
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
//! can hold, and a damaged record is reported by the snapshot decoder.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;

use crate::config::logconf::{FileTarget, MAX_KEEP, MAX_RING, MIN_RING};
use crate::logs::file::FileOut;
use crate::logs::kmsglog::KmsgLog;
use crate::logs::line::Splitter;
use crate::logs::ring::{Ring, LINE_OVERHEAD};
use crate::logs::{Logs, ServiceLog};
use crate::proto::wire::In;
use crate::proto::wire::Out;
use crate::proto::LogLine;

/// Most lines one record may hold: what the largest ring can.
pub const MAX_LINES: usize = MAX_RING / LINE_OVERHEAD + 1;
/// Most bytes of ring contents written into one snapshot, over all logs
/// (the snapshot is read back at most 256 MiB): beyond it, the oldest lines
/// of the logs written last are left out and counted as dropped.
pub const SNAPSHOT_LINE_BUDGET: usize = 128 << 20;

/// One log's file output.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileRecord {
    pub path: PathBuf,
    pub rotate_bytes: u64,
    pub keep: u32,
    pub read_fd: i32,
    pub write_fd: i32,
    pub next: u64,
    pub out: Vec<u8>,
    pub missed: u64,
    /// The writer's pid, 0 for none.
    pub pid: i32,
    pub failures: u32,
    pub restart_at: Option<u64>,
    pub started_at: u64,
}

/// One log: a service's (with its pipe) or cinit's own.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogRecord {
    /// The service index; `None` for cinit's own log.
    pub svc: Option<u32>,
    pub name: String,
    /// The pipe's ends, -1 for none.
    pub read_fd: i32,
    pub write_fd: i32,
    pub capacity: u64,
    pub next_seq: u64,
    pub dropped: u64,
    pub lines: Vec<LogLine>,
    pub partial: Vec<u8>,
    pub partial_since: Option<u64>,
    pub mirror: bool,
    pub file: Option<FileRecord>,
    /// Processes of the service not reaped yet.
    pub procs: Vec<i32>,
    /// Lines `/dev/kmsg` refused (cinit's own log).
    pub kmsg_dropped: u64,
    /// cinit's own log only, added later (an older writer leaves them out;
    /// they then take these defaults): lines held back by the rate limit
    /// and not yet noted, the limit's window (start, records sent), and the
    /// `/dev/kmsg` descriptor (-1: none), kept so that the kernel's count
    /// goes on with the same open file.
    pub kmsg_held: u64,
    pub kmsg_begin: Option<u64>,
    pub kmsg_sent: u32,
    pub kmsg_fd: i32,
}

impl LogRecord {
    /// Write the LOG section's payload (tag 11 of the hot-update snapshot).
    pub(crate) fn save(&self, o: &mut Out) {
        o.bool(self.svc.is_some());
        o.u32(self.svc.unwrap_or(0));
        o.str(&self.name);
        o.i32(self.read_fd);
        o.i32(self.write_fd);
        o.u64(self.capacity);
        o.u64(self.next_seq);
        o.u64(self.dropped);
        o.len(self.lines.len());
        for l in &self.lines {
            o.u64(l.seq);
            o.u64(l.mono_ms);
            o.u64(l.wall_ms);
            o.str(&l.text);
        }
        o.bytes(&self.partial);
        o.opt_u64(self.partial_since);
        o.bool(self.mirror);
        o.bool(self.file.is_some());
        if let Some(f) = &self.file {
            o.path(&f.path);
            o.u64(f.rotate_bytes);
            o.u32(f.keep);
            o.i32(f.read_fd);
            o.i32(f.write_fd);
            o.u64(f.next);
            o.bytes(&f.out);
            o.u64(f.missed);
            o.i32(f.pid);
            o.u32(f.failures);
            o.opt_u64(f.restart_at);
            o.u64(f.started_at);
        }
        o.len(self.procs.len());
        for &p in &self.procs {
            o.i32(p);
        }
        o.u64(self.kmsg_dropped);
        o.u64(self.kmsg_held);
        o.opt_u64(self.kmsg_begin);
        o.u32(self.kmsg_sent);
        o.i32(self.kmsg_fd);
    }

    /// Read the LOG section's payload; `None` if it is damaged.
    pub(crate) fn load(p: &mut In) -> Option<LogRecord> {
        let has_svc = p.bool()?;
        let svc = p.u32()?;
        let mut r = LogRecord {
            svc: has_svc.then_some(svc),
            name: p.str()?,
            read_fd: p.i32()?,
            write_fd: p.i32()?,
            capacity: p.u64()?,
            next_seq: p.u64()?,
            dropped: p.u64()?,
            ..LogRecord::default()
        };
        let n = p.len().filter(|&n| n <= MAX_LINES)?;
        for _ in 0..n {
            r.lines.push(LogLine {
                seq: p.u64()?,
                mono_ms: p.u64()?,
                wall_ms: p.u64()?,
                text: p.str()?,
            });
        }
        r.partial = p.bytes()?;
        r.partial_since = p.opt_u64()?;
        r.mirror = p.bool()?;
        if p.bool()? {
            r.file = Some(FileRecord {
                path: p.path()?,
                rotate_bytes: p.u64()?,
                keep: p.u32()?,
                read_fd: p.i32()?,
                write_fd: p.i32()?,
                next: p.u64()?,
                out: p.bytes()?,
                missed: p.u64()?,
                pid: p.i32()?,
                failures: p.u32()?,
                restart_at: p.opt_u64()?,
                started_at: p.u64()?,
            });
        }
        let n = p.count()?;
        for _ in 0..n {
            r.procs.push(p.i32()?);
        }
        r.kmsg_dropped = p.u64()?;
        // Fields an older writer did not have: missing ones keep their
        // defaults.
        r.kmsg_fd = -1;
        if let Some(held) = p.u64() {
            r.kmsg_held = held;
        }
        if let Some(begin) = p.opt_u64() {
            r.kmsg_begin = begin;
        }
        if let Some(sent) = p.u32() {
            r.kmsg_sent = sent;
        }
        if let Some(fd) = p.i32() {
            r.kmsg_fd = fd;
        }
        Some(r)
    }
}

/// Adopt descriptor `fd` handed over by the previous image, if it is
/// really open.
fn adopt_fd(fd: i32, is_open: &impl Fn(i32) -> bool) -> Option<OwnedFd> {
    // SAFETY: the snapshot names the descriptor as one the previous image
    // owned and handed over; it is open, and nothing else here owns it.
    (fd >= 3 && is_open(fd)).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The ring's lines, newest kept within `budget` bytes (which shrinks by
/// what they use); how many were left out.
fn lines_within(ring: &Ring, budget: &mut usize) -> (Vec<LogLine>, u64) {
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
    (ring.lines().skip(skip).cloned().collect(), skip as u64)
}

impl Logs {
    /// Every log as snapshot records (descriptors stay owned here: the
    /// exec may fail).
    pub fn export(&self) -> Vec<LogRecord> {
        let mut budget = SNAPSHOT_LINE_BUDGET;
        let (lines, left_out) = lines_within(&self.own, &mut budget);
        let mut out = vec![LogRecord {
            svc: None,
            name: String::new(),
            read_fd: -1,
            write_fd: -1,
            capacity: self.own.capacity() as u64,
            next_seq: self.own.next_seq(),
            dropped: self.own.dropped() + left_out,
            lines,
            kmsg_dropped: self.kmsg.as_ref().map_or(0, |k| k.refused),
            kmsg_held: self.kmsg.as_ref().map_or(0, |k| k.limiter.held),
            kmsg_begin: self.kmsg.as_ref().and_then(|k| k.limiter.begin),
            kmsg_sent: self.kmsg.as_ref().map_or(0, |k| k.limiter.sent),
            kmsg_fd: self.kmsg.as_ref().and_then(KmsgLog::raw_fd).unwrap_or(-1),
            ..LogRecord::default()
        }];
        for (i, log) in self.services.iter().enumerate() {
            let Some(log) = log else {
                continue;
            };
            let (lines, left_out) = lines_within(&log.ring, &mut budget);
            let (partial, since) = log.splitter.partial();
            let fd = |f: Option<&OwnedFd>| f.map_or(-1, |f| f.as_raw_fd());
            out.push(LogRecord {
                svc: u32::try_from(i).ok(),
                name: self.names.get(i).cloned().unwrap_or_default(),
                read_fd: fd(log.pipe.as_ref().map(|p| &p.0)),
                write_fd: fd(log.pipe.as_ref().map(|p| &p.1)),
                capacity: log.ring.capacity() as u64,
                next_seq: log.ring.next_seq(),
                dropped: log.ring.dropped() + left_out,
                lines,
                partial: partial.to_vec(),
                partial_since: since,
                mirror: log.mirror,
                file: log.file.as_ref().map(|f| FileRecord {
                    path: f.target.path.clone(),
                    rotate_bytes: f.target.rotate_bytes,
                    keep: f.target.keep,
                    read_fd: f.read.as_raw_fd(),
                    write_fd: f.write.as_raw_fd(),
                    next: f.next,
                    out: f.out.clone(),
                    missed: f.missed,
                    pid: f.pid.unwrap_or(0),
                    failures: f.failures,
                    restart_at: f.restart_at,
                    started_at: f.started_at,
                }),
                procs: self
                    .procs
                    .iter()
                    .filter(|&(_, &s)| s == i)
                    .map(|(&p, _)| p)
                    .collect(),
                kmsg_fd: -1,
                ..LogRecord::default()
            });
        }
        out
    }

    /// Take over the logs of the previous image. `services`: how many
    /// services the restored engine has (records beyond are dropped);
    /// `is_open` tells whether a descriptor is really open. Returns one
    /// line per thing lost.
    pub fn adopt(
        &mut self,
        records: Vec<LogRecord>,
        services: usize,
        is_open: impl Fn(i32) -> bool,
    ) -> Vec<String> {
        let mut lost = Vec::new();
        let ring_of = |r: &LogRecord| {
            let cap = usize::try_from(r.capacity).unwrap_or(MAX_RING);
            Ring::restore(cap, r.next_seq, r.dropped, r.lines.clone())
        };
        for r in records {
            let Some(svc) = r.svc else {
                let mut own = ring_of(&r);
                own.set_capacity(crate::logs::OWN_RING);
                // The new image's first lines (if any) follow the old ones.
                let mine: Vec<LogLine> = self.own.lines().cloned().collect();
                self.own = own;
                for l in mine {
                    self.own.push(l.mono_ms, l.wall_ms, l.text);
                }
                if let Some(k) = self.kmsg.as_mut() {
                    k.refused = r.kmsg_dropped;
                    k.limiter.held = r.kmsg_held;
                    // The same open file: the kernel's count goes on, and
                    // so does cinit's. Otherwise the file opened by this
                    // image starts a new count on both sides.
                    if let Some(fd) = adopt_fd(r.kmsg_fd, &is_open) {
                        k.adopt_fd(fd);
                        k.limiter.begin = r.kmsg_begin;
                        k.limiter.sent = r.kmsg_sent;
                    }
                }
                continue;
            };
            let svc = svc as usize;
            if svc >= services {
                lost.push(format!("the log of service #{svc} (not in the tree)"));
                continue;
            }
            let mut log = ServiceLog::new(MIN_RING);
            log.ring = ring_of(&r);
            log.ring
                .set_capacity(log.ring.capacity().clamp(MIN_RING, MAX_RING));
            log.splitter = Splitter::with_partial(r.partial, r.partial_since);
            log.mirror = r.mirror;
            match (
                adopt_fd(r.read_fd, &is_open),
                adopt_fd(r.write_fd, &is_open),
            ) {
                (Some(rd), Some(wr)) => log.pipe = Some((rd, wr)),
                _ if r.read_fd < 0 => {}
                _ => lost.push(format!("the log pipe of {}", r.name)),
            }
            if let Some(f) = r.file {
                match (
                    adopt_fd(f.read_fd, &is_open),
                    adopt_fd(f.write_fd, &is_open),
                ) {
                    (Some(read), Some(write)) => {
                        log.file = Some(FileOut {
                            target: FileTarget {
                                path: f.path,
                                rotate_bytes: f.rotate_bytes,
                                keep: f.keep.min(MAX_KEEP),
                            },
                            read,
                            write,
                            next: f.next,
                            out: f.out,
                            missed: f.missed,
                            pid: (f.pid > 1).then_some(f.pid),
                            // Unknown: a writer is started if none runs.
                            unread: f.pid <= 1,
                            failures: f.failures,
                            // Not kept: a refusal is said again once.
                            refused: None,
                            restart_at: f.restart_at,
                            started_at: f.started_at,
                        });
                    }
                    _ => lost.push(format!("the log file output of {}", r.name)),
                }
            }
            for p in r.procs.into_iter().filter(|&p| p > 1) {
                self.procs.insert(p, svc);
            }
            if self.services.len() <= svc {
                self.services.resize_with(svc + 1, || None);
            }
            if let Some(slot) = self.services.get_mut(svc) {
                *slot = Some(log);
            }
            if !r.name.is_empty() {
                self.set_name(svc, &r.name);
            }
        }
        lost
    }
}

#[cfg(test)]
mod tests;
