//! Inputs that once could stop or stall PID 1, with the real `cinit` as PID 1
//! in namespaces: non-UTF-8 arguments from the kernel, children killed by
//! real-time signals, and FIFOs in a service directory.

#![cfg(test)]

mod common;

use common::*;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::process::Command;
use std::time::Duration;

/// Proves a command-line word that is not UTF-8 (the kernel passes raw
/// bytes) neither kills PID 1 nor hides a valid `cprofile:` word: the
/// profile's service runs and cinit is still alive afterwards.
#[test]
fn non_utf8_argument_is_ignored() {
    let fx = Fixture::new();
    fx.service("alt").script(&sh_touch(&fx.mark("alt")));
    fx.service("init").script(&sh_touch(&fx.mark("init")));
    let args = vec![
        OsString::from_vec(vec![0xff, b'x']),
        OsString::from("cprofile:alt"),
        OsString::from_vec(b"cprofile:\xfe".to_vec()),
    ];
    let mut c = fx.boot_with_os(&args);
    c.expect_outcome("alt", "done");
    c.check(fx.has_mark("alt"), "the profile's service did not run");
    c.check(
        !fx.has_mark("init"),
        "init ran although a profile was given",
    );
    c.assert_alive();
}

/// Proves an exit by a real-time signal (32–64) is not lost: a once service
/// killed by signal 34 is `failed` with that reason and releases the service
/// that wants it; a respawn service killed by signal 40 is restarted.
#[test]
fn death_by_realtime_signal_is_noticed() {
    let fx = Fixture::new();
    fx.service("rt").script("kill -34 $$\nsleep 5");
    fx.service("after")
        .wants("rt")
        .script(&sh_touch(&fx.mark("after")));
    fx.service("resp").respawn().script("kill -40 $$\nsleep 5");
    fx.service("init").needs("after").wants("resp");
    let c = fx.boot();
    c.expect_failed_with("rt", "killed by signal 34");
    c.expect_outcome("after", "done");
    c.wait_until("resp to be restarted twice", TIMEOUT, |c| {
        c.count_state("running", "resp") >= 3
    });
    c.wait_until("no zombie children", TIMEOUT, |c| c.zombie_children() == 0);
}

/// Proves a FIFO where a regular file belongs fails that one service with a
/// clear reason instead of blocking PID 1 in open(2): the other services run,
/// cinit keeps restarting a respawn service afterwards, and `cinit-ctl check`
/// reports the FIFO without hanging.
#[test]
fn fifo_in_service_dir_fails_only_that_service() {
    let fx = Fixture::new();
    fx.service("fifo").script("exit 0");
    let fifo = fx.svc_path("fifo").join("on.params");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    fx.service("ok").script(&sh_touch(&fx.mark("ok")));
    fx.service("loop").respawn().script("sleep 0.05; exit 1");
    fx.service("init").wants("fifo").wants("ok").wants("loop");
    let c = fx.boot();
    c.expect_failed_with("fifo", "on.params: not a regular file");
    c.expect_outcome("ok", "done");
    c.wait_until("loop to keep being restarted", TIMEOUT, |c| {
        c.count_state("running", "loop") >= 3
    });

    let mut cmd = Command::new(ctl_bin());
    cmd.arg("check").arg(fx.etc()).env_clear();
    let out = run(cmd, fx.path(), Duration::from_secs(10));
    assert_eq!(out.code(), Some(1), "{}", out.dump());
    assert!(
        out.all().contains("on.params: fifo: not a regular file"),
        "{}",
        out.dump()
    );
}
