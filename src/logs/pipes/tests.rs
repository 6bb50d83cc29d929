//! Unit tests of the PID-1 side of logs: real pipes, no processes.

use super::*;
use std::os::fd::FromRawFd;
use std::os::fd::OwnedFd;

#[test]
fn only_the_machines_init_writes_to_kmsg() {
    assert!(is_machine_init(1, Some(true)));
    assert!(
        !is_machine_init(1, Some(false)),
        "a container or a test namespace"
    );
    assert!(!is_machine_init(1, None), "no /proc: do not guess");
    assert!(!is_machine_init(42, Some(true)));
    assert!(Logs::new().kmsg.is_none(), "a test is never PID 1");
}

/// A console writing into a pipe, and the pipe's read end.
fn console() -> (Console, OwnedFd) {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_NONBLOCK).unwrap();
    (Console::new(Some(w)), r)
}

fn write_to(fd: RawFd, bytes: &[u8]) {
    // SAFETY: a descriptor the test's Logs owns; borrowed for one write.
    let f = unsafe { std::fs::File::from_raw_fd(fd) };
    let f = std::mem::ManuallyDrop::new(f);
    std::io::Write::write_all(&mut &*f, bytes).unwrap();
}

/// Poll as the daemon does and hand the results back.
fn poll_once(logs: &mut Logs, now: Millis, console: &mut Console) {
    let mut set = crate::sys::poll::PollSet::with_capacity(4);
    for (fd, flags, key) in logs.poll_interest() {
        set.add(fd, flags, key);
    }
    set.poll(nix::poll::PollTimeout::ZERO).unwrap();
    let ev: Vec<(PollKey, PollFlags)> = set.ready().collect();
    drop(set);
    logs.handle_events(now, &ev, console);
}

/// Proves a log poll result is matched to its service by key, not by
/// position: of two services with pipes, only the second writes; its
/// result alone (quiet pipes are left out) reaches its own ring, the first
/// service's stays empty, and a key of a service without a log is
/// ignored.
#[test]
fn a_poll_result_reaches_the_service_its_key_names() {
    let d = tempfile::tempdir().unwrap();
    let (mut con, _con_r) = console();
    let mut logs = Logs::new();
    logs.set_name(2, "db");
    logs.set_name(5, "web");
    let (_db, _) = logs.stdio(2, d.path(), 0, 10);
    let (web, _) = logs.stdio(5, d.path(), 0, 10);
    write_to(web.stdout, b"hello\n");
    let mut set = crate::sys::poll::PollSet::with_capacity(2);
    for (fd, flags, key) in logs.poll_interest() {
        set.add(fd, flags, key);
    }
    set.poll(nix::poll::PollTimeout::ZERO).unwrap();
    let ev: Vec<(PollKey, PollFlags)> = set.ready().collect();
    drop(set);
    assert_eq!(ev, vec![(PollKey::Pipe(5), PollFlags::POLLIN)]);
    logs.handle_events(20, &ev, &mut con);
    // A key of a service without a log matches nothing.
    logs.handle_events(20, &[(PollKey::Pipe(9), PollFlags::POLLIN)], &mut con);
    let texts = |svc: usize| -> Vec<String> {
        logs.get(svc)
            .unwrap()
            .ring
            .lines()
            .map(|x| x.text.clone())
            .collect()
    };
    assert_eq!(texts(5), ["hello"]);
    assert!(texts(2).is_empty());
}

#[test]
fn output_goes_through_the_pipe_into_the_ring_and_the_console() {
    let d = tempfile::tempdir().unwrap();
    let (mut con, con_r) = console();
    let mut logs = Logs::new();
    logs.set_name(2, "web");
    let (fds, notes) = logs.stdio(2, d.path(), 0, 10);
    assert!(notes.is_empty());
    assert_eq!(fds.stdin, None, "stdin is /dev/null");
    assert_eq!(fds.stdout, fds.stderr);
    logs.track(77, 2);
    write_to(fds.stdout, b"one\ntwo\nhalf");
    poll_once(&mut logs, 20, &mut con);
    let texts = |l: &Logs| -> Vec<String> {
        l.get(2)
            .unwrap()
            .ring
            .lines()
            .map(|x| x.text.clone())
            .collect()
    };
    assert_eq!(texts(&logs), ["one", "two"]);
    // The process exits: the rest is read and the half line handed out.
    write_to(fds.stdout, b" done");
    logs.process_exited(30, 77, &mut con);
    assert_eq!(texts(&logs), ["one", "two", "half done"]);
    con.flush();
    let mut buf = [0u8; 256];
    let n = nix::unistd::read(&con_r, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"web: one\nweb: two\nweb: half done\n");
    // The next process gets the same pipe.
    let (again, _) = logs.stdio(2, d.path(), 0, 40);
    assert_eq!(again.stdout, fds.stdout);
    assert_eq!(logs.raw_fds().len(), 2);
}

