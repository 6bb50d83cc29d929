//! Reading one service directory: the file formats of cinit's service tree.
//!
//! A service is a directory. Every entry is optional:
//!
//! | entry | meaning |
//! |---|---|
//! | `on`, `off` | program to run (or a symlink to one) to start / stop the service |
//! | `on.params`, `off.params` | arguments, one per line, verbatim |
//! | `on.env`, `off.env` | the complete environment, one `NAME=value` per line |
//! | `respawn` | present: supervise and restart; absent: run once to completion |
//! | `needs/`, `wants/` | links to other services (hard / soft, ordered dependencies) |
//! | `delay` | seconds between SIGTERM and SIGKILL when stopping (0 = never KILL) |
//!
//! Invariants: every read is capped at [`MAX_FILE_BYTES`] (PID 1 never allocates
//! by the size of an outside file); every error names the file and the reason;
//! nothing here forks, execs or changes process state.

use std::borrow::Cow;
use std::ffi::CString;
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use crate::config::canon::Canon;
use crate::config::dirlist::{Seen, ServiceDir};
use crate::sys::spawn::ExecSpec;

/// Largest `.params`, `.env` or `delay` file cinit reads. Larger files are an error:
/// a 64 KiB argument list is already far beyond any sane service.
pub const MAX_FILE_BYTES: u64 = 64 * 1024;

/// Most entries read from one `needs/` or `wants/` directory: far more
/// than a tree's services ([`crate::config::tree::MAX_SERVICES`]), so a root may
/// want every one of them through links of any names; a bound all the
/// same, on the memory one directory listing takes (its names are held
/// while they are sorted: at most 64 Ki names of at most 255 bytes).
pub const MAX_DEPS: usize = 65_536;

/// An error in one file of a service directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    pub file: PathBuf,
    pub reason: String,
    /// The errno, when the file could not be read at all (as opposed to a
    /// file that was read and found wrong).
    pub errno: Option<i32>,
}

impl FileError {
    pub fn new(file: &Path, reason: impl Into<String>) -> Self {
        FileError {
            file: file.to_path_buf(),
            reason: reason.into(),
            errno: None,
        }
    }

    pub fn io(file: &Path, err: &io::Error) -> Self {
        FileError {
            errno: err.raw_os_error(),
            ..FileError::new(file, describe_io(err))
        }
    }
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.file.display(), self.reason)
    }
}

/// The short text of an I/O error, without Rust's "(os error N)" suffix.
pub fn describe_io(err: &io::Error) -> String {
    match err.raw_os_error() {
        Some(code) => nix::errno::Errno::from_raw(code).desc().to_string(),
        None => err.to_string(),
    }
}

/// Split a `.params` / `.env` file into items: one per line, verbatim.
///
/// Exactly one trailing newline is dropped, so `"a\n"` is one item and
/// `"a\n\n"` is `a` plus an empty item. An empty file has no items; a file
/// holding a single newline is one empty item.
pub fn split_lines(data: &[u8]) -> Vec<&[u8]> {
    if data.is_empty() {
        return Vec::new();
    }
    let body = data.strip_suffix(b"\n").unwrap_or(data);
    body.split(|&b| b == b'\n').collect()
}

/// Read a whole regular file of at most [`MAX_FILE_BYTES`]. `Ok(None)` if it
/// does not exist.
///
/// Opened non-blocking and checked with `fstat` before reading: a FIFO or a
/// device in a service directory must be an error, not a hang of PID 1.
pub fn read_small_file(path: &Path) -> Result<Option<Vec<u8>>, FileError> {
    use std::os::unix::fs::OpenOptionsExt;
    match fs::OpenOptions::new()
        .read(true)
        .custom_flags(SMALL_FILE_FLAGS)
        .open(path)
    {
        Ok(f) => read_opened(f, path).map(Some),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(FileError::io(path, &e)),
    }
}

/// The flags every service file is opened with besides `O_RDONLY` (and
/// Rust's `O_CLOEXEC`): a FIFO must not block the open, a terminal must
/// not become PID 1's controlling one.
pub const SMALL_FILE_FLAGS: libc::c_int = libc::O_NONBLOCK | libc::O_NOCTTY;

/// The checks of [`read_small_file`] on a file already open as `path`: a
/// regular file of at most [`MAX_FILE_BYTES`], read whole.
pub fn read_opened(file: fs::File, path: &Path) -> Result<Vec<u8>, FileError> {
    read_opened_max(file, path, MAX_FILE_BYTES)
}

