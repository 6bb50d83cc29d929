//! Closing what came from outside, off PID 1's thread.
//!
//! The last `close()` of a file runs its release in the caller: a TCP
//! socket with `SO_LINGER` whose peer never reads waits there for the whole
//! linger time, a FUSE file for its flush, a Unix socket for the release of
//! every descriptor still queued in it. A descriptor a client passed (and
//! anything else an outside process shares an open file with: stored
//! descriptors, the sockets of `sockets` files, control connections that may
//! hold passed descriptors unread) is therefore never closed by PID 1 when
//! it may be the last reference. It is wrapped in a [`Foreign`]; dropping
//! one queues it here ([`discard`]), and [`flush`] hands the queue to the
//! closer, a child process that does nothing but receive descriptors
//! (`SCM_RIGHTS`) and close them.
//!
//! PID 1's close must never be the last one, and a message queued to the
//! closer is not enough for that: once the closer has received it, the
//! message's reference is the closer's descriptor, and a closer quick to
//! close it (on the other CPU, or woken onto PID 1's and run first) leaves
//! PID 1's close, made just after the send, the last. So the closer holds
//! what it received until PID 1 says its own copies are closed: PID 1 sends
//! a batch, closes its copies, then sends a release (a message without
//! descriptors). The closer closes what it holds on the next message of
//! any kind (PID 1 sends nothing before its copies of the previous batch
//! are closed) or at the end of its socket, and keeps waiting, past its
//! idle time, while it holds any. A closer that cannot take the release
//! (its queue is full) is replaced like one that cannot take a batch.
//!
//! A closer stuck in a close (its queue not emptied [`STUCK_MS`] after a
//! hand-over, or full) is killed and replaced: a dying process releases its
//! files without lingering, and the messages still queued to it die with
//! it, released in its context. At most [`MAX_DYING`] killed closers may be
//! waiting to be reaped; beyond that no new one is started and descriptors
//! wait here (as they do while a shutdown waits for every process to be
//! gone: [`hold_starts`]). While [`CONGESTED`] or more wait, the control server reads
//! nothing from connections that may carry descriptors, so the queue only
//! holds what PID 1 held already (bounded by the fd store's and the control
//! server's own limits); nothing is ever closed inline to make room.
//!
//! The bookkeeping ([`Closer`]) is pure, driven through [`Helpers`] so that
//! it is unit-tested with a fake; the process itself is in
//! `fds/closer/proc.rs`. The queue is per thread: PID 1 has one thread, and
//! until [`enable`] is called (tests, or not PID 1) a [`Foreign`] is simply
//! closed when dropped.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::mem::ManuallyDrop;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use nix::errno::Errno;

use crate::sys::clock::Millis;
use crate::sys::process::Pid;

mod proc;

/// Most descriptors the kernel carries in one message (`SCM_MAX_FD`).
pub const MAX_BATCH: usize = 253;
/// Descriptors waiting here from which on the control server stops reading
/// from connections that may carry more.
pub const CONGESTED: usize = 64;
/// Most killed closers not yet reaped; no new closer is started beyond.
pub const MAX_DYING: usize = 3;
/// How long a closer may take to empty its queue after a hand-over before
/// it is taken for stuck.
pub const STUCK_MS: Millis = 1_000;
/// How soon a hand-over that could not be done is tried again.
pub const RETRY_MS: Millis = 100;

/// A descriptor whose open file an outside process may share. Dropping it
/// hands it to the closer (see the module doc) instead of closing it here,
/// unless it was found safe to close here ([`Foreign::close_here`]).
pub struct Foreign {
    fd: ManuallyDrop<OwnedFd>,
    here: bool,
}

impl Foreign {
    pub fn new(fd: OwnedFd) -> Foreign {
        Foreign {
            fd: ManuallyDrop::new(fd),
            here: false,
        }
    }

    /// A new descriptor for the same open file, itself foreign.
    pub fn try_clone(&self) -> std::io::Result<Foreign> {
        self.fd.try_clone().map(Foreign::new)
    }

    /// Its last close is known not to block (a control connection with
    /// nothing queued that could carry descriptors): close it here when it
    /// is dropped, which costs no hand-over.
    pub fn close_here(&mut self) {
        self.here = true;
    }
}

impl From<OwnedFd> for Foreign {
    fn from(fd: OwnedFd) -> Foreign {
        Foreign::new(fd)
    }
}

impl Drop for Foreign {
    fn drop(&mut self) {
        // SAFETY: drop runs once, and the field is not used after this.
        let fd = unsafe { ManuallyDrop::take(&mut self.fd) };
        if self.here {
            drop(fd);
        } else {
            discard(fd);
        }
    }
}

