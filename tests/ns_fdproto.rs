//! Descriptors over the control socket (`SCM_RIGHTS` both ways) and
//! `cinit-ctl fdstore`.
//!
//! With the real `cinit` as PID 1 in namespaces: the adversarial case C7
//! for a server that receives descriptors — passed with requests, without
//! one, more than a connection may hold, in a flood, across a hot update —
//! never grows PID 1's descriptor table and never stops it serving. These
//! tests do not depend on what cinit answers to the fd requests
//! themselves, only on the transport.
//!
//! Without cinit: `cinit-ctl fdstore` against a scripted server that
//! checks each request and its descriptor and sends a chosen reply (with a
//! descriptor), so the CLI's side (put from stdin or `--fd`, get executing
//! PROG with the descriptor at N, list, drop, exit codes) is proved on its
//! own.

#![cfg(test)]

mod common;

use cinit::proto::{
    self, decode_header, decode_reply, encode_request, ErrorCode, FdInfo, Reply, Request,
};
use common::*;
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, UnixAddr};
use std::fs;
use std::io::{ErrorKind, IoSlice, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// How long a status may take while the socket is being abused (the
/// machine is shared and loaded; unloaded it is well under a millisecond).
const STATUS_BOUND: Duration = Duration::from_secs(2);

const R_ARGV: [&str; 2] = ["/bin/sleep", "1031"];

/// A tree with one respawn sleeper `r`, needed by `init`.
fn fixture() -> Fixture {
    let fx = Fixture::new();
    fx.service("r")
        .respawn()
        .on_link("/bin/sleep")
        .params(&["1031"]);
    fx.service("init").needs("r");
    fx
}

/// Boots the fixture and returns cinit with `r`'s process, once the tree
/// is up and a status was answered (so the descriptor table is settled).
fn boot(fx: &Fixture) -> (Cinit, Proc) {
    let c = fx.boot_ctl();
    c.expect_outcome("init", "done");
    let r = c.wait_child_argv(&R_ARGV, None);
    let out = c.ctl(&["status"]);
    c.check(out.code() == Some(0), &out.dump());
    (c, r)
}

fn fd_count(c: &Cinit) -> usize {
    c.proc().fds().len()
}

/// Where a descriptor of this process points (`pipe:[…]`).
fn own_link(fd: &impl AsRawFd) -> PathBuf {
    fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap()
}

/// Whether cinit holds a descriptor pointing at `link`.
fn holds(c: &Cinit, link: &Path) -> bool {
    c.proc().fds().iter().any(|(_, l)| l == link)
}

/// cinit's closer processes (they close what came from outside; each
/// costs cinit one descriptor, its end of the closer's socket).
fn closers(c: &Cinit) -> usize {
    c.children()
        .iter()
        .filter(|p| p.status_field("Name").as_deref() == Some("cinit-closer"))
        .count()
}

/// Waits (up to 5 s) until cinit holds no copy of `link` and no more
/// descriptors than `baseline` (and one per closer process alive).
#[track_caller]
fn settled(c: &Cinit, baseline: usize, link: &Path, after: &str) {
    c.wait_until(
        &format!(
            "cinit to hold no copy of {} and at most {baseline} descriptors \
             (and one per closer) after {after}",
            link.display()
        ),
        Duration::from_secs(5),
        |c| !holds(c, link) && fd_count(c) <= baseline + closers(c),
    );
}

/// A raw connection with read and write timeouts.
fn raw(c: &Cinit, timeout: Duration) -> UnixStream {
    let s = c.connect();
    s.set_read_timeout(Some(timeout)).unwrap();
    s.set_write_timeout(Some(timeout)).unwrap();
    s
}

/// Sends `bytes` with `fds` attached (one message).
fn send_fds(s: &UnixStream, bytes: &[u8], fds: &[RawFd]) -> nix::Result<usize> {
    sendmsg::<UnixAddr>(
        s.as_raw_fd(),
        &[IoSlice::new(bytes)],
        &[ControlMessage::ScmRights(fds)],
        MsgFlags::empty(),
        None,
    )
}

/// Reads one reply frame.
fn read_reply(s: &UnixStream) -> Result<Reply, String> {
    let mut s = s;
    let mut header = [0u8; proto::HEADER_LEN];
    s.read_exact(&mut header)
        .map_err(|e| format!("reading reply header: {e}"))?;
    let h = decode_header(&header, proto::MAX_REPLY).map_err(|e| format!("bad header: {e}"))?;
    let mut frame = header.to_vec();
    frame.resize(h.frame_len, 0);
    s.read_exact(&mut frame[proto::HEADER_LEN..])
        .map_err(|e| format!("reading reply body: {e}"))?;
    decode_reply(&frame).map_err(|e| format!("bad reply: {e}"))
}

/// Whether the server closed `s` without sending anything first (EOF or
/// reset within the stream's read timeout).
fn closed_by_server(s: &UnixStream) -> Result<(), String> {
    let mut buf = [0u8; 64];
    match (&*s).read(&mut buf) {
        Ok(0) => Ok(()),
        Err(e) if e.kind() == ErrorKind::ConnectionReset => Ok(()),
        Ok(n) => Err(format!("got {n} bytes instead of a close")),
        Err(e) => Err(format!("connection not closed: {e}")),
    }
}

/// Whether the pipe read by `r` has no writer left: a read sees EOF within
/// 2 s (every copy of the write end is closed, everywhere).
fn no_writer_left(r: std::io::PipeReader) -> bool {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1];
        let _ = tx.send((&r).read(&mut buf).ok());
    });
    matches!(rx.recv_timeout(Duration::from_secs(2)), Ok(Some(0)))
}

