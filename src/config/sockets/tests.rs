//! Tests of the `sockets` file format ([`super`]): one per rule, and
//! property tests (no panic on any text; a rendered valid spec parses back).

use super::*;
use crate::config::dirlist::both;
use proptest::prelude::*;

fn one(line: &str) -> SocketSpec {
    let mut v = parse(line).unwrap();
    assert_eq!(v.len(), 1, "{line:?}");
    v.remove(0)
}

fn err(text: &str) -> String {
    parse(text).unwrap_err()
}

fn tcp(s: &str) -> Address {
    Address::Tcp(s.parse().unwrap())
}

#[test]
fn a_file_is_one_socket_per_line_with_comments_and_blank_lines() {
    let text = "# web\n\nhttp tcp:80\n  \t\n   # indented comment\n\
                ctl\tunix:/run/web/ctl   mode=0660 group=web\r\ndns udp:127.0.0.1:53";
    let v = parse(text).unwrap();
    assert_eq!(v.len(), 3);
    assert_eq!(v[0], SocketSpec::new("http", tcp("0.0.0.0:80")));
    assert_eq!(v[1].name, "ctl");
    assert_eq!(
        v[1].address,
        Address::Unix {
            path: "/run/web/ctl".into(),
            dgram: false
        }
    );
    assert_eq!(v[1].mode, 0o660);
    assert_eq!(v[1].group.as_deref(), Some("web"));
    assert_eq!(v[1].owner, None);
    assert_eq!(v[2].address, Address::Udp("127.0.0.1:53".parse().unwrap()));
    assert_eq!(parse("").unwrap(), vec![]);
    assert_eq!(parse("# nothing\n\n").unwrap(), vec![]);
}

#[test]
fn defaults_are_mode_0666_root_and_backlog_128() {
    let s = one("x unix:/run/x");
    assert_eq!(s.mode, 0o666);
    assert_eq!((s.owner, s.group), (None, None));
    assert_eq!(s.backlog, 128);
}

#[test]
fn every_address_form() {
    let unix = |p: &str, dgram| Address::Unix {
        path: p.into(),
        dgram,
    };
    let cases = [
        ("unix:/run/a.sock", unix("/run/a.sock", false)),
        ("unix-dgram:/dev/log", unix("/dev/log", true)),
        ("tcp:127.0.0.1:8080", tcp("127.0.0.1:8080")),
        ("tcp:0.0.0.0:1", tcp("0.0.0.0:1")),
        ("tcp:65535", tcp("0.0.0.0:65535")),
        ("tcp:[::]:80", tcp("[::]:80")),
        ("tcp:[::1]:443", tcp("[::1]:443")),
        ("tcp:[2001:db8::7]:22", tcp("[2001:db8::7]:22")),
        ("udp:53", Address::Udp("0.0.0.0:53".parse().unwrap())),
        (
            "udp:[::1]:5353",
            Address::Udp("[::1]:5353".parse().unwrap()),
        ),
    ];
    for (text, want) in cases {
        assert_eq!(parse_address(text), Ok(want.clone()), "{text}");
        assert_eq!(one(&format!("s {text}")).address, want, "{text}");
    }
    assert!(Address::Tcp("[::]:1".parse().unwrap()).is_stream());
    assert!(unix("/a", false).is_stream());
    assert!(!unix("/a", true).is_stream());
    assert!(!Address::Udp("[::]:1".parse().unwrap()).is_stream());
}

#[test]
fn bad_addresses_say_why() {
    let cases = [
        ("http", "is not an address; write unix:/PATH"),
        ("sctp:80", "\"sctp:80\" is not an address"),
        ("unix:run/x", "unix socket path \"run/x\" is not absolute"),
        ("unix:", "is not absolute"),
        ("unix:/run/dir/", "names a directory"),
        ("unix:/a\0b", "contains a NUL byte"),
        ("tcp:localhost:80", "\"localhost\" is not an IPv4 address or a bracketed IPv6 address (host names are not resolved)"),
        ("tcp:example.org:80", "host names are not resolved"),
        ("tcp:::1:80", "an IPv6 address goes in brackets, as in [::1]:80"),
        ("tcp:[::1:80", "has no closing \"]\""),
        ("tcp:[::1]", "has no port; write [::1]:PORT"),
        ("tcp:[::1]80", "has no port"),
        ("tcp:[localhost]:80", "\"localhost\" is not an IPv6 address"),
        ("tcp:[fe80::1%eth0]:80", "is not an IPv6 address"),
        ("tcp:[127.0.0.1]:80", "is not an IPv6 address"),
        ("tcp:1.2.3:80", "is not an IPv4 address"),
        ("tcp:01.2.3.4:80", "is not an IPv4 address"),
        ("tcp:80x", "\"80x\" is not a port; write 1 to 65535"),
        ("tcp:", "\"\" is not a port"),
        ("udp:65536", "\"65536\" is not a port"),
        ("udp:+53", "is not a port"),
        ("tcp:1.2.3.4:-1", "is not a port"),
        ("tcp:999999", "is not a port"),
        ("tcp:0", "port 0 is one the kernel would pick"),
        ("tcp:127.0.0.1:00", "port 0 is one the kernel would pick"),
    ];
    for (text, want) in cases {
        let e = err(&format!("s {text}"));
        assert!(e.starts_with("line 1: "), "{text:?}: {e}");
        assert!(e.contains(want), "{text:?}: {e}");
    }
}

