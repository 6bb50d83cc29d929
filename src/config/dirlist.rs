//! One service directory, listed once: which of cinit's files it holds.
//!
//! Every file of a service directory is optional, so reading a service
//! used to probe each one by its absolute path, and most probes failed with
//! ENOENT (a plain service has `on` and `respawn` and nothing else). A
//! [`ServiceDir`] opens the directory once (`DIR/.`, `O_DIRECTORY`),
//! lists it with `getdents64`, and answers "is `NAME` there?" from the
//! listing; only the files that are there are opened, relative to the
//! directory descriptor.
//!
//! Invariants:
//! - The answers are the same as probing each path: a name the listing
//!   does not hold is reported exactly as a missing file was; a name it
//!   holds is opened with the same flags and checks as before
//!   ([`crate::config::svcdir::read_small_file`]: non-blocking, regular
//!   files only, at most 64 KiB; the last component is followed as an
//!   absolute open follows it). Errors name `DIR/NAME` as before.
//! - When the directory cannot be opened or listed (not a directory, not
//!   searchable, no descriptor left, too many entries) the `ServiceDir` is
//!   *unlisted*: every question goes to the absolute path, as before.
//! - Bounded: the listing reads at most [`MAX_LIST_CALLS`] buffers of
//!   [`LIST_BUF`] bytes and keeps one bit per name cinit reads
//!   ([`KNOWN`]); a name outside that table is always probed.
//! - The descriptor is close-on-exec and closed when the `ServiceDir` is
//!   dropped; callers drop it before they spawn.
//! - A listing may be kept without its descriptor ([`Listing`], eight
//!   bytes) and answered from later ([`ServiceDir::from_listing`]): the
//!   same answers for the same directory contents, a name it holds opened
//!   by its absolute path `DIR/NAME` with the same flags and checks as an
//!   unlisted directory opens it. Only as fresh as the listing: cinit uses
//!   one only within the loop turn that made it (`doc/DESIGN.md`, "Reading
//!   a service directory once at boot").

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::config::svcdir::{read_opened, read_small_file, FileError, SMALL_FILE_FLAGS};

mod kept;
use kept::LISTED;
pub use kept::{Kept, Listing};

/// Every name cinit reads in a service directory; the listing keeps one
/// bit per entry of this table.
pub const KNOWN: [&str; 33] = [
    "on",
    "off",
    "on.params",
    "on.env",
    "off.params",
    "off.env",
    "respawn",
    "delay",
    "notification-fd",
    "ready-timeout",
    "ready-probe",
    "needs",
    "wants",
    "console",
    "log.size",
    "log.file",
    "log.mirror",
    "sockets",
    "fdstore",
    "user",
    "limits",
    "nice",
    "oom-score-adj",
    "no-new-privs",
    "stop-signal",
    "reload-signal",
    "cgroup",
    "kill-mode",
    "watchdog",
    "condition",
    "restart-limit",
    "on-failure",
    "notify-socket",
];

/// Bytes of one `getdents64` buffer: a service directory's dozen entries
/// fit in one call.
pub const LIST_BUF: usize = 4096;

/// Bytes of the stack buffers for a path (`DIR/.`) and a link's target;
/// longer ones take the allocating way.
pub const SHORT_PATH: usize = 256;

/// Most `getdents64` calls for one listing (about 2000 entries); a larger
/// directory is left unlisted rather than read to its end by PID 1.
pub const MAX_LIST_CALLS: usize = 16;

