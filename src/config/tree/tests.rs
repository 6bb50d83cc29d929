//! The loader's rules on real directory trees.

use super::*;
use std::fs;
use std::os::unix::fs::symlink;

fn mk(root: &Path, name: &str) {
    fs::create_dir_all(root.join(name)).unwrap();
}
fn link(root: &Path, from: &str, kind: &str, to: &str) {
    let d = root.join(from).join(kind);
    fs::create_dir_all(&d).unwrap();
    let entry = to.replace('/', "_");
    symlink(root.join(to), d.join(entry)).unwrap();
}

#[test]
fn loads_reachable_services_with_identity_by_canonical_path() {
    let t = tempfile::tempdir().unwrap();
    let svc = t.path().join("svc");
    for s in ["init", "a", "b", "getty/1", "unused"] {
        mk(&svc, s);
    }
    link(&svc, "init", "needs", "a");
    link(&svc, "init", "wants", "getty/1");
    link(&svc, "a", "needs", "b");
    // A second link to b under another name is the same service.
    symlink(svc.join("b"), svc.join("init/needs/b-again")).unwrap();
    fs::write(svc.join("a/respawn"), "").unwrap();
    fs::write(svc.join("b/delay"), "9\n").unwrap();

    let tree = load(&svc, &[svc.join("init")]);
    assert!(tree.problems.is_empty(), "{:?}", tree.problems);
    let names: Vec<_> = tree.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["init", "a", "b", "getty/1"]);
    assert_eq!(tree.nodes[0].needs, [1, 2]);
    assert_eq!(tree.nodes[0].wants, [3]);
    assert!(tree.nodes[1].respawn);
    assert_eq!(tree.nodes[2].delay_s, Some(9));
    assert_eq!(tree.roots, [0]);
}

#[test]
fn cycles_are_marked_on_members_only_with_the_path() {
    let t = tempfile::tempdir().unwrap();
    let svc = t.path().join("svc");
    for s in ["init", "x", "y", "z", "ok"] {
        mk(&svc, s);
    }
    link(&svc, "init", "wants", "x");
    link(&svc, "init", "wants", "ok");
    link(&svc, "x", "needs", "y");
    link(&svc, "y", "wants", "x");
    link(&svc, "z", "needs", "x");
    link(&svc, "init", "wants", "z");
    let tree = load(&svc, &[svc.join("init")]);
    let by = |n: &str| tree.nodes.iter().find(|x| x.name == n).unwrap();
    assert_eq!(
        by("x").broken.as_deref(),
        Some(&Reason::Cycle("x -> y -> x".into()))
    );
    assert_eq!(
        by("y").broken.as_deref(),
        Some(&Reason::Cycle("x -> y -> x".into()))
    );
    assert_eq!(by("z").broken, None);
    assert_eq!(by("ok").broken, None);
    assert_eq!(by("init").broken, None);
    assert_eq!(tree.problems.len(), 2);
    assert!(tree.problems[0].reason.contains("x -> y -> x"));
}

