//! The boot timeline with the real `cinit` as PID 1 in namespaces:
//! `cinit-ctl analyze` (table, total, critical chain, JSON) against a tree
//! with known delays whose services write their start order into a marker
//! file; `cinit-ctl graph` against the tree's links; the timeline across a
//! hot update; reading it as an unprivileged user; and the boot chart
//! (`analyze --svg`) rendered by a real browser, headless Chromium, whose
//! screenshot must show the bars in the state colours.

#![cfg(test)]

mod common;

use cinit_testkit::chart;
use common::*;
use std::collections::BTreeSet;
use std::time::Duration;

/// Generous deadline for a boot with sleeps on a loaded machine.
const BOOT: Duration = Duration::from_secs(20);

/// One row of the `analyze` table; times in seconds (None = `-`).
#[derive(Debug, Clone)]
struct Row {
    start: Option<f64>,
    ready: Option<f64>,
    took: Option<f64>,
    waited: Option<f64>,
    state: String,
    name: String,
}

/// What `cinit-ctl analyze` printed.
#[derive(Debug, Default)]
struct Report {
    rows: Vec<Row>,
    total: Option<f64>,
    /// (name, @start, +took) from the top of the chain down.
    chain: Vec<(String, f64, f64)>,
}

fn secs(word: &str) -> Option<f64> {
    (word != "-").then(|| {
        word.trim_start_matches(['@', '+'])
            .trim_end_matches('s')
            .parse()
            .unwrap_or_else(|_| panic!("not seconds: {word:?}"))
    })
}

fn parse_report(text: &str) -> Report {
    let mut r = Report::default();
    let mut lines = text.lines();
    for line in lines.by_ref() {
        if line.trim_start().starts_with("START") {
            break;
        }
    }
    for line in lines.by_ref() {
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.len() != 6 {
            break;
        }
        r.rows.push(Row {
            start: secs(w[0]),
            ready: secs(w[1]),
            took: secs(w[2]),
            waited: secs(w[3]),
            state: w[4].to_string(),
            name: w[5].to_string(),
        });
    }
    for line in lines.by_ref() {
        if let Some(rest) = line.strip_prefix("total ") {
            r.total = secs(rest.split(':').next().unwrap());
        }
        if line.starts_with("critical chain") {
            break;
        }
    }
    for line in lines {
        let line = line.trim_start().trim_start_matches("└─");
        let (name, rest) = line.split_once(" @").unwrap();
        let (at, took) = rest.split_once(" +").unwrap();
        r.chain.push((
            name.to_string(),
            secs(at).unwrap(),
            secs(&format!("+{took}")).unwrap(),
        ));
    }
    r
}

/// `cinit-ctl ARGS`, which must exit 0; its stdout.
#[track_caller]
fn ctl_ok(c: &Cinit, args: &[&str]) -> String {
    let out = c.ctl(args);
    if out.code() != Some(0) {
        c.fail(&format!("cinit-ctl {args:?} failed:\n{}", out.dump()));
    }
    out.stdout
}

/// A once service that appends its name to `marks/order`, sleeps `delay`
/// and exits with `code`.
fn timed(fx: &Fixture, name: &str, delay: &str, code: i32) -> Service {
    let order = fx.mark("order");
    let s = fx.service(name);
    s.script(&format!(
        "echo {name} >> '{}'\nsleep {delay}\nexit {code}",
        order.display()
    ));
    s
}

/// The chain of known delays: `a` (0.4 s) ← `b` needs a (0.3 s) ← `c`
/// needs b (at once) ← `r` (respawn) needs c ← `init` needs r and wants
/// `f` (0.1 s) and `z` (fails after 0.2 s).
fn chain_tree(fx: &Fixture) {
    timed(fx, "a", "0.4", 0);
    timed(fx, "b", "0.3", 0).needs("a");
    timed(fx, "c", "0", 0).needs("b");
    let order = fx.mark("order");
    fx.service("r")
        .script(&format!("echo r >> '{}'\nexec sleep 1000", order.display()))
        .respawn()
        .needs("c");
    timed(fx, "f", "0.1", 0);
    timed(fx, "z", "0.2", 1);
    fx.service("init").needs("r").wants("f").wants("z");
}

