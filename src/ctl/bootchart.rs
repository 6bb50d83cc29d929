//! `cinit-ctl analyze --svg`: the boot chart, a self-contained SVG drawing
//! of a [`Timeline`].
//!
//! Pure: a timeline in, text out. Layout, top to bottom: a title with the
//! totals, a legend, a time axis (seconds since cinit started, "nice" tick
//! steps, a light grid), and one row per service in the table's order
//! ([`crate::control::timeline::analyze`]), its name on the left. A row's bar has up
//! to three parts: a thin grey line while the service waited for its needs
//! and wants (requested → startable), a solid bar in the colour of its
//! state from its spawn until it came up (or ended, or now), and a light
//! band of the same colour for the time it has been up (ready → ended, or
//! the end of the axis). `+took` follows the solid part. Services on the
//! critical chain have bold names. With `deps`, arrows run from each
//! dependency's ready point to the dependent's startable point (needs
//! solid, wants dashed). Every service has a tooltip (`<title>`) with its
//! exact times.
//!
//! Text from outside (service names, states) is escaped for XML, and
//! characters XML cannot hold are replaced, so a name can never break the
//! document; long names are shortened in the name column (in full in the
//! tooltip). Nothing refers outside the file: no fonts, scripts or images.

use std::fmt::Write;

use crate::control::timeline::{analyze, held_up_by, took, Analysis};
use crate::proto::{Timeline, TimelineEntry};
use crate::sys::clock::seconds;
use crate::sys::console::one_line;
use px::Px;

/// The colours of one state: `solid` for its bar, `light` for its up band.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Colour {
    pub solid: &'static str,
    pub light: &'static str,
}

/// The palette, by state word (unknown words get a neutral grey).
pub fn state_colour(state: &str) -> Colour {
    let (solid, light) = match state {
        "running" => ("#2f9e44", "#b2f2bb"),
        "done" => ("#1c7ed6", "#a5d8ff"),
        "starting" => ("#f59f00", "#ffe8a3"),
        "waiting" => ("#adb5bd", "#e9ecef"),
        "failed" => ("#e03131", "#ffc9c9"),
        "need-failed" => ("#e8590c", "#ffd8a8"),
        "backoff" => ("#9c36b5", "#eebefa"),
        "stopping" => ("#a9713b", "#f1dcc6"),
        "stopped" => ("#868e96", "#dee2e6"),
        "skipped" => ("#0c8599", "#c5f6fa"),
        _ => ("#495057", "#ced4da"),
    };
    Colour { solid, light }
}

/// The order of the legend.
const LEGEND_STATES: [&str; 10] = [
    "running",
    "done",
    "starting",
    "waiting",
    "backoff",
    "stopping",
    "stopped",
    "failed",
    "need-failed",
    "skipped",
];

const ROW_H: u64 = 24;
const BAR_H: u64 = 14;
const CHART_W: u64 = 960;
const RIGHT: u64 = 90;
const HEADER_H: u64 = 106;
const AXIS_H: u64 = 26;
/// Average glyph width of the 12 px font, for the name column.
const CHAR_W: u64 = 7;
/// Longest name shown in full in the name column (in characters).
const NAME_CHARS: usize = 48;
const WAIT_COLOUR: &str = "#ced4da";
/// Arrows to the dependency a service waited for last, and to the others.
const ARROW_DARK: &str = "#343a40";
const ARROW_LIGHT: &str = "#adb5bd";

/// An arrowhead marker definition.
fn marker(id: &str, colour: &str) -> String {
    format!(
        "<marker id=\"{id}\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" \
         markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" \
         fill=\"{colour}\"/></marker>"
    )
}

/// Text for XML character data or an attribute value.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in one_line(s).chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Not an XML character (control characters were spelled out
            // by `one_line` already).
            '\u{fffe}' | '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// `name` cut to [`NAME_CHARS`] characters (never inside a character).
fn short(name: &str) -> String {
    let line = one_line(name);
    if line.chars().count() <= NAME_CHARS {
        return line.into_owned();
    }
    let head: String = line.chars().take(NAME_CHARS - 1).collect();
    format!("{head}…")
}

