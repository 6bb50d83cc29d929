//! Readiness pipes: PID 1's side of `notification-fd`. Each spawn of a
//! service that signals readiness gets a fresh pipe; the child holds the
//! write end at its `notification-fd`, cinit the read end (non-blocking,
//! close-on-exec), which the event loop polls and reads in small chunks
//! until a newline arrives (s6's rule: a line, then the service may close
//! the descriptor).
//!
//! Invariants: at most one read end per unreaped process (and so per
//! service); a read end is closed when its newline arrives, at end of file,
//! after [`MAX_JUNK`] bytes without a newline, or when its process is
//! reaped ([`ReadyPipes::forget`]); at most one [`CHUNK`] is read from each
//! per wakeup, and nothing read is kept (only a count), so neither memory
//! nor a loop iteration depends on what a service writes. The read ends
//! survive a hot update (their READY sections, [`ReadyPipes::save`]).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::PollFlags;

use crate::proto::wire::{In, Lost, Sections};
use crate::sys::process::Pid;

/// The readiness pipes' snapshot section tag (doc/DESIGN.md, "Hot update
/// snapshot", keeps the table of every owner's tags).
pub const TAG_READY: u8 = 10;

/// Most bytes read from one pipe per loop iteration.
pub const CHUNK: usize = 256;
/// Bytes without a newline after which cinit stops listening (the service
/// then stays `starting` until it exits or its `ready-timeout` passes).
pub const MAX_JUNK: u32 = 4096;

/// What the bytes read so far from one pipe mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A newline: the process is ready.
    Ready,
    /// End of file without a newline: nothing more can come.
    Closed,
    /// [`MAX_JUNK`] bytes and no newline: give up listening.
    TooMuch,
    /// No newline yet; this many bytes so far.
    More(u32),
}

/// Judge one chunk read from a pipe that had `seen` bytes before it; an
/// empty chunk is end of file. Pure.
pub fn scan(chunk: &[u8], seen: u32) -> Verdict {
    if chunk.is_empty() {
        return Verdict::Closed;
    }
    if chunk.contains(&b'\n') {
        return Verdict::Ready;
    }
    let seen = seen.saturating_add(u32::try_from(chunk.len()).unwrap_or(u32::MAX));
    if seen >= MAX_JUNK {
        Verdict::TooMuch
    } else {
        Verdict::More(seen)
    }
}

/// Something that happened on a readiness pipe (its read end is closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Ready {
        pid: Pid,
        svc: usize,
    },
    /// End of file without a newline.
    Closed {
        pid: Pid,
        svc: usize,
    },
    /// [`MAX_JUNK`] bytes without a newline.
    TooMuch {
        pid: Pid,
        svc: usize,
    },
}

struct Pipe {
    read: OwnedFd,
    pid: Pid,
    svc: usize,
    /// Bytes read so far without a newline.
    seen: u32,
}

/// A new pipe for one spawn.
pub struct NewPipe {
    /// Non-blocking, close-on-exec: stays in cinit.
    pub read: OwnedFd,
    /// Close-on-exec and never numbered like the target, so the spawn's
    /// `dup2` to the target always makes a fresh, inheritable copy.
    pub write: OwnedFd,
}

/// The read ends of every process that has not signalled readiness yet.
#[derive(Default)]
pub struct ReadyPipes {
    pipes: Vec<Pipe>,
}

