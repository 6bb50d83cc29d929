//! The system lifecycle, with the real `cinit` as PID 1 in namespaces: the
//! signal map (reboot, halt, poweroff, rescue), the same through
//! `cinit-ctl`, the shutdown sequence (services in reverse need order, `off`
//! before SIGTERM, SIGKILL after `delay`, the global SIGTERM / SIGKILL with
//! `conf/sleep_before_kill`, `conf/last`, the final sync), that only one
//! sequence ever runs, that unprivileged signals change nothing, the rescue
//! shell, and the container exit status when reboot(2) is not permitted.
//!
//! Inside a PID namespace reboot(2) by the namespace's init ends it: a
//! reboot kills it by SIGHUP, halt and poweroff by SIGINT, and `unshare
//! --fork` passes that on (see [`death_signal`]).

#![cfg(test)]

mod common;

use common::*;
use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::thread::sleep;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Deadline for a whole shutdown, from the request to the end of PID 1.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// uid/gid of `nobody`, the unprivileged sender.
const NOBODY: u32 = 65534;

/// A shutdown goal: its word in the console log and the signal by which
/// reboot(2) ends the namespace's init.
#[derive(Debug, Clone, Copy)]
struct Goal {
    word: &'static str,
    death: i32,
}

const REBOOT: Goal = Goal {
    word: "reboot",
    death: libc::SIGHUP,
};
const HALT: Goal = Goal {
    word: "halt",
    death: libc::SIGINT,
};
const POWEROFF: Goal = Goal {
    word: "poweroff",
    death: libc::SIGINT,
};

/// `respawn` service running `/bin/sleep SECS`.
fn sleeper(fx: &Fixture, name: &str, secs: &str) {
    fx.service(name)
        .respawn()
        .on_link("/bin/sleep")
        .params(&[secs]);
}

/// `$CINIT_DIR/conf`.
fn conf_dir(fx: &Fixture) -> PathBuf {
    fx.etc().join("conf")
}

/// Writes `conf/NAME` with `content` and `mode`.
fn write_conf(fx: &Fixture, name: &str, content: &str, mode: u32) {
    let path = conf_dir(fx).join(name);
    fs::create_dir_all(conf_dir(fx)).unwrap();
    fs::write(&path, content).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
}

/// Writes `conf/NAME` as a `#!/bin/sh` script with `body`, and
/// `conf/NAME.env` with `env` (one `NAME=value` per entry).
fn conf_script(fx: &Fixture, name: &str, body: &str, env: &[&str]) {
    write_conf(fx, name, &format!("#!/bin/sh\n{body}\n"), 0o755);
    write_conf(
        fx,
        &format!("{name}.env"),
        &format!("{}\n", env.join("\n")),
        0o644,
    );
}

/// Index of the first console line at or after `from` containing `needle`.
fn find_line(log: &str, from: usize, needle: &str) -> Option<usize> {
    log.lines()
        .enumerate()
        .skip(from)
        .find(|(_, l)| l.contains(needle))
        .map(|(i, _)| i)
}

/// The console lines containing `needle`.
fn lines_with(log: &str, needle: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains(needle))
        .map(str::to_owned)
        .collect()
}

/// Asserts that console lines containing each of `needles` occur in this
/// order (each one after the line matched by the previous one); returns
/// their indices.
#[track_caller]
fn expect_in_order(c: &Cinit, needles: &[String]) -> Vec<usize> {
    let log = c.console();
    let mut from = 0;
    let mut found = Vec::new();
    for needle in needles {
        match find_line(&log, from, needle) {
            Some(i) => {
                found.push(i);
                from = i + 1;
            }
            None => c.fail(&format!(
                "no console line containing {needle:?} after line {from} \
                 (expected, in this order: {needles:#?})"
            )),
        }
    }
    found
}

/// The number of seconds in `<marker>S.MMMs` within `line` (e.g. marker
/// `" in "` for `stopped x in 1.002s`).
#[track_caller]
fn secs_after(c: &Cinit, line: &str, marker: &str) -> f64 {
    line.rsplit_once(marker)
        .and_then(|(_, rest)| rest.split('s').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| c.fail(&format!("no `{marker}N.NNNs` in {line:?}")))
}

/// The single console line containing `needle`.
#[track_caller]
fn only_line(c: &Cinit, needle: &str) -> String {
    let found = lines_with(&c.console(), needle);
    if found.len() != 1 {
        c.fail(&format!(
            "expected exactly one console line containing {needle:?}, found {found:#?}"
        ));
    }
    found[0].clone()
}

/// Waits for PID 1 to end and asserts that reboot(2) ended it the way it
/// does for `goal` (SIGHUP for a reboot, SIGINT for halt and poweroff), not
/// the container fallback.
#[track_caller]
fn expect_death(c: &mut Cinit, goal: Goal) -> ExitStatus {
    let status = c.wait_exit(SHUTDOWN_TIMEOUT);
    if death_signal(&status) != Some(goal.death) {
        c.fail(&format!(
            "{}: expected PID 1 to die by signal {}, unshare ended with {status:?}",
            goal.word, goal.death
        ));
    }
    c.check(
        !c.console().contains("is not permitted here"),
        "reboot(2) was refused: the container fallback ran",
    );
    status
}

/// Asserts the console shows one complete shutdown for `goal`, in order:
/// stopping services, services stopped, the global SIGTERM, every process
/// gone, the final sync, `now` — and no sequence of any other goal.
#[track_caller]
fn expect_shutdown_log(c: &Cinit, goal: Goal) {
    let g = goal.word;
    expect_in_order(
        c,
        &[
            format!("cinit: {g}: stopping services"),
            format!("cinit: {g}: services stopped in "),
            format!("cinit: {g}: sending SIGTERM to every process"),
            format!("cinit: {g}: every process gone in "),
            "cinit: final: synced; in a container, filesystems are left to the host".to_owned(),
            format!("cinit: {g}: now, after "),
        ],
    );
    expect_single_sequence(c, goal);
}

/// Asserts exactly one sequence (of `goal`) started and at most one ended.
#[track_caller]
fn expect_single_sequence(c: &Cinit, goal: Goal) {
    let log = c.console();
    let starts = lines_with(&log, ": stopping services");
    let rescue = lines_with(&log, "cinit: rescue: stopping every service");
    let nows = lines_with(&log, ": now, after ");
    c.check_all(vec![
        (
            starts.len() == 1
                && starts[0].contains(&format!("cinit: {}: stopping services", goal.word)),
            format!(
                "expected one `{}: stopping services` line, got {starts:#?}",
                goal.word
            ),
        ),
        (
            rescue.is_empty(),
            format!("a rescue sequence ran: {rescue:#?}"),
        ),
        (
            nows.len() <= 1,
            format!("more than one `now` line: {nows:#?}"),
        ),
        (
            nows.iter()
                .all(|l| l.contains(&format!("cinit: {}: now", goal.word))),
            format!("a `now` line of another goal: {nows:#?}"),
        ),
    ]);
}

/// A pidfd of cinit, so that many signals can be sent without any risk of
/// hitting a recycled pid once PID 1 has died and been reaped.
struct PidFd(OwnedFd);

impl PidFd {
    #[track_caller]
    fn open(c: &Cinit) -> PidFd {
        // SAFETY: pidfd_open takes plain integers.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, c.host_pid(), 0) };
        if fd < 0 {
            c.fail(&format!("pidfd_open: {}", std::io::Error::last_os_error()));
        }
        // SAFETY: a new fd that nothing else owns.
        PidFd(unsafe { OwnedFd::from_raw_fd(i32::try_from(fd).unwrap()) })
    }

