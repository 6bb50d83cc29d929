//! PID 1's side of a service's `log.file`: a writer process per file, fed
//! from the service's ring through a pipe that PID 1 writes without ever
//! blocking.
//!
//! PID 1 does no file I/O for service logs: a write to a regular file can
//! block on slow or failing storage, and PID 1 must never block. The
//! writer is cinit's own binary started again in writer mode
//! ([`crate::logs::writer`]) with `posix_spawn`, like a service: a fresh,
//! small process (no copy of PID 1's memory, no Rust code between fork and
//! exec), started the same clean way. It appends, rotates and reopens; PID
//! 1 only formats lines into the pipe.
//!
//! PID 1 keeps both ends of the writer's pipe, so what is in the pipe
//! survives the writer's death and is read by the next one, and it sends
//! lines from a cursor (a sequence number) into the ring: a slow or dead
//! writer loses nothing the ring still holds, and lines the ring dropped
//! before they were sent are counted and noted in the file. A writer that
//! dies is started again after a delay that doubles from 1 s to 60 s while
//! it keeps dying within 10 s (the first restart is immediate). A writer is
//! started only when there are lines to write, and never while the system
//! goes down or is in rescue mode (the lines wait in the ring).
//!
//! A writer that refuses its file (a link on the path, a directory others
//! may write: [`crate::sys::safepath`]) exits with a status that says why; PID 1
//! then says so in its own log (once for as long as the reason stays the
//! same), keeps the lines in the ring only, and tries again every
//! [`MAX_RESTART_MS`], so a repaired directory is written again by itself.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

use nix::errno::Errno;

use crate::config::logconf::FileTarget;
use crate::logs::ring::Ring;
use crate::sys::clock::seconds;
use crate::sys::clock::Millis;
use crate::sys::process::ExitStatus;
use crate::sys::process::Pid;
use crate::sys::process::SELF_EXE;
use crate::sys::safepath::Why;
use crate::sys::spawn::ExecSpec;
use crate::sys::spawn::{spawn, ChildFds};

/// Most formatted bytes PID 1 holds for a writer beyond what the pipe took.
const OUT_CHUNK: usize = 64 << 10;
/// Longest delay before a writer is started again.
const MAX_RESTART_MS: Millis = 60_000;
/// A writer that ran this long resets its restart delay.
const STABLE_MS: Millis = 10_000;
/// `argv[1]` that makes the cinit binary a log writer.
pub const WRITER_FLAG: &str = "--log-writer";

/// One `log.file` and its writer.
#[derive(Debug)]
pub struct FileOut {
    pub target: FileTarget,
    /// Read end, blocking: each writer's stdin. Kept so that the pipe's
    /// contents outlive a writer.
    pub read: OwnedFd,
    /// Write end, non-blocking: PID 1 writes formatted lines here.
    pub write: OwnedFd,
    /// The next ring sequence number to send.
    pub next: u64,
    /// Formatted bytes not yet taken by the pipe.
    pub out: Vec<u8>,
    /// Lines the ring dropped before they were sent (reported, then reset).
    pub missed: u64,
    pub pid: Option<Pid>,
    /// The pipe may hold bytes no writer has read yet (lines went in while
    /// none ran, or one died): a writer is wanted even without new lines.
    pub unread: bool,
    /// Quick deaths in a row.
    pub failures: u32,
    /// When to start a writer (`None`: one runs); it starts only once there
    /// are lines for it.
    pub restart_at: Option<Millis>,
    pub started_at: Millis,
    /// The exit status of the last writer if it refused the file (said
    /// once in cinit's log until the reason changes).
    pub refused: Option<i32>,
}

/// A pipe for a writer: (read end blocking, write end non-blocking), both
/// close-on-exec and above the stdio numbers.
pub fn writer_pipe() -> Result<(OwnedFd, OwnedFd), Errno> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let (r, w) = (
        crate::sys::place::above_stdio(r)?,
        crate::sys::place::above_stdio(w)?,
    );
    set_nonblocking(w.as_fd())?;
    Ok((r, w))
}

