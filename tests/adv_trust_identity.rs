//! Adversarial suite, family G (trust boundary), the caller's identity and
//! what a caller may make PID 1 read: G2 (a connection outlives the
//! process that made it and its pid goes to a service's process), G5
//! (unprivileged requests naming paths) and G6 (the `fdstore` file is a
//! FIFO or a device). The real `cinit` runs as PID 1 of PID and mount
//! namespaces as the real root, so the clients can be real other users
//! (uid 65534, via `setpriv`).
//!
//! G2 needs a client that connects, forks and leaves while its child keeps
//! the connection: `tests/adv/peer.c`, compiled once per run with `cc`.

#![cfg(test)]

mod common;

use cinit::proto::{decode_reply, encode_request, ErrorCode, Reply, Request};
use common::*;
use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::thread::sleep;
use std::time::{Duration, Instant};

const NOBODY: u32 = 65534;
const SECRET: &str = "top secret: only root may read this\n";

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// The compiled `tests/adv/peer.c`.
fn peer_helper() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| compile_c_helper("adv/peer.c", "adv-peer"))
}

/// Boots cinit as the real root (PID and mount namespaces only) with extra
/// environment (`CINIT_FAULT`) and a command prefix.
fn boot(fx: &Fixture, env: &[(&str, &str)], wrapper: &[&str]) -> Cinit {
    let c = Cinit::launch_with(
        fx,
        &[],
        &[],
        &LaunchOpts {
            user_ns: false,
            ctl_dir: Some(fx.ctl_dir()),
            env: env
                .iter()
                .map(|(k, v)| (OsString::from(k), OsString::from(v)))
                .collect(),
            wrapper: wrapper.iter().map(OsString::from).collect(),
            ..LaunchOpts::default()
        },
    );
    c.wait_listening();
    c
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A directory anyone may write (for files the unprivileged clients leave).
fn open_dir(fx: &Fixture, name: &str) -> PathBuf {
    let d = fx.path().join(name);
    fs::create_dir_all(&d).unwrap();
    fs::set_permissions(&d, fs::Permissions::from_mode(0o777)).unwrap();
    d
}

/// `cinit-ctl ARGS` from the host, as root, with `stdin` as its standard
/// input.
fn ctl_with_stdin(c: &Cinit, args: &[&str], stdin: fs::File) -> std::process::Output {
    c.ctl_cmd(args).stdin(stdin).output().unwrap()
}

/// Runs `sh -c SCRIPT` as root inside cinit's mount and PID namespaces.
#[track_caller]
fn sh_in_ns(c: &Cinit, fx: &Fixture, script: &str) -> RunOutput {
    let mut cmd = Command::new(util_bin("nsenter"));
    cmd.arg("-t")
        .arg(c.host_pid().to_string())
        .args(["-m", "-p", "/bin/sh", "-c", script])
        .env_clear()
        .env("CINIT_CTL_DIR", c.ctl_dir())
        .current_dir("/");
    run(cmd, fx.path(), CTL_TIMEOUT)
}

/// The pid `cinit-ctl pid NAME` reports (in cinit's PID namespace).
fn service_pid(c: &Cinit, name: &str) -> Option<i32> {
    let out = c.ctl(&["pid", name]);
    out.stdout.trim().parse().ok()
}

/// Descriptors of PID 1 that are pidfds, with their `fdinfo` flags.
fn pidfds(c: &Cinit) -> Vec<(i32, u32)> {
    c.proc()
        .fds()
        .into_iter()
        .filter(|(_, l)| l.to_string_lossy().contains("pidfd"))
        .map(|(fd, _)| {
            let info = fs::read_to_string(format!("/proc/{}/fdinfo/{fd}", c.host_pid())).unwrap();
            let flags = info
                .lines()
                .find_map(|l| l.strip_prefix("flags:"))
                .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
                .unwrap_or(0);
            (fd, flags)
        })
        .collect()
}

/// Waits up to `t` for `path` to exist.
fn wait_file(path: &Path, t: Duration) -> bool {
    let end = Instant::now() + t;
    while Instant::now() < end {
        if path.exists() {
            return true;
        }
        sleep(POLL);
    }
    path.exists()
}

fn rss_kib(c: &Cinit) -> u64 {
    c.proc()
        .status_field("VmRSS")
        .and_then(|v| v.split_whitespace().next().map(str::to_owned))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------
// G2: pid reuse
// ---------------------------------------------------------------------------

/// The attack of G2, with cinit pinning peers by pidfd (`fallback` false)
/// or, as on kernels before 6.5, by start time (`fallback` true, through
/// the debug build's `CINIT_FAULT=no-peerpidfd`).
fn pid_reuse_attack(fallback: bool) {
    if !runs_as_root("runs cinit without a user namespace") {
        return;
    }
    let fx = Fixture::new();
    let exe = fx.ctl_for_others();
    let drop_dir = open_dir(&fx, "drop");
    let fifo = fx.path().join("victim.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let secret = fx.path().join("secret");
    fs::write(&secret, SECRET).unwrap();
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).unwrap();
    // The victim: a root service allowed to store descriptors. Its main
    // process waits on a FIFO without forking (so it takes no pid while
    // the test steers the next one); told to, it fetches its own stored
    // descriptor as uid 65534, the way a process of the service may.
    let ctl_dir = fx.ctl_dir();
    fx.service("victim").respawn().file("fdstore", "2\n").script(&format!(
        "while :; do\n  read cmd < '{fifo}'\n  CINIT_CTL_DIR='{ctl}' /usr/bin/setpriv --reuid={NOBODY} \
         --regid={NOBODY} --clear-groups '{exe}' fdstore victim get secret /bin/sh -c 'cat <&3' \
         > '{out}' 2>&1\n  echo $? > '{rc}'\ndone",
        fifo = fifo.display(),
        ctl = ctl_dir.display(),
        exe = exe.display(),
        out = fx.mark("legit.out").display(),
        rc = fx.mark("legit.rc").display(),
    ));
    fx.service("init");
    let fault: &[(&str, &str)] = if fallback {
        &[("CINIT_FAULT", "no-peerpidfd")]
    } else {
        &[]
    };
    let c = boot(&fx, fault, &[]);
    c.expect_outcome("init", "done");
    let out = c.ctl(&["start", "victim"]);
    c.check(out.code() == Some(0), &out.dump());
    // Root stores a descriptor of a root-only file for the victim.
    let put = ctl_with_stdin(
        &c,
        &["fdstore", "victim", "put", "secret"],
        fs::File::open(&secret).unwrap(),
    );
    c.check(put.status.success(), &format!("put: {put:?}"));

    // uid 65534 connects, and the process that connected leaves; its child
    // keeps the connection.
    let status = encode_request(&Request::Status { names: vec![] });
    let fetch = encode_request(&Request::FdFetch {
        service: "victim".into(),
        name: "secret".into(),
        remove: false,
    });
    let sock = c.ctl_dir().join("control");
    let mut cmd = Command::new(util_bin("nsenter"));
    cmd.arg("-t")
        .arg(c.host_pid().to_string())
        .args(["-m", "-p"])
        .arg(util_bin("setpriv"))
        .arg(format!("--reuid={NOBODY}"))
        .arg(format!("--regid={NOBODY}"))
        .arg("--clear-groups")
        .arg(peer_helper())
        .arg("hold")
        .arg(&sock)
        .arg(&drop_dir)
        .arg(hex(&status))
        .arg(hex(&fetch))
        .env_clear()
        .current_dir("/");
    let out = run(cmd, fx.path(), CTL_TIMEOUT);
    c.check(
        out.code() == Some(0) && !drop_dir.join("err").exists(),
        &format!(
            "the holding client: {}\n{}",
            out.dump(),
            fs::read_to_string(drop_dir.join("err")).unwrap_or_default()
        ),
    );
    let departed: i32 = fs::read_to_string(drop_dir.join("pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // What pins the connection: one close-on-exec pidfd per connection,
    // or none on the fallback.
    let held = pidfds(&c);
    if fallback {
        c.check(
            held.is_empty(),
            &format!("pidfds on the fallback: {held:?}"),
        );
    } else {
        c.check(
            !held.is_empty() && held.iter().all(|(_, f)| f & 0o2000000 != 0),
            &format!("PID 1 holds no close-on-exec pidfd for the connection: {held:?}"),
        );
    }

    // Steer the next pid onto the departed one and restart the victim, so
    // that its new main process gets that pid (a few tries, should
    // another process have taken the pid in between).
    let mut landed = false;
    for _ in 0..5 {
        let out = sh_in_ns(
            &c,
            &fx,
            &format!(
                "echo {} > /proc/sys/kernel/ns_last_pid && exec '{}' restart victim",
                departed - 1,
                exe.display()
            ),
        );
        c.check(
            out.code() == Some(0),
            &format!("steer and restart: {}", out.dump()),
        );
        if service_pid(&c, "victim") == Some(departed) {
            landed = true;
            break;
        }
    }
    c.check(
        landed,
        &format!(
            "the victim's main process never got the departed client's pid {departed} \
             (now {:?}): the test would prove nothing",
            service_pid(&c, "victim")
        ),
    );

    // The old connection asks for the victim's descriptor.
    fs::write(drop_dir.join("go"), "").unwrap();
    c.check(
        wait_file(&drop_dir.join("done"), Duration::from_secs(10)),
        &format!(
            "the holding client never finished: {}",
            fs::read_to_string(drop_dir.join("err")).unwrap_or_default()
        ),
    );
    let reply = decode_reply(&fs::read(drop_dir.join("reply")).unwrap());
    let data = fs::read_to_string(drop_dir.join("data")).ok();
    match (&reply, &data) {
        (
            Ok(Reply::Error {
                code: ErrorCode::Permission,
                message,
            }),
            None,
        ) if message.contains("permission denied") && message.contains("has gone") => {}
        _ => c.fail(&format!(
            "the departed client's connection was not refused: {reply:?}, data {data:?}"
        )),
    }

    // A process of the victim (uid 65534 too) still gets the descriptor:
    // the refusal was the departed client's, and the secret is there.
    fs::write(&fifo, "go\n").unwrap();
    c.check(
        wait_file(&fx.mark("legit.rc"), Duration::from_secs(10)),
        "the victim's own fetch did not finish",
    );
    let legit = fx.read_mark("legit.out");
    c.check(
        fx.read_mark("legit.rc").trim() == "0" && legit == SECRET,
        &format!("the victim's own process could not fetch its descriptor: {legit:?}"),
    );
    let out = c.ctl(&["status", "victim"]);
    c.check(out.code() == Some(0), &out.dump());
}

/// G2 (pid reuse), on a kernel with `SO_PEERPIDFD`: proves the fd store's
/// "a process of the service itself" cannot be had by a connection whose
/// process has gone and whose pid now belongs to the service. As uid
/// 65534, a client connects (cinit accepts it while it lives), forks and
/// exits; its child keeps the connection. PID 1 is seen holding a
/// close-on-exec pidfd for it. Root inside the namespace writes the
/// departed pid − 1 to `ns_last_pid` and restarts the victim (a root
/// service with an `fdstore` file and a stored descriptor of a root-only
/// file); the test asserts the victim's main process got exactly the
/// departed pid. The old connection's FD_FETCH for the victim is then
/// refused with a permission error ("has gone") and no descriptor. A
/// process of the victim itself, as uid 65534, still fetches it and reads
/// the secret: the refusal is about the departed client only.
#[test]
fn g2_a_reused_pid_gives_no_rights_with_a_pidfd() {
    pid_reuse_attack(false);
}

/// G2 on the fallback for kernels before 6.5 (forced with
/// `CINIT_FAULT=no-peerpidfd`, debug builds only): the same attack, with
/// the peer pinned by its start time; PID 1 holds no pidfd, and the same
/// request is refused the same way.
#[test]
fn g2_a_reused_pid_gives_no_rights_with_the_start_time() {
    pid_reuse_attack(true);
}

// ---------------------------------------------------------------------------
// G5: unprivileged requests resolve no paths
// ---------------------------------------------------------------------------

/// What one request as uid 65534 got: exit code, stdout, stderr.
type Answer = (Option<i32>, String, String);

/// The requests of G5, naming `name`, as uid 65534.
fn ask_as_nobody(c: &Cinit, exe: &Path, name: &str) -> Vec<(Vec<String>, Answer)> {
    let verbs: [&[&str]; 7] = [
        &["status", name],
        &["--json", "status", name],
        &["wait", "--timeout", "1", name],
        &["fdstore", name],
        &["fdstore", name, "get", "x", "/bin/true"],
        &["fdstore", name, "drop", "x"],
        &["fdstore", name, "put", "x"],
    ];
    verbs
        .iter()
        .map(|args| {
            let out = c.ctl_in_ns_as(NOBODY, exe, args);
            let args = args.iter().map(|a| (*a).to_owned()).collect();
            (args, (out.code(), out.stdout, out.stderr))
        })
        .collect()
}

/// The services root's `cinit-ctl list` shows.
fn listed(c: &Cinit) -> Vec<String> {
    let out = c.ctl(&["list"]);
    c.check(out.code() == Some(0), &out.dump());
    out.stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// G5 (unprivileged requests resolve no paths): proves a user other than
/// root learns nothing about the file system from cinit's answers and
/// cannot make it load services. As uid 65534, `status`, `--json status`,
/// `wait` and the fd requests (list, get, drop, put) name three paths: a
/// service-like directory inside a root-only (0700) directory of the
/// service tree, given relative and absolute, and one in a root-only
/// directory outside the tree. Each is asked while the path exists and
/// again after it was removed: every answer (exit code, stdout, stderr) is
/// byte-identical: exit 2 "no such service" for `status` and `wait`, exit
/// 4 "permission denied" for the fd requests (a put: exit 4 either way, its
/// text depends on whether the kernel or cinit refused it); root's `cinit-ctl list` did not
/// grow. The same user's `status` of a loaded service still answers, and
/// root's `status` of the private service loads it on demand as before
/// (so the path was a loadable service all along).
#[test]
fn g5_unprivileged_names_are_text_only() {
    if !runs_as_root("runs cinit without a user namespace") {
        return;
    }
    let fx = Fixture::new();
    let exe = fx.ctl_for_others();
    fx.service("r")
        .respawn()
        .on_link("/bin/sleep")
        .params(&["1093"]);
    fx.service("init").needs("r");
    let private = fx.svc_path("private");
    let outside = fx.path().join("hidden");
    let make = || {
        for dir in [&private, &outside] {
            fs::create_dir_all(dir.join("inner")).unwrap();
            std::os::unix::fs::symlink("/bin/sleep", dir.join("inner/on")).unwrap();
            fs::write(dir.join("inner/on.params"), "1094\n").unwrap();
            fs::write(dir.join("inner/fdstore"), "1\n").unwrap();
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).unwrap();
        }
    };
    make();
    let c = boot(&fx, &[], &[]);
    c.expect_outcome("init", "done");
    let before = listed(&c);
    let names = [
        "private/inner".to_owned(),
        private.join("inner").display().to_string(),
        outside.join("inner").display().to_string(),
    ];
    let present: Vec<_> = names.iter().map(|n| ask_as_nobody(&c, &exe, n)).collect();
    c.check(
        listed(&c) == before,
        &format!("root's list grew: {before:?} -> {:?}", listed(&c)),
    );
    fs::remove_dir_all(&private).unwrap();
    fs::remove_dir_all(&outside).unwrap();
    let absent: Vec<_> = names.iter().map(|n| ask_as_nobody(&c, &exe, n)).collect();
    for (p, a) in present.iter().flatten().zip(absent.iter().flatten()) {
        // A put carries a descriptor: whether the kernel refuses it at send
        // time (SO_PASSRIGHTS, set when cinit accepts the connection) or
        // cinit refuses the request depends on whether cinit had accepted
        // the connection yet, not on the file system. Both are exit 4.
        if p.0.iter().any(|a| a == "put") {
            c.check(
                p.1 .0 == Some(4) && a.1 .0 == Some(4),
                &format!(
                    "{:?}: not refused with exit 4\npresent: {:?}\nabsent:  {:?}",
                    p.0, p.1, a.1
                ),
            );
            continue;
        }
        c.check(
            p == a,
            &format!(
                "{:?}: answered differently\npresent: {:?}\nabsent:  {:?}",
                p.0, p.1, a.1
            ),
        );
        // The uniform answers: no such service (2), or for the fd
        // requests, permission denied (4), checked before any lookup.
        let want = if p.0.contains(&"fdstore".to_owned()) {
            4
        } else {
            2
        };
        c.check(
            p.1 .0 == Some(want),
            &format!(
                "{:?}: not the uniform refusal (exit {want}): {:?}",
                p.0, p.1
            ),
        );
    }
    c.check(
        listed(&c) == before,
        &format!("root's list grew: {before:?} -> {:?}", listed(&c)),
    );
    // Names of loaded services still work for everyone.
    let out = c.ctl_in_ns_as(NOBODY, &exe, &["status", "r"]);
    c.check(
        out.code() == Some(0) && out.stdout.starts_with("r: running"),
        &out.dump(),
    );
    // Root is served as before: the private service loads on demand.
    make();
    let out = c.ctl(&["status", "private/inner"]);
    c.check(out.code() == Some(0), &out.dump());
    c.check(
        listed(&c).contains(&"private/inner".to_owned()),
        "root's status did not load the private service",
    );
}

// ---------------------------------------------------------------------------
// G6: the fdstore file read bounded
// ---------------------------------------------------------------------------

/// G6 (the `fdstore` file is read bounded and without blocking): proves a
/// FIFO, a link to `/dev/zero` or an oversized file as a service's
/// `fdstore` file neither hangs PID 1 nor grows its memory. cinit runs
/// under `prlimit --as=512MiB` (so an unbounded read would end it rather
/// than the machine). For each, root's FD_STORE for the service
/// (`cinit-ctl fdstore st put x`) is refused within 2 s with exit 1 and a
/// message naming the service, the file and the reason ("not a regular
/// file", "larger than 65536 bytes"); root's `status` then answers within
/// 2 s; PID 1's resident memory grew by less than 4 MiB in all; and
/// `cinit-ctl check` (offline) reports the file with the same reason, in
/// time. With a valid `fdstore` file the same put succeeds, so the
/// refusals were the file's.
#[test]
fn g6_fdstore_file_is_read_bounded_and_never_blocks() {
    if !runs_as_root("runs cinit without a user namespace") {
        return;
    }
    let fx = Fixture::new();
    fx.service("st")
        .respawn()
        .on_link("/bin/sleep")
        .params(&["1095"]);
    fx.service("init").needs("st");
    let file = fx.svc_path("st").join("fdstore");
    let c = boot(
        &fx,
        &[],
        &[
            &util_bin("prlimit").display().to_string(),
            "--as=536870912",
            "--",
        ],
    );
    c.expect_outcome("init", "done");
    let rss_before = rss_kib(&c);
    let etc = fx.etc();
    let check = || {
        let mut cmd = Command::new(ctl_bin());
        cmd.args(["check", etc.to_str().unwrap()]).env_clear();
        run(cmd, fx.path(), CTL_TIMEOUT)
    };
    type Make<'a> = Box<dyn Fn() + 'a>;
    let cases: [(&str, Make, &str); 3] = [
        (
            "a FIFO",
            Box::new(|| {
                nix::unistd::mkfifo(&file, nix::sys::stat::Mode::from_bits_truncate(0o644))
                    .unwrap();
            }),
            "not a regular file",
        ),
        (
            "a link to /dev/zero",
            Box::new(|| std::os::unix::fs::symlink("/dev/zero", &file).unwrap()),
            "not a regular file",
        ),
        (
            "a file of 64 KiB and one byte",
            Box::new(|| {
                let mut big = vec![b'0'; 64 * 1024];
                big.push(b'1');
                fs::write(&file, big).unwrap();
            }),
            "larger than 65536 bytes",
        ),
    ];
    for (what, make, reason) in &cases {
        let _ = fs::remove_file(&file);
        make();
        let want = format!("{}: {reason}", file.display());
        let (out, took) = c.ctl_timed(&["fdstore", "st", "put", "x"]);
        c.check(
            out.code() == Some(1)
                && out.stderr.contains("st: cannot store descriptors")
                && out.stderr.contains(&want)
                && took < Duration::from_secs(2),
            &format!(
                "put with {what} as the fdstore file (took {took:?}): {}",
                out.dump()
            ),
        );
        let (out, took) = c.ctl_timed(&["status", "st"]);
        c.check(
            out.code() == Some(0) && took < Duration::from_secs(2),
            &format!("status after {what} (took {took:?}): {}", out.dump()),
        );
        let out = check();
        c.check(
            out.code() != Some(0)
                && out
                    .stdout
                    .contains(&format!("{}: st: {reason}", file.display())),
            &format!("check with {what}: {}", out.dump()),
        );
    }
    let grew = rss_kib(&c).saturating_sub(rss_before);
    c.check(grew < 4096, &format!("PID 1's memory grew by {grew} KiB"));
    fs::remove_file(&file).unwrap();
    fs::write(&file, "1\n").unwrap();
    let out = c.ctl(&["fdstore", "st", "put", "x"]);
    c.check(
        out.code() == Some(0),
        &format!("put with a valid file: {}", out.dump()),
    );
    let out = check();
    c.check(
        out.code() == Some(0),
        &format!("check with a valid file: {}", out.dump()),
    );
}