    /// Sends `sig`; whether the kernel accepted it.
    fn send(&self, sig: libc::c_int) -> bool {
        // SAFETY: pidfd_send_signal with a null siginfo (as kill(2) would
        // fill it) and no flags; the fd is valid for `self`'s lifetime.
        unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.0.as_raw_fd(),
                sig,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            ) == 0
        }
    }
}

/// Sends `sig` to cinit from the host (uid 0, seen as uid 0 in the user
/// namespace, pid 0: outside cinit's PID namespace).
#[track_caller]
fn signal_cinit(c: &Cinit, sig: libc::c_int) {
    c.check(
        send_signal(c.host_pid(), sig),
        &format!("could not send signal {sig} to cinit"),
    );
}

/// The name cinit logs for `sig`.
fn sig_name(sig: libc::c_int) -> &'static str {
    match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGTERM => "SIGTERM",
        libc::SIGPWR => "SIGPWR",
        libc::SIGCONT => "SIGCONT",
        _ => "?",
    }
}

/// Asserts the exit code of a `cinit-ctl` run and that its output contains
/// `needle`.
#[track_caller]
fn expect_out(c: &Cinit, out: &RunOutput, code: i32, needle: &str, what: &str) {
    if out.code() != Some(code) || !out.all().contains(needle) {
        c.fail(&format!(
            "{what}: expected exit code {code} and output containing {needle:?}\n{}",
            out.dump()
        ));
    }
}

/// Shell snippet for a main process that ignores SIGTERM: the shell
/// ignores it, and so does every `sleep` it starts (an ignored signal stays
/// ignored across exec), so the SIGTERM to the process group kills nothing.
const IGNORE_TERM: &str = "trap '' TERM\nwhile :; do sleep 0.1; done";

// ---------------------------------------------------------------------------
// The signal map
// ---------------------------------------------------------------------------

/// Boots a service, sends `sig` from the host (as root), and asserts the
/// whole `goal` sequence ran (logged as received from root), the service
/// was stopped on the way, and PID 1 died by `goal.death`.
fn signal_runs_sequence(sig: libc::c_int, goal: Goal) {
    let fx = Fixture::new();
    sleeper(&fx, "r", "1001");
    fx.service("init").needs("r");
    let mut c = fx.boot();
    c.wait_state("running", "r");
    signal_cinit(&c, sig);
    expect_death(&mut c, goal);
    expect_shutdown_log(&c, goal);
    let g = goal.word;
    expect_in_order(
        &c,
        &[
            format!("cinit: received {} from pid 0 uid 0", sig_name(sig)),
            format!("cinit: {g}: stopping services"),
            "cinit: stopping r".to_owned(),
            "cinit: stopped r in ".to_owned(),
            format!("cinit: {g}: services stopped in "),
        ],
    );
}

/// Proves SIGHUP means reboot: the reboot sequence runs and reboot(2) ends
/// the namespace's init by SIGHUP.
#[test]
fn sighup_reboots() {
    signal_runs_sequence(libc::SIGHUP, REBOOT);
}

/// Proves SIGINT (ctrl-alt-del) means reboot too: the reboot sequence runs
/// and init dies by SIGHUP.
#[test]
fn sigint_reboots() {
    signal_runs_sequence(libc::SIGINT, REBOOT);
}

/// Proves SIGUSR1 means halt: the halt sequence runs and init dies by
/// SIGINT.
#[test]
fn sigusr1_halts() {
    signal_runs_sequence(libc::SIGUSR1, HALT);
}

/// Proves SIGTERM means poweroff: the poweroff sequence runs and init dies
/// by SIGINT.
#[test]
fn sigterm_powers_off() {
    signal_runs_sequence(libc::SIGTERM, POWEROFF);
}

/// Proves SIGPWR means poweroff: the poweroff sequence runs and init dies by
/// SIGINT.
#[test]
fn sigpwr_powers_off() {
    signal_runs_sequence(libc::SIGPWR, POWEROFF);
}

// ---------------------------------------------------------------------------
// cinit-ctl reboot / halt / poweroff
// ---------------------------------------------------------------------------

/// `cinit-ctl VERB` answers `VERB: shutting down` with exit 0, then the
/// sequence runs and PID 1 dies by `goal.death`.
fn ctl_runs_sequence(goal: Goal) {
    let fx = Fixture::new();
    sleeper(&fx, "r", "1001");
    fx.service("init").needs("r");
    let mut c = fx.boot_ctl();
    c.wait_state("running", "r");
    let out = c.ctl(&[goal.word]);
    expect_out(
        &c,
        &out,
        0,
        &format!("{}: shutting down", goal.word),
        &format!("cinit-ctl {}", goal.word),
    );
    expect_death(&mut c, goal);
    expect_shutdown_log(&c, goal);
    c.check(c.has_state("stopped", "r"), "r was not stopped");
}

/// Proves `cinit-ctl reboot` is answered `reboot: shutting down` (exit 0)
/// and reboots: the sequence runs and init dies by SIGHUP.
#[test]
fn ctl_reboot_reboots() {
    ctl_runs_sequence(REBOOT);
}

/// Proves `cinit-ctl halt` is answered `halt: shutting down` (exit 0) and
/// halts: the sequence runs and init dies by SIGINT.
#[test]
fn ctl_halt_halts() {
    ctl_runs_sequence(HALT);
}

/// Proves `cinit-ctl poweroff` is answered `poweroff: shutting down` (exit
/// 0) and powers off: the sequence runs and init dies by SIGINT.
#[test]
fn ctl_poweroff_powers_off() {
    ctl_runs_sequence(POWEROFF);
}

// ---------------------------------------------------------------------------
// The order and bounds of the service stop phase
// ---------------------------------------------------------------------------

