//! A service's execution context: the files `user`, `limits`, `nice`,
//! `oom-score-adj` and `no-new-privs`, read at each start of `on` and of
//! `off` (like `on.params`) into the [`ExecContext`] the spawned child
//! applies ([`crate::sys::spawn::spawn_in`]).
//!
//! | file | content |
//! |---|---|
//! | `user` | `USER[:GROUP[:GROUP…]]`, names or numbers |
//! | `limits` | one `RESOURCE SOFT[:HARD]` per line, as `prlimit(1)` names them |
//! | `nice` | −20 … 19 |
//! | `oom-score-adj` | −1000 … 1000 |
//! | `no-new-privs` | present: `PR_SET_NO_NEW_PRIVS` |
//!
//! Invariants: a service with none of the files gets `None` and costs
//! nothing (the directory's listing says they are absent); every error
//! names the file and the reason, and the service then fails (it never
//! runs as root, or with limits it did not ask for, instead); users and
//! groups are resolved from `/etc/passwd` and `/etc/group`, read only when
//! a name (or a lone uid) needs them, each at most [`MAX_DB_BYTES`].

use std::path::Path;

use crate::config::dirlist::ServiceDir;
use crate::config::passwd::{find_group, find_uid, find_user, groups_of, parse_id, MAX_GROUPS};
use crate::config::svcdir::{read_opened_max, FileError};
use crate::sys::spawn::{Creds, ExecContext, Limit, OomText};

pub const USER: &str = "user";
pub const LIMITS: &str = "limits";
pub const NICE: &str = "nice";
pub const OOM_SCORE_ADJ: &str = "oom-score-adj";
pub const NO_NEW_PRIVS: &str = "no-new-privs";

/// Where users and groups are looked up.
pub const PASSWD: &str = "/etc/passwd";
pub const GROUP: &str = "/etc/group";

/// The largest `/etc/passwd` or `/etc/group` cinit reads (a machine's,
/// not a directory server's: tens of thousands of entries).
pub const MAX_DB_BYTES: u64 = 4 << 20;

/// The resources of a `limits` file, named as `prlimit(1)` names them.
pub const RESOURCES: [(&str, libc::c_uint); 16] = [
    ("as", libc::RLIMIT_AS as libc::c_uint),
    ("core", libc::RLIMIT_CORE as libc::c_uint),
    ("cpu", libc::RLIMIT_CPU as libc::c_uint),
    ("data", libc::RLIMIT_DATA as libc::c_uint),
    ("fsize", libc::RLIMIT_FSIZE as libc::c_uint),
    ("locks", libc::RLIMIT_LOCKS as libc::c_uint),
    ("memlock", libc::RLIMIT_MEMLOCK as libc::c_uint),
    ("msgqueue", libc::RLIMIT_MSGQUEUE as libc::c_uint),
    ("nice", libc::RLIMIT_NICE as libc::c_uint),
    ("nofile", libc::RLIMIT_NOFILE as libc::c_uint),
    ("nproc", libc::RLIMIT_NPROC as libc::c_uint),
    ("rss", libc::RLIMIT_RSS as libc::c_uint),
    ("rtprio", libc::RLIMIT_RTPRIO as libc::c_uint),
    ("rttime", libc::RLIMIT_RTTIME as libc::c_uint),
    ("sigpending", libc::RLIMIT_SIGPENDING as libc::c_uint),
    ("stack", libc::RLIMIT_STACK as libc::c_uint),
];

/// One field of a `user` file: a name or a number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Id {
    Name(String),
    Num(u32),
}

/// A parsed `user` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSpec {
    pub user: Id,
    /// Empty: the user's own groups.
    pub groups: Vec<Id>,
}

/// The text of a one-line file, without its final newline; `None` if it
/// is not UTF-8 or has more than one line.
fn one_line(data: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(data).ok()?;
    let text = text.strip_suffix('\n').unwrap_or(text);
    (!text.contains('\n')).then_some(text)
}

