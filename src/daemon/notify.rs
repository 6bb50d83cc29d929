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

use crate::config::dirlist::{Seen, ServiceDir};
use crate::config::ready::{read_notify_socket, NOTIFY_SOCKET};
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
        use std::fmt::Write;
        let mut w = String::new();
        let mut word = |text: &str, n: Option<i64>| {
            if !w.is_empty() {
                w.push_str(", ");
            }
            w.push_str(text);
            if let Some(n) = n {
                // Writing into a String cannot fail.
                let _ = write!(w, " {n}");
            }
        };
        if self.reloading {
            word("reloading", None);
        }
        if self.stopping {
            word("stopping", None);
        }
        if let Some(e) = self.errno {
            word("errno", Some(i64::from(e)));
        }
        if let Some(p) = self.mainpid {
            word("main pid", Some(i64::from(p)));
        }
        (!w.is_empty()).then_some(w)
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
    /// Each accepted `MAINPID=`, pinned: its service, pid and pidfd, so a
    /// signal sent to it later reaches that process or none.
    mains: Vec<(usize, Pid, OwnedFd)>,
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
    /// environment. Its presence is told by the listing the start made
    /// anyway: no system call, with the file or without it.
    pub fn for_start(&mut self, svc: usize, files: &ServiceDir) -> Result<Option<CString>, String> {
        // The load checked the file's content; its presence is the
        // setting, and the start's listing tells it without a call.
        let here = match files.seen(NOTIFY_SOCKET) {
            Seen::Here => true,
            Seen::Absent => false,
            Seen::Unknown => matches!(read_notify_socket(files), Ok(true)),
        };
        if !here {
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
        self.mains.retain(|(i, _, _)| *i != svc);
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

impl Notify {
    /// Service `svc`'s `MAINPID=pid` was found to be a process of it
    /// while `pinned` held it: record it, shown by `status` and signalled
    /// by stops and reloads ([`Notify::signal_main`]).
    pub fn set_main(&mut self, svc: usize, pid: Pid, pinned: OwnedFd) {
        self.mains.retain(|(i, _, _)| *i != svc);
        self.mains.push((svc, pid, pinned));
        if let Some(s) = self.said_mut(svc) {
            s.mainpid = Some(pid);
        }
    }

    /// Send `sig` to service `svc`'s recorded `MAINPID` through its pidfd
    /// (a process that is gone gets nothing, whatever has its pid now),
    /// unless it is `main` or in the process group `group` (already
    /// signalled). Returns whether a signal went.
    pub fn signal_main(&self, svc: usize, main: Pid, group: bool, sig: i32) -> bool {
        let Some((_, pid, fd)) = self.mains.iter().find(|(i, _, _)| *i == svc) else {
            return false;
        };
        if *pid == main {
            return false;
        }
        if group {
            let pgid = nix::unistd::getpgid(Some(nix::unistd::Pid::from_raw(*pid)));
            if pgid.is_ok_and(|g| g.as_raw() == main) {
                return false;
            }
        }
        send(fd, sig)
    }
}

/// `pidfd_send_signal(fd, sig)`; whether it went.
fn send(fd: &OwnedFd, sig: i32) -> bool {
    // SAFETY: a signal through our own pidfd reaches that process only.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    r == 0
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
    send(pidfd, 0)
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

    /// Proves a recorded main pid is signalled through its pidfd, unless
    /// it is the main process or in its group, and forgotten at a start.
    #[test]
    fn a_recorded_main_pid_is_signalled_through_its_pidfd() {
        let mut child = std::process::Command::new("sleep")
            .arg("10")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let mut n = Notify::new(Path::new("/nowhere"));
        n.started(2);
        assert!(
            !n.signal_main(2, 99, false, libc::SIGTERM),
            "nothing recorded"
        );
        n.set_main(2, pid, pin(pid).unwrap());
        assert_eq!(n.said(2).and_then(|s| s.mainpid), Some(pid));
        assert!(
            !n.signal_main(2, pid, false, libc::SIGTERM),
            "it is the main process"
        );
        // Our test process's group is the child's: signalled already.
        let own_group = nix::unistd::getpgrp().as_raw();
        assert!(!n.signal_main(2, own_group, true, libc::SIGTERM));
        assert!(n.signal_main(2, 99, false, libc::SIGTERM));
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGTERM));
        assert!(
            !n.signal_main(2, 99, false, libc::SIGTERM),
            "gone: nothing sent"
        );
        n.started(2);
        assert_eq!(n.said(2).and_then(|s| s.mainpid), None);
        assert!(n.mains.is_empty());
    }
}
