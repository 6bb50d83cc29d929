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

/// What one slot of a random tree holds.
#[derive(Debug, Clone)]
enum Slot {
    Absent,
    Dir,
    File,
    /// A symlink to this text, made absolute (under the tree's root)
    /// when the flag is set.
    Link(bool, String),
}

/// Slots of a random tree: three names at the top, three under each.
const SLOTS: [&str; 12] = [
    "a", "b", "c", "a/a", "a/b", "a/c", "b/a", "b/b", "b/c", "c/a", "c/b", "c/c",
];

/// Path text made of names, `.`, `..` and empty names (`//`).
fn text() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    proptest::collection::vec(
        prop_oneof![
            Just("a"),
            Just("b"),
            Just("c"),
            Just("."),
            Just(".."),
            Just("")
        ],
        1..6,
    )
    .prop_map(|names| names.join("/"))
}

fn slot() -> impl proptest::strategy::Strategy<Value = Slot> {
    use proptest::prelude::*;
    prop_oneof![
        1 => Just(Slot::Absent),
        3 => Just(Slot::Dir),
        1 => Just(Slot::File),
        3 => (any::<bool>(), text()).prop_map(|(abs, t)| Slot::Link(abs, t)),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

    /// The byte walk answers every path as the walk over `Path`
    /// components did (`reference`): the same canonical path, or the
    /// same errno, on random trees of directories, files and relative or
    /// absolute links (with `.`, `..`, `//`, chains and loops), asked in
    /// turn with one cache each and each path twice (from the cache).
    #[test]
    fn byte_walk_agrees_with_the_component_walk(
        slots in proptest::collection::vec(slot(), SLOTS.len()),
        asked in proptest::collection::vec((text(), proptest::prelude::any::<bool>()), 1..8),
    ) {
        let d = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(d.path()).unwrap();
        for (name, slot) in SLOTS.iter().zip(&slots) {
            let p = root.join(name);
            // Under a parent that is no directory, nothing is made.
            let _ = match slot {
                Slot::Absent => Ok(()),
                Slot::Dir => fs::create_dir(&p),
                Slot::File => fs::write(&p, ""),
                Slot::Link(false, t) => symlink(t, &p),
                Slot::Link(true, t) => symlink(format!("{}/{t}", root.display()), &p),
            };
        }
        let mut new = Canon::new();
        let mut old = super::reference::Canon::new();
        for _ in 0..2 {
            for (t, slash) in &asked {
                let mut p = format!("{}/{t}", root.display());
                if *slash {
                    p.push('/');
                }
                let p = Path::new(&p);
                match (new.canonicalize(p), old.canonicalize(p)) {
                    (Ok(a), Ok(b)) => proptest::prop_assert_eq!(a, b, "{}", p.display()),
                    (Err(a), Err(b)) => proptest::prop_assert_eq!(
                        a.raw_os_error(), b.raw_os_error(), "{}", p.display()
                    ),
                    (a, b) => proptest::prop_assert!(false, "{}: bytes {a:?}, components {b:?}", p.display()),
                }
            }
        }
    }
}
