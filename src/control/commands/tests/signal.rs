//! `SIGNAL` and `RELOAD` against the fake host of `tests.rs`: only a
//! service with an unreaped main process is signalled, with the signal
//! asked for, its reload signal, or to all its processes.

use super::*;

fn signal(name: &str, signal: u8, all: bool) -> Request {
    Request::Signal {
        name: name.into(),
        signal,
        all,
    }
}

/// Proves a service with no main process is refused with ERROR 1 naming
/// its state, and nothing is sent; a bad signal number or an unknown
/// service is ERROR 2.
#[test]
fn only_a_running_service_is_signalled() {
    let mut w = World::new();
    let (code, message) = refusal(w.run(0, signal("db", 10, false)));
    assert_eq!(code, ErrorCode::Failed);
    assert_eq!(message, "db is not running (stopped)");
    let (code, _) = refusal(w.run(0, Request::Reload { name: "db".into() }));
    assert_eq!(code, ErrorCode::Failed);
    for bad in [0, 65, 255] {
        let (code, message) = refusal(w.run(0, signal("db", bad, false)));
        assert_eq!(code, ErrorCode::Usage);
        assert!(message.contains("out of range"), "{message}");
    }
    let (code, _) = refusal(w.run(0, signal("nothing", 10, false)));
    assert_eq!(code, ErrorCode::Usage);
    let (code, _) = refusal(w.run(0, Request::Reload { name: "".into() }));
    assert_eq!(code, ErrorCode::Usage);
    assert_eq!(w.host.sent, vec![]);
}

/// Proves a running service's main pid gets the signal asked for, its
/// reload signal (left to the host) for RELOAD, and `all` is passed on;
/// each answer says what was sent to which pid, and cinit's log says it.
#[test]
fn a_running_service_gets_the_signal() {
    let mut w = World::new();
    let db = w.index("db");
    w.run(
        0,
        Request::Start {
            names: names(&["db"]),
            no_deps: true,
        },
    );
    let pid = w.engine.status(db).unwrap().pid.unwrap();
    let ok = |m: String| Outcome::Reply(Reply::Ok { message: Some(m) });
    assert_eq!(
        w.run(0, signal("db", 10, false)),
        ok(format!("sent SIGUSR1 to db (pid {pid})"))
    );
    assert_eq!(
        w.run(0, signal("db", 40, true)),
        ok(format!("sent 40 to every process of db (pid {pid})"))
    );
    assert_eq!(
        w.run(0, Request::Reload { name: "db".into() }),
        ok(format!("sent SIGHUP to db (pid {pid})"))
    );
    assert_eq!(
        w.host.sent,
        vec![
            (db, pid, Some(10), false),
            (db, pid, Some(40), true),
            (db, pid, None, false)
        ]
    );
    assert!(w
        .host
        .lines
        .contains(&format!("sent SIGHUP to db (pid {pid}) on request")));
}
