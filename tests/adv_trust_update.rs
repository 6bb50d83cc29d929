//! Adversarial suite, family G (trust boundary), case G7: a broken new
//! binary at cinit's path must never replace PID 1 on a hot update.
//!
//! cinit runs from a copy of its binary inside the fixture; a test puts a
//! broken "new cinit" there (by rename, as a package manager does) and asks
//! for an update. Before executing it, PID 1 runs it as a child in
//! preflight mode (`cinit --preflight`, executed from the descriptor it
//! opened) and refuses it unless it answers as cinit does, within the
//! deadline. Every test checks that PID 1 is the same process (pid, start
//! time, the same executable inode), that every service keeps its pid, that
//! no `took over` line appeared, and that the reason is in the console and
//! in `cinit-ctl update`'s reply (exit 1).
//!
//! The static C stand-ins (a crash at start, a hang) come from
//! `tests/update/images.c`, compiled once per run with the system's `cc`.

#![cfg(test)]

mod common;

use common::*;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The preflight deadline cinit documents (2 s).
const DEADLINE: Duration = Duration::from_secs(2);

/// A static build of `tests/update/images.c` with `-D<mode>`.
fn image(mode: &str) -> PathBuf {
    static SEGV: OnceLock<PathBuf> = OnceLock::new();
    static HANG: OnceLock<PathBuf> = OnceLock::new();
    static WRONG: OnceLock<PathBuf> = OnceLock::new();
    let cell = match mode {
        "SEGV" => &SEGV,
        "HANG" => &HANG,
        "WRONG" => &WRONG,
        _ => panic!("no image {mode}"),
    };
    cell.get_or_init(|| {
        let name = format!("update-image-{}", mode.to_lowercase());
        compile_c_helper_with("update/images.c", &name, &["-static", &format!("-D{mode}")])
    })
    .clone()
}

/// Puts `content` at `bin` the way a package manager does: a new file,
/// mode 0755, renamed over the old one.
fn install(bin: &Path, content: &[u8]) {
    let tmp = bin.with_extension("new");
    fs::write(&tmp, content).unwrap();
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755)).unwrap();
    fs::rename(&tmp, bin).unwrap();
}

/// What must not change across a refused update.
#[derive(Debug, PartialEq, Eq)]
struct Identity {
    host_pid: i32,
    /// `/proc/PID/stat` field 22 (start time in clock ticks).
    start: String,
    /// The inode PID 1 runs from.
    exe_ino: u64,
    /// name → pid of every service.
    pids: Vec<(String, Option<u32>)>,
}

fn identity(c: &Cinit) -> Identity {
    let st = fs::metadata(format!("/proc/{}/exe", c.host_pid())).unwrap();
    let out = c.ctl(&["status"]);
    assert_eq!(out.code(), Some(0), "status failed\n{}", out.dump());
    let mut pids: Vec<(String, Option<u32>)> = ["a", "b"]
        .iter()
        .map(|n| {
            let out = c.ctl(&["pid", n]);
            (n.to_string(), out.stdout.trim().parse().ok())
        })
        .collect();
    pids.sort();
    Identity {
        host_pid: c.host_pid(),
        start: c.proc().stat_fields().get(19).cloned().unwrap_or_default(),
        exe_ino: st.ino(),
        pids,
    }
}

/// Boots services `a` and `b` (sleepers needed by `init`) from a copy of
/// cinit at `bin/cinit` in the fixture.
fn boot_from_copy(fx: &Fixture) -> (Cinit, PathBuf) {
    boot_from_copy_of(fx, Path::new(cinit_bin()))
}

/// [`boot_from_copy`] of the cinit binary at `src`.
fn boot_from_copy_of(fx: &Fixture, src: &Path) -> (Cinit, PathBuf) {
    let init = fx.service("init");
    for n in ["a", "b"] {
        fx.service(n)
            .respawn()
            .on_link("/bin/sleep")
            .params(&["1000"]);
        init.needs(n);
    }
    let bin = fx.path().join("bin/cinit");
    fs::create_dir_all(bin.parent().unwrap()).unwrap();
    copy_exe(src, &bin);
    let c = Cinit::launch_with(
        fx,
        &[],
        &[],
        &LaunchOpts {
            ctl_dir: Some(fx.ctl_dir()),
            cinit: Some(bin.clone()),
            ..LaunchOpts::default()
        },
    );
    c.wait_listening();
    c.wait_until("a and b running", TIMEOUT, |c| {
        c.has_state("running", "a") && c.has_state("running", "b")
    });
    (c, bin)
}

