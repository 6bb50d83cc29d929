//! The control socket's file: its directory on a tmpfs, a listening socket
//! bound there, probing whether a socket file is live, and telling whether
//! the path still names the socket cinit listens on.
//!
//! Invariant: every socket made here is non-blocking and close-on-exec; the
//! directory is root-owned, mode 0755, and on a tmpfs (mounted if needed);
//! the socket file is mode 0666 (what a client may do is checked per
//! request).

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::sys::socket::{
    bind, connect, listen, socket, AddressFamily, Backlog, SockFlag, SockType, UnixAddr,
};

use crate::control::OpenError;

const RAMFS_MAGIC: i64 = 0x8584_58f6;

pub fn on_tmpfs(dir: &Path) -> bool {
    nix::sys::statfs::statfs(dir).is_ok_and(|s| {
        let t = s.filesystem_type();
        t == nix::sys::statfs::TMPFS_MAGIC || i64::from(t.0 as u32) == RAMFS_MAGIC
    })
}

/// Create `dir` (root-writable, world-searchable) and make sure it sits on a
/// tmpfs. Returns a note when a tmpfs was mounted.
pub fn prepare_dir(dir: &Path) -> Result<Option<String>, String> {
    let fail = |what: &str, e: &dyn std::fmt::Display| format!("{what} {}: {e}", dir.display());
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .map_err(|e| fail("cannot create", &e))?;
    let mut note = None;
    if !on_tmpfs(dir) {
        mount(
            Some("tmpfs"),
            dir,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            Some("mode=0755,size=1m"),
        )
        .map_err(|e| fail("cannot mount a tmpfs on", &e.desc()))?;
        note = Some(format!("mounted tmpfs on {}", dir.display()));
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| fail("cannot chmod", &e))?;
    Ok(note)
}

/// Device and inode of `path` if it is a socket file.
pub fn socket_identity(path: &Path) -> Option<(u64, u64)> {
    let m = std::fs::symlink_metadata(path).ok()?;
    m.file_type().is_socket().then(|| (m.dev(), m.ino()))
}

/// Whether something listens on the socket at `path` (a refused connect
/// means a stale socket file, or no socket at all).
pub fn answers(path: &Path) -> Result<bool, OpenError> {
    let addr = UnixAddr::new(path).map_err(|e| OpenError::Failed(e.desc().to_string()))?;
    let probe = unix_socket().map_err(|e| OpenError::Failed(e.desc().to_string()))?;
    Ok(matches!(
        connect(probe.as_raw_fd(), &addr),
        Ok(()) | Err(Errno::EAGAIN)
    ))
}

/// `SO_PASSRIGHTS` (Linux 6.16), where the C library does not name it yet:
/// 83 in the generic numbering (x86, arm, riscv, mips…), 0x5c on sparc.
#[cfg(any(target_arch = "sparc", target_arch = "sparc64"))]
const SO_PASSRIGHTS: libc::c_int = 0x5c;
#[cfg(not(any(target_arch = "sparc", target_arch = "sparc64")))]
const SO_PASSRIGHTS: libc::c_int = 83;

/// Set up an accepted connection against passed descriptors, before the
/// first read. An out-of-band byte is read inline (`SO_OOBINLINE`): a read
/// that skips one releases the descriptors sent with it inside the read,
/// where PID 1 would make their last close. With `refuse`, the kernel
/// refuses descriptors sent to the connection from now on
/// (`SO_PASSRIGHTS` off; older kernels say ENOPROTOOPT and nothing
/// changes). Returns whether it refuses them.
pub fn guard(fd: &OwnedFd, refuse: bool) -> bool {
    let set = |opt: libc::c_int, on: libc::c_int| {
        // SAFETY: setsockopt reads one int through a valid pointer.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        rc == 0
    };
    set(libc::SO_OOBINLINE, 1);
    refuse && set(SO_PASSRIGHTS, 0)
}

/// A new listening socket bound at `path`, mode 0666.
pub fn listen_at(path: &Path) -> Result<OwnedFd, OpenError> {
    let addr = UnixAddr::new(path).map_err(|e| OpenError::Failed(e.desc().to_string()))?;
    let listener = unix_socket().map_err(|e| OpenError::Failed(e.desc().to_string()))?;
    let failed = |what: &str, e: Errno| {
        OpenError::Failed(format!("cannot {what} {}: {}", path.display(), e.desc()))
    };
    bind(listener.as_raw_fd(), &addr).map_err(|e| failed("bind", e))?;
    // Every local user may connect; what they may do is checked per request.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))
        .map_err(|e| OpenError::Failed(format!("cannot chmod {}: {e}", path.display())))?;
    let backlog = Backlog::new(128).unwrap_or(Backlog::MAXCONN);
    listen(&listener, backlog).map_err(|e| failed("listen on", e))?;
    Ok(listener)
}

pub fn unix_socket() -> nix::Result<OwnedFd> {
    socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )
}
