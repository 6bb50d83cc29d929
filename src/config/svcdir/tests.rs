//! Unit tests of [`super`].

use super::*;
use crate::config::dirlist::both;

fn strs(v: Vec<&[u8]>) -> Vec<String> {
    v.into_iter()
        .map(|b| String::from_utf8(b.to_vec()).unwrap())
        .collect()
}

#[test]
fn split_lines_drops_exactly_one_trailing_newline() {
    assert!(split_lines(b"").is_empty());
    assert_eq!(strs(split_lines(b"\n")), [""]);
    assert_eq!(strs(split_lines(b"a")), ["a"]);
    assert_eq!(strs(split_lines(b"a\n")), ["a"]);
    assert_eq!(strs(split_lines(b"a\n\n")), ["a", ""]);
    assert_eq!(strs(split_lines(b"a b\n\n c \n")), ["a b", "", " c "]);
}

#[test]
fn env_rejects_lines_without_equals_and_names_the_line() {
    let p = Path::new("svc/x/on.env");
    assert_eq!(parse_env(p, b"A=1\nB=\nC=x=y\n").unwrap().len(), 3);
    let e = parse_env(p, b"A=1\nJUNK\n").unwrap_err();
    assert_eq!(e.reason, "line 2: not NAME=value");
    assert_eq!(e.file, p);
    assert!(parse_env(p, b"=v").is_err());
}

#[test]
fn params_reject_nul_bytes() {
    let e = parse_params(Path::new("p"), b"ok\nb\0d\n").unwrap_err();
    assert_eq!(e.reason, "line 2 contains a NUL byte");
}

#[test]
fn delay_accepts_whole_seconds_only() {
    let p = Path::new("delay");
    assert_eq!(parse_delay(p, b"7\n").unwrap(), Some(7));
    assert_eq!(parse_delay(p, b" 0 ").unwrap(), Some(0));
    assert!(parse_delay(p, b"-1").is_err());
    assert!(parse_delay(p, b"1.5").is_err());
    assert_eq!(parse_delay(p, b"").unwrap(), None, "empty = default");
    assert_eq!(parse_delay(p, b"\n").unwrap(), None);
}

/// A10 (adversarial family A): garbage in `respawn`, `delay` and `.env`
/// follows the documented rules: `respawn` counts by existence only,
/// whatever it holds or is; `delay` takes a whole number of seconds up
/// to u32::MAX, anything else is an error (the caller then uses the
/// default); `.env` lines are kept verbatim and in order (duplicate keys
/// and an overridden PATH included), and a line without `=` or with an
/// empty name is an error naming the line.
#[test]
fn a10_respawn_delay_and_env_garbage_follow_the_documented_rules() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    assert!(!both(dir, read_respawn).unwrap(), "absent: a once service");
    let respawn = dir.join("respawn");
    for content in ["", "no\n", "-1", "0", "\u{0}\u{ff}garbage"] {
        fs::write(&respawn, content).unwrap();
        assert!(both(dir, read_respawn).unwrap(), "{content:?}");
    }
    fs::remove_file(&respawn).unwrap();
    fs::create_dir(&respawn).unwrap();
    assert!(both(dir, read_respawn).unwrap(), "a directory");
    fs::remove_dir(&respawn).unwrap();
    std::os::unix::fs::symlink("/nonexistent", &respawn).unwrap();
    assert!(both(dir, read_respawn).unwrap(), "a dangling link");

    let p = Path::new("delay");
    for bad in [
        &b"-1"[..],
        b"abc",
        b"1.5",
        b"1e3",
        b"4294967296",
        b"99999999999999999999",
        b"5 s",
        b"\xff",
    ] {
        let e = parse_delay(p, bad).unwrap_err();
        assert!(e.reason.contains("not"), "{bad:?}: {e}");
    }
    assert_eq!(parse_delay(p, b"4294967295").unwrap(), Some(u32::MAX));
    assert_eq!(parse_delay(p, b"  7 \n").unwrap(), Some(7));
    assert_eq!(parse_delay(p, b" \n\t").unwrap(), None);

    let p = Path::new("on.env");
    let env = parse_env(p, b"A=1\nPATH=/opt/bin\nA=2\nB==\n").unwrap();
    let env: Vec<&[u8]> = env.iter().map(|c| c.to_bytes()).collect();
    assert_eq!(env, [&b"A=1"[..], b"PATH=/opt/bin", b"A=2", b"B=="]);
    assert_eq!(
        parse_env(p, b"A=1\nexport B\n").unwrap_err().reason,
        "line 2: not NAME=value"
    );
    assert_eq!(
        parse_env(p, b"=x\n").unwrap_err().reason,
        "line 1: empty variable name"
    );
    assert_eq!(
        parse_env(p, b"A=1\n\n").unwrap_err().reason,
        "line 2: not NAME=value",
        "a blank line is an entry without ="
    );
}

