use super::*;

/// A closer as the fake sees it.
#[derive(Debug)]
struct Fake {
    pid: Pid,
}

/// Scripted closers: each send takes the next result of `sends` (Ok when
/// none is left); records what was sent, started and killed.
#[derive(Default)]
struct Sys {
    sends: VecDeque<Result<(), Errno>>,
    start_fails: bool,
    unread: usize,
    next_pid: Pid,
    sent: Vec<(Pid, usize)>,
    /// Results of the releases, in turn (Ok when none is left).
    releases: VecDeque<Result<(), Errno>>,
    /// The closers released, each with whether every copy of the
    /// watched pipe's write end was closed by then.
    released: Vec<(Pid, bool)>,
    /// The read end of a pipe whose write end is handed over.
    watch: Option<OwnedFd>,
    killed: Vec<Pid>,
    forgotten: Vec<Pid>,
}

impl Helpers for Sys {
    type Helper = Fake;
    fn start(&mut self) -> Result<Fake, Errno> {
        if self.start_fails {
            return Err(Errno::EAGAIN);
        }
        self.next_pid += 1;
        Ok(Fake {
            pid: 100 + self.next_pid,
        })
    }
    fn pid(&self, h: &Fake) -> Pid {
        h.pid
    }
    fn send(&mut self, h: &Fake, fds: &[RawFd]) -> Result<(), Errno> {
        let r = self.sends.pop_front().unwrap_or(Ok(()));
        if r.is_ok() {
            self.sent.push((h.pid, fds.len()));
        }
        r
    }
    fn release(&mut self, h: &Fake) -> Result<(), Errno> {
        let r = self.releases.pop_front().unwrap_or(Ok(()));
        if r.is_ok() {
            let closed = self.watch.as_ref().is_some_and(writers_gone);
            self.released.push((h.pid, closed));
        }
        r
    }
    fn unread(&mut self, _: &Fake) -> Option<usize> {
        Some(self.unread)
    }
    fn kill(&mut self, h: Fake) {
        self.killed.push(h.pid);
    }
    fn forget(&mut self, h: Fake) {
        self.forgotten.push(h.pid);
    }
}

