//! `cinit-ctl graph`: the needs/wants graph in Graphviz DOT.
//!
//! Pure: a [`Timeline`] in, text out. One node per loaded service, labelled
//! with its name and state and filled with the state's colour (the boot
//! chart's palette, lightened); one edge from each service to each of its
//! dependencies, as `systemd-analyze dot` draws them: needs solid, wants
//! dashed. Every name is written as a quoted DOT string with `"` and `\`
//! escaped and control characters spelled out, so no name can end the
//! string or inject a statement; a reference to a service that is not in
//! the timeline is left out.

use std::fmt::Write;

use crate::ctl::bootchart::state_colour;
use crate::proto::Timeline;
use crate::sys::console::one_line;

/// The inside of a quoted DOT string holding `s`.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in one_line(s).chars() {
        if matches!(ch, '"' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// `s` as a quoted DOT string.
pub fn quote(s: &str) -> String {
    format!("\"{}\"", escape(s))
}

/// The graph of `t` as a DOT `digraph`.
pub fn to_dot(t: &Timeline) -> String {
    let list = &t.services;
    let mut out = String::from(
        "digraph cinit {\n  rankdir=LR;\n  node [shape=box, style=\"rounded,filled\", \
         fontname=\"sans-serif\", fontsize=11];\n  edge [color=\"#555555\"];\n",
    );
    // Writing to a String cannot fail.
    for e in list {
        // `\n` in a label is DOT's line break.
        let _ = writeln!(
            out,
            "  {} [label=\"{}\\n{}\", fillcolor=\"{}\"];",
            quote(&e.name),
            escape(&e.name),
            escape(&e.state),
            state_colour(&e.state).light
        );
    }
    for e in list {
        for (deps, style) in [(&e.needs, ""), (&e.wants, " [style=dashed]")] {
            for d in deps.iter().filter_map(|&d| list.get(d)) {
                let _ = writeln!(out, "  {} -> {}{style};", quote(&e.name), quote(&d.name));
            }
        }
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::TimelineEntry;

    fn svc(name: &str, state: &str, needs: Vec<usize>, wants: Vec<usize>) -> TimelineEntry {
        TimelineEntry {
            name: name.into(),
            state: state.into(),
            needs,
            wants,
            ..TimelineEntry::default()
        }
    }

    #[test]
    fn needs_are_solid_wants_dashed_and_every_service_a_node() {
        let t = Timeline {
            started_ms: None,
            now_ms: 0,
            services: vec![
                svc("init", "done", vec![1], vec![2, 9]),
                svc("net/eth0", "running", vec![], vec![]),
                svc("opt", "failed", vec![], vec![]),
            ],
        };
        let dot = to_dot(&t);
        assert!(dot.starts_with("digraph cinit {\n"), "{dot}");
        assert!(dot.ends_with("}\n"), "{dot}");
        let edges: Vec<&str> = dot.lines().filter(|l| l.contains("->")).collect();
        assert_eq!(
            edges,
            [
                "  \"init\" -> \"net/eth0\";",
                "  \"init\" -> \"opt\" [style=dashed];"
            ]
        );
        assert!(dot.contains("  \"init\" [label=\"init\\ndone\", fillcolor=\""));
        assert!(dot.contains("  \"opt\" [label=\"opt\\nfailed\""));
        assert_eq!(dot.lines().filter(|l| l.contains("[label=")).count(), 3);
    }

    #[test]
    fn names_cannot_break_out_of_their_strings() {
        assert_eq!(quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(quote("x\ny"), "\"x\\\\ny\"");
        let t = Timeline {
            started_ms: None,
            now_ms: 0,
            services: vec![svc("evil\"; x -> y; \"", "done", vec![0], vec![])],
        };
        let dot = to_dot(&t);
        let q = "\"evil\\\"; x -> y; \\\"\"";
        let lines: Vec<&str> = dot.lines().collect();
        // Header (4 lines), one node, one edge (the self-reference), `}`:
        // nothing injected.
        assert_eq!(lines.len(), 7, "{dot}");
        assert!(lines[4].starts_with(&format!("  {q} [label=")), "{dot}");
        assert_eq!(lines[5], format!("  {q} -> {q};"), "{dot}");
    }
}
