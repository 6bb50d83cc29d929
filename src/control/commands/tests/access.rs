//! Who may do what, and which names reach which service: permissions,
//! names read on disk (root) or as text (everyone else), and the refusals
//! while the system goes down. Against the fake host of `tests.rs`.

use super::*;

/// Proves every request that changes something needs root: start, stop,
/// restart, log, a system action and the fd requests are each refused to
/// another user with a permission error naming the verb and the uid, and
/// nothing was started or stopped.
#[test]
fn changes_need_root() {
    let mut w = World::new();
    let svc = |n: &str| names(&[n]);
    for (req, verb) in [
        (
            Request::Start {
                names: svc("db"),
                no_deps: false,
            },
            "start",
        ),
        (Request::Stop { names: svc("db") }, "stop"),
        (Request::Restart { names: svc("db") }, "restart"),
        (
            Request::Log {
                name: None,
                lines: 0,
                follow: false,
            },
            "log",
        ),
        (Request::System(SystemAction::Reboot), "reboot"),
        (
            Request::FdList {
                service: "db".into(),
            },
            "fdstore",
        ),
        (
            Request::Signal {
                name: "db".into(),
                signal: 10,
                all: true,
            },
            "signal",
        ),
        (Request::Reload { name: "db".into() }, "reload"),
    ] {
        let (code, message) = refusal(w.run(USER, req));
        assert_eq!(code, ErrorCode::Permission);
        assert_eq!(
            message,
            format!("permission denied: {verb} needs root (you are uid {USER})")
        );
    }
    assert_eq!(w.host.spawned, vec![]);
    assert_eq!(w.host.signalled, vec![]);
    assert_eq!(w.host.sent, vec![]);
}

/// Proves the read-only requests are any user's: version, status, wait,
/// analyze and an unknown opcode get their usual answers for a user other
/// than root.
#[test]
fn reading_is_anyones() {
    let mut w = World::new();
    let db = w.index("db");
    assert!(matches!(
        w.run(USER, Request::Version),
        Outcome::Reply(Reply::Version { .. })
    ));
    assert!(matches!(
        w.run(USER, status(&["db"])),
        Outcome::Reply(Reply::Services(_))
    ));
    assert_eq!(
        w.run(
            USER,
            Request::Wait {
                names: names(&["db"])
            }
        ),
        Outcome::Pending(Pending::Wait {
            client: CLIENT,
            svcs: vec![db],
            uid: USER
        })
    );
    assert!(matches!(
        w.run(USER, Request::Analyze),
        Outcome::Reply(Reply::Timeline(_))
    ));
    assert_eq!(
        w.run(USER, Request::Unknown(0x7e)),
        Outcome::Reply(Reply::Unsupported { opcode: 0x7e })
    );
}

/// Proves a user other than root names services as text only: a loaded
/// one is found, and a service that exists but is not loaded, one that
/// does not exist, a directory outside the tree and a `..` path all get
/// the same refusal but for the name; nothing was loaded.
#[test]
fn others_name_only_loaded_services_and_learn_nothing_else() {
    let mut w = World::new();
    let (loaded, dirs) = (w.tree.len(), w.host.dirs.len());
    let listed_db = w.run(USER, status(&["db"]));
    assert!(matches!(listed_db, Outcome::Reply(Reply::Services(ref s)) if s.len() == 1));
    for name in [
        "private",
        "absent",
        "../outside",
        "web/../db",
        "/etc",
        "odd",
    ] {
        let (code, message) = refusal(w.run(USER, status(&[name])));
        assert_eq!(code, ErrorCode::Usage, "{name}");
        assert_eq!(message, not_loaded(name), "{name}");
    }
    assert_eq!(w.tree.len(), loaded);
    assert_eq!(w.engine.len(), loaded);
    assert_eq!(w.host.dirs.len(), dirs);
    assert_eq!(w.host.lines, Vec::<String>::new());
}

