//! Canonical paths for one load of the service tree, without asking the
//! kernel about the same directory twice.
//!
//! A service is identified by the canonical path of its directory, and every
//! `needs/` and `wants/` entry must be resolved to one. `realpath(3)` (musl's
//! and glibc's alike) calls `readlink` on every component of every path: for
//! 1000 services about 45 000 system calls, most of them on the same parent
//! directories. [`Canon`] resolves component by component the same way, but
//! remembers each directory it has seen not to be a symlink, so a dependency
//! link costs one `readlink` of the link and of each new name it leads to.
//!
//! A path without `..` starts its walk at its longest ancestor in the
//! cache: the walk would find each of that ancestor's components there in
//! turn (every ancestor of a cached path is cached: each was the `cur` it
//! was joined to), so it would arrive at the same place, one hash lookup
//! and one join per component later. A service directory or a dependency
//! link then costs about two lookups instead of one per component.
//!
//! Invariants: every path in the cache is absolute, free of `.`/`..` and of
//! symlinks (it is canonical), as observed during this load, and so is
//! each of its ancestors but `/`; `..` is taken
//! lexically only from such a path, where it means the same as in the
//! kernel. The cache lives for one load (see [`Canon::forget`]): a directory
//! replaced by a symlink later is seen at the next load.

use std::borrow::Cow;
use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use crate::config::dirlist::SHORT_PATH;
use crate::TreeSet;

/// Symlinks followed in one resolution before giving up (as the kernel's
/// `ELOOP` limit for a path walk).
const MAX_LINKS: u32 = 40;

/// The walk works on the path's bytes, split at `/` as the kernel splits
/// it (empty and `.` names dropped, `..` kept), not on
/// [`Path::components`]: parsing `Component`s and pushing onto a
/// `PathBuf` was most of a load's path code, and the components this
/// split gives are the same (`RootDir` and `CurDir` are the dropped
/// names). Its buffers are kept between resolutions for their capacity.
#[derive(Debug, Default)]
pub struct Canon {
    /// Directories (and files) known to exist and not to be symlinks.
    /// Kept as text, hashed and compared as bytes: a `Path` is hashed
    /// component by component, which was most of a load's hashing. Every
    /// path put here is canonical text, so a lookup by a path written
    /// another way (`a//b`) only misses, and the walk finds the answer.
    /// Only paths under root's tree are put here, so a fast unkeyed hash
    /// ([`crate::TreeHasher`]) needs no defence against chosen collisions.
    known: TreeSet<OsString>,
    /// What is still to walk of the resolution in progress, reversed byte
    /// by byte: the next name is at the end, so a link's target is put
    /// before the rest by appending it (reversed), without moving the
    /// rest. Empty between resolutions.
    todo: Vec<u8>,
    /// The canonical path walked so far (absolute, no `.`, `..` or
    /// symlink, no trailing `/` but for the root).
    cur: Vec<u8>,
}

/// `readlink(path)`, the target appended to `out`, as
/// [`std::fs::read_link`] answers it; a usual path and target use stack
/// buffers: most paths a load asks about are no symlinks (`EINVAL`), and
/// those need no allocation at all. A longer path or target is read by
/// `std`.
fn read_link(path: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
    let mut cpath = [0u8; SHORT_PATH];
    match cpath.get_mut(..path.len()) {
        Some(head) if !path.contains(&0) && path.len() < SHORT_PATH => head.copy_from_slice(path),
        _ => return read_link_std(path, out),
    }
    let mut buf = [0u8; SHORT_PATH];
    // SAFETY: a NUL-terminated path (the buffer's zeros after it) and a
    // buffer of `buf.len()` writable bytes.
    let n = unsafe { libc::readlink(cpath.as_ptr().cast(), buf.as_mut_ptr().cast(), buf.len()) };
    let len = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
    match buf.get(..len).filter(|_| len < buf.len()) {
        Some(target) => {
            out.extend_from_slice(target);
            Ok(())
        }
        // Perhaps cut: read it whole.
        None => read_link_std(path, out),
    }
}

fn read_link_std(path: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
    let target = std::fs::read_link(std::ffi::OsStr::from_bytes(path))?;
    out.extend_from_slice(target.as_os_str().as_bytes());
    Ok(())
}

/// Whether `path` (absolute) has a `..` name.
fn has_dotdot(path: &[u8]) -> bool {
    path.split(|&b| b == b'/').any(|c| c == b"..")
}