/// Proves services stop in reverse need order, independent branches in
/// parallel, and that `off` runs to its end before the main process gets
/// SIGTERM. Tree: `top` → `mid` → `base` (→ = needs), `leaf` → `base`, and
/// an independent `side`; `init` needs `top`, `leaf` and `side`. Every `off`
/// appends `off-begin NAME`, sleeps 0.2 s and appends `off-end NAME` to one
/// mark file; every main process appends `term NAME` when SIGTERM reaches
/// it. Asserted: for every service `off-begin < off-end < term`; for every
/// need `X → Y`, `term X` comes before `off-begin Y` (and the console has
/// `stopped X` before `stopping Y`); `side`'s `off` begins before `mid`'s
/// (it does not wait for the chain).
#[test]
fn services_stop_in_reverse_need_order_with_off_before_sigterm() {
    let fx = Fixture::new();
    let order = fx.mark("order");
    let o = order.display();
    let names = ["base", "mid", "top", "leaf", "side"];
    for name in names {
        fx.service(name)
            .respawn()
            .script(&format!(
                "trap 'echo \"term {name}\" >> \"{o}\"; exit 0' TERM\n\
                 while :; do sleep 0.1; done"
            ))
            .off_script(&format!(
                "echo 'off-begin {name}' >> '{o}'\nsleep 0.2\necho 'off-end {name}' >> '{o}'"
            ));
    }
    let needs = [("top", "mid"), ("mid", "base"), ("leaf", "base")];
    for (needer, needed) in needs {
        fx.service(needer).needs(needed);
    }
    fx.service("init").needs("top").needs("leaf").needs("side");
    let mut c = fx.boot();
    for name in names {
        c.wait_state("running", name);
    }
    signal_cinit(&c, libc::SIGHUP);
    expect_death(&mut c, REBOOT);
    expect_shutdown_log(&c, REBOOT);

    let events: Vec<String> = fx.read_mark("order").lines().map(str::to_owned).collect();
    let pos = |ev: &str| events.iter().position(|e| e == ev);
    // `(earlier, later)` in the mark file: every `off` ends before SIGTERM
    // reaches its service; the main process of a needer ends before the
    // `off` of what it needs begins; `side` does not wait for the chain.
    let mut order = Vec::new();
    for name in names {
        order.push((format!("off-begin {name}"), format!("off-end {name}")));
        order.push((format!("off-end {name}"), format!("term {name}")));
    }
    for (needer, needed) in needs {
        order.push((format!("term {needer}"), format!("off-begin {needed}")));
    }
    order.push(("off-begin side".to_owned(), "off-begin mid".to_owned()));
    let mut checks: Vec<(bool, String)> = order
        .iter()
        .map(|(a, b)| {
            let (pa, pb) = (pos(a), pos(b));
            (
                in_order(pa, pb),
                format!("`{a}` ({pa:?}) not before `{b}` ({pb:?})"),
            )
        })
        .collect();
    // The console agrees: `stopped X` before `stopping Y` for each need.
    let log = c.console();
    for (needer, needed) in needs {
        let stopped = find_line(&log, 0, &format!("cinit: stopped {needer} in "));
        let stopping = find_line(&log, 0, &format!("cinit: stopping {needed} "));
        checks.push((
            in_order(stopped, stopping),
            format!("console: `stopped {needer}` ({stopped:?}) not before `stopping {needed}` ({stopping:?})"),
        ));
    }
    checks.push((
        events.len() == 3 * names.len(),
        format!("expected {} events, got {events:#?}", 3 * names.len()),
    ));
    if checks.iter().any(|(ok, _)| !ok) {
        checks.push((false, format!("events: {events:#?}")));
    }
    c.check_all(checks);
}

/// Proves a service whose main process ignores SIGTERM (a shell trapping
/// TERM, looping on `sleep 0.1`, which inherits the ignored TERM) is
/// SIGKILLed `delay` (1 s) after SIGTERM, so its stop takes about 1 s
/// (0.9–2 s), and the whole shutdown (default `sleep_before_kill` = 2)
/// finishes within 1 + 2 s + slack; nothing is left for the global phase.
#[test]
fn e1_a_service_ignoring_sigterm_is_killed_after_its_delay() {
    let fx = Fixture::new();
    fx.service("stubborn")
        .respawn()
        .delay(1)
        .script(IGNORE_TERM);
    fx.service("init").needs("stubborn");
    let mut c = fx.boot();
    c.wait_state("running", "stubborn");
    // Let the shell install its trap before the shutdown begins.
    c.wait_until("the stubborn shell to run its loop", TIMEOUT, |c| {
        c.children().iter().any(|p| !p.children().is_empty())
    });
    let start = Instant::now();
    signal_cinit(&c, libc::SIGHUP);
    expect_death(&mut c, REBOOT);
    let took = start.elapsed();
    expect_shutdown_log(&c, REBOOT);
    let stopped = only_line(&c, "cinit: stopped stubborn in ");
    let s = secs_after(&c, &stopped, " in ");
    c.check(
        (0.9..2.0).contains(&s),
        &format!("stubborn stopped after {s}s, expected about 1 s (its delay): {stopped}"),
    );
    c.check(
        took < Duration::from_millis(4500),
        &format!("the shutdown took {took:?} (bound: delay 1 s + sleep_before_kill 2 s + slack)"),
    );
    c.check(
        !c.console().contains("processes left after"),
        "something was left for the global SIGKILL",
    );
}

/// Proves a stuck `off` (`sleep 1000`) is bounded by `delay` (1 s): it is
/// killed, the main process then gets SIGTERM and the service stops after
/// about 1 s (0.9–2.5 s); the whole shutdown stays bounded. And an `off`
/// that leaves a background job behind (in its own session, so no process
/// group signal reaches it) does not hold the shutdown up: the job gets the
/// global SIGTERM (it records that in a mark file: the namespace's final
/// SIGKILL could not be trapped) and the shutdown completes.
#[test]
fn e3_a_stuck_off_is_bounded_by_the_delay() {
    let fx = Fixture::new();
    sleeper(&fx, "stuck", "1001");
    fx.service("stuck").delay(1).off_script("sleep 1000");
    sleeper(&fx, "bg", "1002");
    let mark = fx.mark("bg-job-got-sigterm");
    fx.service("bg").off_script(&format!(
        "setsid /bin/sh -c 'trap \"touch {}; exit 0\" TERM; \
         while :; do sleep 0.1; done' </dev/null >/dev/null 2>&1 &\nexit 0",
        mark.display()
    ));
    fx.service("init").needs("stuck").needs("bg");
    let mut c = fx.boot();
    c.wait_state("running", "stuck");
    c.wait_state("running", "bg");
    let start = Instant::now();
    signal_cinit(&c, libc::SIGHUP);
    expect_death(&mut c, REBOOT);
    let took = start.elapsed();
    expect_shutdown_log(&c, REBOOT);
    let stopped = only_line(&c, "cinit: stopped stuck in ");
    let s = secs_after(&c, &stopped, " in ");
    c.check(
        (0.9..2.5).contains(&s),
        &format!("stuck stopped after {s}s, expected about 1 s (its delay): {stopped}"),
    );
    c.check(
        took < Duration::from_millis(5000),
        &format!("the shutdown took {took:?} (bound: delay 1 s + sleep_before_kill 2 s + slack)"),
    );
    c.check(
        fx.has_mark("bg-job-got-sigterm"),
        "the background job left by bg's off never got the global SIGTERM",
    );
}

// ---------------------------------------------------------------------------
// The global phase
// ---------------------------------------------------------------------------

/// Proves the shutdown has no fixed sleeps: with `conf/sleep_before_kill` =
/// 10, several services that exit promptly on SIGTERM, and an escaped
/// daemon (own session, outside any service, dies on SIGTERM), the global
/// phase ends as soon as nothing is left: `every process gone` in < 1 s, no
/// SIGKILL round, and the whole shutdown takes < 3 s.
#[test]
fn the_shutdown_waits_only_while_processes_are_left() {
    let fx = Fixture::new();
    write_conf(&fx, "sleep_before_kill", "10\n", 0o644);
    for (i, name) in ["a", "b", "c", "d"].iter().enumerate() {
        sleeper(&fx, name, &format!("100{i}"));
    }
    fx.service("escape")
        .script("setsid /bin/sleep 1009 </dev/null >/dev/null 2>&1 &\nexit 0");
    fx.service("init")
        .needs("a")
        .needs("b")
        .needs("c")
        .needs("d")
        .needs("escape");
    let mut c = fx.boot();
    for name in ["a", "b", "c", "d"] {
        c.wait_state("running", name);
    }
    c.expect_outcome("escape", "done");
    let escaped = c.wait_child_argv(&["/bin/sleep", "1009"], None);
    c.check(
        escaped.session() != c.proc().session() && escaped.pgrp() == escaped.pid,
        "the escaped daemon is not in a session of its own",
    );
    let start = Instant::now();
    signal_cinit(&c, libc::SIGHUP);
    expect_death(&mut c, REBOOT);
    let took = start.elapsed();
    expect_shutdown_log(&c, REBOOT);
    let gone = only_line(&c, "cinit: reboot: every process gone in ");
    let s = secs_after(&c, &gone, " in ");
    c.check_all(vec![
        (s < 1.0, format!("the global phase took {s}s: {gone}")),
        (
            !c.console().contains("processes left after"),
            "a SIGKILL round ran".to_owned(),
        ),
        (
            took < Duration::from_secs(3),
            format!("the shutdown took {took:?} with sleep_before_kill 10"),
        ),
    ]);
}

