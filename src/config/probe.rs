//! The `ready-probe` file and the pure side of probing: its parser, the
//! backoff between tries, and the state machine of one service's probe.
//!
//! A respawn service with `ready-probe` is `starting` from each spawn until
//! the probe holds, like one with `notification-fd` until it writes its
//! newline. The file holds one line:
//! - `tcp:HOST:PORT`: a TCP connect to HOST:PORT succeeds. HOST is an IP
//!   literal (IPv4, or IPv6 in brackets: `[::1]`), or `localhost` for
//!   127.0.0.1. Names are refused: resolving one would block PID 1
//!   (`getaddrinfo` has no deadline) and depend on files and servers that
//!   may not be up yet.
//! - `unix:/PATH`: a connect to the Unix stream socket at PATH succeeds.
//! - `exec PROGRAM [ARGS...]`: the program exits 0. Words are separated by
//!   blanks, with no quoting; a relative PROGRAM is found in the service
//!   directory (the probe's working directory, as the service's).
//!
//! The schedule: the first try [`FIRST_GAP_MS`] after the spawn, then the
//! gap doubles after each failed try up to [`MAX_GAP_MS`] ([`gap`]). Each
//! try has its own limit ([`Probe::try_limit`]): a connect that has not
//! finished within [`CONNECT_TRY_MS`](crate::engine::probe::CONNECT_TRY_MS), or a program still running after
//! [`EXEC_TRY_MS`](crate::engine::probe::EXEC_TRY_MS), is a failed try.
//!
//! Invariants: nothing here touches the system (the syscalls are in
//! [`crate::ready::prober`]); every error names the file and says what is wanted;
//! a [`Run`] is either waiting for its next try or in one try, never both.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::config::dirlist::ServiceDir;
use crate::config::svcdir::FileError;
use crate::engine::probe::Probe;
use crate::sys::clock::Millis;
use crate::sys::process::Pid;

/// The file naming a respawn service's readiness probe.
pub const READY_PROBE: &str = "ready-probe";
/// From the spawn to the first try.
pub const FIRST_GAP_MS: Millis = 10;
/// Longest gap between two tries.
pub const MAX_GAP_MS: Millis = 1_000;
/// Longest `unix:` path: the connect goes through `/proc/self/fd/N`, so
/// `sun_path`'s 108 bytes do not limit it; PATH_MAX does.
pub const MAX_UNIX_PATH: usize = 4095;

const WANT: &str = "write one line: tcp:HOST:PORT, unix:/PATH or exec PROGRAM [ARGS...]";

/// Parse one `ready-probe` line; the error is the reason.
pub fn parse_line(line: &str) -> Result<Probe, String> {
    if let Some(rest) = line.strip_prefix("tcp:") {
        return parse_tcp(rest).map(Probe::Tcp);
    }
    if let Some(rest) = line.strip_prefix("unix:") {
        return parse_unix(rest).map(Probe::Unix);
    }
    let mut words = line.split_ascii_whitespace();
    if words.next() == Some("exec") {
        let argv: Vec<String> = words.map(str::to_string).collect();
        if argv.is_empty() {
            return Err(format!("exec without a program; {WANT}"));
        }
        if argv.iter().any(|w| w.contains('\0')) {
            return Err(format!("a NUL byte in the command; {WANT}"));
        }
        return Ok(Probe::Exec(argv));
    }
    Err(format!("{line:?} is not a probe; {WANT}"))
}

fn parse_tcp(rest: &str) -> Result<SocketAddr, String> {
    let want = "write tcp:HOST:PORT with HOST an IP address (IPv6 in brackets) or localhost";
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (ip, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("tcp:{rest}: no closing ]; {want}"))?;
        let port = after
            .strip_prefix(':')
            .ok_or_else(|| format!("tcp:{rest}: no :PORT after the address; {want}"))?;
        let ip = ip
            .parse::<std::net::Ipv6Addr>()
            .map_err(|_| format!("tcp:{rest}: {ip:?} is not an IPv6 address; {want}"))?;
        (IpAddr::V6(ip), port)
    } else {
        let (host, port) = rest
            .rsplit_once(':')
            .ok_or_else(|| format!("tcp:{rest}: no :PORT; {want}"))?;
        let ip = match host {
            "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
            _ if host.contains(':') => {
                return Err(format!(
                    "tcp:{rest}: an IPv6 address goes in brackets ([::1]:80); {want}"
                ))
            }
            _ => host.parse::<Ipv4Addr>().map(IpAddr::V4).map_err(|_| {
                format!(
                    "tcp:{rest}: {host:?} is not an IP address; cinit resolves no host \
                     names (it would block PID 1); {want}"
                )
            })?,
        };
        (ip, port)
    };
    let port = match port.parse::<u16>() {
        Ok(p) if p > 0 && port.bytes().all(|b| b.is_ascii_digit()) => p,
        _ => return Err(format!("tcp:{rest}: {port:?} is not a port (1 to 65535)")),
    };
    Ok(SocketAddr::new(host, port))
}

