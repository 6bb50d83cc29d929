//! The service tree's part of the hot-update snapshot, its TREE section:
//! where each service lives and which are roots, so the new image knows its
//! services without reading the disk. The tree writes it from itself and
//! reads itself back; the snapshot only frames the section.
//!
//! Layout: the canonical `svc/` path, a count and one path per service in
//! index order, then the roots' indices. Counts are bounded by
//! [`crate::proto::wire::MAX_ITEMS`].

use super::Tree;
use crate::proto::wire::{Lost, Sections};

/// The tree's snapshot section tag (doc/DESIGN.md, "Hot update snapshot",
/// keeps the table of every owner's tags).
pub const TAG_TREE: u8 = 2;

impl Tree {
    /// Write the TREE section.
    pub fn save(&self, out: &mut Sections) {
        out.put(TAG_TREE, |o| {
            o.path(&self.svc_root);
            o.len(self.dirs.len());
            for d in &self.dirs {
                o.path(d);
            }
            o.indices(&self.roots);
        });
    }

    /// The tree of the previous image from its TREE section (no disk
    /// access), every service already handed over (the engine restores its
    /// own table). `None` if the section is missing or damaged (which
    /// `lost` then says).
    pub fn load(from: &Sections, lost: &mut Lost) -> Option<Tree> {
        let (svc_root, dirs, roots) = from.read_last(TAG_TREE, lost, |p| {
            let svc_root = p.path()?;
            let n = p.count()?;
            let dirs = (0..n).map(|_| p.path()).collect::<Option<Vec<_>>>()?;
            Some((svc_root, dirs, p.indices()?))
        })?;
        Some(Tree {
            handed: dirs.len(),
            index: super::DirIndex::of(&dirs),
            dirs,
            roots,
            svc_root,
            ..Tree::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves the tree reads back from its section as it was saved: the
    /// `svc/` directory, every service's directory (found by its path
    /// again) and the roots, with every service counted as handed over.
    #[test]
    fn a_tree_reads_back_from_its_section() {
        let mut t = Tree::new(std::path::Path::new("/nonexistent/svc"));
        t.dirs = vec!["/svc/a".into(), "/svc/b c".into()];
        t.roots = vec![1];
        let mut s = Sections::default();
        t.save(&mut s);
        let mut lost = Lost::new();
        let mut back = Tree::load(&s, &mut lost).unwrap();
        assert!(lost.is_empty(), "{lost:?}");
        assert_eq!((back.svc_root(), &back.dirs), (t.svc_root(), &t.dirs));
        assert_eq!(back.roots, t.roots);
        assert_eq!((back.len(), back.take_nodes()), (2, vec![]));
        for (i, d) in t.dirs.iter().enumerate() {
            assert_eq!(back.index_of_dir(d), Some(i));
        }
        assert!(Tree::load(&Sections::default(), &mut lost).is_none());
        assert!(lost.is_empty(), "a missing section is not damage");
    }
}