/// B3 (a double-forking daemon with `setsid`; adversarial family B, see
/// `adv_runtime.rs`). Proves the daemon is adopted, never taken for the
/// service, and still dies in the shutdown's global SIGKILL: the once
/// service `escape` forks a subshell that forks a `setsid` shell ignoring
/// SIGTERM, and exits 0. The daemon is a child of PID 1 in its own session;
/// `escape` is `done` with no pid, and no pid shown by `list` is the
/// daemon's; `status` answers and a bystander keeps running. At a reboot the
/// daemon survives the global SIGTERM, is counted (`processes left after
/// ~1s; sending SIGKILL`) at `conf/sleep_before_kill` = 1, and then `every
/// process gone`; the shutdown completes.
#[test]
fn b3_double_forked_daemon_is_adopted_and_killed_at_shutdown() {
    let fx = Fixture::new();
    write_conf(&fx, "sleep_before_kill", "1\n", 0o644);
    let body = "while :; do sleep 0.1; done";
    fx.service("escape").script(&format!(
        "( setsid /bin/sh -c \"trap '' TERM; {body}\" </dev/null >/dev/null 2>&1 & )\nexit 0"
    ));
    sleeper(&fx, "healthy", "1999");
    fx.service("init").needs("escape").needs("healthy");
    let mut c = fx.boot_ctl();
    let bystander = c.wait_child_argv(&["/bin/sleep", "1999"], None);
    c.expect_outcome("escape", "done");
    let daemon = c.wait_for("the escaped daemon to loop", TIMEOUT, |c| {
        c.children().into_iter().find(|p| {
            p.cmdline().first().map(String::as_str) == Some("/bin/sh") && !p.children().is_empty()
        })
    });
    let daemon_ns = daemon.ns_pid().unwrap_or(-1);
    let list = c.ctl(&["list"]);
    let shown: Vec<i32> = list
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2)?.parse().ok())
        .collect();
    let (status, took) = c.ctl_timed(&["status", "escape", "healthy"]);
    c.check_all(vec![
        (
            daemon.ppid() == c.host_pid() && daemon.session() == daemon.pid,
            format!("not adopted into its own session: {}", daemon.describe()),
        ),
        (
            !shown.contains(&daemon_ns),
            format!(
                "`list` shows the daemon's pid {daemon_ns}:\n{}",
                list.stdout
            ),
        ),
        (
            status.code() == Some(0)
                && status
                    .stdout
                    .lines()
                    .any(|l| l.starts_with("escape: done, for"))
                && took < Duration::from_secs(2),
            format!("status ({took:?}):\n{}", status.dump()),
        ),
        (bystander.is_alive(), "the bystander died".to_owned()),
    ]);
    signal_cinit(&c, libc::SIGHUP);
    expect_death(&mut c, REBOOT);
    expect_shutdown_log(&c, REBOOT);
    let left = only_line(&c, "processes left after ");
    let s = secs_after(&c, &left, " after ");
    expect_in_order(
        &c,
        &[
            "cinit: reboot: sending SIGTERM to every process".to_owned(),
            "processes left after ".to_owned(),
            "cinit: reboot: every process gone in ".to_owned(),
        ],
    );
    c.check(
        (0.9..2.0).contains(&s) && left.contains("sending SIGKILL"),
        &format!("expected the SIGKILL round after about 1 s: {left}"),
    );
}

/// Proves nothing respawns during a shutdown: `a` (respawn) is needed by
/// `b`, whose `off` sleeps 1.5 s, so `a` still runs while `b` stops; its
/// process, killed from the host then, is not restarted (`stopped a …: not
/// restarted: the system is going down`, one `running a` line, no new
/// process), and the reboot completes.
#[test]
fn e4_a_service_dying_during_a_shutdown_is_not_respawned() {
    let fx = Fixture::new();
    sleeper(&fx, "a", "1001");
    sleeper(&fx, "b", "1002");
    fx.service("b").needs("a").off_script("sleep 1.5");
    fx.service("init").needs("b");
    let mut c = fx.boot();
    let a = c.wait_child_argv(&["/bin/sleep", "1001"], None);
    c.wait_state("running", "b");
    signal_cinit(&c, libc::SIGHUP);
    c.wait_state("stopping", "b");
    c.check(
        !c.has_state("stopping", "a"),
        "a is being stopped before b, which needs it",
    );
    c.check(send_signal(a.pid, libc::SIGKILL), "could not kill a");
    c.wait_until("a to be reported down", TIMEOUT, |c| {
        c.has_state("stopped", "a")
            || c.has_state("backoff", "a")
            || c.count_state("running", "a") > 1
    });
    let respawned: Vec<Proc> = c
        .children_with_argv(&["/bin/sleep", "1001"])
        .into_iter()
        .filter(|p| *p != a)
        .collect();
    expect_death(&mut c, REBOOT);
    expect_shutdown_log(&c, REBOOT);
    let stopped = c
        .find_state("stopped", "a")
        .map(|l| l.line)
        .unwrap_or_default();
    c.check_all(vec![
        (
            stopped.contains("not restarted: the system is going down"),
            format!("a's end is not `not restarted`: {stopped:?}"),
        ),
        (
            c.count_state("running", "a") == 1 && !c.has_state("backoff", "a"),
            "a was restarted".to_owned(),
        ),
        (
            respawned.is_empty(),
            format!("new a processes: {respawned:?}"),
        ),
    ]);
    expect_in_order(
        &c,
        &[
            "cinit: reboot: stopping services".to_owned(),
            "cinit: stopped a ".to_owned(),
            "cinit: stopped b in ".to_owned(),
            "cinit: reboot: services stopped in ".to_owned(),
        ],
    );
}

// ---------------------------------------------------------------------------
// Only one sequence
// ---------------------------------------------------------------------------