impl AsFd for Foreign {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Foreign {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl std::fmt::Debug for Foreign {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Foreign({})", self.fd.as_raw_fd())
    }
}

/// What the bookkeeping needs of closer processes (real ones in
/// `fds/closer/proc.rs`, fakes in the tests).
pub trait Helpers {
    type Helper;
    /// Start a closer.
    fn start(&mut self) -> Result<Self::Helper, Errno>;
    fn pid(&self, h: &Self::Helper) -> Pid;
    /// Queue `fds` to the closer in one message, never waiting.
    fn send(&mut self, h: &Self::Helper, fds: &[RawFd]) -> Result<(), Errno>;
    /// Tell the closer that our copies of everything sent to it are
    /// closed, so it may close its own (one message without descriptors),
    /// never waiting.
    fn release(&mut self, h: &Self::Helper) -> Result<(), Errno>;
    /// Bytes sent to the closer that it has not taken yet (`None`: unknown).
    fn unread(&mut self, h: &Self::Helper) -> Option<usize>;
    /// SIGKILL the closer (not reaped yet) and close our end of its socket.
    fn kill(&mut self, h: Self::Helper);
    /// Close our end of the socket of a closer that was reaped.
    fn forget(&mut self, h: Self::Helper);
}

/// The queue of descriptors to close and the closers handling them.
#[derive(Debug)]
pub struct Closer<H> {
    pending: VecDeque<OwnedFd>,
    current: Option<H>,
    /// Killed closers not reaped yet.
    dying: Vec<Pid>,
    /// When to look whether the current closer emptied its queue.
    check_at: Option<Millis>,
    /// When to try again a hand-over that could not be done.
    retry_at: Option<Millis>,
    /// The current closer was sent descriptors in this flush and not yet
    /// the release (it holds them, unclosed, until then).
    release_owed: bool,
    /// No closer is started for now (a shutdown is signalling every process
    /// and waiting for them to be gone; a new one would be waited for).
    pub hold_starts: bool,
    /// Descriptors that could not be sent at all and were closed here.
    pub closed_inline: u64,
    /// Closers started, and killed as stuck, so far.
    pub started: u64,
    pub killed: u64,
}

impl<H> Default for Closer<H> {
    fn default() -> Self {
        Closer {
            pending: VecDeque::new(),
            current: None,
            dying: Vec::new(),
            check_at: None,
            retry_at: None,
            release_owed: false,
            hold_starts: false,
            closed_inline: 0,
            started: 0,
            killed: 0,
        }
    }
}

impl<H> Closer<H> {
    pub fn push(&mut self, fd: OwnedFd) {
        self.pending.push_back(fd);
    }

    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    pub fn congested(&self) -> bool {
        self.pending.len() >= CONGESTED
    }

    /// When [`Closer::flush`] or [`Closer::check`] has work next.
    pub fn next_deadline(&self) -> Option<Millis> {
        let retry = self.retry_at.filter(|_| !self.pending.is_empty());
        self.check_at.into_iter().chain(retry).min()
    }

    /// A child was reaped: true if it was a closer (current or killed).
    pub fn reaped<S: Helpers<Helper = H>>(&mut self, sys: &mut S, pid: Pid) -> bool {
        if let Some(k) = self.dying.iter().position(|&p| p == pid) {
            self.dying.swap_remove(k);
            return true;
        }
        if self.current.as_ref().is_some_and(|h| sys.pid(h) == pid) {
            // It ended on its own (idle, or killed by someone else); its
            // pid may be reused now, so it is not signalled.
            if let Some(h) = self.current.take() {
                sys.forget(h);
            }
            self.check_at = None;
            self.release_owed = false;
            return true;
        }
        false
    }

    /// Kill the current closer; it is reaped later.
    fn replace<S: Helpers<Helper = H>>(&mut self, sys: &mut S) {
        if let Some(h) = self.current.take() {
            self.dying.push(sys.pid(&h));
            sys.kill(h);
            self.killed += 1;
        }
        self.check_at = None;
        // What it held dies with it.
        self.release_owed = false;
    }

    /// Hand every waiting descriptor to a closer, starting or replacing
    /// one as needed, then tell it our copies are closed (the release).
    /// What cannot be handed over now stays queued and is tried again at
    /// [`Closer::next_deadline`].
    pub fn flush<S: Helpers<Helper = H>>(&mut self, sys: &mut S, now: Millis) {
        self.retry_at = None;
        self.hand_over(sys, now);
        self.release(sys);
    }

    /// Send the current closer its release: only now, after every copy of
    /// ours of what it was sent is closed. One that cannot take it (its
    /// queue is full: it is stuck; or it is gone) is replaced, as for a
    /// batch: what it holds is released as it dies, in its context.
    fn release<S: Helpers<Helper = H>>(&mut self, sys: &mut S) {
        if !std::mem::take(&mut self.release_owed) {
            return;
        }
        let Some(h) = self.current.as_ref() else {
            return;
        };
        let sent = match sys.release(h) {
            Err(Errno::EINTR) => sys.release(h),
            other => other,
        };
        if sent.is_err() {
            self.replace(sys);
        }
    }

