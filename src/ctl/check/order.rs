//! `Path` order at the price of a byte comparison.
//!
//! `cinit-ctl check` lists service directories and problems in `Path`
//! order (component by component: `a/b` before `a-b`, since `a` is shorter
//! than `a-b`). `Path`'s comparison parses both paths into components at
//! every call, which made sorting a large tree's paths a large part of the
//! check. [`key`] turns a path into bytes that compare, as plain bytes, in
//! exactly that order; a sort computes each key once.
//!
//! The encoding: each component is one tag byte (the root 1, `.` 2, `..` 3,
//! a name 4 followed by its bytes), components separated by a 0 byte. Names
//! never hold 0 or `/`, so at the first component that differs either the
//! tags differ (ordered as `Component`'s kinds are), or both are names and
//! their bytes decide, a name that is a prefix of the other ending first at
//! a 0 (or at the end) below any byte of a name; a path whose components are
//! a prefix of another's ends first. Equal keys are equal paths.

use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

/// The sort key of `path`: keys compare as the paths do.
pub(super) fn key(path: &Path) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.as_os_str().len() + 8);
    for (k, c) in path.components().enumerate() {
        if k > 0 {
            out.push(0);
        }
        match c {
            Component::Prefix(_) => out.push(0),
            Component::RootDir => out.push(1),
            Component::CurDir => out.push(2),
            Component::ParentDir => out.push(3),
            Component::Normal(name) => {
                out.push(4);
                out.extend_from_slice(name.as_bytes());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::path::PathBuf;

    /// Examples where bytes and components disagree: the key follows the
    /// components.
    #[test]
    fn keys_order_as_components_do() {
        let mut paths: Vec<PathBuf> = [
            "/s/a-b", "/s/a/b", "/s/a", "/s/a.b", "s/a", "./s", "../s", "/",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        let mut by_key = paths.clone();
        paths.sort();
        by_key.sort_by_cached_key(|p| key(p));
        assert_eq!(by_key, paths);
        assert_eq!(key(Path::new("/s//a/./b/")), key(Path::new("/s/a/b")));
    }

    fn path() -> impl Strategy<Value = PathBuf> {
        let part = prop_oneof![
            Just(String::new()),
            Just(".".to_string()),
            Just("..".to_string()),
            "[a-c./-]{1,3}",
        ];
        (any::<bool>(), proptest::collection::vec(part, 0..5)).prop_map(|(abs, parts)| {
            let s = parts.join("/");
            PathBuf::from(if abs { format!("/{s}") } else { s })
        })
    }

    proptest! {
        /// For any two paths, comparing keys gives what comparing the
        /// paths gives.
        #[test]
        fn key_order_is_path_order(a in path(), b in path()) {
            prop_assert_eq!(key(&a).cmp(&key(&b)), a.cmp(&b), "{:?} {:?}", a, b);
        }
    }
}
