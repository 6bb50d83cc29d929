//! `cinit-ctl status`: one service per line for people, or a JSON array;
//! with the figures of each service's cgroup where cinit has cgroups
//! ([`super::cgstats`]).

use std::fmt::Write;

use super::cgstats::Stats;
use crate::proto::json::string as json_string;
use crate::proto::ServiceInfo;
use crate::sys::console::one_line;

/// One service as a JSON object; with `stats`, its cgroup figures too
/// (`memory_bytes`, `memory_peak_bytes`, `cpu_usec`, `tasks`).
pub fn json_service(s: &ServiceInfo, stats: Option<&Stats>) -> String {
    let opt = |v: Option<String>| v.unwrap_or_else(|| "null".to_string());
    format!(
        "{{\"name\":{},\"state\":{},\"pid\":{},\"since_ms\":{},\"restarts\":{},\"reason\":{},\"respawn\":{}{}{}}}",
        json_string(&s.name),
        json_string(&s.state),
        opt(s.pid.map(|p| p.to_string())),
        s.since_ms,
        s.restarts,
        opt(s.reason.as_deref().map(json_string)),
        s.respawn,
        notify_members(s),
        stats.map(Stats::json_members).unwrap_or_default()
    )
}

/// sd_notify's members of a service's JSON object (`status_text`,
/// `notify`), only for a service that said something.
fn notify_members(s: &ServiceInfo) -> String {
    let mut out = String::new();
    for (key, value) in [("status_text", &s.status_text), ("notify", &s.notify)] {
        if let Some(v) = value {
            let _ = write!(out, ",\"{key}\":{}", json_string(v));
        }
    }
    out
}

/// The list as a JSON array; with `stats` (one per service, `status`),
/// each with its cgroup figures.
pub fn print_json(list: &[ServiceInfo], stats: Option<&[Stats]>) {
    let items: Vec<String> = list
        .iter()
        .enumerate()
        .map(|(i, s)| json_service(s, stats.and_then(|st| st.get(i))))
        .collect();
    println!("[{}]", items.join(","));
}

/// The cgroup figures of each service of `list`, below the base cinit
/// named in the control directory `ctl`; none known (every JSON member
/// `null`) when cinit has no cgroups.
pub fn stats_of(ctl: &std::path::Path, list: &[ServiceInfo]) -> Vec<Stats> {
    let base = super::cgstats::base(ctl);
    list.iter()
        .map(|s| match &base {
            Some(b) => super::cgstats::of_service(b, &s.name),
            None => Stats::default(),
        })
        .collect()
}

/// [`describe`] and, where known, the service's cgroup figures.
pub fn describe_with(s: &ServiceInfo, stats: Option<&Stats>) -> String {
    let mut line = describe(s);
    if let Some(figures) = stats.map(Stats::describe).filter(|f| !f.is_empty()) {
        line.push_str("; ");
        line.push_str(&figures);
    }
    line
}

pub fn secs(ms: u64) -> String {
    format!("{}.{:01}s", ms / 1000, (ms % 1000) / 100)
}

/// One human-readable status line. Names and reasons are bytes from the
/// file system: control characters in them are escaped (as on the console),
/// so every service is exactly one line.
pub fn describe(s: &ServiceInfo) -> String {
    // Writing to a String cannot fail.
    let mut line = format!("{}: {}", one_line(&s.name), s.state);
    if let Some(pid) = s.pid {
        let _ = write!(line, ", pid {pid}");
    }
    let _ = write!(line, ", for {}", secs(s.since_ms));
    if s.restarts > 0 {
        let _ = write!(line, ", {} restarts", s.restarts);
    }
    // sd_notify: what the service says of itself.
    if let Some(words) = &s.notify {
        let _ = write!(line, ", {}", one_line(words));
    }
    if let Some(text) = &s.status_text {
        let _ = write!(line, ", status \"{}\"", one_line(text));
    }
    if let Some(reason) = &s.reason {
        let _ = write!(line, ": {}", one_line(reason));
    }
    line
}

/// Up, for `wait` and `start`: running, done, or skipped (its condition
/// did not hold, which counts as done).
pub fn up(s: &ServiceInfo) -> bool {
    matches!(s.state.as_str(), "running" | "done" | "skipped")
}
