//! Where a service's output goes: the log files of a service directory.
//!
//! | file | meaning | default |
//! |---|---|---|
//! | `console` | flag (any file): stdin, stdout and stderr are the console itself; no pipe, no ring | absent |
//! | `log.size` | bytes the ring holds, `k`/`M` suffixes allowed, [`MIN_RING`]–[`MAX_RING`] | [`DEFAULT_RING`] |
//! | `log.file` | line 1: absolute path; line 2: size that rotates it; line 3: rotated files kept | none; 1 MiB; 3 |
//! | `log.mirror` | `yes` or `no`: lines also go to the console as `NAME: line` | `yes` without `log.file`, else `no` |
//!
//! A file with a bad value is reported (file, reason) and its default used:
//! a typo in a log setting must not keep a service from starting, and the
//! defaults never lose output (a bad `log.file` leaves mirroring on).
//! Nothing here writes; files are read with [`read_small_file`](crate::config::svcdir::read_small_file) (bounded,
//! non-blocking, regular files only).

use std::path::{Path, PathBuf};

use crate::config::dirlist::ServiceDir;
use crate::config::svcdir::{split_lines, FileError};

/// Ring size without `log.size`.
pub const DEFAULT_RING: usize = 64 << 10;
/// Smallest `log.size`.
pub const MIN_RING: usize = 1 << 10;
/// Largest `log.size`.
pub const MAX_RING: usize = 16 << 20;
/// Size at which a `log.file` is rotated, without line 2.
pub const DEFAULT_ROTATE: u64 = 1 << 20;
/// Smallest rotation size (a smaller one would rotate on every few lines).
pub const MIN_ROTATE: u64 = 4 << 10;
/// Largest rotation size.
pub const MAX_ROTATE: u64 = 1 << 30;
/// Rotated files kept, without line 3.
pub const DEFAULT_KEEP: u32 = 3;
/// Most rotated files kept.
pub const MAX_KEEP: u32 = 99;

/// A `log.file`: where, when to rotate, how many old files to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileTarget {
    pub path: PathBuf,
    pub rotate_bytes: u64,
    pub keep: u32,
}

/// Where a service's output goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// stdio is the console: no pipe, no ring, no file.
    pub console: bool,
    pub ring_bytes: usize,
    pub file: Option<FileTarget>,
    pub mirror: bool,
}

impl Default for LogConfig {
    fn default() -> LogConfig {
        LogConfig {
            console: false,
            ring_bytes: DEFAULT_RING,
            file: None,
            mirror: true,
        }
    }
}

/// Parse `log.size`; `Ok(None)` for an empty file (the default).
pub fn parse_ring_size(path: &Path, data: &[u8]) -> Result<Option<usize>, FileError> {
    let text = String::from_utf8_lossy(data);
    if text.trim().is_empty() {
        return Ok(None);
    }
    let bad = || {
        FileError::new(
            path,
            format!(
                "{:?} is not a size from {} to {} (bytes, or with k or M)",
                text.trim(),
                show_size(MIN_RING as u64),
                show_size(MAX_RING as u64)
            ),
        )
    };
    let n = parse_size(&text).ok_or_else(bad)?;
    match usize::try_from(n) {
        Ok(n) if (MIN_RING..=MAX_RING).contains(&n) => Ok(Some(n)),
        _ => Err(bad()),
    }
}

