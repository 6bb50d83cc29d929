use super::*;

const PASSWD: &[u8] =
    b"root:x:0:0::/root:/bin/sh\nwww:x:33:34::/:/bin/sh\napp:x:1000:1000::/:/bin/sh\n";
const GROUP: &[u8] = b"root:x:0:\nwww:x:34:\naudio:x:29:app,www\napp:x:1000:\n";

fn resolved(text: &str) -> Result<Creds, String> {
    let spec = parse_user(text.as_bytes())?;
    resolve(&spec, &mut || Ok(PASSWD.to_vec()), &mut || {
        Ok(GROUP.to_vec())
    })
}

fn creds(uid: u32, gid: u32, groups: &[u32], name: &str) -> Creds {
    Creds {
        uid,
        gid,
        groups: groups.to_vec(),
        name: name.to_string(),
    }
}

/// A user alone takes its passwd entry's uid and gid and its groups from
/// /etc/group (primary first); with groups, exactly those, the first
/// primary; names and numbers mix.
#[test]
fn users_and_groups_resolve_by_name_and_number() {
    assert_eq!(resolved("www\n"), Ok(creds(33, 34, &[34, 29], "www")));
    assert_eq!(resolved("1000"), Ok(creds(1000, 1000, &[1000, 29], "1000")));
    assert_eq!(resolved("www:audio"), Ok(creds(33, 29, &[29], "www")));
    assert_eq!(
        resolved("4242:4343:audio:7"),
        Ok(creds(4242, 4343, &[4343, 29, 7], "4242"))
    );
}

/// Unknown names, a lone uid without an entry, and malformed lines are
/// errors saying why.
#[test]
fn bad_users_are_errors() {
    assert_eq!(
        resolved("nobody"),
        Err("no user nobody in /etc/passwd".into())
    );
    assert_eq!(
        resolved("www:nogroup"),
        Err("no group nogroup in /etc/group".into())
    );
    assert!(resolved("4242")
        .unwrap_err()
        .contains("uid 4242 has no entry"));
    for bad in [
        "",
        "\n",
        "www:",
        ":audio",
        "a b",
        "www\naudio",
        "4294967295",
        "a,b",
    ] {
        assert!(parse_user(bad.as_bytes()).is_err(), "{bad:?}");
    }
    // The passwd file is read only when needed: numbers with groups
    // need neither file.
    let spec = parse_user(b"5:6").unwrap();
    let none = &mut || -> Result<Vec<u8>, String> { Err("read".into()) };
    let none2 = &mut || -> Result<Vec<u8>, String> { Err("read".into()) };
    assert_eq!(resolve(&spec, none, none2), Ok(creds(5, 6, &[6], "5")));
    // An unreadable passwd file is the reason.
    let spec = parse_user(b"www").unwrap();
    let gone = &mut || -> Result<Vec<u8>, String> { Err("/etc/passwd: gone".into()) };
    let group = &mut || -> Result<Vec<u8>, String> { Ok(GROUP.to_vec()) };
    assert_eq!(resolve(&spec, gone, group), Err("/etc/passwd: gone".into()));
}

/// Limits by prlimit(1)'s names, a lone value for both, `unlimited`,
/// comments and blank lines; soft above hard, unknown names, repeats and
/// junk are errors with the line.
#[test]
fn limits_parse_as_prlimit_names_them() {
    let l =
        parse_limits(b"# web\nnofile 4096:8192\n\ncore unlimited\nnproc 10:unlimited\n").unwrap();
    let got: Vec<(&str, [u64; 2])> = l.iter().map(|l| (l.name, l.values)).collect();
    assert_eq!(
        got,
        vec![
            ("nofile", [4096, 8192]),
            ("core", [u64::MAX, u64::MAX]),
            ("nproc", [10, u64::MAX]),
        ]
    );
    assert_eq!(l[0].resource, libc::RLIMIT_NOFILE as libc::c_uint);
    for (bad, why) in [
        (
            "nofile 10:5",
            "line 1: nofile: soft limit above the hard limit",
        ),
        ("files 10", "line 1: unknown resource \"files\""),
        ("nofile", "line 1: not RESOURCE SOFT[:HARD]"),
        ("nofile 1 2", "line 1: not RESOURCE SOFT[:HARD]"),
        (
            "\nnofile -1",
            "line 2: \"-1\" is not SOFT[:HARD] (numbers or unlimited)",
        ),
        ("core 1\ncore 2", "line 2: core is set twice"),
        ("unlimited:5", "line 1: not RESOURCE SOFT[:HARD]"),
    ] {
        assert_eq!(
            parse_limits(bad.as_bytes()).map(|_| ()),
            Err(why.to_string()),
            "{bad:?}"
        );
    }
    assert_eq!(RESOURCES.len(), 16);
}

/// nice and oom-score-adj: one number in range.
#[test]
fn numbers_in_range() {
    assert_eq!(parse_in(b"-20\n", -20..=19), Ok(-20));
    assert_eq!(parse_in(b"19", -20..=19), Ok(19));
    assert!(parse_in(b"20", -20..=19).is_err());
    assert!(parse_in(b"", -20..=19).is_err());
    assert!(parse_in(b"1\n2", -20..=19).is_err());
    assert_eq!(parse_in(b"-1000", -1000..=1000), Ok(-1000));
    assert!(parse_in(b"1001", -1000..=1000).is_err());
    assert_eq!(OomText::new(-1000).unwrap().as_bytes(), b"-1000");
    assert_eq!(OomText::new(7).unwrap().as_bytes(), b"7");
    assert!(OomText::new(1001).is_none());
}

/// A directory without the files has no context; with them, every file
/// is read, and a bad one is an error naming it — listed, kept and
/// unlisted alike.
#[test]
fn read_from_a_service_directory() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("on"), "").unwrap();
    assert_eq!(
        crate::config::dirlist::both(d.path(), read_context),
        Ok(None)
    );
    std::fs::write(d.path().join("nice"), "5\n").unwrap();
    std::fs::write(d.path().join("oom-score-adj"), "300\n").unwrap();
    std::fs::write(d.path().join("no-new-privs"), "").unwrap();
    std::fs::write(d.path().join("limits"), "nofile 64\n").unwrap();
    std::fs::write(d.path().join("user"), "7:8\n").unwrap();
    let ctx = crate::config::dirlist::both(d.path(), read_context)
        .unwrap()
        .unwrap();
    assert_eq!(ctx.nice, Some(5));
    assert_eq!(ctx.oom_score_adj.unwrap().as_bytes(), b"300");
    assert!(ctx.no_new_privs);
    assert!(ctx.sets_nofile());
    assert_eq!(ctx.creds, Some(creds(7, 8, &[8], "7")));
    std::fs::write(d.path().join("nice"), "-21\n").unwrap();
    let e = crate::config::dirlist::both(d.path(), read_context).unwrap_err();
    assert_eq!(e.file, d.path().join("nice"));
    assert!(e.reason.contains("from -20 to 19"), "{}", e.reason);
}

/// The failed step names its file and what it did.
#[test]
fn steps_name_their_file() {
    let ctx = ExecContext {
        creds: Some(creds(33, 34, &[34], "www")),
        limits: parse_limits(b"core 0:unlimited").unwrap(),
        ..ExecContext::default()
    };
    use crate::sys::spawn::Step;
    assert_eq!(
        step_text(&ctx, Step::Setuid),
        Some((USER, "setuid 33".into()))
    );
    assert_eq!(
        step_text(&ctx, Step::Limit(0)),
        Some((LIMITS, "core 0:unlimited".into()))
    );
    assert_eq!(step_text(&ctx, Step::Exec), None);
}
