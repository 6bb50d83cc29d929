//! The fd table's rules, with real descriptors (pipes, /dev/null) but no
//! child process.

use super::*;
use crate::config::sockets::Address;

fn null() -> OwnedFd {
    std::fs::File::open("/dev/null").unwrap().into()
}

fn spec(name: &str, port: u16) -> SocketSpec {
    SocketSpec {
        name: name.into(),
        address: Address::Tcp(format!("127.0.0.1:{port}").parse().unwrap()),
        mode: 0o666,
        owner: None,
        group: None,
        backlog: 128,
    }
}

fn names(t: &FdTable, svc: usize) -> Vec<String> {
    t.passed(svc).iter().map(|(_, n)| n.to_string()).collect()
}

/// A stored descriptor comes back as a new descriptor for the same open
/// file and stays stored; with `remove` the held one itself comes back and
/// is forgotten; a dropped one is gone.
#[test]
fn store_fetch_remove_and_drop() {
    let mut t = FdTable::default();
    let (r, _w) = nix::unistd::pipe().unwrap();
    let raw = r.as_raw_fd();
    t.store(0, "conn", r.into(), 4, same_file).unwrap();
    let copy = t.fetch(0, "conn", false).unwrap();
    assert_ne!(copy.as_raw_fd(), raw);
    assert!(same_file(copy.as_raw_fd(), raw), "the same open file");
    assert_eq!(names(&t, 0), ["conn"], "still stored after a fetch");
    let taken = t.fetch(0, "conn", true).unwrap();
    assert_eq!(taken.as_raw_fd(), raw, "the held descriptor itself");
    assert!(t.passed(0).is_empty());
    assert_eq!(
        t.fetch(0, "conn", false).unwrap_err(),
        FdError::NotFound("conn".into())
    );
    t.store(0, "again", taken, 4, same_file).unwrap();
    t.drop_stored(0, "again").unwrap();
    assert!(t.passed(0).is_empty());
    assert_eq!(t.stored_total(), 0);
}

/// The same open file is refused under another name (kcmp), whether it was
/// stored or is one of the sockets; a different open file of the same
/// pipe is not the same open file.
#[test]
fn duplicates_of_a_held_file_are_refused() {
    let mut t = FdTable::default();
    let (r, w) = nix::unistd::pipe().unwrap();
    let r2 = r.try_clone().unwrap();
    t.store(0, "r", r.into(), 8, same_file).unwrap();
    assert_eq!(
        t.store(0, "r2", r2.into(), 8, same_file).unwrap_err(),
        FdError::Duplicate("r".into())
    );
    t.store(0, "w", w.into(), 8, same_file).unwrap();
    // Another service may hold the same file: the rule is per service.
    let (r3, _w3) = nix::unistd::pipe().unwrap();
    let r3b = r3.try_clone().unwrap();
    t.store(1, "x", r3.into(), 8, same_file).unwrap();
    t.store(2, "x", r3b.into(), 8, same_file).unwrap();
    // A socket's descriptor counts as held.
    let l = null();
    let l2 = l.try_clone().unwrap();
    t.set_listeners(3, vec![spec("http", 80)], |_| {
        Ok::<_, ()>(l.try_clone().unwrap())
    })
    .unwrap();
    drop(l);
    assert_eq!(
        t.store(3, "again", l2.into(), 8, same_file).unwrap_err(),
        FdError::Duplicate("http".into())
    );
}

/// Names are checked, unique per service across sockets and stored
/// descriptors, and a socket cannot be fetched.
#[test]
fn names_are_checked_and_unique() {
    let mut t = FdTable::default();
    for bad in ["", "a:b", "a b", "é", &"x".repeat(MAX_NAME + 1)] {
        assert_eq!(
            t.store(0, bad, null().into(), 8, same_file).unwrap_err(),
            FdError::BadName(bad.to_string()),
            "{bad:?}"
        );
    }
    assert!(valid_name(&"x".repeat(MAX_NAME)));
    t.set_listeners(0, vec![spec("http", 80)], |_| Ok::<_, ()>(null()))
        .unwrap();
    assert_eq!(
        t.store(0, "http", null().into(), 8, same_file).unwrap_err(),
        FdError::NameTaken("http".into())
    );
    t.store(0, "db.conn-1", null().into(), 8, same_file)
        .unwrap();
    assert_eq!(
        t.store(0, "db.conn-1", null().into(), 8, same_file)
            .unwrap_err(),
        FdError::NameTaken("db.conn-1".into())
    );
    assert_eq!(
        t.fetch(0, "http", false).unwrap_err(),
        FdError::IsListener("http".into())
    );
    assert_eq!(names(&t, 0), ["http", "db.conn-1"], "sockets first");
    let listed = t.list(0, |_| "pipe".into());
    assert_eq!(listed[0].kind, "tcp 127.0.0.1:80");
    assert!(listed[0].listen && !listed[1].listen);
    assert_eq!(listed[1].kind, "pipe");
}