/// Proves a flood of SIGHUPs runs exactly one reboot: 500 SIGHUPs in a
/// tight loop right after boot, then 500 more once the sequence is running
/// (it lasts ≥ 1 s: an `off` sleeping 1 s). Exactly one `reboot: stopping
/// services` and one `reboot: now` line; every SIGHUP received after the
/// first is refused, in one line each (`SIGHUP from pid 0 uid 0: reboot
/// refused: a reboot is already in progress`), at least one is; init dies by
/// SIGHUP once.
#[test]
fn d1_a_thousand_sighups_run_one_reboot() {
    let fx = Fixture::new();
    sleeper(&fx, "slow", "1001");
    fx.service("slow").off_script("sleep 1");
    fx.service("init").needs("slow");
    let mut c = fx.boot();
    c.wait_state("running", "slow");
    let fd = PidFd::open(&c);
    for _ in 0..500 {
        fd.send(libc::SIGHUP);
    }
    c.wait_until("`reboot: stopping services`", TIMEOUT, |c| {
        c.console().contains("cinit: reboot: stopping services")
    });
    let mut sent = 0;
    for _ in 0..500 {
        sent += usize::from(fd.send(libc::SIGHUP));
    }
    c.check(
        sent == 500,
        &format!("only {sent} of 500 SIGHUPs were accepted while the off runs"),
    );
    expect_death(&mut c, REBOOT);
    expect_shutdown_log(&c, REBOOT);
    let log = c.console();
    let received = lines_with(&log, "cinit: received SIGHUP from pid 0 uid 0").len();
    let refused = lines_with(
        &log,
        "cinit: SIGHUP from pid 0 uid 0: reboot refused: a reboot is already in progress",
    )
    .len();
    c.check_all(vec![
        (received == 1, format!("{received} SIGHUPs acted on, not 1")),
        (refused >= 1, "no SIGHUP was refused".to_owned()),
        (
            lines_with(&log, "cinit: reboot: now, after ").len() == 1,
            "not exactly one `reboot: now` line".to_owned(),
        ),
    ]);
}

/// Proves the first request wins against other goals: after SIGHUP starts a
/// reboot (made to last with an `off` sleeping 1.5 s), SIGUSR1, SIGTERM,
/// SIGPWR, SIGUSR2 and SIGINT are each refused in one line (`SIGUSR1 from
/// pid 0 uid 0: halt refused: a reboot is already in progress`, …); no halt, poweroff or rescue
/// sequence line appears, the reboot completes and init dies by SIGHUP.
#[test]
fn d3_other_signals_during_a_reboot_are_refused() {
    let fx = Fixture::new();
    sleeper(&fx, "slow", "1001");
    fx.service("slow").off_script("sleep 1.5");
    fx.service("init").needs("slow");
    let mut c = fx.boot();
    c.wait_state("running", "slow");
    signal_cinit(&c, libc::SIGHUP);
    c.wait_until("`reboot: stopping services`", TIMEOUT, |c| {
        c.console().contains("cinit: reboot: stopping services")
    });
    let later = [
        (libc::SIGUSR1, "halt"),
        (libc::SIGTERM, "poweroff"),
        (libc::SIGPWR, "poweroff"),
        (libc::SIGUSR2, "rescue"),
        (libc::SIGINT, "reboot"),
    ];
    for (sig, _) in later {
        signal_cinit(&c, sig);
    }
    for (sig, word) in later {
        let refused = format!(
            "cinit: {} from pid 0 uid 0: {word} refused: a reboot is already in progress",
            sig_name(sig)
        );
        c.wait_until(&format!("`{refused}`"), TIMEOUT, |c| {
            c.console().contains(&refused)
        });
    }
    c.check(
        !c.console().contains("cinit: reboot: services stopped"),
        "the reboot had gone past the service phase before the other signals were handled",
    );
    expect_death(&mut c, REBOOT);
    expect_shutdown_log(&c, REBOOT);
    let log = c.console();
    for other in ["halt", "poweroff", "rescue"] {
        let found: Vec<String> = lines_with(&log, &format!("cinit: {other}:"));
        c.check(
            found.is_empty(),
            &format!("a {other} sequence ran: {found:#?}"),
        );
    }
}

/// Proves that during a shutdown (kept going by an `off` stuck for its
/// `delay` of 3 s) `cinit-ctl start other` and `cinit-ctl stop hold` are
/// refused (exit 1, `refused: the system is going down (reboot)`, also on the
/// console), a second
/// `cinit-ctl halt` is refused (exit 1, `halt refused: a reboot is already
/// in progress`, also on the console), `other` never runs, and the reboot
/// completes (init dies by SIGHUP).
#[test]
fn state_changes_are_refused_during_a_shutdown() {
    let fx = Fixture::new();
    sleeper(&fx, "hold", "1001");
    fx.service("hold").delay(3).off_script("sleep 1000");
    sleeper(&fx, "other", "1002");
    fx.service("init").needs("hold");
    let mut c = fx.boot_ctl();
    c.wait_state("running", "hold");
    let out = c.ctl(&["reboot"]);
    expect_out(&c, &out, 0, "reboot: shutting down", "cinit-ctl reboot");
    c.wait_state("stopping", "hold");

    let out = c.ctl(&["start", "other"]);
    expect_out(&c, &out, 1, "refused", "start during the shutdown");
    expect_out(
        &c,
        &out,
        1,
        "the system is going down (reboot)",
        "start during the shutdown",
    );
    let out = c.ctl(&["stop", "hold"]);
    expect_out(&c, &out, 1, "refused", "stop during the shutdown");
    let log = c.console();
    c.check(
        log.contains("cinit: start refused: the system is going down (reboot)")
            && log.contains("cinit: stop refused: the system is going down (reboot)"),
        "the refused start/stop are not on the console",
    );
    let out = c.ctl(&["halt"]);
    expect_out(
        &c,
        &out,
        1,
        "halt refused: a reboot is already in progress",
        "halt during the shutdown",
    );
    c.wait_until("the refusal on the console", TIMEOUT, |c| {
        c.console()
            .contains("cinit: halt refused: a reboot is already in progress")
    });
    c.check(
        !c.has_state("stopped", "hold"),
        "hold was already stopped: the requests were not made during the shutdown",
    );
    expect_death(&mut c, REBOOT);
    expect_shutdown_log(&c, REBOOT);
    c.check(
        !c.has_state("running", "other"),
        "`other` was started during the shutdown",
    );
}

// ---------------------------------------------------------------------------
// Unprivileged senders
// ---------------------------------------------------------------------------

/// Runs `kill -s SIG <cinit>` as uid/gid `nobody` from the host (in the
/// test's session, which is cinit's too).
fn kill_as_nobody(fx: &Fixture, c: &Cinit, sig: &str) -> RunOutput {
    let mut cmd = Command::new(util_bin("setpriv"));
    cmd.arg(format!("--reuid={NOBODY}"))
        .arg(format!("--regid={NOBODY}"))
        .arg("--clear-groups")
        .args(["/bin/sh", "-c", &format!("kill -s {sig} {}", c.host_pid())])
        .env_clear()
        .current_dir("/");
    run(cmd, fx.path(), CTL_TIMEOUT)
}

