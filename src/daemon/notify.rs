//! sd_notify's state in PID 1: the one notify socket
//! ([`crate::ready::notify_sock`]), bound at the first start of a
//! `notify-socket` service, and what each such service said last
//! (`STATUS=`, `STOPPING=1`, `RELOADING=1`, `ERRNO=`, an accepted
//! `MAINPID=`), shown by `cinit-ctl status`. The loop's side (receiving,
//! telling who sent, acting) is `daemon/event/notify.rs`.
//!
//! Invariants: a service that has no `notify-socket` has no entry here and
//! costs nothing (no allocation, no system call at its start); an entry is
//! made at the start of a service that has one and cleared at each of its
//! starts (what a process said is about that process). Everything kept is
//! bounded: [`crate::ready::notify::MAX_STATUS`] bytes of text and a few
//! numbers per service.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use crate::config::dirlist::ServiceDir;
use crate::config::ready::read_notify_socket;
use crate::ready::notify_sock;
use crate::sys::process::Pid;

/// What one service said last.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Said {
    pub status: Option<String>,
    pub stopping: bool,
    pub reloading: bool,
    pub errno: Option<u32>,
    /// A `MAINPID=` that was found to be a process of the service.
    pub mainpid: Option<Pid>,
}

impl Said {
    /// The words `status` shows beside the `STATUS=` text: `reloading`,
    /// `stopping`, `errno N`, `main pid N`; `None` when there are none.
    pub fn words(&self) -> Option<String> {
        let mut w: Vec<String> = Vec::new();
        if self.reloading {
            w.push("reloading".into());
        }
        if self.stopping {
            w.push("stopping".into());
        }
        if let Some(e) = self.errno {
            w.push(format!("errno {e}"));
        }
        if let Some(p) = self.mainpid {
            w.push(format!("main pid {p}"));
        }
        (!w.is_empty()).then(|| w.join(", "))
    }
}

/// The notify socket and what the services said.
#[derive(Default)]
pub struct Notify {
    sock: Option<OwnedFd>,
    /// The control directory, where the socket is bound.
    dir: PathBuf,
    /// By service index, only for the services with `notify-socket`.
    said: Vec<(usize, Said)>,
    /// Datagrams dropped (cut, malformed, or from a process that is not
    /// of a `notify-socket` service) since boot, across updates.
    pub dropped: u64,
}

impl Notify {
    pub fn new(dir: &Path) -> Notify {
        Notify {
            dir: dir.to_path_buf(),
            ..Notify::default()
        }
    }

    /// The socket's path (`NOTIFY_SOCKET`'s value).
    pub fn path(&self) -> PathBuf {
        self.dir.join(notify_sock::SOCKET_NAME)
    }