#[test]
fn unix_paths_fit_sun_path() {
    let longest = format!("/{}", "p".repeat(MAX_UNIX_PATH - 1));
    assert_eq!(longest.len(), 107);
    assert!(parse(&format!("s unix:{longest}")).is_ok());
    let e = err(&format!("s unix:{longest}q"));
    assert_eq!(
        e,
        "line 1: unix socket path is 108 bytes long; at most 107 fit in a socket address"
    );
    // Bytes, not characters.
    let wide = format!("/{}", "é".repeat(54));
    assert_eq!(wide.len(), 109);
    assert!(err(&format!("s unix-dgram:{wide}")).contains("109 bytes"));
}

#[test]
fn names_are_short_safe_words_and_unique() {
    for good in ["a", "http", "web.ctl", "x_1-2", &"n".repeat(64)] {
        assert_eq!(one(&format!("{good} tcp:80")).name, good);
        assert!(valid_name(good));
    }
    for bad in ["ht:tp", "a/b", "é", "a=b", &"n".repeat(65)] {
        let e = err(&format!("{bad} tcp:80"));
        assert!(
            e.starts_with(&format!(
                "line 1: {bad:?} is not a socket name; use 1 to 64"
            )),
            "{e}"
        );
        assert!(!valid_name(bad));
    }
    assert!(!valid_name(""));
    let e = err("a tcp:80\nb tcp:81\n\na unix:/run/a\n");
    assert_eq!(e, "line 4: the name \"a\" is already used on line 1");
}

#[test]
fn a_line_needs_an_address() {
    assert_eq!(
        err("\n\nweb\n"),
        "line 3: socket \"web\" has no address; write NAME ADDRESS [OPTION...]"
    );
}

#[test]
fn two_sockets_may_not_share_an_address() {
    let e = err("a tcp:80\nb tcp:0.0.0.0:80");
    assert_eq!(
        e,
        "line 2: tcp:0.0.0.0:80 is already socket \"a\" on line 1"
    );
    let e = err("a unix:/run/x\nb unix-dgram:/run/x");
    assert_eq!(
        e,
        "line 2: unix-dgram:/run/x is already socket \"a\" on line 1"
    );
    // Another protocol or another host is another address.
    assert_eq!(
        parse("a tcp:80\nb udp:80\nc tcp:127.0.0.1:80\nd tcp:[::]:80")
            .unwrap()
            .len(),
        4
    );
}

#[test]
fn at_most_sixteen_sockets() {
    let lines: Vec<String> = (1..=MAX_SOCKETS)
        .map(|i| format!("s{i} tcp:{}", 1000 + i))
        .collect();
    let text = lines.join("\n");
    assert_eq!(parse(&text).unwrap().len(), 16);
    let e = err(&format!("{text}\n# more:\ns17 tcp:2000\n"));
    assert_eq!(
        e,
        "line 18: more than 16 sockets; a service may have at most 16"
    );
}

#[test]
fn options_mode_owner_group_backlog() {
    let s = one("s unix:/run/s mode=0600 owner=daemon group=100 backlog=4096");
    assert_eq!(s.mode, 0o600);
    assert_eq!(s.owner.as_deref(), Some("daemon"));
    assert_eq!(s.group.as_deref(), Some("100"));
    assert_eq!(s.backlog, 4096);
    assert_eq!(one("s unix:/s mode=660").mode, 0o660);
    assert_eq!(one("s unix:/s mode=0").mode, 0);
    assert_eq!(one("s unix:/s mode=0777").mode, 0o777);
    assert_eq!(one("s tcp:80 backlog=1").backlog, 1);
    assert_eq!(one("s tcp:80 backlog=65535").backlog, 65535);
    assert_eq!(one("s unix:/s owner=0 group=0").owner.as_deref(), Some("0"));
    assert_eq!(
        one("s unix:/s owner=www-data$").owner.as_deref(),
        Some("www-data$")
    );
    assert_eq!(
        one("s unix:/s group=4294967294").group.as_deref(),
        Some("4294967294")
    );
}

