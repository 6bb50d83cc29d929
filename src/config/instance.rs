//! Service instances: one template directory, many services.
//!
//! A service directory whose name ends in `@` (`getty@`) is a *template*:
//! never started itself. `NAME@INSTANCE` (`getty@ttyS1`) names an
//! *instance* of it: a service of its own (state, log, fd store, cgroup),
//! whose files are the template's, with `%i` in its `.params` and `.env`
//! files replaced by the instance ([`substitute`]).
//!
//! An instance has no directory: its service directory, as the tree and
//! the hot-update snapshot keep it, is the path it would have beside its
//! template (`svc/getty@ttyS1`), and every reader of its files is sent to
//! the template ([`files_of`]). A real directory of that name is a plain
//! service of its own, which overrides the template for that one instance:
//! the rule is "an instance is a name `T@I` that is not there, beside a
//! template `T@` that is".
//!
//! Invariants: the split and the checks are pure ([`split`],
//! [`check_instance`], [`template_of`]); a name without `@` after its last
//! `/` costs nothing here (no system call, no allocation), so services
//! that are not instances pay nothing; an instance name is at most
//! [`MAX_INSTANCE`] bytes of [`allowed`] characters, never starts with
//! `.` or `-` (a `%i` becomes an argument: never an option, never a
//! hidden or relative path).

use std::borrow::Cow;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Longest instance name, in bytes: a device (`ttyS1`), an interface
/// (`eth0`, at most 15), a port, a host name's label fit with room to
/// spare; the cgroup leaf and the log name stay short.
pub const MAX_INSTANCE: usize = 64;

/// Whether `b` may be in an instance name: ASCII letters and digits and
/// `. _ - : +`. Enough for devices, interfaces, ports and `a.b` names;
/// nothing a shell, a path or a `.params` line would read differently
/// (no `/`, space, `%`, `@`, quote or control character).
pub fn allowed(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':' | b'+')
}

/// `name` (one path component) split at its first `@` into the template's
/// name (with its `@`) and the instance: `getty@ttyS1` is (`getty@`,
/// `ttyS1`). `None` for a name without `@`, a template (`getty@`, nothing
/// after the `@`) and a name starting with `@` (no template name).
pub fn split(name: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = name.iter().position(|&b| b == b'@')?;
    let template = name.get(..=at)?;
    let instance = name.get(at + 1..)?;
    (at > 0 && !instance.is_empty()).then_some((template, instance))
}

/// Whether a service directory is a template: its name ends in `@` and has
/// something before it.
pub fn is_template(dir: &Path) -> bool {
    dir.file_name()
        .map(OsStrExt::as_bytes)
        .is_some_and(|n| n.len() > 1 && n.ends_with(b"@") && n.first() != Some(&b'@'))
}

/// `dir`, unless it is a template's: a link to one is an error (a template
/// is never started itself).
pub fn not_template(dir: PathBuf) -> Result<PathBuf, String> {
    if is_template(&dir) {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        return Err(format!(
            "{name} is a template, never started itself; link to an instance, {name}NAME"
        ));
    }
    Ok(dir)
}

/// Why `instance` cannot be an instance name, if it cannot: empty, longer
/// than [`MAX_INSTANCE`], starting with `.` or `-`, or holding a byte
/// [`allowed`] refuses (`/`, NUL, `@`, `%`, space...).
pub fn check_instance(instance: &[u8]) -> Result<(), String> {
    // One message shape: the name and what is wrong with it.
    let why = if instance.is_empty() {
        "is empty"
    } else if instance.len() > MAX_INSTANCE {
        "is longer than 64 bytes"
    } else if matches!(instance.first(), Some(b'.' | b'-')) {
        "starts with '.' or '-'"
    } else if instance.iter().all(|&b| allowed(b)) {
        return Ok(());
    } else {
        "has a character other than letters, digits and . _ - : +"
    };
    Err(format!(
        "instance name {:?} {why}",
        String::from_utf8_lossy(instance)
    ))
}

