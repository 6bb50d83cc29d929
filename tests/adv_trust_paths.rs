//! Adversarial suite, family G (trust boundary), cases G3 and G4: paths
//! that root follows for a service. The `log.file` writer and the Unix
//! sockets of a `sockets` file run as root; a service's user who owns (or
//! can write) a directory on the way must not be able to point them at
//! another file or directory by planting a symbolic or hard link.
//!
//! cinit runs as the real root (PID 1 of its own PID and mount namespaces,
//! no user namespace), so uid 65534 is a real other user: the links are
//! planted by a process running as uid 65534 (`setpriv`) where it may
//! write, and by root where the case is a leftover in a root-owned place.
//! Every test checks that the victim (a root-only 0600 file, or a
//! root-only directory) is byte for byte as before (contents, size, mode,
//! mtime) or still empty, that the refusal is said with file, service and
//! reason on the console and in `cinit-ctl check`, and that the services
//! keep running (their lines in `cinit-ctl log`).

#![cfg(test)]

mod common;

use common::*;
use std::fs;
use std::os::unix::fs::{chown, symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A generous deadline for the machine being loaded.
const LONG: Duration = Duration::from_secs(20);

/// The other user: a service's own user, not root.
const USER: u32 = 65534;

/// Run `script` with `sh` as uid and gid [`USER`], no other groups.
fn as_user(script: &str) {
    let out = Command::new("/usr/bin/setpriv")
        .args([
            &format!("--reuid={USER}"),
            &format!("--regid={USER}"),
            "--clear-groups",
            "/bin/sh",
            "-c",
            script,
        ])
        .output()
        .expect("setpriv");
    assert!(
        out.status.success(),
        "as uid {USER}: {script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A directory with this owner and mode.
fn dir(p: &Path, uid: u32, mode: u32) -> PathBuf {
    fs::create_dir_all(p).unwrap();
    chown(p, Some(uid), Some(uid)).unwrap();
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
    p.to_path_buf()
}

/// What a victim file looks like: contents, size, mode, mtime.
fn looks(p: &Path) -> (Vec<u8>, u64, u32, i64, i64) {
    let m = fs::metadata(p).unwrap();
    (
        fs::read(p).unwrap(),
        m.len(),
        m.mode(),
        m.mtime(),
        m.mtime_nsec(),
    )
}

/// A root-only victim file: mode 0600 in a root-only directory.
fn victim(fx: &Fixture) -> PathBuf {
    let secret = dir(&fx.path().join("secret"), 0, 0o700);
    let v = secret.join("victim");
    fs::write(&v, "root only: must never change\n").unwrap();
    fs::set_permissions(&v, fs::Permissions::from_mode(0o600)).unwrap();
    v
}

/// The fixture opened to others (0755), so the other user can reach the
/// directories it owns inside.
fn open_fixture(fx: &Fixture) {
    fs::set_permissions(fx.path(), fs::Permissions::from_mode(0o755)).unwrap();
}

/// A respawn service printing `NAME line K` every 50 ms, its output to
/// `log` (rotated at `rotate`, `keep` old files).
fn talker(fx: &Fixture, name: &str, log: &Path, rotate: &str, keep: u32) {
    fx.service(name)
        .respawn()
        .script(&format!(
            "i=0; while :; do i=$((i+1)); echo \"{name} line $i\"; sleep 0.05; done"
        ))
        .file(
            "log.file",
            &format!("{}\n{rotate}\n{keep}\n", log.display()),
        );
}

/// `cinit-ctl check` of the fixture's tree: its whole output.
fn check_output(fx: &Fixture) -> String {
    let out = Command::new(ctl_bin())
        .arg("check")
        .arg(fx.etc())
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Whether `cinit-ctl log NAME` holds lines of the service.
fn has_log_lines(c: &Cinit, name: &str) -> bool {
    let out = c.ctl(&["log", name]);
    out.code() == Some(0) && out.stdout.contains(&format!("{name} line 2"))
}

/// Proves G3 (log.file writer, links planted before the start): with the
/// other user owning the log directory (a symbolic link to the victim as
/// the log file; a symbolic link to a root-only directory as a parent),
/// with root-owned directories holding a leftover symbolic link as a parent
/// or as the file, or a hard link to the victim as the file, and with a
/// root-owned log directory its group (the user's) may write and where the
/// user planted a link, the writer refuses each: the victim is byte for
/// byte unchanged, the root-only directory stays empty, the console has
/// the writer's reason (naming the directory or file and why) and cinit's
/// own line (file, service, reason) which is also in `cinit-ctl log`,
/// `cinit-ctl check` reports each `log.file`, and every service keeps
/// running with its lines in `cinit-ctl log`. A service whose log
/// directory is missing gets it made (root's, 0755) and its file written.
#[test]
fn g3_log_writer_refuses_planted_links_and_open_directories() {
    let fx = Fixture::new();
    open_fixture(&fx);
    let victim = victim(&fx);
    let hidden = dir(&fx.path().join("hidden"), 0, 0o700);
    let before = looks(&victim);
    let f = fx.path();
    let (v, h) = (victim.display(), hidden.display());

    // The user owns the log directory and links the log file to the victim.
    let u1 = dir(&f.join("u1"), USER, 0o755);
    as_user(&format!("ln -s {v} {}/out.log", u1.display()));
    // The user owns a directory above and links the next one to a
    // root-only directory.
    let u2 = dir(&f.join("u2"), USER, 0o755);
    as_user(&format!("ln -s {h} {}/sub", u2.display()));
    // Root-owned directories with leftover links: as a parent, as the file.
    let r1 = dir(&f.join("r1"), 0, 0o755);
    symlink(&hidden, r1.join("sub")).unwrap();
    let r2 = dir(&f.join("r2"), 0, 0o755);
    symlink(&victim, r2.join("out.log")).unwrap();
    // A hard link to the victim as the file.
    let r3 = dir(&f.join("r3"), 0, 0o755);
    fs::hard_link(&victim, r3.join("out.log")).unwrap();
    // Root's directory, writable by the user's group; the user plants.
    let g = dir(&f.join("g"), 0, 0o775);
    chown(&g, Some(0), Some(USER)).unwrap();
    as_user(&format!("ln -s {v} {}/out.log", g.display()));

    let cases: [(&str, PathBuf, String, &str); 6] = [
        (
            "usrlink",
            u1.join("out.log"),
            format!("{}: owned by uid {USER}, not root", u1.display()),
            "a directory on its path is not owned by root",
        ),
        (
            "usrparent",
            u2.join("sub/out.log"),
            format!("{}: owned by uid {USER}, not root", u2.display()),
            "a directory on its path is not owned by root",
        ),
        (
            "rootparent",
            r1.join("sub/out.log"),
            format!("{}: a symbolic link", r1.join("sub").display()),
            "a symbolic link on its path",
        ),
        (
            "rootfile",
            r2.join("out.log"),
            format!("{}: a symbolic link", r2.join("out.log").display()),
            "a symbolic link on its path",
        ),
        (
            "hardlink",
            r3.join("out.log"),
            format!(
                "{}: a regular file with 2 links",
                r3.join("out.log").display()
            ),
            "a hard link to another file",
        ),
        (
            "groupdir",
            g.join("out.log"),
            format!("{}: mode 0775: writable by group or others", g.display()),
            "its directory is writable by group or others",
        ),
    ];
    for (name, log, _, _) in &cases {
        talker(&fx, name, log, "4k", 0);
        fx.service("init").needs(name);
    }
    let good = f.join("ok/logs/out.log");
    talker(&fx, "good", &good, "4k", 2);
    fx.service("init").needs("good");

    let c = fx.boot_ctl_real_root();
    // First the attack's target: by the time every service's lines are in
    // its ring and the good file has some, a writer that followed a link
    // would have written.
    c.wait_until("the good log file to be written", LONG, |_| {
        fs::read_to_string(&good).is_ok_and(|t| t.contains("good line 2"))
    });
    for (name, _, _, _) in &cases {
        c.wait_until(&format!("{name}'s lines in its ring"), LONG, |c| {
            has_log_lines(c, name)
        });
    }
    c.check(
        looks(&victim) == before,
        &format!("the victim changed: {:?}", fs::read_to_string(&victim)),
    );
    c.check(
        fs::read_dir(&hidden).unwrap().count() == 0,
        "something was made in the root-only directory",
    );
    for (name, log, detail, summary) in &cases {
        let writer = format!(
            "cinit: log writer for {name}: refusing {}: {detail}",
            log.display()
        );
        let own = format!(
            "cinit: log writer for {name}: refused {}: {summary}",
            log.display()
        );
        c.wait_until(&format!("the refusal of {name}'s log file"), LONG, |c| {
            let console = c.console();
            console.contains(&writer) && console.contains(&own)
        });
    }
    let own_log = c.ctl(&["log"]).stdout;
    let checked = check_output(&fx);
    let made = fs::metadata(good.parent().unwrap()).unwrap();
    let mut checks = vec![
        (
            looks(&victim) == before,
            format!("the victim changed: {:?}", fs::read_to_string(&victim)),
        ),
        (
            fs::read_dir(&hidden).unwrap().count() == 0,
            "something was made in the root-only directory".to_owned(),
        ),
        (
            made.uid() == 0 && made.mode() & 0o7777 == 0o755,
            format!(
                "the missing log directory: uid {} mode {:o}",
                made.uid(),
                made.mode()
            ),
        ),
    ];
    for (name, log, _, _) in &cases {
        let status = c.ctl(&["status", name]).stdout;
        checks.push((
            status.contains("running"),
            format!("{name} does not run: {status}"),
        ));
        checks.push((
            own_log.contains(&format!("log writer for {name}: refused {}", log.display())),
            format!("cinit's own log lacks {name}'s refusal"),
        ));
        checks.push((
            checked.contains(&format!(
                "{}: {name}: {}: refused",
                fx.svc_path(name).join("log.file").display(),
                log.display()
            )),
            format!("cinit-ctl check does not report {name}:\n{checked}"),
        ));
    }
    c.check_all(checks);
}

/// Proves G3 after the start: a log file swapped for a link while its
/// writer runs is refused at the writer's next batch, before it writes or
/// empties anything. Two services write to files in root-owned
/// directories, rotated at 4 KiB (one kept empty by `keep` 0, so a writer
/// that followed the swap would truncate what it found). Once each file
/// has lines, a symbolic link to the victim is renamed over one and a hard
/// link to the victim over the other: the victim stays byte for byte the
/// same while the services go on printing far past a rotation, both
/// refusals are on the console, and both services still run with their
/// lines in `cinit-ctl log`.
#[test]
fn g3_a_link_swapped_in_after_the_start_is_refused() {
    let fx = Fixture::new();
    let victim = victim(&fx);
    let before = looks(&victim);
    let f = fx.path();
    let soft = dir(&f.join("soft"), 0, 0o755).join("out.log");
    let hard = dir(&f.join("hard"), 0, 0o755).join("out.log");
    talker(&fx, "soft", &soft, "4k", 0);
    talker(&fx, "hard", &hard, "4k", 3);
    fx.service("init").needs("soft").needs("hard");
    let c = fx.boot_ctl_real_root();
    for log in [&soft, &hard] {
        c.wait_until("the log file to have lines", LONG, |_| {
            fs::read_to_string(log).is_ok_and(|t| t.contains(" line 2"))
        });
    }
    let tmp = f.join("soft/planted");
    symlink(&victim, &tmp).unwrap();
    fs::rename(&tmp, &soft).unwrap();
    let tmp = f.join("hard/planted");
    fs::hard_link(&victim, &tmp).unwrap();
    fs::rename(&tmp, &hard).unwrap();
    // 4 KiB at 50-odd bytes a line and 20 lines a second: 200 more lines
    // pass a rotation of either file.
    let count = |name: &str| c.ctl(&["log", name]).stdout.lines().count();
    let start = count("soft");
    c.wait_until("200 more lines", LONG, |_| count("soft") >= start + 200);
    c.check(
        looks(&victim) == before,
        &format!("the victim changed: {:?}", fs::read_to_string(&victim)),
    );
    for (name, log, why) in [
        ("soft", &soft, "a symbolic link"),
        ("hard", &hard, "a regular file with 2 links"),
    ] {
        let writer = format!(
            "cinit: log writer for {name}: refusing {}: {}: {why}",
            log.display(),
            log.display()
        );
        c.wait_until(&format!("{name}'s swapped file to be refused"), LONG, |c| {
            c.console().contains(&writer)
                && c.console()
                    .contains(&format!("cinit: log writer for {name}: refused"))
        });
    }
    let mut checks = Vec::new();
    for name in ["soft", "hard"] {
        let status = c.ctl(&["status", name]).stdout;
        checks.push((
            status.contains("running") && has_log_lines(&c, name),
            format!("{name}: {status}"),
        ));
    }
    c.check_all(checks);
}

/// Proves G4 (sockets file): a Unix socket whose parent is a symbolic link
/// to a root-only directory, one below a directory the other user owns
/// (who linked the next directory to another root-only directory), one in
/// a world-writable directory and one in a sticky world-writable directory
/// (like `/tmp`) itself are each refused: the service fails with a reason
/// naming the address, the directory and why, `cinit-ctl check` reports
/// the `sockets` file, and nothing is made in either root-only directory.
/// A socket below the sticky directory (in a directory cinit makes) and
/// one under `/run` are made as before: their services run, the directory
/// made is root's with mode 0755, and a client connects.
#[test]
fn g4_socket_parents_that_others_control_are_refused() {
    let fx = Fixture::new();
    open_fixture(&fx);
    let f = fx.path();
    let hidden = dir(&f.join("hidden"), 0, 0o700);
    let hidden2 = dir(&f.join("hidden2"), 0, 0o700);
    symlink(&hidden, f.join("sl")).unwrap();
    let ud = dir(&f.join("ud"), USER, 0o755);
    as_user(&format!("ln -s {} {}/run", hidden2.display(), ud.display()));
    let ww = dir(&f.join("ww"), 0, 0o777);
    let st = dir(&f.join("st"), 0, 0o1777);
    let cases = [
        (
            "symsock",
            f.join("sl/ctl"),
            format!("{}: a symbolic link", f.join("sl").display()),
        ),
        (
            "usersock",
            ud.join("run/ctl"),
            format!("{}: owned by uid {USER}, not root", ud.display()),
        ),
        (
            "opensock",
            ww.join("ctl"),
            format!("{}: mode 0777: writable by group or others", ww.display()),
        ),
        (
            "stickysock",
            st.join("ctl"),
            format!("{}: mode 1777: writable by group or others", st.display()),
        ),
    ];
    let sleeper = |name: &str, sockets: String| {
        fx.service(name)
            .respawn()
            .on_link("/bin/sleep")
            .params(&["1999"])
            .file("sockets", &sockets);
    };
    for (name, path, _) in &cases {
        sleeper(name, format!("ctl unix:{}\n", path.display()));
    }
    let below = st.join("own/ctl");
    sleeper("below", format!("ctl unix:{}\n", below.display()));
    sleeper(
        "run",
        "ctl unix:/run/cinit-adv-g4/ctl mode=0600\n".to_owned(),
    );
    for name in [
        "symsock",
        "usersock",
        "opensock",
        "stickysock",
        "below",
        "run",
    ] {
        fx.service("init").wants(name);
    }
    let c = fx.boot_ctl_real_root();
    // First the attack's target, once every service was tried.
    for (name, _, _) in &cases {
        c.wait_until(&format!("{name} to be tried"), LONG, |c| {
            let st = c.ctl(&["status", name]).stdout;
            st.contains("failed") || st.contains("running")
        });
    }
    c.check(
        fs::read_dir(&hidden).unwrap().count() == 0 && fs::read_dir(&hidden2).unwrap().count() == 0,
        "something was made in a root-only directory",
    );
    for (name, path, detail) in &cases {
        c.expect_failed_with(
            name,
            &format!(
                "cannot listen on unix {}: refusing {detail}",
                path.display()
            ),
        );
    }
    c.wait_state("running", "below");
    c.wait_state("running", "run");
    let checked = check_output(&fx);
    let own = fs::metadata(st.join("own")).unwrap();
    let mut checks = vec![
        (
            fs::read_dir(&ww).unwrap().count() == 0,
            "a socket was made in the world-writable directory".to_owned(),
        ),
        (
            own.uid() == 0 && own.mode() & 0o7777 == 0o755,
            format!("made: uid {} mode {:o}", own.uid(), own.mode()),
        ),
        (
            std::os::unix::net::UnixStream::connect(&below).is_ok(),
            "no client connects below the sticky directory".to_owned(),
        ),
    ];
    for (name, path, detail) in &cases {
        checks.push((
            checked.contains(&format!(
                "{}: {name}: unix:{}: {}: refused: {detail}",
                fx.svc_path(name).join("sockets").display(),
                path.display(),
                path.display()
            )),
            format!("cinit-ctl check does not report {name}:\n{checked}"),
        ));
    }
    c.check_all(checks);
}