#[test]
fn bad_options_say_why() {
    let cases = [
        (
            "tcp:80 mod=0660",
            "unknown option \"mod=0660\"; options are mode=, owner=, group= (unix) and backlog=",
        ),
        ("tcp:80 backlog", "unknown option \"backlog\""),
        ("tcp:80 reuseport=yes", "unknown option \"reuseport=yes\""),
        ("unix:/s mode=0660 mode=0600", "option mode= is given twice"),
        (
            "tcp:80 backlog=5 backlog=6",
            "option backlog= is given twice",
        ),
        ("tcp:80 mode=0660", "mode= applies to unix sockets only"),
        ("udp:53 owner=root", "owner= applies to unix sockets only"),
        (
            "tcp:[::1]:80 group=0",
            "group= applies to unix sockets only",
        ),
        (
            "udp:53 backlog=5",
            "backlog= applies to stream sockets only (unix, tcp), not to datagrams",
        ),
        (
            "unix-dgram:/d backlog=5",
            "backlog= applies to stream sockets only",
        ),
        (
            "unix:/s mode=0668",
            "mode \"0668\" is not an octal mode; write for example 0660",
        ),
        ("unix:/s mode=", "is not an octal mode"),
        ("unix:/s mode=rw", "is not an octal mode"),
        ("unix:/s mode=00660", "is not an octal mode"),
        ("unix:/s mode=4755", "mode 4755 has bits beyond 0777"),
        ("unix:/s owner=", "\"\" is not a user name or number"),
        ("unix:/s owner=a:b", "\"a:b\" is not a user name or number"),
        ("unix:/s owner=-x", "is not a user name or number"),
        ("unix:/s owner=$", "is not a user name or number"),
        ("unix:/s group=a$b", "\"a$b\" is not a group name or number"),
        ("unix:/s group=wheel/x", "is not a group name or number"),
        (
            "unix:/s owner=4294967295",
            "4294967295 is too large for a user id",
        ),
        (
            "unix:/s group=99999999999",
            "99999999999 is too large for a group id",
        ),
        (
            "tcp:80 backlog=0",
            "backlog \"0\" is not a number from 1 to 65535",
        ),
        ("tcp:80 backlog=65536", "backlog \"65536\" is not a number"),
        ("tcp:80 backlog=+5", "backlog \"+5\" is not a number"),
        ("tcp:80 backlog=-1", "is not a number from 1"),
    ];
    for (rest, want) in cases {
        let e = err(&format!("\ns {rest}"));
        assert!(e.starts_with("line 2: "), "{rest:?}: {e}");
        assert!(e.contains(want), "{rest:?}: {e}");
    }
    let long = "u".repeat(33);
    assert!(err(&format!("s unix:/s owner={long}")).contains("is not a user name"));
    assert!(parse(&format!("s unix:/s owner={}", "u".repeat(32))).is_ok());
}

#[test]
fn describe_and_to_line() {
    let s = one("ctl unix:/run/ctl mode=0640 owner=root group=adm backlog=9");
    assert_eq!(s.describe(), "unix /run/ctl");
    assert_eq!(
        s.to_line(),
        "ctl unix:/run/ctl mode=0640 owner=root group=adm backlog=9"
    );
    let s = one("d unix-dgram:/dev/log");
    assert_eq!(s.describe(), "unix-dgram /dev/log");
    assert_eq!(s.to_line(), "d unix-dgram:/dev/log mode=0666");
    let s = one("w tcp:[::]:80");
    assert_eq!(s.describe(), "tcp [::]:80");
    assert_eq!(s.to_line(), "w tcp:[::]:80 backlog=128");
    let s = one("u udp:53");
    assert_eq!(s.describe(), "udp 0.0.0.0:53");
    assert_eq!(s.to_line(), "u udp:0.0.0.0:53");
}

