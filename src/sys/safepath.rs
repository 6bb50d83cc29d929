//! Reaching a directory as root without being steered by anyone else: the
//! log file writer ([`crate::logs::writer`]) and the Unix sockets of a
//! `sockets` file ([`crate::fds::listen`]) open the directory that holds their
//! file with [`open_dir`], and only ever act on names relative to the
//! descriptor it returns.
//!
//! The walk starts at `/` and opens one component at a time with
//! `openat(O_PATH | O_NOFOLLOW)`, then `fstat`s the descriptor it got, so
//! every judgement is about the very directory that is used next, not
//! about whatever the path names a moment later. (`openat2` with
//! `RESOLVE_NO_SYMLINKS` would refuse links in one call, but the owner and
//! mode of each directory are needed anyway, and missing ones are made
//! with `mkdirat`; the walk does both on every kernel.)
//!
//! The rule, for a file at `/D1/D2/…/Dn/NAME` (see [`judge_dir`]):
//! - the path is absolute and has no `..`; no component is a symbolic link;
//! - Dn, the directory holding the file, is owned by root and writable by
//!   no one else: neither by its group nor by others, sticky or not;
//! - every directory above it (`/` included) is owned by root and not
//!   writable by others unless it is sticky (`/tmp`): in a sticky
//!   directory no one but root and an entry's owner may rename or remove
//!   that entry, so the root-owned directory opened next stays where it
//!   is. A group-writable directory above is accepted: its group was made
//!   trusted by root (Ubuntu's `/var/log` is `root:syslog 0775`).
//!
//! Why that is enough: only root can then create, rename or remove
//! anything in Dn, and no one else can put another directory in the place
//! of any Di. A directory a user made first (a race for a missing one) is
//! theirs and refused. Files are then opened relative to Dn's descriptor
//! with `O_NOFOLLOW`, and a log file must be a regular file with one link
//! ([`judge_file`]), so no one can point root at another file.
//!
//! "Root" is the set of trusted owners the caller passes: uid 0, and for
//! cinit itself also the user it runs as ([`trusted_owners`]), which is
//! root when it is PID 1; `cinit-ctl check` judges for uid 0 alone.
//!
//! Pure decisions ([`components`], [`judge_dir`], [`judge_file`], the
//! exit codes of [`Why`]) are separate from the syscalls and unit-tested.

