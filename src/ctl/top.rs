//! `cinit-ctl top`: one screen of services with their cgroup figures
//! ([`super::cgstats`]), the most memory first (or the most CPU time,
//! `--cpu`), again every `-n` seconds (the screen cleared between).
//!
//! The list is `status`'s (one request); the figures are read by the
//! client from each service's cgroup, so PID 1 serves `top` as it serves
//! `status`. Services without figures (not running, no cgroup) are left
//! out; without cgroups at all there is nothing to show (exit 1).

use std::fmt::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use super::cgstats::{self, cpu_seconds, Stats};
use super::client::request;
use crate::proto::json::string as json_string;
use crate::proto::{Reply, Request, ServiceInfo};
use crate::sys::cgroup::parse::human_bytes;
use crate::sys::console::one_line;

/// One row: a service and its figures.
pub type Row<'a> = (&'a ServiceInfo, Stats);

/// The rows with any figure, the largest first: by memory, or by CPU time
/// (`by_cpu`); ties by name.
pub fn order<'a>(rows: Vec<Row<'a>>, by_cpu: bool) -> Vec<Row<'a>> {
    let mut rows: Vec<Row> = rows
        .into_iter()
        .filter(|(_, s)| *s != Stats::default())
        .collect();
    rows.sort_by(|a, b| {
        let key = |s: &Stats| {
            if by_cpu {
                (s.cpu_usec, s.memory)
            } else {
                (s.memory, s.cpu_usec)
            }
        };
        key(&b.1)
            .cmp(&key(&a.1))
            .then_with(|| a.0.name.cmp(&b.0.name))
    });
    rows
}

/// The screen: a header and a line per row.
pub fn screen(rows: &[Row]) -> String {
    let dash = || "-".to_string();
    let mut out = format!(
        "{:<24} {:<9} {:>7} {:>8} {:>8} {:>10} {:>6}\n",
        "NAME", "STATE", "PID", "MEMORY", "PEAK", "CPU", "TASKS"
    );
    for (s, st) in rows {
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "{:<24} {:<9} {:>7} {:>8} {:>8} {:>10} {:>6}",
            one_line(&s.name),
            s.state,
            s.pid.map_or_else(dash, |p| p.to_string()),
            st.memory.map_or_else(dash, human_bytes),
            st.memory_peak.map_or_else(dash, human_bytes),
            st.cpu_usec.map_or_else(dash, cpu_seconds),
            st.tasks.map_or_else(dash, |t| t.to_string()),
        );
    }
    out
}

/// The rows as a JSON array of `{"name", "state", "pid", …figures}`.
pub fn json(rows: &[Row]) -> String {
    let items: Vec<String> = rows
        .iter()
        .map(|(s, st)| {
            format!(
                "{{\"name\":{},\"state\":{},\"pid\":{}{}}}",
                json_string(&s.name),
                json_string(&s.state),
                s.pid.map_or_else(|| "null".to_string(), |p| p.to_string()),
                st.json_members()
            )
        })
        .collect();
    format!("[{}]", items.join(","))
}

/// Run `top`: ask `socket` for the services, read their figures below
/// the base named in the control directory `ctl`, print; every `every`
/// seconds again if given (until interrupted).
pub fn run(socket: &Path, ctl: &Path, by_cpu: bool, every: Option<u32>, as_json: bool) -> ExitCode {
    let Some(base) = cgstats::base(ctl) else {
        eprintln!("cinit-ctl: cinit has no cgroups here: no figures to show");
        return ExitCode::from(1);
    };
    loop {
        let list = match request(
            socket,
            &Request::Status { names: vec![] },
            Some(Duration::from_secs(10)),
        ) {
            Ok(Reply::Services(list) | Reply::Status { services: list, .. }) => list,
            Ok(other) => {
                eprintln!("cinit-ctl: unexpected reply: {other:?}");
                return ExitCode::from(3);
            }
            Err(e) => {
                eprintln!("cinit-ctl: {e}");
                return ExitCode::from(3);
            }
        };
        let rows = list
            .iter()
            .map(|s| (s, cgstats::of_service(&base, &s.name)))
            .collect();
        let rows = order(rows, by_cpu);
        let text = if as_json {
            json(&rows) + "\n"
        } else {
            screen(&rows)
        };
        let Some(secs) = every else {
            print!("{text}");
            return ExitCode::SUCCESS;
        };
        // Home and clear, then the screen: one write, no flicker of a
        // half-drawn list.
        print!("\x1b[H\x1b[2J{text}");
        let _ = std::io::Write::flush(&mut std::io::stdout());
        std::thread::sleep(Duration::from_secs(u64::from(secs)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(name: &str) -> ServiceInfo {
        ServiceInfo {
            name: name.into(),
            state: "running".into(),
            pid: Some(7),
            ..Default::default()
        }
    }

    fn stats(memory: u64, cpu: u64) -> Stats {
        Stats {
            memory: Some(memory),
            cpu_usec: Some(cpu),
            ..Stats::default()
        }
    }

    /// The largest memory first (or CPU with `--cpu`); services without
    /// figures are left out; equal ones by name.
    #[test]
    fn orders_by_memory_or_cpu() {
        let (a, b, c, d) = (svc("a"), svc("b"), svc("c"), svc("d"));
        let rows = || {
            vec![
                (&a, stats(10, 500)),
                (&b, stats(30, 100)),
                (&c, Stats::default()),
                (&d, stats(10, 500)),
            ]
        };
        let names = |r: Vec<Row>| r.iter().map(|(s, _)| s.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(order(rows(), false)), ["b", "a", "d"]);
        assert_eq!(names(order(rows(), true)), ["a", "d", "b"]);
    }

    /// The screen has a header and one aligned line per row; JSON has the
    /// status fields and the figures.
    #[test]
    fn shows_rows() {
        let a = svc("web");
        let rows = vec![(&a, stats(64 << 20, 1_500_000))];
        let text = screen(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("NAME"));
        let words: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(words, ["web", "running", "7", "64M", "-", "1.50s", "-"]);
        assert_eq!(
            json(&rows),
            "[{\"name\":\"web\",\"state\":\"running\",\"pid\":7,\"memory_bytes\":67108864,\
             \"memory_peak_bytes\":null,\"cpu_usec\":1500000,\"tasks\":null}]"
        );
    }
}