#[test]
fn load_and_read_name_the_file() {
    let d = tempfile::tempdir().unwrap();
    assert_eq!(read(d.path()), Ok(vec![]));
    let path = d.path().join(FILE);
    std::fs::write(&path, "web tcp:8080\n").unwrap();
    assert_eq!(read(d.path()).unwrap().len(), 1);
    std::fs::write(&path, "web tcp:8080\nweb tcp:8081\n").unwrap();
    assert_eq!(
        read(d.path()).unwrap_err(),
        format!(
            "{}: line 2: the name \"web\" is already used on line 1",
            path.display()
        )
    );
    let e = both(d.path(), load).unwrap_err();
    assert_eq!((e.file.as_path(), e.errno), (path.as_path(), None));
    std::fs::write(&path, b"web tcp:80\n\xff\n").unwrap();
    assert_eq!(
        both(d.path(), load).unwrap_err().reason,
        "not text (no UTF-8 after byte 11)"
    );
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    assert_eq!(
        both(d.path(), load).unwrap_err().reason,
        "not a regular file"
    );
}

fn name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_.-]{1,64}"
}

fn id() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        (0u32..u32::MAX).prop_map(|n| Some(n.to_string())),
        "[a-z_][a-z0-9_.-]{0,30}\\$?".prop_map(Some),
    ]
}

fn address() -> impl Strategy<Value = Address> {
    let ip = prop_oneof![
        any::<[u8; 4]>().prop_map(IpAddr::from),
        any::<[u8; 16]>().prop_map(IpAddr::from),
    ];
    let inet = (ip, 1u16..).prop_map(|(ip, port)| SocketAddr::new(ip, port));
    prop_oneof![
        ("/[a-zA-Z0-9_./-]{0,105}[a-z]", any::<bool>()).prop_map(|(p, dgram)| Address::Unix {
            path: p.into(),
            dgram
        }),
        inet.clone().prop_map(Address::Tcp),
        inet.prop_map(Address::Udp),
    ]
}

/// A valid spec: options only where they apply, defaults elsewhere.
fn spec() -> impl Strategy<Value = SocketSpec> {
    (
        name(),
        address(),
        0u32..=0o777,
        id(),
        id(),
        1i32..=MAX_BACKLOG,
    )
        .prop_map(|(name, address, mode, owner, group, backlog)| {
            let mut s = SocketSpec::new(&name, address);
            if let Address::Unix { .. } = s.address {
                (s.mode, s.owner, s.group) = (mode, owner, group);
            }
            if s.address.is_stream() {
                s.backlog = backlog;
            }
            s
        })
}

proptest! {
    #[test]
    fn parse_never_panics_on_arbitrary_text(text in "\\PC{0,300}") {
        let _ = parse(&text);
    }

    #[test]
    fn parse_never_panics_on_near_misses(
        words in proptest::collection::vec(
            "(unix|unix-dgram|tcp|udp|mode|owner|group|backlog|\\[|\\]|:|=|/|[0-9]{1,6}|[a-z]{1,3}|#| |\t|\n){1,12}",
            0..6,
        )
    ) {
        let text = words.join(" ");
        if let Err(e) = parse(&text) {
            prop_assert!(e.starts_with("line "), "{}", e);
        }
    }

    #[test]
    fn a_rendered_valid_spec_parses_back(s in spec()) {
        prop_assert_eq!(parse(&s.to_line()), Ok(vec![s.clone()]));
        // With a comment and blank lines around it, too.
        prop_assert_eq!(parse(&format!("# x\n\n  {}  \n", s.to_line())), Ok(vec![s]));
    }

    #[test]
    fn a_rendered_valid_file_parses_back(specs in proptest::collection::vec(spec(), 0..=MAX_SOCKETS)) {
        // Keep the first of each name and address, as parse demands.
        let mut unique: Vec<SocketSpec> = Vec::new();
        for s in specs {
            if !unique.iter().any(|u| u.name == s.name || u.address.clashes(&s.address)) {
                unique.push(s);
            }
        }
        let text: Vec<String> = unique.iter().map(SocketSpec::to_line).collect();
        prop_assert_eq!(parse(&text.join("\n")), Ok(unique));
    }
}

/// `clash_key` agrees with `clashes` on every pair: equal keys exactly when
/// two addresses cannot both be bound, so `cinit-ctl check`'s map of keys
/// finds the clashes a comparison with every earlier address would find.
#[test]
fn clash_keys_are_equal_exactly_when_addresses_clash() {
    let unix = |p: &str, dgram| Address::Unix {
        path: PathBuf::from(p),
        dgram,
    };
    let all = [
        unix("/run/a", false),
        unix("/run/a", true),
        unix("/run/b", false),
        tcp("0.0.0.0:80"),
        tcp("127.0.0.1:80"),
        tcp("0.0.0.0:81"),
        Address::Udp("0.0.0.0:80".parse().unwrap()),
    ];
    for a in &all {
        for b in &all {
            assert_eq!(a.clashes(b), a.clash_key() == b.clash_key(), "{a:?} {b:?}");
        }
    }
}