#[test]
fn long_cycles_are_shown_shortened_with_their_length() {
    assert_eq!(cycle_text(&["a"]), "a -> a");
    assert_eq!(cycle_text(&["a", "b", "c"]), "a -> b -> c -> a");
    let eight: Vec<String> = (0..8).map(|i| i.to_string()).collect();
    let eight: Vec<&str> = eight.iter().map(String::as_str).collect();
    assert_eq!(
        cycle_text(&eight),
        "0 -> 1 -> 2 -> 3 -> 4 -> 5 -> 6 -> 7 -> 0"
    );
    let many: Vec<String> = (0..1000).map(|i| format!("ring/{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    assert_eq!(
        cycle_text(&many),
        "ring/0 -> ring/1 -> ring/2 -> ring/3 -> ... -> ring/997 -> ring/998 \
         -> ring/999 -> ring/0 (a cycle of 1000)"
    );
}

#[test]
fn later_roots_extend_the_tree_and_keep_indices() {
    let t = tempfile::tempdir().unwrap();
    let svc = t.path().join("svc");
    for s in ["init", "a", "extra", "p", "q"] {
        mk(&svc, s);
    }
    link(&svc, "init", "needs", "a");
    link(&svc, "extra", "needs", "a");
    link(&svc, "p", "needs", "q");
    link(&svc, "q", "needs", "p");
    let mut tree = load(&svc, &[svc.join("init")]);
    assert_eq!(tree.nodes.len(), 2);
    let extra = tree.add_root(&svc.join("extra")).unwrap();
    assert_eq!(extra, 2);
    assert_eq!(tree.nodes[2].needs, [1], "existing service reused");
    assert_eq!(tree.add_root(&svc.join("extra")), Some(2));
    assert_eq!(tree.add_root(&svc.join("nope")), None);
    let before = tree.problems.len();
    tree.add_root(&svc.join("p")).unwrap();
    assert_eq!(
        tree.problems.len(),
        before + 2,
        "one problem per cycle member"
    );
    tree.add_root(&svc.join("a")).unwrap();
    assert_eq!(
        tree.problems.len(),
        before + 2,
        "old cycles are not reported again"
    );
    assert_eq!(
        tree.index_of_dir(&fs::canonicalize(svc.join("q")).unwrap()),
        Some(4)
    );
}

/// Proves the hand-over keeps one table: after `take_nodes` the tree
/// holds no node, a later root gets the next indices and only its new
/// services (which may need handed ones), its cycle among new services
/// is found and marked with the problems a tree holding every node
/// reports, and a handed service is still found by its directory.
#[test]
fn handed_services_stay_indexed_and_later_loads_hand_only_new_ones() {
    let t = tempfile::tempdir().unwrap();
    let svc = t.path().join("svc");
    for s in ["init", "a", "extra", "p", "q"] {
        mk(&svc, s);
    }
    link(&svc, "init", "needs", "a");
    link(&svc, "extra", "needs", "a");
    link(&svc, "extra", "wants", "p");
    link(&svc, "p", "needs", "q");
    link(&svc, "q", "needs", "p");
    // The same loads without a hand-over: what must come out.
    let mut whole = load(&svc, &[svc.join("init")]);
    whole.add_root(&svc.join("extra")).unwrap();

    let mut tree = load(&svc, &[svc.join("init")]);
    let first = tree.take_nodes();
    assert_eq!(first.len(), 2);
    assert!(tree.nodes.is_empty());
    assert_eq!(tree.add_root(&svc.join("extra")), Some(2));
    let later = tree.take_nodes();
    let names: Vec<_> = later.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["extra", "p", "q"]);
    assert_eq!(
        (later[0].needs.as_slice(), later[0].wants.as_slice()),
        (&[1][..], &[3][..])
    );
    let all: Vec<Node> = first.into_iter().chain(later).collect();
    assert_eq!(all, whole.nodes, "the same table, by the same indices");
    assert_eq!(
        tree.problems, whole.problems,
        "the cycle p -> q is reported"
    );
    assert!(matches!(all[3].broken.as_deref(), Some(Reason::Cycle(_))));
    assert_eq!(tree.len(), 5);
    assert_eq!(
        tree.add_root(&svc.join("a")),
        Some(1),
        "handed, found again"
    );
    assert!(tree.take_nodes().is_empty());
}

#[test]
fn readiness_files_are_read_and_bad_ones_fail_the_service() {
    let t = tempfile::tempdir().unwrap();
    let svc = t.path().join("svc");
    mk(&svc, "init");
    for s in ["db", "once", "bad", "slow"] {
        mk(&svc, s);
        link(&svc, "init", "wants", s);
    }
    fs::write(svc.join("db/respawn"), "").unwrap();
    fs::write(svc.join("db/notification-fd"), "4\n").unwrap();
    fs::write(svc.join("db/ready-timeout"), "2.5\n").unwrap();
    // A once service's notification-fd is not even read.
    fs::write(svc.join("once/notification-fd"), "junk").unwrap();
    fs::write(svc.join("bad/respawn"), "").unwrap();
    fs::write(svc.join("bad/notification-fd"), "2").unwrap();
    fs::write(svc.join("slow/ready-timeout"), "soon").unwrap();
    let tree = load(&svc, &[svc.join("init")]);
    let by = |n: &str| tree.nodes.iter().find(|x| x.name == n).unwrap();
    assert_eq!(by("db").notify_fd, Some(4));
    assert_eq!(by("db").ready_timeout_ms, Some(2500));
    assert_eq!(by("db").broken, None);
    assert_eq!(by("once").notify_fd, None);
    assert_eq!(by("once").broken, None);
    let why = match by("bad").broken.as_deref() {
        Some(Reason::Config(why)) => why.clone(),
        other => format!("not broken by its file: {other:?}"),
    };
    assert!(
        why.ends_with(
            "bad/notification-fd: 2 is stdin, stdout or stderr; \
             write one descriptor number from 3 to 1023"
        ),
        "{why}"
    );
    assert!(matches!(
        by("slow").broken.as_deref(),
        Some(Reason::Config(_))
    ));
    let text: Vec<String> = tree.problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(text.len(), 2, "{text:#?}");
    assert!(
        text[0].contains("bad/notification-fd: bad: 2 is stdin"),
        "{text:#?}"
    );
    assert!(
        text[1].contains("slow/ready-timeout: slow: \"soon\" is not"),
        "{text:#?}"
    );
}

