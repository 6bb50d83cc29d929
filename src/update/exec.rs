//! The system side of a hot update: handing the snapshot and the
//! descriptors across the exec, and picking them up in the new image.
//!
//! The new image is executed with `execveat(fd, "", …, AT_EMPTY_PATH)` on
//! the descriptor its preflight ran from ([`crate::update::preflight`]), never by
//! path, so the file that was proved is the file that runs.
//!
//! The snapshot ([`crate::update::snapshot`]) goes into a memfd named
//! `cinit-snapshot`, whose number is passed in the environment variable
//! [`ENV_VAR`]. The descriptors the snapshot names (console, control socket,
//! clients, the memfd) have close-on-exec cleared just before `execve`; every
//! other descriptor closes. The signal mask survives the exec, so signals
//! stay blocked and pending ones wait for the new image's signalfd.
//!
//! If the exec fails, close-on-exec is set again and the old image goes on
//! as if nothing happened. The new image only honours [`ENV_VAR`] when it
//! names a memfd called `cinit-snapshot`, so a stray variable (say, from the
//! kernel command line) is ignored.

use std::ffi::{CString, OsString};
use std::io::{Read, Seek, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use super::fdtable::{count_open, fd_table_size, gaps};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, FdFlag};

/// The environment variable naming the snapshot's descriptor.
pub const ENV_VAR: &str = "CINIT_SNAPSHOT_FD";
/// The memfd's name (shown by the kernel as `/memfd:cinit-snapshot`).
const MEMFD_NAME: &str = "cinit-snapshot";
/// Largest snapshot read back (far above what 16 Ki services need).
const MAX_SNAPSHOT: u64 = 256 << 20;

/// How to run this program again: its path and its arguments.
#[derive(Debug, Clone)]
pub struct SelfExec {
    pub path: Option<PathBuf>,
    pub argv: Vec<CString>,
}

impl SelfExec {
    /// Read once at start-up, before anyone could replace the binary.
    pub fn capture() -> SelfExec {
        let path = std::fs::read_link("/proc/self/exe").ok().map(|p| {
            // A binary deleted or replaced while running reads "PATH (deleted)".
            let b = p.as_os_str().as_bytes();
            match b.strip_suffix(b" (deleted)") {
                Some(stem) => PathBuf::from(OsString::from_vec(stem.to_vec())),
                None => p,
            }
        });
        let argv = std::env::args_os()
            .filter_map(|a| CString::new(a.into_vec()).ok())
            .collect();
        SelfExec { path, argv }
    }
}

pub fn set_cloexec(fd: RawFd, on: bool) -> Result<(), Errno> {
    // SAFETY: the caller passes descriptors it owns; only the flag changes.
    let bfd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    let flags = if on {
        FdFlag::FD_CLOEXEC
    } else {
        FdFlag::empty()
    };
    fcntl(bfd, FcntlArg::F_SETFD(flags)).map(|_| ())
}

/// Whether `fd` is an open descriptor of this process.
pub fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD on any number only reads the descriptor table.
    fd >= 0 && unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0
}

