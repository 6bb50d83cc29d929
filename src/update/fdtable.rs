//! Asking the kernel which descriptors are open, without listing
//! `/proc/self/fd`: that listing makes the kernel build a dentry per
//! descriptor (about 3.5 ms for the 2000 of 1000 logged services, once the
//! largest part of a hot update). Instead, the descriptor table's size
//! (`FDSize` in `/proc/self/status`) bounds every open descriptor, and one
//! `poll(2)` per [`POLL_CHUNK`] descriptors tells which are open (a closed
//! one answers `POLLNVAL`).
//!
//! Used by the hot update: the new image learns once which descriptors it
//! was handed ([`OpenFds`]) and adopts only those the snapshot names that
//! are among them, and it counts what it closes as nobody's
//! ([`crate::update::close_others`]). Without /proc every answer falls back
//! to one `fcntl(F_GETFD)` per descriptor.

use std::os::fd::RawFd;

use super::exec::is_open;

/// The descriptors ≥ 3 and ≤ `end` not in `keep` (sorted, no duplicates),
/// as inclusive ranges in order.
pub(super) fn gaps(keep: &[usize], end: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut from: usize = 3;
    for &k in keep.iter().filter(|&&k| k <= end) {
        if k > from {
            out.push((from, k - 1));
        }
        from = k.saturating_add(1);
    }
    if from <= end {
        out.push((from, end));
    }
    out
}

/// Descriptors asked about per `poll(2)`: within the soft limit of 1024
/// that `poll` holds its count to, and 8 KiB of `pollfd`s.
const POLL_CHUNK: usize = 1024;

/// How many of `fds` are open, by one `poll(2)` per [`POLL_CHUNK`] with no
/// events asked and no wait: a descriptor that is not open answers
/// `POLLNVAL`. Where `poll` fails, each is asked with `F_GETFD`.
pub(super) fn count_open(fds: impl Iterator<Item = usize>) -> usize {
    let mut open = 0;
    each_open(fds, |_| open += 1);
    open
}

/// Call `found` with each of `fds` that is open, in order; asked as
/// [`count_open`] asks.
fn each_open(fds: impl Iterator<Item = usize>, mut found: impl FnMut(RawFd)) {
    let mut fds = fds.filter_map(|fd| RawFd::try_from(fd).ok()).peekable();
    let mut set: Vec<libc::pollfd> = Vec::new();
    while fds.peek().is_some() {
        set.clear();
        set.extend(fds.by_ref().take(POLL_CHUNK).map(|fd| libc::pollfd {
            fd,
            events: 0,
            revents: 0,
        }));
        // SAFETY: `set` is a live array of `set.len()` pollfds; poll(2)
        // only writes their `revents`.
        let rc = unsafe { libc::poll(set.as_mut_ptr(), set.len() as libc::nfds_t, 0) };
        for p in &set {
            let open = if rc < 0 {
                is_open(p.fd)
            } else {
                p.revents & libc::POLLNVAL == 0
            };
            if open {
                found(p.fd);
            }
        }
    }
}

/// The descriptors ≥ 3 open at one moment (see the module's doc), asked
/// once: a hot update's new image takes this before it adopts anything, so
/// a descriptor the snapshot names is adopted only if it was handed over
/// open (one that this image opened since, under a number the snapshot
/// also names, is not mistaken for it).
pub struct OpenFds(Option<Vec<RawFd>>);

impl OpenFds {
    /// Ask now. Without /proc, nothing is asked yet and
    /// [`OpenFds::contains`] asks each descriptor itself.
    pub fn scan() -> OpenFds {
        OpenFds(fd_table_size().map(|size| {
            let mut open = Vec::new();
            each_open(3..size, |fd| open.push(fd));
            open
        }))
    }

    /// Whether `fd` (≥ 3) was open.
    pub fn contains(&self, fd: RawFd) -> bool {
        match &self.0 {
            Some(open) => open.binary_search(&fd).is_ok(),
            None => is_open(fd),
        }
    }
}

/// The size of this process's descriptor table: every open descriptor is
/// below it. `None` without /proc.
pub(super) fn fd_table_size() -> Option<usize> {
    parse_fd_size(&std::fs::read("/proc/self/status").ok()?)
}

/// The `FDSize:` line of a `/proc/PID/status`.
fn parse_fd_size(status: &[u8]) -> Option<usize> {
    let line = status
        .split(|&b| b == b'\n')
        .find_map(|l| l.strip_prefix(b"FDSize:"))?;
    std::str::from_utf8(line).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests;