fn status_r() -> Vec<u8> {
    encode_request(&Request::Status {
        names: vec!["r".into()],
    })
}

#[track_caller]
fn expect_r_running(c: &Cinit, reply: Result<Reply, String>, what: &str) {
    match reply {
        Ok(Reply::Services(list)) if list.len() == 1 && list[0].state == "running" => {}
        other => c.fail(&format!("{what}: {other:?}")),
    }
}

// ---------------------------------------------------------------------------
// C7 with a server that receives descriptors
// ---------------------------------------------------------------------------

/// C7, one way at a time: proves every way of passing descriptors leaves
/// PID 1's descriptor table as it was. With the write end of a test pipe
/// (and /dev/null): a STATUS carrying one and then four descriptors is
/// answered, and the connection goes on serving; an FD_STORE for a service
/// that does not exist is answered; descriptors sent with the first bytes
/// of a STATUS whose rest follows without any are answered; five at once
/// (more than a connection may hold), and three then three more without a request
/// (more than a connection may hold), make cinit close the connection
/// without a reply; descriptors with half a request from a client that
/// then leaves are dropped with it. After each, within 5 s, cinit holds no
/// copy of the pipe and no more descriptors than when idle. Descriptors
/// with half a request from a client that stays are held (cinit is seen
/// holding the pipe: the check can see it) only until the 5 s client
/// deadline closes the connection. Finally, once the test closes its own
/// write end, the pipe sees EOF: no copy survived anywhere; `r` was never
/// disturbed and status still answers.
#[test]
fn c7_descriptors_passed_any_way_leave_pid1_as_it_was() {
    let fx = fixture();
    let (mut c, r) = boot(&fx);
    let baseline = fd_count(&c);
    let (pipe_r, pipe_w) = std::io::pipe().unwrap();
    let link = own_link(&pipe_w);
    let null = fs::File::open("/dev/null").unwrap();
    let w = pipe_w.as_raw_fd();
    let t = Duration::from_secs(5);

    // With requests that take none: answered, and the connection goes on.
    let s = raw(&c, t);
    send_fds(&s, &status_r(), &[w]).unwrap();
    expect_r_running(&c, read_reply(&s), "STATUS with one descriptor");
    send_fds(&s, &status_r(), &[w, null.as_raw_fd(), w, w]).unwrap();
    expect_r_running(&c, read_reply(&s), "STATUS with four descriptors");
    (&s).write_all(&status_r()).unwrap();
    expect_r_running(&c, read_reply(&s), "STATUS after them");
    drop(s);
    settled(&c, baseline, &link, "requests that take none");

    // An FD_STORE nobody can take: whatever the answer, nothing is kept.
    let s = raw(&c, t);
    let store = encode_request(&Request::FdStore {
        service: "no/such/service".into(),
        name: "x".into(),
    });
    send_fds(&s, &store, &[w]).unwrap();
    let reply = read_reply(&s);
    c.check(reply.is_ok(), &format!("FD_STORE unanswered: {reply:?}"));
    drop(s);
    settled(&c, baseline, &link, "an FD_STORE for no service");

    // Descriptors with a request's first bytes, the rest without.
    let s = raw(&c, t);
    let frame = status_r();
    send_fds(&s, &frame[..5], &[w, w]).unwrap();
    (&s).write_all(&frame[5..]).unwrap();
    expect_r_running(&c, read_reply(&s), "STATUS split around its descriptors");
    drop(s);
    settled(&c, baseline, &link, "a split request");

    // More than a read takes, and more than a connection may hold.
    let s = raw(&c, t);
    send_fds(&s, &status_r(), &[w; 5]).unwrap();
    c.check_all(vec![(
        closed_by_server(&s).is_ok(),
        "five descriptors at once: not closed".into(),
    )]);
    drop(s);
    settled(&c, baseline, &link, "five descriptors at once");
    let s = raw(&c, t);
    send_fds(&s, b"c", &[w; 3]).unwrap();
    // The second message may meet a connection cinit already closed.
    let _ = send_fds(&s, b"i", &[w; 3]);
    let closed = closed_by_server(&s);
    c.check(closed.is_ok(), &format!("3 + 3 descriptors: {closed:?}"));
    drop(s);
    settled(&c, baseline, &link, "three and three more");

    // Half a request with descriptors, then the client leaves.
    let s = raw(&c, t);
    send_fds(&s, &frame[..3], &[w]).unwrap();
    drop(s);
    settled(
        &c,
        baseline,
        &link,
        "a client leaving with descriptors sent",
    );

    // Half a request with a descriptor, and the client stays: held, but
    // only until its deadline.
    let s = raw(&c, Duration::from_secs(15));
    let sent = Instant::now();
    send_fds(&s, &frame[..3], &[w]).unwrap();
    c.wait_until(
        "cinit to hold the descriptor of a half request",
        Duration::from_secs(3),
        |c| holds(c, &link),
    );
    let closed = closed_by_server(&s);
    let after = sent.elapsed();
    c.check(
        closed.is_ok() && after >= Duration::from_secs(4),
        &format!("a half request with a descriptor: {closed:?} after {after:?}"),
    );
    drop(s);
    settled(&c, baseline, &link, "the client deadline");

    drop(pipe_w);
    c.check(
        no_writer_left(pipe_r),
        "a copy of the pipe's write end survived",
    );
    let out = c.ctl(&["status", "r"]);
    c.check(out.code() == Some(0), &out.dump());
    c.check(r.is_alive(), "r was disturbed");
    c.assert_alive();
}

