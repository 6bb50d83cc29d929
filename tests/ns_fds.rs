//! Socket activation and the fd store, with the real `cinit` as PID 1 in
//! namespaces: sockets of a `sockets` file are bound by cinit and passed
//! with `LISTEN_FDS`/`LISTEN_PID`/`LISTEN_FDNAMES`, and stay bound while
//! the service is killed and restarted, so no connection is refused; a
//! service stores a connected socket, crashes, and gets it back; held
//! descriptors survive ten hot updates without a leak in PID 1; duplicates,
//! names and limits are refused with clear errors; only root or the
//! service itself may touch a service's descriptors; a stop releases them.
//!
//! The service program is `tests/fds/helper.c` (compiled here): it greets
//! each connection with its pid, so the test can tell which process of a
//! restarted service answered.

#![cfg(test)]

mod common;

use common::*;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Generous: the machine running the tests may be loaded.
const LONG: Duration = Duration::from_secs(20);

/// The compiled `tests/fds/helper.c`.
fn helper() -> &'static str {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| compile_c_helper("fds/helper.c", "fds-helper"))
        .to_str()
        .unwrap()
}

/// A port nothing listens on right now (bound, then released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One line from `s`, within [`LONG`].
fn read_line(s: &UnixStream) -> String {
    s.set_read_timeout(Some(LONG)).unwrap();
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).unwrap();
    line
}

/// The pid in a greeting such as `hi 12\n`.
fn pid_in(line: &str, word: &str) -> u32 {
    line.strip_prefix(word)
        .and_then(|r| r.trim().split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("expected `{word} PID`, got {line:?}"))
}

/// A respawn service `name` running the helper's `accept` mode on the
/// sockets of `sockets`.
fn acceptor(fx: &Fixture, name: &str, sockets: &str) {
    fx.service(name)
        .respawn()
        .on_link(helper())
        .params(&["accept"])
        .file("sockets", sockets);
}

/// A respawn service `name` running the helper's `talk` mode: it connects
/// to `peer`, stores the connection as `conn`, and talks on it.
fn talker(fx: &Fixture, name: &str, peer: &Path) {
    fx.service(name)
        .respawn()
        .on_link(helper())
        .params(&talker_argv(peer, name)[1..])
        .env(&[&format!("CINIT_CTL_DIR={}", fx.ctl_dir().display())])
        .file("fdstore", "4\n");
}

/// The argv of [`talker`]'s process.
fn talker_argv<'a>(peer: &'a Path, name: &'a str) -> [&'a str; 5] {
    [helper(), "talk", peer.to_str().unwrap(), ctl_bin(), name]
}

/// SIGKILL the helper process of `argv` and wait for its successor.
#[track_caller]
fn kill_and_wait_successor(c: &Cinit, argv: &[&str]) {
    let old = c.wait_child_argv(argv, None);
    c.check(send_signal(old.pid, libc::SIGKILL), "could not kill");
    c.wait_until("the service to run again", LONG, |c| {
        c.children_with_argv(argv)
            .iter()
            .any(|p| *p != old && p.is_alive())
    });
}