/// The refusal cinit logs for `why` (without the `cinit: ` prefix).
fn refusal(bin: &Path, why: &str) -> String {
    format!(
        "update failed: {} failed its preflight: {why}; the running cinit carries on",
        bin.display()
    )
}

/// Asks for an update with `cinit-ctl update`; asserts exit 1 with
/// `want` in its reply and once more in the console, and that nothing
/// about PID 1 or its services changed. Returns how long the reply took.
#[track_caller]
fn assert_refused(c: &mut Cinit, what: &str, want: &str) -> Duration {
    let before = identity(c);
    let logged = c.console().matches(want).count();
    let t = Instant::now();
    let out = c.ctl(&["update"]);
    let took = t.elapsed();
    c.check(
        out.code() == Some(1) && out.stderr.contains(want) && out.stdout.is_empty(),
        &format!(
            "({what}) cinit-ctl update: expected exit 1 and {want:?}\n{}",
            out.dump()
        ),
    );
    c.wait_until(
        &format!("({what}) the refusal in the console"),
        TIMEOUT,
        |c| c.console().matches(want).count() == logged + 1,
    );
    c.assert_alive();
    let after = identity(c);
    c.check_all(vec![
        (
            after == before,
            format!("({what}) PID 1 or a service changed:\n{before:?}\n{after:?}"),
        ),
        (
            !c.console().contains("took over"),
            format!("({what}) a new image took over"),
        ),
    ]);
    took
}