/// C7, a flood: proves a flood of clients passing descriptors every way
/// at once neither grows PID 1's descriptor table nor stops it serving.
/// 8 threads open connection after connection (at least 40 each, and on
/// until 20 status requests from `cinit-ctl` were answered meanwhile), in
/// turn sending a STATUS with four descriptors (every one answered), half
/// a request with two and leaving, six at once, or three and three more
/// without a request. Each of those status requests is answered within
/// 2 s, and a respawn service killed during the flood comes back (within
/// 5 s). Afterwards, within 5 s,
/// cinit holds no copy of the pipe and no more descriptors than when idle,
/// and the pipe sees EOF once the test closes its own write end.
#[test]
fn c7_a_flood_of_descriptor_passing_clients_leaves_pid1_serving() {
    let fx = fixture();
    let (mut c, r) = boot(&fx);
    let baseline = fd_count(&c);
    let (pipe_r, pipe_w) = std::io::pipe().unwrap();
    let link = own_link(&pipe_w);
    let w = pipe_w.as_raw_fd();
    let socket = c.socket_path();
    let frame = status_r();
    let answered = std::sync::atomic::AtomicUsize::new(0);
    let sent = std::sync::atomic::AtomicUsize::new(0);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let mut slowest = Duration::ZERO;
    let mut statuses = 0;
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..8)
            .map(|_| {
                let (socket, frame) = (&socket, &frame);
                let (answered, sent, stop) = (&answered, &sent, &stop);
                scope.spawn(move || {
                    let mut i = 0;
                    while i < 40 || !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        i += 1;
                        let s = UnixStream::connect(socket).unwrap();
                        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                        s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
                        match i % 4 {
                            0 => {
                                send_fds(&s, frame, &[w; 4]).unwrap();
                                sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                if matches!(read_reply(&s), Ok(Reply::Services(_))) {
                                    answered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                }
                            }
                            1 => {
                                let _ = send_fds(&s, &frame[..4], &[w; 2]);
                            }
                            2 => {
                                let _ = send_fds(&s, frame, &[w; 6]);
                                let _ = closed_by_server(&s);
                            }
                            _ => {
                                let _ = send_fds(&s, b"c", &[w; 3]);
                                let _ = send_fds(&s, b"i", &[w; 3]);
                                let _ = closed_by_server(&s);
                            }
                        }
                    }
                })
            })
            .collect();
        while statuses < 20 {
            let (out, took) = c.ctl_timed(&["status", "r"]);
            c.check(out.code() == Some(0), &out.dump());
            slowest = slowest.max(took);
            statuses += 1;
            if statuses == 5 {
                c.check(send_signal(r.pid, libc::SIGKILL), "SIGKILL r");
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for h in workers {
            h.join().unwrap();
        }
    });
    let (answered, sent) = (answered.into_inner(), sent.into_inner());
    eprintln!(
        "C7 flood: {answered} of {sent} STATUS requests with descriptors answered; \
         {statuses} statuses from cinit-ctl meanwhile, the slowest {slowest:?}"
    );
    c.check_all(vec![
        (
            answered == sent && sent >= 80,
            format!("{answered} of {sent} answered"),
        ),
        (
            slowest < STATUS_BOUND,
            format!("a status took {slowest:?} during the flood"),
        ),
    ]);
    c.wait_for("r to be back after SIGKILL", Duration::from_secs(5), |c| {
        c.children_with_argv(&R_ARGV)
            .into_iter()
            .find(|p| *p != r && p.is_alive())
    });
    settled(&c, baseline, &link, "the flood");
    drop(pipe_w);
    c.check(
        no_writer_left(pipe_r),
        "a copy of the pipe's write end survived",
    );
    c.assert_alive();
}

