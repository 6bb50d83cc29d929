//! Unit tests of the boot chart: well-formed, escaped, bars where the
//! times say, colours by state, arrows on request.

use super::*;
use crate::control::timeline::tests::entry;

/// cinit started at 1000; `app` (running) needs `db` (done, up at 1400)
/// and wants `opt` (failed at 1500, so app starts then); `web` is
/// need-failed on `opt`.
fn sample() -> Timeline {
    let s = Some;
    let mut app = entry("app", "running", [s(1010), s(1500), s(1500), s(1500), None]);
    app.respawn = true;
    app.needs = vec![1];
    app.wants = vec![2];
    let db = entry("db", "done", [s(1010), s(1010), s(1010), s(1400), None]);
    let opt = entry("opt", "failed", [s(1010), s(1010), s(1010), None, s(1500)]);
    let mut web = entry("web", "need-failed", [s(1010), None, None, None, s(1500)]);
    web.needs = vec![2];
    Timeline {
        started_ms: Some(1000),
        now_ms: 1700,
        services: vec![app, db, opt, web],
    }
}

/// Checks that `svg` is well-formed XML as far as tags go: every `<`
/// opens a tag, tags nest and close, no `&` outside an entity.
fn assert_well_formed(svg: &str) {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = svg;
    while let Some((text, opened)) = rest.split_once('<') {
        assert_entities(text);
        let (tag, after) = opened.split_once('>').expect("unclosed tag");
        assert!(!tag.contains('<'), "'<' inside a tag: {tag}");
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop().as_deref(), Some(name.trim()), "at {tag}");
        } else if !tag.ends_with('/') {
            let name = tag.split_whitespace().next().unwrap().to_string();
            stack.push(name);
        }
        // Attribute values: quoted, no raw '<' (checked), entities valid.
        assert_entities(tag);
        rest = after;
    }
    assert!(stack.is_empty(), "unclosed: {stack:?}");
    assert!(rest.trim().is_empty());
}

fn assert_entities(text: &str) {
    for ent in text.split('&').skip(1) {
        assert!(
            ["amp;", "lt;", "gt;", "quot;", "apos;"]
                .iter()
                .any(|e| ent.starts_with(e)),
            "bare & in {text:?}"
        );
    }
}

/// The `x` attribute of the first solid bar of a colour after `name`'s
/// label.
fn solid_x(svg: &str, name: &str, colour: &str) -> f64 {
    let label = format!(">{name}</text>");
    let (head, after_label) = svg.split_once(&label).unwrap();
    let (between, _) = after_label
        .split_once(&format!("rx=\"2\" fill=\"{colour}\""))
        .unwrap();
    // The last rectangle that starts before that fill, label or not.
    let before_fill = format!("{head}{label}{between}");
    let (_, x) = before_fill.rsplit_once("<rect x=\"").unwrap();
    x.split_once('"').unwrap().0.parse().unwrap()
}

#[test]
fn the_chart_is_well_formed_and_self_contained() {
    for deps in [false, true] {
        let svg = to_svg(&sample(), deps);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.ends_with("</svg>\n"));
        assert_well_formed(&svg);
        assert!(!svg.contains("href"), "nothing may refer outside the file");
        assert!(!svg.contains("<script"));
    }
    assert_well_formed(&to_svg(&Timeline::default(), true));
}

#[test]
fn bars_are_coloured_by_state_and_placed_by_time() {
    let svg = to_svg(&sample(), false);
    // db: solid done bar from its spawn, then the light "up" band.
    let db = solid_x(&svg, "db", state_colour("done").solid);
    let app = solid_x(&svg, "app", state_colour("running").solid);
    let opt = solid_x(&svg, "opt", state_colour("failed").solid);
    assert!(db < app, "{db} {app}");
    assert!((db - opt).abs() < 0.01, "spawned together");
    assert!(svg.contains(&format!("fill=\"{}\"", state_colour("running").light)));
    assert!(svg.contains(&format!("fill=\"{}\"", state_colour("done").light)));
    // web never ran: a mark in the need-failed colour where it ended.
    assert!(svg.contains(&format!(
        "width=\"6\" height=\"14\" fill=\"{}\"",
        state_colour("need-failed").solid
    )));
    // +took after the bars; the legend names the states present.
    assert!(svg.contains(">+0.390s</text>"), "db took 390 ms");
    assert!(svg.contains(">+0.490s</text>"), "opt failed after 490 ms");
    for s in ["running", "done", "failed", "need-failed"] {
        assert!(svg.contains(&format!(">{s}</text>")), "{s} in the legend");
    }
    assert!(!svg.contains(">backoff</text>"));
    // The critical chain (app <- opt, which settled last) in bold.
    assert!(svg.contains("class=\"name crit\">app</text>"));
    assert!(svg.contains("class=\"name crit\">opt</text>"));
    assert!(svg.contains("class=\"name\">db</text>"));
}

