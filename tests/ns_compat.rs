//! Hot update from the previous release to this build, with the real
//! binaries as PID 1 in namespaces.
//!
//! Users update a running system from the release they have: the previous
//! release's cinit writes the snapshot and this build must read all of it.
//! The test boots the previous release (the Makefile's `PREV_RELEASE`,
//! built by `make prev` into `target/prev/`; `CINIT_PREV_BIN` names its
//! `cinit`, with its `cinit-ctl` beside it), gives it services with logs, a
//! readiness pipe still waiting, a client waiting for that readiness, a log
//! follower and descriptors in the fd store, replaces the binary with this
//! build and runs `cinit-ctl update`, then checks that everything carried
//! over.
//!
//! `make test` always sets `CINIT_PREV_BIN`; the test fails if make runs it
//! without, and is skipped with a note only when run by hand without it.
#![cfg(test)]

mod common;
/// The previous release: where its binaries are
/// (`CINIT_PREV_BIN`, set by `make test`), and its clients running in the
/// background across a hot update.
mod prev {
    use super::common::{Cinit, POLL};
    use std::fs;
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    /// How long a background client may take to exit.
    const SLOW: Duration = Duration::from_secs(20);

    /// The previous release's `cinit` and `cinit-ctl`, or `None` (with a note)
    /// when the test runs by hand without `CINIT_PREV_BIN`. Under make (which
    /// exports `MAKELEVEL`) a missing variable is a broken Makefile: fail.
    pub fn prev_bins() -> Option<(PathBuf, PathBuf)> {
        let Some(cinit) = std::env::var_os("CINIT_PREV_BIN").map(PathBuf::from) else {
            assert!(
                std::env::var_os("MAKELEVEL").is_none(),
                "CINIT_PREV_BIN is not set, but make runs this test: the Makefile's \
                 target must build `prev` and pass CINIT_PREV_BIN (see the `test` target)"
            );
            eprintln!(
                "ns_compat: skipped: CINIT_PREV_BIN is not set. `make prev` builds the previous \
                 release; then run CINIT_PREV_BIN=$PWD/target/prev/HASH/build/TARGET/release/cinit \
                 cargo test --test ns_compat (`make test` does this)"
            );
            return None;
        };
        let ctl = cinit.with_file_name("cinit-ctl");
        for p in [&cinit, &ctl] {
            assert!(
                p.is_file(),
                "CINIT_PREV_BIN: {} does not exist (run `make prev`)",
                p.display()
            );
        }
        Some((cinit, ctl))
    }

    /// A `cinit-ctl` command of the previous release, reaching `c` from the host.
    pub fn old_ctl(c: &Cinit, ctl: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(ctl);
        cmd.args(args)
            .env_clear()
            .env("CINIT_CTL_DIR", c.ctl_dir_via_proc())
            .current_dir("/");
        cmd
    }

    /// A client running in the background, its stdout and stderr in files;
    /// killed when dropped.
    pub struct Bg {
        child: Child,
        out: PathBuf,
        err: PathBuf,
    }

    impl Bg {
        pub fn spawn(mut cmd: Command, dir: &Path, name: &str, stdin: Stdio) -> Bg {
            let out = dir.join(format!("{name}.out"));
            let err = dir.join(format!("{name}.err"));
            let child = cmd
                .stdin(stdin)
                .stdout(fs::File::create(&out).unwrap())
                .stderr(fs::File::create(&err).unwrap())
                .spawn()
                .unwrap();
            Bg { child, out, err }
        }

        pub fn running(&mut self) -> bool {
            self.child.try_wait().unwrap().is_none()
        }

        pub fn stdout(&self) -> String {
            fs::read_to_string(&self.out).unwrap_or_default()
        }

        pub fn dump(&self) -> String {
            format!(
                "stdout: {:?}\nstderr: {:?}",
                self.stdout(),
                fs::read_to_string(&self.err).unwrap_or_default()
            )
        }

