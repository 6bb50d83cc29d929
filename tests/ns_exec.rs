//! How cinit executes a service, with the real `cinit` as PID 1 in namespaces:
//! `on.params` / `on.env` exactness, `on` symlinks and argv[0], and the
//! clean state every child starts in (signal mask, dispositions, session,
//! fds, cwd, environment), inspected from the host through `/proc`.

#![cfg(test)]

mod common;

use common::*;
use std::ffi::OsString;
use std::fs;
use std::path::Path;

/// Script body that records `$#` and then every argument as `[arg]`, one per
/// line, into marker `name`.
fn record_args(fx: &Fixture, name: &str) -> String {
    format!(
        "{{ printf '%s\\n' \"$#\"; for a in \"$@\"; do printf '[%s]\\n' \"$a\"; done; }} > '{}'",
        fx.mark(name).display()
    )
}

fn expected_args(args: &[&str]) -> String {
    let mut s = format!("{}\n", args.len());
    for a in args {
        s.push_str(&format!("[{a}]\n"));
    }
    s
}

/// Proves the `on.params` rules: one argument per line, verbatim (spaces,
/// quotes, backslashes, `=` kept), exactly one trailing newline dropped (so
/// `"x\n\n"` = `x` and an empty argument, `"\n"` = one empty argument), no
/// trailing newline = last line still an argument, empty file or no file =
/// no arguments.
#[test]
fn params_are_one_verbatim_argument_per_line() {
    let fx = Fixture::new();
    let cases: &[(&str, Option<&str>, &[&str])] = &[
        (
            "spaces",
            Some("a b\n  lead\ntrail \nq\"uo'te\\back\nx=y z\n"),
            &["a b", "  lead", "trail ", "q\"uo'te\\back", "x=y z"],
        ),
        ("empties", Some("first\n\nlast\n"), &["first", "", "last"]),
        ("twonl", Some("x\n\n"), &["x", ""]),
        ("onenl", Some("\n"), &[""]),
        ("nonl", Some("x\ny"), &["x", "y"]),
        ("emptyfile", Some(""), &[]),
        ("nofile", None, &[]),
    ];
    let init = fx.service("init");
    for (name, params, _) in cases {
        let s = fx.service(name);
        s.script(&record_args(&fx, name));
        if let Some(p) = params {
            s.params_raw(p);
        }
        init.wants(name);
    }
    let c = fx.boot();
    for (name, params, want) in cases {
        c.expect_outcome(name, "done");
        let got = fx.read_mark(name);
        c.check(
            got == expected_args(want),
            &format!(
                "service `{name}` with on.params {params:?}: expected args {want:?}, \
                 recorded:\n{got}"
            ),
        );
    }
}

/// Proves `on.env` is the whole environment, verbatim per line: values with
/// spaces, empty values and values containing `=` arrive exactly, and nothing
/// from cinit's own environment (`CINIT_DIR`, `CINIT_CONSOLE`) is inherited.
#[test]
fn env_file_values_are_exact_and_nothing_is_inherited() {
    let fx = Fixture::new();
    fx.service("envy")
        .env_raw(&format!(
            "{PATH_ENV}\nGREETING=hello  world \nEMPTY=\nEQ=a=b=c\nLAST=no newline"
        ))
        .script(&format!(
            "printf '[%s]\\n' \"$GREETING\" \"${{EMPTY-unset}}\" \"$EQ\" \"$LAST\" \
             \"${{CINIT_DIR-unset}}\" \"${{CINIT_CONSOLE-unset}}\" > '{}'",
            fx.mark("envy").display()
        ));
    fx.service("init").needs("envy");
    let c = fx.boot();
    c.expect_outcome("envy", "done");
    let got = fx.read_mark("envy");
    let want = "[hello  world ]\n[]\n[a=b=c]\n[no newline]\n[unset]\n[unset]\n";
    c.check(got == want, &format!("expected\n{want}recorded\n{got}"));
}

/// Proves the exact argv reaches the program: `on` → `/bin/sh` with params
/// `-c`, `sleep 1000; :`, `a0`, `a b`, `` (empty), `x` gives exactly that
/// argv in `/proc/PID/cmdline`, with argv[0] = the symlink target.
#[test]
fn argv_is_exact_in_proc_cmdline() {
    let fx = Fixture::new();
    let params = ["-c", "sleep 1000; :", "a0", "a b", "", "x"];
    fx.service("shc")
        .respawn()
        .on_link("/bin/sh")
        .params(&params)
        .env(&[PATH_ENV]);
    fx.service("init").needs("shc");
    let c = fx.boot();
    let mut argv = vec!["/bin/sh"];
    argv.extend(params);
    let p = c.wait_child_argv(&argv, None);
    c.check(p.is_alive(), "the service died");
}