/// Whether every write end of the pipe whose read end is `r` is closed.
fn writers_gone(r: &OwnedFd) -> bool {
    let mut p = libc::pollfd {
        fd: r.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: poll reads and writes one pollfd through a valid pointer.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    n == 1 && p.revents & libc::POLLHUP != 0
}

/// A pipe: (read end, write end).
fn pipe() -> (OwnedFd, OwnedFd) {
    let (r, w) = std::io::pipe().unwrap();
    (OwnedFd::from(r), OwnedFd::from(w))
}

fn fd() -> OwnedFd {
    OwnedFd::from(std::fs::File::open("/dev/null").unwrap())
}

fn closer(n: usize) -> Closer<Fake> {
    let mut c = Closer::default();
    for _ in 0..n {
        c.push(fd());
    }
    c
}

#[test]
fn a_closer_is_started_when_first_needed_and_gets_everything_in_batches() {
    let mut sys = Sys::default();
    let mut c = closer(MAX_BATCH + 10);
    assert_eq!(c.next_deadline(), None, "nothing to retry before a flush");
    c.flush(&mut sys, 0);
    assert_eq!(c.pending(), 0);
    assert_eq!(sys.sent, vec![(101, MAX_BATCH), (101, 10)]);
    assert_eq!(c.started, 1);
    // It is looked at once, STUCK_MS after the first hand-over.
    assert_eq!(c.next_deadline(), Some(STUCK_MS));
    c.push(fd());
    c.flush(&mut sys, 10);
    assert_eq!(
        c.next_deadline(),
        Some(STUCK_MS),
        "the first deadline holds"
    );
    assert_eq!(c.started, 1, "one closer for everything");
}

#[test]
fn a_full_closer_is_killed_and_replaced_at_once() {
    let mut sys = Sys {
        sends: [Err(Errno::EAGAIN)].into(),
        ..Sys::default()
    };
    let mut c = closer(3);
    c.flush(&mut sys, 0);
    assert_eq!(sys.killed, vec![101]);
    assert_eq!(sys.sent, vec![(102, 3)], "sent again to a fresh one");
    assert_eq!((c.pending(), c.killed, c.started), (0, 1, 2));
    // The killed one is reaped as a closer, not a service.
    assert!(c.reaped(&mut sys, 101));
    assert!(!c.reaped(&mut sys, 101), "once");
    assert!(!c.reaped(&mut sys, 555), "other children are not closers");
}

#[test]
fn a_closer_that_does_not_empty_its_queue_in_time_is_killed() {
    let mut sys = Sys::default();
    let mut c = closer(1);
    c.flush(&mut sys, 0);
    // Too early: nothing happens.
    sys.unread = 5;
    c.check(&mut sys, STUCK_MS - 1);
    assert!(sys.killed.is_empty());
    c.check(&mut sys, STUCK_MS);
    assert_eq!(sys.killed, vec![101]);
    assert_eq!(c.next_deadline(), None);
    // The next hand-over starts a fresh one.
    c.push(fd());
    c.flush(&mut sys, STUCK_MS + 1);
    assert_eq!(sys.sent.last(), Some(&(102, 1)));
}

#[test]
fn a_closer_that_took_everything_is_left_alone() {
    let mut sys = Sys::default();
    let mut c = closer(1);
    c.flush(&mut sys, 0);
    c.check(&mut sys, STUCK_MS);
    assert!(sys.killed.is_empty());
    assert_eq!(
        c.next_deadline(),
        None,
        "no more checks until the next hand-over"
    );
}

#[test]
fn at_most_max_dying_killed_closers_then_descriptors_wait_and_congest() {
    // Every closer is full at once.
    let mut sys = Sys {
        sends: std::iter::repeat_n(Err(Errno::EAGAIN), 100).collect(),
        ..Sys::default()
    };
    let mut c = closer(CONGESTED - 1);
    c.flush(&mut sys, 0);
    assert_eq!(sys.killed.len(), MAX_DYING, "no more processes than that");
    assert_eq!(c.pending(), CONGESTED - 1, "nothing closed here");
    assert!(!c.congested());
    c.push(fd());
    assert!(c.congested(), "the control server stops reading");
    assert_eq!(c.next_deadline(), Some(RETRY_MS));
    // Still all dying: a retry starts nothing.
    c.flush(&mut sys, RETRY_MS);
    assert_eq!(c.started, MAX_DYING as u64);
    // One is reaped: a new closer takes everything.
    sys.sends.clear();
    assert!(c.reaped(&mut sys, 101));
    c.flush(&mut sys, 2 * RETRY_MS);
    assert_eq!(c.pending(), 0);
    assert!(!c.congested());
}

#[test]
fn when_no_closer_can_be_started_descriptors_wait_for_a_retry() {
    let mut sys = Sys {
        start_fails: true,
        ..Sys::default()
    };
    let mut c = closer(2);
    c.flush(&mut sys, 50);
    assert_eq!(c.pending(), 2);
    assert_eq!(c.next_deadline(), Some(50 + RETRY_MS));
    sys.start_fails = false;
    c.flush(&mut sys, 50 + RETRY_MS);
    assert_eq!(c.pending(), 0);
    assert_eq!(c.next_deadline(), Some(50 + RETRY_MS + STUCK_MS));
}

#[test]
fn a_closer_that_ended_on_its_own_is_forgotten_not_signalled() {
    let mut sys = Sys::default();
    let mut c = closer(1);
    c.flush(&mut sys, 0);
    assert!(c.reaped(&mut sys, 101));
    assert_eq!((sys.forgotten.clone(), sys.killed.len()), (vec![101], 0));
    assert_eq!(c.next_deadline(), None);
    c.push(fd());
    c.flush(&mut sys, 1);
    assert_eq!(sys.sent.last(), Some(&(102, 1)));
}

#[test]
fn a_descriptor_that_cannot_travel_is_found_and_only_it_closed_here() {
    // The batch fails, then each alone: the second one cannot go.
    let mut sys = Sys {
        sends: [Err(Errno::EINVAL), Ok(()), Err(Errno::EINVAL), Ok(())].into(),
        ..Sys::default()
    };
    let mut c = closer(3);
    c.flush(&mut sys, 0);
    assert_eq!(c.pending(), 0);
    assert_eq!(c.closed_inline, 1);
    assert_eq!(sys.sent, vec![(101, 1), (101, 1)]);
}

#[test]
fn without_enable_a_foreign_descriptor_closes_when_dropped() {
    let (r, w) = std::io::pipe().unwrap();
    let f = Foreign::new(OwnedFd::from(w));
    let copy = f.try_clone().unwrap();
    assert_ne!(copy.as_raw_fd(), f.as_raw_fd());
    drop(f);
    drop(copy);
    let mut rest = Vec::new();
    std::io::Read::read_to_end(&mut &r, &mut rest).unwrap();
    assert!(rest.is_empty(), "every copy of the write end is closed");
    assert_eq!(pending(), 0);
}

#[test]
fn while_starts_are_held_descriptors_wait_and_a_running_closer_still_takes_them() {
    let mut sys = Sys::default();
    let mut c = closer(1);
    c.hold_starts = true;
    c.flush(&mut sys, 0);
    assert_eq!((c.pending(), c.started), (1, 0), "no closer started");
    c.hold_starts = false;
    c.flush(&mut sys, RETRY_MS);
    assert_eq!((c.pending(), c.started), (0, 1));
    c.hold_starts = true;
    c.push(fd());
    c.flush(&mut sys, RETRY_MS + 1);
    assert_eq!(c.pending(), 0, "the closer already running takes it");
}

/// The release goes once per flush, after every batch, and only once our
/// copies of what was sent are closed (the pipe's write end, handed over,
/// has no copy left here when the closer is released). A closer that
/// cannot take it (its queue is full) is replaced at once, like one that
/// cannot take a batch; the next hand-over goes to a fresh one.
#[test]
fn the_release_follows_our_closes_and_a_closer_that_cannot_take_it_is_replaced() {
    let (r, w) = pipe();
    let mut sys = Sys {
        watch: Some(r),
        ..Sys::default()
    };
    let mut c = closer(MAX_BATCH);
    c.push(w);
    c.flush(&mut sys, 0);
    assert_eq!(sys.sent, vec![(101, MAX_BATCH), (101, 1)]);
    assert_eq!(sys.released, vec![(101, true)], "after our copies closed");
    c.flush(&mut sys, 1);
    assert_eq!(sys.released.len(), 1, "nothing sent: nothing released");

    sys.releases = VecDeque::from([Err(Errno::EAGAIN)]);
    c.push(fd());
    c.flush(&mut sys, 2);
    assert_eq!(sys.killed, vec![101], "full: replaced");
    assert_eq!(c.next_deadline(), None, "nothing waits");
    c.push(fd());
    c.flush(&mut sys, 3);
    assert_eq!(sys.sent.last(), Some(&(102, 1)));
    assert_eq!(sys.released.last().map(|r| r.0), Some(102), "released too");
}

/// The real closer process holds what it received until it is released,
/// so that our close, made after the send however late, is not the last
/// one (it was when the closer closed at once: a lingering socket then
/// lingered in PID 1). Once released it closes it, and it ends at the end
/// of its socket.
#[test]
fn the_closer_process_holds_what_it_got_until_released() {
    use proc::Real;
    let mut sys = Real;
    let h = sys.start().unwrap();
    let (r, w) = pipe();
    sys.send(&h, &[w.as_raw_fd()]).unwrap();
    // However long we take to close our copy after the send (a preempted
    // PID 1), the closer has not closed its own meanwhile.
    std::thread::sleep(std::time::Duration::from_millis(200));
    drop(w);
    assert!(!writers_gone(&r), "our close was the last one");
    sys.release(&h).unwrap();
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !writers_gone(&r) {
        assert!(std::time::Instant::now() < until, "never closed");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let pid = sys.pid(&h);
    sys.forget(h);
    let mut status = 0;
    // SAFETY: waitpid writes one int through a valid pointer; the pid is
    // this test's own child.
    let got = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(got, pid);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
}
