use super::*;

/// Proves a name splits at its first `@` into the template's name and the
/// instance, and that templates, plain names and `@x` are no instances.
#[test]
fn names_split_at_the_first_at() {
    assert_eq!(split(b"getty@ttyS1"), Some((&b"getty@"[..], &b"ttyS1"[..])));
    assert_eq!(split(b"a@b@c"), Some((&b"a@"[..], &b"b@c"[..])));
    assert_eq!(split(b"getty@"), None);
    assert_eq!(split(b"getty"), None);
    assert_eq!(split(b"@tty1"), None);
    assert!(is_template(Path::new("/svc/getty@")));
    assert!(!is_template(Path::new("/svc/getty@tty1")));
    assert!(!is_template(Path::new("/svc/@")));
    assert!(!is_template(Path::new("/svc/getty")));
}

/// Proves the instance name rules: devices, interfaces, ports and dotted
/// names pass; empty, too long, a leading `.` or `-`, and `/`, NUL, `@`,
/// `%`, space are refused with a reason naming the name and the byte.
#[test]
fn instance_names_are_checked() {
    for ok in ["ttyS1", "eth0", "8080", "foo.bar", "a_b-c:d+e", "x"] {
        assert_eq!(check_instance(ok.as_bytes()), Ok(()), "{ok}");
    }
    assert!(check_instance(&[b'a'; MAX_INSTANCE]).is_ok());
    let long = check_instance(&[b'a'; MAX_INSTANCE + 1]).unwrap_err();
    assert!(
        long.ends_with(&format!("is longer than {MAX_INSTANCE} bytes")),
        "{long}"
    );
    assert_eq!(
        check_instance(b"").unwrap_err(),
        "instance name \"\" is empty"
    );
    for lead in [".x", "-x"] {
        let e = check_instance(lead.as_bytes()).unwrap_err();
        assert_eq!(e, format!("instance name {lead:?} starts with '.' or '-'"));
    }
    let slash = check_instance(b"a/b").unwrap_err();
    assert!(
        slash.starts_with("instance name \"a/b\" has a character other than"),
        "{slash}"
    );
    assert!(check_instance(b"a\0b").unwrap_err().contains("\"a\\0b\""));
    for bad in ["a@b", "a%b", "a b", "a\nb", "a'b", "é"] {
        assert!(check_instance(bad.as_bytes()).is_err(), "{bad}");
    }
}

/// Proves an instance's template is the `T@` directory beside it, and
/// that only valid instance names have one.
#[test]
fn the_template_is_beside_the_instance() {
    let (t, i) = template_of(Path::new("/svc/getty@ttyS1")).unwrap();
    assert_eq!((t, i), (Path::new("/svc/getty@"), &b"ttyS1"[..]));
    let (t, _) = template_of(Path::new("getty@x")).unwrap();
    assert_eq!(t, Path::new("getty@"));
    let (t, _) = template_of(Path::new("/svc/net/dhcp@eth0")).unwrap();
    assert_eq!(t, Path::new("/svc/net/dhcp@"));
    assert_eq!(template_of(Path::new("/svc/getty@")), None);
    assert_eq!(template_of(Path::new("/svc/getty")), None);
    assert_eq!(template_of(Path::new("/svc/getty@-x")), None);
}

/// Proves `%i` becomes the instance, `%%` a `%`, and every other `%`
/// stays as written (an unknown specifier, a last `%`); text without `%`
/// is borrowed, not copied.
#[test]
fn percent_i_and_percent_percent_are_replaced() {
    let s = |d: &str| String::from_utf8(substitute(d.as_bytes(), b"ttyS1").into_owned()).unwrap();
    assert_eq!(s("/dev/%i"), "/dev/ttyS1");
    assert_eq!(s("%i%i"), "ttyS1ttyS1");
    assert_eq!(s("100%%"), "100%");
    assert_eq!(s("%%i"), "%i");
    assert_eq!(s("%n %I %"), "%n %I %");
    assert_eq!(s("a%\n%i\nTTY=%i"), "a%\nttyS1\nTTY=ttyS1");
    assert!(matches!(substitute(b"plain\n", b"x"), Cow::Borrowed(_)));
}

/// Proves where a name or a link that does not resolve leads: a link's
/// target (relative to its directory), the name itself otherwise; a bad
/// instance name is an error, a name without `@` is no instance.
#[test]
fn instance_targets_follow_one_link() {
    let d = tempfile::tempdir().unwrap();
    let needs = d.path().join("web/needs");
    std::fs::create_dir_all(&needs).unwrap();
    std::os::unix::fs::symlink("../../getty@tty1", needs.join("console")).unwrap();
    assert_eq!(
        instance_target(&needs.join("console")).unwrap(),
        Some(needs.join("../../getty@tty1"))
    );
    std::os::unix::fs::symlink("/svc/x@.y", needs.join("bad")).unwrap();
    assert!(instance_target(&needs.join("bad"))
        .unwrap_err()
        .contains("starts with '.'"));
    let plain = d.path().join("getty@tty2");
    assert_eq!(instance_target(&plain).unwrap(), Some(plain));
    assert_eq!(instance_target(&d.path().join("nothing")).unwrap(), None);
}
