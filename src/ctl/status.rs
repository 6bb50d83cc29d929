//! `cinit-ctl status`: one service per line for people, or a JSON array.

use std::fmt::Write;

use crate::proto::json::string as json_string;
use crate::proto::ServiceInfo;
use crate::sys::console::one_line;

pub fn json_service(s: &ServiceInfo) -> String {
    let opt = |v: Option<String>| v.unwrap_or_else(|| "null".to_string());
    format!(
        "{{\"name\":{},\"state\":{},\"pid\":{},\"since_ms\":{},\"restarts\":{},\"reason\":{},\"respawn\":{}}}",
        json_string(&s.name),
        json_string(&s.state),
        opt(s.pid.map(|p| p.to_string())),
        s.since_ms,
        s.restarts,
        opt(s.reason.as_deref().map(json_string)),
        s.respawn
    )
}

pub fn print_json(list: &[ServiceInfo]) {
    let items: Vec<String> = list.iter().map(json_service).collect();
    println!("[{}]", items.join(","));
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
    if let Some(reason) = &s.reason {
        let _ = write!(line, ": {}", one_line(reason));
    }
    line
}

pub fn up(s: &ServiceInfo) -> bool {
    matches!(s.state.as_str(), "running" | "done")
}
