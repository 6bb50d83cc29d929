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
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use crate::config::dirlist::SHORT_PATH;
use crate::TreeSet;

/// Symlinks followed in one resolution before giving up (as the kernel's
/// `ELOOP` limit for a path walk).
const MAX_LINKS: u32 = 40;

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

    /// Drop what was learnt (end of a load).
    pub fn forget(&mut self) {
        self.known = TreeSet::default();
        self.todo = Vec::new();
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    /// Whatever the layout, the answer (or the error kind) is the one
    /// `std::fs::canonicalize` gives, also when asked twice (from the cache).
    fn agrees(c: &mut Canon, p: &Path) {
        for _ in 0..2 {
            match (fs::canonicalize(p), c.canonicalize(p)) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{}", p.display()),
                (Err(a), Err(b)) => assert_eq!(a.kind(), b.kind(), "{}", p.display()),
                (a, b) => panic!("{}: std {a:?}, canon {b:?}", p.display()),
            }
        }
    }

    #[test]
    fn agrees_with_std_on_links_dotdot_chains_loops_and_missing_names() {
        let d = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(d.path()).unwrap();
        let svc = root.join("svc");
        fs::create_dir_all(svc.join("a/needs")).unwrap();
        fs::create_dir_all(svc.join("group/b")).unwrap();
        fs::create_dir_all(root.join("elsewhere/c")).unwrap();
        symlink("../../group/b", svc.join("a/needs/b")).unwrap();
        symlink(root.join("elsewhere"), svc.join("ext")).unwrap();
        symlink("../ext/c", svc.join("group/c")).unwrap();
        symlink("../../group/c", svc.join("a/needs/c")).unwrap();
        symlink("loop2", svc.join("loop1")).unwrap();
        symlink("loop1", svc.join("loop2")).unwrap();
        symlink("../../nothing", svc.join("a/needs/gone")).unwrap();
        symlink("a/needs", svc.join("needs-of-a")).unwrap();
        fs::write(svc.join("file"), "").unwrap();
        let mut c = Canon::new();
        for p in [
            "svc/a/needs/b",
            "svc/a/needs/c",
            "svc/a/needs/gone",
            "svc/a/needs/../needs/b",
            "svc/needs-of-a/../needs/c",
            "svc/needs-of-a/..",
            "svc/loop1",
            "svc/file",
            "svc/file/x",
            "svc/./group/./b/",
            "svc/ext/..",
        ] {
            agrees(&mut c, &root.join(p));
        }
        assert_eq!(
            c.canonicalize(&svc.join("a/needs/c")).unwrap(),
            root.join("elsewhere/c")
        );
    }

    #[test]
    fn a_forgotten_cache_sees_a_directory_replaced_by_a_link() {
        let d = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(d.path()).unwrap();
        fs::create_dir_all(root.join("x")).unwrap();
        fs::create_dir_all(root.join("y")).unwrap();
        let mut c = Canon::new();
        assert_eq!(c.canonicalize(&root.join("x")).unwrap(), root.join("x"));
        fs::remove_dir(root.join("x")).unwrap();
        symlink("y", root.join("x")).unwrap();
        c.forget();
        assert_eq!(c.canonicalize(&root.join("x")).unwrap(), root.join("y"));
    }

    /// Paths and link targets longer than the stack buffers
    /// ([`SHORT_PATH`]) resolve as `std` resolves them.
    #[test]
    fn long_paths_and_targets_agree_with_std() {
        let t = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(t.path()).unwrap();
        let mut deep = root.clone();
        while deep.as_os_str().len() <= SHORT_PATH {
            deep.push("a-long-directory-name-for-the-test");
        }
        fs::create_dir_all(deep.join("svc")).unwrap();
        symlink(deep.join("svc"), root.join("short")).unwrap();
        let mut c = Canon::new();
        agrees(&mut c, &root.join("short"));
        agrees(&mut c, &deep.join("svc"));
        assert_eq!(
            c.canonicalize(&root.join("short")).unwrap(),
            deep.join("svc")
        );
    }
}
