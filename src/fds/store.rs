//! The descriptors cinit holds for services: the listening sockets of each
//! service's `sockets` file ([`crate::config::sockets`]) and the descriptors a
//! service stored over the control socket (its fd store).
//!
//! Both are passed to the service's `on` at every start, sockets first in
//! file order, then stored ones in the order they were stored, at
//! descriptors 3, 4, … ([`FdTable::passed`]). They stay through crashes,
//! restarts and hot updates; [`FdTable::release`] closes them when the
//! service is stopped on request.
//!
//! Invariants: every descriptor here is owned and close-on-exec, and is a
//! [`Foreign`]: services share these open files (a service may even turn a
//! shared listener into a connected socket), so one that is forgotten goes
//! to the closer ([`crate::fds::closer`]), never closed by PID 1 itself; names are unique per service across sockets and stored
//! descriptors; a service holds at most its `fdstore` number of stored
//! descriptors and cinit at most [`MAX_HELD`] in all; no open file is
//! stored twice for one service (compared with `kcmp(KCMP_FILE)`). The
//! rules are pure — the syscalls come in as closures — so they are
//! unit-tested without a kernel's help.

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;

pub use crate::fds::closer::Foreign;

use crate::config::sockets::SocketSpec;
use crate::config::svcdir::{read_small_file, FileError};
use crate::proto::FdInfo;

/// The file in a service directory giving how many descriptors it may
/// store.
pub const CAPACITY_FILE: &str = "fdstore";
/// The most an `fdstore` file may allow.
pub const MAX_PER_SERVICE: usize = 64;
/// The most stored descriptors cinit holds for all services together: PID 1
/// keeps the kernel's default limit of 1024 open files.
pub const MAX_HELD: usize = 512;
pub use crate::config::sockets::{valid_name, MAX_NAME};

/// A socket from the service's `sockets` file.
#[derive(Debug)]
pub struct Listener {
    pub spec: SocketSpec,
    pub fd: Foreign,
}

/// A descriptor the service stored.
#[derive(Debug)]
pub struct Stored {
    pub name: String,
    pub fd: Foreign,
}

/// What cinit holds for one service.
#[derive(Debug, Default)]
pub struct Held {
    pub listeners: Vec<Listener>,
    pub stored: Vec<Stored>,
}

impl Held {
    fn is_empty(&self) -> bool {
        self.listeners.is_empty() && self.stored.is_empty()
    }

    fn count(&self) -> usize {
        self.listeners.len() + self.stored.len()
    }

    fn has_name(&self, name: &str) -> bool {
        self.listeners.iter().any(|l| l.spec.name == name)
            || self.stored.iter().any(|s| s.name == name)
    }
}

/// Why a store, fetch or drop was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FdError {
    BadName(String),
    /// The name is taken (by a socket or a stored descriptor).
    NameTaken(String),
    /// The same open file is already held, under this name.
    Duplicate(String),
    /// The service's `fdstore` limit (0: no `fdstore` file).
    Full(usize),
    /// cinit holds [`MAX_HELD`] stored descriptors already.
    AllFull,
    NotFound(String),
    /// Sockets of the `sockets` file are passed at start, not fetched.
    IsListener(String),
    /// A system call failed (dup).
    Sys(String),
}

impl std::fmt::Display for FdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FdError::BadName(n) => write!(
                f,
                "bad descriptor name {n:?}: 1 to {MAX_NAME} characters of A-Z a-z 0-9 _ . -"
            ),
            FdError::NameTaken(n) => write!(f, "a descriptor named {n} is held already"),
            FdError::Duplicate(n) => {
                write!(f, "the same open file is held already, as {n}")
            }
            FdError::Full(0) => write!(
                f,
                "no descriptors may be stored: the service has no {CAPACITY_FILE} file"
            ),
            FdError::Full(n) => write!(
                f,
                "the service holds {n} stored descriptors already, its {CAPACITY_FILE} limit"
            ),
            FdError::AllFull => write!(
                f,
                "cinit holds {MAX_HELD} stored descriptors for services already"
            ),
            FdError::NotFound(n) => write!(f, "no descriptor named {n} is stored"),
            FdError::IsListener(n) => write!(
                f,
                "{n} is a socket of the sockets file: the service gets it when it starts"
            ),
            FdError::Sys(m) => f.write_str(m),
        }
    }
}

/// Parse an `fdstore` file: a number from 0 to [`MAX_PER_SERVICE`].
pub fn parse_capacity(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let digits = !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    match t.parse::<usize>() {
        Ok(n) if digits && n <= MAX_PER_SERVICE => Ok(n),
        _ => Err(format!(
            "expected a number from 0 to {MAX_PER_SERVICE} (how many descriptors cinit may hold), got {t:?}"
        )),
    }
}

