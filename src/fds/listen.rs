//! Creating the listening sockets a service's `sockets` file declares
//! ([`crate::config::sockets`]).
//!
//! Every socket made here is close-on-exec (the spawn passes a copy to the
//! service) and **blocking**: the service sets its own flags, and the open
//! file description is shared with it, so an O_NONBLOCK here would leak into
//! every daemon that expects the usual blocking socket. cinit itself never
//! reads from or accepts on these sockets, so blocking costs PID 1 nothing.
//!
//! Unix socket files: the socket's directory is reached with
//! [`crate::sys::safepath::open_dir`]: no link is followed, missing directories
//! are made (0755), every directory must be root's and the socket's own
//! writable by root alone (sticky world-writable ones like `/tmp` only
//! above it); anything else is refused as a configuration error naming the
//! directory and why. Everything after that is done relative to the
//! directory's descriptor: a socket file nobody answers on (stale, left by
//! an earlier run) is removed with `unlinkat` after `fstatat` (no link
//! followed) showed a socket; a live one or anything that is not a socket
//! is an error. The file gets its mode and owner before `listen`, so no
//! client connects while it still has the wrong ones (until `listen`, a
//! connect is refused), and both are set through an `O_PATH` descriptor of
//! the very file checked to be a socket (opened with `openat` and
//! `O_NOFOLLOW`). Once the file exists, any failure removes it (`unlinkat`).
//!
//! `bind` and `connect` take a path, and Linux has no `bindat`. They are
//! given the socket's own path, not `/proc/self/fd/N/NAME`: the string
//! given to `bind` becomes the socket's address, which the service sees in
//! `getsockname` (and `sd_is_socket_unix` compares with the path it
//! expects), and a PID-1 descriptor number there would be a lie. The path
//! is safe to use at that point: every directory on it was just checked to
//! be one that only root may change (see [`crate::sys::safepath`]), so no one
//! else can make it lead elsewhere.
//!
//! Invariant: on error nothing is left behind (no descriptor, no file of
//! ours); [`BindError::errno`] is the errno of the failed call so the caller
//! can tell a passing condition (EADDRINUSE of a port still held) from a
//! wrong configuration (`None`: no such user).

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use nix::errno::Errno;
use nix::sys::socket::{
    connect, setsockopt, socket, sockopt, AddressFamily, SockFlag, SockType, SockaddrStorage,
    UnixAddr,
};

use crate::config::sockets::{Address, SocketSpec};
use crate::sys::safepath::{self, Missing, PathError};

/// Why a socket could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindError {
    /// The errno of the failed call, if a call failed.
    pub errno: Option<i32>,
    /// What failed, naming the address.
    pub message: String,
}

impl std::fmt::Display for BindError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl BindError {
    fn new(spec: &SocketSpec, errno: Option<i32>, what: &str) -> BindError {
        BindError {
            errno,
            message: format!("cannot listen on {}: {what}", spec.describe()),
        }
    }

    /// `call` failed with `e`: "cannot listen on tcp 0.0.0.0:80: bind:
    /// Address already in use".
    fn call(spec: &SocketSpec, call: &str, e: Errno) -> BindError {
        BindError::new(spec, Some(e as i32), &format!("{call}: {}", e.desc()))
    }

    fn io(spec: &SocketSpec, what: &str, e: &io::Error) -> BindError {
        let errno = e.raw_os_error();
        let desc = match errno {
            Some(n) => Errno::from_raw(n).desc().to_string(),
            None => e.to_string(),
        };
        BindError::new(spec, errno, &format!("{what}: {desc}"))
    }
}

/// A new socket for `spec`: bound, listening (streams), close-on-exec,
/// blocking.
pub fn bind(spec: &SocketSpec) -> Result<OwnedFd, BindError> {
    match &spec.address {
        Address::Tcp(addr) => inet(spec, *addr, SockType::Stream),
        Address::Udp(addr) => inet(spec, *addr, SockType::Datagram),
        Address::Unix { path, dgram } => unix(spec, path, *dgram),
    }
}

/// Refuse new connections on a listener that is being let go: its last
/// close happens later, in the closer, and until then a client would be
/// queued on a socket nobody will accept on. `shutdown(2)` makes a Unix or
/// TCP listener refuse at once and never waits; on a datagram socket it
/// fails (not connected), which is fine: nothing queues there to hang.
pub fn stop_listening(fd: std::os::fd::BorrowedFd<'_>) {
    let _ = nix::sys::socket::shutdown(fd.as_raw_fd(), nix::sys::socket::Shutdown::Both);
}

fn new_socket(
    spec: &SocketSpec,
    family: AddressFamily,
    ty: SockType,
) -> Result<OwnedFd, BindError> {
    socket(family, ty, SockFlag::SOCK_CLOEXEC, None).map_err(|e| BindError::call(spec, "socket", e))
}

