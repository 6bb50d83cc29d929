//! A service's cgroup figures for `cinit-ctl status` and `top`: memory,
//! CPU time and tasks, read by the client itself from the cgroup's
//! interface files. PID 1 is not asked: it keeps no figures and pays
//! nothing for them (doc/DESIGN.md, "Cgroup figures").
//!
//! The cgroup is found from the base cinit wrote into its control
//! directory ([`BASE_FILE`]: absent when cinit has no cgroups) and the
//! service's name ([`service_cgroup`]). Each figure is `None` where its
//! file is missing (no such controller, an older kernel, no cgroup):
//!
//! | figure | file |
//! |---|---|
//! | memory | `memory.current` |
//! | memory peak | `memory.peak` (Linux 5.19) |
//! | CPU time | `usage_usec` of `cpu.stat` |
//! | tasks | `pids.current`, else the lines of `cgroup.procs` |
//!
//! Every read is bounded ([`read_text`]).

use std::fmt::Write;
use std::path::{Path, PathBuf};

use crate::sys::cgroup::apply::read_text;
use crate::sys::cgroup::layout::{service_cgroup, BASE_FILE};
use crate::sys::cgroup::parse::{count_lines, human_bytes, keyed, number};

/// The figures of one service's cgroup.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub memory: Option<u64>,
    pub memory_peak: Option<u64>,
    pub cpu_usec: Option<u64>,
    pub tasks: Option<u64>,
}

/// The base of cinit's cgroups, from `BASE_FILE` in the control directory
/// `ctl`: one absolute path and a newline; `None` when the file is absent
/// (no cgroups) or holds anything else.
pub fn base(ctl: &Path) -> Option<PathBuf> {
    parse_base(&read_text(&ctl.join(BASE_FILE)).ok()?)
}

/// The path a `BASE_FILE` text names, if it is one absolute path.
pub fn parse_base(text: &str) -> Option<PathBuf> {
    let line = text.strip_suffix('\n').unwrap_or(text);
    (line.starts_with('/') && !line.contains('\n')).then(|| PathBuf::from(line))
}

/// The figures of service `name` below `base`.
pub fn of_service(base: &Path, name: &str) -> Stats {
    read(&service_cgroup(base, name))
}

/// The figures of the cgroup `dir`.
pub fn read(dir: &Path) -> Stats {
    let text = |f: &str| read_text(&dir.join(f)).ok();
    let one = |f: &str| text(f).as_deref().and_then(number);
    Stats {
        memory: one("memory.current"),
        memory_peak: one("memory.peak"),
        cpu_usec: text("cpu.stat").and_then(|t| keyed(&t, "usage_usec")),
        tasks: one("pids.current").or_else(|| text("cgroup.procs").map(|t| count_lines(&t))),
    }
}

/// Microseconds as seconds with two decimals (`1.25s`).
pub fn cpu_seconds(usec: u64) -> String {
    format!("{}.{:02}s", usec / 1_000_000, (usec % 1_000_000) / 10_000)
}

impl Stats {
    /// The figures for a status line: `memory 15M (peak 20M), cpu
    /// 1.25s, 3 tasks`, each only where it is known; empty if none is.
    pub fn describe(&self) -> String {
        // Writing to a String cannot fail.
        let mut out = String::new();
        if let Some(m) = self.memory {
            let _ = write!(out, ", memory {}", human_bytes(m));
            if let Some(peak) = self.memory_peak {
                let _ = write!(out, " (peak {})", human_bytes(peak));
            }
        }
        if let Some(u) = self.cpu_usec {
            let _ = write!(out, ", cpu {}", cpu_seconds(u));
        }
        if let Some(t) = self.tasks {
            let _ = write!(out, ", {t} task{}", if t == 1 { "" } else { "s" });
        }
        out.split_off(out.len().min(2))
    }

    /// The JSON members (each with a leading comma): `memory_bytes`,
    /// `memory_peak_bytes`, `cpu_usec`, `tasks`, `null` where unknown.
    pub fn json_members(&self) -> String {
        let mut out = String::new();
        for (key, value) in [
            ("memory_bytes", self.memory),
            ("memory_peak_bytes", self.memory_peak),
            ("cpu_usec", self.cpu_usec),
            ("tasks", self.tasks),
        ] {
            // Writing to a String cannot fail.
            let _ = match value {
                Some(n) => write!(out, ",\"{key}\":{n}"),
                None => write!(out, ",\"{key}\":null"),
            };
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The base file is one absolute path; anything else is no base.
    #[test]
    fn reads_the_base_line() {
        assert_eq!(
            parse_base("/sys/fs/cgroup\n"),
            Some(PathBuf::from("/sys/fs/cgroup"))
        );
        assert_eq!(parse_base("/a/b"), Some(PathBuf::from("/a/b")));
        assert_eq!(parse_base("relative\n"), None);
        assert_eq!(parse_base("/a\n/b\n"), None);
        assert_eq!(parse_base(""), None);
    }

    /// Figures from files shaped as the kernel writes them; tasks from
    /// `cgroup.procs` where `pids.current` is missing; nothing from a
    /// missing cgroup.
    #[test]
    fn reads_a_cgroup() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        std::fs::write(d.join("memory.current"), "15728640\n").unwrap();
        std::fs::write(d.join("cpu.stat"), "usage_usec 1250000\nuser_usec 1\n").unwrap();
        std::fs::write(d.join("cgroup.procs"), "12\n13\n").unwrap();
        let s = read(d);
        assert_eq!(
            s,
            Stats {
                memory: Some(15_728_640),
                memory_peak: None,
                cpu_usec: Some(1_250_000),
                tasks: Some(2),
            }
        );
        assert_eq!(s.describe(), "memory 15M, cpu 1.25s, 2 tasks");
        assert_eq!(
            s.json_members(),
            ",\"memory_bytes\":15728640,\"memory_peak_bytes\":null,\"cpu_usec\":1250000,\"tasks\":2"
        );
        std::fs::write(d.join("memory.peak"), "20971520\n").unwrap();
        std::fs::write(d.join("pids.current"), "1\n").unwrap();
        assert_eq!(
            read(d).describe(),
            "memory 15M (peak 20M), cpu 1.25s, 1 task"
        );
        let none = read(&d.join("missing"));
        assert_eq!(none, Stats::default());
        assert_eq!(none.describe(), "");
    }
}
