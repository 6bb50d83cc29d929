//! Unit tests of the control server on real sockets in a tmpfs directory
//! (no PID 1, no namespaces): the stale socket, and the descriptors that
//! travel with requests and replies.

use super::*;
use crate::control::socket::on_tmpfs;
use crate::fds::scm;
use crate::proto::{LogBatch, LogLine};
use crate::sys::poll::PollSet;
use nix::poll::{PollFd, PollTimeout};
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant};

/// A scratch control directory on an existing tmpfs (so no mount is
/// needed), or `None` where /dev/shm is not a tmpfs.
fn shm_dir() -> Option<tempfile::TempDir> {
    let d = tempfile::tempdir_in("/dev/shm").ok()?;
    on_tmpfs(d.path()).then_some(d)
}

#[test]
fn stale_socket_is_replaced_and_a_live_one_is_left_alone() {
    let Some(d) = shm_dir() else {
        eprintln!("skipped: /dev/shm is not a tmpfs here");
        return;
    };
    // A socket file whose listener is gone: connect is refused.
    drop(UnixListener::bind(d.path().join(SOCKET_NAME)).unwrap());
    let (first, notes) = Control::open(d.path()).unwrap();
    assert!(
        notes.iter().any(|n| n.starts_with("replaced stale socket")),
        "{notes:?}"
    );
    let mode = std::fs::metadata(first.path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o666);
    // While `first` listens, a second server must stay out.
    match Control::open(d.path()) {
        Err(OpenError::InUse(p)) => assert_eq!(p, first.path()),
        other => panic!("expected InUse, got {:?}", other.map(|c| c.1)),
    }
    drop(first);
}

/// A server in a scratch directory and a client connected to it, or
/// `None` where /dev/shm is not a tmpfs.
fn server() -> Option<(tempfile::TempDir, Control)> {
    let d = shm_dir()?;
    let (ctl, _) = Control::open(d.path()).unwrap();
    Some((d, ctl))
}

/// One turn of the event loop's control part: poll (at most 50 ms) and
/// handle what poll reported.
fn turn(ctl: &mut Control) -> Vec<Incoming> {
    let now = crate::sys::clock::now_ms();
    let revents: Vec<(PollKey, PollFlags)> = {
        let mut set = PollSet::with_capacity(4);
        for (fd, flags, key) in ctl.poll_interest(now) {
            set.add(fd, flags, key);
        }
        set.poll(PollTimeout::from(50u16)).unwrap();
        set.ready().collect()
    };
    ctl.handle_events(now, &revents, &|_, _| true)
}

/// Turns until `n` requests were read (at most 5 s).
fn requests(ctl: &mut Control, n: usize) -> Vec<Incoming> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut got = Vec::new();
    while got.len() < n {
        assert!(
            Instant::now() < deadline,
            "only {} requests came",
            got.len()
        );
        got.extend(turn(ctl));
    }
    got
}

/// Write `req`'s frame on `client` with `fd` on its first byte, as
/// `cinit-ctl` sends FD_STORE.
fn send_with_fd(client: &UnixStream, req: &Request, fd: BorrowedFd<'_>) -> std::io::Result<()> {
    let frame = proto::encode_request(req);
    let sent = scm::send_with_fd(client.as_fd(), &frame, fd, true)?;
    (&*client).write_all(&frame[sent..])
}

/// Read one reply frame from `client` and the descriptor that came with
/// it, as `cinit-ctl` does: every read with `recvmsg`, never past the
/// frame's end, so a descriptor is seen with the frame it came with.
fn read_reply(client: &UnixStream) -> (Reply, Option<OwnedFd>) {
    let mut frame = vec![0u8; proto::HEADER_LEN];
    let (mut have, mut fds) = (0, Vec::new());
    while have < frame.len() {
        let got = scm::recv_with_fds(client.as_fd(), &mut frame[have..], true).unwrap();
        assert!(got.bytes > 0 && !got.truncated, "the reply broke off");
        fds.extend(got.fds);
        have += got.bytes;
        if have == proto::HEADER_LEN {
            let header = proto::decode_header(&frame, proto::MAX_REPLY).unwrap();
            frame.resize(header.frame_len, 0);
        }
    }
    (proto::decode_reply(&frame).unwrap(), fds.into_iter().next())
}

fn link(fd: &impl AsRawFd) -> std::path::PathBuf {
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap()
}

/// Whether the pipe whose read end is `r` has no writer left (the test
/// closed its own): then no copy of the write end survives anywhere.
fn no_writer_left(r: &std::io::PipeReader) -> bool {
    let mut fds = [PollFd::new(r.as_fd(), PollFlags::POLLIN)];
    nix::poll::poll(&mut fds, PollTimeout::from(2000u16)).unwrap();
    let mut buf = [0u8; 1];
    matches!((&*r).read(&mut buf), Ok(0))
}

/// Whether the server has closed `s` by now (EOF or reset).
fn closed_now(s: &UnixStream) -> bool {
    s.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 64];
    let closed = match (&*s).read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    };
    s.set_nonblocking(false).unwrap();
    closed
}