/// A tick step of 1, 2 or 5 times a power of ten milliseconds, giving at
/// most about ten ticks over `span`.
pub fn tick_step(span: u64) -> u64 {
    let mut step = 1u64;
    loop {
        for m in [1, 2, 5] {
            let s = step.saturating_mul(m);
            if span / s <= 10 || s == u64::MAX {
                return s;
            }
        }
        step = step.saturating_mul(10);
    }
}

/// A tick label: seconds with as many decimals as the step needs.
fn tick_label(at: u64, step: u64) -> String {
    let s = at / 1000;
    let ms = at % 1000;
    match step {
        0..=9 => format!("{s}.{ms:03}s"),
        10..=99 => format!("{s}.{:02}s", ms / 10),
        100..=999 => format!("{s}.{}s", ms / 100),
        _ => format!("{s}s"),
    }
}

/// Geometry shared by the drawing steps.
struct Frame {
    left: u64,
    /// Axis end, milliseconds since the origin.
    end: u64,
    /// The server's clock, milliseconds since the origin.
    now: u64,
    top: u64,
}

impl Frame {
    /// X of `t` milliseconds after the origin.
    fn x(&self, t: u64) -> f64 {
        let t = t.min(self.end) as f64;
        self.left as f64 + t * CHART_W as f64 / self.end.max(1) as f64
    }
    fn row_y(&self, row: usize) -> u64 {
        self.top + row as u64 * ROW_H
    }
}

/// Whether a service is still on its way (its bar runs until now).
fn unfinished(e: &TimelineEntry) -> bool {
    e.requested_ms.is_some() && e.ready_ms.is_none() && e.ended_ms.is_none()
}

/// The SVG boot chart of `t`; `deps` adds the dependency arrows.
pub fn to_svg(t: &Timeline, deps: bool) -> String {
    let a = analyze(t);
    let list = &t.services;
    let rows: Vec<&TimelineEntry> = a.order.iter().filter_map(|&i| list.get(i)).collect();
    let last_event = rows
        .iter()
        .flat_map(|e| {
            [
                e.requested_ms,
                e.startable_ms,
                e.spawned_ms,
                e.ready_ms,
                e.ended_ms,
            ]
        })
        .flatten()
        .map(|v| a.rel(v))
        .max()
        .unwrap_or(0);
    let now = a.rel(t.now_ms);
    let span = if rows.iter().any(|e| unfinished(e)) {
        last_event.max(now)
    } else {
        last_event
    };
    // A little room after the last event, and at least 10 ms of axis.
    let end = (span + span / 20).max(10);
    let longest = rows
        .iter()
        .map(|e| short(&e.name).chars().count())
        .max()
        .unwrap_or(8) as u64;
    let frame = Frame {
        left: 24 + longest.max(8) * CHAR_W,
        end,
        now,
        top: HEADER_H + AXIS_H,
    };
    let width = frame.left + CHART_W + RIGHT;
    let height = frame.top + rows.len().max(1) as u64 * ROW_H + 36;
    let mut out = String::with_capacity(2048 + rows.len() * 600);
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" font-family=\"DejaVu Sans, Liberation Sans, Arial, \
         Helvetica, sans-serif\" font-size=\"12\">\n\
         <style>.name{{fill:#212529}} .crit{{font-weight:bold}} .tick{{fill:#495057;font-size:11px}} \
         .took{{fill:#343a40;font-size:11px}} .sub{{fill:#495057}}</style>\n\
         <defs>{}{}</defs>\n\
         <rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n",
        marker("arrow", ARROW_DARK),
        marker("arrow-light", ARROW_LIGHT)
    );
    header(&mut out, t, &a, &rows, deps);
    axis(&mut out, &frame, rows.len());
    let mut on_chain = vec![false; list.len()];
    for &i in &a.chain {
        if let Some(c) = on_chain.get_mut(i) {
            *c = true;
        }
    }
    for (row, &i) in a.order.iter().enumerate() {
        if let Some(e) = list.get(i) {
            let crit = on_chain.get(i).copied().unwrap_or(false);
            bar(&mut out, &frame, &a, row, e, crit);
        }
    }
    if deps {
        arrows(&mut out, &frame, &a, list);
    }
    out.push_str("</svg>\n");
    out
}