/// Proves an absolute `on` symlink is exec'd with argv[0] = the link target
/// string verbatim (`/bin/sleep`, not the resolved `/usr/bin/sleep`).
#[test]
fn absolute_on_symlink_argv0_is_link_target() {
    let fx = Fixture::new();
    fx.service("abs")
        .respawn()
        .on_link("/bin/sleep")
        .params(&["1001"]);
    fx.service("init").needs("abs");
    let c = fx.boot();
    let p = c.wait_child_argv(&["/bin/sleep", "1001"], None);
    let exe = p.exe();
    c.check(
        exe.file_name().is_some_and(|n| n == "sleep"),
        &format!("exe of the service is {}, expected sleep", exe.display()),
    );
}

/// Proves a relative `on` symlink resolves against the service directory and
/// argv[0] is the relative target string verbatim (`sub/tool`, a copy of
/// sleep inside the service directory).
#[test]
fn relative_on_symlink_resolves_in_service_dir() {
    let fx = Fixture::new();
    let svc = fx.service("rel");
    svc.respawn().params(&["1002"]).on_link("sub/tool");
    let tool = svc.dir().join("sub/tool");
    std::fs::create_dir_all(tool.parent().unwrap()).unwrap();
    copy_exe("/bin/sleep", &tool);
    fx.service("init").needs("rel");
    let c = fx.boot();
    let p = c.wait_child_argv(&["sub/tool", "1002"], None);
    c.check(
        p.exe() == tool,
        &format!("exe is {}, expected {}", p.exe().display(), tool.display()),
    );
}

/// Proves a regular-file `on` gets argv[0] = the absolute path of `on`.
#[test]
fn plain_on_argv0_is_absolute_path() {
    let fx = Fixture::new();
    fx.service("plain")
        .respawn()
        .on_copy("/bin/sleep")
        .params(&["1003"]);
    fx.service("init").needs("plain");
    let c = fx.boot();
    let on = fx.svc_path("plain").join("on");
    let on = on.to_str().unwrap();
    c.wait_child_argv(&[on, "1003"], None);
}