    /// [`Closer::flush`]'s hand-over: the batches.
    fn hand_over<S: Helpers<Helper = H>>(&mut self, sys: &mut S, now: Millis) {
        // Each turn sends a batch, or kills a closer (at most MAX_DYING
        // times before giving up), or returns.
        let mut singly = false;
        while !self.pending.is_empty() {
            let Some(h) = self.current.as_ref() else {
                if self.dying.len() >= MAX_DYING || self.hold_starts {
                    self.retry_at = Some(now.saturating_add(RETRY_MS));
                    return;
                }
                match sys.start() {
                    Ok(h) => {
                        self.current = Some(h);
                        self.started += 1;
                        continue;
                    }
                    Err(_) => {
                        self.retry_at = Some(now.saturating_add(RETRY_MS));
                        return;
                    }
                }
            };
            let n = if singly {
                1
            } else {
                self.pending.len().min(MAX_BATCH)
            };
            let batch: Vec<RawFd> = self
                .pending
                .iter()
                .take(n)
                .map(AsRawFd::as_raw_fd)
                .collect();
            match sys.send(h, &batch) {
                Ok(()) => {
                    // Queued to the closer, which holds them until it is
                    // released: ours are not the last copies.
                    self.pending.drain(..n);
                    self.release_owed = true;
                    self.check_at.get_or_insert(now.saturating_add(STUCK_MS));
                }
                Err(Errno::EINTR) => {}
                // Its queue is full (it is stuck), or it is gone.
                Err(
                    Errno::EAGAIN
                    | Errno::ENOBUFS
                    | Errno::ETOOMANYREFS
                    | Errno::EPIPE
                    | Errno::ECONNREFUSED
                    | Errno::ECONNRESET
                    | Errno::ENOTCONN,
                ) => self.replace(sys),
                // One of the batch cannot travel: find it.
                Err(Errno::EINVAL | Errno::EBADF) if n > 1 => singly = true,
                Err(Errno::EINVAL | Errno::EBADF) => {
                    // Not a descriptor that came over a socket (those can
                    // go again): nothing else can be done with it.
                    drop(self.pending.pop_front());
                    self.closed_inline += 1;
                }
                Err(_) => {
                    self.retry_at = Some(now.saturating_add(RETRY_MS));
                    return;
                }
            }
        }
    }

    /// At the check deadline: a closer that has not taken everything sent
    /// to it [`STUCK_MS`] after a hand-over is stuck in a close. It is
    /// killed (what it holds is released as it dies) and the next hand-over
    /// starts a fresh one.
    pub fn check<S: Helpers<Helper = H>>(&mut self, sys: &mut S, now: Millis) {
        if self.check_at.is_none_or(|t| t > now) {
            return;
        }
        self.check_at = None;
        let Some(h) = self.current.as_ref() else {
            return;
        };
        if sys.unread(h).is_none_or(|n| n > 0) {
            self.replace(sys);
        }
    }
}

/// PID 1's queue and closers.
#[derive(Default)]
struct Global {
    enabled: bool,
    closer: Closer<proc::Process>,
}

thread_local! {
    static GLOBAL: RefCell<Global> = RefCell::new(Global::default());
}

/// From now on, descriptors dropped on this thread go to a closer process.
/// PID 1 only: the closer is forked, which is safe in a single-threaded
/// process.
pub fn enable() {
    GLOBAL.with_borrow_mut(|g| g.enabled = true);
}

/// Close `fd` without ever making its last close here: queued for the
/// closer (see [`flush`]); closed at once when not [`enable`]d.
pub fn discard(fd: OwnedFd) {
    GLOBAL.with(|g| match g.try_borrow_mut() {
        Ok(mut g) if g.enabled => g.closer.push(fd),
        Ok(_) => drop(fd),
        // Not reachable: nothing drops a Foreign while the queue is
        // borrowed. Better an open descriptor than a blocked PID 1.
        Err(_) => std::mem::forget(fd),
    });
}

/// Hand what is queued to the closer (see [`Closer::flush`]), and replace a
/// closer found stuck ([`Closer::check`]).
pub fn flush(now: Millis) {
    GLOBAL.with_borrow_mut(|g| {
        let mut sys = proc::Real;
        g.closer.check(&mut sys, now);
        if g.closer.pending() > 0 {
            g.closer.flush(&mut sys, now);
        }
    });
}

/// While `hold` is true no closer is started (descriptors wait here): a
/// shutdown is between its SIGTERM and its SIGKILL rounds and waits for
/// every process to be gone.
pub fn hold_starts(hold: bool) {
    GLOBAL.with_borrow_mut(|g| g.closer.hold_starts = hold);
}

/// Whether the control server should read nothing from connections that may
/// carry descriptors for now.
pub fn congested() -> bool {
    GLOBAL.with_borrow(|g| g.closer.congested())
}

/// Descriptors not handed to a closer yet.
pub fn pending() -> usize {
    GLOBAL.with_borrow(|g| g.closer.pending())
}

/// When [`flush`] has work without outside input.
pub fn next_deadline() -> Option<Millis> {
    GLOBAL.with_borrow(|g| g.closer.next_deadline())
}

/// A child was reaped: true if it was a closer.
pub fn reaped(pid: Pid) -> bool {
    GLOBAL.with_borrow_mut(|g| g.closer.reaped(&mut proc::Real, pid))
}

#[cfg(test)]
mod tests;