fn header(out: &mut String, t: &Timeline, a: &Analysis, rows: &[&TimelineEntry], deps: bool) {
    let _ = writeln!(
        out,
        "<text x=\"16\" y=\"28\" font-size=\"20\" font-weight=\"bold\" fill=\"#212529\">\
         cinit boot chart</text>"
    );
    let mut sub = format!("{} services", rows.len());
    if let Some(s) = t.started_ms {
        let _ = write!(sub, " · cinit started {} after boot", seconds(s));
    }
    if let Some(last) = a.last_up.and_then(|i| t.services.get(i)) {
        let _ = write!(
            sub,
            " · last up at +{} ({})",
            seconds(a.rel(last.ready_ms.unwrap_or(a.origin))),
            short(&last.name)
        );
    }
    let failed = rows
        .iter()
        .filter(|e| matches!(e.state.as_str(), "failed" | "need-failed"))
        .count();
    if failed > 0 {
        let _ = write!(sub, " · {failed} failed");
    }
    let _ = writeln!(
        out,
        "<text x=\"16\" y=\"50\" class=\"sub\">{}</text>",
        xml_escape(&sub)
    );
    // The legend: the states present (all of them if none is), then the
    // parts of a bar.
    let present: Vec<&str> = LEGEND_STATES
        .iter()
        .copied()
        .filter(|s| rows.iter().any(|e| e.state == *s))
        .collect();
    let states = if present.is_empty() {
        LEGEND_STATES.to_vec()
    } else {
        present
    };
    let mut x = 16u64;
    let y = 64u64;
    for s in states {
        let c = state_colour(s);
        let _ = writeln!(
            out,
            "<rect x=\"{x}\" y=\"{y}\" width=\"12\" height=\"12\" fill=\"{}\"/>\
             <rect x=\"{}\" y=\"{y}\" width=\"12\" height=\"12\" fill=\"{}\"/>\
             <text x=\"{}\" y=\"{}\">{s}</text>",
            c.solid,
            x + 12,
            c.light,
            x + 30,
            y + 10
        );
        x += 30 + s.len() as u64 * CHAR_W + 14;
    }
    // Second line: the parts of a bar, and the arrows.
    let (mut x, y) = (16u64, y + 20);
    let _ = writeln!(
        out,
        "<line x1=\"{x}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{WAIT_COLOUR}\" stroke-width=\"4\"/>\
         <text x=\"{}\" y=\"{}\">waiting for needs/wants</text>\
         <text x=\"{}\" y=\"{}\" class=\"sub\">solid: spawned until ready · light: up · \
         bold: critical chain</text>",
        y + 6,
        x + 20,
        y + 6,
        x + 26,
        y + 10,
        x + 26 + 26 * CHAR_W,
        y + 10
    );
    x += 26 + 26 * CHAR_W + 60 * CHAR_W;
    if deps {
        let yy = y + 6;
        let _ = writeln!(
            out,
            "<line x1=\"{x}\" y1=\"{yy}\" x2=\"{}\" y2=\"{yy}\" stroke=\"{ARROW_DARK}\" \
             marker-end=\"url(#arrow)\"/><text x=\"{}\" y=\"{}\">needs</text>\
             <line x1=\"{}\" y1=\"{yy}\" x2=\"{}\" y2=\"{yy}\" stroke=\"{ARROW_DARK}\" \
             stroke-dasharray=\"4 3\" marker-end=\"url(#arrow)\"/><text x=\"{}\" y=\"{}\">wants</text>\
             <text x=\"{}\" y=\"{}\" class=\"sub\">dark: what it waited for last</text>",
            x + 24,
            x + 30,
            y + 10,
            x + 80,
            x + 104,
            x + 110,
            y + 10,
            x + 160,
            y + 10
        );
    }
}

