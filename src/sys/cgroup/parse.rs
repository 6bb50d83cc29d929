//! Reading the kernel's cgroup interface files (pure: text in, numbers
//! out; no system call).
//!
//! The files are small and of three shapes: one value (`memory.current`:
//! `12345`, `memory.max`: `max` or a number), flat keyed (`cpu.stat`,
//! `memory.events`: one `KEY VALUE` per line) and word lists
//! (`cgroup.controllers`: `cpu memory pids`). Anything that does not have
//! the expected shape reads as absent, never as a wrong number.

/// The value of `key` in a flat keyed file (`oom_kill 3` in
/// `memory.events`, `usage_usec 1234` in `cpu.stat`); `None` if the key is
/// not there or its value is not a number.
pub fn keyed(text: &str, key: &str) -> Option<u64> {
    text.split('\n').find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok())?
    })
}

/// A one-number file (`memory.current`, `pids.current`); `None` for
/// `max` or anything else that is not a number.
pub fn number(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// The number of lines that hold something (`cgroup.procs`: one pid per
/// line).
pub fn count_lines(text: &str) -> u64 {
    text.split('\n').filter(|l| !l.is_empty()).count() as u64
}

/// Whether a word list (`cgroup.controllers`, `cgroup.subtree_control`)
/// holds `word`.
pub fn has_word(text: &str, word: &str) -> bool {
    text.split_ascii_whitespace().any(|w| w == word)
}

/// Bytes for people, in the binary units `memory.max` takes: the largest
/// unit that leaves at least 10 of it, cut, not rounded (`1023`, `1536K`,
/// `64M`, `12M` for 12.5 MiB): never more than the value, and at most a
/// tenth less.
pub fn human_bytes(bytes: u64) -> String {
    let mut n = bytes;
    let mut unit = "";
    for u in ["K", "M", "G", "T", "P", "E"] {
        if n < 10 * 1024 {
            break;
        }
        n /= 1024;
        unit = u;
    }
    format!("{n}{unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `memory.events` and `cpu.stat` as the kernel writes them.
    #[test]
    fn reads_keyed_files() {
        let events = "low 0\nhigh 2\nmax 7\noom 1\noom_kill 3\noom_group_kill 0\n";
        assert_eq!(keyed(events, "oom_kill"), Some(3));
        assert_eq!(keyed(events, "oom"), Some(1));
        assert_eq!(keyed(events, "oom_k"), None);
        assert_eq!(keyed("", "oom_kill"), None);
        assert_eq!(keyed("oom_kill x\n", "oom_kill"), None);
        let stat = "usage_usec 20523\nuser_usec 10000\nsystem_usec 10523\n";
        assert_eq!(keyed(stat, "usage_usec"), Some(20523));
        assert_eq!(keyed(stat, "system_usec"), Some(10523));
    }

    /// One-number files; `max` is no number.
    #[test]
    fn reads_numbers() {
        assert_eq!(number("4096\n"), Some(4096));
        assert_eq!(number("max\n"), None);
        assert_eq!(number(""), None);
        assert_eq!(count_lines("1\n22\n333\n"), 3);
        assert_eq!(count_lines(""), 0);
        assert!(has_word("cpu io memory pids\n", "memory"));
        assert!(!has_word("cpu io memory pids\n", "mem"));
    }

    /// Sizes read as `memory.max` takes them.
    #[test]
    fn shows_bytes() {
        assert_eq!(human_bytes(0), "0");
        assert_eq!(human_bytes(10_239), "10239");
        assert_eq!(human_bytes(10_240), "10K");
        assert_eq!(human_bytes(1536 * 1024), "1536K");
        assert_eq!(human_bytes(64 << 20), "64M");
        assert_eq!(human_bytes(16 << 20), "16M");
        assert_eq!(human_bytes(25 << 19), "12M");
        assert_eq!(human_bytes(200 << 20), "200M");
        assert_eq!(human_bytes(u64::MAX), "15E");
    }
}
