//! Tests of [`super`]: the pure rules one by one, then the walk on real
//! directories in a temporary directory (trusted: it is the test user's).

use super::*;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};

const DIR: u32 = libc::S_IFDIR;

#[test]
fn components_are_absolute_without_dotdot_and_end_in_a_name() {
    let (dirs, name) = components(Path::new("/var/./log//web/out.log")).unwrap();
    assert_eq!(dirs, ["var", "log", "web"]);
    assert_eq!(name, "out.log");
    let (dirs, name) = components(Path::new("/top")).unwrap();
    assert!(dirs.is_empty());
    assert_eq!(name, "top");
    assert_eq!(components(Path::new("var/log")), Err(Why::Relative));
    assert_eq!(components(Path::new("/var/../etc/x")), Err(Why::DotDot));
    assert_eq!(components(Path::new("/var/log/")), Err(Why::NoName));
    assert_eq!(components(Path::new("/")), Err(Why::NoName));
}

#[test]
fn the_files_own_directory_is_writable_by_root_alone() {
    let root = [0];
    assert_eq!(judge_dir(DIR | 0o755, 0, true, &root), Ok(()));
    assert_eq!(judge_dir(DIR | 0o700, 0, true, &root), Ok(()));
    assert_eq!(
        judge_dir(DIR | 0o775, 0, true, &root),
        Err(Why::OwnWritable(DIR | 0o775))
    );
    assert_eq!(
        judge_dir(DIR | 0o1777, 0, true, &root),
        Err(Why::OwnWritable(DIR | 0o1777)),
        "sticky is no excuse for the file's own directory"
    );
    assert_eq!(
        judge_dir(DIR | 0o755, 65534, true, &root),
        Err(Why::Owner(65534))
    );
    assert_eq!(judge_dir(DIR | 0o755, 1000, true, &[0, 1000]), Ok(()));
    assert_eq!(
        judge_dir(libc::S_IFLNK | 0o777, 0, true, &root),
        Err(Why::Symlink)
    );
    assert_eq!(
        judge_dir(libc::S_IFREG | 0o644, 0, false, &root),
        Err(Why::NotDir("a regular file"))
    );
}

#[test]
fn directories_above_may_be_group_writable_or_sticky_but_root_owned() {
    let root = [0];
    assert_eq!(judge_dir(DIR | 0o755, 0, false, &root), Ok(()));
    assert_eq!(judge_dir(DIR | 0o775, 0, false, &root), Ok(()));
    assert_eq!(judge_dir(DIR | 0o1777, 0, false, &root), Ok(()));
    assert_eq!(
        judge_dir(DIR | 0o777, 0, false, &root),
        Err(Why::Writable(DIR | 0o777))
    );
    assert_eq!(
        judge_dir(DIR | 0o755, 65534, false, &root),
        Err(Why::Owner(65534))
    );
    assert_eq!(
        judge_dir(DIR | 0o1777, 65534, false, &root),
        Err(Why::Owner(65534))
    );
}

#[test]
fn a_log_file_is_regular_with_one_link() {
    assert_eq!(judge_file(libc::S_IFREG | 0o640, 1), Ok(()));
    assert_eq!(judge_file(libc::S_IFREG | 0o600, 2), Err(Why::Links(2)));
    assert_eq!(
        judge_file(libc::S_IFIFO | 0o600, 1),
        Err(Why::NotRegular("a FIFO"))
    );
    assert_eq!(
        judge_file(libc::S_IFLNK | 0o777, 1),
        Err(Why::NotRegular("a symbolic link"))
    );
}