/// Whether the server closed `s` (EOF or reset within 5 s).
fn closed_by_server(s: &UnixStream) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 64];
    loop {
        match (&*s).read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {} // an error reply first
            Err(e) => return e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }
}

fn store(name: &str) -> Request {
    Request::FdStore {
        service: "web".into(),
        name: name.into(),
    }
}

/// Proves poll results are matched to clients by key, not by position,
/// and served in the same order as always (the client that connected last
/// first) whatever order they come in: of three clients, the first and the
/// last send a request; their results are handed back first-connected
/// first with the key of a client that is gone between them, and both
/// requests are read from the right clients, the last client's first.
#[test]
fn poll_results_find_their_client_by_key_in_any_order() {
    let Some((_d, mut ctl)) = server() else {
        return;
    };
    let a = UnixStream::connect(ctl.path()).unwrap();
    let _b = UnixStream::connect(ctl.path()).unwrap();
    let c = UnixStream::connect(ctl.path()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while ctl.poll_interest(0).count() < 4 {
        assert!(Instant::now() < deadline, "the clients were not accepted");
        assert!(turn(&mut ctl).is_empty());
    }
    (&a).write_all(&proto::encode_request(&store("a"))).unwrap();
    (&c).write_all(&proto::encode_request(&store("c"))).unwrap();
    let now = crate::sys::clock::now_ms();
    let mut events: Vec<(PollKey, PollFlags)> = Vec::new();
    while events.len() < 2 {
        assert!(Instant::now() < deadline, "the requests did not come");
        let mut set = PollSet::with_capacity(4);
        for (fd, flags, key) in ctl.poll_interest(now) {
            set.add(fd, flags, key);
        }
        set.poll(PollTimeout::from(50u16)).unwrap();
        events = set.ready().collect();
    }
    events.sort_by_key(|(k, _)| match k {
        PollKey::Client(id) => *id,
        PollKey::Listener => 0,
    });
    events.insert(1, (PollKey::Client(9_999), PollFlags::POLLIN));
    let got: Vec<Request> = ctl
        .handle_events(now, &events, &|_, _| true)
        .into_iter()
        .map(|i| i.request)
        .collect();
    assert_eq!(got, vec![store("c"), store("a")]);
}

/// Proves descriptors are given to the request they were sent with: an
/// FD_STORE without a descriptor and one with a pipe, sent before the
/// server reads either (one read takes both), come out as two requests,
/// the first without descriptors and the second with exactly that pipe.
#[test]
fn descriptors_come_with_the_request_they_were_sent_with() {
    let Some((_d, mut ctl)) = server() else {
        return;
    };
    let client = UnixStream::connect(ctl.path()).unwrap();
    let (pipe_r, _pipe_w) = std::io::pipe().unwrap();
    (&client)
        .write_all(&proto::encode_request(&store("a")))
        .unwrap();
    send_with_fd(&client, &store("b"), pipe_r.as_fd()).unwrap();
    let first = requests(&mut ctl, 1).pop().unwrap();
    assert_eq!(first.request, store("a"));
    assert!(first.fds.is_empty(), "{:?}", first.fds);
    // The second was pipelined: it is ready once the first is answered.
    let now = crate::sys::clock::now_ms();
    ctl.reply(first.client, now, &Reply::Ok { message: None });
    let second = requests(&mut ctl, 1).pop().unwrap();
    assert_eq!(second.request, store("b"));
    assert_eq!(second.fds.len(), 1);
    assert_eq!(link(&second.fds[0]), link(&pipe_r));
}

/// Proves descriptors sent with a request that takes none (VERSION) are
/// closed as it is read: the request comes without them, and once the
/// test closes its own write end the pipe has no writer left.
#[test]
fn descriptors_with_other_requests_are_closed_at_once() {
    let Some((_d, mut ctl)) = server() else {
        return;
    };
    let client = UnixStream::connect(ctl.path()).unwrap();
    let (pipe_r, pipe_w) = std::io::pipe().unwrap();
    send_with_fd(&client, &Request::Version, pipe_w.as_fd()).unwrap();
    drop(pipe_w);
    let got = requests(&mut ctl, 1).pop().unwrap();
    assert_eq!(got.request, Request::Version);
    assert!(got.fds.is_empty());
    assert!(no_writer_left(&pipe_r), "the server kept the descriptor");
    drop(got);
}

/// Proves a reply's descriptor leaves with that reply's first byte even
/// when the client's socket is full and earlier frames wait in the queue:
/// the client reads every frame with `recvmsg`, and only the FD_PASSED
/// frame brings a descriptor, the pipe the server was given.
#[test]
fn a_reply_descriptor_waits_behind_queued_frames() {
    let Some((_d, mut ctl)) = server() else {
        return;
    };
    let client = UnixStream::connect(ctl.path()).unwrap();
    (&client)
        .write_all(&proto::encode_request(&Request::Version))
        .unwrap();
    let id = requests(&mut ctl, 1).pop().unwrap().client;
    // Stream frames until the socket takes no more and bytes are queued.
    let batch = Reply::LogLines(LogBatch {
        lines: vec![LogLine {
            seq: 1,
            mono_ms: 0,
            wall_ms: 0,
            text: "x".repeat(60_000),
        }],
        more: true,
        ..LogBatch::default()
    });
    let mut frames = 0;
    while ctl.queued(id) == Some(0) {
        assert!(ctl.push(id, crate::sys::clock::now_ms(), &batch));
        frames += 1;
    }
    let (pipe_r, pipe_w) = std::io::pipe().unwrap();
    let passed = Reply::FdPassed { name: "p".into() };
    ctl.reply_with_fd(
        id,
        crate::sys::clock::now_ms(),
        &passed,
        OwnedFd::from(pipe_w).into(),
    );
    let reader = std::thread::spawn(move || {
        let mut seen = Vec::new();
        loop {
            let (reply, fd) = read_reply(&client);
            let done = matches!(reply, Reply::FdPassed { .. });
            seen.push((done, fd));
            if done {
                return seen;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while !reader.is_finished() {
        assert!(Instant::now() < deadline, "the client never got its reply");
        turn(&mut ctl);
    }
    let seen = reader.join().unwrap();
    assert_eq!(seen.len(), frames + 1);
    for (done, fd) in &seen {
        assert_eq!(fd.is_some(), *done, "a descriptor with the wrong frame");
    }
    let fd = seen.into_iter().last().unwrap().1.unwrap();
    assert_eq!(link(&fd), link(&pipe_r));
    // The server kept no copy: once ours is closed, the pipe has no writer.
    drop(fd);
    assert!(no_writer_left(&pipe_r));
}

/// Proves a client passing more descriptors than a connection may hold is
/// dropped with all of them: more than four in one message (the kernel
/// truncates), or four and then more without a request. Each time the
/// server closes the connection and no copy of the passed pipe is left.
#[test]
fn too_many_descriptors_drop_the_client_and_close_them_all() {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, UnixAddr};
    let Some((_d, mut ctl)) = server() else {
        return;
    };
    for per_message in [5, 3] {
        let client = UnixStream::connect(ctl.path()).unwrap();
        let (pipe_r, pipe_w) = std::io::pipe().unwrap();
        let fds = vec![pipe_w.as_raw_fd(); per_message];
        for _ in 0..2 {
            sendmsg::<UnixAddr>(
                client.as_raw_fd(),
                &[std::io::IoSlice::new(b"c")],
                &[ControlMessage::ScmRights(&fds)],
                MsgFlags::empty(),
                None,
            )
            .unwrap();
        }
        drop(pipe_w);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !closed_now(&client) {
            assert!(Instant::now() < deadline, "{per_message}: still connected");
            turn(&mut ctl);
        }
        assert!(ctl.clients.is_empty());
        assert!(no_writer_left(&pipe_r), "{per_message}: a copy survived");
    }
}

/// Proves descriptors passed without a whole request are held only until
/// the client's deadline, and that a hot update hands over no client with
/// descriptors in transit: `save` and `raw_fds` leave it out (and agree),
/// an idle client is handed over; at its deadline the client is dropped
/// and the pipe has no writer left.
#[test]
fn descriptors_without_a_request_last_until_the_deadline_and_stay_behind_in_an_update() {
    let Some((_d, mut ctl)) = server() else {
        return;
    };
    let idle = UnixStream::connect(ctl.path()).unwrap();
    let holder = UnixStream::connect(ctl.path()).unwrap();
    let (pipe_r, pipe_w) = std::io::pipe().unwrap();
    // Half a request with the descriptor.
    let frame = proto::encode_request(&store("half"));
    crate::fds::scm::send_with_fd(holder.as_fd(), &frame[..5], pipe_w.as_fd(), true).unwrap();
    drop(pipe_w);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !ctl.clients.iter().any(|c| c.holds_fds()) || ctl.clients.len() < 2 {
        assert!(Instant::now() < deadline, "the descriptor never arrived");
        turn(&mut ctl);
    }
    let held = ctl.clients.iter().find(|c| c.holds_fds()).unwrap();
    let (held_id, held_fd) = (held.id, held.fd.as_raw_fd());
    let mut saved = crate::proto::wire::Sections::default();
    ctl.save(&mut saved);
    // Each CLIENT section begins with the client's id and descriptor.
    let exported: Vec<(u64, i32)> = saved
        .all(super::saved::TAG_CLIENT)
        .map(|mut p| (p.u64().unwrap(), p.i32().unwrap()))
        .collect();
    assert_eq!(exported.len(), 1);
    assert!(exported[0].0 != held_id);
    let raw = ctl.raw_fds();
    assert_eq!(raw.len(), 2, "the listener and the idle client: {raw:?}");
    assert!(!raw.contains(&held_fd));
    assert!(raw.contains(&exported[0].1));
    // Past the deadline both go (the idle one too: it sent nothing).
    ctl.expire(crate::sys::clock::now_ms() + CLIENT_DEADLINE_MS + 1);
    assert!(ctl.clients.is_empty());
    assert!(no_writer_left(&pipe_r));
    assert!(closed_by_server(&holder) && closed_by_server(&idle));
}
