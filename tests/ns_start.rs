//! Boot-time start rules, with the real `cinit` as PID 1 in namespaces:
//! parallel start, `needs`/`wants` ordering and failure propagation, missing
//! `on`, broken links, dot entries, service identity, dependency cycles and
//! `cprofile:` root selection. Cases A4 (cycles) and A5 (missing
//! dependencies) of the adversarial family A live here as `a4_…` and `a5_…`
//! (the rest of the family is in `adv_config.rs`).

#![cfg(test)]

mod common;

use common::*;
use std::fs;
use std::time::Duration;

/// Proves the harness's console parser extracts STATE and NAME from every
/// documented line shape (so the other tests' assertions mean something).
#[test]
fn harness_parses_state_lines() {
    let cases = [
        ("[    0.002] cinit: running web (pid 12)", "running", "web"),
        (
            "[    0.010] cinit: starting mount/tmp (pid 13)",
            "starting",
            "mount/tmp",
        ),
        (
            "[    0.300] cinit: done mount/tmp in 0.290s",
            "done",
            "mount/tmp",
        ),
        (
            "[    0.300] cinit: failed c in 0.010s: exit status 3",
            "failed",
            "c",
        ),
        (
            "[    0.300] cinit: need-failed d: need c failed",
            "need-failed",
            "d",
        ),
        (
            "[    0.301] cinit: backoff e: exit status 1; restart in 0.100s",
            "backoff",
            "e",
        ),
        (
            "[    0.400] cinit: failed x: dependency cycle: x -> y -> x",
            "failed",
            "x",
        ),
        ("cinit: stopped getty/1", "stopped", "getty/1"),
    ];
    for (line, state, name) in cases {
        let got = parse_state_line(0, line).unwrap_or_else(|| panic!("unparsed: {line}"));
        assert_eq!(
            (got.state.as_str(), got.name.as_str()),
            (state, name),
            "{line}"
        );
    }
    assert!(parse_state_line(0, "hello from a service").is_none());
    assert_eq!(
        state_lines("x\ncinit: done a\ny\ncinit: done b:\n").len(),
        2
    );
}

/// Proves services whose dependencies are satisfied start in parallel, without
/// relying on timing: `a` and `b` each create a marker and then wait (bounded,
/// ~3 s) for the other's marker before exiting 0. Were starts serialized, the
/// first one would time out and exit 1, so both must end `done`.
#[test]
fn independent_services_start_in_parallel() {
    let fx = Fixture::new();
    for (me, other) in [("a", "b"), ("b", "a")] {
        fx.service(me).script(&format!(
            "{}\n{}\nexit 0",
            sh_touch(&fx.mark(me)),
            sh_wait_for(&fx.mark(other), 150)
        ));
    }
    fx.service("init").wants("a").wants("b");
    let c = fx.boot();
    c.expect_outcome("a", "done");
    c.expect_outcome("b", "done");
}

/// The start-order cases, one row each: a dependent, how it names its
/// dependency, the dependency, and the state the dependency logs before
/// the dependent may start. A `done` dependency sleeps 0.3 s, leaves its
/// marker and exits 0, and its dependent exits 1 unless that marker exists
/// (so it ends `done` only if started after); a `running` one is a respawn
/// service that never exits (were it awaited until it exits, the dependent
/// would never start); a `failed` one exits 1.
const START_ORDER: [(&str, &str, &str, &str); 4] = [
    ("b", "needs", "a", "done"),
    ("after_r", "needs", "r", "running"),
    ("wanting", "wants", "wanted", "done"),
    ("w", "wants", "bad", "failed"),
];

