//! Adversarial suite, family A: bad configuration (testing.md §5.A), with
//! the real `cinit` as PID 1 in namespaces.
//!
//! One test per case, named `a<N>_<what it proves>`. Cases already proven by
//! older tests carry the prefix where they live: A4 and A5 are in
//! `ns_start.rs` (`a4_…`, `a5_…`); A10's parse rules also have a unit test
//! `svcdir::tests::a10_…`.
//!
//! Besides the case's own promise, every test checks the invariant of the
//! whole family: PID 1 stays alive, the control socket keeps answering, and
//! a healthy service next to the bad ones is unaffected ([`healthy`],
//! [`still_fine`]).

#![cfg(test)]

mod common;

use common::*;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::time::{Duration, Instant};

/// A respawn service that must keep running, unrestarted, next to every
/// injection; the root wants it.
fn healthy(fx: &Fixture) {
    fx.service("healthy")
        .respawn()
        .on_link("/bin/sleep")
        .params(&["1000"]);
    fx.service("init").wants("healthy");
}

/// The family's invariant: PID 1 alive, `cinit-ctl status` answers, and the
/// healthy service is running and was never restarted.
#[track_caller]
fn still_fine(c: &mut Cinit) {
    still_fine_asking(c, &["status"]);
}

/// [`still_fine`] with another status request (`status NAME…`).
#[track_caller]
fn still_fine_asking(c: &mut Cinit, request: &[&str]) {
    c.wait_state("running", "healthy");
    let out = c.ctl(request);
    c.check(
        out.code() == Some(0) && out.stdout.contains("healthy: running"),
        &format!("`cinit-ctl status` must answer:\n{}", out.dump()),
    );
    c.check(
        c.count_state("running", "healthy") == 1,
        "the healthy service was restarted",
    );
    c.assert_alive();
}

/// The reason `cinit-ctl status NAME` shows for one service.
#[track_caller]
fn status_of(c: &Cinit, name: &str) -> String {
    let out = c.ctl(&["status", "--", name]);
    c.check(
        out.code() == Some(0),
        &format!("`cinit-ctl status {name}` failed:\n{}", out.dump()),
    );
    out.stdout
}