/// Take the next name off `todo` (reversed text, next name at its end):
/// the range of its (reversed) bytes, which the caller drops with
/// `truncate(start)` once used. Empty names (`//`) are skipped; `None`
/// when nothing is left.
fn next_name(todo: &mut Vec<u8>) -> Option<usize> {
    while todo.last() == Some(&b'/') {
        todo.pop();
    }
    if todo.is_empty() {
        return None;
    }
    Some(todo.iter().rposition(|&b| b == b'/').map_or(0, |k| k + 1))
}

/// `cur` to its parent: a canonical path, so this is what `..` means
/// (the root's parent is the root).
fn pop(cur: &mut Vec<u8>) {
    let cut = cur.iter().rposition(|&b| b == b'/').unwrap_or(0);
    cur.truncate(cut.max(1));
}

impl Canon {
    pub fn new() -> Canon {
        Canon::default()
    }

    /// Drop what was learnt (end of a load).
    pub fn forget(&mut self) {
        *self = Canon::default();
    }

    /// The canonical form of `path`, as `std::fs::canonicalize` gives it.
    /// A relative path is taken from the current directory.
    pub fn canonicalize(&mut self, path: &Path) -> io::Result<PathBuf> {
        let start = if path.is_absolute() {
            Cow::Borrowed(path)
        } else {
            Cow::Owned(std::env::current_dir()?.join(path))
        };
        let start = start.as_os_str().as_bytes();
        let mut cur = std::mem::take(&mut self.cur);
        let mut todo = std::mem::take(&mut self.todo);
        cur.clear();
        todo.clear();
        // Where the walk starts: the longest ancestor the cache resolved
        // (a path without `..`), else the root.
        let rest = match self.longest_known(start) {
            Some(end) => {
                cur.extend_from_slice(start.get(..end).unwrap_or_default());
                start.get(end..).unwrap_or_default()
            }
            None => {
                cur.push(b'/');
                start
            }
        };
        todo.extend(rest.iter().rev());
        let result = self.walk(&mut cur, &mut todo);
        let result = result.map(|()| PathBuf::from(OsString::from_vec(cur.clone())));
        todo.clear();
        self.cur = cur;
        self.todo = todo;
        result
    }

    /// Walk the names of `todo` from `cur`.
    fn walk(&mut self, cur: &mut Vec<u8>, todo: &mut Vec<u8>) -> io::Result<()> {
        let mut links = 0u32;
        while let Some(at) = next_name(todo) {
            let name = todo.get(at..).unwrap_or_default();
            match name {
                b"." => {}
                b".." => pop(cur),
                _ => {
                    // `cur` becomes the next path in place; a symlink takes
                    // it back to its parent (canonical: `pop` undoes this).
                    if cur.last() != Some(&b'/') {
                        cur.push(b'/');
                    }
                    cur.extend(name.iter().rev());
                }
            }
            let walked = !matches!(name, b"." | b"..");
            todo.truncate(at);
            if !walked || self.known.contains(std::ffi::OsStr::from_bytes(cur)) {
                continue;
            }
            // The target is read to the end of `todo` and turned round in
            // place there: it comes before the rest.
            let mark = todo.len();
            todo.push(b'/');
            match read_link(cur, todo) {
                Ok(()) => {
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(io::Error::from_raw_os_error(libc::ELOOP));
                    }
                    if let Some(target) = todo.get_mut(mark + 1..) {
                        if target.first() == Some(&b'/') {
                            cur.truncate(1);
                        } else {
                            pop(cur);
                        }
                        target.reverse();
                    }
                }
                // EINVAL: it exists and is not a symlink.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                    todo.truncate(mark);
                    self.known.insert(OsString::from_vec(cur.clone()));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Where in `path` (absolute) the walk may start: the end of its
    /// longest ancestor (itself included) in the cache, whose text there
    /// is the same as in `path` (so `path`'s bytes up to it are canonical
    /// and [`Canon::walk`] would have come to the same place). `None`
    /// for a path with `..` (taken lexically only from a resolved path)
    /// or nothing cached.
    fn longest_known(&self, path: &[u8]) -> Option<usize> {
        if self.known.is_empty() || has_dotdot(path) {
            return None;
        }
        let mut end = path.len();
        loop {
            let head = path.get(..end)?;
            let trimmed = head.len() - head.iter().rev().take_while(|&&b| b == b'/').count();
            let head = head.get(..trimmed)?;
            if head.is_empty() {
                return None;
            }
            if self.known.contains(std::ffi::OsStr::from_bytes(head)) {
                return Some(trimmed);
            }
            end = head.iter().rposition(|&b| b == b'/')?;
        }
    }
}

#[cfg(test)]
mod reference;
#[cfg(test)]
mod tests;