/// Parse `log.file`: an absolute path, then optionally the rotation size
/// and the number of rotated files kept (an empty line keeps the default).
pub fn parse_file_target(path: &Path, data: &[u8]) -> Result<FileTarget, FileError> {
    use std::os::unix::ffi::OsStrExt;
    let lines = split_lines(data);
    let err = |why: String| FileError::new(path, why);
    let target = lines.first().copied().unwrap_or(&[]);
    if target.is_empty() {
        return Err(err("line 1: no path".to_string()));
    }
    if target.contains(&0) {
        return Err(err("line 1 contains a NUL byte".to_string()));
    }
    let target = PathBuf::from(std::ffi::OsStr::from_bytes(target));
    if !target.is_absolute() {
        return Err(err(format!(
            "line 1: {} is not an absolute path",
            target.display()
        )));
    }
    if lines.len() > 3 {
        return Err(err(format!(
            "{} lines; at most 3 (path, rotation size, files kept)",
            lines.len()
        )));
    }
    let field = |k: usize| {
        lines
            .get(k)
            .map(|l| String::from_utf8_lossy(l).trim().to_string())
            .filter(|t| !t.is_empty())
    };
    let rotate_bytes = match field(1) {
        None => DEFAULT_ROTATE,
        Some(t) => parse_size(&t)
            .filter(|n| (MIN_ROTATE..=MAX_ROTATE).contains(n))
            .ok_or_else(|| {
                err(format!(
                    "line 2: {t:?} is not a rotation size from {} to {}",
                    show_size(MIN_ROTATE),
                    show_size(MAX_ROTATE)
                ))
            })?,
    };
    let keep = match field(2) {
        None => DEFAULT_KEEP,
        Some(t) => t
            .parse::<u32>()
            .ok()
            .filter(|n| *n <= MAX_KEEP)
            .ok_or_else(|| {
                err(format!(
                    "line 3: {t:?} is not a number of files from 0 to {MAX_KEEP}"
                ))
            })?,
    };
    Ok(FileTarget {
        path: target,
        rotate_bytes,
        keep,
    })
}

/// Parse `log.mirror`: `yes` or `no`; `Ok(None)` for an empty file.
pub fn parse_mirror(path: &Path, data: &[u8]) -> Result<Option<bool>, FileError> {
    match String::from_utf8_lossy(data).trim() {
        "" => Ok(None),
        "yes" => Ok(Some(true)),
        "no" => Ok(Some(false)),
        other => Err(FileError::new(
            path,
            format!("{other:?} is neither yes nor no"),
        )),
    }
}

/// Read the log settings of the service in `dir`. Problems are returned
/// alongside: each bad file is replaced by its default. `errno` is set on a
/// problem when a file could not be read at all (say, EMFILE), so the
/// caller can tell a bad file from a shortage.
pub fn read_log_config(dir: &ServiceDir) -> (LogConfig, Vec<FileError>) {
    let mut problems = Vec::new();
    let mut cfg = LogConfig::default();
    match dir.exists("console") {
        Ok(present) => cfg.console = present,
        Err(e) => problems.push(FileError {
            errno: e.raw_os_error(),
            ..FileError::new(&dir.join("console"), crate::config::svcdir::describe_io(&e))
        }),
    }
    // Paths only for the files that are there (most services have none).
    let mut read = |name: &str| match dir.read_small(name) {
        Ok(data) => data.map(|d| (dir.join(name), d)),
        Err(e) => {
            problems.push(e);
            None
        }
    };
    let size = read("log.size");
    let file = read("log.file");
    let mirror = read("log.mirror");
    let mut bad = Vec::new();
    if let Some((p, d)) = size {
        match parse_ring_size(&p, &d) {
            Ok(n) => cfg.ring_bytes = n.unwrap_or(DEFAULT_RING),
            Err(e) => bad.push(e),
        }
    }
    if let Some((p, d)) = file {
        match parse_file_target(&p, &d) {
            Ok(t) => cfg.file = Some(t),
            Err(e) => bad.push(e),
        }
    }
    cfg.mirror = cfg.file.is_none();
    if let Some((p, d)) = mirror {
        match parse_mirror(&p, &d) {
            Ok(m) => cfg.mirror = m.unwrap_or(cfg.mirror),
            Err(e) => bad.push(e),
        }
    }
    problems.extend(bad);
    (cfg, problems)
}