/// Proves the four broken images of the issue are each refused before they
/// could replace PID 1: a truncated copy of cinit (its first 64 KiB: it
/// crashes or cannot be executed), a shell script that would answer the
/// preflight and run anything as PID 1 (refused as a script), a static
/// program that segfaults at start (`it crashed (killed by SIGSEGV)`), and
/// one that hangs (`no answer within 2 s`, killed); one that answers
/// almost as cinit does and exits 0 (`it did not answer as cinit does`,
/// with its answer quoted: the answer came through the pipe, and the pipe
/// ended with the child); and a FIFO at the path
/// (refused as not a regular file, without blocking). PID 1 keeps its pid,
/// start time and executable, every service its pid, and it still
/// supervises (a killed service is restarted). A good image put back
/// afterwards still updates.
#[test]
fn g7_broken_images_are_refused_and_pid1_stays() {
    let fx = Fixture::new();
    let (mut c, bin) = boot_from_copy(&fx);
    let real = fs::read(cinit_bin()).unwrap();

    // A truncated copy: what an interrupted upgrade or a full disk leaves.
    install(&bin, &real[..64 << 10]);
    let before = c.console();
    let out = c.ctl(&["update"]);
    let prefix = "update failed: ";
    let refused_line = c
        .console()
        .lines()
        .skip(before.lines().count())
        .find(|l| l.contains(prefix))
        .map(str::to_owned);
    c.check(
        out.code() == Some(1)
            && refused_line.as_deref().is_some_and(|l| {
                (l.contains(&format!("{} failed its preflight: it crashed", bin.display()))
                    || l.contains(&format!("cannot execute {}:", bin.display())))
                    && l.split_once(prefix).is_some_and(|(_, why)| {
                        out.stderr.contains(&format!("{prefix}{why}"))
                    })
            }),
        &format!(
            "(truncated) expected a crash or exec refusal, logged and replied\n{refused_line:?}\n{}",
            out.dump()
        ),
    );
    c.check(!c.console().contains("took over"), "(truncated) took over");
    eprintln!("truncated copy: {}", refused_line.unwrap_or_default());

    // A script that answers exactly as cinit would, then would run as PID 1.
    let script = format!(
        "#!/bin/sh\necho 'cinit-preflight 1 snapshot=1..1 version={}'\nexec /bin/sleep 1000\n",
        cinit::version()
    );
    install(&bin, script.as_bytes());
    assert_refused(
        &mut c,
        "script",
        &format!(
            "update failed: cannot execute {}: it is a script (#!), not a cinit binary; \
             the running cinit carries on",
            bin.display()
        ),
    );

    install(&bin, &fs::read(image("SEGV")).unwrap());
    assert_refused(
        &mut c,
        "segfault",
        &refusal(&bin, "it crashed (killed by SIGSEGV)"),
    );

    install(&bin, &fs::read(image("WRONG")).unwrap());
    assert_refused(
        &mut c,
        "wrong answer",
        &refusal(
            &bin,
            r#"it did not answer as cinit does (got "cinit-preflight 1 snapshot=1..2\n")"#,
        ),
    );

    install(&bin, &fs::read(image("HANG")).unwrap());
    let took = assert_refused(
        &mut c,
        "hang",
        &refusal(&bin, "it gave no answer within 2 s (killed)"),
    );
    c.check(
        took >= DEADLINE && took < DEADLINE + Duration::from_secs(3),
        &format!("(hang) the refusal took {took:?}, not about the 2 s deadline"),
    );
    // The hanging child is killed and reaped: no stray process, no zombie.
    c.wait_until("(hang) the preflight child gone", TIMEOUT, |c| {
        c.zombie_children() == 0 && !c.proc().children().iter().any(|p| p.exe() == bin)
    });

    // A FIFO at the path: opening it must not block PID 1, and it is refused.
    let fifo = bin.with_extension("fifo");
    let cpath = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(cpath.as_ptr(), 0o755) }, 0);
    fs::rename(&fifo, &bin).unwrap();
    assert_refused(
        &mut c,
        "fifo",
        &format!(
            "update failed: cannot execute {}: not a regular file; the running cinit carries on",
            bin.display()
        ),
    );

    // Still supervising: kill `a`, it comes back.
    let a = identity(&c).pids[0].1.unwrap();
    let out = c.ctl(&["pid", "a"]);
    c.check(out.stdout.trim() == a.to_string(), "pid of a");
    let host_a = c
        .proc()
        .children()
        .into_iter()
        .find(|p| p.ns_pid() == Some(a as i32))
        .unwrap();
    c.check(send_signal(host_a.pid, libc::SIGKILL), "could not kill a");
    c.wait_until("a restarted", TIMEOUT, |c| {
        c.ctl(&["pid", "a"])
            .stdout
            .trim()
            .parse::<u32>()
            .is_ok_and(|p| p != a)
    });

    // A good image still updates.
    install(&bin, &real);
    let out = c.ctl(&["update"]);
    c.check(
        out.code() == Some(0) && out.stdout.starts_with("updated: cinit "),
        &format!("the good image was not taken\n{}", out.dump()),
    );
    c.check(
        c.console().contains(&format!(
            "update: {} passed its preflight in ",
            bin.display()
        )),
        "no `passed its preflight` line",
    );
    let exe = fs::metadata(format!("/proc/{}/exe", c.host_pid())).unwrap();
    c.check(
        exe.ino() == fs::metadata(&bin).unwrap().ino(),
        "PID 1 does not run the new file",
    );
    c.assert_alive();
}