#[test]
fn every_refusal_has_an_exit_code_and_a_summary() {
    let all = [
        Why::Relative,
        Why::Symlink,
        Why::NotDir("a FIFO"),
        Why::Owner(7),
        Why::OwnWritable(0o775),
        Why::Writable(0o777),
        Why::NotRegular("a device"),
        Why::Links(3),
    ];
    let mut codes: Vec<i32> = all.iter().map(|w| w.code().unwrap()).collect();
    for c in &codes {
        let status = REFUSED_BASE + c;
        assert!(status < 126, "{status} must stay a plain exit status");
        assert!(Why::summary_of_exit(status).is_some());
    }
    codes.dedup();
    assert_eq!(codes.len(), all.len(), "codes are distinct");
    assert_eq!(Why::Io(libc::EIO).code(), None);
    assert!(!Why::Io(libc::EIO).is_refusal());
    for not_refused in [0, 1, 2, REFUSED_BASE - 1, REFUSED_BASE + 8] {
        assert_eq!(Why::summary_of_exit(not_refused), None);
    }
}

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().mode()
}

#[test]
fn the_walk_makes_missing_directories_and_refuses_links() {
    let t = tempfile::tempdir().unwrap();
    let base = fs::canonicalize(t.path()).unwrap();
    let owners = trusted_owners();
    let deep = base.join("a/b/c");
    let fd = open_dir(&deep, Missing::Create, &owners).unwrap().unwrap();
    assert_eq!(mode(&deep) & 0o7022, 0, "made writable by root alone");
    let st = fstat(&fd).unwrap();
    assert_eq!(st.st_ino, fs::metadata(&deep).unwrap().ino());
    // Stop: nothing is made.
    assert!(open_dir(&base.join("x/y"), Missing::Stop, &owners)
        .unwrap()
        .is_none());
    assert!(!base.join("x").exists());
    // A link anywhere on the path, to a directory that exists: refused,
    // and nothing is made behind it.
    let target = base.join("target");
    fs::create_dir(&target).unwrap();
    symlink(&target, base.join("link")).unwrap();
    for p in [base.join("link"), base.join("link/sub")] {
        let e = open_dir(&p, Missing::Create, &owners).unwrap_err();
        assert_eq!(e.why, Why::Symlink, "{e}");
        assert_eq!(e.at, base.join("link"));
    }
    assert_eq!(fs::read_dir(&target).unwrap().count(), 0);
    // A file in the way.
    fs::write(base.join("file"), "").unwrap();
    let e = open_dir(&base.join("file/sub"), Missing::Create, &owners).unwrap_err();
    assert_eq!(e.why, Why::NotDir("a regular file"));
}

#[test]
fn the_walk_judges_modes_on_the_way() {
    let t = tempfile::tempdir().unwrap();
    let base = fs::canonicalize(t.path()).unwrap();
    let owners = trusted_owners();
    let set = |p: &Path, m: u32| fs::set_permissions(p, fs::Permissions::from_mode(m)).unwrap();
    fs::create_dir_all(base.join("g/in")).unwrap();
    set(&base.join("g"), 0o775);
    assert!(open_dir(&base.join("g/in"), Missing::Create, &owners).is_ok());
    let e = open_dir(&base.join("g"), Missing::Create, &owners).unwrap_err();
    assert!(matches!(e.why, Why::OwnWritable(_)), "{e}");
    assert!(
        e.to_string()
            .ends_with("/g: mode 0775: writable by group or others (root alone may write here)"),
        "{e}"
    );
    fs::create_dir_all(base.join("s/in")).unwrap();
    set(&base.join("s"), 0o1777);
    assert!(open_dir(&base.join("s/in"), Missing::Create, &owners).is_ok());
    assert!(open_dir(&base.join("s/new"), Missing::Create, &owners).is_ok());
    set(&base.join("s"), 0o777);
    let e = open_dir(&base.join("s/in"), Missing::Create, &owners).unwrap_err();
    assert_eq!((e.at, e.why), (base.join("s"), Why::Writable(DIR | 0o777)));
    let e = open_dir(&base.join("s/in"), Missing::Create, &[u32::MAX]).unwrap_err();
    assert!(matches!(e.why, Why::Owner(_)), "{e}");
}
