//! Hot update and the emergency path, with the real `cinit` as PID 1 in
//! namespaces.
//!
//! Hot update: SIGCONT (from root) or `cinit-ctl update` makes cinit write a
//! snapshot to a memfd and execve its own binary; the new image adopts every
//! service, the control socket and its clients, the console and the pending
//! timers. These tests check that nothing a client or a service can see
//! changes (names, states, pids, restart counters, parentage), that a
//! service dying during the exec is still noticed, that a backoff timer keeps
//! its deadline and level, that 100 updates in a row leak no descriptors or
//! memory, that a failed exec leaves the running cinit untouched, and that a
//! stray `CINIT_SNAPSHOT_FD` at boot is ignored.
//!
//! Emergency path: a fatal fault signal sent by root makes cinit run
//! `conf/panic`, then shells on the console, reaping everything, until
//! SIGHUP/SIGINT (reboot) or SIGTERM/SIGPWR/SIGUSR1 end the namespace.

#![cfg(test)]

mod common;

use cinit::ctl::client::request;
use cinit::proto::{
    decode_header, decode_reply, encode_request, Reply, Request, ServiceInfo, HEADER_LEN, MAX_REPLY,
};
use common::*;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// The version both images report.
/// The version string cinit shows (with the build id, if any).
fn version() -> String {
    cinit::version()
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// `respawn` service running `/bin/sleep SECS` (no shell in between, so the
/// service's pid is the sleep's).
fn sleeper(fx: &Fixture, name: &str, secs: &str) {
    fx.service(name)
        .respawn()
        .on_link("/bin/sleep")
        .params(&[secs]);
}

/// A service's externally visible identity: state, pid, restart counter.
type Key = (String, Option<u32>, u32);

/// `Status` of every service through the library client (what `cinit-ctl`
/// uses), with a deadline.
#[track_caller]
fn status(c: &Cinit) -> Vec<ServiceInfo> {
    match request(
        &c.socket_path(),
        &Request::Status { names: vec![] },
        Some(Duration::from_secs(5)),
    ) {
        Ok(Reply::Services(list)) => list,
        Ok(other) => c.fail(&format!("status: unexpected reply {other:?}")),
        Err(e) => c.fail(&format!("status: {e}")),
    }
}

/// One service's status.
#[track_caller]
fn status_of(c: &Cinit, name: &str) -> ServiceInfo {
    status(c)
        .into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| c.fail(&format!("no `{name}` in the status reply")))
}

/// name → (state, pid, restarts).
fn keys(list: &[ServiceInfo]) -> BTreeMap<String, Key> {
    list.iter()
        .map(|s| (s.name.clone(), (s.state.clone(), s.pid, s.restarts)))
        .collect()
}

/// Console lines containing `needle`, with their indices.
fn lines_with(c: &Cinit, needle: &str) -> Vec<(usize, String)> {
    c.console()
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(needle))
        .map(|(i, l)| (i, l.to_owned()))
        .collect()
}

/// Number of console lines containing `needle`.
fn count_lines(c: &Cinit, needle: &str) -> usize {
    lines_with(c, needle).len()
}

/// The line the new image logs when it has taken over.
fn took_over_line() -> String {
    format!(
        "cinit {v} took over from cinit {v} as PID 1: ",
        v = version()
    )
}

/// Number of completed hot updates so far.
fn updates(c: &Cinit) -> usize {
    count_lines(c, &took_over_line())
}

/// Waits until the console shows `n` completed updates; returns the last
/// `took over` line (index, text).
#[track_caller]
fn wait_updates(c: &Cinit, n: usize) -> (usize, String) {
    c.wait_until(&format!("{n} `took over` lines"), TIMEOUT, |c| {
        updates(c) >= n
    });
    let all = lines_with(c, &took_over_line());
    if all.len() != n {
        c.fail(&format!(
            "expected {n} `took over` lines, got {}",
            all.len()
        ));
    }
    all.last().cloned().unwrap()
}

/// Sends SIGCONT from the host (root) and waits for the new image to take
/// over; returns the `took over` line.
#[track_caller]
fn update_by_signal(c: &Cinit) -> (usize, String) {
    let n = updates(c);
    c.check(
        send_signal(c.host_pid(), libc::SIGCONT),
        "could not send SIGCONT to cinit",
    );
    wait_updates(c, n + 1)
}

/// Runs `cinit-ctl update`, asserts exit 0 and the reply of the new image.
#[track_caller]
fn update_by_ctl(c: &Cinit) {
    let n = updates(c);
    let out = c.ctl(&["update"]);
    let want = format!("updated: cinit {v} is running (was {v})\n", v = version());
    if out.code() != Some(0) || out.stdout != want || !out.stderr.is_empty() {
        c.fail(&format!(
            "cinit-ctl update: expected exit 0 and {want:?}\n{}",
            out.dump()
        ));
    }
    // The reply comes from the new image, so its line is already there.
    let now = updates(c);
    c.check(
        now == n + 1,
        &format!("`cinit-ctl update` answered, but {now} `took over` lines (was {n})"),
    );
}

/// Asserts the console has no `update: lost` and no `update failed` line.
#[track_caller]
fn assert_nothing_lost(c: &Cinit) {
    let bad: Vec<String> = [
        "update: lost",
        "update failed",
        "emergency",
        "internal error",
    ]
    .iter()
    .flat_map(|n| lines_with(c, n))
    .map(|(_, l)| l)
    .collect();
    c.check(
        bad.is_empty(),
        &format!("unexpected console lines:\n{}", bad.join("\n")),
    );
}

/// cinit's live children by in-namespace pid.
fn children_by_ns_pid(c: &Cinit) -> BTreeMap<u32, Proc> {
    c.children()
        .into_iter()
        .filter(Proc::is_alive)
        .filter_map(|p| Some((u32::try_from(p.ns_pid()?).ok()?, p)))
        .collect()
}

/// Asserts that every service reported running or with a pid is a live
/// child of cinit (PPid = cinit, which is pid 1 in the namespace) running
/// `argv`.
#[track_caller]
fn assert_pids_are_children(c: &Cinit, list: &[ServiceInfo], argv: &[&str]) {
    let kids = children_by_ns_pid(c);
    let mut problems = Vec::new();
    for s in list
        .iter()
        .filter(|s| s.state == "running" || s.pid.is_some())
    {
        let Some(pid) = s.pid else {
            problems.push(format!("{} is running without a pid", s.name));
            continue;
        };
        match kids.get(&pid) {
            None => problems.push(format!("{} pid {pid} is not a live child of cinit", s.name)),
            Some(p) => {
                if p.ppid() != c.host_pid() || p.cmdline() != argv {
                    problems.push(format!(
                        "{} pid {pid}: ppid {} (cinit is {}), {}",
                        s.name,
                        p.ppid(),
                        c.host_pid(),
                        p.describe()
                    ));
                }
            }
        }
    }
    c.check(
        problems.is_empty(),
        &format!("service processes:\n{}", problems.join("\n")),
    );
}