/// The `fdstore` number of the service in `dir` (0 without the file).
/// Read like every other service file ([`read_small_file`]): a regular
/// file of at most 64 KiB, opened without blocking, so a FIFO or a device
/// there is an error, never a hang or an unbounded read.
pub fn read_capacity(dir: &Path) -> Result<usize, FileError> {
    let path = dir.join(CAPACITY_FILE);
    match read_small_file(&path)? {
        Some(data) => parse_capacity(&String::from_utf8_lossy(&data))
            .map_err(|reason| FileError::new(&path, reason)),
        None => Ok(0),
    }
}

/// Every service's held descriptors, by engine index.
#[derive(Debug, Default)]
pub struct FdTable {
    by_svc: BTreeMap<usize, Held>,
}

impl FdTable {
    pub fn get(&self, svc: usize) -> Option<&Held> {
        self.by_svc.get(&svc)
    }

    /// Stored descriptors held in all (sockets are bounded per service by
    /// the `sockets` file's own limit).
    pub fn stored_total(&self) -> usize {
        self.by_svc.values().map(|h| h.stored.len()).sum()
    }

    /// Make the service's sockets those of `specs`, in that order: a socket
    /// whose declaration is unchanged is kept (so connections queued on it
    /// are not lost), a new one is made with `bind`, one no longer
    /// declared is closed. On an error the sockets already held stay.
    pub fn set_listeners<E>(
        &mut self,
        svc: usize,
        specs: Vec<SocketSpec>,
        mut bind: impl FnMut(&SocketSpec) -> Result<OwnedFd, E>,
    ) -> Result<(), E> {
        // A service without sockets that holds nothing gets no entry: an
        // empty one means the same everywhere, and would cost a map node
        // per service at every boot.
        if specs.is_empty() && !self.by_svc.contains_key(&svc) {
            return Ok(());
        }
        let held = self.by_svc.entry(svc).or_default();
        if held.listeners.iter().map(|l| &l.spec).eq(specs.iter()) {
            return Ok(());
        }
        // Slots, so that a failure can put everything back in its place.
        let mut old: Vec<Option<Listener>> = std::mem::take(&mut held.listeners)
            .into_iter()
            .map(Some)
            .collect();
        // Each with the slot it came from, if it was held before.
        let mut new: Vec<(Listener, Option<usize>)> = Vec::with_capacity(specs.len());
        for spec in specs {
            let kept = old
                .iter()
                .position(|l| l.as_ref().is_some_and(|l| l.spec == spec));
            match kept.and_then(|k| old.get_mut(k)).and_then(Option::take) {
                Some(l) => new.push((l, kept)),
                None => match bind(&spec) {
                    Ok(fd) => new.push((
                        Listener {
                            spec,
                            fd: Foreign::new(fd),
                        },
                        None,
                    )),
                    Err(e) => {
                        // What was held stays; the sockets just made close.
                        for (l, from) in new {
                            if let Some(slot) = from.and_then(|k| old.get_mut(k)) {
                                *slot = Some(l);
                            }
                        }
                        held.listeners = old.into_iter().flatten().collect();
                        return Err(e);
                    }
                },
            }
        }
        held.listeners = new.into_iter().map(|(l, _)| l).collect();
        Ok(())
    }

    /// The descriptors to pass to the service's `on` and their names:
    /// sockets first, then stored descriptors.
    pub fn passed(&self, svc: usize) -> Vec<(RawFd, &str)> {
        self.get(svc).map_or_else(Vec::new, |h| {
            h.listeners
                .iter()
                .map(|l| (l.fd.as_raw_fd(), l.spec.name.as_str()))
                .chain(h.stored.iter().map(|s| (s.fd.as_raw_fd(), s.name.as_str())))
                .collect()
        })
    }

    /// Hold `fd` for `svc` as `name`. `capacity`: the service's `fdstore`
    /// number; `same_file(a, b)`: whether two descriptors are the same open
    /// file. A refused `fd` is dropped (to the closer).
    pub fn store(
        &mut self,
        svc: usize,
        name: &str,
        fd: Foreign,
        capacity: usize,
        same_file: impl Fn(RawFd, RawFd) -> bool,
    ) -> Result<(), FdError> {
        if !valid_name(name) {
            return Err(FdError::BadName(name.to_string()));
        }
        let total = self.stored_total();
        let held = self.by_svc.entry(svc).or_default();
        if held.has_name(name) {
            return Err(FdError::NameTaken(name.to_string()));
        }
        let raw = fd.as_raw_fd();
        let dup = held
            .listeners
            .iter()
            .map(|l| (l.fd.as_raw_fd(), &l.spec.name))
            .chain(held.stored.iter().map(|s| (s.fd.as_raw_fd(), &s.name)))
            .find(|(held_fd, _)| same_file(raw, *held_fd));
        if let Some((_, n)) = dup {
            return Err(FdError::Duplicate(n.clone()));
        }
        if held.stored.len() >= capacity {
            return Err(FdError::Full(capacity));
        }
        if total >= MAX_HELD {
            return Err(FdError::AllFull);
        }
        held.stored.push(Stored {
            name: name.to_string(),
            fd,
        });
        Ok(())
    }