use std::ffi::{CString, OsStr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;

/// Mode of a directory the walk creates (less the umask, 022 in cinit).
pub const DIR_MODE: libc::mode_t = 0o755;
/// A log writer's exit status is `REFUSED_BASE + code` when it refused its
/// file ([`Why::code`]); PID 1 turns it back into a reason.
pub const REFUSED_BASE: i32 = 80;

/// Why a path is refused (or, for [`Why::Io`], could not be walked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// Not an absolute path.
    Relative,
    /// A `..` component.
    DotDot,
    /// No file name at the end.
    NoName,
    Symlink,
    /// A directory was expected; this is the kind found.
    NotDir(&'static str),
    /// Owned by this uid, not root.
    Owner(u32),
    /// The file's own directory is writable by group or others (its mode).
    OwnWritable(u32),
    /// A directory above is writable by others and not sticky (its mode).
    Writable(u32),
    /// A regular file was expected; this is the kind found.
    NotRegular(&'static str),
    /// A regular file with this many links.
    Links(u64),
    /// A call failed with this errno (not a refusal).
    Io(i32),
}

impl Why {
    /// Whether the path is refused (rather than failing to be walked).
    pub fn is_refusal(&self) -> bool {
        !matches!(self, Why::Io(_))
    }

    /// A small number for a refusal, so a writer process can tell PID 1
    /// why through its exit status (`REFUSED_BASE + code`).
    pub fn code(&self) -> Option<i32> {
        Some(match self {
            Why::Relative | Why::DotDot | Why::NoName => 0,
            Why::Symlink => 1,
            Why::NotDir(_) => 2,
            Why::Owner(_) => 3,
            Why::OwnWritable(_) => 4,
            Why::Writable(_) => 5,
            Why::NotRegular(_) => 6,
            Why::Links(_) => 7,
            Why::Io(_) => return None,
        })
    }

    /// The reason behind an exit status a writer gave, in words that do
    /// not need the details only the writer knew; `None` if `status` is not
    /// a refusal.
    pub fn summary_of_exit(status: i32) -> Option<&'static str> {
        Some(match status.checked_sub(REFUSED_BASE)? {
            0 => "not an absolute path without ..",
            1 => "a symbolic link on its path",
            2 => "something on its path is not a directory",
            3 => "a directory on its path is not owned by root",
            4 => "its directory is writable by group or others",
            5 => "a directory above it is writable by others and not sticky",
            6 => "not a regular file",
            7 => "a hard link to another file (more than one link)",
            _ => return None,
        })
    }
}

impl std::fmt::Display for Why {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Why::Relative => f.write_str("not an absolute path"),
            Why::DotDot => f.write_str("a .. component is not allowed"),
            Why::NoName => f.write_str("no file name"),
            Why::Symlink => f.write_str("a symbolic link (never followed here)"),
            Why::NotDir(kind) => write!(f, "{kind}, not a directory"),
            Why::Owner(uid) => write!(f, "owned by uid {uid}, not root"),
            Why::OwnWritable(mode) => write!(
                f,
                "mode {:04o}: writable by group or others (root alone may write here)",
                mode & 0o7777
            ),
            Why::Writable(mode) => write!(
                f,
                "mode {:04o}: writable by others and not sticky",
                mode & 0o7777
            ),
            Why::NotRegular(kind) => write!(f, "{kind}, not a regular file"),
            Why::Links(n) => write!(f, "a regular file with {n} links (a hard link)"),
            Why::Io(e) => f.write_str(Errno::from_raw(*e).desc()),
        }
    }
}

/// A path that was refused or could not be walked: where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathError {
    /// The component judged (a directory, or the file itself).
    pub at: PathBuf,
    pub why: Why,
}

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.at.display(), self.why)
    }
}

/// The owners cinit trusts: root, and the user cinit runs as (root as PID
/// 1; the user running the unit tests otherwise).
pub fn trusted_owners() -> [u32; 2] {
    [0, nix::unistd::geteuid().as_raw()]
}

/// What a file type is called in messages.
pub fn kind(mode: u32) -> &'static str {
    match mode & libc::S_IFMT {
        libc::S_IFDIR => "a directory",
        libc::S_IFLNK => "a symbolic link",
        libc::S_IFREG => "a regular file",
        libc::S_IFIFO => "a FIFO",
        libc::S_IFSOCK => "a socket",
        libc::S_IFBLK | libc::S_IFCHR => "a device",
        _ => "of an unknown kind",
    }
}

/// The directories from `/` down to the one holding the file (without
/// `/`), and the file's name. Pure.
pub fn components(path: &Path) -> Result<(Vec<&OsStr>, &OsStr), Why> {
    if !path.is_absolute() {
        return Err(Why::Relative);
    }
    let mut names = Vec::new();
    for c in path.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(n) => names.push(n),
            Component::ParentDir => return Err(Why::DotDot),
            Component::Prefix(_) => return Err(Why::Relative),
        }
    }
    // `/a/b/` names a directory, not a file in it.
    if path.as_os_str().as_bytes().ends_with(b"/") {
        return Err(Why::NoName);
    }
    let name = names.pop().ok_or(Why::NoName)?;
    Ok((names, name))
}