/// An activated socket is bound by cinit before the service starts and
/// passed as descriptor 3 with LISTEN_PID equal to the service's pid (the
/// helper refuses otherwise); a client connecting all the time while the
/// service is killed three times is never refused, and is answered by
/// every one of the four processes — connections that arrive while no
/// process runs wait in the socket's queue. The second socket (TCP) is
/// listening too, the Unix socket file has the declared mode, and
/// `cinit-ctl fdstore` lists both.
#[test]
fn activated_sockets_refuse_no_connection_across_restarts() {
    let fx = Fixture::new();
    let path = fx.path().join("web.sock");
    let port = free_port();
    acceptor(
        &fx,
        "web",
        &format!(
            "# name address options\nlocal unix:{} mode=0600\nhttp tcp:127.0.0.1:{port}\n",
            path.display()
        ),
    );
    fx.service("init").needs("web");
    let c = fx.boot_ctl();
    c.wait_state("running", "web");
    let meta = fs::metadata(&path).unwrap();
    c.check(meta.file_type().is_socket(), "no socket file");
    c.check(meta.mode() & 0o777 == 0o600, "mode=0600 not applied");
    TcpStream::connect(("127.0.0.1", port)).expect("the TCP socket listens");
    let list = c.ctl(&["fdstore", "web"]);
    c.check(
        list.code() == Some(0)
            && list.stdout.contains("local")
            && list.stdout.contains(&format!("tcp 127.0.0.1:{port}")),
        &format!("fdstore list:\n{}", list.dump()),
    );

    let stop = Arc::new(AtomicBool::new(false));
    let client = {
        let (stop, path) = (stop.clone(), path.clone());
        std::thread::spawn(move || {
            let mut greetings = Vec::new();
            let mut refused = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                match UnixStream::connect(&path) {
                    Ok(s) => greetings.push(read_line(&s)),
                    Err(e) => refused.push(e.to_string()),
                }
            }
            (greetings, refused)
        })
    };
    let argv = [helper(), "accept"];
    for _ in 0..3 {
        // Let a few connections through first.
        std::thread::sleep(Duration::from_millis(200));
        kill_and_wait_successor(&c, &argv);
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let (greetings, refused) = client.join().unwrap();
    c.check(
        refused.is_empty(),
        &format!("connections refused while restarting: {refused:?}"),
    );
    let mut pids: Vec<u32> = greetings
        .iter()
        .filter(|g| !g.is_empty()) // accepted by a process killed before it answered
        .map(|g| pid_in(g, "hi"))
        .collect();
    pids.dedup();
    pids.sort_unstable();
    pids.dedup();
    c.check(
        pids.len() == 4,
        &format!(
            "expected answers from 4 processes, got {pids:?} in {} greetings",
            greetings.len()
        ),
    );
}

/// A service connects to a peer, stores the connection in cinit's fd store,
/// and crashes (SIGKILL). Its next process gets the connection back
/// (named `conn` in LISTEN_FDNAMES) and answers on it: the peer keeps
/// talking on the one connection it accepted, and never sees a second.
#[test]
fn a_stored_connection_survives_a_crash() {
    let fx = Fixture::new();
    let peer_path = fx.path().join("peer.sock");
    let peer = UnixListener::bind(&peer_path).unwrap();
    talker(&fx, "talker", &peer_path);
    fx.service("init").needs("talker");
    let c = fx.boot_ctl();
    let (conn, _) = peer.accept().unwrap();
    let first = pid_in(&read_line(&conn), "hello");
    (&conn).write_all(b"ping\n").unwrap();
    c.check_eq_line(&conn, &format!("echo {first} ping\n"));
    kill_and_wait_successor(&c, &talker_argv(&peer_path, "talker"));
    let second = pid_in(&read_line(&conn), "back");
    c.check(second != first, "the same process answered after the crash");
    (&conn).write_all(b"still there?\n").unwrap();
    c.check_eq_line(&conn, &format!("echo {second} still there?\n"));
    peer.set_nonblocking(true).unwrap();
    c.check(
        peer.accept().is_err(),
        "the service connected again instead of using the stored connection",
    );
}

