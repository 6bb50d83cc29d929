//! `cinit-ctl top`: one screen of services with their cgroup figures
//! ([`super::cgstats`]), the most memory first (or the most CPU time,
//! `--cpu`), again every `-n` seconds (the screen cleared between).
//!
//! The list is `status`'s (one request); the figures are read by the
//! client from each service's cgroup, so PID 1 serves `top` as it serves
//! `status`. Services without figures (not running, no cgroup) are left
//! out; without cgroups at all there is nothing to show (exit 1). The
//! peak and JSON are `status`'s.

use std::fmt::Write;
use std::path::Path;
use std::process::ExitCode;

use super::cgstats::{self, cpu_seconds, Stats};
use crate::proto::ServiceInfo;
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
    fn key<'r>(
        (s, st): &Row<'r>,
        by_cpu: bool,
    ) -> ((Option<u64>, Option<u64>), std::cmp::Reverse<&'r str>) {
        let figures = if by_cpu {
            (st.cpu_usec, st.memory)
        } else {
            (st.memory, st.cpu_usec)
        };
        (figures, std::cmp::Reverse(s.name.as_str()))
    }
    // An insertion sort: a screen's worth of rows, and no general sort's
    // code in cinit-ctl for this alone (about 10 KB).
    for i in 1..rows.len() {
        let mut j = i;
        while j > 0 {
            let (Some(a), Some(b)) = (rows.get(j - 1), rows.get(j)) else {
                break;
            };
            if key(b, by_cpu) <= key(a, by_cpu) {
                break;
            }
            rows.swap(j - 1, j);
            j -= 1;
        }
    }
    rows
}

/// The screen: a header and a line per row.
pub fn screen(rows: &[Row]) -> String {
    let mut out =
        String::from("NAME                     STATE         PID   MEMORY        CPU  TASKS\n");
    let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".to_string());
    for (s, st) in rows {
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "{:<24} {:<9} {:>7} {:>8} {:>10} {:>6}",
            one_line(&s.name),
            s.state,
            or_dash(s.pid.map(|p| p.to_string())),
            or_dash(st.memory.map(human_bytes)),
            or_dash(st.cpu_usec.map(cpu_seconds)),
            or_dash(st.tasks.map(|t| t.to_string())),
        );
    }
    out
}

/// Show `top`'s screen of the services of `list` (a status reply), with
/// the figures read below the base named in the control directory `ctl`;
/// `clear`: home and clear the terminal first (`-n`). Exit 1 without
/// cgroups.
pub fn show(list: &[ServiceInfo], ctl: &Path, by_cpu: bool, clear: bool) -> ExitCode {
    let Some(base) = cgstats::base(ctl) else {
        eprintln!("cinit-ctl: cinit has no cgroups here: no figures to show");
        return ExitCode::from(1);
    };
    let rows = list
        .iter()
        .map(|s| (s, cgstats::of_service(&base, &s.name)))
        .collect();
    let text = screen(&order(rows, by_cpu));
    // One write: no half-drawn screen after the clear.
    print!("{}{text}", if clear { "\x1b[H\x1b[2J" } else { "" });
    ExitCode::SUCCESS
}

/// `top -n S`: `show` (a whole `top`, request and screen) again every
/// `secs` seconds until it fails; its exit status then.
pub fn every(secs: u32, mut show: impl FnMut() -> ExitCode) -> ExitCode {
    loop {
        let code = show();
        if code != ExitCode::SUCCESS {
            return code;
        }
        std::thread::sleep(std::time::Duration::from_secs(u64::from(secs)));
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

    /// The screen has a header and one aligned line per row.
    #[test]
    fn shows_rows() {
        let a = svc("web");
        let rows = vec![(&a, stats(64 << 20, 1_500_000))];
        let text = screen(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let head: Vec<&str> = lines[0].split_whitespace().collect();
        assert_eq!(head, ["NAME", "STATE", "PID", "MEMORY", "CPU", "TASKS"]);
        let words: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(words, ["web", "running", "7", "64M", "1.50s", "-"]);
        assert_eq!(lines[0].len(), lines[1].len(), "{text}");
    }
}