/// Parse a `user` file: `USER[:GROUP[:GROUP…]]`.
pub fn parse_user(data: &[u8]) -> Result<UserSpec, String> {
    let text = one_line(data).ok_or("not one line of text")?.trim();
    let mut ids = text.split(':').map(|field| {
        if field.is_empty() || field.bytes().any(|b| b.is_ascii_whitespace() || b == b',') {
            return Err(format!("{field:?} is not a user or group name or number"));
        }
        Ok(match parse_id(field.as_bytes()) {
            Some(n) => Id::Num(n),
            None if field.bytes().all(|b| b.is_ascii_digit()) => {
                return Err(format!("{field} is not an id (0 to {})", u32::MAX - 1))
            }
            None => Id::Name(field.to_string()),
        })
    });
    let user = ids.next().ok_or("empty")??;
    let groups = ids.collect::<Result<Vec<_>, _>>()?;
    if groups.len() > MAX_GROUPS {
        return Err(format!("more than {MAX_GROUPS} groups"));
    }
    Ok(UserSpec { user, groups })
}

/// The credentials of `spec`, looked up in the texts `passwd()` and
/// `group()` (each asked for only when needed).
pub fn resolve(
    spec: &UserSpec,
    passwd: &mut dyn FnMut() -> Result<Vec<u8>, String>,
    group: &mut dyn FnMut() -> Result<Vec<u8>, String>,
) -> Result<Creds, String> {
    let (uid, name) = match (&spec.user, spec.groups.is_empty()) {
        (Id::Num(n), false) => (*n, n.to_string()),
        (Id::Num(n), true) => {
            let text = passwd()?;
            let (user, gid) = find_uid(&text, *n).ok_or_else(|| {
                format!("uid {n} has no entry in {PASSWD}: name its group ({n}:GROUP)")
            })?;
            let groups = groups_of(&group()?, user, gid)
                .ok_or_else(|| format!("uid {n} is in more than {MAX_GROUPS} groups"))?;
            return Ok(Creds {
                uid: *n,
                gid,
                groups,
                name: n.to_string(),
            });
        }
        (Id::Name(user), only) => {
            let text = passwd()?;
            let account = find_user(&text, user.as_bytes())
                .ok_or_else(|| format!("no user {user} in {PASSWD}"))?;
            if only {
                let groups = groups_of(&group()?, user.as_bytes(), account.gid)
                    .ok_or_else(|| format!("{user} is in more than {MAX_GROUPS} groups"))?;
                return Ok(Creds {
                    uid: account.uid,
                    gid: account.gid,
                    groups,
                    name: user.clone(),
                });
            }
            (account.uid, user.clone())
        }
    };
    let mut group_text: Option<Vec<u8>> = None;
    let mut gid_of = |id: &Id| -> Result<u32, String> {
        match id {
            Id::Num(n) => Ok(*n),
            Id::Name(name) => {
                if group_text.is_none() {
                    group_text = Some(group()?);
                }
                let text = group_text.as_deref().unwrap_or_default();
                find_group(text, name.as_bytes())
                    .ok_or_else(|| format!("no group {name} in {GROUP}"))
            }
        }
    };
    let groups = spec
        .groups
        .iter()
        .map(&mut gid_of)
        .collect::<Result<Vec<u32>, String>>()?;
    Ok(Creds {
        uid,
        gid: groups.first().copied().unwrap_or_default(),
        groups,
        name,
    })
}

/// A limit's value: a number or `unlimited`.
fn limit_value(text: &str) -> Option<u64> {
    match text {
        "unlimited" | "infinity" => Some(u64::MAX),
        t if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) => {
            t.parse::<u64>().ok().filter(|&v| v != u64::MAX)
        }
        _ => None,
    }
}

/// Parse a `limits` file: one `RESOURCE SOFT[:HARD]` per line (blank
/// lines and `#` comments are skipped); a lone value is both limits.
pub fn parse_limits(data: &[u8]) -> Result<Vec<Limit>, String> {
    let text = std::str::from_utf8(data).map_err(|_| "not text".to_string())?;
    let mut out: Vec<Limit> = Vec::new();
    for (n, line) in (1..).zip(text.lines()) {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |why: &str| format!("line {n}: {why}");
        let mut words = line.split_whitespace();
        let (Some(name), Some(value), None) = (words.next(), words.next(), words.next()) else {
            return Err(bad("not RESOURCE SOFT[:HARD]"));
        };
        let &(name, resource) = RESOURCES
            .iter()
            .find(|(r, _)| *r == name)
            .ok_or_else(|| bad(&format!("unknown resource {name:?}")))?;
        let (soft, hard) = value.split_once(':').unwrap_or((value, value));
        let (Some(soft), Some(hard)) = (limit_value(soft), limit_value(hard)) else {
            return Err(bad(&format!(
                "{value:?} is not SOFT[:HARD] (numbers or unlimited)"
            )));
        };
        if soft > hard {
            return Err(bad(&format!("{name}: soft limit above the hard limit")));
        }
        if out.iter().any(|l| l.name == name) {
            return Err(bad(&format!("{name} is set twice")));
        }
        out.push(Limit {
            resource,
            name,
            values: [soft, hard],
        });
    }
    Ok(out)
}