/// Proves a hot update hands over no descriptor in transit and loses no
/// other client: one client has sent half a request with the write end of
/// a test pipe (cinit is seen holding it), another is connected and idle.
/// After `cinit-ctl update` (answered "updated"), the first connection was
/// closed, the idle one is served by the new image (a STATUS answered), the
/// new image holds no copy of the pipe, and once the test closes its own
/// write end the pipe sees EOF.
#[test]
fn update_closes_a_client_with_descriptors_in_transit_and_keeps_the_others() {
    let fx = fixture();
    let (mut c, _r) = boot(&fx);
    let (pipe_r, pipe_w) = std::io::pipe().unwrap();
    let link = own_link(&pipe_w);
    let idle = raw(&c, Duration::from_secs(10));
    let holder = raw(&c, Duration::from_secs(10));
    send_fds(&holder, &status_r()[..3], &[pipe_w.as_raw_fd()]).unwrap();
    c.wait_until(
        "cinit to hold the descriptor of a half request",
        Duration::from_secs(3),
        |c| holds(c, &link),
    );
    let out = c.ctl(&["update"]);
    c.check(
        out.code() == Some(0) && out.stdout.contains("updated"),
        &out.dump(),
    );
    let closed = closed_by_server(&holder);
    c.check(
        closed.is_ok(),
        &format!("the client with a descriptor in transit: {closed:?}"),
    );
    (&idle).write_all(&status_r()).unwrap();
    expect_r_running(&c, read_reply(&idle), "the idle client after the update");
    c.check(!holds(&c, &link), "the new image holds the pipe");
    drop(pipe_w);
    c.check(
        no_writer_left(pipe_r),
        "a copy of the pipe's write end survived the update",
    );
    c.assert_alive();
}