/// The template name and the instance of the last name of `path` (text
/// after its last `/`) and where that name starts: `…/getty@ttyS1` is
/// (`getty@`, `ttyS1`). On bytes: no path parsing, no allocation.
fn last_split(path: &Path) -> Option<(usize, &[u8], &[u8])> {
    let bytes = path.as_os_str().as_bytes();
    let start = bytes.iter().rposition(|&b| b == b'/').map_or(0, |k| k + 1);
    let (template, instance) = split(bytes.get(start..)?)?;
    Some((start, template, instance))
}

/// For a service directory named `T@I` (a valid instance `I`), its
/// template `T@` beside it (a prefix of `dir`: `…/getty@ttyS1` gives
/// `…/getty@`) and the instance. Pure: whether either exists is not
/// asked. `None` for any other name.
pub fn template_of(dir: &Path) -> Option<(&Path, &[u8])> {
    let (start, template, instance) = last_split(dir)?;
    check_instance(instance).ok()?;
    let head = dir.as_os_str().as_bytes().get(..start + template.len())?;
    Some((Path::new(std::ffi::OsStr::from_bytes(head)), instance))
}

/// Where the files of service directory `dir` are: for an instance (a
/// name [`template_of`] accepts, with nothing at `dir`), its template's
/// directory and the instance. One `lstat` for a name with `@`, none for
/// any other.
#[inline(never)]
pub fn files_of(dir: &Path) -> Option<(&Path, &[u8])> {
    let found = template_of(dir)?;
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(found),
        _ => None,
    }
}

/// `data` (a `.params` or `.env` file) with `%i` replaced by `instance`
/// and `%%` by `%`. Any other `%` is kept as it is, with the character
/// after it (`%n` stays `%n`, a last `%` stays): a file written for
/// systemd's other specifiers keeps them visible rather than losing them
/// silently. Borrowed when there is no `%` at all.
pub fn substitute<'a>(data: &'a [u8], instance: &[u8]) -> Cow<'a, [u8]> {
    if !data.contains(&b'%') {
        return Cow::Borrowed(data);
    }
    let mut out = Vec::with_capacity(data.len() + instance.len());
    let mut rest = data.iter();
    while let Some(&b) = rest.next() {
        if b != b'%' {
            out.push(b);
            continue;
        }
        match rest.clone().next() {
            Some(b'i') => {
                rest.next();
                out.extend_from_slice(instance);
            }
            Some(b'%') => {
                rest.next();
                out.push(b'%');
            }
            _ => out.push(b'%'),
        }
    }
    Cow::Owned(out)
}

/// Where a link or a name that does not resolve would lead, if that is an
/// instance: `path` itself or, for a symbolic link, its target (one
/// level, relative to the link's directory). `Ok(None)` when it is not an
/// instance's name; `Err` naming what is wrong when it is one but cannot
/// be (a bad instance name).
pub fn instance_target(path: &Path) -> Result<Option<PathBuf>, String> {
    let target = match std::fs::read_link(path) {
        Ok(t) => path.parent().map_or_else(|| t.clone(), |p| p.join(&t)),
        Err(_) => path.to_path_buf(),
    };
    let Some((_, _, instance)) = last_split(&target) else {
        return Ok(None);
    };
    check_instance(instance)?;
    Ok(Some(target))
}

/// A start request's name `name` (its path `path`, which is not there)
/// as an instance: `Ok(Some(dir))`, its canonical service directory, when
/// its template is a directory; `Ok(None)` when `name` is no instance's;
/// `Err` naming the request when it is one that cannot be (a bad instance
/// name, no template). An instance name with a `/` is refused here too:
/// the path would otherwise be taken for a directory below `T@I`.
#[inline(never)]
pub fn resolve_request(name: &str, path: &Path) -> Result<Option<PathBuf>, String> {
    // `getty@a/b`: the instance would be `a/b`, which no name may hold
    // (the path is not there, so its last name is not the instance).
    if let Some((_, rest)) = name.split_once('@').filter(|(_, r)| r.contains('/')) {
        return Err(format!(
            "{name}: {}",
            check_instance(rest.as_bytes()).err().unwrap_or_default()
        ));
    }
    // A path that is not there: resolved as a link to it would be.
    if last_split(path).is_none() {
        return Ok(None);
    }
    super::svcdir::resolve_service_dir(path, &mut super::canon::Canon::new())
        .map(Some)
        .map_err(|why| format!("{name}: {why}"))
}

#[cfg(test)]
mod tests;
