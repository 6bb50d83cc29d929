//! The loop's one blocking call: register every descriptor the rooms want
//! polled, each with a [`Token`] naming its owner, wait, and sort what poll
//! found by token into a [`Woken`].
//!
//! Part of [`crate::daemon`] (a child module sharing the daemon's state).
//! Nothing here depends on the order of registration: each room's
//! `poll_interest` hands out its own key with each descriptor
//! ([`crate::control::PollKey`], [`crate::logs::PollKey`]), the readiness
//! pipes and probe sockets are known by their descriptor, and the key
//! comes back with the events ([`crate::sys::poll::PollSet`]).
//!
//! Cost per iteration: the poll set's two lists and the lists of results
//! (only descriptors with events are kept), as many allocations as the
//! index-range version this replaced, or fewer.

use std::os::fd::{AsFd, AsRawFd, RawFd};

use nix::errno::Errno;
use nix::poll::{PollFlags, PollTimeout};

use super::Daemon;
use crate::sys::clock::Millis;
use crate::sys::poll::PollSet;

/// Whose descriptor a poll result is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    /// The signalfd.
    Signals,
    /// The console while output waits for it: polled only to wake the
    /// loop, which flushes it at the end of every iteration.
    Console,
    /// A readiness pipe (the ready room knows its pipes by descriptor).
    Ready(RawFd),
    /// A `ready-probe` connect under way (known by its socket).
    Probe(RawFd),
    Control(crate::control::PollKey),
    Log(crate::logs::PollKey),
    /// The new image's preflight answer pipe.
    Preflight,
    /// The sd_notify socket.
    Notify,
}

/// What one `poll()` found, by owner: whether the signalfd may have
/// something (or poll failed, so it may), and the events of each room's
/// descriptors with the room's own key. Quiet descriptors are left out.
#[derive(Default)]
pub(super) struct Woken {
    pub signalled: bool,
    pub control: Vec<(crate::control::PollKey, PollFlags)>,
    pub logs: Vec<(crate::logs::PollKey, PollFlags)>,
    pub ready: Vec<(RawFd, PollFlags)>,
    /// The sockets of probe connects (by descriptor).
    pub probes: Vec<(RawFd, PollFlags)>,
    /// The preflight's answer pipe has something (or hung up).
    pub preflight: bool,
    /// The notify socket has datagrams.
    pub notify: bool,
}

impl Woken {
    /// File one poll result under its owner.
    fn file(&mut self, token: Token, ev: PollFlags) {
        match token {
            Token::Signals => self.signalled = true,
            Token::Console => {}
            Token::Ready(fd) => self.ready.push((fd, ev)),
            Token::Probe(fd) => self.probes.push((fd, ev)),
            Token::Control(key) => self.control.push((key, ev)),
            Token::Log(key) => self.logs.push((key, ev)),
            Token::Preflight => self.preflight = true,
            Token::Notify => self.notify = true,
        }
    }
}

impl Daemon {
    /// Poll every descriptor of the rooms (at most `timeout` ms, `None`:
    /// no limit) and return what was found, by owner.
    pub(super) fn wait(&mut self, now: Millis, timeout: Option<u32>) -> Woken {
        // The turn ends here: what its loads listed is stale from now on.
        self.host.end_turn();
        // Sized for the log pipes at once (most of the set at many
        // services): growing from a few slots reallocated it about ten
        // times per wake-up at 1000 services.
        let mut set = PollSet::with_capacity(8 + self.host.logs.services.len());
        if let Some(s) = &self.signals {
            set.add(s.fd(), PollFlags::POLLIN, Token::Signals);
        }
        if self.host.console.pending() {
            if let Some(fd) = self.host.console.fd() {
                set.add(fd, PollFlags::POLLOUT, Token::Console);
            }
        }
        for fd in self.host.ready.poll_fds() {
            set.add(fd, PollFlags::POLLIN, Token::Ready(fd.as_raw_fd()));
        }
        for fd in self.probes.poll_fds() {
            set.add(fd, PollFlags::POLLOUT, Token::Probe(fd.as_raw_fd()));
        }
        if let Some(control) = &self.control {
            for (fd, flags, key) in control.poll_interest(now) {
                set.add(fd, flags, Token::Control(key));
            }
        }
        for (fd, flags, key) in self.host.logs.poll_interest() {
            set.add(fd, flags, Token::Log(key));
        }
        if let Some(fd) = self.host.notify.fd() {
            set.add(fd, PollFlags::POLLIN, Token::Notify);
        }
        if let Some(out) = self.preflight.as_ref().and_then(|p| p.out.as_ref()) {
            set.add(out.as_fd(), PollFlags::POLLIN, Token::Preflight);
        }
        let t = match timeout {
            None => PollTimeout::NONE,
            Some(ms) => PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
        };
        let result = set.poll(t);
        let mut woken = Woken::default();
        if result.is_ok() {
            for (token, ev) in set.ready() {
                woken.file(token, ev);
            }
        }
        drop(set);
        if let Err(e) = result {
            if e != Errno::EINTR {
                self.host.log(&format!("poll failed: {}", e.desc()));
            }
            return Woken {
                signalled: true,
                ..Woken::default()
            };
        }
        woken
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::PollKey as ControlKey;
    use crate::logs::PollKey as LogKey;

    /// Proves each result is filed under the owner its token names, not
    /// by where it came in the poll set: results in any order land in the
    /// same places.
    #[test]
    fn results_are_filed_by_token() {
        let results = [
            (Token::Log(LogKey::Writer(3)), PollFlags::POLLOUT),
            (Token::Ready(9), PollFlags::POLLIN),
            (Token::Control(ControlKey::Client(5)), PollFlags::POLLIN),
            (Token::Probe(11), PollFlags::POLLOUT),
            (Token::Signals, PollFlags::POLLIN),
            (Token::Console, PollFlags::POLLOUT),
            (Token::Log(LogKey::Pipe(2)), PollFlags::POLLHUP),
            (Token::Preflight, PollFlags::POLLIN),
            (Token::Notify, PollFlags::POLLIN),
            (Token::Control(ControlKey::Listener), PollFlags::POLLIN),
        ];
        let mut forward = Woken::default();
        for (t, ev) in results {
            forward.file(t, ev);
        }
        let mut backward = Woken::default();
        for (t, ev) in results.into_iter().rev() {
            backward.file(t, ev);
        }
        for w in [&forward, &backward] {
            assert!(w.signalled && w.preflight && w.notify);
            assert_eq!(w.ready, vec![(9, PollFlags::POLLIN)]);
            assert_eq!(w.probes, vec![(11, PollFlags::POLLOUT)]);
            let mut control = w.control.clone();
            control.sort_by_key(|(k, _)| format!("{k:?}"));
            assert_eq!(
                control,
                vec![
                    (ControlKey::Client(5), PollFlags::POLLIN),
                    (ControlKey::Listener, PollFlags::POLLIN)
                ]
            );
            let mut logs = w.logs.clone();
            logs.sort_by_key(|(k, _)| format!("{k:?}"));
            assert_eq!(
                logs,
                vec![
                    (LogKey::Pipe(2), PollFlags::POLLHUP),
                    (LogKey::Writer(3), PollFlags::POLLOUT)
                ]
            );
        }
    }
}
