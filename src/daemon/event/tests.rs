//! Unit tests of the daemon's adapters, without a system: who may use a
//! service's descriptors, what a requested update does next, how a batch
//! of requests is served, and which pending operations are answered, kept
//! or forgotten. Against the fake host and the service tree of
//! [`crate::control::commands`]' tests (no fork, no socket); the
//! system-action decisions are in [`crate::daemon::lifecycle`]'s tests.

use super::check::{next, Next};
use super::fds::{fd_service, may_pass_fds};
use super::serve::{answer_pending, serve_batch, MAX_ORPHANED_RESTARTS};
use super::*;
use crate::control::commands::tests::{names, World, CLIENT, NOW, USER};
use crate::control::commands::Outcome;
use crate::control::peer::Session;
use crate::control::Incoming;
use crate::proto::{ErrorCode, Request, SystemAction};
use std::path::PathBuf;

/// `web` and `db` started (the fake spawns them at once); `web`'s pid.
fn running(w: &mut World) -> Pid {
    let start = Request::Start {
        names: names(&["web"]),
        no_deps: false,
    };
    assert!(matches!(w.run(0, start), Outcome::Pending(_)));
    let web = w.index("web");
    w.engine.status(web).and_then(|s| s.pid).unwrap()
}

fn list(service: &str) -> Request {
    Request::FdList {
        service: service.to_string(),
    }
}

/// `service` as an fd request of `uid` whose session is `session`.
fn fd_of(w: &mut World, uid: u32, service: &str, session: Session) -> Result<usize, Reply> {
    fd_service(&mut w.services(), &list(service), uid, 42, || session)
}

fn code(r: Result<usize, Reply>) -> (ErrorCode, String) {
    match r {
        Err(Reply::Error { code, message }) => (code, message),
        other => panic!("expected an error, got {other:?}"),
    }
}

/// Proves root naming a service gets it, loaded on demand if need be,
/// without its session being asked for (a panicking `session` would
/// fail), and a name that is no service is a usage error.
#[test]
fn root_naming_a_service_needs_no_session() {
    let mut w = World::new();
    let never = || -> Session { panic!("the session was asked for") };
    let web = w.index("web");
    let got = fd_service(&mut w.services(), &list("web"), 0, 42, never);
    assert_eq!(got, Ok(web));
    let got = fd_service(&mut w.services(), &list("private"), 0, 42, never);
    assert_eq!(got, Ok(w.index("private")), "loaded on demand");
    let got = fd_service(&mut w.services(), &list("absent"), 0, 42, never);
    let (c, m) = code(got);
    assert_eq!(c, ErrorCode::Usage);
    assert!(m.starts_with("no such service: absent"), "{m}");
}

/// Proves an empty name is the caller's own service, for root and others
/// alike: the service whose main process leads the caller's session; a
/// caller in no service's session (outside our PID namespace, or no
/// session read) is told to name one, and a caller whose process has gone
/// is refused.
#[test]
fn an_empty_name_is_the_callers_own_service() {
    let mut w = World::new();
    let pid = running(&mut w);
    let web = w.index("web");
    for uid in [0, USER] {
        assert_eq!(fd_of(&mut w, uid, "", Session::In(Some(pid))), Ok(web));
        for none in [Session::Outside, Session::In(None), Session::In(Some(9999))] {
            let (c, m) = code(fd_of(&mut w, uid, "", none));
            assert_eq!(c, ErrorCode::Usage, "{none:?}");
            assert!(
                m.starts_with("no service given, and the caller (pid 42)"),
                "{m}"
            );
        }
        let (c, m) = code(fd_of(&mut w, uid, "", Session::Gone));
        assert_eq!(c, ErrorCode::Permission);
        assert!(m.contains("(pid 42) has gone"), "{m}");
    }
}

