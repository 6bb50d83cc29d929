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

/// Whether `file` is a memory file whose value is a size or `max`:
/// `memory.max`, `.high`, `.low`, `.min`, `memory.swap.max`,
/// `memory.zswap.max`, …
fn is_memory_size(file: &str) -> bool {
    file.starts_with("memory.")
        && [".max", ".high", ".low", ".min"]
            .iter()
            .any(|end| file.ends_with(end))
}

/// Digits only, at least one, at most 19 (within `u64`).
fn is_number(v: &[u8]) -> bool {
    (1..=19).contains(&v.len()) && v.iter().all(u8::is_ascii_digit)
}

/// A size as the kernel's `memparse` reads it, in decimal: digits and at
/// most one of the suffixes K, M, G, T, P, E (either case).
fn is_size(v: &[u8]) -> bool {
    match v.split_last() {
        Some((last, digits)) if b"kKmMgGtTpPeE".contains(last) => is_number(digits),
        _ => is_number(v),
    }
}

/// A weight of `cpu.weight` or `io.weight`: 1 to 10000.
fn is_weight(v: &[u8]) -> bool {
    let value = v
        .iter()
        .try_fold(0u32, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
        .filter(|_| (1..=5).contains(&v.len()));
    value.is_some_and(|w| (1..=10_000).contains(&w))
}

/// Why FILE cannot be set, if it cannot.
fn check_file(file: &str) -> Result<(), String> {
    let Some((controller, name)) = file.split_once('.') else {
        return Err(format!(
            "{file:?} is not CONTROLLER.NAME (memory.max, pids.max)"
        ));
    };
    if controller == "cgroup" {
        return Err(format!(
            "{file} is cinit's to manage, not a service's (only controller files may be set)"
        ));
    }
    if !CONTROLLERS.contains(&controller) {
        return Err(format!(
            "unknown controller {controller:?} (one of memory, pids, cpu, io, cpuset, hugetlb, rdma, misc)"
        ));
    }
    let name = name.as_bytes();
    let safe = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'.';
    if !name.iter().all(safe)
        || name.first().is_none_or(|b| *b == b'.')
        || name.last() == Some(&b'.')
        || name.windows(2).any(|w| w == b"..")
    {
        return Err(format!("{file:?} is not a file name of a cgroup"));
    }
    Ok(())
}

/// Why VALUE cannot be written into FILE, where its shape is known: the
/// shape it should have.
fn check_value(file: &str, value: &str) -> Result<(), &'static str> {
    let v = value.as_bytes();
    if v.iter().any(|&b| b < b' ' || b == 0x7f) {
        return Err("one line of text without control characters");
    }
    let max_or = |f: fn(&[u8]) -> bool| v == b"max" || f(v);
    let (ok, shape) = match file {
        f if is_memory_size(f) => (max_or(is_size), "a size (64M, 1G, 65536) or max"),
        "pids.max" => (max_or(is_number), "a number or max"),
        // `io.weight` also takes `default WEIGHT` (and `MAJ:MIN WEIGHT`,
        // left to the kernel).
        "cpu.weight" | "io.weight" if !value.contains(':') => (
            is_weight(value.strip_prefix("default ").unwrap_or(value).as_bytes()),
            "a weight from 1 to 10000",
        ),
        "cpu.max" => {
            let mut w = value.split_ascii_whitespace().map(str::as_bytes);
            let quota = w.next().is_some_and(|q| q == b"max" || is_number(q));
            let period = w.next().is_none_or(is_number);
            (
                quota && period && w.next().is_none(),
                "QUOTA [PERIOD] in microseconds, QUOTA a number or max",
            )
        }
        _ => (true, ""),
    };
    if ok {
        Ok(())
    } else {
        Err(shape)
    }
}

/// Parse a `cgroup` file.
pub fn parse(data: &[u8]) -> Result<Vec<Setting>, String> {
    let text = std::str::from_utf8(data).map_err(|_| "not text".to_string())?;
    let mut out: Vec<Setting> = Vec::new();
    for (n, line) in (1..).zip(text.split('\n')) {
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
        check_value(file, value).map_err(|shape| bad(format!("{file} {value:?}: not {shape}")))?;
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