/// [`read_opened`] with another cap: at most `max` bytes.
pub fn read_opened_max(file: fs::File, path: &Path, max: u64) -> Result<Vec<u8>, FileError> {
    let meta = file.metadata().map_err(|e| FileError::io(path, &e))?;
    if !meta.is_file() {
        return Err(FileError::new(path, "not a regular file"));
    }
    let mut data = Vec::new();
    file.take(max.saturating_add(1))
        .read_to_end(&mut data)
        .map_err(|e| FileError::io(path, &e))?;
    if data.len() as u64 > max {
        return Err(FileError::new(path, format!("larger than {max} bytes")));
    }
    Ok(data)
}

fn to_cstrings(path: &Path, items: Vec<&[u8]>) -> Result<Vec<CString>, FileError> {
    let mut out = Vec::with_capacity(items.len());
    for (n, item) in items.into_iter().enumerate() {
        match CString::new(item) {
            Ok(c) => out.push(c),
            Err(_) => {
                return Err(FileError::new(
                    path,
                    format!("line {} contains a NUL byte", n + 1),
                ))
            }
        }
    }
    Ok(out)
}

/// Parse a `.params` file's contents into arguments.
pub fn parse_params(path: &Path, data: &[u8]) -> Result<Vec<CString>, FileError> {
    to_cstrings(path, split_lines(data))
}

/// Parse a `.env` file's contents into `NAME=value` entries.
///
/// A line without `=` or with an empty name is an error: the service would
/// otherwise start with an environment its author did not write.
pub fn parse_env(path: &Path, data: &[u8]) -> Result<Vec<CString>, FileError> {
    let lines = split_lines(data);
    for (n, line) in lines.iter().enumerate() {
        match line.iter().position(|&b| b == b'=') {
            Some(0) => {
                return Err(FileError::new(
                    path,
                    format!("line {}: empty variable name", n + 1),
                ))
            }
            Some(_) => {}
            None => {
                return Err(FileError::new(
                    path,
                    format!("line {}: not NAME=value", n + 1),
                ))
            }
        }
    }
    to_cstrings(path, lines)
}

/// Parse a `delay` file: a non-negative whole number of seconds. An empty
/// (or blank) file means "not set": `Ok(None)`.
pub fn parse_delay(path: &Path, data: &[u8]) -> Result<Option<u32>, FileError> {
    let text = std::str::from_utf8(data)
        .map_err(|_| FileError::new(path, "not a number of seconds"))?
        .trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<u32>().map(Some).map_err(|_| {
        FileError::new(
            path,
            format!(
                "{text:?} is not a whole number of seconds (0 to {})",
                u32::MAX
            ),
        )
    })
}

/// Read a service's `delay` file; `Ok(None)` if absent.
pub fn read_delay(dir: &ServiceDir) -> Result<Option<u32>, FileError> {
    match dir.read_small("delay")? {
        Some(data) => parse_delay(&dir.join("delay"), &data),
        None => Ok(None),
    }
}

/// Whether the service has a `respawn` file (any type; a symlink counts).
pub fn read_respawn(dir: &ServiceDir) -> Result<bool, FileError> {
    dir.exists("respawn")
        .map_err(|e| FileError::io(&dir.join("respawn"), &e))
}

/// Whether the service is a grouping: it has neither `on` nor `off` (no
/// entry of any type), so nothing runs when it starts or stops. An entry
/// that cannot be looked at (EACCES, say) counts as present: a service
/// that may run something is never taken for a grouping.
pub fn is_grouping(dir: &ServiceDir) -> bool {
    ["on", "off"]
        .iter()
        .all(|which| matches!(dir.exists(which), Ok(false)))
}

/// `what` as a C string; a NUL in it is an error of `DIR/NAME` (the path
/// is made only then).
fn cstring_of(dir: &ServiceDir, name: &str, what: Vec<u8>) -> Result<CString, FileError> {
    CString::new(what).map_err(|_| FileError::new(&dir.join(name), "path contains a NUL byte"))
}

/// Read `NAME` (`on` or `off`) with its `.params` and `.env` into an [`ExecSpec`].
///
/// `Ok(None)` when `NAME` does not exist: nothing to run. A symlinked `NAME`
/// executes its target with argv\[0\] = the target as written; a relative target
/// is taken relative to the service directory.
pub fn read_exec(dir: &ServiceDir, name: &str) -> Result<Option<ExecSpec>, FileError> {
    let Some(link) = dir.read_link(name)? else {
        return Ok(None);
    };
    let (path, argv0) = match link {
        Some(target) => {
            let full = (!target.is_absolute()).then(|| dir.path().join(&target));
            let argv0 = cstring_of(dir, name, target.into_os_string().into_vec())?;
            let path = match full {
                Some(full) => cstring_of(dir, name, full.into_os_string().into_vec())?,
                None => argv0.clone(),
            };
            (path, argv0)
        }
        None => {
            let p = cstring_of(dir, name, dir.join(name).into_os_string().into_vec())?;
            (p.clone(), p)
        }
    };
    // The two files' names without a `format!` per start.
    let (params, env) = match name {
        "on" => (Cow::Borrowed("on.params"), Cow::Borrowed("on.env")),
        "off" => (Cow::Borrowed("off.params"), Cow::Borrowed("off.env")),
        _ => (
            Cow::Owned(format!("{name}.params")),
            Cow::Owned(format!("{name}.env")),
        ),
    };
    // An instance's `%i` ([`crate::config::instance::substitute`]).
    // Nothing copied for a service that is no instance.
    let sub = |data: Vec<u8>| -> Vec<u8> {
        if let Some(i) = dir.instance() {
            if let Cow::Owned(done) = crate::config::instance::substitute(&data, i) {
                return done;
            }
        }
        data
    };
    let mut argv = vec![argv0];
    if let Some(data) = dir.read_small(&params)? {
        argv.extend(parse_params(&dir.join(&params), &sub(data))?);
    }
    let envp = match dir.read_small(&env)? {
        Some(data) => parse_env(&dir.join(&env), &sub(data))?,
        None => Vec::new(),
    };
    Ok(Some(ExecSpec { path, argv, envp }))
}

