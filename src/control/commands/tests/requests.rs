//! The requests that change services or wait: what each one starts or
//! stops, the [`Pending`] it becomes, and when [`progress`] answers it;
//! also status, log, system and fd requests. Against the fake host of
//! `tests.rs`.

use super::*;

/// Proves a start requests the named services with their needs (both `db`
/// and `web` spawned, `db` first), becomes a pending start of the named
/// ones only, each named once however it is spelled, and is answered once
/// they are settled, with their state.
#[test]
fn start_waits_for_the_named_services() {
    let mut w = World::new();
    let (web, db) = (w.index("web"), w.index("db"));
    let got = w.run(
        0,
        Request::Start {
            names: names(&["web", "./web", "web/"]),
            no_deps: false,
        },
    );
    let mut p = match got {
        Outcome::Pending(p) => p,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        p,
        Pending::Start {
            client: CLIENT,
            svcs: vec![web]
        }
    );
    let spawned: Vec<usize> = w.host.spawned.iter().map(|s| s.0).collect();
    assert_eq!(spawned, vec![db, web]);
    let reply = w.progress(NOW + 1, &mut p).unwrap();
    assert_eq!(listed(&reply), vec![row("web", "running", false)]);
}

/// Proves `--no-deps` starts only the named service: `web` is spawned, its
/// need `db` is not.
#[test]
fn start_without_needs_starts_the_one_named() {
    let mut w = World::new();
    let web = w.index("web");
    let got = w.run(
        0,
        Request::Start {
            names: names(&["web"]),
            no_deps: true,
        },
    );
    assert_eq!(
        got,
        Outcome::Pending(Pending::Start {
            client: CLIENT,
            svcs: vec![web]
        })
    );
    let spawned: Vec<usize> = w.host.spawned.iter().map(|s| s.0).collect();
    assert_eq!(spawned, vec![web]);
}

/// Proves a request naming no service, or one unknown service among known
/// ones, is refused as a whole: nothing starts.
#[test]
fn one_bad_name_refuses_the_request() {
    let mut w = World::new();
    let got = w.run(
        0,
        Request::Start {
            names: vec![],
            no_deps: false,
        },
    );
    assert_eq!(
        refusal(got),
        (ErrorCode::Usage, "no service named".to_string())
    );
    let got = w.run(
        0,
        Request::Start {
            names: names(&["db", "absent"]),
            no_deps: false,
        },
    );
    assert_eq!(refusal(got).0, ErrorCode::Usage);
    assert_eq!(w.host.spawned, vec![]);
}

/// Start `web` and `db`; their pids.
fn both_running(w: &mut World) -> (Pid, Pid) {
    w.run(
        0,
        Request::Start {
            names: names(&["web"]),
            no_deps: false,
        },
    );
    let pid = |svc| w.host.spawned.iter().find(|s| s.0 == svc).unwrap().1;
    (pid(w.index("web")), pid(w.index("db")))
}

/// Proves a stop takes the services that need the named one down first:
/// the pending stop lists `db` as the root and `web` as its dependent;
/// `web` gets SIGTERM at once and `db` only once `web` has exited; it is
/// not answered while either runs, and once both have exited the reply
/// lists the dependent (marked) before the named one.
#[test]
fn stop_takes_the_dependents_down_and_answers_when_down() {
    let mut w = World::new();
    let (web, db) = (w.index("web"), w.index("db"));
    let (web_pid, db_pid) = both_running(&mut w);
    let mut p = match w.run(
        0,
        Request::Stop {
            names: names(&["db"]),
        },
    ) {
        Outcome::Pending(p) => p,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        p,
        Pending::Stop {
            client: CLIENT,
            roots: vec![db],
            deps: vec![web]
        }
    );
    let terms = |w: &World| -> Vec<Pid> {
        w.host
            .signalled
            .iter()
            .filter(|s| s.1 == Signal::SIGTERM)
            .map(|s| s.0)
            .collect()
    };
    assert_eq!(terms(&w), vec![web_pid]);
    assert_eq!(w.progress(NOW + 1, &mut p), None);
    w.exit(NOW + 2, web);
    assert_eq!(terms(&w), vec![web_pid, db_pid]);
    assert_eq!(w.progress(NOW + 3, &mut p), None, "db still runs");
    w.exit(NOW + 4, db);
    let reply = w.progress(NOW + 5, &mut p).unwrap();
    assert_eq!(
        listed(&reply),
        vec![row("web", "stopped", true), row("db", "stopped", false)]
    );
}