/// Ten hot updates in a row with a socket and a stored connection held:
/// after them PID 1 has exactly as many descriptors open as before, the
/// socket still answers, and the stored connection still reaches the
/// service's next process.
#[test]
fn ten_hot_updates_keep_held_descriptors_without_a_leak() {
    let fx = Fixture::new();
    let web = fx.path().join("web.sock");
    acceptor(&fx, "web", &format!("local unix:{}\n", web.display()));
    let peer_path = fx.path().join("peer.sock");
    let peer = UnixListener::bind(&peer_path).unwrap();
    talker(&fx, "talker", &peer_path);
    fx.service("init").needs("web").needs("talker");
    let c = fx.boot_ctl();
    let (conn, _) = peer.accept().unwrap();
    pid_in(&read_line(&conn), "hello");
    c.wait_state("running", "web");
    let update = |c: &Cinit| {
        let out = c.ctl(&["update"]);
        c.check(
            out.code() == Some(0) && out.stdout.starts_with("updated: "),
            &format!("cinit-ctl update:\n{}", out.dump()),
        );
    };
    update(&c);
    let before = settled_fds(&c);
    for _ in 0..10 {
        update(&c);
    }
    let after = settled_fds(&c);
    c.check(
        after.len() == before.len(),
        &format!("PID 1's descriptors changed: before {before:?}\nafter {after:?}"),
    );
    let lost: Vec<String> = c
        .console()
        .lines()
        .filter(|l| l.contains("update: lost"))
        .map(str::to_string)
        .collect();
    c.check(lost.is_empty(), &format!("losses: {lost:?}"));
    pid_in(&read_line(&UnixStream::connect(&web).unwrap()), "hi");
    let list = c.ctl(&["fdstore", "talker"]);
    c.check(list.stdout.contains("conn"), &list.dump());
    kill_and_wait_successor(&c, &talker_argv(&peer_path, "talker"));
    let back = pid_in(&read_line(&conn), "back");
    (&conn).write_all(b"after ten\n").unwrap();
    c.check_eq_line(&conn, &format!("echo {back} after ten\n"));
}

/// PID 1's descriptors once they stop changing: the connection of a
/// `cinit-ctl` that has just been answered is closed on PID 1's next turn,
/// which may come after the client has exited. Two equal readings 100 ms
/// apart (within 5 s) count as settled; a leak stays and is still seen.
fn settled_fds(c: &Cinit) -> Vec<(i32, PathBuf)> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut last = c.proc().fds();
    loop {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let now = c.proc().fds();
        if now == last || std::time::Instant::now() > deadline {
            return now;
        }
        last = now;
    }
}