fn axis(out: &mut String, f: &Frame, rows: usize) {
    let bottom = f.row_y(rows.max(1));
    // Row stripes first, so the grid and bars lie on top.
    for row in 0..rows {
        if row % 2 == 1 {
            let _ = writeln!(
                out,
                "<rect x=\"0\" y=\"{}\" width=\"100%\" height=\"{ROW_H}\" fill=\"#f3f5f7\"/>",
                f.row_y(row)
            );
        }
    }
    let step = tick_step(f.end);
    let mut at = 0;
    while at <= f.end {
        let x = Px(f.x(at));
        let _ = writeln!(
            out,
            "<line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{bottom}\" stroke=\"#dee2e6\"/>\
             <text x=\"{x}\" y=\"{}\" text-anchor=\"middle\" class=\"tick\">{}</text>",
            f.top - 6,
            f.top - 10,
            tick_label(at, step)
        );
        at = at.saturating_add(step);
        if step == 0 {
            break;
        }
    }
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"{}\" class=\"tick\">seconds since cinit started</text>",
        f.left,
        bottom + 20
    );
    if f.now <= f.end {
        let x = Px(f.x(f.now));
        let _ = writeln!(
            out,
            "<line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{bottom}\" stroke=\"#495057\" \
             stroke-dasharray=\"2 3\"/><text x=\"{x}\" y=\"{}\" class=\"tick\" \
             text-anchor=\"middle\">now</text>",
            f.top - 4,
            bottom + 14
        );
    }
}

/// One service's row: name, waiting line, solid bar, up band, `+took`.
fn bar(out: &mut String, f: &Frame, a: &Analysis, row: usize, e: &TimelineEntry, on_chain: bool) {
    let y = f.row_y(row);
    let c = state_colour(&e.state);
    let rel = |v: Option<u64>| v.map(|v| a.rel(v));
    let (requested, startable, spawned, ready, ended) = (
        rel(e.requested_ms),
        rel(e.startable_ms),
        rel(e.spawned_ms),
        rel(e.ready_ms),
        rel(e.ended_ms),
    );
    let _ = writeln!(out, "<g><title>{}</title>", tooltip(a, e));
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" class=\"name{}\">{}</text>",
        f.left - 10,
        y + ROW_H / 2 + 4,
        if on_chain { " crit" } else { "" },
        xml_escape(&short(&e.name))
    );
    let mid = y + ROW_H / 2;
    let bar_y = mid - BAR_H / 2;
    // Waiting for needs and wants: requested until startable (or until it
    // ended, or now, if it never became startable).
    if let Some(r) = requested {
        let until = startable.or(ended).unwrap_or(f.end);
        if until > r {
            let _ = writeln!(
                out,
                "<line x1=\"{}\" y1=\"{mid}\" x2=\"{}\" y2=\"{mid}\" stroke=\"{WAIT_COLOUR}\" \
                 stroke-width=\"4\"/>",
                Px(f.x(r)),
                Px(f.x(until))
            );
        }
    }
    // Up: from ready until it ended, or the end of the axis.
    if let Some(r) = ready {
        let until = ended.unwrap_or(f.end);
        let (x1, x2) = (f.x(r), f.x(until));
        if x2 > x1 {
            let _ = writeln!(
                out,
                "<rect x=\"{}\" y=\"{bar_y}\" width=\"{}\" height=\"{BAR_H}\" \
                 fill=\"{}\"/>",
                Px(x1),
                Px(x2 - x1),
                c.light
            );
        }
    }
    // Spawned until ready (or ended, or still going): the solid part, at
    // least 3 px wide so an instant start still shows.
    let solid_end = match (spawned, ready.or(ended)) {
        (Some(s), Some(r)) => Some((s, r)),
        (Some(s), None) => Some((s, f.now.max(s))),
        (None, _) => None,
    };
    let mut label_x = None;
    if let Some((s, r)) = solid_end {
        let x1 = f.x(s);
        let w = (f.x(r) - x1).max(3.0);
        let _ = writeln!(
            out,
            "<rect x=\"{}\" y=\"{bar_y}\" width=\"{}\" height=\"{BAR_H}\" rx=\"2\" \
             fill=\"{}\"/>",
            Px(x1),
            Px(w),
            c.solid
        );
        label_x = Some(x1 + w);
    } else if let Some(end) = ended {
        // Never spawned (need-failed, or stopped while waiting): a mark
        // where it ended.
        let x = f.x(end);
        let _ = writeln!(
            out,
            "<rect x=\"{}\" y=\"{bar_y}\" width=\"6\" height=\"{BAR_H}\" fill=\"{}\"/>",
            Px(x - 3.0),
            c.solid
        );
        label_x = Some(x + 3.0);
    }
    // `+0.000s` (a respawn service is up when spawned) would only be noise.
    if let (Some(x), Some(ms)) = (label_x, took(e).filter(|&ms| ms > 0)) {
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" class=\"took\">+{}</text>",
            Px(x + 4.0),
            mid + 4,
            seconds(ms)
        );
    }
    out.push_str("</g>\n");
}