/// Judge one directory on the way from its `fstat`: `own` for the one that
/// holds the file, else one above it (see the module doc). Pure.
pub fn judge_dir(mode: u32, uid: u32, own: bool, owners: &[u32]) -> Result<(), Why> {
    if mode & libc::S_IFMT == libc::S_IFLNK {
        return Err(Why::Symlink);
    }
    if mode & libc::S_IFMT != libc::S_IFDIR {
        return Err(Why::NotDir(kind(mode)));
    }
    if !owners.contains(&uid) {
        return Err(Why::Owner(uid));
    }
    let group_or_others = mode & (libc::S_IWGRP | libc::S_IWOTH) != 0;
    let others = mode & libc::S_IWOTH != 0;
    let sticky = mode & libc::S_ISVTX != 0;
    if own && group_or_others {
        return Err(Why::OwnWritable(mode));
    }
    if !own && others && !sticky {
        return Err(Why::Writable(mode));
    }
    Ok(())
}

/// Judge a file opened (without following a link) as a log file: a
/// regular file with exactly one link. Pure.
pub fn judge_file(mode: u32, nlink: u64) -> Result<(), Why> {
    if mode & libc::S_IFMT != libc::S_IFREG {
        return Err(Why::NotRegular(kind(mode)));
    }
    if nlink != 1 {
        return Err(Why::Links(nlink));
    }
    Ok(())
}

/// What to do with a missing directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// Make it ([`DIR_MODE`], owned by the caller) and go on.
    Create,
    /// Stop and return `Ok(None)`: the rest would be created by root (for
    /// `cinit-ctl check`, which changes nothing).
    Stop,
}

fn cstr(name: &OsStr) -> Result<CString, Why> {
    CString::new(name.as_bytes()).map_err(|_| Why::Io(libc::EINVAL))
}

/// `openat(dir, name, flags)`, the descriptor owned.
pub fn openat(
    dir: Option<&OwnedFd>,
    name: &OsStr,
    flags: libc::c_int,
    mode: libc::mode_t,
) -> Result<OwnedFd, Errno> {
    let c = cstr(name).map_err(|_| Errno::EINVAL)?;
    let dirfd = dir.map_or(libc::AT_FDCWD, AsRawFd::as_raw_fd);
    // SAFETY: `c` is NUL-terminated and outlives the call; a descriptor
    // returned is owned by the OwnedFd at once.
    let raw = unsafe { libc::openat(dirfd, c.as_ptr(), flags | libc::O_CLOEXEC, mode) };
    if raw < 0 {
        return Err(Errno::last());
    }
    // SAFETY: `raw` was just opened and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`: `Ok(None)` if nothing is there.
pub fn stat_at(dir: &OwnedFd, name: &OsStr) -> Result<Option<libc::stat>, Errno> {
    let c = cstr(name).map_err(|_| Errno::EINVAL)?;
    // SAFETY: zeroed is a valid `stat`; fstatat writes into it and reads
    // the NUL-terminated name.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above; `dir` is a live descriptor.
    let rc = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            c.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    match rc {
        0 => Ok(Some(st)),
        _ if Errno::last() == Errno::ENOENT => Ok(None),
        _ => Err(Errno::last()),
    }
}

/// `unlinkat(dir, name, 0)`: never follows a link, never leaves `dir`.
pub fn unlink_at(dir: &OwnedFd, name: &OsStr) -> Result<(), Errno> {
    let c = cstr(name).map_err(|_| Errno::EINVAL)?;
    // SAFETY: a live descriptor and a NUL-terminated name.
    let rc = unsafe { libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), 0) };
    Errno::result(rc).map(drop)
}

/// `renameat(dir, from, dir, to)` inside one directory.
pub fn rename_at(dir: &OwnedFd, from: &OsStr, to: &OsStr) -> Result<(), Errno> {
    let (f, t) = (
        cstr(from).map_err(|_| Errno::EINVAL)?,
        cstr(to).map_err(|_| Errno::EINVAL)?,
    );
    // SAFETY: a live descriptor and two NUL-terminated names.
    let rc = unsafe { libc::renameat(dir.as_raw_fd(), f.as_ptr(), dir.as_raw_fd(), t.as_ptr()) };
    Errno::result(rc).map(drop)
}