/// Proves a caller other than root may name only its own service, spelt
/// any plain way as text; another service, one not loaded, one that does
/// not exist and a gone caller are all refused with permission denied,
/// the message depending on the name only, and nothing is loaded.
#[test]
fn others_may_name_their_own_service_only_as_text() {
    let mut w = World::new();
    let pid = running(&mut w);
    let web = w.index("web");
    let own = Session::In(Some(pid));
    assert_eq!(fd_of(&mut w, USER, "web", own), Ok(web));
    assert_eq!(fd_of(&mut w, USER, "./web/", own), Ok(web));
    let refusal = |name: &str| {
        format!(
            "permission denied: only root or a process of {name} may use its \
             descriptors (you are uid {USER})"
        )
    };
    for name in ["db", "private", "absent", "web/../db"] {
        for session in [own, Session::Outside, Session::In(None)] {
            let got = code(fd_of(&mut w, USER, name, session));
            assert_eq!(got, (ErrorCode::Permission, refusal(name)), "{name}");
        }
    }
    let private = w.svc_root().join("private");
    assert_eq!(w.tree.index_of_dir(&private), None, "nothing loaded");
    let (c, _) = code(fd_of(&mut w, USER, "web", Session::Gone));
    assert_eq!(c, ErrorCode::Permission);
    let (c, _) = code(fd_service(
        &mut w.services(),
        &Request::Version,
        0,
        1,
        || own,
    ));
    assert_eq!(c, ErrorCode::Usage, "not an fd request");
}

/// Proves who may pass descriptors at all: root, without its session
/// being asked for; otherwise only a process in the session of a service
/// that has an `fdstore` file, and nobody whose session is unknown or
/// leads no service.
#[test]
fn only_root_and_services_with_an_fd_store_may_pass_descriptors() {
    let mut w = World::new();
    let pid = running(&mut w);
    let web = w.index("web");
    let dirs: Vec<PathBuf> = w.tree.dirs.clone();
    let dir = |svc: usize| dirs.get(svc).map(PathBuf::as_path);
    let never = || -> Option<i32> { panic!("the session was asked for") };
    assert!(may_pass_fds(&w.engine, 0, never, dir));
    assert!(!may_pass_fds(&w.engine, USER, || Some(pid), dir), "no file");
    std::fs::write(dirs[web].join(crate::fds::store::CAPACITY_FILE), "4\n").unwrap();
    assert!(may_pass_fds(&w.engine, USER, || Some(pid), dir));
    assert!(!may_pass_fds(&w.engine, USER, || None, dir));
    assert!(!may_pass_fds(&w.engine, USER, || Some(9999), dir));
}

/// Proves an update asked for starts a preflight when none runs; one asked
/// for while a preflight runs joins it (followed, not started again); a
/// shutdown or rescue under way calls off both; and with nothing asked
/// nothing happens, even while going down.
#[test]
fn an_update_joins_the_running_preflight_and_yields_to_a_shutdown() {
    // (requested, running, going down)
    let table = [
        ((false, false, false), Next::Idle),
        ((false, false, true), Next::Idle),
        ((true, false, false), Next::Begin),
        ((true, true, false), Next::Follow),
        ((false, true, false), Next::Follow),
        ((true, false, true), Next::Overtaken),
        ((true, true, true), Next::Overtaken),
        ((false, true, true), Next::Overtaken),
    ];
    for ((requested, running, down), want) in table {
        assert_eq!(
            next(requested, running, down),
            want,
            "{requested} {running} {down}"
        );
    }
}

/// Restart `p` as asked for by `client` instead.
fn restart(p: &Pending, client: u64) -> Pending {
    let Pending::Restart {
        roots,
        deps,
        starting,
        ..
    } = p.clone()
    else {
        panic!("not a restart: {p:?}")
    };
    Pending::Restart {
        client,
        roots,
        deps,
        starting,
    }
}

/// A restart of `db` (and so `web`), before the services have gone down.
fn restart_of(w: &mut World) -> Pending {
    let req = Request::Restart {
        names: names(&["db"]),
    };
    match w.run(0, req) {
        Outcome::Pending(p) => p,
        other => panic!("{other:?}"),
    }
}

