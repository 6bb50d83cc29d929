use super::*;
use crate::config::dirlist::both;
use crate::engine::probe::{CONNECT_TRY_MS, EXEC_TRY_MS};

fn parse(data: &str) -> Result<Probe, String> {
    parse_probe(Path::new("svc/x/ready-probe"), data.as_bytes()).map_err(|e| e.to_string())
}

fn tcp(s: &str) -> Probe {
    Probe::Tcp(s.parse().unwrap())
}

#[test]
fn good_lines_parse_and_print_back() {
    assert_eq!(parse("tcp:127.0.0.1:80\n"), Ok(tcp("127.0.0.1:80")));
    assert_eq!(parse("tcp:localhost:8080"), Ok(tcp("127.0.0.1:8080")));
    assert_eq!(parse("  tcp:[::1]:22 \n"), Ok(tcp("[::1]:22")));
    assert_eq!(parse("tcp:0.0.0.0:65535"), Ok(tcp("0.0.0.0:65535")));
    assert_eq!(
        parse("unix:/run/nginx.sock"),
        Ok(Probe::Unix("/run/nginx.sock".into()))
    );
    assert_eq!(
        parse("exec /bin/check --quick  -v\n"),
        Ok(Probe::Exec(vec![
            "/bin/check".into(),
            "--quick".into(),
            "-v".into()
        ]))
    );
    assert_eq!(
        parse("exec\t./check"),
        Ok(Probe::Exec(vec!["./check".into()]))
    );
    for line in [
        "tcp:127.0.0.1:80",
        "tcp:[::1]:22",
        "unix:/run/a b.sock",
        "exec /bin/check a b",
    ] {
        let p = parse(line).unwrap();
        assert_eq!(p.line(), line);
        assert_eq!(parse_line(&p.line()), Ok(p));
    }
    // A path as long as allowed: the connect does not use sun_path.
    let long = format!("unix:/{}", "d/".repeat(1000) + "s");
    assert!(parse(&long).is_ok());
}

#[test]
fn bad_lines_say_what_is_wrong_and_name_the_file() {
    let cases = [
        ("", "empty; write one line"),
        ("\n \n", "empty"),
        ("tcp:127.0.0.1:80\nexec /bin/true", "more than one line"),
        (
            "tcp:example.com:80",
            "\"example.com\" is not an IP address; cinit resolves no host names",
        ),
        ("tcp:db:5432", "resolves no host names"),
        ("tcp:::1:80", "an IPv6 address goes in brackets"),
        ("tcp:[::1:80", "no closing ]"),
        ("tcp:[::1]80", "no :PORT after the address"),
        ("tcp:[zz]:80", "is not an IPv6 address"),
        ("tcp:127.0.0.1", "no :PORT"),
        ("tcp:127.0.0.1:0", "is not a port"),
        ("tcp:127.0.0.1:65536", "is not a port"),
        ("tcp:127.0.0.1:+80", "is not a port"),
        ("tcp:127.0.0.1:", "is not a port"),
        ("unix:run/x.sock", "not an absolute path"),
        ("unix:/run/../x.sock", "a .. component"),
        ("unix:/run/", "no file name"),
        ("unix:", "not an absolute path"),
        ("exec", "exec without a program"),
        ("exec   ", "exec without a program"),
        ("http://127.0.0.1/", "is not a probe"),
        ("TCP:127.0.0.1:80", "is not a probe"),
        ("execute /bin/true", "is not a probe"),
    ];
    for (data, want) in cases {
        let e = parse(data).unwrap_err();
        assert!(e.starts_with("svc/x/ready-probe: "), "{data:?}: {e}");
        assert!(e.contains(want), "{data:?}: {e}");
    }
    let too_long = format!("unix:/{}", "x".repeat(MAX_UNIX_PATH));
    assert!(parse(&too_long).unwrap_err().contains("longer than 4095"));
    let e = parse_probe(Path::new("p"), b"tcp:\xff").unwrap_err();
    assert!(e.reason.starts_with("not text"), "{e}");
    assert!(parse("unix:/a\0b").unwrap_err().contains("NUL"));
}

#[test]
fn the_reader_treats_absence_as_unset() {
    let d = tempfile::tempdir().unwrap();
    assert_eq!(both(d.path(), read_ready_probe).unwrap(), None);
    std::fs::write(d.path().join(READY_PROBE), "tcp:127.0.0.1:1\n").unwrap();
    assert_eq!(
        both(d.path(), read_ready_probe).unwrap(),
        Some(tcp("127.0.0.1:1"))
    );
    std::fs::write(d.path().join(READY_PROBE), "tcp:host:1\n").unwrap();
    let e = both(d.path(), read_ready_probe).unwrap_err();
    assert_eq!(e.file, d.path().join(READY_PROBE));
}

/// 10 ms after the spawn, then doubling: 20, 40, … 640, then 1 s for good.
#[test]
fn backoff_doubles_from_10_ms_to_at_most_1_s() {
    let gaps: Vec<Millis> = (0..10).map(gap).collect();
    assert_eq!(gaps, [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000]);
    assert_eq!(gap(u32::MAX), MAX_GAP_MS);
}

/// A run waits for its first try 10 ms after the spawn; a try has its own
/// deadline; each failure schedules the next try one gap after it.
#[test]
fn a_run_alternates_between_waiting_and_one_try() {
    let mut r = Run::new(3, 42, 1000);
    assert_eq!(r.step(), Step::Wait { at: 1010 });
    assert!(!r.is_due(1009));
    assert!(r.is_due(1010));
    assert!(!r.is_overdue(5000), "waiting is never overdue");
    r.begin(1010, CONNECT_TRY_MS);
    assert_eq!(r.step(), Step::Try { deadline: 2010 });
    assert_eq!(r.deadline(), 2010);
    assert!(!r.is_due(3000), "a try under way is not due again");
    assert!(!r.is_overdue(2009));
    assert!(r.is_overdue(2010));
    r.fail(1011);
    assert_eq!(r.failed(), 1);
    assert_eq!(r.step(), Step::Wait { at: 1031 });
    let mut at = 1031;
    for _ in 0..20 {
        r.begin(at, EXEC_TRY_MS);
        r.fail(at);
        at = r.deadline();
    }
    assert_eq!(r.failed(), 21);
    r.begin(at, 1);
    r.fail(at);
    assert_eq!(r.deadline(), at + MAX_GAP_MS);
    assert_eq!((r.svc, r.pid), (3, 42));
}

#[test]
fn each_kind_has_its_own_try_limit() {
    assert_eq!(tcp("127.0.0.1:1").try_limit(), CONNECT_TRY_MS);
    assert_eq!(Probe::Unix("/s".into()).try_limit(), CONNECT_TRY_MS);
    assert_eq!(Probe::Exec(vec!["/x".into()]).try_limit(), EXEC_TRY_MS);
}

#[test]
fn only_a_respawn_service_without_notification_fd_may_have_a_probe() {
    assert_eq!(conflict(true, false), None);
    assert!(conflict(false, false).unwrap().contains("once service"));
    assert!(conflict(false, true).unwrap().contains("once service"));
    assert!(conflict(true, true).unwrap().contains("choose one"));
}