/// Boots cinit as PID 1 with the control socket and `opts` (its `ctl_dir`
/// is set here).
fn boot_ctl_opts(fx: &Fixture, opts: LaunchOpts) -> Cinit {
    let c = Cinit::launch_with(
        fx,
        &[],
        &[],
        &LaunchOpts {
            ctl_dir: Some(fx.ctl_dir()),
            ..opts
        },
    );
    c.wait_listening();
    c
}

/// cinit's `VmRSS` in kB.
fn rss_kb(c: &Cinit) -> u64 {
    c.proc()
        .status_field("VmRSS")
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Whether cinit's open descriptors become exactly `want` within 2 s (a
/// client that just got its reply may still be connected for a moment).
fn fds_become(c: &Cinit, want: &[(i32, PathBuf)]) -> bool {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        if c.proc().fds() == want {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        sleep(POLL);
    }
}

/// cinit's open descriptors once they stop changing (a client that just got
/// its reply may still be connected for a moment).
fn settled_fds(c: &Cinit) -> Vec<(i32, PathBuf)> {
    let mut last = c.proc().fds();
    for _ in 0..100 {
        sleep(Duration::from_millis(30));
        let now = c.proc().fds();
        if now == last {
            return now;
        }
        last = now;
    }
    last
}

/// The `[secs.millis]` stamp of a console line, in milliseconds.
fn stamp_ms(line: &str) -> Option<u64> {
    let (_, stamped) = line.split_once('[')?;
    let (stamp, _) = stamped.split_once(']')?;
    let (s, ms) = stamp.trim().split_once('.')?;
    Some(s.parse::<u64>().ok()? * 1000 + ms.parse::<u64>().ok()?)
}

// ---------------------------------------------------------------------------
// A minimal JSON reader for `cinit-ctl --json status`
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

struct JsonReader<'a> {
    s: &'a [u8],
    i: usize,
}

impl JsonReader<'_> {
    fn parse(text: &str) -> Result<Json, String> {
        let mut r = JsonReader {
            s: text.as_bytes(),
            i: 0,
        };
        let v = r.value()?;
        r.ws();
        if r.i != r.s.len() {
            return Err(format!("trailing bytes at {}", r.i));
        }
        Ok(v)
    }

    fn ws(&mut self) {
        while self.s.get(self.i).is_some_and(u8::is_ascii_whitespace) {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8) -> Result<(), String> {
        self.ws();
        if self.s.get(self.i) == Some(&b) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected {:?} at {}", b as char, self.i))
        }
    }

    fn lit(&mut self, word: &str, v: Json) -> Result<Json, String> {
        if self.s[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            Ok(v)
        } else {
            Err(format!("bad literal at {}", self.i))
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        self.ws();
        match self.s.get(self.i) {
            Some(b'n') => self.lit("null", Json::Null),
            Some(b't') => self.lit("true", Json::Bool(true)),
            Some(b'f') => self.lit("false", Json::Bool(false)),
            Some(b'"') => Ok(Json::Str(self.string()?)),
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(Json::Arr(items));
                }
                loop {
                    items.push(self.value()?);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Json::Arr(items));
                        }
                        _ => return Err(format!("bad array at {}", self.i)),
                    }
                }
            }
            Some(b'{') => {
                self.i += 1;
                let mut fields = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(Json::Obj(fields));
                }
                loop {
                    self.ws();
                    let k = self.string()?;
                    self.eat(b':')?;
                    fields.push((k, self.value()?));
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Json::Obj(fields));
                        }
                        _ => return Err(format!("bad object at {}", self.i)),
                    }
                }
            }
            Some(_) => {
                let start = self.i;
                while self
                    .s
                    .get(self.i)
                    .is_some_and(|b| b.is_ascii_digit() || b"+-.eE".contains(b))
                {
                    self.i += 1;
                }
                std::str::from_utf8(&self.s[start..self.i])
                    .ok()
                    .and_then(|t| t.parse().ok())
                    .map(Json::Num)
                    .ok_or_else(|| format!("bad number at {start}"))
            }
            None => Err("unexpected end".to_owned()),
        }
    }

    fn string(&mut self) -> Result<String, String> {
        self.eat(b'"')?;
        let mut out = Vec::new();
        loop {
            let b = *self.s.get(self.i).ok_or("unterminated string")?;
            self.i += 1;
            match b {
                b'"' => return String::from_utf8(out).map_err(|e| e.to_string()),
                b'\\' => {
                    let e = *self.s.get(self.i).ok_or("bad escape")?;
                    self.i += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let hex = std::str::from_utf8(&self.s[self.i..self.i + 4])
                                .map_err(|e| e.to_string())?;
                            let ch = u32::from_str_radix(hex, 16)
                                .ok()
                                .and_then(char::from_u32)
                                .ok_or("bad \\u escape")?;
                            self.i += 4;
                            out.extend(ch.to_string().bytes());
                        }
                        other => out.push(other),
                    }
                }
                other => out.push(other),
            }
        }
    }
}

/// `cinit-ctl --json status`, as name → (state, pid, restarts); asserts
/// exit 0 and well-formed output.
#[track_caller]
fn ctl_json_status(c: &Cinit) -> BTreeMap<String, Key> {
    let out = c.ctl(&["--json", "status"]);
    if out.code() != Some(0) {
        c.fail(&format!("cinit-ctl --json status failed\n{}", out.dump()));
    }
    let json = JsonReader::parse(out.stdout.trim())
        .unwrap_or_else(|e| c.fail(&format!("bad JSON ({e}):\n{}", out.stdout)));
    let Json::Arr(items) = json else {
        c.fail(&format!("JSON status is not an array:\n{}", out.stdout));
    };
    let mut map = BTreeMap::new();
    for item in &items {
        let parsed = (|| {
            let Some(Json::Str(name)) = item.get("name") else {
                return None;
            };
            let Some(Json::Str(state)) = item.get("state") else {
                return None;
            };
            let pid = match item.get("pid")? {
                Json::Null => None,
                Json::Num(n) => Some(*n as u32),
                _ => return None,
            };
            let Some(Json::Num(restarts)) = item.get("restarts") else {
                return None;
            };
            Some((name.clone(), (state.clone(), pid, *restarts as u32)))
        })();
        let (name, key) = parsed.unwrap_or_else(|| c.fail(&format!("bad JSON service {item:?}")));
        map.insert(name, key);
    }
    map
}

/// Lines that differ between two status maps, for failure messages.
fn diff(before: &BTreeMap<String, Key>, after: &BTreeMap<String, Key>) -> String {
    let mut out = Vec::new();
    for (name, b) in before {
        match after.get(name) {
            Some(a) if a == b => {}
            Some(a) => out.push(format!("  {name}: {b:?} -> {a:?}")),
            None => out.push(format!("  {name}: {b:?} -> (gone)")),
        }
    }
    for (name, a) in after {
        if !before.contains_key(name) {
            out.push(format!("  {name}: (new) {a:?}"));
        }
    }
    out.join("\n")
}

