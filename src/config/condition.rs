//! A service's `condition` file: what must hold for a start to run the
//! service at all. A start whose condition does not hold runs nothing and
//! leaves the service `skipped`, the failed condition as its reason.
//!
//! One condition per line, every one must hold: `exists PATH`,
//! `directory PATH`, `cmdline WORD`, each negated by a leading `!`
//! (`!exists /dev/vda`). Blank lines and `#` comments are skipped, as in
//! the other line files of a service directory.
//!
//! - `exists PATH`: something is at PATH; a final symbolic link is
//!   followed (a dangling one does not exist), as systemd's
//!   ConditionPathExists follows it.
//! - `directory PATH`: PATH is a directory (a link to one counts).
//! - `cmdline WORD`: a whitespace-separated word of `/proc/cmdline` equals
//!   WORD; a WORD without `=` also matches a word `WORD=anything`, as
//!   systemd's ConditionKernelCommandLine does (`cmdline quiet`,
//!   `cmdline cinit.data`, `cmdline console=ttyS0`). No quoting.
//!
//! Invariants: parsing is pure and bounded (the file is at most
//! [`MAX_BYTES`], at most [`MAX_CONDITIONS`] conditions, a line at most
//! [`MAX_LINE`] bytes); PATH is absolute, one line, without NUL. The
//! evaluation asks the system only through [`Facts`], so the logic is
//! tested against a fake; the real facts ([`SysFacts`]) are a `stat` per
//! path condition and one bounded read of `/proc/cmdline` at most, made
//! only for a service that has the file (its listing says so, no system
//! call otherwise), and only when a start runs it, not when a respawn
//! service is restarted.

use std::fmt;
use std::io::Read;

use crate::config::dirlist::ServiceDir;
use crate::config::svcdir::FileError;

/// The file's name in a service directory.
pub const FILE: &str = "condition";
/// The largest `condition` file read.
pub const MAX_BYTES: u64 = 4096;
/// The most conditions in one file.
pub const MAX_CONDITIONS: usize = 32;
/// The longest line.
pub const MAX_LINE: usize = 1024;
/// The most bytes of `/proc/cmdline` looked at (the kernel's own limit is
/// 2048 on x86 and at most 4096 elsewhere).
pub const MAX_CMDLINE: u64 = 4096;

/// What a condition tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Test {
    Exists,
    Directory,
    Cmdline,
}

impl Test {
    fn word(self) -> &'static str {
        match self {
            Test::Exists => "exists",
            Test::Directory => "directory",
            Test::Cmdline => "cmdline",
        }
    }
}

/// One line of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub negated: bool,
    pub test: Test,
    /// The path, or the word of the kernel command line.
    pub arg: String,
}

impl fmt::Display for Condition {
    /// As written, normalised: `!exists /dev/vda`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bang = if self.negated { "!" } else { "" };
        write!(f, "{bang}{} {}", self.test.word(), self.arg)
    }
}

/// Parse a `condition` file; an error says `line N: why`.
pub fn parse(data: &[u8]) -> Result<Vec<Condition>, String> {
    if data.len() as u64 > MAX_BYTES {
        return Err(format!("larger than {MAX_BYTES} bytes"));
    }
    let text = std::str::from_utf8(data).map_err(|_| "not text".to_string())?;
    let mut out = Vec::new();
    for (n, line) in (1..).zip(text.split('\n')) {
        let bad = |why: String| format!("line {n}: {why}");
        if line.len() > MAX_LINE {
            return Err(bad(format!("longer than {MAX_LINE} bytes")));
        }
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if out.len() >= MAX_CONDITIONS {
            return Err(bad(format!("more than {MAX_CONDITIONS} conditions")));
        }
        out.push(parse_line(line).map_err(bad)?);
    }
    Ok(out)
}