fn parse_unix(rest: &str) -> Result<PathBuf, String> {
    let want = "write unix:/PATH with an absolute path to a stream socket";
    if rest.contains('\0') {
        return Err(format!("a NUL byte in the path; {want}"));
    }
    if rest.len() > MAX_UNIX_PATH {
        return Err(format!("the path is longer than {MAX_UNIX_PATH} bytes"));
    }
    let path = Path::new(rest);
    match crate::sys::safepath::components(path) {
        Ok(_) => Ok(path.to_path_buf()),
        Err(why) => Err(format!("unix:{rest}: {why}; {want}")),
    }
}

/// Parse a `ready-probe` file: exactly one line.
pub fn parse_probe(path: &Path, data: &[u8]) -> Result<Probe, FileError> {
    let t = std::str::from_utf8(data)
        .map(str::trim)
        .map_err(|_| FileError::new(path, format!("not text; {WANT}")))?;
    if t.is_empty() {
        return Err(FileError::new(path, format!("empty; {WANT}")));
    }
    if t.contains('\n') {
        return Err(FileError::new(path, format!("more than one line; {WANT}")));
    }
    parse_line(t).map_err(|reason| FileError::new(path, reason))
}

/// A service's `ready-probe`; `Ok(None)` if it has none.
pub fn read_ready_probe(dir: &ServiceDir) -> Result<Option<Probe>, FileError> {
    match dir.read_small(READY_PROBE)? {
        Some(data) => parse_probe(&dir.join(READY_PROBE), &data).map(Some),
        None => Ok(None),
    }
}

/// Why a service cannot have a `ready-probe`, if it cannot: a once
/// service (`respawn` false) is up when `on` exits 0, so a probe would be
/// a second answer to a question already answered; with `notification-fd`
/// too (`notifies`), it would be unclear which one counts. Both are
/// configuration errors: the service fails rather than starting with a
/// readiness its author did not mean.
pub fn conflict(respawn: bool, notifies: bool) -> Option<&'static str> {
    if !respawn {
        Some("not a respawn service: a once service is up when on exits 0; remove ready-probe")
    } else if notifies {
        Some("notification-fd is there too: choose one way to say the service is ready")
    } else {
        None
    }
}

/// The gap before the next try after `failed` failed tries: 10 ms, 20 ms,
/// 40 ms, … at most [`MAX_GAP_MS`].
pub fn gap(failed: u32) -> Millis {
    FIRST_GAP_MS
        .saturating_mul(1 << failed.min(20))
        .min(MAX_GAP_MS)
}

/// Where one service's probe is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The next try starts at this time.
    Wait { at: Millis },
    /// A try is under way; it has failed if not over by this time.
    Try { deadline: Millis },
}

/// The probe of one process of one service: it ends when the probe holds,
/// or when the process is no longer `starting` (the caller drops it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub svc: usize,
    /// The service's main process this probe is for.
    pub pid: Pid,
    failed: u32,
    step: Step,
}

impl Run {
    /// A probe for `pid` of `svc`, spawned at `now`.
    pub fn new(svc: usize, pid: Pid, now: Millis) -> Run {
        Run {
            svc,
            pid,
            failed: 0,
            step: Step::Wait {
                at: now.saturating_add(FIRST_GAP_MS),
            },
        }
    }

    pub fn step(&self) -> Step {
        self.step
    }

    /// Failed tries so far.
    pub fn failed(&self) -> u32 {
        self.failed
    }

    /// Whether the next try is due.
    pub fn is_due(&self, now: Millis) -> bool {
        matches!(self.step, Step::Wait { at } if at <= now)
    }

    /// Whether the try under way has run out of time.
    pub fn is_overdue(&self, now: Millis) -> bool {
        matches!(self.step, Step::Try { deadline } if deadline <= now)
    }

    /// A try starts at `now`, with at most `limit` to finish.
    pub fn begin(&mut self, now: Millis, limit: Millis) {
        self.step = Step::Try {
            deadline: now.saturating_add(limit),
        };
    }

    /// The try failed at `now`: the next one comes after the next gap.
    pub fn fail(&mut self, now: Millis) {
        self.failed = self.failed.saturating_add(1);
        self.step = Step::Wait {
            at: now.saturating_add(gap(self.failed)),
        };
    }

    /// When something must happen next: the next try, or the end of the
    /// one under way.
    pub fn deadline(&self) -> Millis {
        match self.step {
            Step::Wait { at } => at,
            Step::Try { deadline } => deadline,
        }
    }
}

#[cfg(test)]
mod tests;