/// The tooltip of a row, escaped for XML: name and state on the first
/// line, the times on the second.
fn tooltip(a: &Analysis, e: &TimelineEntry) -> String {
    let at = |v: Option<u64>| v.map_or_else(|| "-".to_string(), |v| seconds(a.rel(v)));
    format!(
        "{} ({}{})\nrequested {} · startable {} · spawned {} · ready {} · ended {} · took {}",
        xml_escape(&e.name),
        xml_escape(&e.state),
        if e.respawn { ", respawn" } else { "" },
        at(e.requested_ms),
        at(e.startable_ms),
        at(e.spawned_ms),
        at(e.ready_ms),
        at(e.ended_ms),
        took(e).map_or_else(|| "-".to_string(), seconds)
    )
}

/// Arrows from each dependency's ready point to its dependent's startable
/// point, for the services that have rows: light ones first, then on top
/// the dark ones, to the dependency each service waited for last.
fn arrows(out: &mut String, f: &Frame, a: &Analysis, list: &[TimelineEntry]) {
    let mut row_of = vec![None; list.len()];
    for (row, &i) in a.order.iter().enumerate() {
        if let Some(slot) = row_of.get_mut(i) {
            *slot = Some(row);
        }
    }
    // (path data, a want, what it waited for last)
    let mut paths: Vec<(String, bool, bool)> = Vec::new();
    for (row, &i) in a.order.iter().enumerate() {
        let Some(e) = list.get(i) else { continue };
        let Some(to_t) = e.startable_ms.map(|v| a.rel(v)) else {
            continue;
        };
        let last = held_up_by(list, i);
        let deps = e
            .needs
            .iter()
            .map(|&d| (d, true))
            .chain(e.wants.iter().map(|&d| (d, false)));
        for (d, is_need) in deps {
            let (Some(dep), Some(Some(dep_row))) = (list.get(d), row_of.get(d)) else {
                continue;
            };
            let from = if is_need {
                dep.ready_ms
            } else {
                dep.ready_ms.or(dep.ended_ms)
            };
            let Some(from_t) = from.map(|v| a.rel(v)) else {
                continue;
            };
            let (x1, y1) = (f.x(from_t), f.row_y(*dep_row) + ROW_H / 2);
            let (x2, y2) = (f.x(to_t), f.row_y(row) + ROW_H / 2);
            let bend = ((x2 - x1).abs() / 2.0).max(12.0);
            let path = format!(
                "M{},{y1} C{},{y1} {},{y2} {},{y2}",
                Px(x1),
                Px(x1 + bend),
                Px(x2 - bend),
                Px(x2)
            );
            paths.push((path, !is_need, last == Some(d)));
        }
    }
    for dark in [false, true] {
        let (colour, width, marker) = if dark {
            (ARROW_DARK, "1.4", "arrow")
        } else {
            (ARROW_LIGHT, "1", "arrow-light")
        };
        let _ = writeln!(
            out,
            "<g fill=\"none\" stroke=\"{colour}\" stroke-width=\"{width}\">"
        );
        for (path, dashed, _) in paths.iter().filter(|p| p.2 == dark) {
            let _ = writeln!(
                out,
                "<path d=\"{path}\"{} marker-end=\"url(#{marker})\"/>",
                if *dashed {
                    " stroke-dasharray=\"4 3\""
                } else {
                    ""
                }
            );
        }
        out.push_str("</g>\n");
    }
}

mod px;

#[cfg(test)]
mod tests;