/// Proves a service stopped on request gives up its held descriptors once
/// down, and cinit's log says how many it closed; a service with none
/// (`web`) is released silently. Nothing is released before they are down.
#[test]
fn a_stop_releases_held_descriptors_and_says_so() {
    let mut w = World::new();
    let (web, db) = (w.index("web"), w.index("db"));
    both_running(&mut w);
    w.host.held.insert(db, 2);
    let Outcome::Pending(mut p) = w.run(
        0,
        Request::Stop {
            names: names(&["db"]),
        },
    ) else {
        panic!("no pending stop");
    };
    w.progress(NOW + 1, &mut p);
    assert_eq!(w.host.released, vec![]);
    w.exit(NOW + 2, web);
    w.exit(NOW + 3, db);
    let before = w.host.lines.len();
    assert!(w.progress(NOW + 4, &mut p).is_some());
    let mut released = w.host.released.clone();
    released.sort();
    assert_eq!(released, vec![web.min(db), web.max(db)]);
    assert_eq!(
        w.host.lines[before..],
        ["db: closed its 2 held descriptor(s) (stopped on request)".to_string()]
    );
}

/// Proves the later request wins: `db`, whose stop waits for `web` to go
/// down, is started again meanwhile; the stop is answered once `web` is
/// down, with `db` still running, and only `web` gives up its held
/// descriptors (`db` was never down for the stop's sake).
#[test]
fn a_service_started_again_keeps_its_descriptors() {
    let mut w = World::new();
    let (web, db) = (w.index("web"), w.index("db"));
    both_running(&mut w);
    w.host.held.insert(db, 1);
    let Outcome::Pending(mut p) = w.run(
        0,
        Request::Stop {
            names: names(&["db"]),
        },
    ) else {
        panic!("no pending stop");
    };
    w.run(
        0,
        Request::Start {
            names: names(&["db"]),
            no_deps: false,
        },
    );
    w.exit(NOW + 1, web);
    let reply = w.progress(NOW + 2, &mut p).unwrap();
    assert_eq!(
        listed(&reply),
        vec![row("web", "stopped", true), row("db", "running", false)]
    );
    assert_eq!(w.host.released, vec![web]);
    assert_eq!(w.host.held.get(&db), Some(&1));
}

/// Proves a restart stops the named service and its dependents, outlives
/// its client until they are down, then starts them all again (new pids)
/// and is answered once they are settled, dependents first.
#[test]
fn restart_stops_then_starts_again() {
    let mut w = World::new();
    let (web, db) = (w.index("web"), w.index("db"));
    both_running(&mut w);
    let Outcome::Pending(mut p) = w.run(
        0,
        Request::Restart {
            names: names(&["db"]),
        },
    ) else {
        panic!("no pending restart");
    };
    let want = Pending::Restart {
        client: CLIENT,
        roots: vec![db],
        deps: vec![web],
        starting: false,
    };
    assert_eq!(p, want);
    assert!(p.outlives_client());
    assert_eq!(w.progress(NOW + 1, &mut p), None);
    let spawns = w.host.spawned.len();
    w.exit(NOW + 2, web);
    w.exit(NOW + 3, db);
    let reply = w.progress(NOW + 4, &mut p).unwrap();
    assert!(matches!(p, Pending::Restart { starting: true, .. }));
    let again: Vec<usize> = w.host.spawned[spawns..].iter().map(|s| s.0).collect();
    assert_eq!(again, vec![db, web]);
    assert_eq!(
        listed(&reply),
        vec![row("web", "running", true), row("db", "running", false)]
    );
    assert_eq!(w.host.released, vec![], "a restart keeps descriptors");
}