/// Proves a dependent starts only once its dependency got as far as the
/// link asks, for each row of [`START_ORDER`], in one boot whose `init`
/// needs every dependent: `needs` and `wants` wait for a once service to
/// finish, `needs` on a respawn service is satisfied once it is spawned,
/// and a failed want does not block. Each dependency logs its state, each
/// dependent ends `done` and leaves its marker, `starting DEPENDENT` is
/// logged after the dependency's line, and `init` ends `done`.
#[test]
fn dependents_start_after_their_dependencies() {
    let fx = Fixture::new();
    for (dependent, link, dep, state) in START_ORDER {
        let mut script = sh_touch(&fx.mark(dependent));
        match state {
            "done" => {
                let mark = fx.mark(dep);
                fx.service(dep)
                    .script(&format!("sleep 0.3\n{}", sh_touch(&mark)));
                script = format!("[ -e '{}' ] || exit 1\n{script}", mark.display());
            }
            "running" => {
                fx.service(dep)
                    .respawn()
                    .on_link("/bin/sleep")
                    .params(&["1000"]);
            }
            _ => {
                fx.service(dep).script("exit 1");
            }
        }
        let s = fx.service(dependent);
        match link {
            "needs" => s.needs(dep),
            _ => s.wants(dep),
        };
        s.script(&script);
        fx.service("init").needs(dependent);
    }
    let c = fx.boot();
    let mut checks = Vec::new();
    for (dependent, link, dep, state) in START_ORDER {
        c.expect_outcome(dependent, "done");
        let dep_line = match state {
            "running" => c.wait_state("running", dep),
            _ => c.expect_outcome(dep, state),
        };
        let start = c.find_state("starting", dependent).map(|s| s.index);
        checks.push((
            fx.has_mark(dependent),
            format!("{dependent}'s marker missing although {dependent} is done"),
        ));
        checks.push((
            in_order(Some(dep_line.index), start),
            format!(
                "{dependent} {link} {dep}: expected `{state} {dep}` to be logged before \
                 `starting {dependent}`"
            ),
        ));
    }
    c.check_all(checks);
    c.expect_outcome("init", "done");
}

/// Proves a failed need makes the dependent `need-failed` without ever running
/// it, transitively: `crash` exits 3, `mid` needs `crash`, `top` needs `mid`.
/// `mid` and `top` must be `need-failed` (the reason naming the failed need)
/// and their markers must never appear; `crash`'s failure names status 3.
#[test]
fn need_failure_propagates_transitively() {
    let fx = Fixture::new();
    fx.service("crash").script("exit 3");
    fx.service("mid")
        .needs("crash")
        .script(&sh_touch(&fx.mark("mid")));
    fx.service("top")
        .needs("mid")
        .script(&sh_touch(&fx.mark("top")));
    fx.service("init").wants("top");
    let c = fx.boot();
    let crash = c.expect_outcome("crash", "failed");
    c.check(
        has_word(crash.rest(), "3"),
        "the failure line of `crash` should report exit status 3",
    );
    let mid = c.expect_outcome("mid", "need-failed");
    c.check(
        mid.line.contains("crash"),
        "the need-failed line of `mid` should name the failed need `crash`",
    );
    let top = c.expect_outcome("top", "need-failed");
    c.check(
        top.line.contains("mid"),
        "the need-failed line of `top` should name the failed need `mid`",
    );
    c.check(
        !fx.has_mark("mid") && !fx.has_mark("top"),
        "a need-failed service was run",
    );
    c.check(
        !c.has_state("starting", "mid") && !c.has_state("starting", "top"),
        "a need-failed service was logged as starting",
    );
}

/// Proves a service without `on` succeeds at once: `group` has no `on`, `h`
/// needs it; `group` is `done` and `h` runs.
#[test]
fn missing_on_counts_as_done() {
    let fx = Fixture::new();
    fx.service("group");
    fx.service("h")
        .needs("group")
        .script(&sh_touch(&fx.mark("h")));
    fx.service("init").needs("h");
    let c = fx.boot();
    c.expect_outcome("group", "done");
    c.expect_outcome("h", "done");
    c.check(fx.has_mark("h"), "h's marker missing although h is done");
}

