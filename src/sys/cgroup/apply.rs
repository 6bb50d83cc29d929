//! Writing a service's `cgroup` file into its cgroup, and the small
//! bounded reads of interface files that cinit and cinit-ctl make.
//!
//! [`apply_settings`] runs at a start of a service that has settings,
//! after its cgroup is made and before anything is spawned into it. Each
//! controller a setting needs is enabled on the way down (in
//! `BASE/cgroup.subtree_control`, then `BASE/svc/cgroup.subtree_control`)
//! unless it is already, then each value is written into its file with
//! one `write`. Invariants: nothing is written outside the three
//! directories it is given (a setting's file is one path component,
//! checked where it is parsed: `config::cgroupconf`); a controller the
//! base does not have, or a write the kernel refuses, is an error naming
//! the setting and the reason, and the caller fails the start (a service
//! that asked for a limit never runs without it). Reads are capped at
//! [`MAX_READ`] bytes.

use std::path::Path;

use super::parse::has_word;

/// One line of a service's `cgroup` file: an interface file of its cgroup
/// (`memory.max`) and the value written into it (`64M`), as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub file: String,
    pub value: String,
}

impl Setting {
    /// The controller the file belongs to (`memory` for `memory.max`).
    pub fn controller(&self) -> &str {
        self.file.split('.').next().unwrap_or_default()
    }
}

impl std::fmt::Display for Setting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.file, self.value)
    }
}

/// The most bytes read of one interface file: the ones read here
/// (`cgroup.controllers`, `memory.events`, `cpu.stat`) are a few hundred.
pub const MAX_READ: usize = 4096;

/// `path` read whole (at most [`MAX_READ`] bytes), as text, through
/// [`super::file::read`] (the files are made by the kernel at each read,
/// so their size is not known before).
pub fn read_text(path: &Path) -> std::io::Result<String> {
    super::file::read(text_of(path)?, MAX_READ).map_err(std::io::Error::from_raw_os_error)
}

/// A path as the text [`super::file`] takes (cinit's cgroup paths are
/// made of text: the mount table's and the service names').
fn text_of(path: &Path) -> std::io::Result<&str> {
    path.to_str()
        .ok_or_else(|| std::io::Error::from_raw_os_error(libc::ENOENT))
}

/// The short text of an I/O error, without Rust's "(os error N)".
fn why(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => super::file::desc(code).to_string(),
        None => e.to_string(),
    }
}

/// Write `text` into the interface file `path` in one `write` (the kernel
/// parses each write on its own). `O_TRUNC`, as a shell's `>` opens it:
/// the kernel ignores it, and a plain file then holds just this value.
fn write_file(path: &Path, text: &str) -> std::io::Result<()> {
    super::file::write_with(
        text_of(path)?,
        libc::O_WRONLY | libc::O_TRUNC,
        text.as_bytes(),
    )
    .map_err(std::io::Error::from_raw_os_error)
}

/// Enable `controller` for the children of `dir` unless it already is.
fn enable(dir: &Path, controller: &str) -> Result<(), String> {
    let file = dir.join("cgroup.subtree_control");
    let text = read_text(&file).map_err(|e| format!("reading {}: {}", file.display(), why(&e)))?;
    if has_word(&text, controller) {
        return Ok(());
    }
    write_file(&file, &format!("+{controller}"))
        .map_err(|e| format!("enabling {controller} in {}: {}", file.display(), why(&e)))
}

/// Write `settings` into `cgroup` (a service's cgroup, `BASE/svc/LEAF`),
/// enabling each controller they need in `base` and `svc_base_svc`
/// (`BASE/svc`) first. The error names the setting and the reason
/// (`memory.max 64M: controller memory not available`).
pub fn apply_settings(
    cgroup: &Path,
    svc_base_svc: &Path,
    base: &Path,
    settings: &[Setting],
) -> Result<(), String> {
    if settings.is_empty() {
        return Ok(());
    }
    let controllers_file = base.join("cgroup.controllers");
    let available = read_text(&controllers_file)
        .map_err(|e| format!("reading {}: {}", controllers_file.display(), why(&e)))?;
    for (n, s) in settings.iter().enumerate() {
        let c = s.controller();
        // Each controller once, at its first setting.
        if settings.iter().take(n).any(|o| o.controller() == c) {
            continue;
        }
        if !has_word(&available, c) {
            return Err(format!(
                "{s}: controller {c} not available (not in {})",
                controllers_file.display()
            ));
        }
        enable(base, c).map_err(|e| format!("{s}: {e}"))?;
        enable(svc_base_svc, c).map_err(|e| format!("{s}: {e}"))?;
    }
    for s in settings {
        let file = cgroup.join(&s.file);
        write_file(&file, &s.value)
            .map_err(|e| format!("{s}: writing {}: {}", file.display(), why(&e)))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
