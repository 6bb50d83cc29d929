//! The walk as it was written before it worked on bytes: components of
//! `Path`s pushed onto a `PathBuf`. The tests compare the byte walk with
//! it on random trees of directories, files and links.

use std::borrow::Cow;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use crate::config::dirlist::SHORT_PATH;
use crate::TreeSet;

use super::MAX_LINKS;

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
    /// The steps still to walk of the resolution in progress (empty
    /// between resolutions), kept for its capacity.
    todo: Vec<Step>,
}

/// One step of a walk: a component, or `..` (no allocation for it).
#[derive(Debug)]
enum Step {
    Up,
    Name(OsString),
}

/// `readlink(path)` as [`std::fs::read_link`] answers it, with a usual
/// path and target in stack buffers and the target copied out at its
/// length: most paths a load asks about are no symlinks (`EINVAL`), and
/// those need no allocation at all. A longer path or target is read by
/// `std`.
fn read_link(path: &Path) -> io::Result<PathBuf> {
    let bytes = path.as_os_str().as_bytes();
    let mut cpath = [0u8; SHORT_PATH];
    match cpath.get_mut(..bytes.len()) {
        Some(head) if !bytes.contains(&0) && bytes.len() < SHORT_PATH => {
            head.copy_from_slice(bytes)
        }
        _ => return std::fs::read_link(path),
    }
    let mut buf = [0u8; SHORT_PATH];
    // SAFETY: a NUL-terminated path (the buffer's zeros after it) and a
    // buffer of `buf.len()` writable bytes.
    let n = unsafe { libc::readlink(cpath.as_ptr().cast(), buf.as_mut_ptr().cast(), buf.len()) };
    let len = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
    match buf.get(..len).filter(|_| len < buf.len()) {
        Some(target) => Ok(PathBuf::from(OsStr::from_bytes(target))),
        // Perhaps cut: read it whole.
        None => std::fs::read_link(path),
    }
}

impl Canon {
    pub fn new() -> Canon {
        Canon::default()
    }

    /// The canonical form of `path`, as `std::fs::canonicalize` gives it.
    /// A relative path is taken from the current directory.
    pub fn canonicalize(&mut self, path: &Path) -> io::Result<PathBuf> {
        let start = if path.is_absolute() {
            Cow::Borrowed(path)
        } else {
            Cow::Owned(std::env::current_dir()?.join(path))
        };
        let names = start.components().try_fold(0usize, |n, c| match c {
            Component::ParentDir => None,
            Component::Normal(_) => Some(n + 1),
            _ => Some(n),
        });
        // Where the walk starts, and how many components of `start` the
        // cache already resolved.
        let (cur, skip) = match names.and_then(|names| self.longest_known(&start, names)) {
            // Room for the rest of `start` too: the walk from there
            // usually only appends.
            Some((known, n)) => {
                let mut cur = PathBuf::with_capacity(
                    start.as_os_str().len().max(known.as_os_str().len()) + 1,
                );
                cur.push(known);
                (cur, n)
            }
            None => (PathBuf::from("/"), 0),
        };
        // Kept between resolutions for its capacity.
        let mut todo = std::mem::take(&mut self.todo);
        todo.clear();
        push_components(&mut todo, &start, skip);
        let result = self.walk(cur, &mut todo);
        self.todo = todo;
        result
    }

    /// Walk the components of `todo` (the next one last) from `cur`.
    fn walk(&mut self, mut cur: PathBuf, todo: &mut Vec<Step>) -> io::Result<PathBuf> {
        let mut links = 0u32;
        while let Some(step) = todo.pop() {
            let name = match step {
                Step::Up => {
                    cur.pop();
                    continue;
                }
                Step::Name(name) => name,
            };
            // `cur` becomes the next path in place; a symlink takes it
            // back to its parent (a canonical path: `pop` undoes the push).
            cur.push(&name);
            if self.known.contains(cur.as_os_str()) {
                continue;
            }
            match read_link(&cur) {
                Ok(target) => {
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(io::Error::from_raw_os_error(libc::ELOOP));
                    }
                    if target.is_absolute() {
                        cur.clear();
                        cur.push("/");
                    } else {
                        cur.pop();
                    }
                    push_components(todo, &target, 0);
                }
                // EINVAL: it exists and is not a symlink.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                    self.known.insert(cur.as_os_str().to_os_string());
                }
                Err(e) => return Err(e),
            }
        }
        Ok(cur)
    }
}

impl Canon {
    /// The longest ancestor of `path` (itself included) in the cache, as
    /// cached (canonical text), with how many components of `path` it
    /// stands for. `path` is absolute, has no `..` and has `names`
    /// components: each step to a parent drops one.
    fn longest_known(&self, path: &Path, names: usize) -> Option<(&Path, usize)> {
        if self.known.is_empty() {
            return None;
        }
        path.ancestors()
            .zip((0..=names).rev())
            .find_map(|(a, n)| Some((Path::new(self.known.get(a.as_os_str())?), n)))
    }
}

/// Push the components of `path` onto `todo` so that the first pops first;
/// `.` and the root are dropped, `..` is kept, and so are the first `skip`
/// names (already walked).
fn push_components(todo: &mut Vec<Step>, path: &Path, skip: usize) {
    let mark = todo.len();
    let mut left = skip;
    for c in path.components() {
        match c {
            Component::Normal(_) if left > 0 => left -= 1,
            Component::Normal(n) => todo.push(Step::Name(n.to_os_string())),
            Component::ParentDir => todo.push(Step::Up),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    if let Some(tail) = todo.get_mut(mark..) {
        tail.reverse();
    }
}