/// A5 (adversarial family A, testing.md §5.A): `needs` and `wants` links to
/// services that do not exist. Proves a need link to a missing directory
/// makes the service `need-failed` with a reason naming the entry (it never
/// runs, and its own needer is `need-failed` too), while broken want links
/// (to a missing service and to a path outside any tree) are only a warning
/// on the console: the wanting service runs to `done`. An unrelated sibling
/// and a healthy respawn service are unaffected; PID 1 stays up and the
/// control socket answers.
#[test]
fn a5_missing_need_fails_the_dependent_missing_want_only_warns() {
    let fx = Fixture::new();
    fx.service("m")
        .need_link("ghost", fx.svc_path("ghost"))
        .script(&sh_touch(&fx.mark("m")));
    fx.service("above_m")
        .needs("m")
        .script(&sh_touch(&fx.mark("above_m")));
    fx.service("w")
        .want_link("ghost", fx.svc_path("ghost"))
        .want_link("nowhere", "/nonexistent/cinit-test/nowhere")
        .script(&sh_touch(&fx.mark("w")));
    fx.service("n").script(&sh_touch(&fx.mark("n")));
    fx.service("healthy")
        .respawn()
        .on_link("/bin/sleep")
        .params(&["1000"]);
    fx.service("init")
        .wants("above_m")
        .wants("n")
        .wants("healthy")
        .needs("w");
    let mut c = fx.boot_ctl();
    let m = c.expect_outcome("m", "need-failed");
    c.check(
        m.rest().contains("need m/needs/ghost: no such service"),
        &format!("the reason should name the missing entry: {}", m.line),
    );
    c.expect_outcome("above_m", "need-failed");
    c.expect_outcome("n", "done");
    c.expect_outcome("w", "done");
    c.expect_outcome("init", "done");
    c.check(
        !fx.has_mark("m") && !fx.has_mark("above_m"),
        "a need-failed service was run",
    );
    c.check(fx.has_mark("w"), "w's marker missing although w is done");
    let log = c.console();
    for entry in ["w/wants/ghost", "w/wants/nowhere"] {
        c.check(
            log.lines().any(|l| {
                l.contains("cinit: config: ")
                    && l.contains(entry)
                    && l.contains("want: no such service (ignored)")
            }),
            &format!("a warning for the broken want {entry} is missing"),
        );
    }
    c.wait_state("running", "healthy");
    let out = c.ctl(&["status", "m", "w"]);
    c.check(
        out.code() == Some(0)
            && out.stdout.contains("m: need-failed")
            && out.stdout.contains("w: done"),
        &format!("`cinit-ctl status` must answer:\n{}", out.dump()),
    );
    c.assert_alive();
}

/// Proves `needs/` and `wants/` entries starting with `.` are ignored: `x`
/// has `needs/.ghost` (missing dir — would make `x` need-failed) and
/// `needs/.hidden`, `wants/.hidden` (a service that would have run before `x`
/// and left a marker). `x` must be `done`, and `hidden` must never run.
#[test]
fn dot_entries_in_needs_and_wants_are_ignored() {
    let fx = Fixture::new();
    fx.service("hidden").script(&sh_touch(&fx.mark("hidden")));
    fx.service("x")
        .need_link(".ghost", fx.svc_path("ghost"))
        .need_link(".hidden", fx.svc_path("hidden"))
        .want_link(".hidden", fx.svc_path("hidden"))
        .script(&sh_touch(&fx.mark("x")));
    fx.service("init").needs("x");
    let c = fx.boot();
    c.expect_outcome("x", "done");
    c.check(!fx.has_mark("hidden"), "the dot-entry service `hidden` ran");
    c.check(
        c.lines_of("hidden").is_empty(),
        "the dot-entry service `hidden` appears in the log",
    );
}

/// Proves two links to the same directory are one service, started once: `a`
/// needs `shared` through an absolute link, `b` through a relative
/// `../../shared` link, and the root wants it through a non-canonical path;
/// `shared` appends a line per run and must have run exactly once.
#[test]
fn two_links_to_one_dir_are_one_service() {
    let fx = Fixture::new();
    fx.service("shared").script(&format!(
        "echo run >> '{}'\nsleep 0.2",
        fx.mark("shared").display()
    ));
    fx.service("a")
        .need_link("s1", fx.svc_path("shared"))
        .script(&sh_touch(&fx.mark("a")));
    fx.service("b")
        .need_link("s2", "../../shared")
        .script(&sh_touch(&fx.mark("b")));
    fx.service("init")
        .needs("a")
        .needs("b")
        .want_link("s3", fx.svc_root().join("a/../shared"));
    let c = fx.boot();
    c.expect_outcome("a", "done");
    c.expect_outcome("b", "done");
    c.expect_outcome("init", "done");
    let runs = fx.read_mark("shared").lines().count();
    c.check(runs == 1, &format!("`shared` ran {runs} times, expected 1"));
    let starts = c.count_state("starting", "shared");
    c.check(
        starts == 1,
        &format!("`starting shared` logged {starts} times, expected 1"),
    );
}

