//! A service's `cgroup` file: what is written into its cgroup's interface
//! files at each start (pure but for [`read`], which reads the file from
//! the service directory's listing).
//!
//! One setting per line, `FILE VALUE` (`memory.max 64M`, `pids.max 32`,
//! `cpu.max 50000 100000`); blank lines and `#` comments are skipped.
//!
//! Invariants: FILE is `CONTROLLER.NAME`, CONTROLLER one of
//! [`CONTROLLERS`] and NAME made of letters, digits, `_` and `.` without
//! `..`, so a setting names one file of the service's own cgroup and never
//! `cgroup.procs`, `cgroup.kill` or `cgroup.subtree_control` (cinit's own
//! business); VALUE is one line of printable text, checked where its shape
//! is known (memory sizes, `pids.max`, `cpu.max`, weights) and otherwise
//! left to the kernel, whose refusal fails the start with its reason.
//! Memory sizes are passed on as written: the kernel reads `64M` itself.
//! At most [`MAX_SETTINGS`] lines, each FILE once. A service without the
//! file has no settings and costs no system call (the listing says it is
//! absent).

use crate::config::dirlist::ServiceDir;
use crate::config::svcdir::FileError;
pub use crate::sys::cgroup::apply::Setting;

/// The file's name in a service directory.
pub const FILE: &str = "cgroup";

/// The controllers of cgroup v2 whose files a service may set.
pub const CONTROLLERS: [&str; 8] = [
    "memory", "pids", "cpu", "io", "cpuset", "hugetlb", "rdma", "misc",
];

/// The most settings in one file.
pub const MAX_SETTINGS: usize = 64;

/// Memory files whose value is a size or `max`.
const MEMORY_SIZES: [&str; 7] = [
    "memory.max",
    "memory.high",
    "memory.low",
    "memory.min",
    "memory.swap.max",
    "memory.swap.high",
    "memory.zswap.max",
];

/// A size as the kernel's `memparse` reads it, in decimal: digits and at
/// most one of the suffixes K, M, G, T, P, E (either case).
fn is_size(v: &str) -> bool {
    let digits = v.trim_end_matches(|c: char| "kKmMgGtTpPeE".contains(c));
    v.len() - digits.len() <= 1 && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

fn is_number(v: &str) -> bool {
    !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) && v.parse::<u64>().is_ok()
}

/// A weight of `cpu.weight` or `io.weight`: 1 to 10000.
fn is_weight(v: &str) -> bool {
    v.parse::<u32>().is_ok_and(|w| (1..=10_000).contains(&w))
}

/// Why FILE cannot be set, if it cannot.
fn check_file(file: &str) -> Result<(), String> {
    let (controller, name) = file
        .split_once('.')
        .ok_or_else(|| format!("{file:?} is not CONTROLLER.NAME (memory.max, pids.max)"))?;
    if controller == "cgroup" {
        return Err(format!(
            "{file} is cinit's to manage, not a service's (only controller files may be set)"
        ));
    }
    if !CONTROLLERS.contains(&controller) {
        return Err(format!(
            "unknown controller {controller:?} (one of {})",
            CONTROLLERS.join(", ")
        ));
    }
    let safe = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'.';
    if name.is_empty()
        || !name.bytes().all(safe)
        || name.contains("..")
        || name.starts_with('.')
        || name.ends_with('.')
    {
        return Err(format!("{file:?} is not a file name of a cgroup"));
    }
    Ok(())
}

/// Why VALUE cannot be written into FILE, where its shape is known.
fn check_value(file: &str, value: &str) -> Result<(), String> {
    if value.chars().any(char::is_control) {
        return Err(format!("{file}: the value holds a control character"));
    }
    let ok = match file {
        f if MEMORY_SIZES.contains(&f) => value == "max" || is_size(value),
        "pids.max" => value == "max" || is_number(value),
        "cpu.weight" | "io.weight" if !value.contains(' ') => is_weight(value),
        "io.weight" => value
            .strip_prefix("default ")
            .is_some_and(|w| is_weight(w.trim())),
        "cpu.weight.nice" => value.parse::<i8>().is_ok_and(|n| (-20..=19).contains(&n)),
        "cpu.max" => {
            let mut w = value.split_ascii_whitespace();
            let quota = w.next().is_some_and(|q| q == "max" || is_number(q));
            let period = w.next().is_none_or(is_number);
            quota && period && w.next().is_none()
        }
        _ => true,
    };
    if ok {
        return Ok(());
    }
    let shape = match file {
        f if MEMORY_SIZES.contains(&f) => "a size (64M, 1G, 65536) or max",
        "pids.max" => "a number or max",
        "cpu.weight" => "a weight from 1 to 10000",
        "io.weight" => "a weight from 1 to 10000 (or default WEIGHT)",
        "cpu.weight.nice" => "a nice value from -20 to 19",
        _ => "QUOTA [PERIOD] in microseconds, QUOTA a number or max",
    };
    Err(format!("{file} {value:?}: not {shape}"))
}

/// Parse a `cgroup` file.
pub fn parse(data: &[u8]) -> Result<Vec<Setting>, String> {
    let text = std::str::from_utf8(data).map_err(|_| "not text".to_string())?;
    let mut out: Vec<Setting> = Vec::new();
    for (n, line) in (1..).zip(text.lines()) {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |why: String| format!("line {n}: {why}");
        let (file, value) = line
            .split_once(|c: char| c.is_ascii_whitespace())
            .map(|(f, v)| (f, v.trim()))
            .ok_or_else(|| bad("not FILE VALUE (memory.max 64M)".into()))?;
        check_file(file).map_err(bad)?;
        check_value(file, value).map_err(bad)?;
        if out.iter().any(|s| s.file == file) {
            return Err(bad(format!("{file} is set twice")));
        }
        if out.len() >= MAX_SETTINGS {
            return Err(bad(format!("more than {MAX_SETTINGS} settings")));
        }
        out.push(Setting {
            file: file.to_string(),
            value: value.to_string(),
        });
    }
    Ok(out)
}

/// A service's settings, from its directory's listing; empty when it has
/// no `cgroup` file (no system call then).
pub fn read(files: &ServiceDir) -> Result<Vec<Setting>, FileError> {
    match files.read_small(FILE)? {
        None => Ok(Vec::new()),
        Some(data) => parse(&data).map_err(|e| FileError::new(&files.join(FILE), e)),
    }
}

#[cfg(test)]
mod tests;