/// Proves `cinit-ctl fdstore` reaches the real cinit and gets an answer
/// for each form, its descriptor included (whatever cinit decides): list,
/// put (from stdin), get and drop each exit with a reply's code (0, 1, 2
/// or 4), never 3 (a broken connection or a protocol error), and PID 1
/// answers status afterwards.
#[test]
fn fdstore_requests_reach_pid1_and_are_answered() {
    let fx = fixture();
    let (mut c, _r) = boot(&fx);
    let file = fx.path().join("payload");
    fs::write(&file, "payload").unwrap();
    let ctl = ctl_bin();
    for args in [
        vec!["fdstore", "r"],
        vec!["fdstore", "r", "drop", "nothing"],
        vec!["fdstore", "r", "get", "nothing", "/bin/true"],
    ] {
        let out = c.ctl(&args);
        c.check(
            matches!(out.code(), Some(0 | 1 | 2 | 4)),
            &format!("{args:?}\n{}", out.dump()),
        );
    }
    // put, with the descriptor on stdin.
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", "exec \"$0\" fdstore r put payload < \"$1\""])
        .arg(ctl)
        .arg(&file)
        .env_clear()
        .env("CINIT_CTL_DIR", c.ctl_dir_via_proc());
    let out = run(cmd, fx.path(), CTL_TIMEOUT);
    c.check(
        matches!(out.code(), Some(0 | 1 | 2 | 4)),
        &format!("put\n{}", out.dump()),
    );
    let out = c.ctl(&["status", "r"]);
    c.check(out.code() == Some(0), &out.dump());
    c.assert_alive();
}

// ---------------------------------------------------------------------------
// cinit-ctl fdstore against a scripted server
// ---------------------------------------------------------------------------

/// A control socket in a temporary directory, answered by the test.
struct Scripted {
    dir: tempfile::TempDir,
    listener: UnixListener,
}

/// What the scripted server received: the request and its descriptors.
struct Received {
    request: Request,
    fds: Vec<OwnedFd>,
}

impl Scripted {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let listener = UnixListener::bind(dir.path().join("control")).unwrap();
        listener.set_nonblocking(true).unwrap();
        Self { dir, listener }
    }

    /// `cinit-ctl ARGS` (through `sh -c SCRIPT` when `script` is given, with
    /// the binary as `$0`), aimed at this socket, run in a thread.
    fn spawn(&self, script: Option<&str>, args: &[&str]) -> std::thread::JoinHandle<RunOutput> {
        let mut cmd = match script {
            Some(s) => {
                let mut cmd = Command::new("/bin/sh");
                cmd.args(["-c", s]).arg(ctl_bin());
                cmd
            }
            None => Command::new(ctl_bin()),
        };
        cmd.args(args)
            .env_clear()
            .env("CINIT_CTL_DIR", self.dir.path())
            .current_dir("/");
        let scratch = self.dir.path().to_path_buf();
        std::thread::spawn(move || run(cmd, &scratch, CTL_TIMEOUT))
    }

    /// Accepts one connection (within 10 s), reads one request frame with
    /// the descriptors that came with it, and answers `reply`, with `fd`
    /// attached to its first byte if given.
    fn serve(&self, reply: &Reply, fd: Option<&OwnedFd>) -> Received {
        let deadline = Instant::now() + Duration::from_secs(10);
        let conn = loop {
            match self.listener.accept() {
                Ok((conn, _)) => break conn,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    assert!(Instant::now() < deadline, "cinit-ctl never connected");
                    sleep(POLL);
                }
                Err(e) => panic!("accept: {e}"),
            }
        };
        conn.set_nonblocking(false).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut frame = vec![0u8; proto::HEADER_LEN];
        let mut have = 0;
        let mut fds = Vec::new();
        let mut sized = false;
        while have < frame.len() {
            let got =
                cinit::fds::scm::recv_with_fds(conn.as_fd(), &mut frame[have..], true).unwrap();
            assert!(got.bytes > 0, "cinit-ctl closed before a whole request");
            fds.extend(got.fds);
            have += got.bytes;
            if !sized && have == proto::HEADER_LEN {
                sized = true;
                let h = decode_header(&frame, proto::MAX_REQUEST).unwrap();
                frame.resize(h.frame_len, 0);
            }
        }
        let request = proto::decode_request(&frame).unwrap();
        let bytes = proto::encode_reply(reply);
        match fd {
            Some(fd) => {
                let n =
                    cinit::fds::scm::send_with_fd(conn.as_fd(), &bytes, fd.as_fd(), true).unwrap();
                (&conn).write_all(&bytes[n..]).unwrap();
            }
            None => (&conn).write_all(&bytes).unwrap(),
        }
        // Closing our end now leaves the reply readable for cinit-ctl.
        drop(conn);
        Received { request, fds }
    }
}