fn row<'a>(c: &Cinit, r: &'a Report, name: &str) -> &'a Row {
    r.rows
        .iter()
        .find(|x| x.name == name)
        .unwrap_or_else(|| c.fail(&format!("no row for {name} in {r:#?}")))
}

/// Proves that `analyze` reports what happened, in the order it happened:
/// the services of the chain appear in the table in the order they wrote
/// their markers (a, b, c, r), and every service of the tree is listed;
/// each was spawned exactly when its need came up (b's START = a's READY,
/// c's = b's, r's = c's, to the millisecond); READY − START is at least the
/// service's known duration (a 0.4 s, b 0.3 s, f 0.1 s, z failed after
/// 0.2 s) and not absurdly more; WAITED shows the wait for the needs; the
/// critical chain is exactly init ← r ← c ← b ← a (the slow path, not the
/// faster want f or the failed want z), with the same numbers as the
/// table; the total is init's READY and at least the 0.7 s of the chain.
/// `--json` carries the same analysis.
#[test]
fn analyze_numbers_match_the_spawn_order_and_the_slow_path() {
    let fx = Fixture::new();
    chain_tree(&fx);
    let c = fx.boot_ctl();
    c.wait_state_for("done", "init", BOOT);
    c.wait_state_for("failed", "z", BOOT);
    c.wait_state_for("done", "f", BOOT);
    let text = ctl_ok(&c, &["analyze"]);
    let r = parse_report(&text);
    let ctx = format!("{text}\nconsole:\n{}", c.console());
    c.check(
        text.starts_with("cinit started ") && text.contains(" after boot;"),
        &ctx,
    );
    let names: BTreeSet<&str> = r.rows.iter().map(|x| x.name.as_str()).collect();
    c.check(
        names == BTreeSet::from(["a", "b", "c", "r", "f", "z", "init"]),
        &format!("rows {names:?}\n{ctx}"),
    );

    // Table order against the markers.
    let markers: Vec<String> = fx
        .read_mark("order")
        .lines()
        .filter(|l| ["a", "b", "c", "r"].contains(l))
        .map(str::to_string)
        .collect();
    let table: Vec<String> = r
        .rows
        .iter()
        .map(|x| x.name.clone())
        .filter(|n| ["a", "b", "c", "r"].contains(&n.as_str()))
        .collect();
    c.check(
        markers == ["a", "b", "c", "r"],
        &format!("markers {markers:?}\n{ctx}"),
    );
    c.check(table == markers, &format!("table {table:?}\n{ctx}"));
    let starts: Vec<f64> = r.rows.iter().filter_map(|x| x.start).collect();
    c.check(
        starts.windows(2).all(|w| w[0] <= w[1]),
        &format!("START not sorted\n{ctx}"),
    );

    let (a, b, cc, rr) = (
        row(&c, &r, "a"),
        row(&c, &r, "b"),
        row(&c, &r, "c"),
        row(&c, &r, "r"),
    );
    let (f, z, init) = (row(&c, &r, "f"), row(&c, &r, "z"), row(&c, &r, "init"));
    let mut checks = vec![
        (b.start == a.ready, "b spawned when a came up".to_string()),
        (cc.start == b.ready, "c spawned when b came up".to_string()),
        (rr.start == cc.ready, "r spawned when c came up".to_string()),
        (
            init.ready == rr.ready,
            "init done when r came up".to_string(),
        ),
        (
            rr.took == Some(0.0),
            "a respawn service is up at its spawn".into(),
        ),
        (
            [a, b, cc, rr, f, init].iter().all(|x| x.state != "failed")
                && z.state == "failed"
                && rr.state == "running"
                && init.state == "done",
            "states".into(),
        ),
        (z.ready.is_none(), "z never came up".into()),
    ];
    for (x, min) in [(a, 0.4), (b, 0.3), (f, 0.1), (z, 0.2), (cc, 0.0)] {
        let took = x.took.unwrap_or(-1.0);
        checks.push((
            (min..min + 3.0).contains(&took),
            format!("{} took {took} (at least {min})", x.name),
        ));
    }
    let waited = |x: &Row| x.waited.unwrap_or(-1.0);
    checks.push((
        waited(a) < 0.5 && waited(f) < 0.5,
        "a and f did not wait".into(),
    ));
    checks.push((waited(b) >= 0.4, format!("b waited {} for a", waited(b))));
    checks.push((waited(init) >= 0.7, format!("init waited {}", waited(init))));
    c.check_all(
        checks
            .into_iter()
            .map(|(ok, m)| (ok, format!("{m}\n{ctx}")))
            .collect(),
    );

    // The critical chain and the total.
    let chain: Vec<&str> = r.chain.iter().map(|x| x.0.as_str()).collect();
    c.check(
        chain == ["init", "r", "c", "b", "a"],
        &format!("chain {chain:?}\n{ctx}"),
    );
    for (name, at, took) in &r.chain {
        let x = row(&c, &r, name);
        c.check(
            x.start == Some(*at) && x.took == Some(*took),
            &format!("chain line of {name} differs from the table\n{ctx}"),
        );
    }
    let total = r.total.unwrap_or(-1.0);
    c.check(
        r.total == init.ready && (0.7..10.0).contains(&total),
        &format!("total {total}\n{ctx}"),
    );

    let json = ctl_ok(&c, &["--json", "analyze"]);
    for part in [
        "\"last_up\":\"init\"",
        "\"critical_chain\":[\"init\",\"r\",\"c\",\"b\",\"a\"]",
        "{\"name\":\"init\",\"state\":\"done\",\"respawn\":false,",
        "\"needs\":[\"r\"],\"wants\":[\"f\",\"z\"]}",
        "{\"name\":\"r\",\"state\":\"running\",\"respawn\":true,",
    ] {
        c.check(json.contains(part), &format!("{part} not in\n{json}"));
    }
    c.check(
        json.contains(&format!(
            "\"total_ms\":{},",
            (total * 1000.0).round() as u64
        )),
        &format!("total_ms != {total}\n{json}"),
    );
}

