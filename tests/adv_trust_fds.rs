//! Adversarial suite, family G (trust boundary), case G1: a descriptor
//! passed to cinit can never freeze PID 1 (doc/RELIABILITY.md).
//!
//! The weapon (`tests/adv/linger.c`): a TCP socket on 127.0.0.1 with
//! `SO_LINGER` {1, [`LINGER_S`]} whose peer never reads, both buffers full,
//! so that its last `close()` waits the whole linger time in whoever makes
//! it. It is handed to cinit so that cinit holds the only copy, then cinit
//! lets go of it: dropped with a frame, as the fifth descriptor of one
//! message (more than a connection may pass; before, more than cinit's
//! receive buffer held, so the kernel closed it inside PID 1's `recvmsg`),
//! or left unread in a connection that is then closed. Meanwhile root's
//! `cinit-ctl status` is timed again and again over the linger time: it
//! must answer in well under a second every time. With the fix the linger
//! happens in cinit's closer process; the tests also see that process
//! (stuck in `close`), see a stuck one killed and replaced, and see every
//! closer reaped.
//!
//! The attacker is uid 65534. A process outside any service is refused
//! descriptors by the kernel itself on Linux 6.16 and later
//! (`SO_PASSRIGHTS`); a process of a service with an `fdstore` file may
//! pass them, and is the one that tries every way of making cinit drop one.

#![cfg(test)]

mod common;

use cinit::proto::{encode_request, Request};
use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::thread::sleep;
use std::time::{Duration, Instant};

/// How long the weapon's close lingers.
const LINGER_S: u64 = 10;
/// The slowest `status` allowed while it lingers (the machine is shared;
/// unloaded it is a few milliseconds, process start included).
const STATUS_BOUND: Duration = Duration::from_millis(900);
const NOBODY: u32 = 65534;
/// Longest wait for the weapon to get ready (it fills buffers, cinit boots).
const LONG: Duration = Duration::from_secs(30);
/// Name of the closer process (`/proc/PID/comm`).
const CLOSER: &str = "cinit-closer";

/// The compiled `tests/adv/linger.c`.
fn linger_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| compile_c_helper("adv/linger.c", "adv-linger"))
}

