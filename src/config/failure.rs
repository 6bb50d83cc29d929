//! The failure files of a service directory: `restart-limit` and
//! `on-failure` ([`crate::engine::failure`] says what they do). Pure
//! parsers (unit-tested and fuzzed) and their reader.
//!
//! - `restart-limit`: one line `N SECONDS`: N exits (1 to
//!   [`MAX_EXITS`]) within SECONDS (more than 0, up to three decimals, at
//!   most [`crate::engine::failure::MAX_WINDOW_MS`] / 1000, as a
//!   `ready-timeout`). Read for a respawn service only: a
//!   once service is never restarted (`cinit-ctl check` says the file is
//!   ignored there).
//! - `on-failure`: one line, `reboot`, `poweroff`, `halt`, `rescue` or
//!   `start NAME` (NAME a service, as `cinit-ctl start` names it; one word,
//!   never a `..` component).
//!
//! In both, blank lines and `#` comments are skipped; anything else than
//! the one line is refused. Every error names the file and the line and
//! says what is wanted.
//!
//! Invariants: the reader goes through
//! [`ServiceDir::read_small`](crate::config::dirlist::ServiceDir::read_small):
//! a listed directory without the files costs no system call, and a
//! service without them gets no policy (nothing allocated).

use std::path::Path;

use crate::config::dirlist::ServiceDir;
use crate::config::ready::parse_ready_timeout;
use crate::config::svcdir::FileError;
use crate::engine::failure::{OnFailure, Policy, RestartLimit, MAX_EXITS};
use crate::proto::SystemAction;

/// The file of a respawn service's restart limit.
pub const RESTART_LIMIT: &str = "restart-limit";
/// The file of what a failure of the service leads to.
pub const ON_FAILURE: &str = "on-failure";

/// The one line of a file that holds one (blank lines and `#` comments
/// skipped): its number and text; an error naming the file otherwise.
fn one_line<'a>(path: &Path, data: &'a [u8], want: &str) -> Result<(usize, &'a str), FileError> {
    let text =
        std::str::from_utf8(data).map_err(|_| FileError::new(path, format!("not text; {want}")))?;
    let mut found = None;
    for (n, line) in (1..).zip(text.lines()) {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if found.is_some() {
            return Err(FileError::new(
                path,
                format!("line {n}: a second line; {want}"),
            ));
        }
        found = Some((n, line));
    }
    found.ok_or_else(|| FileError::new(path, format!("empty; {want}")))
}

/// What a `restart-limit` file must hold.
const LIMIT_WANT: &str = "write N SECONDS: N exits (1 to 1000) within SECONDS (more than 0, \
                          at most 86400, up to three decimals)";

/// Parse a `restart-limit` file: `N SECONDS`. The number is read as
/// `nice` is, the seconds as a `ready-timeout` (the same bounds: up to
/// three decimals, at most a day), so PID 1 carries no parser of its own.
pub fn parse_restart_limit(path: &Path, data: &[u8]) -> Result<RestartLimit, FileError> {
    let (n, line) = one_line(path, data, LIMIT_WANT)?;
    let bad = |why: &str| FileError::new(path, format!("line {n}: {why}"));
    let mut words = line.split_whitespace();
    let (Some(exits), Some(secs), None) = (words.next(), words.next(), words.next()) else {
        return Err(bad(&format!("not N SECONDS; {LIMIT_WANT}")));
    };
    let max = i32::try_from(MAX_EXITS).unwrap_or(i32::MAX);
    let exits = crate::config::context::parse_in(exits.as_bytes(), 1..=max)
        .map_err(|why| bad(&why))?
        .unsigned_abs();
    match parse_ready_timeout(path, secs.as_bytes()) {
        Ok(Some(within_ms)) => Ok(RestartLimit { exits, within_ms }),
        Ok(None) => Err(bad("a window of 0 seconds counts nothing")),
        Err(e) => Err(bad(&e.reason)),
    }
}

/// What an `on-failure` file must hold.
const ACTION_WANT: &str = "write one of reboot, poweroff, halt, rescue, start NAME";

/// Parse an `on-failure` file: `reboot`, `poweroff`, `halt`, `rescue` or
/// `start NAME` (NAME one word that does not leave the tree).
pub fn parse_on_failure(path: &Path, data: &[u8]) -> Result<OnFailure, FileError> {
    let (n, line) = one_line(path, data, ACTION_WANT)?;
    let system = |a| Ok(OnFailure::System(a));
    match line {
        "reboot" => return system(SystemAction::Reboot),
        "poweroff" => return system(SystemAction::Poweroff),
        "halt" => return system(SystemAction::Halt),
        "rescue" => return system(SystemAction::Rescue),
        _ => {}
    }
    let name = line
        .strip_prefix("start")
        .filter(|rest| rest.starts_with(char::is_whitespace))
        .map(str::trim_start)
        .filter(|name| !name.contains(char::is_whitespace))
        .filter(|name| name.split('/').all(|c| c != ".."));
    match name {
        Some(name) => Ok(OnFailure::Start(name.to_string())),
        None => Err(FileError::new(
            path,
            format!("line {n}: {line:?} is not an action; {ACTION_WANT}"),
        )),
    }
}

/// A service's failure policy; `Ok(None)` if it has neither file (a once
/// service's `restart-limit` is not read: it is never restarted).
pub fn read_policy(dir: &ServiceDir, respawn: bool) -> Result<Option<Policy>, FileError> {
    let limit = match respawn {
        true => match dir.read_small(RESTART_LIMIT)? {
            Some(data) => Some(parse_restart_limit(&dir.join(RESTART_LIMIT), &data)?),
            None => None,
        },
        false => None,
    };
    let action = match dir.read_small(ON_FAILURE)? {
        Some(data) => Some(parse_on_failure(&dir.join(ON_FAILURE), &data)?),
        None => None,
    };
    Ok((limit.is_some() || action.is_some()).then_some(Policy { limit, action }))
}

#[cfg(test)]
mod tests;