/// Set O_NONBLOCK on a descriptor's open file description.
pub fn set_nonblocking(fd: BorrowedFd) -> Result<(), Errno> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK)).map(|_| ())
}

impl FileOut {
    /// File output to `target`, starting with the ring's next line; its
    /// writer starts at once.
    pub fn new(target: FileTarget, next: u64, now: Millis) -> Result<FileOut, Errno> {
        let (read, write) = writer_pipe()?;
        Ok(FileOut {
            target,
            read,
            write,
            next,
            out: Vec::new(),
            missed: 0,
            pid: None,
            unread: false,
            failures: 0,
            restart_at: Some(now),
            started_at: now,
            refused: None,
        })
    }

    /// Whether PID 1 waits for the pipe to take more (poll for POLLOUT).
    pub fn wants_pollout(&self) -> bool {
        !self.out.is_empty()
    }

    pub fn pollout_fd(&self) -> BorrowedFd<'_> {
        self.write.as_fd()
    }

    /// The descriptors to hand over in a hot update.
    pub fn raw_fds(&self) -> [RawFd; 2] {
        [self.read.as_raw_fd(), self.write.as_raw_fd()]
    }

    /// When a writer is to be started: only while none runs and there is
    /// something for it to write (new lines arrive with a wakeup of their
    /// own, so an idle output needs no timer).
    pub fn deadline(&self, ring: &Ring) -> Option<Millis> {
        if self.pid.is_some() {
            return None;
        }
        let idle = !self.unread && self.out.is_empty() && self.next >= ring.next_seq();
        self.restart_at.filter(|_| !idle)
    }

    /// Move lines from the ring into the pipe as far as it takes them.
    pub fn pump(&mut self, ring: &Ring, now: Millis, wall: u64) {
        // Bounded: each round either empties `out` into the pipe or stops.
        for _ in 0..64 {
            if self.out.is_empty() && !self.fill(ring, now, wall) {
                return;
            }
            match nix::unistd::write(&self.write, &self.out) {
                Ok(n) => {
                    self.out.drain(..n.min(self.out.len()));
                    self.unread |= self.pid.is_none() && n > 0;
                }
                Err(Errno::EINTR) => {}
                // EAGAIN: the pipe is full; poll says when it is not.
                // Anything else: a broken pipe cannot be, we hold the read
                // end; keep the bytes and try again later.
                Err(_) => return,
            }
            if !self.out.is_empty() {
                return;
            }
        }
    }

    /// Format the next lines into `out`; false if there are none.
    fn fill(&mut self, ring: &Ring, now: Millis, wall: u64) -> bool {
        let first = ring.first_seq();
        if self.next < first {
            self.missed = self.missed.saturating_add(first - self.next);
            self.next = first;
        }
        if self.missed > 0 {
            let note = format!(
                "cinit: {} lines were lost here (the log file writer fell behind)",
                self.missed
            );
            crate::logs::fmt::line_into(&mut self.out, now, wall, &note);
            self.missed = 0;
        }
        for line in ring.from_seq(self.next) {
            if self.out.len() >= OUT_CHUNK {
                break;
            }
            crate::logs::fmt::line_into(&mut self.out, line.mono_ms, line.wall_ms, &line.text);
            self.next = line.seq + 1;
        }
        !self.out.is_empty()
    }

    /// Start the writer if it is due and there is something to write (a
    /// writer is only started for lines). Returns a line for cinit's log
    /// when something happened worth saying.
    pub fn start_if_due(
        &mut self,
        ring: &Ring,
        now: Millis,
        name: &str,
        console: RawFd,
    ) -> Option<String> {
        if self.deadline(ring).is_none_or(|t| t > now) {
            return None;
        }
        self.restart_at = None;
        self.started_at = now;
        match spawn_writer(&self.target, name, self.read.as_raw_fd(), console) {
            Ok(pid) => {
                self.pid = Some(pid);
                self.unread = false;
                None
            }
            Err(errno) => {
                let delay = self.next_delay(now);
                Some(format!(
                    "log writer for {name}: cannot start it: {}; trying again in {}",
                    Errno::from_raw(errno).desc(),
                    seconds(delay)
                ))
            }
        }
    }

    /// Schedule the next start after a failure; returns the delay.
    fn next_delay(&mut self, now: Millis) -> Millis {
        if now.saturating_sub(self.started_at) >= STABLE_MS {
            self.failures = 0;
        }
        let delay = match self.failures {
            0 => 0,
            n => (1_000u64 << (n - 1).min(6)).min(MAX_RESTART_MS),
        };
        self.failures = self.failures.saturating_add(1);
        self.restart_at = Some(now.saturating_add(delay));
        delay
    }

    /// The writer `pid` exited with `status`: start another one later, or,
    /// while the system goes down (`going_down`: no writer starts then),
    /// not at all. Returns the line for cinit's log, if there is one to say.
    pub fn exited(
        &mut self,
        now: Millis,
        name: &str,
        status: ExitStatus,
        going_down: bool,
    ) -> Option<String> {
        self.pid = None;
        self.unread = true;
        if going_down {
            // Due at once, should the system come back (a rescue that
            // ends): `tick_logs` starts none while it goes down.
            self.restart_at = Some(now);
            return Some(format!(
                "log writer for {name} ended: {status}; not started again while the system \
                 goes down (its lines stay in memory)"
            ));
        }
        let refused = match status {
            ExitStatus::Code(c) => Why::summary_of_exit(c).map(|why| (c, why)),
            ExitStatus::Signal(_) => None,
        };
        let Some((code, why)) = refused else {
            self.refused = None;
            let delay = self.next_delay(now);
            return Some(format!(
                "log writer for {name} ended: {status}; starting it again in {}",
                seconds(delay)
            ));
        };
        // Refused: nothing changes by trying at once; try again slowly,
        // so that a repaired directory is used again by itself.
        self.restart_at = Some(now.saturating_add(MAX_RESTART_MS));
        let new = self.refused != Some(code);
        self.refused = Some(code);
        new.then(|| {
            format!(
                "log writer for {name}: refused {}: {why}; its lines stay in memory \
                 (cinit-ctl log {name}); trying again every {}",
                self.target.path.display(),
                seconds(MAX_RESTART_MS)
            )
        })
    }
}

