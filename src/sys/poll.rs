//! The poll set: descriptors registered with the identity of their owner.
//!
//! Each registration is (descriptor, events, token); after [`PollSet::poll`]
//! every descriptor that has something comes back with its own token, so
//! the caller dispatches by token and nothing depends on the order in which
//! descriptors were registered.
//!
//! Invariants: the set holds exactly one token per descriptor (the two lists
//! grow together and are never reordered); [`PollSet::ready`] yields only
//! descriptors whose returned events are not empty, each once, and nothing
//! before a successful [`PollSet::poll`]. No indexing: tokens and results
//! are paired by walking both lists together.

use std::os::fd::BorrowedFd;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// Descriptors to wait on, each with the token of its owner.
pub struct PollSet<'fd, T> {
    fds: Vec<PollFd<'fd>>,
    tokens: Vec<T>,
}

impl<'fd, T: Copy> PollSet<'fd, T> {
    /// An empty set with room for `n` descriptors.
    pub fn with_capacity(n: usize) -> Self {
        PollSet {
            fds: Vec::with_capacity(n),
            tokens: Vec::with_capacity(n),
        }
    }

    /// Register `fd` for `events`; `token` comes back with its results.
    /// Empty `events` still reports hang-ups and errors (poll always does).
    pub fn add(&mut self, fd: BorrowedFd<'fd>, events: PollFlags, token: T) {
        self.fds.push(PollFd::new(fd, events));
        self.tokens.push(token);
    }

    /// How many descriptors are registered.
    pub fn len(&self) -> usize {
        self.fds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fds.is_empty()
    }

    /// Wait (the loop's one blocking call) until a descriptor has something
    /// or `timeout` passes.
    pub fn poll(&mut self, timeout: PollTimeout) -> nix::Result<i32> {
        poll(&mut self.fds, timeout)
    }

    /// Each descriptor the last poll found something on, with its token
    /// and what it found.
    pub fn ready(&self) -> impl Iterator<Item = (T, PollFlags)> + '_ {
        self.tokens
            .iter()
            .zip(&self.fds)
            .filter_map(|(&token, fd)| fd.revents().filter(|r| !r.is_empty()).map(|r| (token, r)))
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Who {
        A,
        B(u64),
        C,
    }

    fn pipe() -> (std::os::fd::OwnedFd, std::os::fd::OwnedFd) {
        nix::unistd::pipe().unwrap()
    }

    /// Results come back with the token they were registered with,
    /// whatever the order of registration, and quiet descriptors stay out.
    #[test]
    fn each_result_carries_its_token() {
        let (r1, _w1) = pipe();
        let (r2, w2) = pipe();
        let (r3, w3) = pipe();
        nix::unistd::write(&w2, b"x").unwrap();
        nix::unistd::write(&w3, b"x").unwrap();
        for order in [[0, 1, 2], [2, 0, 1], [1, 2, 0]] {
            let regs = [
                (r1.as_fd(), Who::A),
                (r2.as_fd(), Who::B(7)),
                (r3.as_fd(), Who::C),
            ];
            let mut set = PollSet::with_capacity(3);
            for i in order {
                let (fd, who) = regs[i];
                set.add(fd, PollFlags::POLLIN, who);
            }
            assert_eq!(set.len(), 3);
            assert_eq!(set.poll(PollTimeout::ZERO).unwrap(), 2);
            let mut got: Vec<Who> = set.ready().map(|(w, _)| w).collect();
            got.sort_by_key(|w| format!("{w:?}"));
            assert_eq!(got, vec![Who::B(7), Who::C], "order {order:?}");
            assert!(set.ready().all(|(_, ev)| ev.contains(PollFlags::POLLIN)));
        }
    }

    /// Before a poll nothing is ready; a hang-up is reported even for a
    /// descriptor registered with no events.
    #[test]
    fn nothing_before_poll_and_hangups_always() {
        let (r, w) = pipe();
        let mut set = PollSet::with_capacity(1);
        assert!(set.is_empty());
        set.add(r.as_fd(), PollFlags::empty(), Who::A);
        assert_eq!(set.ready().count(), 0);
        drop(w);
        set.poll(PollTimeout::ZERO).unwrap();
        let got: Vec<(Who, PollFlags)> = set.ready().collect();
        assert_eq!(got, vec![(Who::A, PollFlags::POLLHUP)]);
    }
}
