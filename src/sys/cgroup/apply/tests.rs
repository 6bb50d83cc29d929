//! [`apply_settings`] on a directory tree shaped like a cgroup hierarchy
//! (plain files: the writes and reads are the same system calls), so the
//! order of enabling and writing is checked without a real cgroup; the
//! namespace test `ns_cgroup` runs it against the kernel's.

use super::*;

fn setting(file: &str, value: &str) -> Setting {
    Setting {
        file: file.into(),
        value: value.into(),
    }
}

/// BASE with `controllers` (and `enabled` in its `subtree_control`),
/// BASE/svc (with `memory` enabled) and BASE/svc/a, each with the files
/// the settings go to (a real cgroup has them; here they must exist for
/// the open without `O_CREAT`).
fn tree(controllers: &str, enabled: &str) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let base = t.path();
    std::fs::create_dir_all(base.join("svc/a")).unwrap();
    std::fs::write(base.join("cgroup.controllers"), controllers).unwrap();
    std::fs::write(base.join("cgroup.subtree_control"), enabled).unwrap();
    std::fs::write(base.join("svc/cgroup.subtree_control"), "memory\n").unwrap();
    for f in ["memory.max", "pids.max"] {
        std::fs::write(base.join("svc/a").join(f), "").unwrap();
    }
    t
}

fn read(base: &Path, p: &str) -> String {
    std::fs::read_to_string(base.join(p)).unwrap()
}

/// Each controller is enabled on the way down where it is not yet (and
/// left alone where it is), and each value lands in its file, as
/// written.
#[test]
fn enables_then_writes() {
    let t = tree("cpu memory pids\n", "memory pids\n");
    let base = t.path();
    let settings = [setting("memory.max", "64M"), setting("pids.max", "32")];
    apply_settings(&base.join("svc/a"), &base.join("svc"), base, &settings).unwrap();
    assert_eq!(read(base, "svc/a/memory.max"), "64M");
    assert_eq!(read(base, "svc/a/pids.max"), "32");
    assert_eq!(read(base, "cgroup.subtree_control"), "memory pids\n");
    assert_eq!(read(base, "svc/cgroup.subtree_control"), "+pids");
    let t = tree("memory\n", "");
    let base = t.path();
    let settings = [setting("memory.max", "max")];
    apply_settings(&base.join("svc/a"), &base.join("svc"), base, &settings).unwrap();
    assert_eq!(read(base, "cgroup.subtree_control"), "+memory");
    assert_eq!(read(base, "svc/cgroup.subtree_control"), "memory\n");
    assert_eq!(read(base, "svc/a/memory.max"), "max");
}

/// A controller the base does not have fails before anything is written,
/// naming the setting.
#[test]
fn a_missing_controller_is_refused() {
    let t = tree("cpu pids\n", "");
    let base = t.path();
    let settings = [setting("pids.max", "32"), setting("memory.max", "64M")];
    let err = apply_settings(&base.join("svc/a"), &base.join("svc"), base, &settings).unwrap_err();
    assert!(
        err.starts_with("memory.max 64M: controller memory not available"),
        "{err}"
    );
    assert_eq!(read(base, "svc/a/pids.max"), "");
}

/// A write that fails names the setting and the file.
#[test]
fn a_failed_write_is_an_error() {
    let t = tree("memory\n", "");
    let base = t.path();
    let settings = [setting("memory.high", "48M")];
    let err = apply_settings(&base.join("svc/a"), &base.join("svc"), base, &settings).unwrap_err();
    assert!(err.starts_with("memory.high 48M: writing "), "{err}");
    assert!(
        err.ends_with("memory.high: No such file or directory"),
        "{err}"
    );
}

/// No settings: nothing is read or written (the base need not exist).
#[test]
fn nothing_to_do() {
    let p = Path::new("/nonexistent");
    assert_eq!(apply_settings(p, p, p, &[]), Ok(()));
}