/// Proves unprivileged SIGCONT and SIGHUP change nothing. From the host,
/// uid 65534 sends SIGCONT to cinit — delivered, because the kernel lets
/// any process signal SIGCONT within its own session and the harness starts
/// cinit in the test's session — and cinit logs `ignoring SIGCONT from pid 0
/// uid 65534: not root` and does nothing else. SIGHUP from uid 65534 is
/// refused by the kernel (EPERM) before reaching cinit. Afterwards the
/// services keep their pids, no sequence or update started, and PID 1 is
/// alive and still answers.
#[test]
fn d4_unprivileged_sigcont_and_sighup_change_nothing() {
    if !runs_as_root(&format!("signals sent as uid {NOBODY}")) {
        return;
    }
    let fx = Fixture::new();
    sleeper(&fx, "r", "1001");
    sleeper(&fx, "w", "1002");
    fx.service("init").needs("r").needs("w");
    let mut c = fx.boot_ctl();
    let r = c.wait_child_argv(&["/bin/sleep", "1001"], None);
    let w = c.wait_child_argv(&["/bin/sleep", "1002"], None);
    // SAFETY: getsid(0) has no preconditions.
    let my_session = unsafe { libc::getsid(0) };
    c.check(
        c.proc().session() == my_session,
        "cinit is not in the test's session: an unprivileged SIGCONT could not reach it",
    );

    let out = kill_as_nobody(&fx, &c, "CONT");
    c.check(
        out.code() == Some(0),
        &format!("SIGCONT as nobody was not delivered:\n{}", out.dump()),
    );
    let ignored = format!("cinit: ignoring SIGCONT from pid 0 uid {NOBODY}: not root");
    c.wait_until(&format!("`{ignored}`"), TIMEOUT, |c| {
        c.console().contains(&ignored)
    });
    let out = kill_as_nobody(&fx, &c, "HUP");
    c.check(
        out.code() != Some(0),
        &format!(
            "the kernel let uid {NOBODY} send SIGHUP to cinit:\n{}",
            out.dump()
        ),
    );
    // A control round trip: anything cinit would do about the signals is
    // done (the signalfd is drained before the socket is served).
    let status = c.ctl(&["status"]);
    c.check(status.code() == Some(0), &status.dump());
    sleep(Duration::from_millis(200));
    c.assert_alive();
    let log = c.console();
    c.check_all(vec![
        (
            lines_with(&log, "cinit: ignoring SIGCONT").len() == 1,
            "not exactly one `ignoring SIGCONT` line".to_owned(),
        ),
        (
            !log.contains("cinit: received"),
            "a signal was acted on".to_owned(),
        ),
        (
            !log.contains("stopping") && !log.contains("update"),
            "a sequence or an update started".to_owned(),
        ),
        (
            c.children_with_argv(&["/bin/sleep", "1001"]) == vec![r]
                && c.children_with_argv(&["/bin/sleep", "1002"]) == vec![w]
                && r.is_alive()
                && w.is_alive(),
            "the services were restarted or stopped".to_owned(),
        ),
        (
            c.count_state("running", "r") == 1 && c.count_state("running", "w") == 1,
            "a service started twice".to_owned(),
        ),
    ]);
}

// ---------------------------------------------------------------------------
// A shutdown during boot
// ---------------------------------------------------------------------------

/// Proves a shutdown during boot cancels what has not started: `dep`
/// (respawn) needs `slow`, a once service that sleeps 2 s; SIGHUP while
/// `slow` is starting stops `slow` at once (it is not waited for), `dep`
/// never runs (no `running dep` line, no `sleep 1003` process was ever
/// seen), and init dies by SIGHUP well before `slow` would have ended.
#[test]
fn e5_a_shutdown_during_boot_starts_nothing_more() {
    let fx = Fixture::new();
    fx.service("slow")
        .script(&format!("{}\nsleep 2", sh_touch(&fx.mark("slow"))));
    sleeper(&fx, "dep", "1003");
    fx.service("dep").needs("slow");
    fx.service("init").needs("dep");
    let mut c = fx.boot();
    c.wait_state("starting", "slow");
    c.wait_until("slow to run", TIMEOUT, |_| fx.has_mark("slow"));
    let start = Instant::now();
    signal_cinit(&c, libc::SIGHUP);
    expect_death(&mut c, REBOOT);
    let took = start.elapsed();
    expect_shutdown_log(&c, REBOOT);
    let log = c.console();
    c.check_all(vec![
        (
            !c.has_state("running", "dep"),
            "dep was started during the shutdown".to_owned(),
        ),
        (
            !log.contains("1003"),
            "dep's process was mentioned".to_owned(),
        ),
        (
            !c.has_state("done", "slow"),
            "slow was waited for until it finished".to_owned(),
        ),
        (
            c.has_state("stopped", "slow"),
            "slow was not stopped".to_owned(),
        ),
        (
            took < Duration::from_millis(1800),
            format!("the shutdown took {took:?}: slow was waited for"),
        ),
    ]);
}

// ---------------------------------------------------------------------------
// Rescue
// ---------------------------------------------------------------------------

/// The directory holding `cinit-ctl` (for the rescue shell's `PATH`).
fn ctl_bin_dir() -> String {
    Path::new(ctl_bin()).parent().unwrap().display().to_string()
}

/// Proves rescue mode (SIGUSR2): every service is stopped and its process
/// gone, the rescue shell `conf/rescue` runs on the console (`rescue: starting
/// the rescue shell`, `rescue shell PATH (pid N) on the console`) with only
/// `conf/rescue.env` as its environment, it reaches the control socket
/// (`cinit-ctl status` from inside shows the services stopped), and a
/// `cinit-ctl reboot` from the rescue shell is accepted and reboots (the
/// reboot sequence runs, init dies by SIGHUP).
#[test]
fn rescue_runs_a_shell_that_can_reboot() {
    let fx = Fixture::new();
    sleeper(&fx, "r", "1001");
    sleeper(&fx, "w", "1002");
    fx.service("init").needs("r").needs("w");
    let m = |n: &str| fx.mark(n).display().to_string();
    conf_script(
        &fx,
        "rescue",
        &format!(
            "env > '{env}'\n\
             cinit-ctl status > '{status}' 2>&1\n\
             touch '{ready}'\n\
             {wait}\n\
             cinit-ctl reboot > '{reboot}' 2>&1\n\
             echo $? >> '{reboot}'\n\
             sleep 100",
            env = m("env"),
            status = m("status"),
            ready = m("ready"),
            wait = sh_wait_for(&fx.mark("go"), 500),
            reboot = m("reboot"),
        ),
        &[
            &format!("PATH={}:/usr/bin:/bin", ctl_bin_dir()),
            &format!("CINIT_CTL_DIR={}", fx.ctl_dir().display()),
            "RESCUE_MARK=yes",
        ],
    );
    let mut c = fx.boot_ctl();
    let r = c.wait_child_argv(&["/bin/sleep", "1001"], None);
    let w = c.wait_child_argv(&["/bin/sleep", "1002"], None);
    signal_cinit(&c, libc::SIGUSR2);
    c.wait_until("the rescue shell to report", TIMEOUT, |_| {
        fx.has_mark("ready")
    });
    let rescue = conf_dir(&fx).join("rescue");
    expect_in_order(
        &c,
        &[
            "cinit: received SIGUSR2 from pid 0 uid 0".to_owned(),
            "cinit: rescue: stopping every service and process".to_owned(),
            "cinit: stopped r in ".to_owned(),
            "cinit: rescue: services stopped in ".to_owned(),
            "cinit: rescue: sending SIGTERM to every process".to_owned(),
            "cinit: rescue: every process gone in ".to_owned(),
            "cinit: rescue: starting the rescue shell".to_owned(),
            format!("cinit: rescue shell {} (pid ", rescue.display()),
        ],
    );
    c.check(
        only_line(&c, "cinit: rescue shell ").ends_with(") on the console"),
        "the rescue shell line does not say `on the console`",
    );
    c.assert_alive();
    let env = fx.read_mark("env");
    let status = fx.read_mark("status");
    c.check_all(vec![
        (
            !r.is_alive() && !w.is_alive(),
            "a service process is still alive".to_owned(),
        ),
        (
            c.children_with_argv(&["/bin/sleep", "1001"]).is_empty()
                && c.children_with_argv(&["/bin/sleep", "1002"]).is_empty(),
            "a service was started again".to_owned(),
        ),
        (
            env.contains("RESCUE_MARK=yes") && !env.contains("CINIT_DIR="),
            format!("the rescue shell's environment is not conf/rescue.env:\n{env}"),
        ),
        (
            status.lines().any(|l| l.starts_with("r: stopped"))
                && status.lines().any(|l| l.starts_with("w: stopped")),
            format!("`cinit-ctl status` from the rescue shell:\n{status}"),
        ),
    ]);
    fs::write(fx.mark("go"), "").unwrap();
    expect_death(&mut c, REBOOT);
    expect_in_order(
        &c,
        &[
            "cinit: rescue shell ".to_owned(),
            "cinit: reboot: stopping services".to_owned(),
            "cinit: reboot: services stopped in ".to_owned(),
            "cinit: reboot: sending SIGTERM to every process".to_owned(),
            "cinit: final: synced".to_owned(),
            "cinit: reboot: now, after ".to_owned(),
        ],
    );
    let reboot = fx.read_mark("reboot");
    c.check(
        reboot.contains("reboot: shutting down") && !reboot.contains("refused"),
        &format!(
            "cinit-ctl reboot from the rescue shell did not print its answer \
             before the processes were signalled:\n{reboot}"
        ),
    );
    c.check(
        !c.console().contains("the shell exited; booting again"),
        "cinit booted again instead of rebooting",
    );
}