// ---------------------------------------------------------------------------
// 1. Everything is kept
// ---------------------------------------------------------------------------

/// Proves a hot update keeps every service exactly as it was: with 50
/// running respawn services (`sleep 1000`), once services that ended `done`
/// and `failed`, a once service whose process still runs (`starting`), and
/// a crash-looping service
/// waiting in `backoff`, SIGCONT makes cinit log `update: re-executing
/// <cinit> with 55 services` and the new image `took over … 55 services
/// kept` (no `lost` line); `cinit-ctl --json status` before and after shows
/// the same names, states, pids and restart counters; cinit keeps its pid
/// (1 in the namespace); every service pid is still a live child of cinit
/// running `sleep 1000` (or `sleep 1001`); and no service was started again
/// (the number of `running` lines of the others does not change, even 300 ms
/// later).
#[test]
fn f1_hot_update_keeps_every_service() {
    let fx = Fixture::new();
    let init = fx.service("init");
    let names: Vec<String> = (0..50).map(|i| format!("s{i:02}")).collect();
    for n in &names {
        sleeper(&fx, n, "1000");
        init.needs(n);
    }
    fx.service("ok").script("exit 0");
    fx.service("bad").script("exit 3");
    fx.service("long").on_link("/bin/sleep").params(&["1001"]);
    fx.service("crashy").respawn().script("exit 1");
    for n in ["ok", "bad", "long", "crashy"] {
        init.wants(n);
    }
    let mut c = fx.boot_ctl();
    c.wait_until("50 running sleepers", TIMEOUT, |c| {
        names.iter().all(|n| c.has_state("running", n))
    });
    c.expect_outcome("ok", "done");
    c.expect_outcome("bad", "failed");
    // A once service is `starting` until its process exits.
    c.wait_state("starting", "long");
    // The 6th quick death in a row waits 1.6 s: a wide window to update in.
    c.wait_until("`crashy` in a 1.6 s backoff", TIMEOUT, |c| {
        c.lines_of("crashy")
            .iter()
            .any(|s| s.state == "backoff" && s.line.contains("restart in 1.600s"))
    });
    let total = status(&c).len();
    let running = |c: &Cinit| {
        c.states()
            .iter()
            .filter(|s| s.state == "running" && s.name != "crashy")
            .count()
    };
    let running_before = running(&c);
    let before = ctl_json_status(&c);
    // The path cinit re-executes (not /proc/PID/exe, which reads "… (deleted)"
    // if a concurrent build replaced the binary meanwhile).
    let exe = fs::canonicalize(cinit_bin()).unwrap();
    c.check(
        before.get("crashy").is_some_and(|k| k.0 == "backoff"),
        &format!("`crashy` is not in backoff: {:?}", before.get("crashy")),
    );

    update_by_signal(&c);
    let after = ctl_json_status(&c);

    let re_exec = format!(
        "cinit: update: re-executing {} with {total} services",
        exe.display()
    );
    c.check_all(vec![
        (
            before == after,
            format!(
                "status changed across the update:\n{}",
                diff(&before, &after)
            ),
        ),
        (
            count_lines(&c, &re_exec) == 1,
            format!("no `{re_exec}` line"),
        ),
        (
            count_lines(&c, &format!("{}{total} services kept", took_over_line())) == 1,
            format!("no `took over … {total} services kept` line"),
        ),
        (
            c.proc().ns_pid() == Some(1),
            "cinit is no longer pid 1 in its namespace".to_owned(),
        ),
        (
            c.proc().exe() == exe,
            format!(
                "cinit now runs {}, not {}",
                c.proc().exe().display(),
                exe.display()
            ),
        ),
    ]);
    assert_nothing_lost(&c);
    let list = status(&c);
    let mut states: BTreeMap<&str, usize> = BTreeMap::new();
    for s in &list {
        *states.entry(s.state.as_str()).or_default() += 1;
    }
    // `init` waits for `long`, a once service still `starting`.
    let want: BTreeMap<&str, usize> = [
        ("running", 50),
        ("starting", 1),
        ("done", 1),
        ("failed", 1),
        ("backoff", 1),
        ("waiting", 1),
    ]
    .into();
    c.check(
        states == want,
        &format!("states after the update: {states:?}, expected {want:?}"),
    );
    let sleepers: Vec<ServiceInfo> = list
        .iter()
        .filter(|s| s.name.starts_with('s'))
        .cloned()
        .collect();
    assert_pids_are_children(&c, &sleepers, &["/bin/sleep", "1000"]);
    assert_pids_are_children(&c, &[status_of(&c, "long")], &["/bin/sleep", "1001"]);
    sleep(Duration::from_millis(300));
    let running_after = running(&c);
    c.check(
        running_after == running_before,
        &format!("`running` lines went from {running_before} to {running_after}: a service was started again"),
    );
    c.check(
        c.children_with_argv(&["/bin/sleep", "1000"]).len() == 50,
        "not exactly 50 sleepers among cinit's children",
    );
    c.check(c.zombie_children() == 0, "zombie children after the update");
    c.assert_alive();
}

// ---------------------------------------------------------------------------
// 2. No leaks
// ---------------------------------------------------------------------------