#[test]
fn bar_positions_are_proportional_to_time() {
    let svg = to_svg(&sample(), false);
    let db = solid_x(&svg, "db", state_colour("done").solid);
    let app = solid_x(&svg, "app", state_colour("running").solid);
    // Axis: 0 .. 500 ms (the last event) + 5% over CHART_W px; db spawned
    // at 10 ms, app at 500 ms.
    let px_per_ms = CHART_W as f64 / 525.0;
    assert!(((app - db) - 490.0 * px_per_ms).abs() < 0.2, "{db} {app}");
}

#[test]
fn arrows_go_from_each_dependency_to_its_dependent_needs_solid_wants_dashed() {
    let arrows_of = |svg: &str| -> Vec<String> {
        svg.lines()
            .filter(|l| l.starts_with("<path d=\"M") && l.contains(" C"))
            .map(str::to_string)
            .collect()
    };
    assert!(arrows_of(&to_svg(&sample(), false)).is_empty());
    let svg = to_svg(&sample(), true);
    let arrows = arrows_of(&svg);
    // app needs db (ready) and wants opt (ended); web never became
    // startable, so its need has no arrow.
    assert_eq!(arrows.len(), 2, "{arrows:#?}");
    assert_eq!(
        arrows
            .iter()
            .filter(|l| l.contains("stroke-dasharray"))
            .count(),
        1
    );
    assert!(svg.contains(">needs</text>") && svg.contains(">wants</text>"));
}

#[test]
fn names_are_escaped_shortened_and_kept_in_full_in_the_tooltip() {
    let mut t = sample();
    t.services[0].name = "a<b>&\"c'\u{ffff}\n".into();
    t.services[1].name = format!("long/{}", "x".repeat(80));
    let svg = to_svg(&t, true);
    assert_well_formed(&svg);
    assert!(
        svg.contains(">a&lt;b&gt;&amp;&quot;c&apos;\u{fffd}\\n</text>"),
        "{svg}"
    );
    assert!(svg.contains(&format!(">long/{}…</text>", "x".repeat(NAME_CHARS - 6))));
    assert!(svg.contains(&format!(
        "<title>long/{} (done)\nrequested ",
        "x".repeat(80)
    )));
    assert!(svg.contains("<title>a&lt;b&gt;&amp;&quot;c&apos;\u{fffd}\\n (running, respawn)\n"));
}

#[test]
fn ticks_take_nice_steps_and_labels_as_many_decimals_as_needed() {
    assert_eq!(tick_step(10), 1);
    assert_eq!(tick_step(100), 10);
    assert_eq!(tick_step(735), 100);
    assert_eq!(tick_step(1_001), 100);
    assert_eq!(tick_step(1_100), 200);
    assert_eq!(tick_step(5_000), 500);
    assert_eq!(tick_step(60_000), 10_000);
    assert_eq!(tick_step(u64::MAX), 2_000_000_000_000_000_000);
    assert_eq!(tick_label(1_234, 1), "1.234s");
    assert_eq!(tick_label(1_230, 10), "1.23s");
    assert_eq!(tick_label(1_200, 100), "1.2s");
    assert_eq!(tick_label(2_000, 1_000), "2s");
}

#[test]
fn a_service_still_starting_runs_until_now() {
    let mut t = sample();
    // db still starting at now (1700): its solid bar ends there, and the
    // axis reaches now.
    t.services[1].state = "starting".into();
    t.services[1].ready_ms = None;
    t.now_ms = 3000;
    let svg = to_svg(&t, false);
    assert!(svg.contains(">now</text>"));
    assert!(svg.contains(">2.0s</text>"), "the axis goes past 2 s");
    let _ = solid_x(&svg, "db", state_colour("starting").solid);
}

/// Proves every state word the engine has, `skipped` included, has a
/// colour of its own (none falls to the grey of unknown words) and a
/// place in the legend.
#[test]
fn every_state_has_its_colour_and_legend() {
    let unknown = state_colour("no-such-state");
    for st in crate::engine::state::State::ALL {
        let w = st.word();
        assert_ne!(state_colour(w), unknown, "{w}");
        assert!(LEGEND_STATES.contains(&w), "{w} is in the legend");
    }
}