/// Parses the quoted DOT strings of one line: `\"` and `\\` are unescaped,
/// other backslash sequences (`\n` in a label) are kept as written.
fn dot_strings(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = line.chars();
    while let Some(ch) = chars.next() {
        if ch != '"' {
            continue;
        }
        let mut s = String::new();
        while let Some(ch) = chars.next() {
            match ch {
                '\\' => match chars.next().unwrap() {
                    q @ ('"' | '\\') => s.push(q),
                    other => {
                        s.push('\\');
                        s.push(other);
                    }
                },
                '"' => break,
                c => s.push(c),
            }
        }
        out.push(s);
    }
    out
}

/// Proves that `cinit-ctl graph` prints a DOT digraph whose edges are
/// exactly the tree's needs (solid) and wants (dashed), by name — a name
/// with a double quote in it included, escaped so it stays one string —
/// with one node per loaded service labelled with its state; a need link
/// to a missing directory and a broken want link make no edge.
#[test]
fn graph_edges_are_exactly_the_needs_and_wants() {
    let fx = Fixture::new();
    fx.service("lo");
    fx.service("net/eth0").needs("lo");
    fx.service("we\"ird");
    fx.service("opt").want_link("gone", fx.svc_path("nowhere"));
    fx.service("broken")
        .need_link("gone", fx.svc_path("missing"));
    fx.service("init")
        .needs("net/eth0")
        .needs("we\"ird")
        .wants("opt")
        .wants("broken");
    let c = fx.boot_ctl();
    c.wait_state_for("done", "init", BOOT);
    let dot = ctl_ok(&c, &["graph"]);
    c.check(
        dot.starts_with("digraph cinit {\n") && dot.ends_with("}\n"),
        &dot,
    );
    let mut edges = BTreeSet::new();
    let mut nodes = BTreeSet::new();
    for line in dot.lines() {
        let strings = dot_strings(line);
        if line.contains("\" -> \"") {
            let dashed = line.ends_with(" [style=dashed];");
            c.check(dashed || line.ends_with(';'), line);
            edges.insert((strings[0].clone(), strings[1].clone(), !dashed));
        } else if line.contains(" [label=") {
            nodes.insert((strings[0].clone(), strings[1].clone()));
        }
    }
    let e = |a: &str, b: &str, need: bool| (a.to_string(), b.to_string(), need);
    let want_edges = BTreeSet::from([
        e("net/eth0", "lo", true),
        e("init", "net/eth0", true),
        e("init", "we\"ird", true),
        e("init", "opt", false),
        e("init", "broken", false),
    ]);
    c.check(edges == want_edges, &format!("edges {edges:#?}\n{dot}"));
    let n = |a: &str, state: &str| (a.to_string(), format!("{a}\\n{state}"));
    let want_nodes = BTreeSet::from([
        n("lo", "done"),
        n("net/eth0", "done"),
        n("we\"ird", "done"),
        n("opt", "done"),
        n("broken", "need-failed"),
        n("init", "done"),
    ]);
    c.check(nodes == want_nodes, &format!("nodes {nodes:#?}\n{dot}"));
}