    /// Bind the socket if it is not yet: at the start of a `notify-socket`
    /// service. Returns the errno when it cannot be.
    pub fn ensure(&mut self) -> Result<(), i32> {
        if self.sock.is_none() {
            self.sock = Some(notify_sock::bind(&self.path()).map_err(|e| e as i32)?);
        }
        Ok(())
    }

    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.sock.as_ref().map(AsFd::as_fd)
    }

    pub fn raw_fd(&self) -> Option<RawFd> {
        self.sock.as_ref().map(AsRawFd::as_raw_fd)
    }

    /// The control directory, set once the daemon knows its paths.
    pub fn set_dir(&mut self, dir: &Path) {
        self.dir = dir.to_path_buf();
    }

    /// At a start of `on` of service `svc`: when its directory (`files`)
    /// has `notify-socket`, bind the socket if it is not yet, forget what
    /// the service said, and return `NOTIFY_SOCKET=PATH` for its
    /// environment. A service without the file pays one look at the
    /// listing its start made anyway (no system call).
    pub fn for_start(&mut self, svc: usize, files: &ServiceDir) -> Result<Option<CString>, String> {
        if !matches!(read_notify_socket(files), Ok(true)) {
            return Ok(None);
        }
        let path = self.path();
        if let Err(e) = self.ensure() {
            let why = nix::errno::Errno::from_raw(e).desc();
            return Err(format!(
                "cannot bind the notify socket {}: {why}",
                path.display()
            ));
        }
        self.started(svc);
        let mut env = b"NOTIFY_SOCKET=".to_vec();
        env.extend_from_slice(path.as_os_str().as_encoded_bytes());
        Ok(CString::new(env).ok())
    }

    /// Adopt the socket a hot update handed over.
    pub fn adopt(&mut self, sock: Option<OwnedFd>, dropped: u64) {
        self.sock = sock;
        self.dropped = dropped;
    }

    /// Service `svc` (with `notify-socket`) starts: what its last process
    /// said is forgotten.
    pub fn started(&mut self, svc: usize) {
        match self.said.iter_mut().find(|(i, _)| *i == svc) {
            Some((_, s)) => *s = Said::default(),
            None => self.said.push((svc, Said::default())),
        }
    }

    /// The services with `notify-socket` that started in this image (or
    /// said something after a hot update): who may send.
    pub fn services(&self) -> impl Iterator<Item = usize> + '_ {
        self.said.iter().map(|(i, _)| *i)
    }

    /// What service `svc` said last, if it has `notify-socket`.
    pub fn said(&self, svc: usize) -> Option<&Said> {
        self.said.iter().find(|(i, _)| *i == svc).map(|(_, s)| s)
    }

    /// What service `svc` said, made if missing (a service found by a
    /// message after a hot update, whose start this image did not see).
    pub fn said_mut(&mut self, svc: usize) -> Option<&mut Said> {
        if !self.said.iter().any(|(i, _)| *i == svc) {
            self.said.push((svc, Said::default()));
        }
        self.said
            .iter_mut()
            .find(|(i, _)| *i == svc)
            .map(|(_, s)| s)
    }
}

/// A pidfd for `pid`, pinning the process: what is read about `pid` while
/// [`alive`] holds for it was that process's.
pub fn pin(pid: Pid) -> Option<OwnedFd> {
    if pid <= 1 {
        return None;
    }
    // SAFETY: pidfd_open(2) with a pid above 1 and no flags.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = i32::try_from(fd).ok().filter(|&f| f >= 0)?;
    // SAFETY: a new descriptor of ours.
    Some(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) })
}

/// Whether the pinned process has not been reaped (its pid was not
/// reused): `pidfd_send_signal(pidfd, 0)`.
pub fn alive(pidfd: &OwnedFd) -> bool {
    // SAFETY: signal 0 through our own pidfd only checks the process.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            0,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    r == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_start_forgets_what_was_said_and_words_are_ordered() {
        let mut n = Notify::new(Path::new("/nowhere"));
        assert!(n.said(3).is_none());
        n.started(3);
        assert_eq!(n.said(3).and_then(Said::words), None);
        let s = n.said_mut(3).unwrap();
        s.status = Some("up".into());
        s.reloading = true;
        s.errno = Some(5);
        s.mainpid = Some(42);
        assert_eq!(
            n.said(3).and_then(Said::words).as_deref(),
            Some("reloading, errno 5, main pid 42")
        );
        n.started(3);
        assert_eq!(n.said(3), Some(&Said::default()));
        assert_eq!(n.services().collect::<Vec<_>>(), [3]);
        n.said_mut(7).unwrap().stopping = true;
        assert_eq!(n.services().collect::<Vec<_>>(), [3, 7]);
        assert_eq!(n.path(), Path::new("/nowhere/notify"));
    }

    #[test]
    fn a_pinned_process_is_alive_until_reaped() {
        let mut child = std::process::Command::new("sleep")
            .arg("10")
            .spawn()
            .unwrap();
        let fd = pin(child.id() as i32).unwrap();
        assert!(alive(&fd));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!alive(&fd));
        assert!(pin(1).is_none() && pin(0).is_none());
    }
}