/// The bit of `name` in a listing, if cinit reads that name.
/// A match on the bytes (the compiler tests the length first, then
/// compares with the few names of that length) instead of comparing with
/// each name of [`KNOWN`] in turn: a listing asks this for every entry.
/// The `known_bits_match_the_table` test keeps it equal to the table.
fn bit(name: &[u8]) -> Option<u64> {
    let i = match name {
        b"on" => 0,
        b"off" => 1,
        b"on.params" => 2,
        b"on.env" => 3,
        b"off.params" => 4,
        b"off.env" => 5,
        b"respawn" => 6,
        b"delay" => 7,
        b"notification-fd" => 8,
        b"ready-timeout" => 9,
        b"ready-probe" => 10,
        b"needs" => 11,
        b"wants" => 12,
        b"console" => 13,
        b"log.size" => 14,
        b"log.file" => 15,
        b"log.mirror" => 16,
        b"sockets" => 17,
        b"fdstore" => 18,
        b"user" => 19,
        b"limits" => 20,
        b"nice" => 21,
        b"oom-score-adj" => 22,
        b"no-new-privs" => 23,
        b"stop-signal" => 24,
        b"reload-signal" => 25,
        b"cgroup" => 26,
        b"kill-mode" => 27,
        b"watchdog" => 28,
        b"condition" => 29,
        b"restart-limit" => 30,
        b"on-failure" => 31,
        b"notify-socket" => 32,
        _ => return None,
    };
    Some(1u64 << i)
}

/// Mark the known names found in one `getdents64` buffer (`struct
/// linux_dirent64` records: inode u64, offset i64, record length u16, type
/// u8, NUL-terminated name). `None` if the buffer is malformed.
pub fn scan(buf: &[u8], present: &mut u64) -> Option<()> {
    let mut off = 0usize;
    while off < buf.len() {
        let rec = buf.get(off..)?;
        let len = usize::from(u16::from_ne_bytes([*rec.get(16)?, *rec.get(17)?]));
        let body = rec.get(19..len)?;
        let name = body.split(|&b| b == 0).next()?;
        if let Some(b) = bit(name) {
            *present |= b;
        }
        off = off.checked_add(len)?;
    }
    Some(())
}

/// A file name of a service directory as a C string, on the stack: the
/// names cinit opens there are a few bytes long, and each start opens
/// several.
struct NameBuf([u8; NAME_BUF]);

/// Bytes of a [`NameBuf`]: the longest name of [`KNOWN`] and its NUL, with
/// room to spare.
const NAME_BUF: usize = 32;

impl NameBuf {
    /// `name` and a NUL; `None` if it holds a NUL or is too long.
    fn new(name: &str) -> Option<NameBuf> {
        let bytes = name.as_bytes();
        if bytes.contains(&0) || bytes.len() >= NAME_BUF {
            return None;
        }
        let mut buf = [0u8; NAME_BUF];
        buf.get_mut(..bytes.len())?.copy_from_slice(bytes);
        Some(NameBuf(buf))
    }

    fn as_ptr(&self) -> *const libc::c_char {
        self.0.as_ptr().cast()
    }
}

/// A service directory, listed once if it could be ([`ServiceDir::open`]).
#[derive(Debug)]
pub struct ServiceDir<'a> {
    /// The service's directory (an instance's: where it would be).
    path: &'a Path,
    /// The instance, for an instance: its files are its template's
    /// ([`ServiceDir::path`]), with `%i` in its `.params` and `.env`. The
    /// template's path is made from `path` where it is used, not kept:
    /// a `ServiceDir` owns nothing more than before instances.
    instance: Option<&'a [u8]>,
    /// The bits of the [`KNOWN`] names the directory holds; `None`:
    /// unlisted, every question goes to the path.
    listed: Option<u64>,
    /// The open directory the listing was made from; `None` for a listing
    /// kept from earlier ([`ServiceDir::from_listing`]), whose files are
    /// opened by their paths.
    fd: Option<OwnedFd>,
}

/// What the listing says of a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Listed and there: open it relative to the directory.
    Here,
    /// Listed and not there: exactly as a missing file.
    Absent,
    /// Unlisted (or a name outside [`KNOWN`]): probe the path.
    Unknown,
}

impl<'a> ServiceDir<'a> {
    /// A `ServiceDir` that answers every question from the path, with no
    /// system call of its own (but an instance's name's one `lstat`,
    /// [`instance_of`]).
    pub fn unlisted(path: &'a Path) -> Self {
        ServiceDir {
            instance: instance_of(path),
            path,
            listed: None,
            fd: None,
        }
    }