/// Start a writer for `target` reading `stdin`, its own errors going to
/// the console.
fn spawn_writer(target: &FileTarget, name: &str, stdin: RawFd, console: RawFd) -> Result<Pid, i32> {
    let c = |b: &[u8]| CString::new(b).map_err(|_| libc::EINVAL);
    let spec = ExecSpec {
        path: c(SELF_EXE.as_bytes())?,
        argv: vec![
            c(b"cinit")?,
            c(WRITER_FLAG.as_bytes())?,
            c(target.path.as_os_str().as_bytes())?,
            c(target.rotate_bytes.to_string().as_bytes())?,
            c(target.keep.to_string().as_bytes())?,
            c(name.as_bytes())?,
        ],
        envp: Vec::new(),
    };
    let fds = ChildFds {
        stdin: Some(stdin),
        stdout: console,
        stderr: console,
        extra: Vec::new(),
    };
    spawn(&spec, c"/", &fds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> FileTarget {
        FileTarget {
            path: "/nonexistent/x".into(),
            rotate_bytes: 1 << 20,
            keep: 3,
        }
    }

    #[test]
    fn lines_go_from_the_ring_into_the_pipe_and_drops_are_noted() {
        let mut ring = Ring::new(4 * (crate::logs::ring::LINE_OVERHEAD + 6));
        let mut f = FileOut::new(target(), ring.next_seq(), 0).unwrap();
        ring.push(1_000, 0, "first!".into());
        f.pump(&ring, 5, 0);
        let mut buf = vec![0u8; 1 << 16];
        let n = nix::unistd::read(&f.read, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"1970-01-01T00:00:00.000Z [    1.000] first!\n");
        for k in 0..10 {
            ring.push(2_000, 0, format!("line {k}"));
        }
        f.pump(&ring, 3_000, 0);
        let n = nix::unistd::read(&f.read, &mut buf).unwrap();
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(
            text.starts_with("1970-01-01T00:00:00.000Z [    3.000] cinit: 6 lines were lost here"),
            "{text}"
        );
        assert_eq!(text.lines().count(), 5, "{text}");
        assert!(text.ends_with("line 9\n"));
    }

    #[test]
    fn a_full_pipe_keeps_the_rest_for_later_and_never_blocks() {
        let mut ring = Ring::new(8 << 20);
        let mut f = FileOut::new(target(), ring.next_seq(), 0).unwrap();
        for k in 0..20_000 {
            ring.push(0, 0, format!("{k:0>100}"));
        }
        f.pump(&ring, 0, 0);
        assert!(f.wants_pollout(), "the pipe is full, the rest waits");
        let mut buf = vec![0u8; 1 << 16];
        let mut got = 0;
        set_nonblocking(f.read.as_fd()).unwrap();
        for _ in 0..10_000 {
            match nix::unistd::read(&f.read, &mut buf) {
                Ok(n) => got += n,
                Err(_) => {
                    if !f.wants_pollout() && f.next == ring.next_seq() {
                        break;
                    }
                    f.pump(&ring, 0, 0);
                }
            }
        }
        let per_line = crate::logs::fmt::line(0, 0, &"0".repeat(100)).len() + 1;
        assert_eq!(got, 20_000 * per_line);
    }

    #[test]
    fn restart_delays_double_and_reset_after_a_stable_run() {
        let mut f = FileOut::new(target(), 1, 0).unwrap();
        f.started_at = 0;
        let delays: Vec<Millis> = (0..9).map(|_| f.next_delay(100)).collect();
        assert_eq!(
            delays,
            [0, 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000]
        );
        f.started_at = 0;
        assert_eq!(f.next_delay(STABLE_MS), 0, "a stable run resets the delay");
    }

    #[test]
    fn a_refusal_is_said_once_and_tried_again_slowly() {
        let mut f = FileOut::new(target(), 1, 0).unwrap();
        let owner = crate::sys::safepath::REFUSED_BASE + 3;
        let line = f
            .exited(100, "web", ExitStatus::Code(owner), false)
            .unwrap();
        assert_eq!(
            line,
            "log writer for web: refused /nonexistent/x: a directory on its path is not \
             owned by root; its lines stay in memory (cinit-ctl log web); trying again every 60.000s"
        );
        assert_eq!(f.restart_at, Some(100 + MAX_RESTART_MS));
        assert_eq!(
            f.exited(200, "web", ExitStatus::Code(owner), false),
            None,
            "said once"
        );
        let link = crate::sys::safepath::REFUSED_BASE + 1;
        assert!(f
            .exited(300, "web", ExitStatus::Code(link), false)
            .unwrap()
            .contains(": a symbolic link on its path;"));
        let ended = f.exited(400, "web", ExitStatus::Code(1), false).unwrap();
        assert!(
            ended.starts_with("log writer for web ended: exit status 1"),
            "{ended}"
        );
        assert_eq!(f.refused, None);
        assert!(f
            .exited(500, "web", ExitStatus::Code(owner), false)
            .is_some());
        // While the system goes down no writer starts: none is scheduled,
        // and the line says so instead of announcing a restart.
        let down = f.exited(600, "web", ExitStatus::Code(0), true).unwrap();
        assert!(down.contains("not started again"), "{down}");
        assert!(!down.contains("starting it again"), "{down}");
    }
}