/// One entry of a `needs/` or `wants/` directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepEntry {
    /// The entry itself, e.g. `svc/web/needs/net`.
    pub entry: PathBuf,
    /// The canonical service directory it points to, or why it does not.
    pub target: Result<PathBuf, String>,
}

/// Read `needs/` or `wants/`: entries sorted by name, dot-entries skipped.
///
/// A missing directory means no dependencies. Anything else that keeps the
/// list from being read is an error for the whole service, because starting
/// it without knowing its dependencies could break their order.
pub fn read_deps(
    dir: &ServiceDir,
    kind: &str,
    canon: &mut Canon,
) -> Result<Vec<DepEntry>, FileError> {
    if dir.seen(kind) == Seen::Absent {
        return Ok(Vec::new());
    }
    let deps_dir = dir.join(kind);
    let iter = match fs::read_dir(&deps_dir) {
        Ok(it) => it,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(FileError::io(&deps_dir, &e)),
    };
    // Each entry's path `DEPS/NAME` at once (no separate copy of its
    // name): they share `DEPS/`, so they sort as their names do.
    let mut entries = Vec::new();
    for item in iter {
        let item = item.map_err(|e| FileError::io(&deps_dir, &e))?;
        let entry = item.path();
        if entry.file_name().and_then(|n| n.as_bytes().first()) == Some(&b'.') {
            continue;
        }
        if entries.len() >= MAX_DEPS {
            return Err(FileError::new(
                &deps_dir,
                format!("more than {MAX_DEPS} entries"),
            ));
        }
        entries.push(entry);
    }
    // Names in one directory are unique: an unstable sort gives the same
    // order as a stable one, with less code. Compared as bytes after the
    // `DEPS` they all start with (the names' order), not component by
    // component.
    let skip = deps_dir.as_os_str().len();
    entries.sort_unstable_by(|a, b| {
        let (a, b) = (a.as_os_str().as_bytes(), b.as_os_str().as_bytes());
        a.get(skip..).cmp(&b.get(skip..))
    });
    Ok(entries
        .into_iter()
        .map(|entry| {
            let target = resolve_service_dir(&entry, canon);
            DepEntry { entry, target }
        })
        .collect())
}

/// Canonicalise a path that must name a service directory. A path (or a
/// link) to nothing whose name is an instance's (`…/getty@ttyS1`) names
/// that instance when its template is a directory: its canonical service
/// directory is then the canonical template's with the instance's name
/// ([`crate::config::instance`]).
pub fn resolve_service_dir(path: &Path, canon: &mut Canon) -> Result<PathBuf, String> {
    match canon.canonicalize(path) {
        Ok(p) if p.is_dir() => Ok(p),
        Ok(_) => Err("not a directory".to_string()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => resolve_instance(path, canon),
        Err(e) => Err(describe_io(&e)),
    }
}

/// The canonical service directory of the instance `path` leads to
/// ([`crate::config::instance::instance_target`]), or why not.
#[inline(never)]
fn resolve_instance(path: &Path, canon: &mut Canon) -> Result<PathBuf, String> {
    use crate::config::instance::{instance_target, template_of};
    let target = instance_target(path)?;
    let Some((template, instance)) = target.as_deref().and_then(template_of) else {
        return Err("no such service".to_string());
    };
    match canon.canonicalize(template) {
        // The canonical template's path and the instance: `…/getty@ttyS1`.
        Ok(mut t) if t.is_dir() => {
            t.as_mut_os_string()
                .push(std::ffi::OsStr::from_bytes(instance));
            Ok(t)
        }
        _ => Err(format!(
            "no such service, and no template {}",
            template.file_name().map_or(template, Path::new).display()
        )),
    }
}

#[cfg(test)]
mod tests;