#[test]
fn read_exec_handles_plain_symlinked_and_missing_on() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    assert_eq!(both(dir, |s| read_exec(s, "on")).unwrap(), None);

    std::os::unix::fs::symlink("../bin/tool", dir.join("on")).unwrap();
    fs::write(dir.join("on.params"), "-x\n\nlast arg\n").unwrap();
    fs::write(dir.join("on.env"), "A=1\n").unwrap();
    let spec = both(dir, |s| read_exec(s, "on")).unwrap().unwrap();
    assert_eq!(spec.argv[0].to_bytes(), b"../bin/tool");
    assert_eq!(
        spec.path.to_bytes(),
        dir.join("../bin/tool").as_os_str().as_bytes()
    );
    let args: Vec<_> = spec.argv[1..].iter().map(|c| c.to_bytes()).collect();
    assert_eq!(args, [&b"-x"[..], b"", b"last arg"]);
    assert_eq!(spec.envp.len(), 1);

    fs::write(dir.join("off"), "#!/bin/sh\n").unwrap();
    let off = both(dir, |s| read_exec(s, "off")).unwrap().unwrap();
    assert_eq!(off.argv, vec![off.path.clone()]);
    assert!(off.envp.is_empty());
}

#[test]
fn fifos_and_directories_are_refused_without_blocking() {
    let d = tempfile::tempdir().unwrap();
    let fifo = d.path().join("on.params");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    assert_eq!(
        read_small_file(&fifo).unwrap_err().reason,
        "not a regular file"
    );
    assert_eq!(
        read_small_file(d.path()).unwrap_err().reason,
        "not a regular file"
    );
}

#[test]
fn oversized_files_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("on.params");
    fs::write(&p, vec![b'a'; MAX_FILE_BYTES as usize + 1]).unwrap();
    let e = read_small_file(&p).unwrap_err();
    assert!(e.reason.contains("larger than"));
}

#[test]
fn deps_are_sorted_skip_dot_entries_and_report_broken_links() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    fs::create_dir_all(root.join("a/needs")).unwrap();
    fs::create_dir_all(root.join("b")).unwrap();
    std::os::unix::fs::symlink("../../b", root.join("a/needs/zz")).unwrap();
    std::os::unix::fs::symlink("../../nope", root.join("a/needs/broken")).unwrap();
    std::os::unix::fs::symlink("../../b", root.join("a/needs/.off")).unwrap();
    let deps = both(&root.join("a"), |s| {
        read_deps(s, "needs", &mut Canon::new())
    })
    .unwrap();
    assert_eq!(deps.len(), 2);
    assert!(deps[0].entry.ends_with("broken"));
    assert_eq!(deps[0].target, Err("no such service".to_string()));
    assert_eq!(
        deps[1].target,
        Ok(fs::canonicalize(root.join("b")).unwrap())
    );
    assert!(both(&root.join("b"), |s| read_deps(
        s,
        "wants",
        &mut Canon::new()
    ))
    .unwrap()
    .is_empty());
}

/// A grouping has neither `on` nor `off`; an `off` alone (work done at
/// stop time) or a dangling `on` symlink makes it a service.
#[test]
fn a_grouping_has_neither_on_nor_off() {
    let d = tempfile::tempdir().unwrap();
    assert!(both(d.path(), is_grouping));
    fs::write(d.path().join("off"), "").unwrap();
    assert!(!both(d.path(), is_grouping));
    fs::remove_file(d.path().join("off")).unwrap();
    std::os::unix::fs::symlink("nowhere", d.path().join("on")).unwrap();
    assert!(!both(d.path(), is_grouping));
}