#[test]
fn broken_links_and_bad_files_are_reported_and_loading_goes_on() {
    let t = tempfile::tempdir().unwrap();
    let svc = t.path().join("svc");
    for s in ["init", "a"] {
        mk(&svc, s);
    }
    fs::create_dir_all(svc.join("init/needs")).unwrap();
    fs::create_dir_all(svc.join("init/wants")).unwrap();
    symlink("/nonexistent", svc.join("init/needs/db")).unwrap();
    symlink("/nonexistent", svc.join("init/wants/opt")).unwrap();
    symlink(svc.join("a"), svc.join("init/wants/a")).unwrap();
    fs::write(svc.join("a/delay"), "soon").unwrap();
    fs::write(svc.join("a/needs"), "not a dir").unwrap();
    let tree = load(&svc, &[svc.join("init"), svc.join("missing")]);
    assert_eq!(tree.nodes.len(), 2);
    assert_eq!(
        tree.nodes[0].missing_need.as_deref(),
        Some(&("init/needs/db".into(), "no such service".into()))
    );
    assert_eq!(tree.nodes[1].delay_s, None);
    assert!(matches!(
        tree.nodes[1].broken.as_deref(),
        Some(Reason::Config(_))
    ));
    let text: Vec<String> = tree.problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(text.len(), 5, "{text:#?}");
    assert!(text.iter().any(|p| p.contains("missing: no such service")));
    assert!(text
        .iter()
        .any(|p| p.contains("want: no such service (ignored)")));
    assert!(text
        .iter()
        .any(|p| p.contains("a/delay: a: \"soon\" is not")));
}

/// The component way `service_name` had before its byte fast path.
fn old_service_name(svc_root: &Path, dir: &Path) -> String {
    match dir.strip_prefix(svc_root) {
        Ok(rel) if rel.as_os_str().is_empty() => ".".to_string(),
        Ok(rel) => rel.to_string_lossy().into_owned(),
        Err(_) => dir.to_string_lossy().into_owned(),
    }
}

/// Usual names take the byte way and answer as before.
#[test]
fn service_names_of_canonical_directories() {
    let root = Path::new("/etc/cinit/svc");
    assert_eq!(
        plain_rest(root, Path::new("/etc/cinit/svc/getty/1")),
        Some(&b"getty/1"[..])
    );
    for (dir, name) in [
        ("/etc/cinit/svc/a", "a"),
        ("/etc/cinit/svc/getty/1", "getty/1"),
        ("/etc/cinit/svc", "."),
        ("/etc/cinit/svcx/a", "/etc/cinit/svcx/a"),
        ("/etc/cinit/svc//a/./b/", "a/./b"),
    ] {
        assert_eq!(service_name(root, Path::new(dir)), name, "{dir}");
        assert_eq!(
            service_name(root, Path::new(dir)),
            old_service_name(root, Path::new(dir))
        );
    }
}