/// One non-blank line, trimmed.
fn parse_line(line: &str) -> Result<Condition, String> {
    let (negated, rest) = match line.strip_prefix('!') {
        Some(rest) => (true, rest.trim_start()),
        None => (false, line),
    };
    let (word, arg) = rest
        .split_once(|c: char| c.is_ascii_whitespace())
        .map(|(w, a)| (w, a.trim()))
        .unwrap_or((rest, ""));
    let test = match word {
        "exists" => Test::Exists,
        "directory" => Test::Directory,
        "cmdline" => Test::Cmdline,
        _ => {
            return Err(format!(
                "unknown condition {word:?} (exists PATH, directory PATH, cmdline WORD, each may start with !)"
            ))
        }
    };
    if arg.is_empty() {
        return Err(format!("{} needs an argument", test.word()));
    }
    if arg.chars().any(|c| c.is_control()) {
        return Err("control characters in the argument".into());
    }
    match test {
        Test::Cmdline if arg.contains(|c: char| c.is_whitespace()) => {
            return Err(format!("cmdline {arg:?}: one word, without spaces"));
        }
        Test::Exists | Test::Directory if !arg.starts_with('/') => {
            return Err(format!("{} {arg:?}: not an absolute path", test.word()));
        }
        _ => {}
    }
    Ok(Condition {
        negated,
        test,
        arg: arg.to_string(),
    })
}

/// What a path is, as far as conditions care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Missing,
    Directory,
    Other,
}

/// The system as conditions see it.
pub trait Facts {
    /// What is at `path`, a final symbolic link followed; anything that
    /// cannot be looked at (a dangling link, no permission) is missing.
    fn kind(&mut self, path: &str) -> Kind;
    /// The kernel command line (what could be read of it; empty if
    /// nothing).
    fn cmdline(&mut self) -> &[u8];
}

/// Whether `word` is on the command line `cmdline`: a word equal to it,
/// or, for a word without `=`, a word `WORD=…`.
pub fn on_cmdline(cmdline: &[u8], word: &str) -> bool {
    let word = word.as_bytes();
    let key_only = !word.contains(&b'=');
    cmdline
        .split(u8::is_ascii_whitespace)
        .filter(|w| !w.is_empty())
        .any(|w| {
            w == word
                || key_only
                    && w.strip_prefix(word)
                        .is_some_and(|rest| rest.first() == Some(&b'='))
        })
}

/// Whether one condition holds.
pub fn holds(c: &Condition, facts: &mut dyn Facts) -> bool {
    let is = match c.test {
        Test::Exists => facts.kind(&c.arg) != Kind::Missing,
        Test::Directory => facts.kind(&c.arg) == Kind::Directory,
        Test::Cmdline => on_cmdline(facts.cmdline(), &c.arg),
    };
    is != c.negated
}

/// The first condition that does not hold, in the file's order; `None`
/// when all hold.
pub fn first_failed<'a>(conds: &'a [Condition], facts: &mut dyn Facts) -> Option<&'a Condition> {
    conds.iter().find(|c| !holds(c, facts))
}

/// The real system: `stat(2)` per path, `/proc/cmdline` read once, at most
/// [`MAX_CMDLINE`] bytes.
#[derive(Default)]
pub struct SysFacts {
    cmdline: Option<Vec<u8>>,
}

impl Facts for SysFacts {
    fn kind(&mut self, path: &str) -> Kind {
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => Kind::Directory,
            Ok(_) => Kind::Other,
            Err(_) => Kind::Missing,
        }
    }

    fn cmdline(&mut self) -> &[u8] {
        self.cmdline.get_or_insert_with(|| {
            let mut data = Vec::new();
            if let Ok(f) = std::fs::File::open("/proc/cmdline") {
                // A failed read leaves what was read: no word matches.
                let _ = f.take(MAX_CMDLINE).read_to_end(&mut data);
            }
            data
        })
    }
}

/// The condition of a service that does not hold, as written (`!exists
/// /dev/vda`); `Ok(None)` when it has no `condition` file (no system call:
/// the listing says so) or every condition holds. A file that cannot be
/// read or parsed is an error naming it.
pub fn check(files: &ServiceDir) -> Result<Option<String>, FileError> {
    let conds = read(files)?;
    if conds.is_empty() {
        return Ok(None);
    }
    let failed = first_failed(&conds, &mut SysFacts::default());
    Ok(failed.map(|c| c.to_string()))
}

/// A service's conditions, parsed, not evaluated (`cinit-ctl check`);
/// none without the file.
pub fn read(files: &ServiceDir) -> Result<Vec<Condition>, FileError> {
    match files.read_small(FILE)? {
        None => Ok(Vec::new()),
        Some(data) => parse(&data).map_err(|e| FileError::new(&files.join(FILE), e)),
    }
}

#[cfg(test)]
mod tests;