/// Parse a one-number file whose value lies in `range`.
pub fn parse_in(data: &[u8], range: std::ops::RangeInclusive<i32>) -> Result<i32, String> {
    let text = one_line(data).map(str::trim).unwrap_or("");
    text.parse::<i32>()
        .ok()
        .filter(|v| range.contains(v))
        .ok_or_else(|| {
            format!(
                "{text:?} is not a number from {} to {}",
                range.start(),
                range.end()
            )
        })
}

/// Read a user database file, bounded, as service files are read.
fn read_db(path: &str) -> Result<Vec<u8>, String> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = Path::new(path);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(crate::config::svcdir::SMALL_FILE_FLAGS)
        .open(path)
        .map_err(|e| FileError::io(path, &e).to_string())?;
    read_opened_max(file, path, MAX_DB_BYTES).map_err(|e| e.to_string())
}

/// Read the service's execution context; `Ok(None)` when it has none of
/// the files.
pub fn read_context(dir: &ServiceDir) -> Result<Option<ExecContext>, FileError> {
    let mut ctx = ExecContext::default();
    let mut any = false;
    let fail = |name: &str, why: String| FileError::new(&dir.join(name), why);
    if let Some(data) = dir.read_small(USER)? {
        let spec = parse_user(&data).map_err(|e| fail(USER, e))?;
        let creds = resolve(&spec, &mut || read_db(PASSWD), &mut || read_db(GROUP))
            .map_err(|e| fail(USER, e))?;
        ctx.creds = Some(creds);
        any = true;
    }
    if let Some(data) = dir.read_small(LIMITS)? {
        ctx.limits = parse_limits(&data).map_err(|e| fail(LIMITS, e))?;
        any = true;
    }
    if let Some(data) = dir.read_small(NICE)? {
        ctx.nice = Some(parse_in(&data, -20..=19).map_err(|e| fail(NICE, e))?);
        any = true;
    }
    if let Some(data) = dir.read_small(OOM_SCORE_ADJ)? {
        let value = parse_in(&data, -1000..=1000).map_err(|e| fail(OOM_SCORE_ADJ, e))?;
        ctx.oom_score_adj = OomText::new(value);
        any = true;
    }
    if dir
        .exists(NO_NEW_PRIVS)
        .map_err(|e| FileError::io(&dir.join(NO_NEW_PRIVS), &e))?
    {
        ctx.no_new_privs = true;
        any = true;
    }
    Ok(any.then_some(ctx))
}

/// The file of the execution context a failed step of the child belongs
/// to, and what the step was, for the service's failure reason.
pub fn step_text(
    ctx: &ExecContext,
    step: crate::sys::spawn::Step,
) -> Option<(&'static str, String)> {
    use crate::sys::spawn::Step;
    let creds = ctx.creds.as_ref();
    Some(match step {
        Step::Setup | Step::Exec | Step::Cgroup => return None,
        Step::Limit(i) => {
            let l = ctx.limits.get(i)?;
            let v = |v: u64| {
                if v == u64::MAX {
                    "unlimited".to_string()
                } else {
                    v.to_string()
                }
            };
            let [soft, hard] = l.values;
            (LIMITS, format!("{} {}:{}", l.name, v(soft), v(hard)))
        }
        Step::Nice => (NICE, format!("nice {}", ctx.nice.unwrap_or_default())),
        Step::OomScoreAdj => (
            OOM_SCORE_ADJ,
            "writing /proc/self/oom_score_adj".to_string(),
        ),
        Step::NoNewPrivs => (NO_NEW_PRIVS, "PR_SET_NO_NEW_PRIVS".to_string()),
        Step::Setgroups => (USER, format!("setgroups ({} groups)", creds?.groups.len())),
        Step::Setgid => (USER, format!("setgid {}", creds?.gid)),
        Step::Setuid => (USER, format!("setuid {}", creds?.uid)),
    })
}

#[cfg(test)]
mod tests;