    /// A descriptor for the stored `name`: a new one for the same open file
    /// (close-on-exec), or, with `remove`, the one held (forgotten here).
    pub fn fetch(&mut self, svc: usize, name: &str, remove: bool) -> Result<Foreign, FdError> {
        let held = self.by_svc.entry(svc).or_default();
        let Some(k) = held.stored.iter().position(|s| s.name == name) else {
            return Err(if held.listeners.iter().any(|l| l.spec.name == name) {
                FdError::IsListener(name.to_string())
            } else {
                FdError::NotFound(name.to_string())
            });
        };
        if remove {
            return Ok(held.stored.remove(k).fd);
        }
        held.stored
            .get(k)
            .ok_or_else(|| FdError::NotFound(name.to_string()))?
            .fd
            .try_clone()
            .map_err(|e| FdError::Sys(format!("cannot duplicate {name}: {e}")))
    }

    /// Close and forget the stored `name`.
    pub fn drop_stored(&mut self, svc: usize, name: &str) -> Result<(), FdError> {
        self.fetch(svc, name, true).map(drop)
    }

    /// What is held for `svc`, for `cinit-ctl fdstore`. `describe` tells what
    /// a stored descriptor is.
    pub fn list(&self, svc: usize, describe: impl Fn(RawFd) -> String) -> Vec<FdInfo> {
        self.get(svc).map_or_else(Vec::new, |h| {
            h.listeners
                .iter()
                .map(|l| FdInfo {
                    name: l.spec.name.clone(),
                    kind: l.spec.describe(),
                    listen: true,
                })
                .chain(h.stored.iter().map(|s| FdInfo {
                    name: s.name.clone(),
                    kind: describe(s.fd.as_raw_fd()),
                    listen: false,
                }))
                .collect()
        })
    }

    /// Close everything held for `svc` (stopped on request), through the
    /// closer. Returns how many descriptors were closed.
    pub fn release(&mut self, svc: usize, stop_listening: impl Fn(&Foreign)) -> usize {
        self.by_svc.remove(&svc).map_or(0, |h| {
            h.listeners.iter().for_each(|l| stop_listening(&l.fd));
            h.count()
        })
    }

    /// Every descriptor held, for a hot update.
    pub fn raw_fds(&self) -> Vec<RawFd> {
        self.by_svc
            .values()
            .flat_map(|h| {
                h.listeners
                    .iter()
                    .map(|l| l.fd.as_raw_fd())
                    .chain(h.stored.iter().map(|s| s.fd.as_raw_fd()))
            })
            .collect()
    }

    /// The services holding something, by index.
    pub fn services(&self) -> impl Iterator<Item = (usize, &Held)> {
        self.by_svc
            .iter()
            .filter(|(_, h)| !h.is_empty())
            .map(|(&i, h)| (i, h))
    }
}

/// Whether two of our descriptors refer to the same open file:
/// `kcmp(KCMP_FILE)`, or where the kernel lacks it (no
/// CONFIG_CHECKPOINT_RESTORE), the same device and inode — for sockets and
/// pipes the same thing, for a regular file opened twice a false "same".
pub fn same_file(a: RawFd, b: RawFd) -> bool {
    const KCMP_FILE: libc::c_int = 0;
    let pid = std::process::id();
    // SAFETY: kcmp only compares two descriptors of this process; no memory
    // is passed.
    let rc = unsafe { libc::syscall(libc::SYS_kcmp, pid, pid, KCMP_FILE, a, b) };
    if rc >= 0 {
        return rc == 0;
    }
    let stat = |fd| nix::sys::stat::fstat(unsafe_borrow(fd)).ok();
    match (stat(a), stat(b)) {
        (Some(x), Some(y)) => x.st_dev == y.st_dev && x.st_ino == y.st_ino,
        _ => false,
    }
}

fn unsafe_borrow<'a>(fd: RawFd) -> std::os::fd::BorrowedFd<'a> {
    // SAFETY: only used for an fstat of a descriptor the caller holds open
    // for the duration of the call.
    unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }
}

/// What a stored descriptor is, as `/proc/self/fd` shows it (`socket:[N]`,
/// `pipe:[N]`, a path), or its file type where /proc is missing.
pub fn describe(fd: RawFd) -> String {
    if let Ok(target) = std::fs::read_link(format!("/proc/self/fd/{fd}")) {
        return target.display().to_string();
    }
    match nix::sys::stat::fstat(unsafe_borrow(fd)) {
        Ok(st) => match st.st_mode & libc::S_IFMT {
            libc::S_IFSOCK => "socket",
            libc::S_IFIFO => "pipe",
            libc::S_IFREG => "file",
            libc::S_IFCHR => "character device",
            libc::S_IFDIR => "directory",
            _ => "descriptor",
        }
        .to_string(),
        Err(_) => "descriptor".to_string(),
    }
}

mod save;
pub use save::TAG_HELD;

#[cfg(test)]
mod tests;