/// A1: a service without `on` (grouping), an empty `on`, a broken `on`
/// link, and an `on` that is a directory. Proves a missing `on` is `done`
/// at once and releases its dependents (also for a respawn service: "nothing
/// to run", no fork loop); the empty, broken and directory `on` are `failed`
/// with the exec error as the reason and their dependents `need-failed`; a
/// respawn service with a broken `on` fails once and is not retried.
#[test]
fn a1_missing_on_is_done_empty_broken_or_dir_on_fails_without_retry() {
    let fx = Fixture::new();
    healthy(&fx);
    fx.service("group");
    fx.service("after_group")
        .needs("group")
        .script(&sh_touch(&fx.mark("after_group")));
    fx.service("group_respawn").respawn();
    fx.service("empty").file("on", "");
    fs::set_permissions(
        fx.svc_path("empty/on"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    fx.service("broken").on_link("/nonexistent/cinit-test/prog");
    fx.service("after_broken")
        .needs("broken")
        .script(&sh_touch(&fx.mark("after_broken")));
    fx.service("dir_on");
    fs::create_dir(fx.svc_path("dir_on/on")).unwrap();
    fx.service("broken_respawn")
        .respawn()
        .on_link("/nonexistent/cinit-test/prog");
    for s in [
        "after_group",
        "group_respawn",
        "empty",
        "after_broken",
        "dir_on",
        "broken_respawn",
    ] {
        fx.service("init").wants(s);
    }
    let mut c = fx.boot_ctl();
    c.expect_outcome("group", "done");
    c.expect_outcome("after_group", "done");
    c.check(fx.has_mark("after_group"), "after_group did not run");
    c.expect_outcome("group_respawn", "done");
    c.expect_failed_with("empty", "Exec format error");
    c.expect_failed_with("broken", "No such file or directory");
    c.expect_outcome("after_broken", "need-failed");
    c.check(!fx.has_mark("after_broken"), "need-failed service ran");
    c.expect_failed_with("dir_on", "Permission denied");
    c.expect_failed_with("broken_respawn", "No such file or directory");
    // No retry loop: one attempt, and nothing more after a while.
    std::thread::sleep(Duration::from_millis(700));
    c.check(
        c.lines_of("broken_respawn").len() == 1,
        &format!(
            "broken_respawn was retried: {:?}",
            c.lines_of("broken_respawn")
        ),
    );
    c.check(
        c.lines_of("group_respawn").len() == 1,
        "a respawn service without on was run again",
    );
    let st = status_of(&c, "broken_respawn");
    c.check(
        st.contains("failed") && st.contains("cannot execute"),
        &format!("status should show the exec error: {st}"),
    );
    c.expect_outcome("init", "done");
    still_fine(&mut c);
}

/// An ELF header for another architecture (SPARC, `e_machine` 2): the
/// kernel refuses it with ENOEXEC.
fn foreign_elf() -> Vec<u8> {
    let mut h = vec![0u8; 64];
    h[..4].copy_from_slice(b"\x7fELF");
    h[4] = 2; // 64-bit
    h[5] = 1; // little endian
    h[6] = 1; // version
    h[16] = 2; // ET_EXEC
    h[18] = 2; // EM_SPARC
    h[20] = 1; // version
    h
}

/// A2: `on` not executable (0644), a script without a shebang, a shebang
/// naming a missing interpreter, and a binary for another architecture.
/// Proves the exec error itself is the reason, in the console log and in
/// `cinit-ctl status` (EACCES, ENOEXEC, ENOENT — never "exit status 127"),
/// and a respawn service with such an `on` is `failed`, not restarted.
#[test]
fn a2_exec_errors_are_reported_with_their_errno_not_as_exit_127() {
    let fx = Fixture::new();
    healthy(&fx);
    fx.service("noexec").script_mode("exit 0", 0o644);
    fx.service("noexec_respawn")
        .respawn()
        .script_mode("exit 0", 0o644);
    fx.service("noshebang").file("on", "echo hello\n");
    fx.service("badinterp")
        .file("on", "#!/nonexistent/cinit-test/interp\nexit 0\n");
    let s = fx.service("wrongarch");
    fs::write(s.dir().join("on"), foreign_elf()).unwrap();
    for f in ["noshebang/on", "badinterp/on", "wrongarch/on"] {
        fs::set_permissions(
            fx.svc_path(f),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
    }
    let cases = [
        ("noexec", "Permission denied"),
        ("noexec_respawn", "Permission denied"),
        ("noshebang", "Exec format error"),
        ("badinterp", "No such file or directory"),
        ("wrongarch", "Exec format error"),
    ];
    for (name, _) in cases {
        fx.service("init").wants(name);
    }
    let mut c = fx.boot_ctl();
    for (name, why) in cases {
        let l = c.expect_failed_with(name, why);
        c.check(
            l.rest().contains("cannot execute") && !l.rest().contains("exit status"),
            &format!("`{name}` should report the exec error: {}", l.line),
        );
        let st = status_of(&c, name);
        c.check(
            st.contains(&format!("{name}: failed")) && st.contains(why),
            &format!("status of `{name}` should show `{why}`: {st}"),
        );
    }
    std::thread::sleep(Duration::from_millis(500));
    c.check(
        c.lines_of("noexec_respawn").len() == 1,
        "a respawn service that cannot be executed was retried",
    );
    still_fine(&mut c);
}

/// A3: a dangling `on -> /nope`, symlink loops `on -> on` and `on -> on2 ->
/// on` (ELOOP), a service directory that is itself a dangling link, a
/// `needs` entry leading back to its own service through `..`, service
/// links to the tree's parent and to the tree itself, and a directory
/// loop (`a/sub -> ../a`). Proves each bad one ends with a clear reason,
/// nothing recurses forever (boot, `cinit-ctl start` and `cinit-ctl check`
/// all finish), and the odd but valid links work. A name that leads to
/// the service tree itself (`.`, `dirloop/..`) is refused (exit 2), never
/// loaded as a service.
#[test]
fn a3_dangling_and_looping_links_fail_clearly_and_never_recurse() {
    let fx = Fixture::new();
    healthy(&fx);
    fx.service("dangling").on_link("/nope");
    fx.service("loop").on_link("on");
    fx.service("loop2").on_link("on2").link("on2", "on");
    symlink("/nonexistent/cinit-test/dir", fx.svc_path("ghostdir")).unwrap();
    fx.service("needs_ghostdir")
        .need_link("g", fx.svc_path("ghostdir"))
        .script(&sh_touch(&fx.mark("needs_ghostdir")));
    // needs/back -> .. is the needs/ directory's parent: the service itself.
    fx.service("selfref")
        .need_link("back", "..")
        .script(&sh_touch(&fx.mark("selfref")));
    symlink("..", fx.svc_path("up")).unwrap();
    symlink(".", fx.svc_path("here")).unwrap();
    fx.service("dirloop").link("sub", "../dirloop");
    fx.service("dirloop_user")
        .need_link("d", fx.svc_path("dirloop/sub/sub/sub"))
        .script(&sh_touch(&fx.mark("dirloop_user")));
    for s in [
        "dangling",
        "loop",
        "loop2",
        "needs_ghostdir",
        "selfref",
        "dirloop_user",
    ] {
        fx.service("init").wants(s);
    }
    fx.service("init")
        .want_link("up", fx.svc_path("up"))
        .want_link("here", fx.svc_path("here"));
    let mut c = fx.boot_ctl();
    c.expect_failed_with("dangling", "cannot execute");
    c.expect_failed_with("dangling", "No such file or directory");
    c.expect_failed_with("loop", "Too many symbolic links encountered");
    c.expect_failed_with("loop2", "Too many symbolic links encountered");
    let g = c.expect_outcome("needs_ghostdir", "need-failed");
    c.check(
        g.rest().contains("no such service"),
        &format!("the missing service dir should be named: {}", g.line),
    );
    c.expect_failed_with("selfref", "dependency cycle: selfref -> selfref");
    c.expect_outcome("dirloop", "done");
    c.expect_outcome("dirloop_user", "done");
    // svc/up is etc/ (outside the tree: named by its absolute path), svc/here
    // is svc/ itself (named "."); neither has an `on`.
    c.expect_outcome(&fx.etc().display().to_string(), "done");
    c.expect_outcome(".", "done");
    c.expect_outcome("init", "done");
    c.check(
        !fx.has_mark("needs_ghostdir") && !fx.has_mark("selfref"),
        "a service that must not run ran",
    );
    let out = c.ctl(&["start", "ghostdir"]);
    c.check(
        out.code() == Some(2) && out.stderr.contains("no such service"),
        &format!("starting a dangling service dir: {}", out.dump()),
    );
    let out = c.ctl(&["start", "dirloop/sub/sub"]);
    c.check(
        out.code() == Some(0) && out.stdout.contains("dirloop: done"),
        &format!("a looped path names the one service: {}", out.dump()),
    );
    // Names that lead to the service tree itself are no service.
    for name in [".", "dirloop/..", "./"] {
        for verb in ["status", "start"] {
            let out = c.ctl(&[verb, name]);
            c.check(
                out.code() == Some(2) && out.stderr.contains("itself, not a service"),
                &format!("`{verb} {name}` must be refused: {}", out.dump()),
            );
        }
    }
    let mut cmd = std::process::Command::new(ctl_bin());
    cmd.arg("check").arg(fx.etc()).env_clear();
    let out = run(cmd, fx.path(), Duration::from_secs(20));
    c.check(
        out.code() == Some(1)
            && out.stdout.contains("loop/on")
            && out.stdout.contains("dangling/on"),
        &format!("check must finish and list the bad links: {}", out.dump()),
    );
    still_fine(&mut c);
}

/// A6: strange `on.params` / `on.env` files: 100 MB (sparse), a link to
/// `/dev/zero`, a FIFO, a link to `/dev/tty`, a directory, an empty file,
/// and a link to a regular file elsewhere (the documented idiom). Proves
/// every non-regular or oversized file fails only its own service with the
/// file named, quickly (PID 1 never blocks in open(2) or reads until OOM),
/// the empty file means no arguments / empty environment, and the symlinked
/// regular file still works.
#[test]
fn a6_huge_special_and_odd_param_files_fail_alone_and_never_block() {
    let fx = Fixture::new();
    healthy(&fx);
    let record = |name: &str| format!("printf '%s|' \"$#\" \"$@\" > '{}'", fx.mark(name).display());
    let bad = [
        ("huge", "larger than 65536 bytes"),
        ("devzero", "not a regular file"),
        ("fifo", "not a regular file"),
        ("tty", "on.params"),
        ("dir", "not a regular file"),
        ("huge_env", "larger than 65536 bytes"),
        ("fifo_env", "not a regular file"),
    ];
    for (name, _) in bad {
        fx.service(name).script(&record(name));
        fx.service("init").wants(name);
    }
    let params = |name: &str| fx.svc_path(name).join("on.params");
    fs::File::create(params("huge"))
        .unwrap()
        .set_len(100 << 20)
        .unwrap();
    symlink("/dev/zero", params("devzero")).unwrap();
    nix::unistd::mkfifo(&params("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    symlink("/dev/tty", params("tty")).unwrap();
    fs::create_dir(params("dir")).unwrap();
    let env = |name: &str| fx.svc_path(name).join("on.env");
    fs::remove_file(env("huge_env")).unwrap();
    fs::File::create(env("huge_env"))
        .unwrap()
        .set_len(100 << 20)
        .unwrap();
    fs::remove_file(env("fifo_env")).unwrap();
    nix::unistd::mkfifo(&env("fifo_env"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    // Good ones: an empty params file, and params linked to a file elsewhere.
    fx.service("empty").script(&record("empty")).params_raw("");
    fs::write(fx.path().join("shared.params"), "from\nelsewhere\n").unwrap();
    fx.service("linked").script(&record("linked"));
    symlink(fx.path().join("shared.params"), params("linked")).unwrap();
    fx.service("empty_env")
        .script("echo \"[$PATH]\" > /dev/null")
        .file("on.env", "");
    fx.service("init")
        .wants("empty")
        .wants("linked")
        .wants("empty_env");
    let t0 = Instant::now();
    let mut c = fx.boot_ctl();
    for (name, why) in bad {
        let l = c.expect_failed_with(name, why);
        let file = if name.ends_with("_env") {
            "on.env"
        } else {
            "on.params"
        };
        c.check(
            l.rest().contains(file),
            &format!("the reason should name {file}: {}", l.line),
        );
        c.check(!fx.has_mark(name), &format!("`{name}` ran"));
    }
    c.expect_outcome("empty", "done");
    c.check(
        fx.read_mark("empty") == "0|",
        &format!("empty params: {:?}", fx.read_mark("empty")),
    );
    c.expect_outcome("linked", "done");
    c.check(
        fx.read_mark("linked") == "2|from|elsewhere|",
        &format!("linked params: {:?}", fx.read_mark("linked")),
    );
    // An empty on.env is an empty environment: no PATH, so a script using
    // `echo` (a builtin) still works.
    c.expect_outcome("empty_env", "done");
    c.expect_outcome("init", "done");
    c.check(
        t0.elapsed() < Duration::from_secs(10),
        &format!("boot took {:?}", t0.elapsed()),
    );
    still_fine(&mut c);
}

/// A7: service names that are not plain text (a non-UTF-8 name `\xff\xfe`,
/// a newline, a space, a leading `-`, 255 bytes, a name that would forge a
/// log line), and NUL bytes and invalid UTF-8 inside `.params` / `.env`.
/// Proves names are handled as bytes (every such service runs, nothing
/// panics), the console and `cinit-ctl` escape control characters so a name
/// can never start a line of its own, `cinit-ctl start -- -x` works, bytes
/// that are not UTF-8 reach the program verbatim, and a NUL byte fails only
/// its service, naming the line.
#[test]
fn a7_odd_bytes_in_names_and_files_are_handled_as_bytes_and_escaped() {
    use std::ffi::OsStr;
    let fx = Fixture::new();
    healthy(&fx);
    let svc = fx.svc_root();
    // (directory name as bytes, marker, name as cinit shows it)
    let long = "n".repeat(255);
    let names: Vec<(Vec<u8>, &str, String)> = vec![
        (b"\xff\xfe".to_vec(), "nonutf8", "\u{fffd}\u{fffd}".into()),
        (b"new\nline".to_vec(), "newline", "new\\nline".into()),
        (b"with space".to_vec(), "space", "with space".into()),
        (b"-x".to_vec(), "dash", "-x".into()),
        (long.clone().into_bytes(), "long", long.clone()),
        (
            b"x\n[    0.000] cinit: done forged".to_vec(),
            "forge",
            "x\\n[    0.000] cinit: done forged".into(),
        ),
    ];
    for (dir, mark, _) in &names {
        let d = svc.join(OsStr::from_bytes(dir));
        fs::create_dir(&d).unwrap();
        fs::write(
            d.join("on"),
            format!("#!/bin/sh\n{}\n", sh_touch(&fx.mark(mark))),
        )
        .unwrap();
        fs::set_permissions(
            d.join("on"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        fs::write(d.join("on.env"), format!("{PATH_ENV}\n")).unwrap();
        fx.service("init").want_link(mark, &d);
    }
    // Contents: invalid UTF-8 passes through, NUL fails the service.
    let record =
        |var: &str, name: &str| format!("printf '%s' \"{var}\" > '{}'", fx.mark(name).display());
    fx.service("bytes_params")
        .script(&record("$1", "bytes_params"));
    fs::write(fx.svc_path("bytes_params/on.params"), b"\xff\xfeok\xc3\n").unwrap();
    fx.service("bytes_env").script(&record("$V", "bytes_env"));
    fs::write(fx.svc_path("bytes_env/on.env"), {
        let mut v = format!("{PATH_ENV}\nV=").into_bytes();
        v.extend_from_slice(b"\xfe\xff\n");
        v
    })
    .unwrap();
    fx.service("nul_params")
        .script(&sh_touch(&fx.mark("nul_params")));
    fs::write(fx.svc_path("nul_params/on.params"), b"ok\nb\0d\n").unwrap();
    fx.service("nul_env").script(&sh_touch(&fx.mark("nul_env")));
    fs::write(
        fx.svc_path("nul_env/on.env"),
        format!("{PATH_ENV}\nA=b\0c\n"),
    )
    .unwrap();
    for s in ["bytes_params", "bytes_env", "nul_params", "nul_env"] {
        fx.service("init").wants(s);
    }
    let mut c = fx.boot_ctl();
    c.expect_outcome("init", "done");
    for (_, mark, shown) in &names {
        c.wait_until(&format!("marker {mark}"), TIMEOUT, |_| fx.has_mark(mark));
        let done = format!("cinit: done {shown} in ");
        c.wait_until(&format!("`{done}`"), TIMEOUT, |c| {
            c.console().contains(&done)
        });
    }
    c.check(
        !c.has_state("done", "forged"),
        "a service name forged a console line",
    );
    c.check(
        !c.console()
            .lines()
            .any(|l| l == "line in 0.000s" || l.starts_with("line ")),
        "a newline in a name split a console line",
    );
    c.expect_outcome("bytes_params", "done");
    c.check(
        fs::read(fx.mark("bytes_params")).unwrap() == b"\xff\xfeok\xc3",
        "invalid UTF-8 in on.params did not arrive verbatim",
    );
    c.expect_outcome("bytes_env", "done");
    c.check(
        fs::read(fx.mark("bytes_env")).unwrap() == b"\xfe\xff",
        "invalid UTF-8 in on.env did not arrive verbatim",
    );
    c.expect_failed_with("nul_params", "line 2 contains a NUL byte");
    c.expect_failed_with("nul_env", "line 2 contains a NUL byte");
    c.check(
        !fx.has_mark("nul_params") && !fx.has_mark("nul_env"),
        "a service with a NUL byte in its files ran",
    );

    // The CLI: one line per service, control characters escaped.
    let out = c.ctl(&["status"]);
    c.check(out.code() == Some(0), &out.dump());
    for line in out.stdout.lines() {
        c.check(
            line.contains(": "),
            &format!("status printed a broken line {line:?}:\n{}", out.dump()),
        );
    }
    c.check(
        out.stdout.contains("new\\nline: done") && out.stdout.contains("\u{fffd}\u{fffd}: done"),
        &format!("status should show the escaped names:\n{}", out.dump()),
    );
    let out = c.ctl(&["list"]);
    c.check(
        out.stdout.contains("new\\nline ") && !out.stdout.contains("new\nline"),
        &format!("list should escape names:\n{}", out.dump()),
    );
    let out = c.ctl(&["--json", "status", "new\nline"]);
    c.check(
        out.code() == Some(0) && out.stdout.contains("\"name\":\"new\\nline\""),
        &format!("JSON should escape the newline:\n{}", out.dump()),
    );
    // A leading dash is a name after `--`, an unknown option without it.
    let out = c.ctl(&["restart", "--", "-x"]);
    c.check(
        out.code() == Some(0) && out.stdout.contains("-x: done"),
        &format!("`restart -- -x`:\n{}", out.dump()),
    );
    c.check(
        c.count_state("done", "-x") == 2,
        "`-x` was not run again by restart",
    );
    let out = c.ctl(&["start", "-x"]);
    c.check(
        out.code() == Some(2),
        &format!("`start -x`:\n{}", out.dump()),
    );
    let out = c.ctl(&["status", "with space", &long]);
    c.check(
        out.code() == Some(0)
            && out.stdout.contains("with space: done")
            && out.stdout.contains(&format!("{long}: done")),
        &format!("status of names with a space / 255 bytes:\n{}", out.dump()),
    );
    // A name that is not UTF-8 cannot be sent (the protocol carries text):
    // a clean usage error, not a crash.
    let mut cmd = c.ctl_cmd(&["status"]);
    cmd.arg(OsStr::from_bytes(b"\xff\xfe"));
    let out = run(cmd, fx.path(), CTL_TIMEOUT);
    c.check(
        out.code() == Some(2),
        &format!("non-UTF-8 argument:\n{}", out.dump()),
    );
    still_fine(&mut c);
}

/// Creates `svc/<group>/<i>` for `i` in `0..n`, each with `needs/next` →
/// `../../<i+1>` (a chain; the last link dangles).
fn chain(fx: &Fixture, group: &str, n: usize) {
    let base = fx.svc_path(group);
    fs::create_dir(&base).unwrap();
    for i in 0..n {
        let d = base.join(i.to_string());
        fs::create_dir(&d).unwrap();
        fs::create_dir(d.join("needs")).unwrap();
        symlink(format!("../../{}", i + 1), d.join("needs/next")).unwrap();
    }
}

/// Moves the fixture's `svc/` to a fresh directory on tmpfs (`/dev/shm`),
/// leaving `etc/svc` a link to it (cinit works on the canonical path, so
/// names stay relative to `svc/`): 10⁵ directories are built in a second
/// there, where a loaded disk needs more than a minute.
fn svc_on_tmpfs(fx: &Fixture) -> tempfile::TempDir {
    let shm = tempfile::Builder::new()
        .prefix("cinit-test-svc.")
        .tempdir_in("/dev/shm")
        .expect("a directory on /dev/shm");
    fs::create_dir(shm.path().join("svc")).unwrap();
    fs::remove_dir(fx.svc_root()).unwrap();
    symlink(shm.path().join("svc"), fx.svc_root()).unwrap();
    shm
}

/// The child of cinit whose namespace pid a `(pid N)` state line names.
#[track_caller]
fn child_of(c: &Cinit, line: &StateLine) -> Proc {
    let pid: i32 = line
        .line
        .split("(pid ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| c.fail(&format!("no pid in {}", line.line)));
    c.children()
        .into_iter()
        .find(|p| p.ns_pid() == Some(pid))
        .unwrap_or_else(|| c.fail(&format!("no child with pid {pid} in the namespace")))
}

/// Descriptors cinit holds open.
fn open_fds(c: &Cinit) -> usize {
    fs::read_dir(format!("/proc/{}/fd", c.host_pid()))
        .map(|d| d.count())
        .unwrap_or(usize::MAX)
}

/// A8: a 10⁵-deep `needs` chain; then, in a second boot, a 10⁴-wide fan-in
/// (10⁴ service directories all needing one service, grouped ten times by
/// 1000, the most one `wants/` may hold) next to a 5000-deep chain. Proves
/// loading, starting and failure propagation are iterative and fast: the
/// deep chain is cut at the documented limit of 16384 services with one
/// clear problem, and the need failure that follows runs up all 16 000
/// links to the root without a stack overflow; the fan-in and the 5000-deep
/// chain boot completely (every service `done`, the fan-in only after its
/// base); each boot is done in seconds; cinit holds no descriptor per
/// service; `cinit-ctl status` answers with every service.
#[test]
fn a8_deep_chains_and_wide_fan_in_load_iteratively_in_linear_time() {
    // 1. The 10⁵-deep chain.
    let fx = Fixture::new();
    let shm = svc_on_tmpfs(&fx);
    healthy(&fx);
    let t = Instant::now();
    chain(&fx, "deep", 100_000);
    let built = t.elapsed();
    fx.service("init").wants("deep/0");
    let t = Instant::now();
    let mut c = fx.boot_ctl();
    let limit = c.wait_for("the service limit", Duration::from_secs(30), |c| {
        c.console()
            .lines()
            .find(|l| l.contains("cinit: config: ") && l.contains("more than 16384 services"))
            .map(str::to_owned)
    });
    let top = c.outcome_for("deep/0", Duration::from_secs(30));
    let booted = t.elapsed();
    c.check(
        top.state == "need-failed" && top.rest().contains("need deep/1 failed"),
        &format!(
            "the failure should reach the top of the chain: {}",
            top.line
        ),
    );
    c.check(
        limit.contains("deep/") && limit.contains("needs/next"),
        &format!("the problem should name the link cut off: {limit}"),
    );
    c.expect_outcome("init", "done");
    // A status of all 16384 services, with these reasons, is over the 1 MiB
    // a client may have queued (`control::MAX_OUT_PER_CLIENT`): the client
    // is told so, in an error reply, and may ask by name.
    let out = c.ctl(&["status"]);
    c.check(
        out.code() == Some(1)
            && out
                .stderr
                .contains("is larger than a client may be sent at once")
            && out.stderr.contains("ask for fewer services by name"),
        &format!("a full status over the limit:\n{}", out.dump()),
    );
    let out = c.ctl(&["status", "deep/0", "deep/16381", "init"]);
    c.check(
        out.code() == Some(0)
            && out.stdout.contains("deep/0: need-failed")
            && out.stdout.contains("deep/16381: need-failed")
            && out.stdout.contains("more than 16384 services"),
        &format!("status of the chain's ends:\n{}", out.dump()),
    );
    let fds = open_fds(&c);
    c.check(fds < 32, &format!("cinit holds {fds} descriptors"));
    still_fine_asking(&mut c, &["status", "healthy", "deep/0"]);
    eprintln!("a8: 10^5 chain built in {built:?}, cut and failed in {booted:?}");
    c.check(
        booted < Duration::from_secs(20),
        &format!("the 10^5 chain took {booted:?}"),
    );
    drop(c);
    drop(shm);

    // 2. A 10⁴-wide fan-in next to a 5000-deep chain.
    let fx = Fixture::new();
    let _shm = svc_on_tmpfs(&fx);
    healthy(&fx);
    fx.service("base").script("sleep 0.2");
    let t = Instant::now();
    for g in 0..10 {
        let group = fx.service(&format!("fan/g{g}"));
        for k in 0..1000 {
            let name = format!("fan/{}", g * 1000 + k);
            fx.service(&name).need_link("base", "../../../base");
            group.want_link(&k.to_string(), format!("../../{}", g * 1000 + k));
        }
        fx.service("init").wants(&format!("fan/g{g}"));
    }
    chain(&fx, "long", 5000);
    fs::remove_file(fx.svc_path("long/4999/needs/next")).unwrap();
    fx.service("init").wants("long/0");
    let built = t.elapsed();
    let t = Instant::now();
    let mut c = fx.boot_ctl();
    c.outcome_for("init", Duration::from_secs(30));
    let booted = t.elapsed();
    c.expect_outcome("init", "done");
    c.expect_outcome("long/0", "done");
    let states = c.states();
    let done = |prefix: &str| {
        states
            .iter()
            .filter(|l| l.state == "done" && l.name.starts_with(prefix))
            .count()
    };
    c.check(
        done("fan/") == 10_010 && done("long/") == 5000,
        &format!(
            "every service should be done: fan {} of 10010, long {} of 5000",
            done("fan/"),
            done("long/")
        ),
    );
    let base_done = c.find_state("done", "base").unwrap().index;
    c.check(
        states
            .iter()
            .filter(|l| l.name.starts_with("fan/") && !l.name.contains('g'))
            .all(|l| l.index > base_done),
        "a fan-in service was done before its need `base`",
    );
    let out = c.ctl(&["status"]);
    c.check(
        out.code() == Some(0) && out.stdout.lines().count() == 15_013,
        &format!(
            "status should list every service: code {:?}, {} lines\n{}",
            out.code(),
            out.stdout.lines().count(),
            out.stderr
        ),
    );
    let fds = open_fds(&c);
    c.check(fds < 32, &format!("cinit holds {fds} descriptors"));
    still_fine(&mut c);
    eprintln!("a8: fan-in + 5000 chain built in {built:?}, booted in {booted:?}");
    c.check(
        booted < Duration::from_secs(20),
        &format!("the fan-in boot took {booted:?}"),
    );
}

/// A9: the configuration changes under a running cinit. `mutator`, needed by
/// the services below, deletes `victim`'s directory, replaces `swapped`'s
/// `on` (rename over it) and turns `relinked`'s `on` into a dangling link,
/// all before they start; later the test deletes the directory of the
/// running respawn service `vanishing` and kills its process. Proves a
/// service whose directory vanished is `failed` ("service directory is
/// gone"), not mistaken for a grouping service without `on`, and a respawn
/// service is not restarted into a loop; the replaced `on` is the one run
/// (files are read at each start); the dangling `on` fails with ENOENT; a
/// request for the vanished service is a clean "no such service".
#[test]
fn a9_config_changing_under_cinit_is_seen_at_start_and_vanished_dirs_fail() {
    let fx = Fixture::new();
    healthy(&fx);
    let new_on = fx.path().join("new_on");
    fs::write(
        &new_on,
        format!("#!/bin/sh\necho new > '{}'\n", fx.mark("swapped").display()),
    )
    .unwrap();
    fs::set_permissions(&new_on, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    fx.service("mutator").script(&format!(
        "rm -rf '{victim}'\nmv '{new_on}' '{swapped}'\nln -sf /nonexistent/cinit-test/prog '{relinked}'",
        victim = fx.svc_path("victim").display(),
        new_on = new_on.display(),
        swapped = fx.svc_path("swapped/on").display(),
        relinked = fx.svc_path("relinked/on").display(),
    ));
    fx.service("victim")
        .needs("mutator")
        .script(&sh_touch(&fx.mark("victim")));
    fx.service("swapped")
        .needs("mutator")
        .script(&format!("echo old > '{}'", fx.mark("swapped").display()));
    fx.service("relinked")
        .needs("mutator")
        .script(&sh_touch(&fx.mark("relinked")));
    fx.service("vanishing")
        .respawn()
        .on_link("/bin/sleep")
        .params(&["1000"]);
    for s in ["victim", "swapped", "relinked", "vanishing"] {
        fx.service("init").wants(s);
    }
    let mut c = fx.boot_ctl();
    c.expect_outcome("mutator", "done");
    c.expect_failed_with("victim", "service directory is gone");
    c.check(!fx.has_mark("victim"), "the vanished service ran");
    c.expect_outcome("swapped", "done");
    c.check(
        fx.read_mark("swapped") == "new\n",
        &format!("the old on ran: {:?}", fx.read_mark("swapped")),
    );
    c.expect_failed_with("relinked", "No such file or directory");

    let host_pid = child_of(&c, &c.wait_state("running", "vanishing"));
    fs::remove_dir_all(fx.svc_path("vanishing")).unwrap();
    send_signal(host_pid.pid, libc::SIGKILL);
    c.expect_failed_with("vanishing", "service directory is gone");
    std::thread::sleep(Duration::from_millis(500));
    c.check(
        c.count_state("failed", "vanishing") == 1 && c.count_state("running", "vanishing") == 1,
        &format!("vanishing was retried: {:?}", c.lines_of("vanishing")),
    );
    let out = c.ctl(&["start", "victim"]);
    c.check(
        out.code() == Some(2) && out.stderr.contains("no such service"),
        &format!("starting the vanished service:\n{}", out.dump()),
    );
    still_fine(&mut c);
}

/// A10: garbage in `respawn` (text "no", "-1", a directory), in `delay`
/// ("-1", "soon", a number beyond u32), and in `on.env` (a line without `=`,
/// duplicate keys, PATH overridden). Proves at run time what the parse rules
/// (`svcdir::tests::a10_…`) say: `respawn` counts by existence, so each such
/// service is supervised and restarted; a bad `delay` is reported on the
/// console and the default is used; the line without `=` fails its service
/// naming the line; duplicate keys and the overridden PATH reach the program
/// verbatim and in order.
#[test]
fn a10_respawn_delay_and_env_garbage_follow_the_documented_rules() {
    let fx = Fixture::new();
    healthy(&fx);
    for (name, content) in [("resp_no", "no\n"), ("resp_neg", "-1")] {
        fx.service(name)
            .script("sleep 0.1; exit 1")
            .file("respawn", content);
    }
    fx.service("resp_dir").script("sleep 0.1; exit 1");
    fs::create_dir(fx.svc_path("resp_dir/respawn")).unwrap();
    for (name, content) in [
        ("delay_neg", "-1\n"),
        ("delay_word", "soon"),
        ("delay_huge", "99999999999"),
    ] {
        fx.service(name).script("exit 0").file("delay", content);
    }
    fx.service("env_noeq")
        .env_raw(&format!("{PATH_ENV}\nexport FOO\n"))
        .script(&sh_touch(&fx.mark("env_noeq")));
    fx.service("env_dup")
        .respawn()
        .on_link("/bin/sleep")
        .params(&["1000"])
        .env_raw("A=1\nPATH=/opt/cinit-test/bin:/bin\nA=2\n");
    fx.service("env_path")
        .env_raw("PATH=/cinit-test-path:/usr/bin:/bin\n")
        .script(&format!(
            "echo \"$PATH\" > '{}'",
            fx.mark("env_path").display()
        ));
    for s in [
        "resp_no",
        "resp_neg",
        "resp_dir",
        "delay_neg",
        "delay_word",
        "delay_huge",
        "env_noeq",
        "env_dup",
        "env_path",
    ] {
        fx.service("init").wants(s);
    }
    let mut c = fx.boot_ctl();
    for s in ["resp_no", "resp_neg", "resp_dir"] {
        c.wait_until(&format!("{s} to be restarted"), TIMEOUT, |c| {
            c.count_state("running", s) >= 2
        });
        c.check(
            !c.has_state("starting", s),
            &format!("{s} ran as a once service"),
        );
    }
    let log = c.console();
    for (s, word) in [
        ("delay_neg", "\"-1\""),
        ("delay_word", "\"soon\""),
        ("delay_huge", "\"99999999999\""),
    ] {
        c.check(
            log.lines().any(|l| {
                l.contains("cinit: config: ")
                    && l.contains(&format!("{s}/delay"))
                    && l.contains(word)
                    && l.contains("using the default")
            }),
            &format!("no warning for {s}'s delay"),
        );
        c.expect_outcome(s, "done");
    }
    c.expect_failed_with("env_noeq", "on.env: line 2: not NAME=value");
    c.check(!fx.has_mark("env_noeq"), "env_noeq ran");
    let p = child_of(&c, &c.wait_state("running", "env_dup"));
    c.check(
        p.environ() == ["A=1", "PATH=/opt/cinit-test/bin:/bin", "A=2"],
        &format!("environment of env_dup: {:?}", p.environ()),
    );
    c.expect_outcome("env_path", "done");
    c.check(
        fx.read_mark("env_path") == "/cinit-test-path:/usr/bin:/bin\n",
        &format!("PATH seen: {:?}", fx.read_mark("env_path")),
    );
    still_fine(&mut c);
}