impl ReadyPipes {
    /// A pipe whose write end goes to a child at descriptor `target`.
    /// Only the read end is non-blocking: the write end's open file
    /// description is the child's, and O_NONBLOCK on it would leak to it.
    pub fn open(target: RawFd) -> Result<NewPipe, i32> {
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| e as i32)?;
        fcntl(&read, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).map_err(|e| e as i32)?;
        let write = away_from(write, target)?;
        Ok(NewPipe { read, write })
    }

    /// Listen on `read` for the readiness of process `pid` of service `svc`.
    pub fn watch(&mut self, read: OwnedFd, pid: Pid, svc: usize) {
        // A pid is unique among unreaped processes; a stale entry would be
        // a bookkeeping slip, and the new pipe is the one that counts.
        self.forget(pid);
        self.pipes.push(Pipe {
            read,
            pid,
            svc,
            seen: 0,
        });
    }

    /// Process `pid` was reaped: its pipe (if any) is of no use any more.
    pub fn forget(&mut self, pid: Pid) {
        self.pipes.retain(|p| p.pid != pid);
    }

    /// The descriptors to poll for input.
    pub fn poll_fds(&self) -> impl Iterator<Item = BorrowedFd<'_>> {
        self.pipes.iter().map(|p| p.read.as_fd())
    }

    pub fn is_empty(&self) -> bool {
        self.pipes.is_empty()
    }

    /// Read the pipes poll reported (by descriptor) and return what
    /// happened; pipes that are done are closed.
    pub fn handle(&mut self, revents: &[(RawFd, PollFlags)]) -> Vec<Event> {
        let mut events = Vec::new();
        let wanted = PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR;
        self.pipes.retain_mut(|p| {
            let raw = p.read.as_raw_fd();
            if !revents
                .iter()
                .any(|&(fd, ev)| fd == raw && ev.intersects(wanted))
            {
                return true;
            }
            let mut buf = [0u8; CHUNK];
            let verdict = match nix::unistd::read(&p.read, &mut buf) {
                Ok(n) => scan(buf.get(..n).unwrap_or(&[]), p.seen),
                Err(Errno::EAGAIN | Errno::EINTR) => return true,
                Err(_) => Verdict::Closed,
            };
            let (pid, svc) = (p.pid, p.svc);
            match verdict {
                Verdict::More(seen) => {
                    p.seen = seen;
                    return true;
                }
                Verdict::Ready => events.push(Event::Ready { pid, svc }),
                Verdict::Closed => events.push(Event::Closed { pid, svc }),
                Verdict::TooMuch => events.push(Event::TooMuch { pid, svc }),
            }
            false
        });
        events
    }

    /// Write a READY section per read end: `fd i32`, `pid i32`, `svc u32`,
    /// `seen u32`. The descriptors stay owned here (the exec may fail).
    pub fn save(&self, out: &mut Sections) {
        for p in &self.pipes {
            out.put(TAG_READY, |o| {
                o.i32(p.read.as_raw_fd());
                o.i32(p.pid);
                o.u32(u32::try_from(p.svc).unwrap_or(u32::MAX));
                o.u32(p.seen);
            });
        }
    }

    pub fn raw_fds(&self) -> Vec<RawFd> {
        self.pipes.iter().map(|p| p.read.as_raw_fd()).collect()
    }

    /// Take the read ends over from the previous image's READY sections
    /// (a damaged one is reported in `lost`). A descriptor that is not an
    /// open pipe, or is already `taken` (by the console, the control
    /// socket, or another section), is left alone and named in the
    /// returned notes: its service then stays `starting` until it exits or
    /// times out.
    pub fn load(from: &Sections, taken: &[RawFd], lost: &mut Lost) -> (ReadyPipes, Vec<String>) {
        let mut out = ReadyPipes::default();
        let mut notes = Vec::new();
        let read = |p: &mut In| Some((p.i32()?, p.i32()?, p.u32()?, p.u32()?));
        for (fd, pid, svc, seen) in from.read_all(TAG_READY, lost, read).into_iter().flatten() {
            let claimed = taken.contains(&fd) || out.pipes.iter().any(|p| p.read.as_raw_fd() == fd);
            if fd < 3 || claimed || !is_pipe(fd) {
                notes.push(format!("the readiness pipe of pid {pid} (descriptor {fd})"));
                continue;
            }
            out.pipes.push(Pipe {
                // SAFETY: the descriptor is an open pipe that the snapshot
                // names as a read end the previous image owned; nothing
                // else here owns it (checked against `taken` above).
                read: unsafe { OwnedFd::from_raw_fd(fd) },
                pid,
                svc: usize::try_from(svc).unwrap_or(usize::MAX),
                seen: seen.min(MAX_JUNK),
            });
        }
        (out, notes)
    }
}

/// `fd`, or a close-on-exec copy of it if it is numbered `target`: a
/// spawn's `dup2` onto the same number would leave clearing close-on-exec
/// to the libc.
fn away_from(fd: OwnedFd, target: RawFd) -> Result<OwnedFd, i32> {
    if fd.as_raw_fd() != target {
        return Ok(fd);
    }
    let copy = fcntl(&fd, FcntlArg::F_DUPFD_CLOEXEC(3)).map_err(|e| e as i32)?;
    // SAFETY: F_DUPFD_CLOEXEC returned a new descriptor that we own.
    Ok(unsafe { OwnedFd::from_raw_fd(copy) })
}

