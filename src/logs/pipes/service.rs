//! One service's log (its pipe, splitter, ring and file output) and the
//! two system calls on a service's pipe: making it and reading from it.
//! Part of [`super`] (the logs PID 1 keeps).

use std::os::fd::{AsFd, OwnedFd};

use nix::errno::Errno;

use super::READ_CHUNK;
use crate::logs::file::FileOut;
use crate::logs::line::Splitter;
use crate::logs::ring::Ring;

/// One service's log.
#[derive(Debug)]
pub struct ServiceLog {
    /// (read end, write end); `None` if it could not be created or did
    /// not survive a hot update (a new one comes with the next spawn).
    pub pipe: Option<(OwnedFd, OwnedFd)>,
    pub splitter: Splitter,
    pub ring: Ring,
    pub mirror: bool,
    /// Boxed: few services have a `log.file`, and every slot of
    /// [`Logs::services`] is as large as a `ServiceLog`.
    pub file: Option<Box<FileOut>>,
}

impl ServiceLog {
    pub fn new(capacity: usize) -> ServiceLog {
        ServiceLog {
            pipe: None,
            splitter: Splitter::default(),
            ring: Ring::new(capacity),
            mirror: true,
            file: None,
        }
    }

    /// Whether [`super::Logs::tick`] may have something to do for this
    /// log: a partial line waits to be handed out, or it has a file output.
    pub fn has_timed_work(&self) -> bool {
        self.splitter.deadline().is_some() || self.file.is_some()
    }
}

/// A pipe for a service: (read end non-blocking, write end blocking), both
/// close-on-exec and above the stdio numbers.
pub(super) fn service_pipe() -> Result<(OwnedFd, OwnedFd), Errno> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let (r, w) = (
        crate::sys::place::above_stdio(r)?,
        crate::sys::place::above_stdio(w)?,
    );
    // A fresh pipe's read end has no status flag to keep: one F_SETFL,
    // without the F_GETFL of set_nonblocking.
    nix::fcntl::fcntl(
        r.as_fd(),
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    )?;
    Ok((r, w))
}

/// Read at most `max` bytes from `fd` into `buf` (one read); what it got.
///
/// `buf` is made [`READ_CHUNK`] bytes long once, by `vec![0; n]`: that asks
/// the allocator for zeroed memory, which fresh pages already are, so no
/// page of the buffer is touched (and resident) until a read fills it. A
/// `resize` would write every byte, making all 64 KiB resident at the first
/// line of output.
pub(super) fn read_some(fd: &OwnedFd, buf: &mut Vec<u8>, max: usize) -> usize {
    if buf.len() < READ_CHUNK {
        *buf = vec![0; READ_CHUNK];
    }
    let Some(buf) = buf.get_mut(..max.min(READ_CHUNK)) else {
        return 0;
    };
    loop {
        match nix::unistd::read(fd, buf) {
            Ok(n) => return n,
            Err(Errno::EINTR) => continue,
            // EAGAIN: nothing there. Other errors cannot be on a pipe we
            // hold both ends of; either way there is nothing to read.
            Err(_) => return 0,
        }
    }
}