/// Proves `fdstore SERVICE get NAME --remove --fd 5 PROG ARGS` sends
/// FD_FETCH with the remove flag and executes PROG in place of cinit-ctl
/// with the fetched descriptor at 5: PROG's exit status (7) is cinit-ctl's,
/// what PROG writes to descriptor 5 comes out of the test's pipe, and
/// PROG's arguments arrive verbatim (`-c`, a script, `--fd`). Without
/// `--fd` the descriptor is at 3. The connection to cinit is not among
/// PROG's descriptors (none of them is a socket), and 5 is the pipe.
#[test]
fn fdstore_get_runs_prog_with_the_descriptor_at_n() {
    let server = Scripted::new();
    let (pipe_r, pipe_w) = std::io::pipe().unwrap();
    let pipe_w = OwnedFd::from(pipe_w);
    let script = "echo \"hello $0\" >&5; ls -l /proc/self/fd/ >&5; exit 7";
    let client = server.spawn(
        None,
        &[
            "fdstore", "web", "get", "conn", "--remove", "--fd", "5", "/bin/sh", "-c", script,
            "--fd",
        ],
    );
    let got = server.serve(
        &Reply::FdPassed {
            name: "conn".into(),
        },
        Some(&pipe_w),
    );
    assert_eq!(
        got.request,
        Request::FdFetch {
            service: "web".into(),
            name: "conn".into(),
            remove: true,
        }
    );
    assert!(got.fds.is_empty(), "FD_FETCH carries no descriptor");
    let out = client.join().unwrap();
    assert_eq!(out.code(), Some(7), "{}", out.dump());
    drop(pipe_w);
    let mut written = String::new();
    (&pipe_r).read_to_string(&mut written).unwrap();
    let mut lines = written.lines();
    assert_eq!(lines.next(), Some("hello --fd"), "{written}");
    let fd5 = format!(" 5 -> {}", own_link(&pipe_r).display());
    assert!(written.lines().any(|l| l.ends_with(&fd5)), "{written}");
    assert!(!written.contains("socket:"), "{written}");

    // The default place is 3.
    let (pipe_r, pipe_w) = std::io::pipe().unwrap();
    let pipe_w = OwnedFd::from(pipe_w);
    let client = server.spawn(
        None,
        &[
            "fdstore",
            "web",
            "get",
            "conn",
            "/bin/sh",
            "-c",
            "echo three >&3",
        ],
    );
    let got = server.serve(
        &Reply::FdPassed {
            name: "conn".into(),
        },
        Some(&pipe_w),
    );
    assert!(matches!(
        got.request,
        Request::FdFetch { remove: false, .. }
    ));
    let out = client.join().unwrap();
    assert_eq!(out.code(), Some(0), "{}", out.dump());
    drop(pipe_w);
    let mut written = String::new();
    (&pipe_r).read_to_string(&mut written).unwrap();
    assert_eq!(written, "three\n");
}

/// Proves `get`'s failures have their own exit codes: a PROG that does
/// not exist is 127 (the descriptor was fetched); an FD_PASSED reply
/// without a descriptor is a protocol error, 3, and PROG does not run; an
/// ERROR reply is its code (2) with its message.
#[test]
fn fdstore_get_failures_have_their_exit_codes() {
    let server = Scripted::new();
    let (_pipe_r, pipe_w) = std::io::pipe().unwrap();
    let pipe_w = OwnedFd::from(pipe_w);
    let client = server.spawn(None, &["fdstore", "web", "get", "conn", "/no/such/prog"]);
    server.serve(
        &Reply::FdPassed {
            name: "conn".into(),
        },
        Some(&pipe_w),
    );
    let out = client.join().unwrap();
    assert_eq!(out.code(), Some(127), "{}", out.dump());
    assert!(out.stderr.contains("/no/such/prog"), "{}", out.dump());

    let marker = server.dir.path().join("ran");
    let script = format!("touch '{}'", marker.display());
    let client = server.spawn(
        None,
        &["fdstore", "web", "get", "conn", "/bin/sh", "-c", &script],
    );
    server.serve(
        &Reply::FdPassed {
            name: "conn".into(),
        },
        None,
    );
    let out = client.join().unwrap();
    assert_eq!(out.code(), Some(3), "{}", out.dump());
    assert!(!marker.exists(), "PROG ran without the descriptor");

    let client = server.spawn(None, &["fdstore", "web", "get", "nope", "/bin/true"]);
    server.serve(
        &Reply::Error {
            code: ErrorCode::Usage,
            message: "web holds no descriptor named nope".into(),
        },
        None,
    );
    let out = client.join().unwrap();
    assert_eq!(out.code(), Some(2), "{}", out.dump());
    assert!(
        out.stderr.contains("no descriptor named nope"),
        "{}",
        out.dump()
    );
}