/// `fstat` of a descriptor.
pub fn fstat<F: AsRawFd>(fd: &F) -> Result<libc::stat, Errno> {
    // SAFETY: zeroed is a valid `stat`, filled in by fstat.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: a live descriptor and a valid pointer.
    let rc = unsafe { libc::fstat(fd.as_raw_fd(), &mut st) };
    Errno::result(rc).map(|_| st)
}

/// Open the directory `dir` (absolute) by walking it from `/` without
/// following a link, judging each directory (the last one as the file's
/// own, see the module doc), and making missing ones as `missing` says.
/// Returns an `O_PATH` descriptor of the last directory (`None`: one was
/// missing and `missing` is [`Missing::Stop`]).
pub fn open_dir(
    dir: &Path,
    missing: Missing,
    owners: &[u32],
) -> Result<Option<OwnedFd>, PathError> {
    let err = |at: &Path, why: Why| PathError {
        at: at.to_path_buf(),
        why,
    };
    let probe = dir.join("x");
    let names: Vec<&OsStr> = match components(&probe) {
        Ok((names, _)) => names,
        Err(why) => return Err(err(dir, why)),
    };
    let flags = libc::O_PATH | libc::O_NOFOLLOW;
    let mut at = PathBuf::from("/");
    let mut fd = openat(None, OsStr::new("/"), flags | libc::O_DIRECTORY, 0)
        .map_err(|e| err(&at, Why::Io(e as i32)))?;
    let judge = |fd: &OwnedFd, at: &Path, own: bool| {
        let st = fstat(fd).map_err(|e| err(at, Why::Io(e as i32)))?;
        judge_dir(st.st_mode, st.st_uid, own, owners).map_err(|why| err(at, why))
    };
    judge(&fd, &at, names.is_empty())?;
    for (k, name) in names.iter().enumerate() {
        at.push(name);
        let next = match openat(Some(&fd), name, flags, 0) {
            Err(Errno::ENOENT) if missing == Missing::Stop => return Ok(None),
            Err(Errno::ENOENT) => {
                let c = cstr(name).map_err(|why| err(&at, why))?;
                // SAFETY: a live descriptor and a NUL-terminated name.
                let rc = unsafe { libc::mkdirat(fd.as_raw_fd(), c.as_ptr(), DIR_MODE) };
                // EEXIST: made meanwhile; whatever it is, it is judged next.
                if rc != 0 && Errno::last() != Errno::EEXIST {
                    return Err(err(&at, Why::Io(Errno::last() as i32)));
                }
                openat(Some(&fd), name, flags, 0)
            }
            other => other,
        }
        .map_err(|e| err(&at, Why::Io(e as i32)))?;
        judge(&next, &at, k + 1 == names.len())?;
        fd = next;
    }
    Ok(Some(fd))
}

/// Judge `target` as [`open_dir`] and a log writer would, changing
/// nothing (for `cinit-ctl check`): what does not exist yet would be made
/// by root, which is fine; for a log file (`log_file`), an existing file
/// must be a regular file with one link.
pub fn inspect(target: &Path, log_file: bool, owners: &[u32]) -> Result<(), PathError> {
    let at = |why| PathError {
        at: target.to_path_buf(),
        why,
    };
    let (_, name) = components(target).map_err(at)?;
    let parent = target.parent().unwrap_or(Path::new("/"));
    let Some(dir) = open_dir(parent, Missing::Stop, owners)? else {
        return Ok(());
    };
    if !log_file {
        return Ok(());
    }
    match stat_at(&dir, name) {
        Ok(Some(st)) => judge_file(st.st_mode, st.st_nlink).map_err(at),
        Ok(None) => Ok(()),
        Err(e) => Err(at(Why::Io(e as i32))),
    }
}

#[cfg(test)]
mod tests;