/// A4 (adversarial family A, testing.md §5.A): dependency cycles — `cyca`
/// needs `cycb` needs `cyca`, `selfish` needs itself, `p` wants `q` wants `p`,
/// and a 1000-long `needs` cycle `ring/0 -> ring/1 -> … -> ring/999 ->
/// ring/0`. Proves every cycle is detected at load: each member is `failed`
/// with a reason naming the cycle path (`dependency cycle: … -> …`) and never
/// runs, a service needing a member is `need-failed`, and the rest (`ok`, a
/// running `healthy`) boots; PID 1 stays up and `cinit-ctl status` still
/// answers for every service.
#[test]
fn a4_cycles_are_reported_members_not_started_rest_boots() {
    let fx = Fixture::new();
    fx.service("cyca")
        .needs("cycb")
        .script(&sh_touch(&fx.mark("cyca")));
    fx.service("cycb")
        .needs("cyca")
        .script(&sh_touch(&fx.mark("cycb")));
    fx.service("selfish")
        .needs("selfish")
        .script(&sh_touch(&fx.mark("selfish")));
    fx.service("after")
        .needs("cyca")
        .script(&sh_touch(&fx.mark("after")));
    fx.service("p").wants("q").script(&sh_touch(&fx.mark("p")));
    fx.service("q").wants("p").script(&sh_touch(&fx.mark("q")));
    const RING: usize = 1000;
    for i in 0..RING {
        fx.service(&format!("ring/{i}"))
            .needs(&format!("ring/{}", (i + 1) % RING))
            .script(&sh_touch(&fx.mark("ring")));
    }
    fx.service("ok").script(&sh_touch(&fx.mark("ok")));
    fx.service("healthy")
        .respawn()
        .on_link("/bin/sleep")
        .params(&["1000"]);
    fx.service("init")
        .wants("cyca")
        .wants("selfish")
        .wants("after")
        .wants("p")
        .wants("ring/0")
        .wants("ok")
        .wants("healthy");
    let mut c = fx.boot_ctl();
    for member in ["cyca", "cycb"] {
        let l = c.expect_outcome(member, "failed");
        c.check(
            l.line.contains("dependency cycle")
                && l.line.contains("cyca")
                && l.line.contains("cycb")
                && l.line.contains("->"),
            &format!(
                "`{member}` should fail naming the cycle cyca -> cycb: {}",
                l.line
            ),
        );
    }
    let s = c.expect_outcome("selfish", "failed");
    c.check(
        s.line.contains("dependency cycle") && s.line.contains("selfish -> selfish"),
        &format!(
            "`selfish` should fail with `selfish -> selfish`: {}",
            s.line
        ),
    );
    for member in ["p", "q"] {
        let l = c.expect_outcome(member, "failed");
        c.check(
            l.line.contains("dependency cycle") && l.line.contains("->"),
            &format!("`{member}` should fail with a dependency cycle: {}", l.line),
        );
    }
    c.expect_outcome("after", "need-failed");
    c.expect_outcome("ok", "done");
    c.wait_state("running", "healthy");
    c.expect_outcome("init", "done");
    for i in [0, 1, RING / 2, RING - 1] {
        let l = c.expect_outcome(&format!("ring/{i}"), "failed");
        c.check(
            l.line.contains("dependency cycle: ring/0 -> ring/1 -> "),
            &format!("ring/{i} should name the ring: {}", l.line),
        );
    }
    c.check(
        c.states()
            .iter()
            .filter(|l| l.name.starts_with("ring/") && l.state == "failed")
            .count()
            == RING,
        "every member of the 1000-long cycle should be failed once",
    );
    for m in ["cyca", "cycb", "selfish", "after", "p", "q", "ring"] {
        c.check(
            !fx.has_mark(m),
            &format!("cycle-affected service `{m}` ran"),
        );
    }
    let out = c.ctl(&["status"]);
    c.check(
        out.code() == Some(0)
            && out.stdout.lines().count() == RING + 9
            && out.stdout.contains("ring/999: failed")
            && out.stdout.contains("ring/999 -> ring/0 (a cycle of 1000)"),
        &format!("`cinit-ctl status` must answer:\n{}", out.dump()),
    );
    c.assert_alive();
}