proptest::proptest! {
    /// For any root and directory spelt with names, `.`, `..` and runs of
    /// `/` (canonical or not), the byte fast path names a service as the
    /// component comparison did.
    #[test]
    fn service_name_is_the_component_strip(
        root in "(/|//|\\.|\\.\\.|a|b|/\\./){0,6}",
        rest in "(/|//|\\.|\\.\\.|a|b|/\\./|/a){0,6}",
        same in proptest::prelude::any::<bool>(),
        other in "(/|a|\\.){0,8}",
    ) {
        let dir = if same { format!("{root}{rest}") } else { other };
        let (root, dir) = (Path::new(&root), Path::new(&dir));
        proptest::prop_assert_eq!(service_name(root, dir), old_service_name(root, dir));
    }
}

/// Proves a load hands over, beside its services, what it listed in each
/// of their directories (the same listing a new one gives), in the same
/// places, and a later load only its own services' listings.
#[test]
fn a_load_hands_over_its_listings_beside_its_services() {
    let t = tempfile::tempdir().unwrap();
    let svc = t.path().join("svc");
    for s in ["init", "a", "b", "late"] {
        mk(&svc, s);
    }
    link(&svc, "init", "wants", "a");
    link(&svc, "init", "wants", "b");
    fs::write(svc.join("a/respawn"), "").unwrap();
    symlink("/bin/true", svc.join("b/on")).unwrap();
    let mut tree = Tree::new(&svc);
    tree.add_root(&svc.join("init")).unwrap();
    let (nodes, listings) = tree.take_loaded();
    assert_eq!((nodes.len(), listings.len()), (3, 3));
    for (dir, listing) in tree.dirs.iter().zip(&listings) {
        assert!(listing.is_listed(), "{}", dir.display());
        assert_eq!(
            *listing,
            ServiceDir::open(dir).listing(),
            "{}",
            dir.display()
        );
    }
    assert_ne!(listings[1], listings[2], "a and b hold different files");
    tree.add_root(&svc.join("late")).unwrap();
    let (nodes, listings) = tree.take_loaded();
    assert_eq!((nodes.len(), listings.len()), (1, 1));
    assert_eq!(listings[0], ServiceDir::open(&svc.join("late")).listing());
}

/// Proves the loader reads `restart-limit` (respawn services only) and
/// `on-failure` into the node, gives a service without them no policy,
/// and fails a service whose file is bad, naming the file and the line.
#[test]
fn failure_files_are_loaded_and_a_bad_one_fails_the_service() {
    use crate::engine::failure::{OnFailure, RestartLimit};
    let t = tempfile::tempdir().unwrap();
    let svc = t.path().join("svc");
    mk(&svc, "init");
    for s in ["loop", "once", "bad", "plain"] {
        mk(&svc, s);
        link(&svc, "init", "wants", s);
    }
    fs::write(svc.join("loop/respawn"), "").unwrap();
    fs::write(svc.join("loop/restart-limit"), "3 10\n").unwrap();
    fs::write(svc.join("loop/on-failure"), "start once\n").unwrap();
    fs::write(svc.join("once/restart-limit"), "3 10\n").unwrap();
    fs::write(svc.join("once/on-failure"), "poweroff\n").unwrap();
    fs::write(svc.join("bad/on-failure"), "# x\nexplode\n").unwrap();
    let tree = load(&svc, &[svc.join("init")]);
    let by = |n: &str| tree.nodes.iter().find(|x| x.name == n).unwrap();
    let p = by("loop").failure.as_deref().unwrap();
    assert_eq!(
        p.limit,
        Some(RestartLimit {
            exits: 3,
            within_ms: 10_000
        })
    );
    assert_eq!(p.action, Some(OnFailure::Start("once".into())));
    let p = by("once").failure.as_deref().unwrap();
    assert_eq!(p.limit, None, "a once service is never restarted");
    assert_eq!(
        p.action,
        Some(OnFailure::System(crate::proto::SystemAction::Poweroff))
    );
    assert_eq!(by("plain").failure, None);
    assert_eq!(by("init").failure, None);
    assert_eq!(tree.problems.len(), 1, "{:?}", tree.problems);
    let p = &tree.problems[0];
    assert_eq!(p.file, svc.join("bad/on-failure"));
    assert!(
        p.reason.starts_with("line 2: \"explode\" is not an action"),
        "{}",
        p.reason
    );
    assert!(by("bad").broken.is_some());
}