/// Proves status lists every loaded service when no name is given, headed
/// by the host's shortage notes when there are any; asked by name, it
/// lists that service only, without the notes.
#[test]
fn status_lists_services_and_heads_them_with_shortages() {
    let mut w = World::new();
    let Outcome::Reply(all) = w.run(USER, status(&[])) else {
        panic!("no reply");
    };
    assert_eq!(
        listed(&all),
        vec![row("web", "stopped", false), row("db", "stopped", false)]
    );
    assert!(matches!(all, Reply::Services(_)));
    w.host.notes = vec!["out of memory".into()];
    let Outcome::Reply(all) = w.run(USER, status(&[])) else {
        panic!("no reply");
    };
    assert!(
        matches!(&all, Reply::Status { notes, services } if *notes == w.host.notes && services.len() == 2)
    );
    let Outcome::Reply(one) = w.run(USER, status(&["db"])) else {
        panic!("no reply");
    };
    assert!(matches!(one, Reply::Services(_)));
    assert_eq!(listed(&one), vec![row("db", "stopped", false)]);
}

/// Proves a log request becomes a reader of the right log: cinit's own
/// without a name, the named service's ring when it has one (its newest
/// lines counted from there), a log not begun yet otherwise; an unknown
/// name is a usage error.
#[test]
fn log_reads_the_named_ring() {
    let mut w = World::new();
    let db = w.index("db");
    let mut ring = Ring::new(4096);
    for n in 0..5 {
        ring.push(n, n, format!("line {n}"));
    }
    let own = w.run(
        0,
        Request::Log {
            name: None,
            lines: 2,
            follow: true,
        },
    );
    let want = LogFollow::new(CLIENT, None, Some(&w.host.own), 2, true);
    assert_eq!(own, Outcome::Pending(Pending::Log(want)));
    let none_yet = w.run(
        0,
        Request::Log {
            name: Some("db".into()),
            lines: 2,
            follow: false,
        },
    );
    let want = LogFollow::new(CLIENT, Some(db), None, 2, false);
    assert_eq!(none_yet, Outcome::Pending(Pending::Log(want)));
    w.host.svc_log = Some((db, ring.clone()));
    let got = w.run(
        0,
        Request::Log {
            name: Some("db".into()),
            lines: 2,
            follow: false,
        },
    );
    let want = LogFollow::new(CLIENT, Some(db), Some(&ring), 2, false);
    assert_ne!(want, LogFollow::new(CLIENT, Some(db), None, 2, false));
    assert_eq!(got, Outcome::Pending(Pending::Log(want)));
    let got = w.run(
        0,
        Request::Log {
            name: Some("absent".into()),
            lines: 0,
            follow: false,
        },
    );
    assert_eq!(refusal(got).0, ErrorCode::Usage);
}

/// Proves system actions are not carried out here: each comes back as
/// `Outcome::System` for the daemon, and the fd requests (which need the
/// descriptors and the caller's process) are refused if they get here.
#[test]
fn system_actions_go_to_the_daemon() {
    let mut w = World::new();
    for action in [
        SystemAction::Reboot,
        SystemAction::Halt,
        SystemAction::Poweroff,
        SystemAction::Rescue,
        SystemAction::Update,
    ] {
        assert_eq!(w.run(0, Request::System(action)), Outcome::System(action));
    }
    let got = w.run(
        0,
        Request::FdList {
            service: "db".into(),
        },
    );
    let want = (
        ErrorCode::Failed,
        "fd requests are not handled here".to_string(),
    );
    assert_eq!(refusal(got), want);
}