    /// Open and list `path` (an instance's template: [`instance_of`]); unlisted
    /// if either fails. A directory that lists costs nothing more.
    pub fn open(path: &'a Path) -> Self {
        if let Some((fd, listed)) = list(path) {
            return ServiceDir {
                path,
                instance: None,
                listed: Some(listed),
                fd: Some(fd),
            };
        }
        let mut dir = ServiceDir::unlisted(path);
        if dir.instance.is_some() {
            (dir.fd, dir.listed) = list(dir.path()).unzip();
        }
        dir
    }

    /// `path` as an earlier listing of it found it ([`ServiceDir::listing`]),
    /// with no system call of its own: the names it holds are opened by
    /// their paths, the names it does not hold are missing.
    pub fn from_listing(path: &'a Path, listing: Listing) -> Self {
        ServiceDir {
            path,
            instance: instance_of(path),
            listed: listing.is_listed().then_some(listing.0 & !LISTED),
            fd: None,
        }
    }

    /// What this directory's listing found, to be answered from later
    /// ([`ServiceDir::from_listing`]).
    pub fn listing(&self) -> Listing {
        match self.listed {
            Some(bits) => Listing(bits | LISTED),
            None => Listing::UNLISTED,
        }
    }

    /// The directory the files are in: the service's, or an instance's
    /// template's (a prefix of its path,
    /// [`crate::config::instance::template_of`]).
    pub fn path(&self) -> &'a Path {
        match self
            .instance
            .and(crate::config::instance::template_of(self.path))
        {
            Some((template, _)) => template,
            None => self.path,
        }
    }

    /// The instance whose template this is read for, if any.
    pub fn instance(&self) -> Option<&'a [u8]> {
        self.instance
    }

    /// `DIR/NAME`, as errors name it.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }

    /// What the listing says of `name`.
    pub fn seen(&self, name: &str) -> Seen {
        match (self.listed, bit(name.as_bytes())) {
            (Some(present), Some(b)) if present & b != 0 => Seen::Here,
            (Some(_), Some(_)) => Seen::Absent,
            _ => Seen::Unknown,
        }
    }

    /// The open directory, when listed here (not for a kept listing).
    pub fn fd(&self) -> Option<&OwnedFd> {
        self.fd.as_ref()
    }

    /// `openat(DIR, name, flags)`; `Err(errno)` if it fails. Only for a
    /// listed directory; an unlisted one gives `ENOTDIR` and the caller
    /// uses the path.
    pub fn open_at(&self, name: &str, flags: libc::c_int) -> Result<OwnedFd, i32> {
        let fd = self.fd().ok_or(libc::ENOTDIR)?;
        let cname = NameBuf::new(name).ok_or(libc::EINVAL)?;
        // SAFETY: a valid directory descriptor and a NUL-terminated name;
        // the returned descriptor is owned from here on.
        let raw = unsafe { libc::openat(fd.as_raw_fd(), cname.as_ptr(), flags) };
        if raw < 0 {
            return Err(last_errno());
        }
        // SAFETY: `raw` is a fresh descriptor nobody else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(raw) })
    }

    /// `readlinkat(DIR, name)`: `Ok(Some(target))` for a symbolic link,
    /// `Ok(None)` if `name` is not one (EINVAL), `Err(errno)` otherwise.
    /// Relative to the open directory; for a kept listing (no descriptor)
    /// or an unlisted directory, `readlink` of the path `DIR/NAME`, the
    /// same answer in one system call.
    pub fn read_link_at(&self, name: &str) -> Result<Option<PathBuf>, i32> {
        // On the stack, and the target copied out at its length: a
        // PATH_MAX buffer from the allocator at every start made it hand
        // whole pages back to the kernel and fetch them again. A target
        // that fills it is read by [`ServiceDir::read_link`]'s path way.
        let mut buf = [0u8; SHORT_PATH];
        let into = buf.as_mut_ptr().cast::<libc::c_char>();
        let n = match self.fd() {
            Some(fd) => {
                let cname = NameBuf::new(name).ok_or(libc::EINVAL)?;
                // SAFETY: a valid descriptor, a NUL-terminated name and a
                // buffer of SHORT_PATH writable bytes.
                unsafe { libc::readlinkat(fd.as_raw_fd(), cname.as_ptr(), into, SHORT_PATH) }
            }
            None => with_c_path(self.path(), name.as_bytes(), |cpath| {
                // SAFETY: a NUL-terminated path and a buffer of SHORT_PATH
                // writable bytes.
                unsafe { libc::readlinkat(libc::AT_FDCWD, cpath, into, SHORT_PATH) }
            })
            .ok_or(libc::EINVAL)?,
        };
        match usize::try_from(n) {
            // A target as long as the buffer may be cut: the caller reads
            // it by its path ([`ServiceDir::read_link`]).
            Ok(len) if len >= buf.len() => Err(libc::ENAMETOOLONG),
            Ok(len) => {
                let target = buf.get(..len).ok_or(libc::ENAMETOOLONG)?;
                // Room for the NUL of the C string a program's path
                // becomes ([`crate::config::svcdir::read_exec`]).
                let mut owned = Vec::with_capacity(len + 1);
                owned.extend_from_slice(target);
                Ok(Some(PathBuf::from(
                    <std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(owned),
                )))
            }
            Err(_) => match last_errno() {
                libc::EINVAL => Ok(None),
                e => Err(e),
            },
        }
    }
}