/// Proves `cprofile:NAME` makes `svc/NAME` the root: with `cprofile:alt`,
/// `alt` runs and `init` (which would have left its marker long before `alt`
/// finished its 0.2 s sleep) never runs nor appears in the log.
#[test]
fn cprofile_selects_another_root() {
    let fx = Fixture::new();
    fx.service("init").script(&sh_touch(&fx.mark("init")));
    fx.service("alt")
        .script(&format!("sleep 0.2\n{}", sh_touch(&fx.mark("alt"))));
    let mut c = fx.boot_with(&["cprofile:alt"]);
    c.expect_outcome("alt", "done");
    c.check(fx.has_mark("alt"), "the profile root `alt` did not run");
    c.check(
        !fx.has_mark("init"),
        "`init` ran although cprofile:alt was given",
    );
    c.check(c.lines_of("init").is_empty(), "`init` appears in the log");
    c.assert_alive();
}

/// Proves the last `cprofile:` argument wins: with `cprofile:alt
/// cprofile:other`, only `other` runs.
#[test]
fn cprofile_last_one_wins() {
    let fx = Fixture::new();
    fx.service("init").script(&sh_touch(&fx.mark("init")));
    fx.service("alt").script(&sh_touch(&fx.mark("alt")));
    fx.service("other")
        .script(&format!("sleep 0.2\n{}", sh_touch(&fx.mark("other"))));
    let mut c = fx.boot_with(&["cprofile:alt", "cprofile:other"]);
    c.expect_outcome("other", "done");
    c.check(
        !fx.has_mark("alt"),
        "`alt` ran although a later cprofile: was given",
    );
    c.check(
        !fx.has_mark("init"),
        "`init` ran although cprofile: was given",
    );
    c.check(
        c.lines_of("alt").is_empty() && c.lines_of("init").is_empty(),
        "a non-selected root appears in the log",
    );
    c.assert_alive();
}

/// Proves cinit as PID 1 keeps running after every service has settled
/// (PID 1 must never exit on its own), with no zombie children left.
#[test]
fn pid1_stays_up_after_boot_completes() {
    let fx = Fixture::new();
    fx.service("quick").script("exit 0");
    fx.service("init").needs("quick");
    let mut c = fx.boot();
    c.expect_outcome("init", "done");
    std::thread::sleep(Duration::from_millis(300));
    c.assert_alive();
    c.wait_until("no zombie children of cinit", TIMEOUT, |c| {
        c.zombie_children() == 0
    });
}

/// Proves a service's start reads its directory as it is then, not as the
/// boot's load found it, once the loop turn of that load is over (the
/// load's listing serves only the starts of its own turn): `late` needs
/// `gate`, a once service that waits for the test; `late`'s `on.params`
/// is written after boot, while `gate` holds `late` back, and `late`
/// must start with its argument. Then `on.params` is changed again and
/// `late` killed: its restart (respawn) must get the new argument.
#[test]
fn an_edit_after_boot_is_seen_at_the_next_start() {
    let fx = Fixture::new();
    fx.service("gate").script(&format!(
        "{}\n{}\nexit 0",
        sh_touch(&fx.mark("gate-up")),
        sh_wait_for(&fx.mark("open"), 250)
    ));
    let mark = fx.mark("late");
    fx.service("late").needs("gate").respawn().script(&format!(
        "echo \"$$ $*\" > '{m}.tmp' && mv '{m}.tmp' '{m}'\nexec sleep 1000",
        m = mark.display()
    ));
    fx.service("init").wants("gate").wants("late");
    let mut c = fx.boot();
    c.wait_until("gate running", TIMEOUT, |_| fx.has_mark("gate-up"));
    assert!(!fx.has_mark("late"), "late started before gate finished");
    fs::write(fx.svc_path("late/on.params"), "edited\n").unwrap();
    fs::write(fx.mark("open"), "").unwrap();
    let fx = &fx;
    let args = |want: &'static str| {
        move |_: &Cinit| {
            let got = fx.read_mark("late");
            got.split_once(' ').map(|(_, a)| a.trim_end()) == Some(want)
        }
    };
    c.wait_until("late started with `edited`", TIMEOUT, args("edited"));
    let first = c.wait_child_argv(&["sleep", "1000"], None);
    fs::write(fx.svc_path("late/on.params"), "again\n").unwrap();
    fs::remove_file(fx.mark("late")).unwrap();
    assert!(send_signal(first.pid, libc::SIGKILL), "kill late");
    c.wait_until("late restarted with `again`", TIMEOUT, args("again"));
    c.assert_alive();
}
