//! Low descriptor numbers where a spawn stages the descriptors its child
//! needs, so that the child copies only PID 1's first few descriptors.
//!
//! A child made by `clone` gets a copy of PID 1's whole descriptor table
//! (a reference taken on every open file), and its `execve` closes every
//! close-on-exec one of them again: with a log per service PID 1 holds two
//! descriptors per service, so each start cost time in proportion to the
//! number of services. Instead, PID 1 holds a *prefix*: `/dev/null` and
//! [`SLOTS`] placeholder copies of it, at the lowest numbers it has when
//! they are made (3 … 8 at boot). Before a spawn, each source the child
//! needs that lies above the prefix is copied over a placeholder
//! (`dup3`); the child, cloned with `CLONE_FILES`, keeps only the
//! descriptors below the prefix (`close_range(prefix, ~0,
//! CLOSE_RANGE_UNSHARE)`, [`super::child`]); afterwards each used
//! placeholder is made a copy of `/dev/null` again (`dup3`). Two system
//! calls per distinct source (a logged service has one: its log pipe;
//! stdin is the `/dev/null` of the prefix) instead of two operations per
//! descriptor PID 1 holds.
//!
//! A spawn with more distinct sources than slots, or when the prefix could
//! not be made (no `/dev/null` yet, a kernel before 5.11 without
//! `CLOSE_RANGE_CLOEXEC`) copies the whole table as before.
//!
//! Invariants: the prefix's descriptors are close-on-exec and nobody
//! else's; between spawns each slot holds a copy of `/dev/null`; the state
//! is forgotten and made again ([`reserve`]) after anything that closes
//! descriptors wholesale (`close_others` at boot and after a hot update).
//! The state sits behind a mutex for the tests' threads; PID 1 has one
//! thread and never waits on it.

use std::ffi::c_uint;
use std::os::fd::RawFd;
use std::sync::{Mutex, MutexGuard};

/// Placeholders: enough for a log pipe, a readiness pipe and two sockets.
const SLOTS: usize = 4;

/// The prefix's descriptors.
struct Prefix {
    null: RawFd,
    slots: [RawFd; SLOTS],
}

impl Prefix {
    /// One past the highest descriptor of the prefix.
    fn end(&self) -> RawFd {
        self.slots.iter().copied().fold(self.null, RawFd::max) + 1
    }
}

/// `None`: not made (yet): tried again at the next spawn.
static STATE: Mutex<Option<Prefix>> = Mutex::new(None);

fn lock() -> MutexGuard<'static, Option<Prefix>> {
    STATE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A copy of `fd` at the lowest free number ≥ 3, close-on-exec (the
/// system call itself: musl's `fcntl` adds an `F_SETFD`).
fn dup_low(fd: RawFd) -> Option<RawFd> {
    // SAFETY: copies our own descriptor to a free number.
    let rc = unsafe { libc::syscall(libc::SYS_fcntl, fd, libc::F_DUPFD_CLOEXEC, 3) };
    RawFd::try_from(rc).ok().filter(|&n| n >= 3)
}

fn close(fd: RawFd) {
    // SAFETY: closes a descriptor of the prefix, ours alone.
    unsafe { libc::close(fd) };
}

/// Make the prefix: `/dev/null` and its copies.
fn make() -> Option<Prefix> {
    if !super::cloexec_from_3_supported() {
        return None;
    }
    // SAFETY: a NUL-terminated path; the descriptor is ours.
    let opened = unsafe {
        libc::open(
            c"/dev/null".as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY,
        )
    };
    if opened < 0 {
        return None;
    }
    // Never at 0–2: those are stdio's targets.
    let null = if opened < 3 {
        let moved = dup_low(opened);
        close(opened);
        moved?
    } else {
        opened
    };
    let mut slots = [-1; SLOTS];
    for k in 0..SLOTS {
        match dup_low(null) {
            Some(fd) => {
                if let Some(s) = slots.get_mut(k) {
                    *s = fd;
                }
            }
            None => {
                slots.iter().filter(|&&s| s >= 0).for_each(|&s| close(s));
                close(null);
                return None;
            }
        }
    }
    Some(Prefix { null, slots })
}

/// Forget the prefix (`close_others` closed it) and make it again. Called
/// at boot and after a hot update, right after `close_others`, so that it
/// takes the lowest numbers.
pub fn reserve() {
    let mut state = lock();
    *state = make();
}

/// The prefix's descriptors, for the tests' checks.
pub fn held() -> Vec<RawFd> {
    lock()
        .as_ref()
        .map(|p| std::iter::once(p.null).chain(p.slots).collect())
        .unwrap_or_default()
}

/// One spawn's use of the prefix: sources staged over placeholders, put
/// back when dropped.
pub(super) struct Staged {
    guard: MutexGuard<'static, Option<Prefix>>,
    /// (source, slot) for each slot in use.
    used: [(RawFd, RawFd); SLOTS],
    count: usize,
}

impl Staged {
    /// Lock the prefix (made now if it never was); `None` without one.
    pub fn begin() -> Option<Staged> {
        let mut guard = lock();
        if guard.is_none() {
            *guard = make();
        }
        guard.as_ref()?;
        Some(Staged {
            guard,
            used: [(-1, -1); SLOTS],
            count: 0,
        })
    }

    fn prefix(&self) -> Option<&Prefix> {
        self.guard.as_ref()
    }

    /// The child keeps the descriptors below this.
    pub fn end(&self) -> c_uint {
        self.prefix()
            .map_or(0, |p| c_uint::try_from(p.end()).unwrap_or(0))
    }

    /// `/dev/null`, below the end.
    pub fn null(&self) -> RawFd {
        self.prefix().map_or(-1, |p| p.null)
    }

    /// The number the child finds `fd` at: itself below the end, else a
    /// slot it is copied to now. `None`: no slot left (or the copy failed).
    pub fn map(&mut self, fd: RawFd) -> Option<RawFd> {
        let p = self.prefix()?;
        if fd < p.end() {
            return Some(fd);
        }
        let used = self.used.get(..self.count)?;
        if let Some(&(_, slot)) = used.iter().find(|(src, _)| *src == fd) {
            return Some(slot);
        }
        let slot = *p.slots.get(self.count)?;
        // SAFETY: replaces our placeholder (a copy of /dev/null) with a
        // copy of `fd`, close-on-exec.
        let rc = unsafe { libc::syscall(libc::SYS_dup3, fd, slot, libc::O_CLOEXEC) };
        if rc < 0 {
            return None;
        }
        let entry = self.used.get_mut(self.count)?;
        *entry = (fd, slot);
        self.count += 1;
        Some(slot)
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        let null = self.null();
        for &(_, slot) in self.used.iter().take(self.count) {
            // SAFETY: makes our slot a copy of /dev/null again, dropping
            // the staged copy (PID 1 still holds the source itself).
            unsafe { libc::syscall(libc::SYS_dup3, null, slot, libc::O_CLOEXEC) };
        }
    }
}