/// A size: a whole number of bytes, optionally followed by `k`/`K` (KiB) or
/// `m`/`M` (MiB). Surrounding whitespace is ignored. `None` if malformed
/// or too large for a u64.
pub fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let (digits, unit) = match t.char_indices().last() {
        Some((k, 'k' | 'K')) => (t.get(..k)?, 1u64 << 10),
        Some((k, 'm' | 'M')) => (t.get(..k)?, 1u64 << 20),
        _ => (t, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(unit)
}

/// A size for people: `65536` → `64 KiB`, `1048576` → `1 MiB`.
pub fn show_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{} GiB", b >> 30),
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::dirlist::both;
    use std::fs;

    #[test]
    fn defaults_without_any_file() {
        let d = tempfile::tempdir().unwrap();
        let (cfg, problems) = both(d.path(), read_log_config);
        assert!(problems.is_empty());
        assert_eq!(cfg, LogConfig::default());
        assert!(cfg.mirror, "no log.file: mirrored by default");
    }

    #[test]
    fn every_file_is_read_and_the_mirror_default_follows_log_file() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("log.size"), "8k\n").unwrap();
        fs::write(d.path().join("log.file"), "/var/log/x\n64k\n5\n").unwrap();
        fs::write(d.path().join("console"), "").unwrap();
        let (cfg, problems) = both(d.path(), read_log_config);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(cfg.ring_bytes, 8192);
        assert!(cfg.console);
        assert!(!cfg.mirror, "a log.file turns mirroring off by default");
        assert_eq!(
            cfg.file,
            Some(FileTarget {
                path: "/var/log/x".into(),
                rotate_bytes: 65536,
                keep: 5
            })
        );
        fs::write(d.path().join("log.mirror"), "yes\n").unwrap();
        assert!(both(d.path(), read_log_config).0.mirror);
    }

    #[test]
    fn bad_values_are_reported_and_replaced_by_defaults() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("log.size"), "100").unwrap();
        fs::write(d.path().join("log.file"), "relative/path\n").unwrap();
        fs::write(d.path().join("log.mirror"), "maybe").unwrap();
        let (cfg, problems) = both(d.path(), read_log_config);
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 3, "{text:#?}");
        assert!(
            text[0].ends_with(
                "log.size: \"100\" is not a size from 1 KiB to 16 MiB (bytes, or with k or M)"
            ),
            "{text:#?}"
        );
        assert!(text[1].ends_with("log.file: line 1: relative/path is not an absolute path"));
        assert!(text[2].ends_with("log.mirror: \"maybe\" is neither yes nor no"));
        assert_eq!(cfg, LogConfig::default(), "defaults, so nothing is lost");
    }

    #[test]
    fn log_file_lines_are_checked_one_by_one() {
        let p = Path::new("log.file");
        let ok = parse_file_target(p, b"/l\n\n0\n").unwrap();
        assert_eq!((ok.rotate_bytes, ok.keep), (DEFAULT_ROTATE, 0));
        for (bad, why) in [
            (&b""[..], "line 1: no path"),
            (b"\n4k\n", "line 1: no path"),
            (
                b"/l\n1k\n",
                "line 2: \"1k\" is not a rotation size from 4 KiB to 1 GiB",
            ),
            (
                b"/l\n1M\n100\n",
                "line 3: \"100\" is not a number of files from 0 to 99",
            ),
            (
                b"/l\n1M\n3\nx\n",
                "4 lines; at most 3 (path, rotation size, files kept)",
            ),
            (b"/a\0b\n", "line 1 contains a NUL byte"),
        ] {
            assert_eq!(parse_file_target(p, bad).unwrap_err().reason, why);
        }
        assert_eq!(parse_ring_size(p, b" \n").unwrap(), None);
        assert_eq!(parse_ring_size(p, b"16M").unwrap(), Some(MAX_RING));
        assert!(parse_ring_size(p, b"17M").is_err());
    }
}