/// Services `r` (needed by `init`) and `lazy` (not in `init`'s tree), and a
/// `conf/rescue` that touches mark `ready`, waits for mark `go` and exits 0.
fn rescue_fixture(fx: &Fixture) {
    sleeper(fx, "r", "1001");
    sleeper(fx, "lazy", "1004");
    fx.service("init").needs("r");
    conf_script(
        fx,
        "rescue",
        &format!(
            "{}\n{}\nexit 0",
            sh_touch(&fx.mark("ready")),
            sh_wait_for(&fx.mark("go"), 500)
        ),
        &[PATH_ENV],
    );
}

/// Proves cinit boots again when the rescue shell exits: `cinit-ctl rescue`
/// (exit 0, `rescue: stopping everything, then starting a shell`) stops
/// everything and runs `conf/rescue`; when the shell exits its end is
/// reported, `rescue: the shell exited; booting again` is logged, the root
/// service's tree runs again (`running r` a second time, a new pid) and
/// cinit stays alive. The sequence is over: a later `cinit-ctl reboot` is
/// accepted and reboots (init dies by SIGHUP).
#[test]
fn rescue_boots_again_when_the_shell_exits() {
    let fx = Fixture::new();
    rescue_fixture(&fx);
    let mut c = fx.boot_ctl();
    let r = c.wait_child_argv(&["/bin/sleep", "1001"], None);
    let out = c.ctl(&["rescue"]);
    expect_out(
        &c,
        &out,
        0,
        "rescue: stopping everything",
        "cinit-ctl rescue",
    );
    c.wait_until("the rescue shell to run", TIMEOUT, |_| fx.has_mark("ready"));
    c.check(!r.is_alive(), "r's process survived the rescue sequence");
    c.check(c.has_state("stopped", "r"), "r was not stopped");
    c.check(
        c.children_with_argv(&["/bin/sleep", "1001"]).is_empty(),
        "r runs during the rescue shell",
    );

    fs::write(fx.mark("go"), "").unwrap();
    c.wait_until("`rescue: the shell exited; booting again`", TIMEOUT, |c| {
        c.console()
            .contains("cinit: rescue: the shell exited; booting again")
    });
    c.wait_until("a second `running r`", TIMEOUT, |c| {
        c.count_state("running", "r") == 2
    });
    let r2 = c.wait_child_argv(&["/bin/sleep", "1001"], Some(r));
    c.check(r2 != r, "r kept its pid");
    expect_in_order(
        &c,
        &[
            "cinit: rescue: starting the rescue shell".to_owned(),
            "cinit: rescue shell ".to_owned(),
            "cinit: rescue shell (pid ".to_owned(),
            "cinit: rescue: the shell exited; booting again".to_owned(),
            "cinit: running r ".to_owned(),
        ],
    );
    c.check(
        only_line(&c, "cinit: rescue shell (pid ").contains(": exit status 0"),
        "the rescue shell's exit status is not reported",
    );
    sleep(Duration::from_millis(200));
    c.assert_alive();
    let out = c.ctl(&["status", "r"]);
    expect_out(&c, &out, 0, "running", "status after the rescue");

    let out = c.ctl(&["reboot"]);
    expect_out(
        &c,
        &out,
        0,
        "reboot: shutting down",
        "reboot after the rescue",
    );
    expect_death(&mut c, REBOOT);
    expect_in_order(
        &c,
        &[
            "cinit: rescue: the shell exited; booting again".to_owned(),
            "cinit: reboot: stopping services".to_owned(),
            "cinit: stopped r in ".to_owned(),
            "cinit: reboot: every process gone in ".to_owned(),
            "cinit: reboot: now, after ".to_owned(),
        ],
    );
}

/// Proves the rescue shell may start and stop services, and that a reboot
/// replaces the rescue shell: while `conf/rescue` runs, `cinit-ctl start
/// lazy` succeeds (exit 0, `lazy: running`, its process runs), `cinit-ctl
/// stop lazy` stops it (exit 0, `stopped lazy`, the process ends) — unlike
/// during a shutdown — and a second start runs it again; a second
/// `cinit-ctl rescue` is refused (exit 1, `rescue refused: rescue mode is in
/// progress`); then `cinit-ctl reboot` is accepted (exit 0) although a
/// rescue is in progress, the reboot sequence stops `lazy` and kills the
/// shell, and init dies by SIGHUP without booting again.
#[test]
fn the_rescue_shell_may_start_and_stop_services() {
    let fx = Fixture::new();
    rescue_fixture(&fx);
    let mut c = fx.boot_ctl();
    c.wait_state("running", "r");
    signal_cinit(&c, libc::SIGUSR2);
    c.wait_until("the rescue shell to run", TIMEOUT, |_| fx.has_mark("ready"));

    let out = c.ctl(&["start", "lazy"]);
    expect_out(
        &c,
        &out,
        0,
        "lazy: running",
        "start during the rescue shell",
    );
    c.wait_state("running", "lazy");
    let lazy = c.wait_child_argv(&["/bin/sleep", "1004"], None);
    let out = c.ctl(&["stop", "lazy"]);
    expect_out(&c, &out, 0, "lazy", "stop during the rescue shell");
    c.wait_state("stopped", "lazy");
    c.wait_until("lazy's process to end", TIMEOUT, |_| !lazy.is_alive());
    let out = c.ctl(&["start", "lazy"]);
    expect_out(
        &c,
        &out,
        0,
        "lazy: running",
        "second start during the rescue shell",
    );
    let lazy2 = c.wait_child_argv(&["/bin/sleep", "1004"], Some(lazy));
    let lazy2_pid = lazy2
        .ns_pid()
        .unwrap_or_else(|| c.fail("no NSpid for lazy"));
    c.check(
        !c.console().contains("the shell exited"),
        "the rescue shell ended",
    );
    c.check(
        c.children_with_argv(&["/bin/sleep", "1001"]).is_empty(),
        "the root service's tree was started during the rescue shell",
    );
    let out = c.ctl(&["rescue"]);
    expect_out(
        &c,
        &out,
        1,
        "rescue refused: rescue mode is in progress",
        "a second rescue",
    );
    c.assert_alive();

    let out = c.ctl(&["reboot"]);
    expect_out(
        &c,
        &out,
        0,
        "reboot: shutting down",
        "reboot from rescue mode",
    );
    expect_death(&mut c, REBOOT);
    expect_in_order(
        &c,
        &[
            "cinit: rescue shell ".to_owned(),
            "cinit: reboot: stopping services".to_owned(),
            format!("cinit: stopping lazy (pid {lazy2_pid})"),
            "cinit: stopped lazy in ".to_owned(),
            "cinit: reboot: services stopped in ".to_owned(),
            "cinit: reboot: now, after ".to_owned(),
        ],
    );
    c.check(
        !c.console().contains("booting again"),
        "cinit booted again instead of rebooting",
    );
}

