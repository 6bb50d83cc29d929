//! Each service's stop and reload signals and its kill mode, and sending
//! signals.
//!
//! The `stop-signal`, `reload-signal` and `kill-mode` files are read with the other
//! files at each start of `on` ([`read`], from the same listing: a
//! service without them pays no system call) and kept here by service
//! index until its next start. A service whose `on` this image did not
//! start (one taken over by a hot update) has no record: its files are
//! read again when they are needed, by their paths.
//!
//! Safety: a signal goes only to a pid the engine holds unreaped (the
//! callers check it), or to the process group that pid leads, which
//! cannot be reused while its leader is unreaped. Never pid or group 0,
//! 1 or -1.

use std::path::Path;

use crate::config::dirlist::ServiceDir;
use crate::config::signal;
use crate::config::svcdir::FileError;
use crate::sys::process::Pid;

/// A service's stop settings as read: (stop signal, reload signal, 0 =
/// the default; true if its `kill-mode` is `group`).
pub type Pair = (u8, u8, bool);

/// The signals of every service, by index; `None`: not read by this image.
#[derive(Debug, Default)]
pub struct SvcSignals(Vec<Option<Pair>>);

/// Read a service's two signal files and its kill mode.
pub fn read(files: &ServiceDir) -> Result<Pair, FileError> {
    let one = |file| signal::read(files, file).map(|s| s.and_then(|n| u8::try_from(n).ok()));
    Ok((
        one("stop-signal")?.unwrap_or(0),
        one("reload-signal")?.unwrap_or(0),
        signal::read_kill_mode(files)?,
    ))
}

impl SvcSignals {
    /// Service `svc` was started with these signals.
    pub fn set(&mut self, svc: usize, pair: Pair) {
        if self.0.len() <= svc {
            self.0.resize(svc + 1, None);
        }
        if let Some(slot) = self.0.get_mut(svc) {
            *slot = Some(pair);
        }
    }

    /// Service `svc`'s (stop, reload) signals, reading its directory `dir`
    /// if this image did not start it; a file that cannot be read or is
    /// wrong now gives the default and the reason to log.
    pub fn get(&self, svc: usize, dir: Option<&Path>) -> (Pair, Option<String>) {
        if let Some(Some(pair)) = self.0.get(svc) {
            return (*pair, None);
        }
        match dir.map(|d| read(&ServiceDir::unlisted(d))) {
            Some(Ok(pair)) => (pair, None),
            Some(Err(e)) => ((0, 0, false), Some(format!("{e}; using the default"))),
            None => ((0, 0, false), None),
        }
    }
}

impl super::host::RealHost {
    /// Service `svc`'s (stop, reload) signal numbers.
    pub(super) fn signals_of(&mut self, svc: usize) -> (i32, i32) {
        let ((stop, reload, _), note) = self.sigs.get(svc, self.dir(svc));
        if let Some(n) = note {
            self.log(&n);
        }
        let or = |v: u8, d: i32| if v == 0 { d } else { i32::from(v) };
        (or(stop, libc::SIGTERM), or(reload, libc::SIGHUP))
    }

    /// Whether service `svc`'s `kill-mode` is `group`: a stop kills only
    /// its main process's group, never the rest of its cgroup.
    pub(super) fn group_only(&mut self, svc: usize) -> bool {
        let ((_, _, group), note) = self.sigs.get(svc, self.dir(svc));
        if let Some(n) = note {
            self.log(&n);
        }
        group
    }
}

/// Send `sig` to `pid` (`group`: to the process group it leads);
/// `Err(errno)` if the kernel refuses.
pub fn send(pid: Pid, sig: i32, group: bool) -> Result<(), i32> {
    if pid <= 1 {
        return Err(libc::ESRCH);
    }
    let target = if group { -pid } else { pid };
    // SAFETY: kill(2) with a pid or group above 1 (checked above): an
    // unreaped child of ours or the group it leads.
    let r = unsafe { libc::kill(target, sig) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO))
    }
}