/// Proves that the timeline survives a hot update: `analyze` prints the
/// same report, and `--json` the same times, before and after
/// `cinit-ctl update` (only the server's clock moved), and cinit's start
/// is still known. A service restarted afterwards gets a new start in
/// the table while the others keep theirs.
#[test]
fn analyze_after_a_hot_update_shows_the_same_times() {
    let fx = Fixture::new();
    timed(&fx, "a", "0.2", 0);
    timed(&fx, "b", "0.1", 0).needs("a");
    fx.service("init").needs("b");
    let c = fx.boot_ctl();
    c.wait_state_for("done", "init", BOOT);
    let before = ctl_ok(&c, &["analyze"]);
    let json_before = ctl_ok(&c, &["--json", "analyze"]);
    let out = c.ctl(&["update"]);
    c.check(
        out.code() == Some(0) && out.stdout.starts_with("updated: "),
        &out.dump(),
    );
    c.check(!c.console().contains("update: lost"), &c.console());
    let after = ctl_ok(&c, &["analyze"]);
    c.check(
        before == after,
        &format!("before:\n{before}\nafter:\n{after}"),
    );
    let strip_now = |j: &str| {
        let (head, now) = j.split_once("\"now_ms\":").unwrap();
        let (_, tail) = now.split_once(',').unwrap();
        format!("{head},{tail}")
    };
    let json_after = ctl_ok(&c, &["--json", "analyze"]);
    c.check(
        strip_now(&json_before) == strip_now(&json_after) && json_after.contains("\"started_ms\":"),
        &format!("{json_before}\n{json_after}"),
    );
    c.check(!json_after.contains("\"started_ms\":null"), &json_after);

    let old = parse_report(&after);
    ctl_ok(&c, &["restart", "b"]);
    let new = parse_report(&ctl_ok(&c, &["analyze"]));
    let (a0, b0) = (row(&c, &old, "a"), row(&c, &old, "b"));
    let (a1, b1) = (row(&c, &new, "a"), row(&c, &new, "b"));
    c.check(
        a0.start == a1.start && a0.ready == a1.ready,
        &format!("a moved: {old:#?} {new:#?}"),
    );
    c.check(
        b1.start > b0.ready && b1.waited == Some(0.0),
        &format!("b not restarted in a new cycle: {old:#?} {new:#?}"),
    );
}