/// A copy of the weapon uid 65534 can run (next to `ctl_for_others`).
fn weapon_for_others(fx: &Fixture) -> PathBuf {
    let bin = fx.ctl_for_others().parent().unwrap().join("linger");
    copy_exe(linger_bin(), &bin);
    bin
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The weapon's arguments after its mode: the control socket (as seen in
/// cinit's namespaces), the linger time, a status frame and a wait frame
/// for the never-ready service `unready`.
fn weapon_args(fx: &Fixture) -> Vec<String> {
    let status = encode_request(&Request::Status { names: vec![] });
    let wait = encode_request(&Request::Wait {
        names: vec!["unready".into()],
    });
    vec![
        fx.ctl_dir().join("control").display().to_string(),
        LINGER_S.to_string(),
        hex(&status),
        hex(&wait),
    ]
}

/// A tree with `unready` (started, never ready until the mark `go`
/// exists, so a wait for it stays pending) and a bystander.
fn fixture() -> Fixture {
    let fx = Fixture::new();
    fx.service("unready")
        .respawn()
        .file("notification-fd", "5\n")
        .env(&[PATH_ENV])
        .script(&format!(
            "{}\necho >&5\nexec sleep 1997\n",
            sh_wait_for(&fx.mark("go"), 100_000)
        ));
    fx.service("healthy")
        .respawn()
        .on_link("/bin/sleep")
        .params(&["1999"]);
    fx
}

/// A service `attacker` with an `fdstore` file (so its processes may pass
/// descriptors) that runs the weapon in `mode` as uid 65534, its output in
/// the mark `out`.
fn attacker(fx: &Fixture, mode: &str) {
    let weapon = weapon_for_others(fx);
    let args = weapon_args(fx).join(" ");
    fx.service("attacker")
        .file("fdstore", "1\n")
        .env(&[PATH_ENV])
        .script(&format!(
            "exec {} --reuid={NOBODY} --regid={NOBODY} --clear-groups {} {mode} {args} >{} 2>&1\n",
            util_bin("setpriv").display(),
            weapon.display(),
            fx.mark("out").display()
        ));
    fx.service("init")
        .wants("unready")
        .wants("healthy")
        .wants("attacker");
}

/// The weapon's report so far.
fn report(fx: &Fixture) -> String {
    fs::read_to_string(fx.mark("out")).unwrap_or_default()
}

#[track_caller]
fn wait_report(c: &Cinit, fx: &Fixture, line: &str) {
    c.wait_until(&format!("the weapon to say {line:?}"), LONG, |_| {
        report(fx).lines().any(|l| l == line) || report(fx).contains("error")
    });
    let r = report(fx);
    c.check(
        r.lines().any(|l| l == line),
        &format!("the weapon says:\n{r}"),
    );
}

/// The weapon's own close was not the one that lingered (so cinit's, or
/// its closer's, is the last).
#[track_caller]
fn own_close_was_quick(c: &Cinit, fx: &Fixture) {
    let r = report(fx);
    let ms: u64 = r
        .lines()
        .find_map(|l| l.strip_prefix("close-ms "))
        .and_then(|n| n.parse().ok())
        .unwrap_or(u64::MAX);
    c.check(ms < 500, &format!("the weapon's own close lingered:\n{r}"));
}

/// cinit's closer processes now.
fn closers(c: &Cinit) -> Vec<Proc> {
    c.children()
        .into_iter()
        .filter(|p| p.status_field("Name").as_deref() == Some(CLOSER))
        .collect()
}

/// Whether `p` is in the middle of a `close()` (`/proc/PID/syscall`).
fn in_close(p: &Proc) -> bool {
    fs::read_to_string(format!("/proc/{}/syscall", p.pid))
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .is_some_and(|n| n == libc::SYS_close.to_string())
}

/// What was seen while timing `status` for `window`.
struct Watch {
    slowest: Duration,
    rounds: usize,
    /// Every closer pid seen.
    closers: Vec<i32>,
    /// A closer was seen stuck in close().
    closer_in_close: bool,
}

/// Times root's `cinit-ctl status` again and again for `window`; also
/// notes the closers seen.
fn watch(c: &Cinit, window: Duration) -> Watch {
    let mut w = Watch {
        slowest: Duration::ZERO,
        rounds: 0,
        closers: Vec::new(),
        closer_in_close: false,
    };
    let end = Instant::now() + window;
    while Instant::now() < end {
        let (out, took) = c.ctl_timed(&["status"]);
        c.check(out.code() == Some(0), &out.dump());
        w.slowest = w.slowest.max(took);
        w.rounds += 1;
        for p in closers(c) {
            if !w.closers.contains(&p.pid) {
                w.closers.push(p.pid);
            }
            w.closer_in_close |= in_close(&p);
        }
        sleep(Duration::from_millis(50));
    }
    w
}

#[track_caller]
fn status_stayed_quick(c: &Cinit, w: &Watch, case: &str) {
    c.check(
        w.slowest < STATUS_BOUND,
        &format!(
            "{case}: root's status took up to {:?} over {} rounds while the socket lingered",
            w.slowest, w.rounds
        ),
    );
    c.check(w.rounds >= 5, &format!("{case}: only {} rounds", w.rounds));
}

/// Every closer ends and is reaped (none left a zombie), and the bystander
/// kept its process.
#[track_caller]
fn closers_reaped(c: &Cinit, healthy: Proc) {
    c.wait_until(
        "every closer to be reaped",
        Duration::from_secs(LINGER_S + 40),
        |c| closers(c).is_empty() && c.zombie_children() == 0,
    );
    c.check(healthy.is_alive(), "the bystander lost its process");
}

fn boot(fx: &Fixture) -> Option<(Cinit, Proc)> {
    if !runs_as_root(&format!("uid {NOBODY} as the attacker")) {
        return None;
    }
    let c = fx.boot_ctl_real_root();
    let healthy = c.wait_child_argv(&["/bin/sleep", "1999"], None);
    Some((c, healthy))
}

/// G1, dropped with a frame: a process of a service that may store
/// descriptors sends the lingering socket with the first half of a status
/// frame, closes its own copy, then sends the rest; cinit lets go of the
/// descriptor with the frame (status takes none). Root's status stays
/// quick over the whole linger time; the linger runs in a closer process,
/// which is reaped once done.
#[test]
fn g1_a_lingering_socket_dropped_with_a_frame_does_not_stall_pid1() {
    let fx = fixture();
    attacker(&fx, "alone");
    let Some((c, healthy)) = boot(&fx) else {
        return;
    };
    wait_report(&c, &fx, "sent");
    own_close_was_quick(&c, &fx);
    let w = watch(&c, Duration::from_secs(LINGER_S));
    status_stayed_quick(&c, &w, "dropped with a frame");
    c.check(
        w.closer_in_close,
        "no closer was seen in close(): the linger did not happen there",
    );
    closers_reaped(&c, healthy);
}

/// G1, the fifth descriptor: while a wait keeps the connection busy, the
/// lingering socket is queued as the fifth descriptor of one message,
/// more than a connection may pass (before the fix, more than cinit's
/// receive buffer held: the kernel closed it inside PID 1's `recvmsg`).
/// The wait is then answered, cinit reads the message and drops the
/// client. Root's status stays quick while it lingers.
#[test]
fn g1_a_lingering_fifth_descriptor_does_not_stall_pid1() {
    queued_weapon_leaves_status_quick("fifth", "the fifth descriptor");
}

/// The attacker (`mode`) queues the weapon while a wait keeps its
/// connection busy and reports "queued"; "go" lets the wait be answered,
/// so cinit reads what was queued. Root's status stays quick while the
/// weapon lingers, a closer (not PID 1) is seen in close(), and every
/// closer is reaped.
fn queued_weapon_leaves_status_quick(mode: &str, what: &str) {
    let fx = fixture();
    attacker(&fx, mode);
    let Some((c, healthy)) = boot(&fx) else {
        return;
    };
    wait_report(&c, &fx, "queued");
    own_close_was_quick(&c, &fx);
    fs::write(fx.mark("go"), "").unwrap();
    let w = watch(&c, Duration::from_secs(LINGER_S));
    status_stayed_quick(&c, &w, what);
    c.check(w.closer_in_close, "no closer was seen in close()");
    closers_reaped(&c, healthy);
}

/// G1, out of band: while a wait keeps the connection busy, the lingering
/// socket is queued with one out-of-band byte (`MSG_OOB`), a status frame
/// after it. A read that skips an out-of-band byte frees the descriptors
/// sent with it inside the read, in PID 1; cinit reads such bytes inline
/// (`SO_OOBINLINE`), so the descriptor arrives like any other and goes to
/// the closer. Root's status stays quick while it lingers.
#[test]
fn g1_a_lingering_socket_sent_out_of_band_does_not_stall_pid1() {
    queued_weapon_leaves_status_quick("oob", "out of band");
}

/// G1 across a hot update: while a closer is stuck in the weapon's linger,
/// `cinit-ctl update` re-executes cinit. The new image does not know the
/// closer: its socket's end in PID 1 was close-on-exec, so once the linger
/// is over the closer finds the end of its socket and exits, and the new
/// image reaps it like any orphan. PID 1 stays the same process, status
/// stays quick throughout, and nothing is left behind.
#[test]
fn g1_a_hot_update_leaves_a_stuck_closer_to_end_and_be_reaped() {
    let fx = fixture();
    attacker(&fx, "alone");
    let Some((c, healthy)) = boot(&fx) else {
        return;
    };
    wait_report(&c, &fx, "sent");
    c.wait_until("a closer stuck in close()", Duration::from_secs(5), |c| {
        closers(c).iter().any(in_close)
    });
    let stuck = closers(&c);
    let pid1 = c.proc();
    let out = c.ctl(&["update"]);
    c.check(
        out.code() == Some(0) && out.stdout.starts_with("updated:"),
        &out.dump(),
    );
    c.check(c.proc() == pid1, "PID 1 changed");
    let w = watch(&c, Duration::from_secs(LINGER_S - 2));
    status_stayed_quick(&c, &w, "across a hot update");
    closers_reaped(&c, healthy);
    c.check(
        stuck.iter().all(|p| !p.is_alive()),
        "the old image's closer is still there",
    );
    c.check(!c.console().contains("update failed"), &c.console());
}

/// Root passes a pipe's read end with a status request (which takes no
/// descriptor), and closes its own copy.
fn pass_pipe(c: &Cinit) {
    use std::os::fd::AsRawFd;
    let (r, _w) = std::io::pipe().unwrap();
    let s = c.connect();
    let status = encode_request(&Request::Status { names: vec![] });
    nix::sys::socket::sendmsg::<nix::sys::socket::UnixAddr>(
        s.as_raw_fd(),
        &[std::io::IoSlice::new(&status)],
        &[nix::sys::socket::ControlMessage::ScmRights(
            &[r.as_raw_fd()],
        )],
        nix::sys::socket::MsgFlags::empty(),
        None,
    )
    .unwrap();
}

/// G1, unread in a closed connection: while a wait keeps the connection
/// busy, the lingering socket is queued in it, and the client closes the
/// connection with the message still unread. Closing that connection
/// releases what its queue holds, so cinit hands the connection itself to
/// the closer, which lingers. A descriptor dropped next waits behind it:
/// the stuck closer is killed (and reaped) long before the linger time is
/// up, and the drop after that starts a fresh closer.
#[test]
fn g1_a_connection_closed_with_a_lingering_socket_unread_does_not_stall_pid1() {
    let fx = fixture();
    attacker(&fx, "unread");
    let Some((c, healthy)) = boot(&fx) else {
        return;
    };
    wait_report(&c, &fx, "closed");
    own_close_was_quick(&c, &fx);
    let dropped = Instant::now();
    let w = watch(&c, Duration::from_secs(2));
    status_stayed_quick(&c, &w, "unread in a closed connection");
    c.check(w.closer_in_close, "no closer was seen in close()");
    c.check(w.closers.len() == 1, &format!("closers: {:?}", w.closers));
    let stuck = Proc { pid: w.closers[0] };
    pass_pipe(&c);
    c.wait_until(
        "the stuck closer to be killed and reaped",
        Duration::from_secs(4),
        |_| !stuck.is_alive(),
    );
    c.check(
        dropped.elapsed() < Duration::from_secs(LINGER_S - 2),
        "the closer ended only when the linger was over, not killed",
    );
    pass_pipe(&c);
    c.wait_until("a fresh closer", Duration::from_secs(4), |c| {
        closers(c).iter().any(|p| p.pid != stuck.pid)
    });
    let rest = Duration::from_secs(LINGER_S).saturating_sub(dropped.elapsed());
    let w2 = watch(&c, rest);
    status_stayed_quick(&c, &w2, "after the stuck closer was replaced");
    closers_reaped(&c, healthy);
}

/// Runs the weapon in `mode` as uid 65534 outside any service (entering
/// cinit's namespaces); returns it once it reported what it did.
fn outsider(c: &Cinit, fx: &Fixture, mode: &str) -> Child {
    let weapon = weapon_for_others(fx);
    let out = fx.mark("out");
    fs::create_dir_all(out.parent().unwrap()).unwrap();
    let child = Command::new(util_bin("nsenter"))
        .arg("-t")
        .arg(c.host_pid().to_string())
        .args(["-m", "-p"])
        .arg(util_bin("setpriv"))
        .arg(format!("--reuid={NOBODY}"))
        .arg(format!("--regid={NOBODY}"))
        .arg("--clear-groups")
        .arg(&weapon)
        .arg(mode)
        .args(weapon_args(fx))
        .env_clear()
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    c.wait_until("the weapon's report", LONG, |_| {
        let r = report(fx);
        r.contains("sent") || r.contains("refused") || r.contains("error")
    });
    child
}

fn outsider_fixture() -> Fixture {
    let fx = fixture();
    fx.service("init").wants("unready").wants("healthy");
    fx
}

/// G1, refused by the kernel: uid 65534 outside any service may not pass
/// descriptors at all. On Linux 6.16 and later its connection has
/// `SO_PASSRIGHTS` off from accept: once cinit has answered a request on
/// it, the `sendmsg` carrying the lingering socket fails with EPERM and
/// nothing reaches cinit (no closer runs). On older kernels the descriptor
/// arrives and goes to the closer. Either way root's status stays quick
/// over the linger time.
#[test]
fn g1_an_outsider_is_refused_descriptors() {
    let fx = outsider_fixture();
    let Some((c, healthy)) = boot(&fx) else {
        return;
    };
    let mut weapon = outsider(&c, &fx, "late");
    let r = report(&fx);
    let refuses = passrights_supported();
    if refuses {
        c.check(
            r.contains(&format!("refused {}", libc::EPERM)),
            &format!("the kernel did not refuse the descriptor:\n{r}"),
        );
    } else {
        c.check(r.contains("sent"), &format!("the weapon says:\n{r}"));
    }
    let w = watch(&c, Duration::from_secs(LINGER_S));
    status_stayed_quick(&c, &w, "an outsider's descriptor");
    if refuses {
        c.check(
            w.closers.is_empty(),
            "a closer ran though nothing reached cinit",
        );
    }
    let _ = weapon.kill();
    let _ = weapon.wait();
    closers_reaped(&c, healthy);
}

/// G1, before accept: the same outsider sends the lingering socket with
/// the very first bytes of its connection, which may reach the connection
/// before cinit accepted it and turned `SO_PASSRIGHTS` off. If it got in,
/// cinit drops it through the closer; root's status stays quick over the
/// linger time either way.
#[test]
fn g1_an_outsider_s_descriptor_sent_before_accept_does_not_stall_pid1() {
    let fx = outsider_fixture();
    let Some((c, healthy)) = boot(&fx) else {
        return;
    };
    let mut weapon = outsider(&c, &fx, "alone");
    let r = report(&fx);
    c.check(!r.contains("error"), &format!("the weapon says:\n{r}"));
    let w = watch(&c, Duration::from_secs(LINGER_S));
    status_stayed_quick(&c, &w, "an outsider's descriptor before accept");
    if r.contains("sent") {
        own_close_was_quick(&c, &fx);
        c.check(w.closer_in_close, "no closer was seen in close()");
    }
    let _ = weapon.kill();
    let _ = weapon.wait();
    closers_reaped(&c, healthy);
}

/// Whether this kernel knows `SO_PASSRIGHTS` (Linux 6.16).
fn passrights_supported() -> bool {
    let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    let off: libc::c_int = 0;
    // SAFETY: setsockopt reads one int through a valid pointer.
    let rc = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(&a),
            libc::SOL_SOCKET,
            83,
            (&off as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    rc == 0
}