fn snapshot_memfd(bytes: &[u8]) -> Result<std::fs::File, String> {
    let name = CString::new(MEMFD_NAME).unwrap_or_default();
    let fd = nix::sys::memfd::memfd_create(name.as_c_str(), nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
        .map_err(|e| format!("memfd_create: {}", e.desc()))?;
    let mut file = std::fs::File::from(fd);
    file.write_all(bytes)
        .and_then(|()| file.rewind())
        .map_err(|e| format!("writing the snapshot: {e}"))?;
    Ok(file)
}

/// Replace this process image with the file open at `image` (the one the
/// preflight proved, see [`crate::update::preflight`]), handing over `snapshot` and
/// the descriptors `keep`. `execveat` on the descriptor, not `execve` on the
/// path: the file cannot be swapped between the check and the exec. The
/// descriptor is close-on-exec, so the new image does not inherit it.
/// Returns only on failure, with the reason; everything is then as before
/// the call.
pub fn exec_with_snapshot(
    exec: &SelfExec,
    image: RawFd,
    snapshot: &[u8],
    keep: &[RawFd],
) -> String {
    let shown = exec
        .path
        .as_ref()
        .map_or_else(|| "cinit".to_string(), |p| p.display().to_string());
    let memfd = match snapshot_memfd(snapshot) {
        Ok(f) => f,
        Err(e) => return e,
    };
    let mut env = crate::update::preflight::environment(&[ENV_VAR, crate::sys::nofile::ENV_VAR]);
    let fd_var = format!("{ENV_VAR}={}", memfd.as_raw_fd());
    env.push(CString::new(fd_var).unwrap_or_default());
    // The descriptor limit cinit started with: the new image inherits the
    // raised one and must still give children the original.
    env.extend(crate::sys::nofile::handover_env().and_then(|v| CString::new(v).ok()));
    let handed: Vec<RawFd> = keep
        .iter()
        .copied()
        .chain(std::iter::once(memfd.as_raw_fd()))
        .collect();
    for &fd in &handed {
        if let Err(e) = set_cloexec(fd, false) {
            restore_cloexec(&handed);
            return format!("cannot keep descriptor {fd} open: {}", e.desc());
        }
    }
    let err = crate::update::preflight::execveat(image, &exec.argv, &env);
    restore_cloexec(&handed);
    format!("cannot execute {shown}: {}", err.desc())
}

fn restore_cloexec(fds: &[RawFd]) {
    for &fd in fds {
        let _ = set_cloexec(fd, true);
    }
}

/// Whether `fd` is the snapshot memfd: a memfd (only those answer
/// F_GET_SEALS; this needs no /proc) and, where /proc can tell, one named
/// `cinit-snapshot`.
fn is_snapshot_memfd(fd: RawFd) -> bool {
    // SAFETY: F_GET_SEALS only reads the descriptor's seals.
    if unsafe { libc::fcntl(fd, libc::F_GET_SEALS) } < 0 {
        return false;
    }
    match std::fs::read_link(format!("/proc/self/fd/{fd}")) {
        Ok(p) => p
            .as_os_str()
            .as_bytes()
            .starts_with(format!("/memfd:{MEMFD_NAME}").as_bytes()),
        Err(_) => true, // no /proc: a memfd handed over this way is ours
    }
}

/// What the environment says about a snapshot from a previous image.
pub enum Handover {
    /// No hot update: an ordinary boot.
    None,
    /// The snapshot's bytes.
    Bytes(Vec<u8>),
    /// There was a snapshot, but it could not be read.
    Unreadable(String),
}

/// Take the snapshot named by [`ENV_VAR`], close its descriptor and remove
/// the variable (so services and a later update never see it).
pub fn take_handover() -> Handover {
    let Some(value) = std::env::var_os(ENV_VAR) else {
        return Handover::None;
    };
    std::env::remove_var(ENV_VAR);
    let Some(fd) = value.to_str().and_then(|v| v.parse::<RawFd>().ok()) else {
        return Handover::None;
    };
    if fd < 3 || !is_open(fd) || !is_snapshot_memfd(fd) {
        return Handover::None; // stray: not a handover
    }
    // SAFETY: the descriptor is open, is our snapshot memfd, and nothing
    // else in this new image refers to it.
    let file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    // Sized once from the file (a `Take` does not ask for the size, so
    // `read_to_end` would grow the buffer a dozen times for 400 kB).
    let size = file.metadata().map_or(0, |m| m.len()).min(MAX_SNAPSHOT);
    let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0).saturating_add(1));
    match file.take(MAX_SNAPSHOT).read_to_end(&mut data) {
        Ok(_) => Handover::Bytes(data),
        Err(e) => Handover::Unreadable(format!("cannot read the snapshot: {e}")),
    }
}

/// Set close-on-exec on every open descriptor ≥ 3 in one system call
/// (`close_range(2)` with `CLOSE_RANGE_CLOEXEC`, Linux 5.11), rather than
/// one `fcntl` per descriptor: after [`close_others`] every one left is
/// cinit's own, and all of cinit's descriptors are close-on-exec. On an
/// older kernel, the descriptors `fallback` one by one.
pub fn cloexec_all(fallback: &[RawFd]) {
    if !crate::sys::spawn::cloexec_from_3() {
        for &fd in fallback {
            let _ = set_cloexec(fd, true);
        }
    }
}

/// Close every descriptor ≥ 3 not in `keep` (what the old image handed
/// over but the new one could not use, or what the kernel or a container
/// runtime left open), so nothing leaks. Works without /proc (by
/// `close_range(2)` over the gaps); returns how many were open, if /proc
/// can tell.
///
/// The count asks the gaps below the descriptor table's size, without
/// listing `/proc/self/fd` (`src/update/fdtable.rs` says why).
pub fn close_others(keep: &[RawFd]) -> usize {
    // As usize, not u32: the same sort as cinit's other index lists.
    let mut keep: Vec<usize> = keep
        .iter()
        .filter_map(|&fd| usize::try_from(fd).ok())
        .filter(|&fd| fd >= 3)
        .collect();
    keep.sort_unstable();
    keep.dedup();
    // close_range(2) takes unsigned ints; its largest is past every descriptor.
    let end = libc::c_uint::MAX as usize;
    let gaps = gaps(&keep, end);
    let open = fd_table_size().map_or(0, |size| {
        count_open(
            gaps.iter()
                .flat_map(|&(a, b)| a..=b.min(size.saturating_sub(1))),
        )
    });
    for &(from, to) in &gaps {
        let (first, last) = (from as libc::c_uint, to as libc::c_uint);
        // SAFETY: closes descriptors no object of this image owns (the
        // gaps between the kept ones); no memory is touched.
        let rc = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0) };
        if rc < 0 {
            // A kernel before 5.9: one by one, as far as is plausible.
            for fd in from..=to.min(65_535) {
                // SAFETY: as above, one descriptor at a time.
                unsafe { libc::close(fd as RawFd) };
            }
        }
    }
    open
}