/// Proves restarts whose clients have gone are kept going, but at most
/// [`MAX_ORPHANED_RESTARTS`] of them (the first ones), while a connected
/// client's is kept whatever their number; a departed client's start is
/// forgotten without taking one of those places, and nobody is answered
/// while the services stop.
#[test]
fn at_most_so_many_restarts_outlive_their_clients() {
    let mut w = World::new();
    running(&mut w);
    let first = restart_of(&mut w);
    // A departed client's start first: it takes none of the places.
    let mut pending = vec![Pending::Start {
        client: 1,
        svcs: vec![w.index("web")],
    }];
    pending.extend((0..70).map(|c| restart(&first, CLIENT + c)));
    pending.push(restart(&first, 2));
    let mut replies = Vec::new();
    let connected = |c| c == 2;
    answer_pending(
        &mut w.services(),
        &mut pending,
        NOW + 1,
        connected,
        |c, r| replies.push((c, r)),
    );
    assert_eq!(replies, vec![]);
    let clients: Vec<u64> = pending.iter().map(Pending::client).collect();
    let mut want: Vec<u64> = (0..MAX_ORPHANED_RESTARTS as u64)
        .map(|c| CLIENT + c)
        .collect();
    want.push(2);
    assert_eq!(clients, want);
}

/// Proves a restart whose client has gone still starts its services again
/// once they are down, and is then forgotten unanswered, while a connected
/// client's completed operation is answered, once.
#[test]
fn a_departed_clients_restart_still_starts_again() {
    let mut w = World::new();
    running(&mut w);
    let (web, db) = (w.index("web"), w.index("db"));
    let start = Pending::Start {
        client: 2,
        svcs: vec![web],
    };
    let mut pending = vec![restart_of(&mut w), start];
    w.exit(NOW + 1, web);
    w.exit(NOW + 2, db);
    let spawns = w.host.spawned.len();
    let mut replies = Vec::new();
    let connected = |c| c == 2;
    answer_pending(
        &mut w.services(),
        &mut pending,
        NOW + 3,
        connected,
        |c, r| replies.push((c, r)),
    );
    let again: Vec<usize> = w.host.spawned[spawns..].iter().map(|s| s.0).collect();
    assert_eq!(again, vec![db, web], "started again");
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].0, 2);
    assert_eq!(pending, vec![]);
}

/// `request` from `client` (as `uid`), with no descriptors.
fn incoming(client: u64, uid: u32, request: Request) -> Incoming {
    Incoming {
        client,
        uid,
        pid: 42,
        request,
        fds: Vec::new(),
    }
}

/// Proves a batch is carried out in the order it came (the status asked
/// for after a start sees the start's services running), while its fd
/// requests and system actions are only handed back, each kind in its
/// order, for after the whole batch; and an unprivileged wait beyond the
/// cap is refused with a reply instead of being kept.
#[test]
fn a_batch_is_served_in_order_with_fd_requests_and_system_actions_after() {
    let mut w = World::new();
    let start = Request::Start {
        names: names(&["web"]),
        no_deps: false,
    };
    let wait = Request::Wait {
        names: names(&["web"]),
    };
    let mut pending: Vec<Pending> = (0..crate::control::wait::MAX_UNPRIVILEGED_WAITS)
        .map(|c| Pending::Wait {
            client: 100 + c as u64,
            svcs: vec![w.index("web")],
            uid: USER,
        })
        .collect();
    let before = pending.len();
    let batch = vec![
        incoming(1, 0, Request::System(SystemAction::Reboot)),
        incoming(2, USER, list("")),
        incoming(3, 0, start),
        incoming(4, 0, Request::Status { names: vec![] }),
        incoming(5, 0, Request::System(SystemAction::Halt)),
        incoming(6, 0, list("web")),
        incoming(7, USER, wait),
    ];
    let mut replies = Vec::new();
    let (fd, system) = serve_batch(&mut w.services(), NOW, batch, &mut pending, |c, r| {
        replies.push((c, r))
    });
    let fd: Vec<u64> = fd.iter().map(|i| i.client).collect();
    assert_eq!(fd, vec![2, 6]);
    let want = vec![(1, SystemAction::Reboot), (5, SystemAction::Halt)];
    assert_eq!(system, want);
    let answered: Vec<u64> = replies.iter().map(|r| r.0).collect();
    assert_eq!(answered, vec![4, 7]);
    let (Reply::Services(listed)
    | Reply::Status {
        services: listed, ..
    }) = &replies[0].1
    else {
        panic!("{:?}", replies[0].1)
    };
    let states: Vec<&str> = listed.iter().map(|s| s.state.as_str()).collect();
    assert_eq!(states, vec!["running", "running"], "after the start");
    assert!(matches!(&replies[1].1, Reply::Error { .. }), "wait refused");
    assert_eq!(pending.len(), before + 1, "the start only");
    assert_eq!(pending.last().map(Pending::client), Some(3));
}