/// Proves PID 1 never waits for the preflight: while a hanging image holds
/// its preflight for the 2 s deadline, `cinit-ctl status` answers every
/// time in well under a second; a second `cinit-ctl update` and a SIGCONT
/// sent meanwhile join the running preflight (one refusal in the console,
/// the same reply to both clients), and the console names the reason.
#[test]
fn g7_pid1_answers_during_a_hanging_preflight_and_requests_join() {
    let fx = Fixture::new();
    let (mut c, bin) = boot_from_copy(&fx);
    let before = identity(&c);
    install(&bin, &fs::read(image("HANG")).unwrap());
    let want = refusal(&bin, "it gave no answer within 2 s (killed)");
    let spawn = || {
        c.ctl_cmd(&["update"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let first = spawn();
    // Wait for the preflight child to exist, then join it twice.
    c.wait_until("the preflight child", TIMEOUT, |c| {
        c.proc().children().iter().any(|p| p.exe() == bin)
    });
    let second = spawn();
    c.check(send_signal(c.host_pid(), libc::SIGCONT), "SIGCONT not sent");
    let t = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut asked = 0;
    while t.elapsed() < DEADLINE - Duration::from_millis(300) {
        let s = Instant::now();
        let out = c.ctl(&["status", "a"]);
        let took = s.elapsed();
        c.check(
            out.code() == Some(0),
            &format!("status failed\n{}", out.dump()),
        );
        slowest = slowest.max(took);
        asked += 1;
    }
    c.check(
        slowest < Duration::from_secs(1) && asked >= 3,
        &format!("status during the preflight: {asked} answers, slowest {slowest:?}"),
    );
    for (n, child) in [first, second].into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        c.check(
            out.status.code() == Some(1) && err.contains(&want),
            &format!("update client {n}: {:?} {err}", out.status),
        );
    }
    c.wait_until("the refusal in the console", TIMEOUT, |c| {
        c.console().contains(&want)
    });
    std::thread::sleep(Duration::from_millis(300));
    c.check(
        c.console().matches(&want).count() == 1,
        &format!("expected one refusal line:\n{}", c.console()),
    );
    c.assert_alive();
    c.check(identity(&c) == before, "PID 1 or a service changed");
}

/// Proves a shutdown asked for while a preflight runs wins: the hanging
/// preflight child is killed, the waiting `cinit-ctl update` is told the
/// update did not happen (exit 1), and the poweroff goes through (cinit
/// ends the namespace well before the preflight's deadline would matter).
#[test]
fn g7_shutdown_during_a_preflight_wins() {
    let fx = Fixture::new();
    let (mut c, bin) = boot_from_copy(&fx);
    install(&bin, &fs::read(image("HANG")).unwrap());
    let update = c
        .ctl_cmd(&["update"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.wait_until("the preflight child", TIMEOUT, |c| {
        c.proc().children().iter().any(|p| p.exe() == bin)
    });
    let out = c.ctl(&["poweroff"]);
    c.check(out.code() == Some(0), &format!("poweroff\n{}", out.dump()));
    let out = update.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    c.check(
        out.status.code() == Some(1)
            && err.contains("update refused: a poweroff is already in progress"),
        &format!("update during shutdown: {:?} {err}", out.status),
    );
    // Panics if cinit has not ended the namespace within 10 s.
    c.wait_exit(Duration::from_secs(10));
    c.check(
        !c.console().contains("took over") && !c.console().contains("passed its preflight"),
        "the update went on during the shutdown",
    );
}

/// Measures a good hot update end to end (`cinit-ctl update` until the new
/// image's reply), preflight included, over 20 updates, and proves each
/// one succeeds; prints the mean for the record. `CINIT_UPDATE_COST_BIN`
/// names another cinit binary to measure (e.g. a static release build).
#[test]
fn g7_good_image_updates_and_its_cost() {
    let fx = Fixture::new();
    let src = std::env::var_os("CINIT_UPDATE_COST_BIN")
        .map_or_else(|| PathBuf::from(cinit_bin()), PathBuf::from);
    let (mut c, _bin) = boot_from_copy_of(&fx, &src);
    let n = 20;
    let t = Instant::now();
    for i in 0..n {
        let out = c.ctl(&["update"]);
        c.check(
            out.code() == Some(0) && out.stdout.starts_with("updated: cinit "),
            &format!("update {i}\n{}", out.dump()),
        );
    }
    let mean = t.elapsed() / n;
    eprintln!("hot update (cinit-ctl update, reply from the new image): {mean:?} mean of {n}");
    for l in c
        .console()
        .lines()
        .filter(|l| l.contains("passed its preflight"))
        .take(5)
    {
        eprintln!("{l}");
    }
    c.assert_alive();
}