// ---------------------------------------------------------------------------
// Container mode
// ---------------------------------------------------------------------------

/// Asserts the container fallback for `goal`: the sequence ran, reboot(2)
/// was refused and cinit exited with `code` (an exit code, not a signal).
fn container_exit(sig: libc::c_int, goal: Goal, code: i32) {
    let fx = Fixture::new();
    sleeper(&fx, "r", "1001");
    fx.service("init").needs("r");
    let Some(mut c) = Cinit::launch_without_sys_boot(&fx, LaunchOpts::default()) else {
        return;
    };
    c.wait_state("running", "r");
    signal_cinit(&c, sig);
    let status = c.wait_exit(SHUTDOWN_TIMEOUT);
    if status.code() != Some(code) || status.signal().is_some() {
        c.fail(&format!(
            "{}: expected unshare to exit with code {code}, got {status:?}",
            goal.word
        ));
    }
    expect_shutdown_log(&c, goal);
    let g = goal.word;
    expect_in_order(
        &c,
        &[
            format!("cinit: {g}: now, after "),
            format!(
                "cinit: {g}: reboot(2) is not permitted here (a container); exiting with status {code}"
            ),
        ],
    );
}

/// Proves the container fallback for poweroff: without CAP_SYS_BOOT,
/// reboot(2) fails with EPERM and cinit (not in the initial PID namespace)
/// exits with status 0 after the full poweroff sequence; unshare exits 0.
#[test]
fn container_poweroff_exits_0() {
    container_exit(libc::SIGTERM, POWEROFF, 0);
}

/// Proves the container fallback for reboot: without CAP_SYS_BOOT, cinit
/// exits with status 129 (an exit code, not death by SIGHUP) after the full
/// reboot sequence.
#[test]
fn container_reboot_exits_129() {
    container_exit(libc::SIGHUP, REBOOT, 129);
}

// ---------------------------------------------------------------------------
// conf/last
// ---------------------------------------------------------------------------

/// Proves `conf/last` runs after every other process is gone and before the
/// final step, with only `conf/last.env` as environment, and its end is
/// reported: it records the command lines of every process it can see
/// (PID 1 is there; neither the service's `sleep 1001` nor an escaped
/// `sleep 1009`, nor anything else but itself) and exits 3; its environment
/// has `LAST_ENV=yes` from `last.env` and none of cinit's `CINIT_*`
/// variables; the console has, in order,
/// `every process gone`, `running conf/last (pid N)`, `conf/last (pid N)
/// ended in Xs: exit status 3`, `final: synced`, `reboot: now`.
#[test]
fn conf_last_runs_after_every_process_is_gone() {
    let fx = Fixture::new();
    sleeper(&fx, "r", "1001");
    fx.service("escape")
        .script("setsid /bin/sleep 1009 </dev/null >/dev/null 2>&1 &\nexit 0");
    fx.service("init").needs("r").needs("escape");
    let seen = fx.mark("seen");
    conf_script(
        &fx,
        "last",
        &format!(
            "for p in /proc/[0-9]*; do\n\
             \x20 [ \"$p\" = /proc/$$ ] && continue\n\
             \x20 tr '\\0' ' ' < $p/cmdline >> '{s}' 2>/dev/null && echo >> '{s}'\n\
             done\n\
             env > '{e}'\n\
             exit 3",
            s = seen.display(),
            e = fx.mark("env").display(),
        ),
        &[PATH_ENV, "LAST_ENV=yes"],
    );
    let mut c = fx.boot();
    c.wait_state("running", "r");
    c.expect_outcome("escape", "done");
    c.wait_child_argv(&["/bin/sleep", "1009"], None);
    signal_cinit(&c, libc::SIGHUP);
    expect_death(&mut c, REBOOT);
    expect_shutdown_log(&c, REBOOT);
    let found = expect_in_order(
        &c,
        &[
            "cinit: reboot: every process gone in ".to_owned(),
            "cinit: running conf/last (pid ".to_owned(),
            "cinit: conf/last (pid ".to_owned(),
            "cinit: final: synced".to_owned(),
            "cinit: reboot: now, after ".to_owned(),
        ],
    );
    let log: Vec<String> = c.console().lines().map(str::to_owned).collect();
    let ended = &log[found[2]];
    let pid_of = |line: &str| {
        line.split("(pid ")
            .nth(1)
            .and_then(|r| r.split(')').next())
            .map(str::to_owned)
    };
    let seen = fx.read_mark("seen");
    let env = fx.read_mark("env");
    let others: Vec<&str> = seen
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.contains(cinit_bin()))
        .collect();
    c.check_all(vec![
        (
            ended.contains(": exit status 3") && ended.contains(" ended in "),
            format!("conf/last's end is not reported as `ended in Xs: exit status 3`: {ended}"),
        ),
        (
            pid_of(ended) == pid_of(&log[found[1]]),
            format!("different pids: {} / {ended}", log[found[1]]),
        ),
        (
            env.contains("LAST_ENV=yes") && !env.contains("CINIT_"),
            format!("conf/last.env was not its whole environment:\n{env}"),
        ),
        (
            seen.contains(cinit_bin()),
            format!("conf/last did not see PID 1 (the scan failed):\n{seen}"),
        ),
        (
            !seen.contains("1001") && !seen.contains("1009"),
            format!("conf/last saw service processes:\n{seen}"),
        ),
        (
            others.is_empty(),
            format!("conf/last saw processes other than PID 1 and itself: {others:#?}"),
        ),
    ]);
}

/// Proves the emergency path ends a container cleanly too: without
/// CAP_SYS_BOOT, after SIGSEGV put cinit into the emergency path, SIGTERM
/// makes it sync and exit with status 0 (an exit code, not a signal), as
/// the orderly poweroff would.
#[test]
fn emergency_poweroff_in_a_container_exits_0() {
    let fx = Fixture::new();
    sleeper(&fx, "r", "1001");
    fx.service("init").needs("r");
    let Some(mut c) = Cinit::launch_without_sys_boot(&fx, LaunchOpts::default()) else {
        return;
    };
    c.wait_state("running", "r");
    signal_cinit(&c, libc::SIGSEGV);
    c.wait_until("the emergency shell", TIMEOUT, |c| {
        c.console()
            .contains("cinit: emergency: starting a shell on the console")
    });
    signal_cinit(&c, libc::SIGTERM);
    let status = c.wait_exit(SHUTDOWN_TIMEOUT);
    if status.code() != Some(0) || status.signal().is_some() {
        c.fail(&format!(
            "expected unshare to exit with code 0, got {status:?}"
        ));
    }
    c.check(
        c.console()
            .contains("cinit: emergency: syncing and going down at once"),
        "no emergency shutdown line",
    );
}