/// The answers of the service files' readers ([`crate::config::svcdir`]
/// and its neighbours): from the listing where it has them, else from the
/// path exactly as before.
impl ServiceDir<'_> {
    /// Whether `name` exists, of any type (`lstat`: a dangling link
    /// counts).
    pub fn exists(&self, name: &str) -> std::io::Result<bool> {
        match self.seen(name) {
            Seen::Here => Ok(true),
            Seen::Absent => Ok(false),
            Seen::Unknown => match std::fs::symlink_metadata(self.join(name)) {
                Ok(_) => Ok(true),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
                Err(e) => Err(e),
            },
        }
    }

    /// A service file read whole ([`read_small_file`]); `Ok(None)` if it
    /// does not exist.
    /// The path `DIR/NAME` is made only where it is used (a read, an
    /// error): most names a service is asked for are absent, and PID 1
    /// asks about ten per service at each load and start.
    pub fn read_small(&self, name: &str) -> Result<Option<Vec<u8>>, FileError> {
        match self.seen(name) {
            Seen::Absent => Ok(None),
            // A kept listing opens what it holds as an unlisted one does.
            Seen::Unknown => read_small_file(&self.join(name)),
            Seen::Here if self.fd.is_none() => read_small_file(&self.join(name)),
            Seen::Here => {
                match self.open_at(name, libc::O_RDONLY | SMALL_FILE_FLAGS | libc::O_CLOEXEC) {
                    Ok(fd) => read_opened(std::fs::File::from(fd), &self.join(name)).map(Some),
                    Err(libc::ENOENT) => Ok(None),
                    Err(e) => Err(FileError::io(
                        &self.join(name),
                        &std::io::Error::from_raw_os_error(e),
                    )),
                }
            }
        }
    }

    /// `name` as a program: `Ok(None)` if it does not exist,
    /// `Ok(Some(Some(target)))` for a symbolic link, `Ok(Some(None))` for
    /// anything else.
    pub fn read_link(&self, name: &str) -> Result<Option<Option<PathBuf>>, FileError> {
        let io = |e: i32| FileError::io(&self.join(name), &std::io::Error::from_raw_os_error(e));
        match self.seen(name) {
            Seen::Absent => return Ok(None),
            Seen::Here => match self.read_link_at(name) {
                Ok(link) => return Ok(Some(link)),
                Err(libc::ENOENT) => return Ok(None),
                // A target too long for the buffer: the path's way below.
                Err(libc::ENAMETOOLONG) => {}
                Err(e) => return Err(io(e)),
            },
            Seen::Unknown => {}
        }
        let path = self.join(name);
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(FileError::io(&path, &e)),
        };
        if !meta.file_type().is_symlink() {
            return Ok(Some(None));
        }
        std::fs::read_link(&path)
            .map(|t| Some(Some(t)))
            .map_err(|e| FileError::io(&path, &e))
    }
}