/// Proves repeated updates leak nothing: after 5 warm-up updates, 100 more
/// `cinit-ctl update` runs each get the new image's `updated:` reply, and
/// afterwards cinit has exactly the same descriptors (number and targets:
/// console, control socket, signalfd; the snapshot memfd is gone), its
/// `VmRSS` grew by at most 512 kB, it is the same process (host pid, pid 1
/// in the namespace), and the services kept their pids and counters. No
/// `lost` line and no `closed N descriptors` line was logged. Then 20
/// SIGCONTs sent back to back, during re-execs: between 1 and 20 more
/// updates, and the services and descriptors are still the same.
#[test]
fn d2_hundred_updates_leak_nothing() {
    let fx = Fixture::new();
    let init = fx.service("init");
    for i in 0..5 {
        let n = format!("s{i}");
        sleeper(&fx, &n, "1000");
        init.needs(&n);
    }
    fx.service("ok").script("exit 0");
    init.needs("ok");
    let mut c = fx.boot_ctl();
    c.wait_until("5 running sleepers", TIMEOUT, |c| {
        (0..5).all(|i| c.has_state("running", &format!("s{i}")))
    });
    c.expect_outcome("ok", "done");
    let host_pid = c.host_pid();
    let before = keys(&status(&c));
    for _ in 0..5 {
        update_by_ctl(&c);
    }
    let fds0 = settled_fds(&c);
    let rss0 = rss_kb(&c);
    let mut rss_max = rss0;
    let start = Instant::now();
    for _ in 0..100 {
        update_by_ctl(&c);
        rss_max = rss_max.max(rss_kb(&c));
    }
    let took = start.elapsed();
    let fds_kept = fds_become(&c, &fds0);
    let fds1 = c.proc().fds();
    let rss1 = rss_kb(&c);
    let after = keys(&status(&c));
    c.check_all(vec![
        (
            fds_kept,
            format!("descriptors changed over 100 updates:\nbefore {fds0:#?}\nafter {fds1:#?}"),
        ),
        (
            rss0 > 0 && rss1 <= rss0 + 512,
            format!("VmRSS grew from {rss0} kB to {rss1} kB (max {rss_max} kB) over 100 updates"),
        ),
        (
            c.host_pid() == host_pid && c.proc().ns_pid() == Some(1),
            "cinit is not the same process".to_owned(),
        ),
        (
            before == after,
            format!("services changed:\n{}", diff(&before, &after)),
        ),
        (
            updates(&c) == 105,
            format!("{} `took over` lines, expected 105", updates(&c)),
        ),
        (
            count_lines(&c, "nobody owns") == 0,
            "an update closed stray descriptors".to_owned(),
        ),
    ]);
    assert_nothing_lost(&c);
    eprintln!(
        "100 updates took {took:?}; VmRSS {rss0} kB -> {rss1} kB (max {rss_max}); fds {fds1:?}"
    );

    // SIGCONT during a re-exec: 20 sent back to back, most of them while an
    // exec is under way. Each is either served or merged with one pending
    // (signals of one kind coalesce), none is lost for good: at least one
    // more update happens, at most 20, and the state and descriptors come
    // through unchanged.
    for _ in 0..20 {
        c.check(
            send_signal(c.host_pid(), libc::SIGCONT),
            "could not send SIGCONT to cinit",
        );
    }
    let mut last = updates(&c);
    let settle = Instant::now();
    loop {
        sleep(Duration::from_millis(400));
        let now = updates(&c);
        if now == last && now > 105 {
            break;
        }
        last = now;
        c.check(
            settle.elapsed() < TIMEOUT,
            "updates did not settle after the burst of SIGCONTs",
        );
    }
    c.check_all(vec![
        (
            (106..=125).contains(&last),
            format!("{last} `took over` lines after a burst of 20 SIGCONTs, expected 106–125"),
        ),
        (
            fds_become(&c, &fds0),
            format!("descriptors changed over the burst: {:#?}", c.proc().fds()),
        ),
        (
            keys(&status(&c)) == before,
            "services changed over the burst".to_owned(),
        ),
    ]);
    assert_nothing_lost(&c);
    c.assert_alive();
}

// ---------------------------------------------------------------------------
// 3. Clients
// ---------------------------------------------------------------------------

/// Sets the flag when dropped.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Reads one reply frame from a raw connection.
fn read_reply(s: &mut UnixStream) -> Result<Reply, String> {
    let mut head = [0u8; HEADER_LEN];
    s.read_exact(&mut head).map_err(|e| e.to_string())?;
    let h = decode_header(&head, MAX_REPLY).map_err(|e| e.to_string())?;
    let mut frame = head.to_vec();
    frame.resize(h.frame_len, 0);
    s.read_exact(&mut frame[HEADER_LEN..])
        .map_err(|e| e.to_string())?;
    decode_reply(&frame).map_err(|e| e.to_string())
}