        /// Its exit code, waiting at most `SLOW`.
        pub fn exit_code(&mut self, c: &Cinit) -> Option<i32> {
            let deadline = Instant::now() + SLOW;
            loop {
                if let Some(st) = self.child.try_wait().unwrap() {
                    return st.code();
                }
                if Instant::now() > deadline {
                    c.fail(&format!("a client did not exit\n{}", self.dump()));
                }
                std::thread::sleep(POLL);
            }
        }
    }

    impl Drop for Bg {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

use cinit::ctl::client::request;
use cinit::proto::{Reply, Request};
use common::*;
use prev::{old_ctl, prev_bins, Bg};
use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// A generous deadline for a loaded machine.
const SLOW: Duration = Duration::from_secs(20);

/// Runs `cinit-ctl ARGS` of this build; fails unless it exits 0.
#[track_caller]
fn ctl_ok(c: &Cinit, args: &[&str]) -> String {
    let out = c.ctl(args);
    if out.code() != Some(0) {
        c.fail(&format!("cinit-ctl {args:?}:\n{}", out.dump()));
    }
    out.stdout
}

/// name → (state, pid, restarts), asked through the library client (what
/// `cinit-ctl status` uses).
#[track_caller]
fn status_keys(c: &Cinit) -> BTreeMap<String, (String, Option<u32>, u32)> {
    match request(
        &c.socket_path(),
        &Request::Status { names: vec![] },
        Some(Duration::from_secs(5)),
    ) {
        Ok(Reply::Services(list)) => list
            .into_iter()
            .map(|s| (s.name, (s.state, s.pid, s.restarts)))
            .collect(),
        Ok(other) => c.fail(&format!("status: unexpected reply {other:?}")),
        Err(e) => c.fail(&format!("status: {e}")),
    }
}

/// Numbers `K` of the log lines ending in `line K`.
fn numbers(log: &str) -> Vec<u64> {
    log.lines()
        .filter_map(|l| l.rsplit_once("] line ")?.1.parse().ok())
        .collect()
}

/// Whether `v` starts at 1 and counts up by one.
fn from_one_consecutive(v: &[u64]) -> bool {
    v.first() == Some(&1) && v.windows(2).all(|w| w[1] == w[0] + 1)
}

/// The inode in a `/proc/PID/fd` link such as `pipe:[123]`, `socket:[9]`.
fn inode_of(link: &str) -> Option<u64> {
    link.trim()
        .rsplit_once(":[")?
        .1
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// `/proc/self/fd/N`'s inode: what `/proc/PID/fd` shows as `pipe:[INO]`.
fn ino(fd: &impl AsRawFd) -> u64 {
    fs::metadata(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .unwrap()
        .ino()
}

/// What the test handed to the fd store, and what it kept: the write end
/// of the stored pipe `p`, the other end of the stored socket `s`.
struct Stored {
    pipe_w: std::io::PipeWriter,
    pipe_ino: u64,
    sock_ours: UnixStream,
    sock_ino: u64,
}

/// Stores a pipe's read end as `p` and a socket pair's end as `s` for
/// `holder`, through the previous release's client.
fn store_descriptors(c: &Cinit, fx: &Fixture, prev_ctl: &Path) -> Stored {
    let (pipe_r, pipe_w) = std::io::pipe().unwrap();
    let (sock_ours, sock_theirs) = UnixStream::pair().unwrap();
    let (pipe_ino, sock_ino) = (ino(&pipe_r), ino(&sock_theirs));
    for (name, fd) in [
        ("p", OwnedFd::from(pipe_r)),
        ("s", OwnedFd::from(sock_theirs)),
    ] {
        let mut put = Bg::spawn(
            old_ctl(c, prev_ctl, &["fdstore", "holder", "put", name]),
            fx.path(),
            &format!("put-{name}"),
            Stdio::from(fd),
        );
        let code = put.exit_code(c);
        c.check(
            code == Some(0),
            &format!("old cinit-ctl fdstore put {name}: {code:?}\n{}", put.dump()),
        );
    }
    Stored {
        pipe_w,
        pipe_ino,
        sock_ours,
        sock_ino,
    }
}

/// After the update: the store lists what it listed before, hands back the
/// same pipe, and the next start of `holder` (after its process, pid
/// `holder_pid` in the namespace, is killed) gets its socket (the one its
/// first start had), the pipe and the socket, and talks through them.
fn check_store(
    c: &Cinit,
    fx: &Fixture,
    stored: &Stored,
    before: &str,
    first_start: &str,
    holder_pid: Option<u32>,
) {
    let after = ctl_ok(c, &["fdstore", "holder"]);
    c.check(
        after == before,
        &format!("the store changed:\nbefore {before:?}\nafter {after:?}"),
    );
    let (pipe_ino, sock_ino) = (stored.pipe_ino, stored.sock_ino);
    let readlink = ["/usr/bin/readlink", "/proc/self/fd/3"];
    let got = ctl_ok(
        c,
        &[&["fdstore", "holder", "get", "p"][..], &readlink].concat(),
    );
    c.check(
        inode_of(&got) == Some(pipe_ino),
        &format!("fdstore get p gave {got:?}, not pipe:[{pipe_ino}]"),
    );
    let holder = c
        .children()
        .into_iter()
        .find(|p| p.ns_pid().and_then(|n| u32::try_from(n).ok()) == holder_pid)
        .unwrap_or_else(|| c.fail(&format!("holder (pid {holder_pid:?}) is not cinit's child")));
    fs::remove_file(fx.mark("holder.fds")).unwrap();
    c.check(send_signal(holder.pid, libc::SIGKILL), "cannot kill holder");
    c.wait_until("holder started again", SLOW, |_| fx.has_mark("holder.fds"));
    (&stored.pipe_w).write_all(b"through the update\n").unwrap();
    c.wait_until("holder read the pipe", SLOW, |_| {
        fx.read_mark("holder.pipe") == "through the update\n"
    });
    let mut back = [0u8; 14];
    stored.sock_ours.set_read_timeout(Some(SLOW)).unwrap();
    let read = (&stored.sock_ours).read_exact(&mut back);
    let second_start = fx.read_mark("holder.fds");
    let first: Vec<&str> = first_start.lines().collect();
    let second: Vec<&str> = second_start.lines().collect();
    c.check_all(vec![
        (
            second.first() == Some(&"ctl:p:s"),
            format!("LISTEN_FDNAMES at the next start: {second:?}"),
        ),
        (
            first.get(1).is_some() && first.get(1) == second.get(1),
            format!("the socket changed: {first:?} then {second:?}"),
        ),
        (
            second.get(2).and_then(|l| inode_of(l)) == Some(pipe_ino)
                && second.get(3).and_then(|l| inode_of(l)) == Some(sock_ino),
            format!(
                "stored descriptors at the next start: {second:?}, \
                 want pipe:[{pipe_ino}] and socket:[{sock_ino}]"
            ),
        ),
        (
            read.is_ok() && &back == b"back through s",
            format!(
                "through the stored socket: {read:?} {:?}",
                String::from_utf8_lossy(&back)
            ),
        ),
    ]);
}

/// Sets up the services, boots the previous release from a copy at
/// `bin/cinit` and waits until it is settled.
fn boot_prev(fx: &Fixture, prev: &Path) -> (Cinit, PathBuf) {
    // Logs: a numbered line every 20 ms, the count kept in a marker; a
    // ring that holds them all for minutes, however slow the machine.
    let n = fx.mark("talker.n");
    fx.service("talker")
        .respawn()
        .file("log.mirror", "no\n")
        .file("log.size", "1M\n")
        .script(&format!(
            "i=0\nwhile :; do i=$((i+1)); echo \"line $i\"; echo $i > '{}'; sleep 0.02; done",
            n.display()
        ));
    // Readiness: not ready until the marker `go` exists; a needer waits.
    fx.service("ready")
        .respawn()
        .file("notification-fd", "3\n")
        .script(&format!(
            "echo waiting\nwhile [ ! -e '{go}' ]; do sleep 0.02; done\n\
             echo >&3\necho is ready\nexec sleep 1000",
            go = fx.mark("go").display()
        ));
    fx.service("needer")
        .respawn()
        .needs("ready")
        .on_link("/bin/sleep")
        .params(&["1000"]);
    // The fd store: a socket of its own and room for stored descriptors.
    // Each start records what it got; with a stored pipe `p` and socket
    // `s`, it reads a line from `p` and answers through `s`.
    let got = fx.mark("holder.fds");
    fx.service("holder")
        .respawn()
        .file("fdstore", "4\n")
        .file(
            "sockets",
            &format!("ctl unix:{}\n", fx.path().join("holder.sock").display()),
        )
        .script(&format!(
            "{{ echo \"$LISTEN_FDNAMES\"; for n in 3 4 5; do readlink /proc/self/fd/$n; done; }} \
             > '{got}.tmp'; mv '{got}.tmp' '{got}'\n\
             if [ -e /proc/self/fd/5 ]; then read -r l <&4; echo \"$l\" > '{pipe}'; \
             echo \"back through s\" >&5; fi\nexec sleep 1000",
            got = got.display(),
            pipe = fx.mark("holder.pipe").display()
        ));
    let init = fx.service("init");
    for s in ["talker", "needer", "holder"] {
        init.needs(s);
    }
    let bin = fx.path().join("bin/cinit");
    fs::create_dir_all(bin.parent().unwrap()).unwrap();
    fs::copy(prev, &bin).unwrap();
    let c = Cinit::launch_with(
        fx,
        &[],
        &[],
        &LaunchOpts {
            cinit: Some(bin.clone()),
            ctl_dir: Some(fx.ctl_dir()),
            ..LaunchOpts::default()
        },
    );
    c.wait_listening();
    c.wait_until("talker, holder running; ready starting", SLOW, |c| {
        c.has_state("running", "talker")
            && c.has_state("running", "holder")
            && c.has_state("starting", "ready")
            && fx.has_mark("holder.fds")
    });
    (c, bin)
}

/// Proves a hot update from the previous release to this build keeps what
/// users rely on: every service keeps its state, pid and restart count;
/// every log line written before (service output and cinit's own, with
/// their time stamps) is still in `cinit-ctl log`, the logged pipe loses no
/// line across the exec and a follower (the old client) keeps receiving;
/// the readiness pipe of a service not ready yet still counts its newline
/// after the update, so its needer starts and a `cinit-ctl wait` of the
/// old client, pending across the update, answers exit 0; the fd store
/// still lists its sockets and stored descriptors, hands back the same
/// pipe (same inode), and passes the same socket, pipe and socket pair to
/// the next start, through which data still flows; `cinit-ctl version`
/// names this build and nothing is reported lost.
#[test]
fn update_from_previous_release_keeps_everything() {
    let Some((prev, prev_ctl)) = prev_bins() else {
        return;
    };
    let fx = Fixture::new();
    let (mut c, bin) = boot_prev(&fx, &prev);
    let count = || fx.read_mark("talker.n").trim().parse::<u64>().unwrap_or(0);
    c.wait_until("20 talker lines", SLOW, |_| count() >= 20);

    let stored = store_descriptors(&c, &fx, &prev_ctl);
    let first_start = fx.read_mark("holder.fds");

    // Clients of the old release, pending across the update.
    let mut wait = Bg::spawn(
        old_ctl(&c, &prev_ctl, &["wait", "ready"]),
        fx.path(),
        "wait",
        Stdio::null(),
    );
    let mut follower = Bg::spawn(
        old_ctl(&c, &prev_ctl, &["log", "-f", "talker"]),
        fx.path(),
        "follower",
        Stdio::null(),
    );
    c.wait_until("the follower to read", SLOW, |_| {
        !numbers(&follower.stdout()).is_empty()
    });

    // What the previous release shows.
    let old_version = ctl_ok(&c, &["version"])
        .lines()
        .find_map(|l| {
            Some(
                l.strip_prefix("cinit ")?
                    .strip_suffix(" (protocol 1)")?
                    .to_owned(),
            )
        })
        .unwrap_or_else(|| c.fail("no server line in `cinit-ctl version`"));
    let new_version = cinit::version();
    c.check(
        old_version != new_version,
        &format!("the previous release reports this build's version {new_version:?}"),
    );
    let status_before = status_keys(&c);
    let talker_before = ctl_ok(&c, &["log", "talker"]);
    let ready_before = ctl_ok(&c, &["log", "ready"]);
    let own_before = ctl_ok(&c, &["log"]);
    let store_before = ctl_ok(&c, &["fdstore", "holder"]);
    c.check(
        store_before.lines().count() == 3,
        &format!("the store before the update: {store_before:?}"),
    );

    // The update: this build replaces the binary at the path the previous
    // release was started from; `cinit-ctl update` of this build asks.
    let tmp = bin.with_extension("new");
    fs::copy(cinit_bin(), &tmp).unwrap();
    fs::rename(&tmp, &bin).unwrap();
    let lines_at_update = count();
    let out = c.ctl(&["update"]);
    let want = format!("updated: cinit {new_version} is running (was {old_version})\n");
    c.check(
        out.code() == Some(0) && out.stdout == want,
        &format!("cinit-ctl update: expected {want:?}\n{}", out.dump()),
    );

    // Services, pids and restart counters: unchanged.
    let status_after = status_keys(&c);
    c.check(
        status_after == status_before,
        &format!("status changed:\nbefore {status_before:#?}\nafter {status_after:#?}"),
    );
    // The readiness pipe and the waiting client carried over.
    c.check(
        wait.running(),
        &format!("the pending wait ended at the update\n{}", wait.dump()),
    );
    fs::write(fx.mark("go"), "").unwrap();
    let code = wait.exit_code(&c);
    c.check(
        code == Some(0),
        &format!("the pending wait answered {code:?}\n{}", wait.dump()),
    );
    c.wait_until("needer running", SLOW, |c| c.has_state("running", "needer"));
    // Ready through the pipe it had: the same process, never restarted.
    let ready_now = status_keys(&c).remove("ready");
    let ready_was = status_before
        .get("ready")
        .cloned()
        .map(|(_, pid, n)| ("running".to_owned(), pid, n));
    c.check(
        ready_now == ready_was,
        &format!("ready became {ready_now:?}, not {ready_was:?} (its readiness pipe was lost?)"),
    );

    // Logs: every line from before, with its stamps, in order; no line lost
    // across the exec; the follower goes on.
    c.wait_until("40 lines after the update", SLOW, |_| {
        count() >= lines_at_update + 40
    });
    c.wait_until("the follower past the update", SLOW, |_| {
        numbers(&follower.stdout())
            .last()
            .is_some_and(|&n| n >= lines_at_update + 40)
    });
    let talker_after = ctl_ok(&c, &["log", "talker"]);
    let ready_after = ctl_ok(&c, &["log", "ready"]);
    let own_after = ctl_ok(&c, &["log"]);
    let logged = numbers(&talker_after);
    let followed = numbers(&follower.stdout());
    c.check_all(vec![
        (
            talker_after.starts_with(&talker_before),
            format!("talker's lines from before are not all there:\nbefore:\n{talker_before}\nafter:\n{talker_after}"),
        ),
        (
            from_one_consecutive(&logged) && logged.len() as u64 >= lines_at_update + 40,
            format!("talker's log: {} lines {:?}..{:?}", logged.len(), logged.first(), logged.last()),
        ),
        (
            ready_after.starts_with(&ready_before) && ready_after.ends_with("] is ready\n"),
            format!("ready's log:\nbefore:\n{ready_before}\nafter:\n{ready_after}"),
        ),
        (
            own_after.starts_with(&own_before),
            format!("cinit's own lines from before are not all there:\nbefore:\n{own_before}\nafter:\n{own_after}"),
        ),
        (
            follower.running() && followed.windows(2).all(|w| w[1] == w[0] + 1),
            format!("the follower: {} lines {:?}..{:?}\n{}", followed.len(), followed.first(), followed.last(), follower.dump()),
        ),
    ]);

    let holder_pid = status_after.get("holder").and_then(|h| h.1);
    check_store(&c, &fx, &stored, &store_before, &first_start, holder_pid);

    // This build answers, took over from the previous one, lost nothing.
    let version = ctl_ok(&c, &["version"]);
    let want = format!("cinit-ctl {new_version}\ncinit {new_version} (protocol 1)\n");
    let console = c.console();
    let lost = [
        "update: lost",
        "update failed",
        "emergency",
        "internal error",
    ];
    let bad: Vec<&str> = console
        .lines()
        .filter(|l| lost.iter().any(|b| l.contains(b)))
        .collect();
    c.check_all(vec![
        (
            version == want,
            format!("version: {version:?}, want {want:?}"),
        ),
        (
            console.contains(&format!(
                "cinit {new_version} took over from cinit {old_version} as PID 1"
            )),
            "no `took over` line naming both builds".to_owned(),
        ),
        (
            bad.is_empty(),
            format!("the console says:\n{}", bad.join("\n")),
        ),
    ]);
    c.assert_alive();
}

/// Proves `signal` and `reload` against the previous release and across a
/// hot update from it: the previous release answers both UNSUPPORTED, and
/// this build's `cinit-ctl` exits 3 saying cinit does not support the
/// request (the service got nothing); after the update to this build,
/// which did not start the service and so has no record of its signal
/// files, `signal svc USR1` reaches it, and `stop` sends the INT its
/// `stop-signal` file names (read then), not SIGTERM.
#[test]
fn signals_against_and_after_the_previous_release() {
    let Some((prev, _)) = prev_bins() else {
        return;
    };
    let fx = Fixture::new();
    let (rec, up) = (fx.mark("rec"), fx.mark("up"));
    let r = rec.display();
    fx.service("svc")
        .respawn()
        .delay(3)
        .file("stop-signal", "INT\n")
        .script(&format!(
            "trap 'echo int >> {r}; exit 0' INT\ntrap 'echo term >> {r}' TERM\n\
             trap 'echo usr1 >> {r}' USR1\n{}\nwhile :; do sleep 0.05; done",
            sh_touch(&up)
        ));
    fx.service("init").needs("svc");
    let bin = fx.path().join("bin/cinit");
    fs::create_dir_all(bin.parent().unwrap()).unwrap();
    fs::copy(prev, &bin).unwrap();
    let c = Cinit::launch_with(
        &fx,
        &[],
        &[],
        &LaunchOpts {
            cinit: Some(bin.clone()),
            ctl_dir: Some(fx.ctl_dir()),
            ..LaunchOpts::default()
        },
    );
    c.wait_listening();
    c.wait_until("the traps", SLOW, |_| fx.has_mark("up"));
    for args in [["signal", "svc", "USR1"].as_slice(), &["reload", "svc"]] {
        let out = c.ctl(args);
        c.check(
            out.code() == Some(3)
                && out
                    .stderr
                    .contains("cinit does not support this request (is it an older version?)"),
            &format!("{args:?} against the previous release\n{}", out.dump()),
        );
    }
    c.check(!fx.has_mark("rec"), "the old cinit signalled the service");

    let tmp = bin.with_extension("new");
    fs::copy(cinit_bin(), &tmp).unwrap();
    fs::rename(&tmp, &bin).unwrap();
    ctl_ok(&c, &["update"]);
    ctl_ok(&c, &["signal", "svc", "USR1"]);
    c.wait_until("usr1 recorded", SLOW, |_| {
        fx.has_mark("rec") && fx.read_mark("rec").contains("usr1")
    });
    ctl_ok(&c, &["stop", "svc"]);
    let got = fx.read_mark("rec");
    c.check(got == "usr1\nint\n", &format!("recorded {got:?}"));
}