/// `listen(2)` with the spec's backlog. libc's, not nix's: nix refuses a
/// backlog above `SOMAXCONN`, while the kernel caps it at
/// `net.core.somaxconn`, which may be set higher.
fn listen(spec: &SocketSpec, fd: &OwnedFd) -> Result<(), BindError> {
    // SAFETY: listen only reads its two integer arguments.
    let rc = unsafe { libc::listen(fd.as_raw_fd(), spec.backlog) };
    if rc == 0 {
        Ok(())
    } else {
        Err(BindError::call(spec, "listen", Errno::last()))
    }
}

/// TCP: SO_REUSEADDR (a socket closed and made again, say after its
/// `sockets` line changed, must bind while the old one's connections are
/// in TIME_WAIT), bind, listen. UDP: bind only; a reused
/// UDP address would let two sockets share the datagrams.
fn inet(spec: &SocketSpec, addr: SocketAddr, ty: SockType) -> Result<OwnedFd, BindError> {
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::Inet,
        SocketAddr::V6(_) => AddressFamily::Inet6,
    };
    let fd = new_socket(spec, family, ty)?;
    let stream = ty == SockType::Stream;
    if stream {
        setsockopt(&fd, sockopt::ReuseAddr, &true)
            .map_err(|e| BindError::call(spec, "SO_REUSEADDR", e))?;
    }
    nix::sys::socket::bind(fd.as_raw_fd(), &SockaddrStorage::from(addr))
        .map_err(|e| BindError::call(spec, "bind", e))?;
    if stream {
        listen(spec, &fd)?;
    }
    Ok(fd)
}

/// A socket file's directory (reached safely) and its name in it.
struct Place<'a> {
    dir: OwnedFd,
    name: &'a OsStr,
    path: &'a Path,
}

/// A refused or unreachable directory: a refusal is a configuration error
/// (no errno, the service fails); a failed call keeps its errno.
fn path_error(spec: &SocketSpec, e: &PathError) -> BindError {
    match e.why {
        safepath::Why::Io(errno) => BindError::new(spec, Some(errno), &e.to_string()),
        _ => BindError::new(
            spec,
            None,
            &format!(
                "refusing {e} (a socket's directories must be root's, the last one \
                 writable by root alone, and none a symbolic link)"
            ),
        ),
    }
}

fn unix(spec: &SocketSpec, path: &Path, dgram: bool) -> Result<OwnedFd, BindError> {
    let ty = if dgram {
        SockType::Datagram
    } else {
        SockType::Stream
    };
    let addr = UnixAddr::new(path).map_err(|e| BindError::call(spec, "socket address", e))?;
    // Names first: an unknown user fails before anything is created.
    let uid = resolve(spec, "user", spec.owner.as_deref(), user_id)?;
    let gid = resolve(spec, "group", spec.group.as_deref(), group_id)?;
    let refused = |why| {
        path_error(
            spec,
            &PathError {
                at: path.into(),
                why,
            },
        )
    };
    let (_, name) = safepath::components(path).map_err(refused)?;
    let parent = path.parent().unwrap_or(Path::new("/"));
    let dir = safepath::open_dir(parent, Missing::Create, &safepath::trusted_owners())
        .map_err(|e| path_error(spec, &e))?
        .ok_or_else(|| refused(safepath::Why::Io(libc::ENOENT)))?;
    let at = Place { dir, name, path };
    clear_stale(spec, &at, &addr, ty)?;
    let fd = new_socket(spec, AddressFamily::Unix, ty)?;
    nix::sys::socket::bind(fd.as_raw_fd(), &addr).map_err(|e| BindError::call(spec, "bind", e))?;
    // The file is ours from here on: remove it on any failure.
    let finished = set_owner_and_mode(spec, &at, uid, gid).and_then(|()| {
        if dgram {
            Ok(())
        } else {
            listen(spec, &fd)
        }
    });
    remove_on_error(&at, finished).map(|()| fd)
}

/// `result`, after removing the socket file at `at` if it is an error.
fn remove_on_error<T>(at: &Place, result: Result<T, BindError>) -> Result<T, BindError> {
    if result.is_err() {
        let _ = safepath::unlink_at(&at.dir, at.name);
    }
    result
}

fn user_id(name: &str) -> nix::Result<Option<u32>> {
    nix::unistd::User::from_name(name).map(|u| u.map(|u| u.uid.as_raw()))
}

fn group_id(name: &str) -> nix::Result<Option<u32>> {
    nix::unistd::Group::from_name(name).map(|g| g.map(|g| g.gid.as_raw()))
}