/// Proves `cinit-ctl update` is answered by the new image (exit 0,
/// `updated: cinit 0.1.0 is running (was 0.1.0)`) and that clients are
/// never turned away during updates: while 20 updates by SIGCONT run, one
/// thread loops over fresh library connections (`Status`) and another over
/// `cinit-ctl status` runs; every request succeeds, none takes 3 s or more;
/// a connection opened before the updates stays open and gets its replies
/// (`Status`, then `Version`) in every round, whether the two requests were
/// sent just before the SIGCONT, after the new image took over, or split
/// with half a frame sent before.
#[test]
fn f5_ctl_update_replies_and_clients_are_never_refused() {
    let fx = Fixture::new();
    let init = fx.service("init");
    for i in 0..3 {
        let n = format!("s{i}");
        sleeper(&fx, &n, "1000");
        init.needs(&n);
    }
    let mut c = fx.boot_ctl();
    c.wait_until("3 running sleepers", TIMEOUT, |c| {
        (0..3).all(|i| c.has_state("running", &format!("s{i}")))
    });
    update_by_ctl(&c);

    let mut kept = c.connect();
    kept.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let socket = c.socket_path();
    let done = AtomicBool::new(false);
    let lib_client = || {
        let (mut ok, mut errors, mut slowest) = (0u32, Vec::new(), Duration::ZERO);
        while !done.load(Ordering::Relaxed) {
            let t = Instant::now();
            match request(
                &socket,
                &Request::Status { names: vec![] },
                Some(Duration::from_secs(5)),
            ) {
                Ok(Reply::Services(list)) if list.len() == 4 => ok += 1,
                other => errors.push(format!("{other:?}")),
            }
            slowest = slowest.max(t.elapsed());
        }
        (ok, errors, slowest)
    };
    let ctl_client = || {
        let (mut ok, mut errors, mut slowest) = (0u32, Vec::new(), Duration::ZERO);
        while !done.load(Ordering::Relaxed) {
            let t = Instant::now();
            let out = Command::new(ctl_bin())
                .arg("status")
                .env_clear()
                .env("CINIT_CTL_DIR", c.ctl_dir_via_proc())
                .output()
                .expect("run cinit-ctl");
            let stdout = String::from_utf8_lossy(&out.stdout);
            if out.status.success() && stdout.lines().count() == 4 {
                ok += 1;
            } else {
                errors.push(format!(
                    "{}: {stdout}{}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            slowest = slowest.max(t.elapsed());
        }
        (ok, errors, slowest)
    };
    let mut kept_errors = Vec::new();
    let (lib, ctl) = std::thread::scope(|s| {
        let lib = s.spawn(lib_client);
        let ctl = s.spawn(ctl_client);
        // Stops the client threads even if this thread panics.
        let _stop = StopOnDrop(&done);
        let reqs = [Request::Status { names: vec![] }, Request::Version];
        for round in 0..20 {
            // The two requests as bytes, split at `cut`: the part before it
            // is sent just before the signal (so it may be unanswered, or
            // only half read, when the update begins), the rest after the
            // new image took over. Rounds alternate: all after, all before,
            // half a frame before.
            let bytes: Vec<u8> = reqs.iter().flat_map(encode_request).collect();
            let cut = match round % 3 {
                0 => 0,
                1 => bytes.len(),
                _ => HEADER_LEN + 1,
            };
            let mut send = |part: &[u8]| {
                if let Err(e) = kept.write_all(part) {
                    kept_errors.push(format!("round {round}: write: {e}"));
                }
            };
            send(&bytes[..cut]);
            update_by_signal(&c);
            send(&bytes[cut..]);
            for req in &reqs {
                match (req, read_reply(&mut kept)) {
                    (Request::Status { .. }, Ok(Reply::Services(l))) if l.len() == 4 => {}
                    (Request::Version, Ok(Reply::Version { server, .. }))
                        if server == version() => {}
                    (_, other) => kept_errors.push(format!("round {round}: {req:?} -> {other:?}")),
                }
            }
        }
        done.store(true, Ordering::Relaxed);
        (lib.join().unwrap(), ctl.join().unwrap())
    });
    let report = format!(
        "library client: {} ok, {} failed, slowest {:?}: {:?}\n\
         cinit-ctl client: {} ok, {} failed, slowest {:?}: {:?}\n\
         kept connection: {kept_errors:?}",
        lib.0,
        lib.1.len(),
        lib.2,
        lib.1,
        ctl.0,
        ctl.1.len(),
        ctl.2,
        ctl.1
    );
    c.check_all(vec![
        (
            lib.1.is_empty() && ctl.1.is_empty(),
            format!("requests failed during updates:\n{report}"),
        ),
        (
            kept_errors.is_empty(),
            format!("the kept connection broke:\n{report}"),
        ),
        (
            lib.0 >= 20 && ctl.0 >= 5,
            format!("too few requests ran:\n{report}"),
        ),
        (
            lib.2 < Duration::from_secs(3) && ctl.2 < Duration::from_secs(3),
            format!("a request hung:\n{report}"),
        ),
        (
            updates(&c) == 21,
            format!("{} `took over` lines, expected 21", updates(&c)),
        ),
    ]);
    eprintln!("{report}");
    assert_nothing_lost(&c);
    c.assert_alive();
}

// ---------------------------------------------------------------------------
// 4. Exits during the exec
// ---------------------------------------------------------------------------

/// Proves a service that dies while cinit re-executes is noticed: six
/// times, SIGCONT is sent and one of three sleepers is SIGKILLed 0–10 ms
/// later (so its death lands before, during or after the exec); each time
/// its restart counter goes up by exactly one, a new pid runs `sleep 1000`
/// as cinit's child, the old process is reaped, and the other services keep
/// their pids and counters.
#[test]
fn f4_service_exit_during_exec_is_noticed() {
    let fx = Fixture::new();
    let init = fx.service("init");
    let names = ["a", "b", "c"];
    for n in names {
        sleeper(&fx, n, "1000");
        init.needs(n);
    }
    let mut c = fx.boot_ctl();
    c.wait_until("3 running sleepers", TIMEOUT, |c| {
        names.iter().all(|n| c.has_state("running", n))
    });
    let delays_us = [0u64, 0, 1000, 2000, 5000, 10_000];
    for (round, delay) in delays_us.iter().enumerate() {
        let victim = names[round % names.len()];
        let before = keys(&status(&c));
        let (state, old_pid, restarts) = before[victim].clone();
        c.check(
            state == "running",
            &format!("{victim} is not running: {state}"),
        );
        let old = children_by_ns_pid(&c)
            .get(&old_pid.unwrap())
            .copied()
            .unwrap_or_else(|| c.fail(&format!("{victim}'s process is not cinit's child")));
        let n = updates(&c);
        c.check(
            send_signal(c.host_pid(), libc::SIGCONT),
            "could not send SIGCONT",
        );
        sleep(Duration::from_micros(*delay));
        c.check(
            send_signal(old.pid, libc::SIGKILL),
            "could not kill the victim",
        );
        wait_updates(&c, n + 1);
        let after = c.wait_for(
            &format!("round {round}: `{victim}` restarted once with a new pid"),
            TIMEOUT,
            |c| {
                let k = keys(&status(c));
                let (st, pid, r) = k[victim].clone();
                (st == "running" && pid.is_some() && pid != old_pid && r == restarts + 1)
                    .then_some(k)
            },
        );
        let new_pid = after[victim].1.unwrap();
        c.wait_until(
            &format!("round {round}: the killed process to be reaped"),
            TIMEOUT,
            |c| !c.children().contains(&old) && c.zombie_children() == 0,
        );
        // cinit reports the service running once posix_spawn returns, which
        // can be before the child's exec has set up its command line.
        c.wait_until(
            &format!("round {round}: new pid {new_pid} of {victim} to be cinit's sleeping child"),
            TIMEOUT,
            |c| {
                children_by_ns_pid(c)
                    .get(&new_pid)
                    .is_some_and(|p| p.cmdline() == ["/bin/sleep", "1000"])
            },
        );
        for other in names.iter().filter(|n| **n != victim) {
            c.check(
                before[*other] == after[*other],
                &format!(
                    "round {round}: {other} changed: {:?} -> {:?}",
                    before[*other], after[*other]
                ),
            );
        }
    }
    assert_nothing_lost(&c);
    c.assert_alive();
}

// ---------------------------------------------------------------------------
// 5. A failed exec
// ---------------------------------------------------------------------------

/// Proves a failed exec leaves the running cinit untouched. cinit runs from
/// a copy of its binary inside the fixture; then that path is (a) removed,
/// (b) garbage with mode 0755, (c) the real binary with mode 0644. Each time
/// SIGCONT logs `update failed: cannot execute PATH: <ENOENT | ENOEXEC |
/// EACCES text>; the running cinit carries on`, and `cinit-ctl update` exits
/// 1 with that message; cinit stays alive with the same pid, descriptors and
/// services, and still supervises (a killed service respawns). Finally (d) a
/// fresh copy (a new inode) is put back: `cinit-ctl update` succeeds and
/// `/proc/PID/exe` is now that new file.
#[test]
fn f2_failed_exec_keeps_the_running_cinit() {
    let fx = Fixture::new();
    let init = fx.service("init");
    for n in ["a", "b"] {
        sleeper(&fx, n, "1000");
        init.needs(n);
    }
    let bin = fx.path().join("bin/cinit");
    let install = |mode: u32| {
        let _ = fs::remove_file(&bin);
        fs::create_dir_all(bin.parent().unwrap()).unwrap();
        copy_exe(cinit_bin(), &bin);
        fs::set_permissions(&bin, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
    };
    install(0o755);
    let mut c = boot_ctl_opts(
        &fx,
        LaunchOpts {
            cinit: Some(bin.clone()),
            ..LaunchOpts::default()
        },
    );
    c.wait_until("a and b running", TIMEOUT, |c| {
        c.has_state("running", "a") && c.has_state("running", "b")
    });
    c.check(c.proc().exe() == bin, "cinit does not run from the copy");
    let host_pid = c.host_pid();
    let fds = settled_fds(&c);

    let cases: [(&str, &dyn Fn(), &str); 3] = [
        (
            "removed",
            &|| fs::remove_file(&bin).unwrap(),
            "No such file or directory",
        ),
        (
            "garbage 0755",
            &|| {
                fs::write(&bin, b"this is not a program\n\0\x01\x02garbage").unwrap();
                fs::set_permissions(&bin, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                    .unwrap();
            },
            "Exec format error",
        ),
        ("real binary 0644", &|| install(0o644), "Permission denied"),
    ];
    for (i, (what, prepare, reason)) in cases.iter().enumerate() {
        prepare();
        let before = keys(&status(&c));
        let want = format!(
            "cinit: update failed: cannot execute {}: {reason}; the running cinit carries on",
            bin.display()
        );
        c.check(
            send_signal(host_pid, libc::SIGCONT),
            "could not send SIGCONT",
        );
        c.wait_until(&format!("({what}) `{want}`"), TIMEOUT, |c| {
            count_lines(c, &want) == 1
        });
        let out = c.ctl(&["update"]);
        let msg = format!(
            "update failed: cannot execute {}: {reason}; the running cinit carries on",
            bin.display()
        );
        c.check(
            out.code() == Some(1) && out.stderr.contains(&msg) && out.stdout.is_empty(),
            &format!(
                "({what}) cinit-ctl update: expected exit 1 and {msg:?}\n{}",
                out.dump()
            ),
        );
        c.check(
            count_lines(&c, &want) == 2,
            &format!("({what}) the second attempt was not logged"),
        );
        c.assert_alive();
        let after = keys(&status(&c));
        c.check_all(vec![
            (
                c.host_pid() == host_pid,
                format!("({what}) cinit's pid changed"),
            ),
            (
                before == after,
                format!("({what}) services changed:\n{}", diff(&before, &after)),
            ),
            (
                fds_become(&c, &fds),
                format!(
                    "({what}) descriptors changed: {fds:?} -> {:?}",
                    c.proc().fds()
                ),
            ),
            (
                updates(&c) == 0,
                format!("({what}) a `took over` line appeared"),
            ),
            (
                count_lines(&c, "update failed") == 2 * (i + 1),
                format!("({what}) unexpected number of `update failed` lines"),
            ),
        ]);
        // Still supervising: kill `a`, it comes back.
        let a = children_by_ns_pid(&c)[&before["a"].1.unwrap()];
        c.check(send_signal(a.pid, libc::SIGKILL), "could not kill a");
        let respawned = u32::try_from(i + 1).unwrap();
        c.wait_until(&format!("({what}) `a` to be restarted"), TIMEOUT, |c| {
            let s = status_of(c, "a");
            s.state == "running" && s.restarts == respawned && s.pid != before["a"].1
        });
    }

    // (d) A good binary again, as a new file.
    install(0o755);
    let new_ino = fs::metadata(&bin).unwrap().ino();
    let before = keys(&status(&c));
    update_by_ctl(&c);
    let exe_meta = fs::metadata(format!("/proc/{host_pid}/exe")).unwrap();
    c.check_all(vec![
        (
            exe_meta.ino() == new_ino && exe_meta.dev() == fs::metadata(&bin).unwrap().dev(),
            format!(
                "/proc/PID/exe is inode {} ({}), the new file is {new_ino}",
                exe_meta.ino(),
                c.proc().exe().display()
            ),
        ),
        (
            c.proc().exe() == bin,
            format!("exe is {}", c.proc().exe().display()),
        ),
        (c.host_pid() == host_pid, "cinit's pid changed".to_owned()),
        (
            keys(&status(&c)) == before,
            "services changed in the successful update".to_owned(),
        ),
    ]);
    c.check(
        count_lines(&c, "update: lost") == 0,
        "the successful update lost something",
    );
    c.assert_alive();
}

// ---------------------------------------------------------------------------
// 6. Stray CINIT_SNAPSHOT_FD
// ---------------------------------------------------------------------------

/// Proves a stray `CINIT_SNAPSHOT_FD` in cinit's environment means an
/// ordinary boot: with the values `0`, `42` (not open), `junk`, and `7`
/// naming an open descriptor that is not the snapshot memfd (a regular file
/// starting with the snapshot magic, opened by a wrapper shell), cinit logs
/// `booting as PID 1` (no `took over`, no `emergency`) and starts the root
/// service and its sleeper. A later update then works normally, and the new
/// image's environment holds exactly one `CINIT_SNAPSHOT_FD` (its own). The
/// stray fd 7 is nobody's, so cinit closes it at boot.
#[test]
fn stray_snapshot_variable_means_a_normal_boot() {
    for value in ["0", "42", "junk", "7"] {
        let fx = Fixture::new();
        sleeper(&fx, "r", "1000");
        fx.service("init").needs("r");
        let fake = fx.path().join("fake-snapshot");
        let mut opts = LaunchOpts {
            env: vec![(OsString::from("CINIT_SNAPSHOT_FD"), OsString::from(value))],
            ..LaunchOpts::default()
        };
        if value == "7" {
            let mut bytes = b"cinitsnp\0\x01\0\0\0\0\0\x10".to_vec();
            bytes.extend([0u8; 64]);
            fs::write(&fake, bytes).unwrap();
            opts.wrapper = vec![
                OsString::from("/bin/sh"),
                OsString::from("-c"),
                OsString::from(format!("exec 7<'{}'; exec \"$0\" \"$@\"", fake.display())),
            ];
        }
        let c = boot_ctl_opts(&fx, opts);
        c.wait_state("running", "r");
        c.wait_until("the root service", TIMEOUT, |c| {
            c.states()
                .iter()
                .any(|s| s.name == "init" && s.state != "starting")
        });
        let fds = c.proc().fds();
        c.check_all(vec![
            (
                count_lines(&c, &format!("cinit {} booting as PID 1", version())) == 1,
                format!("CINIT_SNAPSHOT_FD={value}: no `booting as PID 1` line"),
            ),
            (
                updates(&c) == 0,
                format!("CINIT_SNAPSHOT_FD={value}: `took over` at boot"),
            ),
            (
                count_lines(&c, "emergency") == 0 && count_lines(&c, "update:") == 0,
                format!("CINIT_SNAPSHOT_FD={value}: emergency or update lines at boot"),
            ),
            (
                !fds.iter().any(|(_, p)| p == &fake),
                format!("the stray fd 7 is still open in cinit after boot: {fds:?}"),
            ),
        ]);
        let before = keys(&status(&c));
        update_by_ctl(&c);
        let env: Vec<String> = c
            .proc()
            .environ()
            .into_iter()
            .filter(|v| v.starts_with("CINIT_SNAPSHOT_FD="))
            .collect();
        c.check_all(vec![
            (
                keys(&status(&c)) == before,
                format!("CINIT_SNAPSHOT_FD={value}: services changed in the update"),
            ),
            // Replaced, not appended to. (The new memfd may well get the
            // stray's number, so the value itself proves nothing.)
            (
                env.len() == 1 && updates(&c) == 1,
                format!("CINIT_SNAPSHOT_FD={value}: the new image's environment has {env:?}"),
            ),
            // Nothing stray was left for the update to close.
            (
                count_lines(&c, "nobody owns") == 0,
                format!("CINIT_SNAPSHOT_FD={value}: the update found stray descriptors"),
            ),
        ]);
        assert_nothing_lost(&c);
    }
}

// ---------------------------------------------------------------------------
// 8. Backoff across an update
// ---------------------------------------------------------------------------

/// Proves a backoff timer survives an update with its deadline and level: a
/// respawn service that exits 1 at once reaches a 1.6 s backoff (6th quick
/// death); 0.8 s into it cinit is updated; the status after the update
/// still says `backoff` with the same restart counter (not reset); the next
/// `running` line comes 1.6 s (±0.4 s under load; a timer re-armed at the
/// update would give ≥ 2.4 s, a lost one never or at once) after the
/// `backoff` line; the counter then goes up by one, and the next backoff is
/// 3.2 s (the quick-death level was kept too).
#[test]
fn backoff_timer_survives_update() {
    let fx = Fixture::new();
    fx.service("crashy").respawn().script("exit 1");
    fx.service("init").needs("crashy");
    let mut c = fx.boot_ctl();
    let backoff_line = c.wait_for("`crashy` in a 1.6 s backoff", TIMEOUT, |c| {
        c.lines_of("crashy")
            .into_iter()
            .find(|s| s.state == "backoff" && s.line.contains("restart in 1.600s"))
    });
    let before = status_of(&c, "crashy");
    c.check(
        before.state == "backoff" && before.pid.is_none(),
        &format!("`crashy` is not in backoff: {before:?}"),
    );
    let r0 = before.restarts;
    let running0 = c.count_state("running", "crashy");
    sleep(Duration::from_millis(800));
    let (took_idx, _) = update_by_signal(&c);
    let during = status_of(&c, "crashy");
    c.check(
        during.state == "backoff" && during.restarts == r0,
        &format!(
            "after the update `crashy` should still be in backoff with {r0} restarts: {during:?}"
        ),
    );
    let restarted = c.wait_for("`crashy` to run again after the update", TIMEOUT, |c| {
        c.lines_of("crashy")
            .into_iter()
            .find(|s| s.state == "running" && s.index > backoff_line.index)
    });
    c.check(
        restarted.index > took_idx && c.count_state("running", "crashy") == running0 + 1,
        "`crashy` was restarted before the update finished",
    );
    let gap = stamp_ms(&restarted.line).unwrap() - stamp_ms(&backoff_line.line).unwrap();
    c.check(
        (1500..=2000).contains(&gap),
        &format!("the restart came {gap} ms after the 1.6 s backoff began"),
    );
    let next = c.wait_for("the next backoff of `crashy`", TIMEOUT, |c| {
        c.lines_of("crashy")
            .into_iter()
            .find(|s| s.state == "backoff" && s.index > restarted.index)
    });
    c.check(
        next.line.contains("restart in 3.200s"),
        &format!("the backoff level was not kept: {}", next.line),
    );
    let last = status_of(&c, "crashy");
    c.check(
        last.restarts == r0 + 1,
        &format!(
            "restart counter {} after one more death, expected {}",
            last.restarts,
            r0 + 1
        ),
    );
    assert_nothing_lost(&c);
    c.assert_alive();
}

// ---------------------------------------------------------------------------
// 7. The emergency path
// ---------------------------------------------------------------------------

/// Sends `fault` to cinit and checks the emergency path, then ends it with
/// `end` and expects PID 1 to die by `death`.
fn emergency_path(fault: libc::c_int, end: libc::c_int, death: libc::c_int) {
    let fx = Fixture::new();
    sleeper(&fx, "r", "1000");
    fx.service("init").needs("r");
    let mark = fx.mark("panic");
    let panic_script = format!(
        "#!/bin/sh\n: > '{started}'\nsleep 1\n\
         {{ echo \"argv0=$0 args=$#\"; tr '\\0' '\\n' < /proc/$$/environ; }} > '{m}.tmp'\n\
         mv '{m}.tmp' '{m}'\n",
        started = fx.mark("started").display(),
        m = mark.display()
    );
    let conf = fx.etc().join("conf");
    fs::create_dir_all(&conf).unwrap();
    let panic_path = conf.join("panic");
    fs::write(&panic_path, panic_script).unwrap();
    fs::set_permissions(
        &panic_path,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let mut c = fx.boot_ctl();
    c.wait_state("running", "r");
    let r = c.wait_child_argv(&["/bin/sleep", "1000"], None);

    c.check(
        send_signal(c.host_pid(), fault),
        "could not send the fault signal",
    );
    c.wait_until("conf/panic to start", TIMEOUT, |_| fx.has_mark("started"));
    // conf/panic sleeps 1 s: the shell waits for it.
    c.check(
        !c.console().contains("starting a shell"),
        "the emergency shell started while conf/panic was still running",
    );
    c.wait_until("conf/panic to write its mark", TIMEOUT, |_| {
        fx.has_mark("panic")
    });
    let got = fx.read_mark("panic");
    let mut lines: Vec<&str> = got.lines().collect();
    let argv = lines.remove(0);
    lines.sort_unstable();
    c.check_all(vec![
        (
            argv == format!("argv0={} args=0", panic_path.display()),
            format!("conf/panic got argv {argv:?}"),
        ),
        (
            lines
                == [
                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "TERM=linux",
                ],
            format!("conf/panic got the environment {lines:?}"),
        ),
    ]);
    c.wait_until("the emergency shell", TIMEOUT, |c| {
        c.console()
            .contains("cinit: emergency: starting a shell on the console")
    });
    let console = c.console();
    c.check(
        console.contains("cinit: emergency: fatal fault in PID 1\n")
            && console.contains("cinit: emergency: running conf/panic\n"),
        "missing emergency lines on the console",
    );
    // The console is a plain file here: the shell must read /dev/null, not
    // the log (which would run log lines as commands).
    std::thread::sleep(Duration::from_millis(1200));
    c.check(
        !c.console().contains("/bin/sh: "),
        "the emergency shell read the console log as commands",
    );
    c.assert_alive();

    // The control socket is not served any more.
    let asked = request(
        &c.socket_path(),
        &Request::Version,
        Some(Duration::from_millis(500)),
    );
    c.check(
        asked.is_err(),
        &format!("the control socket answered in emergency mode: {asked:?}"),
    );

    // A service process that exits now is reaped (and not restarted).
    c.check(
        send_signal(r.pid, libc::SIGKILL),
        "could not kill the service",
    );
    c.wait_until(
        "the killed service to be reaped",
        Duration::from_secs(3),
        |c| !c.children().contains(&r),
    );
    sleep(Duration::from_millis(1500));
    let zombies: Vec<String> = c
        .children()
        .iter()
        .filter(|p| p.state() == 'Z')
        .map(Proc::describe)
        .collect();
    c.check(
        zombies.is_empty(),
        &format!("zombie children in emergency mode: {zombies:?}"),
    );
    c.check(
        c.children_with_argv(&["/bin/sleep", "1000"]).is_empty(),
        "the service was restarted in emergency mode",
    );
    c.assert_alive();

    c.check(
        send_signal(c.host_pid(), end),
        "could not send the end signal",
    );
    let status = c.wait_exit(TIMEOUT);
    c.check(
        death_signal(&status) == Some(death),
        &format!("PID 1 should have died by signal {death}; unshare ended with {status}"),
    );
    c.check(
        c.console()
            .contains("cinit: emergency: syncing and going down at once"),
        "no `going down` line",
    );
}

/// Proves SIGSEGV from root enters the emergency path: the console says
/// `cinit: emergency: fatal fault in PID 1` and `running conf/panic`;
/// `conf/panic` runs with argv = its path alone and an environment of
/// exactly PATH and TERM, and is waited for (it sleeps 1 s, and no shell
/// starts meanwhile); then a shell is started on the console; cinit is
/// alive (not a zombie, unshare still running), no longer serves the control
/// socket (a `Version` request gets no reply in 0.5 s), reaps a service
/// process that is killed (and leaves no zombie children 1.5 s later) but
/// does not restart it; SIGHUP then "reboots": PID 1 dies by SIGHUP.
#[test]
fn sigsegv_enters_the_emergency_path() {
    emergency_path(libc::SIGSEGV, libc::SIGHUP, libc::SIGHUP);
}

/// Proves the same for SIGABRT, ended by SIGTERM ("power off"): PID 1 of
/// the namespace then dies by SIGINT.
#[test]
fn sigabrt_enters_the_emergency_path() {
    emergency_path(libc::SIGABRT, libc::SIGTERM, libc::SIGINT);
}

// ---------------------------------------------------------------------------
// 9. A snapshot the new image cannot read
// ---------------------------------------------------------------------------

/// Installs at `bin` a "new cinit" that damages the snapshot with the shell
/// command `damage` (run with `$S` = the snapshot's /proc path), then execs
/// the real binary copied to `bin.real`. The stand-in is a static program
/// (`tests/update/images.c`, `-DWRAPPER`), not a script: a hot update only
/// executes an ELF binary that answers its preflight, which this one passes
/// on to the real cinit.
fn install_damaging_binary(bin: &Path, damage: &str) {
    static WRAPPER: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let wrapper = WRAPPER.get_or_init(|| {
        compile_c_helper_with(
            "update/images.c",
            "update-image-wrapper",
            &["-static", "-DWRAPPER"],
        )
    });
    let real = bin.with_extension("real");
    copy_exe(cinit_bin(), &real);
    let script = format!("S=/proc/self/fd/$CINIT_SNAPSHOT_FD\n{damage}\n");
    fs::write(bin.with_extension("damage"), script).unwrap();
    let tmp = bin.with_extension("new");
    copy_exe(wrapper, &tmp);
    fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    fs::rename(&tmp, bin).unwrap();
}

/// Boots services `a` and `b` (needed by `init`) from a copy of cinit at
/// `bin/cinit`; returns the fixture, cinit, the copy's path and the pids.
fn boot_from_copy() -> (Fixture, Cinit, PathBuf, Vec<u32>) {
    let fx = Fixture::new();
    let init = fx.service("init");
    for n in ["a", "b"] {
        sleeper(&fx, n, "1000");
        init.needs(n);
    }
    let bin = fx.path().join("bin/cinit");
    fs::create_dir_all(bin.parent().unwrap()).unwrap();
    copy_exe(cinit_bin(), &bin);
    let c = boot_ctl_opts(
        &fx,
        LaunchOpts {
            cinit: Some(bin.clone()),
            ..LaunchOpts::default()
        },
    );
    c.wait_until("a and b running", TIMEOUT, |c| {
        c.has_state("running", "a") && c.has_state("running", "b")
    });
    let pids = ["a", "b"]
        .iter()
        .map(|n| status_of(&c, n).pid.unwrap())
        .collect();
    (fx, c, bin, pids)
}

/// Proves a new image that cannot read the snapshot at all (overwritten with
/// garbage) never exits and runs nothing twice: it logs `emergency: hot
/// update lost the service state (not a cinit snapshot)`, does not start the
/// root service again (no second `running a`), the old services keep running
/// with their pids (unsupervised: one killed is reaped, not restarted, and
/// leaves no zombie), and the control socket answers again.
#[test]
fn f3_garbage_snapshot_keeps_pid1_and_runs_nothing_twice() {
    let (_fx, mut c, bin, pids) = boot_from_copy();
    install_damaging_binary(&bin, "printf garbage > \"$S\"");
    c.check(send_signal(c.host_pid(), libc::SIGCONT), "SIGCONT not sent");
    c.wait_until("the lost-state boot", TIMEOUT, |c| {
        c.console()
            .contains("emergency: hot update lost the service state (not a cinit snapshot)")
    });
    c.wait_until("the control socket", TIMEOUT, |c| {
        c.ctl(&["status", "a"]).code() == Some(0)
    });
    let procs = children_by_ns_pid(&c);
    c.check_all(vec![
        (
            pids.iter().all(|p| procs.contains_key(p)),
            format!(
                "the old services are gone: {pids:?} not in {:?}",
                procs.keys()
            ),
        ),
        (
            c.count_state("running", "a") == 1 && c.count_state("running", "b") == 1,
            "a service was started a second time".to_owned(),
        ),
    ]);
    // Unsupervised now: a killed service process is reaped, not restarted.
    let a = *procs.get(&pids[0]).unwrap();
    c.check(send_signal(a.pid, libc::SIGKILL), "cannot kill a");
    c.wait_until("a reaped", TIMEOUT, |c| {
        !a.is_alive() && c.zombie_children() == 0
    });
    c.check(
        c.count_state("running", "a") == 1,
        "a was restarted by an image that does not know it",
    );
    c.assert_alive();
}

/// Proves a truncated snapshot is adopted as far as it goes and the rest is
/// reported: the new image takes over (`took over`), says what it lost
/// (`update: lost:` lines), keeps PID 1, and listens on the control socket
/// again even though the control section was cut off.
#[test]
fn truncated_snapshot_is_adopted_as_far_as_it_goes() {
    let (_fx, mut c, bin, _pids) = boot_from_copy();
    // Header (24 bytes) plus a little of the first sections.
    install_damaging_binary(&bin, "truncate -s 60 \"$S\"");
    c.check(send_signal(c.host_pid(), libc::SIGCONT), "SIGCONT not sent");
    c.wait_until("the take-over", TIMEOUT, |c| {
        count_lines(c, "took over") == 1
    });
    c.wait_until("the control socket", TIMEOUT, |c| {
        c.ctl(&["version"]).code() == Some(0)
    });
    let log = c.console();
    c.check_all(vec![
        (
            log.contains("update: lost: snapshot truncated"),
            "the truncation was not reported".to_owned(),
        ),
        (
            log.contains("update: lost: control clients lost; listening again"),
            "the control socket was not opened again".to_owned(),
        ),
    ]);
    c.assert_alive();
}