/// Proves that ANALYZE is open to every local user, as the brief of the
/// protocol says: `analyze` and `graph` as uid 65534 inside the namespace
/// exit 0 with the table and the graph.
#[test]
fn an_unprivileged_user_may_analyze() {
    if !runs_as_root("runs cinit without a user namespace") {
        return;
    }
    let fx = Fixture::new();
    let exe = fx.ctl_for_others();
    fx.service("init");
    let c = fx.boot_ctl_real_root();
    c.wait_state_for("done", "init", BOOT);
    let out = c.ctl_in_ns_as(65534, &exe, &["analyze"]);
    c.check(
        out.code() == Some(0)
            && out.stdout.contains("critical chain")
            && out.stdout.contains(" init\n"),
        &out.dump(),
    );
    let out = c.ctl_in_ns_as(65534, &exe, &["graph"]);
    c.check(
        out.code() == Some(0) && out.stdout.contains("\"init\" [label="),
        &out.dump(),
    );
}

// ---------------------------------------------------------------------------
// The boot chart in a real browser
// ---------------------------------------------------------------------------

/// Proves that the boot chart of a running cinit is something a browser
/// draws as a chart: `cinit-ctl analyze --svg FILE --deps` on a tree with
/// running respawn services, a once service and one that fails after
/// 0.3 s is rendered by headless Chromium to a PNG of the SVG's size in
/// which thousands of pixels have the running colours (solid bar and up
/// band), the done colour and the failed colour, and the picture is far
/// from blank (many colours, much of it not white). Without Chromium the
/// test fails and says how to install it.
#[test]
fn the_boot_chart_renders_in_a_real_browser() {
    chart::chromium();
    let fx = Fixture::new();
    for (name, arg) in [("web", "1051"), ("db", "1052")] {
        fx.service(name)
            .script(&format!("exec sleep {arg}"))
            .respawn();
    }
    fx.service("web").needs("db");
    timed(&fx, "setup", "0.2", 0);
    fx.service("db").needs("setup");
    timed(&fx, "bad", "0.3", 1);
    fx.service("init").needs("web").wants("bad");
    let c = fx.boot_ctl();
    c.wait_state_for("done", "init", BOOT);
    c.wait_state_for("failed", "bad", BOOT);
    let svg = fx.path().join("chart.svg");
    let out = c.ctl(&["analyze", "--svg", svg.to_str().unwrap(), "--deps"]);
    c.check(
        out.code() == Some(0) && out.stderr.contains("boot chart written to"),
        &out.dump(),
    );
    let shot = chart::render(&svg, &fx.path().join("chart.png"));
    let colour = |s: &str| cinit::ctl::bootchart::state_colour(s);
    let counts = [
        ("running bar", shot.count(colour("running").solid)),
        ("running up band", shot.count(colour("running").light)),
        ("done bar", shot.count(colour("done").solid)),
        ("failed bar", shot.count(colour("failed").solid)),
    ];
    let white = shot.count("#ffffff");
    let total = shot.rgb.len();
    let summary = format!(
        "{counts:?}, white {white} of {total}, {} colours; chart {}",
        shot.colours(),
        svg.display()
    );
    // Two running services start and are up at once: their solid bars are
    // the 3 px minimum, their up bands long.
    let mut checks: Vec<(bool, String)> = counts
        .iter()
        .zip([40, 5_000, 300, 3_000])
        .map(|((what, n), min)| {
            (
                *n >= min,
                format!("fewer than {min} pixels for the {what}: {summary}"),
            )
        })
        .collect();
    checks.push((white < total * 9 / 10, format!("nearly blank: {summary}")));
    checks.push((shot.colours() >= 20, format!("too few colours: {summary}")));
    c.check_all(checks);
}