/// Proves how root's names are read on disk: relative to `svc/`, absolute
/// inside it, through a link or a `..` that stays inside all name the
/// loaded service; the tree itself, a file, a missing directory, an empty
/// name and anything outside the tree are refused with a usage error
/// saying which.
#[test]
fn root_names_paths_inside_the_tree() {
    let mut w = World::new();
    let (db, root) = (w.index("db"), w.svc_root());
    let abs = root.join("db");
    for name in [
        "db",
        "./db",
        "db/",
        abs.to_str().unwrap(),
        "web/needs/db",
        "web/../db",
    ] {
        let got = w.run(
            0,
            Request::Wait {
                names: names(&[name]),
            },
        );
        let want = Pending::Wait {
            client: CLIENT,
            svcs: vec![db],
            uid: 0,
        };
        assert_eq!(got, Outcome::Pending(want), "{name}");
    }
    let outside = w.t.path().join("outside");
    for (name, says) in [
        ("../outside", "is outside the service tree"),
        (outside.to_str().unwrap(), "is outside the service tree"),
        ("/etc", "is outside the service tree"),
        (".", "names the service tree"),
        ("web/..", "names the service tree"),
        ("notes", "is not a service directory"),
        ("absent", "no such service: absent (no directory"),
        ("", "empty service name"),
    ] {
        let (code, message) = refusal(w.run(0, status(&[name])));
        assert_eq!(code, ErrorCode::Usage, "{name}");
        assert!(message.contains(says), "{name}: {message}");
    }
    assert_eq!(w.tree.len(), 2, "nothing was loaded");
}

/// Proves root may name a service that is not loaded yet: it is loaded
/// (the engine and the host learn of it) and started; a problem in its
/// files is said in cinit's log. A second mention finds it loaded.
#[test]
fn root_loads_a_service_on_demand() {
    let mut w = World::new();
    let root = w.svc_root();
    let got = w.run(
        0,
        Request::Start {
            names: names(&["private", "odd"]),
            no_deps: false,
        },
    );
    let (private, odd) = (w.index("private"), w.index("odd"));
    assert_eq!(
        got,
        Outcome::Pending(Pending::Start {
            client: CLIENT,
            svcs: vec![private, odd]
        })
    );
    assert_eq!(w.engine.len(), 4);
    assert_eq!(w.host.dirs[private], root.join("private"));
    assert_eq!(w.host.dirs[odd], root.join("odd"));
    let spawned: Vec<usize> = w.host.spawned.iter().map(|s| s.0).collect();
    assert_eq!(spawned, vec![private, odd]);
    assert_eq!(w.host.lines.len(), 1, "{:?}", w.host.lines);
    let line = &w.host.lines[0];
    assert!(
        line.starts_with("config: ") && line.contains("odd/delay"),
        "{line}"
    );
    let again = w.run(USER, status(&["private"]));
    assert!(matches!(again, Outcome::Reply(Reply::Services(ref s)) if s.len() == 1));
    assert_eq!(w.engine.len(), 4);
}

/// Proves that while the system goes down, start, stop and restart are
/// refused with the reason, which is also said in cinit's log, and
/// nothing is started or stopped; status is still answered. Root's
/// requests too: only the permission check comes first.
#[test]
fn a_frozen_system_refuses_changes() {
    let mut w = World::new();
    w.frozen = Some("the system is going down (poweroff)".into());
    let db = names(&["db"]);
    for (req, verb) in [
        (
            Request::Start {
                names: db.clone(),
                no_deps: true,
            },
            "start",
        ),
        (Request::Stop { names: db.clone() }, "stop"),
        (Request::Restart { names: db.clone() }, "restart"),
    ] {
        let want = format!("{verb} refused: the system is going down (poweroff)");
        assert_eq!(
            refusal(w.run(0, req.clone())),
            (ErrorCode::Failed, want.clone())
        );
        assert_eq!(w.host.lines.last(), Some(&want));
        // Another user still hears about the permission first.
        assert_eq!(refusal(w.run(USER, req)).0, ErrorCode::Permission);
    }
    assert_eq!(w.host.lines.len(), 3);
    assert_eq!(w.host.spawned, vec![]);
    assert_eq!(w.host.signalled, vec![]);
    assert!(matches!(
        w.run(0, status(&[])),
        Outcome::Reply(Reply::Services(_))
    ));
}