/// A service stores at most its `fdstore` number (none without the file);
/// all services together at most MAX_HELD.
#[test]
fn limits_per_service_and_in_all() {
    let mut t = FdTable::default();
    assert_eq!(
        t.store(0, "a", null().into(), 0, same_file).unwrap_err(),
        FdError::Full(0)
    );
    t.store(0, "a", null().into(), 2, same_file).unwrap();
    t.store(0, "b", null().into(), 2, same_file).unwrap();
    assert_eq!(
        t.store(0, "c", null().into(), 2, same_file).unwrap_err(),
        FdError::Full(2)
    );
    let mut svc = 1;
    while t.stored_total() < MAX_HELD {
        let n = t.get(svc).map_or(0, |h| h.stored.len());
        if n == MAX_PER_SERVICE {
            svc += 1;
            continue;
        }
        t.store(
            svc,
            &format!("f{n}"),
            null().into(),
            MAX_PER_SERVICE,
            |_, _| false,
        )
        .unwrap();
    }
    assert_eq!(
        t.store(svc + 1, "one-more", null().into(), 8, |_, _| false)
            .unwrap_err(),
        FdError::AllFull
    );
    assert_eq!(t.release(1, |_| ()), MAX_PER_SERVICE);
    t.store(svc + 1, "one-more", null().into(), 8, |_, _| false)
        .unwrap();
}

/// Sockets whose declaration did not change are kept (not bound again);
/// changed and new ones are bound; removed ones closed; a failed bind
/// leaves what was held.
#[test]
fn listeners_follow_the_sockets_file() {
    let mut t = FdTable::default();
    let binds = std::cell::Cell::new(0);
    let bind = |_: &SocketSpec| {
        binds.set(binds.get() + 1);
        Ok::<_, String>(null())
    };
    t.set_listeners(0, vec![spec("a", 1), spec("b", 2)], bind)
        .unwrap();
    let before = t.passed(0).iter().map(|p| p.0).collect::<Vec<_>>();
    t.set_listeners(0, vec![spec("a", 1), spec("b", 2)], bind)
        .unwrap();
    assert_eq!(binds.get(), 2, "unchanged: nothing bound again");
    t.set_listeners(0, vec![spec("b", 2), spec("c", 3)], bind)
        .unwrap();
    assert_eq!(binds.get(), 3, "only c is new");
    let after = t.passed(0);
    assert_eq!(after[0], (before[1], "b"), "b kept, now first");
    assert_eq!(after[1].1, "c");
    let err = t.set_listeners(0, vec![spec("b", 2), spec("d", 4), spec("e", 5)], |s| {
        if s.name == "e" {
            Err("busy".to_string())
        } else {
            Ok(null())
        }
    });
    assert_eq!(err.unwrap_err(), "busy");
    assert_eq!(names(&t, 0), ["b", "c"], "what was held stays");
    t.set_listeners(0, vec![], bind).unwrap();
    assert!(t.passed(0).is_empty());
}

#[test]
fn capacity_file() {
    assert_eq!(parse_capacity("8\n"), Ok(8));
    assert_eq!(parse_capacity("0"), Ok(0));
    assert!(parse_capacity("65").unwrap_err().contains("0 to 64"));
    assert!(parse_capacity("many").is_err());
    assert!(parse_capacity("+8").is_err());
    let d = tempfile::tempdir().unwrap();
    assert_eq!(
        read_capacity(d.path()),
        Ok(0),
        "no file: nothing may be stored"
    );
    std::fs::write(d.path().join(CAPACITY_FILE), "x").unwrap();
    assert!(read_capacity(d.path())
        .unwrap_err()
        .to_string()
        .contains("fdstore: expected"));
}

