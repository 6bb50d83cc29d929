use super::*;
use std::fs;

/// A tree with `init` needing `a` and `getty/1` loaded; `private` (a
/// service-like directory) exists but is not loaded.
fn tree() -> (tempfile::TempDir, Tree) {
    let t = tempfile::tempdir().unwrap();
    let svc = fs::canonicalize(t.path()).unwrap().join("svc");
    for s in ["init/needs", "a", "getty/1", "private/svc"] {
        fs::create_dir_all(svc.join(s)).unwrap();
    }
    std::os::unix::fs::symlink(svc.join("a"), svc.join("init/needs/a")).unwrap();
    let tree = crate::config::tree::load(&svc, &[svc.join("init"), svc.join("getty/1")]);
    assert_eq!(tree.problems, vec![]);
    (t, tree)
}

#[test]
fn a_loaded_service_is_found_by_its_name_as_text() {
    let (_t, tree) = tree();
    let a = tree.index_of_dir(&tree.svc_root().join("a")).unwrap();
    let getty = tree.index_of_dir(&tree.svc_root().join("getty/1")).unwrap();
    assert_eq!(loaded_by_name(&tree, "a"), Some(a));
    assert_eq!(loaded_by_name(&tree, "a/"), Some(a));
    assert_eq!(loaded_by_name(&tree, "./a"), Some(a));
    assert_eq!(loaded_by_name(&tree, "getty/1"), Some(getty));
    assert_eq!(loaded_by_name(&tree, "getty//1"), Some(getty));
    let abs = tree.svc_root().join("getty/1");
    assert_eq!(loaded_by_name(&tree, abs.to_str().unwrap()), Some(getty));
}

#[test]
fn anything_else_is_no_loaded_service_whatever_is_on_disk() {
    let (t, tree) = tree();
    for name in [
        "private",     // exists, not loaded
        "private/svc", // exists, not loaded
        "absent",      // does not exist
        "",
        ".",
        "getty",        // a directory, not a service
        "init/needs/a", // a link to a loaded service: not its name
        "getty/../a",   // `..` is not resolved as text
        "../svc/a",     // nor here
        "/etc",         // outside the tree
        "/",            // the root directory
    ] {
        assert_eq!(loaded_by_name(&tree, name), None, "{name:?}");
    }
    // The tree's path spelled another way (not canonical) is not it.
    let other = t.path().join("x/../svc/a");
    assert_eq!(loaded_by_name(&tree, other.to_str().unwrap()), None);
}

#[test]
fn the_refusal_depends_on_the_name_only() {
    assert_eq!(not_loaded("x"), not_loaded("x"));
    assert!(not_loaded("/root/private").contains("/root/private"));
    assert!(not_loaded("x").starts_with("no such service: x "));
}