/// Runs `cinit-ctl fdstore ARGS` from the host (root) with `stdin`.
fn fdstore(c: &Cinit, args: &[&str], stdin: Stdio) -> RunOutput {
    let mut cmd = c.ctl_cmd(&[&["fdstore"], args].concat());
    cmd.stdin(stdin);
    let out = cmd.output().unwrap();
    RunOutput {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The same open file under a second name is refused (kcmp); names must be
/// valid and unique (also against the sockets' names); a service stores at
/// most its `fdstore` number, none without the file; a socket cannot be
/// fetched. What is stored comes back with `get` (at descriptor 3 of the
/// program run) and is gone after `drop`.
#[test]
fn duplicates_names_and_limits_are_refused() {
    let fx = Fixture::new();
    let port = free_port();
    fx.service("holder")
        .respawn()
        .on_link("/bin/sleep")
        .params(&["1999"])
        .file("sockets", &format!("http tcp:127.0.0.1:{port}\n"))
        .file("fdstore", "2\n");
    fx.service("plain")
        .respawn()
        .on_link("/bin/sleep")
        .params(&["1998"]);
    fx.service("init").needs("holder").needs("plain");
    let c = fx.boot_ctl();
    c.wait_state("running", "holder");
    let a_path = fx.path().join("a.txt");
    fs::write(&a_path, "a").unwrap();
    let a = fs::File::open(&a_path).unwrap();
    let expect = |out: RunOutput, code: i32, needle: &str| {
        c.check(
            out.code() == Some(code) && out.all().contains(needle),
            &format!("expected exit {code} and {needle:?}:\n{}", out.dump()),
        );
    };
    let ok = fdstore(&c, &["holder", "put", "a"], a.try_clone().unwrap().into());
    expect(ok, 0, "");
    expect(
        fdstore(&c, &["holder", "put", "a2"], a.try_clone().unwrap().into()),
        1,
        "the same open file is held already, as a",
    );
    let other = || Stdio::from(fs::File::open(&a_path).unwrap());
    expect(
        fdstore(&c, &["holder", "put", "a"], other()),
        1,
        "a descriptor named a is held already",
    );
    expect(
        fdstore(&c, &["holder", "put", "http"], other()),
        1,
        "a descriptor named http is held already",
    );
    expect(
        fdstore(&c, &["holder", "put", "x:y"], other()),
        1,
        "bad descriptor name",
    );
    let b_path = fx.path().join("b.txt");
    fs::write(&b_path, "b").unwrap();
    let b = Stdio::from(fs::File::open(&b_path).unwrap());
    expect(fdstore(&c, &["holder", "put", "b"], b), 0, "");
    expect(
        fdstore(&c, &["holder", "put", "c"], other()),
        1,
        "holds 2 stored descriptors already",
    );
    expect(
        fdstore(&c, &["plain", "put", "p"], other()),
        1,
        "no fdstore file",
    );
    expect(
        fdstore(&c, &["holder", "get", "http", "/bin/true"], Stdio::null()),
        1,
        "a socket of the sockets file",
    );
    let got = fdstore(
        &c,
        &["holder", "get", "a", "/bin/sh", "-c", "cat <&3"],
        Stdio::null(),
    );
    expect(got, 0, "a");
    expect(fdstore(&c, &["holder", "drop", "a"], Stdio::null()), 0, "");
    let list = fdstore(&c, &["holder"], Stdio::null());
    c.check(
        list.code() == Some(0) && !list.stdout.contains("a.txt") && list.stdout.contains("b.txt"),
        &format!("after drop:\n{}", list.dump()),
    );
    expect(
        fdstore(&c, &["holder", "get", "a", "/bin/true"], Stdio::null()),
        1,
        "no descriptor named a is stored",
    );
}

/// Only root or the service itself: a non-root process of another service
/// is refused the victim's descriptor (exit 4), as is a non-root client
/// outside any service; a non-root process of a service may store and
/// list its own service's descriptors (it is in the service's session);
/// root may fetch anyone's. cinit runs as the real root here (no user
/// namespace) so that uid 65534 exists.
#[test]
fn another_service_cannot_take_them() {
    if !runs_as_root("uid 65534 as another service") {
        return;
    }
    let fx = Fixture::new();
    let ctl = fx.ctl_for_others();
    let ctl = ctl.to_str().unwrap();
    let secret = fx.path().join("secret");
    fs::write(&secret, "s3cret").unwrap();
    let env = format!("CINIT_CTL_DIR={}", fx.ctl_dir().display());
    let as_nobody = format!(
        "{} --reuid=65534 --regid=65534 --clear-groups",
        util_bin("setpriv").display()
    );
    fx.service("victim")
        .respawn()
        .env(&[PATH_ENV, &env])
        .file("fdstore", "4\n")
        .script(&format!(
            "{ctl} fdstore victim put secret <{secret} && {}\nexec sleep 1999\n",
            sh_touch(&fx.mark("stored")),
            secret = secret.display()
        ));
    fx.service("own")
        .respawn()
        .env(&[PATH_ENV, &env])
        .file("fdstore", "4\n")
        .script(&format!(
            "{as_nobody} {ctl} fdstore own put mine </dev/null && \
             {as_nobody} {ctl} fdstore own >{list} 2>&1 && {}\nexec sleep 1998\n",
            sh_touch(&fx.mark("own")),
            list = fx.mark("own-list").display()
        ));
    fx.service("thief")
        .env(&[PATH_ENV, &env])
        .needs("victim")
        .script(&format!(
            "{}\nout=$({as_nobody} {ctl} fdstore victim get secret /bin/cat 2>&1)\n\
             echo \"$? $out\" >{}\n",
            sh_wait_for(&fx.mark("stored"), 3000),
            fx.mark("thief").display()
        ));
    fx.service("init").needs("thief").needs("own");
    let c = fx.boot_ctl_real_root();
    // The shell creates the marker before `echo` fills it: wait for the line.
    c.wait_until("the thief's attempt", LONG, |_| {
        fx.read_mark("thief").ends_with('\n')
    });
    let thief = fx.read_mark("thief");
    c.check(
        thief.starts_with("4 ") && thief.contains("permission denied"),
        &format!("the thief got: {thief:?}"),
    );
    c.wait_until("the service's own non-root store", LONG, |_| {
        fx.has_mark("own")
    });
    c.check(
        fx.read_mark("own-list").contains("mine"),
        &format!("own list: {:?}", fx.read_mark("own-list")),
    );
    let outsider = c.ctl_in_ns_as(65534, Path::new(ctl), &["fdstore", "victim"]);
    c.check(
        outsider.code() == Some(4) && outsider.all().contains("permission denied"),
        &outsider.dump(),
    );
    let root = c.ctl(&[
        "fdstore",
        "victim",
        "get",
        "secret",
        "/bin/cat",
        "/dev/fd/3",
    ]);
    c.check(
        root.code() == Some(0) && root.stdout.contains("s3cret"),
        &format!("root's fetch:\n{}", root.dump()),
    );
}

/// `cinit-ctl stop` releases a service's sockets and stored descriptors
/// (a connection is then refused, not left hanging), `restart` keeps the
/// very same socket (same socket file), and a start binds again.
#[test]
fn stop_releases_and_restart_keeps() {
    let fx = Fixture::new();
    let path = fx.path().join("web.sock");
    acceptor(&fx, "web", &format!("local unix:{}\n", path.display()));
    fx.service("init").needs("web");
    let c = fx.boot_ctl();
    c.wait_state("running", "web");
    let ino = fs::metadata(&path).unwrap().ino();
    let out = c.ctl(&["restart", "web"]);
    c.check(out.code() == Some(0), &out.dump());
    c.check(
        fs::metadata(&path).unwrap().ino() == ino,
        "restart made a new socket",
    );
    pid_in(&read_line(&UnixStream::connect(&path).unwrap()), "hi");
    let out = c.ctl(&["stop", "web"]);
    c.check(out.code() == Some(0), &out.dump());
    let refused = UnixStream::connect(&path);
    c.check(
        refused.is_err(),
        "a stopped service's socket still accepts connections",
    );
    let list = c.ctl(&["fdstore", "web"]);
    c.check(!list.stdout.contains("local"), &list.dump());
    let out = c.ctl(&["start", "web"]);
    c.check(out.code() == Some(0), &out.dump());
    pid_in(&read_line(&UnixStream::connect(&path).unwrap()), "hi");
}

/// Bad input is reported, not fatal: a malformed `sockets` file fails its
/// service with the file and line named; a port in use keeps a respawn
/// service in backoff with the address named, until the port is free; a
/// `notification-fd` among the passed descriptors is refused; a service
/// beside them runs on.
#[test]
fn bad_sockets_are_reported_and_busy_ports_retried() {
    let fx = Fixture::new();
    fx.service("bad")
        .on_link(helper())
        .params(&["accept"])
        .file("sockets", "ok tcp:127.0.0.1:1\nbroken foo:bar\n");
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    acceptor(&fx, "busy", &format!("http tcp:127.0.0.1:{port}\n"));
    acceptor(
        &fx,
        "clash",
        &format!("http tcp:127.0.0.1:{}\n", free_port()),
    );
    fx.service("clash").file("notification-fd", "3\n");
    fx.service("bystander")
        .respawn()
        .on_link("/bin/sleep")
        .params(&["1997"]);
    fx.service("init")
        .wants("bad")
        .wants("busy")
        .wants("clash")
        .needs("bystander");
    let c = fx.boot_ctl();
    c.expect_failed_with("bad", "sockets: line 2");
    c.expect_failed_with("clash", "notification-fd 3 is one of the descriptors");
    c.wait_state("running", "bystander");
    c.wait_until("busy to back off naming the port", LONG, |c| {
        let st = c.ctl(&["status", "busy"]);
        st.stdout.contains("backoff") && st.stdout.contains(&port.to_string())
    });
    drop(busy);
    c.wait_state_for("running", "busy", LONG);
    TcpStream::connect(("127.0.0.1", port)).expect("busy listens once the port is free");
}

trait LineCheck {
    fn check_eq_line(&self, s: &UnixStream, want: &str);
}

impl LineCheck for Cinit {
    #[track_caller]
    fn check_eq_line(&self, s: &UnixStream, want: &str) {
        let start = Instant::now();
        let got = read_line(s);
        self.check(
            got == want,
            &format!("expected {want:?}, got {got:?} after {:?}", start.elapsed()),
        );
    }
}