/// For tests: `read` of `dir` listed, answered from a kept listing
/// ([`ServiceDir::from_listing`]) and unlisted, which must agree (the
/// listing changes how files are found, never what is read); the answer.
#[cfg(test)]
pub fn both<T: PartialEq + std::fmt::Debug>(dir: &Path, read: impl Fn(&ServiceDir) -> T) -> T {
    let listed = ServiceDir::open(dir);
    assert!(listed.fd().is_some(), "{} is listed", dir.display());
    let answer = read(&listed);
    let kept = ServiceDir::from_listing(dir, listed.listing());
    assert!(kept.fd().is_none());
    assert_eq!(answer, read(&kept), "{} (kept listing)", dir.display());
    assert_eq!(
        answer,
        read(&ServiceDir::unlisted(dir)),
        "{}",
        dir.display()
    );
    answer
}

fn last_errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// Open `path` as a directory and list the known names in it; `None` on
/// any failure.
///
/// Opened as `PATH/.`: the kernel then checks search permission on the
/// directory, as it did for each `PATH/NAME` probe, so a directory cinit
/// may read but not search is left unlisted and answers as before (not
/// found to be holding files it could not have looked at). Links on the
/// way are followed as every probe followed them: `O_NOFOLLOW` would only
/// send a directory swapped for a link to the unlisted way, which follows
/// it all the same.
fn list(path: &Path) -> Option<(OwnedFd, u64)> {
    // openat rather than open: musl's open adds an F_SETFD call for
    // O_CLOEXEC (for kernels older than 2.6.23), its openat does not.
    let raw = with_c_path(path, b".", |cpath| {
        // SAFETY: a NUL-terminated path; the descriptor is owned below.
        unsafe {
            libc::openat(
                libc::AT_FDCWD,
                cpath,
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        }
    })?;
    if raw < 0 {
        return None;
    }
    // SAFETY: `raw` is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut present = 0u64;
    // u64 words keep the records 8-byte aligned, as the kernel writes them;
    // not zeroed first (4 KiB twice per service): only what the kernel
    // wrote is read.
    let mut buf = std::mem::MaybeUninit::<[u64; LIST_BUF / 8]>::uninit();
    for _ in 0..MAX_LIST_CALLS {
        // SAFETY: a valid directory descriptor and a buffer of LIST_BUF
        // writable bytes.
        let n = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                fd.as_raw_fd(),
                buf.as_mut_ptr().cast::<u64>(),
                LIST_BUF,
            )
        };
        let n = usize::try_from(n).ok().filter(|&n| n <= LIST_BUF)?;
        if n == 0 {
            return Some((fd, present));
        }
        // SAFETY: the kernel wrote (initialised) the first `n` ≤ LIST_BUF
        // bytes of `buf`, which is LIST_BUF bytes long; u8 has no
        // alignment or validity needs.
        let bytes = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n) };
        scan(bytes, &mut present)?;
    }
    None
}

/// The instance service directory `dir` is, if it is one
/// ([`crate::config::instance::files_of`]: one `lstat` for a name with an
/// `@`, no system call for any other).
fn instance_of(dir: &Path) -> Option<&[u8]> {
    crate::config::instance::files_of(dir).map(|(_, instance)| instance)
}

/// `f` of the C string `DIR/NAME`: on the stack for a usual path, else
/// allocated. `None` if either holds a NUL.
fn with_c_path<R>(dir: &Path, name: &[u8], f: impl FnOnce(*const libc::c_char) -> R) -> Option<R> {
    let dir = dir.as_os_str().as_bytes();
    if dir.contains(&0) || name.contains(&0) {
        return None;
    }
    let len = dir.len() + 1 + name.len() + 1;
    let mut short = [0u8; SHORT_PATH];
    let mut long = Vec::new();
    let buf: &mut [u8] = match short.get_mut(..len) {
        Some(head) => head,
        None => {
            long.resize(len, 0);
            &mut long
        }
    };
    let (d, rest) = buf.split_at_mut(dir.len());
    d.copy_from_slice(dir);
    let (slash, rest) = rest.split_at_mut(1);
    slash.copy_from_slice(b"/");
    let (n, nul) = rest.split_at_mut(name.len());
    n.copy_from_slice(name);
    nul.copy_from_slice(b"\0");
    Some(f(buf.as_ptr().cast()))
}

#[cfg(test)]
mod tests;