/// The `fdstore` file is read like every other service file: a FIFO or a
/// device there is refused at once (never a hang, never an endless read),
/// and so is a file larger than 64 KiB.
#[test]
fn capacity_file_that_is_no_small_regular_file_is_refused_without_blocking() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join(CAPACITY_FILE);
    nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let e = read_capacity(d.path()).unwrap_err();
    assert_eq!(
        (e.file.as_path(), e.reason.as_str()),
        (path.as_path(), "not a regular file")
    );
    std::fs::remove_file(&path).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &path).unwrap();
    assert_eq!(
        read_capacity(d.path()).unwrap_err().reason,
        "not a regular file"
    );
    std::fs::remove_file(&path).unwrap();
    let mut big = vec![b' '; 64 * 1024];
    big.push(b'1');
    std::fs::write(&path, big).unwrap();
    assert!(read_capacity(d.path())
        .unwrap_err()
        .reason
        .contains("larger than 65536 bytes"));
}

/// Proves the table crosses a hot update by itself: what it saves loads
/// back into the same table (the same sections again), each descriptor
/// adopted by number; and adoption refuses a descriptor that is closed,
/// stdio, already taken, or claimed twice, and a service that was not
/// restored, each with a line in the losses.
#[test]
fn the_table_loads_back_what_it_saved_and_refuses_what_it_must() {
    use crate::proto::wire::{Lost, Out, Sections};
    let is_open = |fd| nix::fcntl::fcntl(unsafe_borrow(fd), nix::fcntl::FcntlArg::F_GETFD).is_ok();
    let mut t = FdTable::default();
    t.set_listeners(1, vec![spec("a", 1), spec("b", 2)], |_| {
        Ok::<_, String>(null())
    })
    .unwrap();
    t.store(1, "conn", null().into(), 4, same_file).unwrap();
    let mut saved = Sections::default();
    t.save(&mut saved);
    // Ownership moves to the loaded table (as across an exec).
    std::mem::forget(t);
    let mut lost = Lost::new();
    let back = FdTable::load(&saved, 2, is_open, &[], &mut lost);
    assert!(lost.is_empty(), "{lost:?}");
    let mut again = Sections::default();
    back.save(&mut again);
    assert_eq!(again, saved);
    assert_eq!(names(&back, 1), ["a", "b", "conn"]);
    // Not restored: nothing adopted.
    let none = FdTable::load(&saved, 1, is_open, &[], &mut lost);
    assert!(none.raw_fds().is_empty());
    assert_eq!(lost, ["descriptors held for service #1 (not restored)"]);
    // A section of stored descriptors, written by hand.
    let stored = |out: &mut Sections, svc: u32, fds: &[RawFd]| {
        out.put(TAG_HELD, |o| {
            o.u32(svc);
            o.len(0);
            o.len(fds.len());
            for &fd in fds {
                let mut r = Out::default();
                r.i32(fd);
                r.str("x");
                o.bytes(&r.0);
            }
        });
    };
    // Taken already, claimed twice: refused.
    let (a, b) = (back.passed(1)[0].0, back.passed(1)[1].0);
    let mut twice = Sections::default();
    back.save(&mut twice);
    stored(&mut twice, 0, &[b]);
    let mut lost = Lost::new();
    // It holds the same numbers as `back`: never dropped.
    let other = std::mem::ManuallyDrop::new(FdTable::load(&twice, 2, is_open, &[a], &mut lost));
    assert_eq!(names(&other, 1), ["b", "conn"]);
    assert!(other.passed(0).is_empty());
    assert_eq!(lost.len(), 2, "{lost:?}");
    // Stdio and a closed number: refused.
    let mut bogus = Sections::default();
    stored(&mut bogus, 1, &[2, 999]);
    let mut lost = Lost::new();
    let refused = FdTable::load(&bogus, 2, is_open, &[], &mut lost);
    assert!(refused.raw_fds().is_empty());
    assert_eq!(lost.len(), 2, "{lost:?}");
}

/// A service without sockets that holds nothing costs the table nothing:
/// setting no listeners makes no entry (a boot of many services would
/// otherwise hold one per service), and what it passes is unchanged.
#[test]
fn no_sockets_make_no_entry() {
    let mut t = FdTable::default();
    for svc in 0..3 {
        t.set_listeners(svc, Vec::new(), |_| -> Result<OwnedFd, ()> {
            panic!("nothing to bind")
        })
        .unwrap();
    }
    assert!(t.by_svc.is_empty(), "{:?}", t.by_svc.keys());
    assert!(names(&t, 1).is_empty());
    t.store(1, "conn", null().into(), 4, same_file).unwrap();
    t.set_listeners(1, Vec::new(), |_| -> Result<OwnedFd, ()> { panic!() })
        .unwrap();
    assert_eq!(names(&t, 1), ["conn"], "a stored descriptor stays");
}
