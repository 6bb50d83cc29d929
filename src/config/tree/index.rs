//! Finding a service by its canonical directory without a second copy of
//! every path.
//!
//! The tree keeps each service's directory once, in `Tree::dirs`. A map
//! keyed by the paths themselves would hold a second copy of each (about
//! 50 bytes and an allocation per service, for the life of PID 1); this
//! index maps the hash of a directory to its service and checks the
//! candidate against `dirs`, so it holds two numbers per service.
//!
//! Invariants: every service `i` of `dirs` is found: either the map holds
//! `hash(dirs[i]) -> i`, or another service with the same hash is there and
//! `i` is in `spill` (a collision of 64-bit hashes: in practice never, and
//! then a short list to scan). Paths are compared as `Path`s, so a lookup
//! means what `HashMap<PathBuf, _>::get` meant: a path spelled another
//! way (`/svc//a/.`, as a user may write it to the control commands) finds
//! its service. They are hashed by their text with empty and `.` names
//! taken out ([`hash`]), which two equal `Path`s share; that text is the
//! path itself for every canonical directory, hashed as one run of bytes
//! rather than component by component.

use std::hash::BuildHasher;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::{TreeHash, TreeMap};

#[derive(Debug, Default)]
pub(super) struct DirIndex {
    /// A service's index fits 32 bits (at most `MAX_SERVICES`): 12 bytes
    /// a slot, not 16. Its keys are hashes of the tree's own directories
    /// (root's files), so [`crate::TreeHasher`] serves: nobody else can
    /// choose keys to collide.
    by_hash: TreeMap<u64, u32>,
    /// Services whose directory's hash another service has.
    spill: Vec<usize>,
}

/// The hash of `dir`'s text without empty and `.` names (and without a
/// trailing `/`). Equal `Path`s have equal components, so the same such
/// text and hash (paths that differ only in a leading `./` share it too,
/// which the comparison after the lookup tells apart).
fn hash(dir: &Path) -> u64 {
    let bytes = dir.as_os_str().as_bytes();
    let rest = bytes.strip_prefix(b"/").unwrap_or(bytes);
    let plain = rest.is_empty()
        || rest
            .split(|&b| b == b'/')
            .all(|name| !name.is_empty() && name != b".");
    if plain {
        return TreeHash::default().hash_one(bytes);
    }
    // Spelled another way (a user's path, never a canonical one).
    let mut text = Vec::with_capacity(bytes.len());
    if bytes.first() == Some(&b'/') {
        text.push(b'/');
    }
    for name in rest
        .split(|&b| b == b'/')
        .filter(|name| !name.is_empty() && *name != b".")
    {
        if !matches!(text.last(), None | Some(b'/')) {
            text.push(b'/');
        }
        text.extend_from_slice(name);
    }
    TreeHash::default().hash_one(text.as_slice())
}

impl DirIndex {
    /// An index of `dirs`, service `i` at `dirs[i]`.
    pub(super) fn of(dirs: &[PathBuf]) -> DirIndex {
        let mut index = DirIndex::default();
        index.by_hash.reserve(dirs.len());
        for (i, d) in dirs.iter().enumerate() {
            index.insert(d, i);
        }
        index
    }

    /// The service whose directory (in `dirs`) is `dir`.
    pub(super) fn get(&self, dirs: &[PathBuf], dir: &Path) -> Option<usize> {
        self.get_hashed(dirs, dir, hash(dir))
    }

    /// The directory's hash, for [`DirIndex::get_hashed`] and
    /// [`DirIndex::insert_hashed`]: a lookup followed by an insert hashes
    /// the path once.
    pub(super) fn hash(dir: &Path) -> u64 {
        hash(dir)
    }

    /// [`DirIndex::get`] of `dir`, whose [`DirIndex::hash`] is `h`.
    pub(super) fn get_hashed(&self, dirs: &[PathBuf], dir: &Path, h: u64) -> Option<usize> {
        let is = |i: &usize| dirs.get(*i).is_some_and(|d| d == dir);
        match self.by_hash.get(&h).map(|&i| i as usize) {
            Some(i) if is(&i) => Some(i),
            // Not there, or another directory with the same hash.
            Some(_) => self.spill.iter().copied().find(is),
            None => None,
        }
    }

    /// Add service `i` at `dir`, which is not in the index yet.
    pub(super) fn insert(&mut self, dir: &Path, i: usize) {
        self.insert_hashed(hash(dir), i);
    }

    /// [`DirIndex::insert`] of a directory whose [`DirIndex::hash`] is `h`.
    pub(super) fn insert_hashed(&mut self, h: u64, i: usize) {
        match (self.by_hash.entry(h), u32::try_from(i)) {
            (std::collections::hash_map::Entry::Vacant(e), Ok(k)) => {
                e.insert(k);
            }
            _ => self.spill.push(i),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every directory is found at its index and a path that is not there
    /// is not; a directory whose hash another one already has (forced here
    /// by giving its slot to another service) goes to the spill list and is
    /// still found, and so is the other.
    #[test]
    fn finds_every_directory_also_on_a_hash_collision() {
        let mut dirs: Vec<PathBuf> = ["/svc/a", "/svc/b", "/svc/getty/1"]
            .iter()
            .map(PathBuf::from)
            .collect();
        let mut index = DirIndex::of(&dirs);
        for (i, d) in dirs.iter().enumerate() {
            assert_eq!(index.get(&dirs, d), Some(i));
        }
        assert_eq!(index.get(&dirs, Path::new("/svc/c")), None);
        assert_eq!(index.get(&dirs, Path::new("/svc/getty")), None);
        let d = Path::new("/svc/d");
        index.by_hash.insert(hash(d), 0);
        assert_eq!(index.get(&dirs, d), None, "a's slot is not d");
        index.insert(d, 3);
        dirs.push(d.into());
        assert_eq!(index.spill, [3]);
        assert_eq!(index.get(&dirs, d), Some(3));
        assert_eq!(index.get(&dirs, Path::new("/svc/a")), Some(0));
    }

    /// A directory is found however its path is spelled, as a `Path` key
    /// finds it (empty and `.` names, a trailing `/`), and a different
    /// path is not found.
    #[test]
    fn finds_a_directory_spelled_another_way() {
        let dirs: Vec<PathBuf> = ["/svc/a", "/svc/getty/1", "/"]
            .iter()
            .map(PathBuf::from)
            .collect();
        let index = DirIndex::of(&dirs);
        for (spelled, i) in [
            ("/svc//a", 0),
            ("/svc/./a/", 0),
            ("//svc/a/.", 0),
            ("/svc/getty//1/./", 1),
            ("//", 2),
            ("/.", 2),
        ] {
            assert_eq!(index.get(&dirs, Path::new(spelled)), Some(i), "{spelled}");
        }
        for other in ["/svc/a/..", "svc/a", "/svc/getty", "/svc/a/b"] {
            assert_eq!(index.get(&dirs, Path::new(other)), None, "{other}");
        }
    }
}