#[test]
fn settings_apply_at_the_next_spawn_and_problems_are_said_once() {
    let d = tempfile::tempdir().unwrap();
    let (mut con, _con_r) = console();
    let mut logs = Logs::new();
    logs.set_name(0, "s");
    std::fs::write(d.path().join("log.mirror"), "no\n").unwrap();
    std::fs::write(d.path().join("log.size"), "bogus\n").unwrap();
    let (fds, notes) = logs.stdio(0, d.path(), 0, 0);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains("log.size: s: \"bogus\" is not a size"));
    assert!(logs.stdio(0, d.path(), 0, 0).1.is_empty(), "said once");
    assert!(!logs.get(0).unwrap().mirror);
    std::fs::write(d.path().join("log.size"), "1k\n").unwrap();
    let _ = logs.stdio(0, d.path(), 0, 0);
    assert_eq!(logs.get(0).unwrap().ring.capacity(), 1024);
    // A partial line is handed out once it has waited long enough.
    write_to(fds.stdout, b"prompt> ");
    poll_once(&mut logs, 100, &mut con);
    assert_eq!(
        logs.next_deadline(),
        Some(100 + crate::logs::line::PARTIAL_FLUSH_MS)
    );
    assert!(logs.tick(1_099, false, None, &mut con).is_empty());
    assert_eq!(logs.get(0).unwrap().ring.len(), 0);
    logs.tick(1_100, false, None, &mut con);
    assert_eq!(
        logs.get(0).unwrap().ring.lines().next().unwrap().text,
        "prompt> "
    );
    // The console flag: the console itself, and no new pipe.
    std::fs::write(d.path().join("console"), "").unwrap();
    let (fds, _) = logs.stdio(5, d.path(), 9, 0);
    assert_eq!(fds, ChildFds::console(9));
    assert!(logs.get(5).is_none());
}

/// Proves a service's pipe has the flags a service's output needs: the
/// read end (PID 1's) non-blocking, the write end (the service's stdout
/// and stderr) blocking, as a service expects of its output; both
/// close-on-exec and above stdio.
#[test]
fn a_service_pipe_is_non_blocking_only_on_pid_1s_end() {
    use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
    let (r, w) = service_pipe().unwrap();
    let fl = |fd: &OwnedFd| OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL).unwrap());
    assert!(fl(&r).contains(OFlag::O_NONBLOCK), "read end non-blocking");
    assert!(!fl(&w).contains(OFlag::O_NONBLOCK), "write end blocking");
    for fd in [&r, &w] {
        let fd_flags = FdFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFD).unwrap());
        assert!(fd_flags.contains(FdFlag::FD_CLOEXEC));
        assert!(fd.as_raw_fd() > 2);
    }
}

/// A service whose log files have no problems costs no entry in the map of
/// reported problems (only services with problems do), and a problem that
/// is fixed and comes back is said again.
#[test]
fn only_services_with_problems_are_remembered() {
    let d = tempfile::tempdir().unwrap();
    let mut logs = Logs::new();
    logs.set_name(0, "s");
    for _ in 0..3 {
        assert!(logs.stdio(0, d.path(), 0, 0).1.is_empty());
    }
    assert!(logs.reported.is_empty(), "no problems, no entry");
    std::fs::write(d.path().join("log.size"), "bogus\n").unwrap();
    assert_eq!(logs.stdio(0, d.path(), 0, 0).1.len(), 1);
    assert_eq!(logs.reported.len(), 1);
    std::fs::write(d.path().join("log.size"), "1k\n").unwrap();
    assert!(logs.stdio(0, d.path(), 0, 0).1.is_empty());
    assert!(logs.reported.is_empty(), "fixed: the entry goes");
    std::fs::write(d.path().join("log.size"), "bogus\n").unwrap();
    assert_eq!(logs.stdio(0, d.path(), 0, 0).1.len(), 1, "said again");
}

/// The read buffer is made once at its full size and then only lent out in
/// slices: reading does not reallocate it, and a read never takes more than
/// asked.
#[test]
fn the_read_buffer_is_made_once_and_bounds_the_read() {
    let (r, w) = service_pipe().unwrap();
    write_to(w.as_raw_fd(), b"hello\nworld\n");
    let mut buf = Vec::new();
    assert_eq!(read_some(&r, &mut buf, 3), 3);
    assert_eq!(buf.len(), READ_CHUNK);
    let at = buf.as_ptr();
    assert_eq!(read_some(&r, &mut buf, READ_CHUNK * 4), 9);
    assert_eq!(buf.as_ptr(), at, "not made again");
    assert_eq!(buf.get(..9).unwrap(), b"lo\nworld\n");
}