/// Proves `fdstore SERVICE put NAME` sends FD_STORE with exactly one
/// descriptor, cinit-ctl's stdin (the file the shell redirected), and
/// `--fd 7` sends descriptor 7 instead; the OK reply's message is printed
/// and the exit status is 0; a descriptor that is not open is a usage
/// error (2) before anything is sent; a permission error is 4.
#[test]
fn fdstore_put_sends_stdin_or_the_descriptor_named() {
    let server = Scripted::new();
    let a = server.dir.path().join("a");
    let b = server.dir.path().join("b");
    fs::write(&a, "a").unwrap();
    fs::write(&b, "b").unwrap();
    let script = format!(
        "exec \"$0\" \"$@\" < '{}' 7< '{}'",
        a.display(),
        b.display()
    );
    for (args, file) in [
        (vec!["fdstore", "web", "put", "conn"], &a),
        (vec!["fdstore", "web", "put", "conn", "--fd", "7"], &b),
    ] {
        let client = server.spawn(Some(&script), &args);
        let got = server.serve(
            &Reply::Ok {
                message: Some("stored conn for web".into()),
            },
            None,
        );
        assert_eq!(
            got.request,
            Request::FdStore {
                service: "web".into(),
                name: "conn".into(),
            }
        );
        assert_eq!(got.fds.len(), 1, "{args:?}");
        assert_eq!(&own_link(&got.fds[0]), file, "{args:?}");
        let out = client.join().unwrap();
        assert_eq!(out.code(), Some(0), "{}", out.dump());
        assert_eq!(out.stdout, "stored conn for web\n");
    }

    let out = server
        .spawn(None, &["fdstore", "web", "put", "conn", "--fd", "9"])
        .join()
        .unwrap();
    assert_eq!(out.code(), Some(2), "{}", out.dump());
    assert!(
        out.stderr.contains("descriptor 9 is not open"),
        "{}",
        out.dump()
    );

    let client = server.spawn(Some(&script), &["fdstore", "web", "put", "conn"]);
    server.serve(
        &Reply::Error {
            code: ErrorCode::Permission,
            message: "permission denied".into(),
        },
        None,
    );
    let out = client.join().unwrap();
    assert_eq!(out.code(), Some(4), "{}", out.dump());
}

/// Proves `fdstore SERVICE` sends FD_LIST and prints one line per
/// descriptor (name, `sockets` or `stored`, kind), `--json` an array of
/// objects, and `drop NAME` sends FD_DROP and exits 0 on OK.
#[test]
fn fdstore_list_and_drop() {
    let server = Scripted::new();
    let list = Reply::Fds(vec![
        FdInfo {
            name: "http".into(),
            kind: "tcp 0.0.0.0:80".into(),
            listen: true,
        },
        FdInfo {
            name: "conn".into(),
            kind: "socket".into(),
            listen: false,
        },
    ]);
    let client = server.spawn(None, &["fdstore", "web"]);
    let got = server.serve(&list, None);
    assert_eq!(
        got.request,
        Request::FdList {
            service: "web".into()
        }
    );
    let out = client.join().unwrap();
    assert_eq!(out.code(), Some(0), "{}", out.dump());
    let lines: Vec<Vec<&str>> = out
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines,
        [
            vec!["http", "sockets", "tcp", "0.0.0.0:80"],
            vec!["conn", "stored", "socket"]
        ]
    );

    let client = server.spawn(None, &["--json", "fdstore", "web"]);
    server.serve(&list, None);
    let out = client.join().unwrap();
    assert_eq!(
        out.stdout,
        "[{\"name\":\"http\",\"source\":\"sockets\",\"kind\":\"tcp 0.0.0.0:80\"},\
         {\"name\":\"conn\",\"source\":\"stored\",\"kind\":\"socket\"}]\n"
    );

    let client = server.spawn(None, &["fdstore", "web", "drop", "conn"]);
    let got = server.serve(&Reply::Ok { message: None }, None);
    assert_eq!(
        got.request,
        Request::FdDrop {
            service: "web".into(),
            name: "conn".into(),
        }
    );
    let out = client.join().unwrap();
    assert_eq!(
        (out.code(), out.stdout.as_str()),
        (Some(0), ""),
        "{}",
        out.dump()
    );
}