/// B12 (inherited junk in children; adversarial family B, see
/// `adv_runtime.rs`). Proves a child starts clean even when PID 1 was
/// handed junk: cinit is started with SIGQUIT, SIGTTIN, SIGXFSZ ignored, a
/// non-CLOEXEC fd 7, umask 077 and a stray `JUNK=1` in its environment, and
/// blocks its own signals. Its service, a direct exec of `/bin/sleep` (no
/// shell in between that could reset the mask), shows: SigBlk and SigIgn 0,
/// its own session and process group (sid == pgrp == pid) and no
/// controlling terminal, a direct child of cinit, exactly fds 0, 1, 2
/// (stdin `/dev/null`, stdout and stderr one pipe, whose other end cinit
/// holds: the service's log), umask 0022, `oom_score_adj` 0, the resource limits of
/// PID 1 itself (nothing raised or lowered on the way), cwd = the service
/// directory, and environment exactly `on.env`.
#[test]
fn b12_child_inherits_nothing_from_pid1() {
    let fx = Fixture::new();
    fx.service("clean")
        .respawn()
        .on_link("/bin/sleep")
        .params(&["1004"])
        .env_raw("A=1\nB=two words\nC=\n");
    fx.service("init").needs("clean");
    let opts = LaunchOpts {
        wrapper: [
            "/bin/sh",
            "-c",
            "umask 077; exec 7</dev/null; exec \"$0\" \"$@\"",
        ]
        .iter()
        .map(OsString::from)
        .collect(),
        env: vec![(OsString::from("JUNK"), OsString::from("1"))],
        ..LaunchOpts::default()
    };
    let c = Cinit::launch_with(
        &fx,
        &[],
        &[libc::SIGQUIT, libc::SIGTTIN, libc::SIGXFSZ],
        &opts,
    );
    let p = c.wait_child_argv(&["/bin/sleep", "1004"], None);
    // PID 1 puts back the slot it staged the log pipe in after the child's
    // exec has let it run on; its `running` line comes after that, so its
    // descriptors are read once they are settled.
    c.wait_state("running", "clean");
    let me = c.proc();
    let own_blk = me.status_field("SigBlk").unwrap_or_default();
    c.check(
        !signals_in_mask(&own_blk).is_empty(),
        &format!("cinit blocks nothing ({own_blk:?}): the mask check would prove nothing"),
    );
    let sig_blk = p.status_field("SigBlk").unwrap_or_default();
    let sig_ign = p.status_field("SigIgn").unwrap_or_default();
    let fds = p.fds();
    let fd_nums: Vec<i32> = fds.iter().map(|(fd, _)| *fd).collect();
    let env = p.environ();
    let umask = p.status_field("Umask").unwrap_or_default();
    let read =
        |p: &Proc, f: &str| fs::read_to_string(format!("/proc/{}/{f}", p.pid)).unwrap_or_default();
    let oom = read(&p, "oom_score_adj");
    let (limits, own_limits) = (read(&p, "limits"), read(&me, "limits"));
    let tty = p.stat_fields().get(4).cloned().unwrap_or_default();
    c.check_all(vec![
        (
            signals_in_mask(&sig_blk).is_empty() && !sig_blk.is_empty(),
            format!(
                "SigBlk = {sig_blk:?} (signals {:?}), expected 0",
                signals_in_mask(&sig_blk)
            ),
        ),
        (
            signals_in_mask(&sig_ign).is_empty() && !sig_ign.is_empty(),
            format!(
                "SigIgn = {sig_ign:?} (signals {:?}), expected 0",
                signals_in_mask(&sig_ign)
            ),
        ),
        (
            p.session() == p.pid && p.pgrp() == p.pid,
            format!(
                "pid {} has session {} and pgrp {}: expected its own session (setsid)",
                p.pid,
                p.session(),
                p.pgrp()
            ),
        ),
        (
            tty == "0",
            format!("controlling terminal tty_nr = {tty:?}, expected 0"),
        ),
        (
            p.ppid() == c.host_pid(),
            format!("ppid {} is not cinit ({})", p.ppid(), c.host_pid()),
        ),
        (
            fd_nums == [0, 1, 2],
            format!("open fds {fds:?}, expected exactly 0, 1, 2"),
        ),
        (
            fds.first().map(|(_, t)| t.as_path()) == Some(Path::new("/dev/null")),
            format!("stdin {fds:?}, expected /dev/null"),
        ),
        (
            fds.get(1).map(|f| &f.1) == fds.get(2).map(|f| &f.1)
                && fds
                    .get(1)
                    .is_some_and(|(_, t)| t.to_string_lossy().starts_with("pipe:")),
            format!("stdout and stderr {fds:?}, expected one pipe (the service's log)"),
        ),
        (
            fds.get(1)
                .is_some_and(|(_, pipe)| me.fds().iter().filter(|(_, t)| t == pipe).count() == 2),
            format!(
                "cinit holds {:?}, expected both ends of the service's pipe {fds:?}",
                me.fds()
            ),
        ),
        (umask == "0022", format!("umask {umask:?}, expected 0022")),
        (
            oom.trim() == "0",
            format!("oom_score_adj {oom:?}, expected 0"),
        ),
        (
            !limits.is_empty() && limits == own_limits,
            format!("limits differ from PID 1's:\n{limits}\n--- PID 1 ---\n{own_limits}"),
        ),
        (
            p.cwd() == fx.svc_path("clean"),
            format!("cwd {}, expected the service dir", p.cwd().display()),
        ),
        (
            env == ["A=1", "B=two words", "C="],
            format!("environment {env:?}, expected exactly on.env"),
        ),
    ]);
}

/// Proves children get default signal dispositions even when cinit itself
/// inherited ignored signals from whoever exec'd it (std's `Command` keeps
/// SIG_IGN across exec): cinit is started with SIGQUIT, SIGTTIN, SIGTTOU and
/// SIGXFSZ ignored, and its service must still show SigIgn 0 and SigBlk 0.
#[test]
fn child_signals_clean_even_if_cinit_inherited_ignores() {
    let fx = Fixture::new();
    fx.service("clean2")
        .respawn()
        .on_link("/bin/sleep")
        .params(&["1007"]);
    fx.service("init").needs("clean2");
    let c = fx.boot_ignoring(
        &[],
        &[libc::SIGQUIT, libc::SIGTTIN, libc::SIGTTOU, libc::SIGXFSZ],
    );
    let p = c.wait_child_argv(&["/bin/sleep", "1007"], None);
    let sig_blk = p.status_field("SigBlk").unwrap_or_default();
    let sig_ign = p.status_field("SigIgn").unwrap_or_default();
    let own_ign = c.proc().status_field("SigIgn").unwrap_or_default();
    c.check_all(vec![
        (
            signals_in_mask(&sig_ign).is_empty() && !sig_ign.is_empty(),
            format!(
                "SigIgn = {sig_ign:?} (signals {:?}), expected 0; cinit's own SigIgn \
                 = {own_ign:?} (signals {:?})",
                signals_in_mask(&sig_ign),
                signals_in_mask(&own_ign)
            ),
        ),
        (
            signals_in_mask(&sig_blk).is_empty() && !sig_blk.is_empty(),
            format!("SigBlk = {sig_blk:?}, expected 0"),
        ),
    ]);
}
