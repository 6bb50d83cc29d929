//! The service tree in the hot-update snapshot (its TREE section, tag 2):
//! where each service lives and which are roots, so the new image knows
//! its services without reading the disk. The tree writes and reads it
//! itself; the snapshot only places the section.
//!
//! Layout: the canonical `svc/` path, a count and one path per service in
//! index order, then the roots' indices. Counts are bounded by
//! [`crate::proto::wire::MAX_ITEMS`].

use std::path::PathBuf;

use crate::proto::wire::{In, Out};

/// The service tree as loaded: where each service lives, and the roots.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TreeState {
    pub svc_root: PathBuf,
    pub dirs: Vec<PathBuf>,
    pub roots: Vec<usize>,
}

impl TreeState {
    /// Write the TREE section's payload.
    pub(crate) fn save(&self, o: &mut Out) {
        o.path(&self.svc_root);
        o.len(self.dirs.len());
        for d in &self.dirs {
            o.path(d);
        }
        o.indices(&self.roots);
    }

    /// Read the TREE section's payload; `None` if it is damaged.
    pub(crate) fn load(p: &mut In) -> Option<TreeState> {
        let svc_root = p.path()?;
        let n = p.count()?;
        let dirs = (0..n).map(|_| p.path()).collect::<Option<Vec<_>>>()?;
        let roots = p.indices()?;
        Some(TreeState {
            svc_root,
            dirs,
            roots,
        })
    }
}