/// Whether `fd` is an open pipe of this process.
fn is_pipe(fd: RawFd) -> bool {
    // SAFETY: a zeroed stat is a valid buffer; fstat only writes into it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat on any number only reads the descriptor table.
    let rc = unsafe { libc::fstat(fd, &mut st) };
    rc == 0 && st.st_mode & libc::S_IFMT == libc::S_IFIFO
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_newline_anywhere_is_readiness_and_junk_is_bounded() {
        assert_eq!(scan(b"\n", 0), Verdict::Ready);
        assert_eq!(scan(b"READY=1\n", 0), Verdict::Ready);
        assert_eq!(scan(b"x\ny", 100), Verdict::Ready);
        assert_eq!(scan(b"", 0), Verdict::Closed);
        assert_eq!(scan(b"", 10), Verdict::Closed);
        assert_eq!(scan(b"abc", 0), Verdict::More(3));
        assert_eq!(scan(b"abc", MAX_JUNK - 4), Verdict::More(MAX_JUNK - 1));
        assert_eq!(scan(b"abc", MAX_JUNK - 3), Verdict::TooMuch);
        assert_eq!(scan(b"a", u32::MAX), Verdict::TooMuch);
    }

    fn poll_all(p: &ReadyPipes) -> Vec<(RawFd, PollFlags)> {
        p.raw_fds()
            .into_iter()
            .map(|fd| (fd, PollFlags::POLLIN))
            .collect()
    }

    #[test]
    fn pipes_report_readiness_end_of_file_and_junk_then_close() {
        let mut p = ReadyPipes::default();
        let mut writers = Vec::new();
        for pid in [10, 11, 12, 13] {
            let new = ReadyPipes::open(9).unwrap();
            let flags = fcntl(&new.read, FcntlArg::F_GETFL).unwrap();
            assert!(OFlag::from_bits_truncate(flags).contains(OFlag::O_NONBLOCK));
            let wflags = fcntl(&new.write, FcntlArg::F_GETFL).unwrap();
            assert!(!OFlag::from_bits_truncate(wflags).contains(OFlag::O_NONBLOCK));
            p.watch(new.read, pid, pid as usize);
            writers.push(std::fs::File::from(new.write));
        }
        writers[0].write_all(b"\n").unwrap();
        writers[2].write_all(&[b'x'; 5000]).unwrap();
        drop(writers.remove(1)); // pid 11 closes without a word
                                 // Nothing written yet by pid 13: EAGAIN, nothing happens.
        let mut events = Vec::new();
        for _ in 0..40 {
            events.extend(p.handle(&poll_all(&p)));
        }
        events.sort_by_key(|e| format!("{e:?}"));
        assert_eq!(
            events,
            [
                Event::Closed { pid: 11, svc: 11 },
                Event::Ready { pid: 10, svc: 10 },
                Event::TooMuch { pid: 12, svc: 12 },
            ]
        );
        assert_eq!(p.raw_fds().len(), 1, "only pid 13 is still listened to");
        // Not reported by poll: not read.
        writers[2].write_all(b"\n").unwrap();
        assert!(p.handle(&[]).is_empty());
        p.forget(13);
        assert!(p.is_empty());
    }

    #[test]
    fn a_write_end_numbered_like_the_target_is_moved() {
        let fd = OwnedFd::from(std::fs::File::open("/dev/null").unwrap());
        let n = fd.as_raw_fd();
        let other = away_from(fd, n + 1).unwrap();
        assert_eq!(other.as_raw_fd(), n, "not the target: kept");
        let moved = away_from(other, n).unwrap();
        assert_ne!(moved.as_raw_fd(), n);
        let flags = fcntl(&moved, FcntlArg::F_GETFD).unwrap();
        assert_ne!(flags & libc::FD_CLOEXEC, 0, "the copy is close-on-exec");
    }

    #[test]
    fn adopting_refuses_descriptors_that_are_not_free_pipes() {
        let a = ReadyPipes::open(9).unwrap();
        let b = ReadyPipes::open(9).unwrap();
        let file = std::fs::File::open("/dev/null").unwrap();
        let (fa, fb) = (a.read.as_raw_fd(), b.read.as_raw_fd());
        // Ownership moves to the adopted table (as across an exec).
        std::mem::forget(a.read);
        std::mem::forget(b.read);
        let rec = |fd: i32, pid: i32| {
            move |o: &mut crate::proto::wire::Out| {
                o.i32(fd);
                o.i32(pid);
                o.u32(1);
                o.u32(7);
            }
        };
        let mut sections = Sections::default();
        for (fd, pid) in [
            (fa, 20),
            (fa, 21),
            (fb, 22),
            (file.as_raw_fd(), 23),
            (2, 24),
        ] {
            sections.put(TAG_READY, rec(fd, pid));
        }
        let mut lost = Lost::new();
        let (p, notes) = ReadyPipes::load(&sections, &[fb], &mut lost);
        assert!(lost.is_empty(), "{lost:?}");
        assert_eq!(p.raw_fds(), [fa]);
        let (mut saved, mut first) = (Sections::default(), Sections::default());
        p.save(&mut saved);
        first.put(TAG_READY, rec(fa, 20));
        assert_eq!(saved, first);
        assert_eq!(notes.len(), 4, "{notes:?}");
        // SAFETY: fb was leaked above and nothing adopted it.
        drop(unsafe { OwnedFd::from_raw_fd(fb) });
    }
}