/// `owner=` / `group=`: a number as it is, a name looked up in the user or
/// group database; `None` (not given) stays `None` (the file stays root's).
fn resolve(
    spec: &SocketSpec,
    what: &str,
    value: Option<&str>,
    lookup: fn(&str) -> nix::Result<Option<u32>>,
) -> Result<Option<u32>, BindError> {
    let Some(value) = value else {
        return Ok(None);
    };
    if let Ok(id) = value.parse::<u32>() {
        return Ok(Some(id));
    }
    match lookup(value) {
        Ok(Some(id)) => Ok(Some(id)),
        Ok(None) => Err(BindError::new(spec, None, &format!("no {what} {value:?}"))),
        Err(e) => Err(BindError::call(
            spec,
            &format!("looking up {what} {value:?}"),
            e,
        )),
    }
}

/// Make room at `at`: nothing there is fine; a socket file that refuses
/// a connection of the same type is stale and removed; a live socket is
/// EADDRINUSE; anything else stays and is an error naming it. Looked at
/// and removed through the directory's descriptor, never following a link.
fn clear_stale(
    spec: &SocketSpec,
    at: &Place,
    addr: &UnixAddr,
    ty: SockType,
) -> Result<(), BindError> {
    let path = at.path;
    let st = match safepath::stat_at(&at.dir, at.name) {
        Ok(Some(st)) => st,
        Ok(None) => return Ok(()),
        Err(e) => return Err(BindError::call(spec, &format!("{}", path.display()), e)),
    };
    if st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return Err(BindError::new(
            spec,
            Some(libc::EEXIST),
            &format!(
                "{} exists and is {}, not a socket",
                path.display(),
                safepath::kind(st.st_mode)
            ),
        ));
    }
    match probe(addr, ty) {
        // Nobody accepts on it: a file left by a process that is gone.
        Err(Errno::ECONNREFUSED) => safepath::unlink_at(&at.dir, at.name).map_err(|e| {
            BindError::call(
                spec,
                &format!("cannot remove the stale socket {}", path.display()),
                e,
            )
        }),
        // Accepted, queued (EAGAIN: a full backlog) or a live socket of
        // the other type (EPROTOTYPE): someone uses it.
        Ok(()) | Err(Errno::EAGAIN | Errno::EINPROGRESS | Errno::EPROTOTYPE) => {
            Err(BindError::new(
                spec,
                Some(libc::EADDRINUSE),
                &format!("{} is in use: a process listens on it", path.display()),
            ))
        }
        Err(e) => Err(BindError::call(
            spec,
            &format!("probing {}", path.display()),
            e,
        )),
    }
}

/// Connect to the socket file at `path` with a non-blocking socket of type
/// `ty` (as `control_socket::answers` does for streams; a datagram socket
/// must be probed with a datagram socket, or a live one looks stale).
fn probe(addr: &UnixAddr, ty: SockType) -> nix::Result<()> {
    let probe = socket(
        AddressFamily::Unix,
        ty,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    connect(probe.as_raw_fd(), addr)
}

/// Give the socket file at `at` its owner and mode, through an `O_PATH`
/// descriptor of the file (opened in its directory, no link followed),
/// checked to be a socket (see the module doc).
fn set_owner_and_mode(
    spec: &SocketSpec,
    at: &Place,
    uid: Option<u32>,
    gid: Option<u32>,
) -> Result<(), BindError> {
    let path = at.path;
    let file = safepath::openat(Some(&at.dir), at.name, libc::O_PATH | libc::O_NOFOLLOW, 0)
        .map_err(|e| BindError::call(spec, "open", e))?;
    let meta =
        nix::sys::stat::fstat(file.as_fd()).map_err(|e| BindError::call(spec, "fstat", e))?;
    if meta.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return Err(BindError::new(
            spec,
            Some(libc::EEXIST),
            &format!("{} was replaced while being set up", path.display()),
        ));
    }
    if uid.is_some() || gid.is_some() {
        let none = u32::MAX; // -1: leave as it is
                             // SAFETY: an empty NUL-terminated path with AT_EMPTY_PATH makes
                             // fchownat act on `file` itself.
        let rc = unsafe {
            libc::fchownat(
                file.as_raw_fd(),
                c"".as_ptr(),
                uid.unwrap_or(none),
                gid.unwrap_or(none),
                libc::AT_EMPTY_PATH,
            )
        };
        if rc != 0 {
            return Err(BindError::call(spec, "chown", Errno::last()));
        }
    }
    // fchmod does not work on an O_PATH descriptor; its /proc link does
    // (what libc's fchmodat(AT_SYMLINK_NOFOLLOW) does too).
    let link = format!("/proc/self/fd/{}", file.as_raw_fd());
    fs::set_permissions(&link, fs::Permissions::from_mode(spec.mode))
        .map_err(|e| BindError::io(spec, "chmod", &e))
}

#[cfg(test)]
mod tests;
