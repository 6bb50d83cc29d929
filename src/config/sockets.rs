//! The `sockets` file of a service directory: the listening sockets cinit
//! creates for the service and passes to it (socket activation). Pure:
//! parsing only; [`crate::fds::listen`] binds them.
//!
//! One socket per line, `NAME ADDRESS [OPTION...]`, separated by blanks;
//! blank lines and lines starting with `#` are ignored:
//!
//! ```text
//! # name  address              options
//! http    tcp:80               backlog=512
//! https   tcp:[::]:443
//! dns     udp:127.0.0.1:53
//! ctl     unix:/run/web/ctl    mode=0660 group=web
//! ```
//!
//! - NAME: 1 to 64 of `A-Z a-z 0-9 _ . -`, unique in the file. It is the
//!   socket's entry in `LISTEN_FDNAMES`, which is colon-separated.
//! - ADDRESS: `unix:/PATH` or `unix-dgram:/PATH` (absolute, at most 107
//!   bytes: what `sun_path` holds), `tcp:HOST:PORT` or `udp:HOST:PORT` with
//!   HOST an IPv4 literal or a bracketed IPv6 literal (`tcp:[::1]:80`), or
//!   `tcp:PORT` / `udp:PORT`, which mean `0.0.0.0:PORT`. Host names are not
//!   accepted: PID 1 resolves nothing (it would mean network I/O at boot).
//!   `tcp:PORT` is IPv4 rather than `[::]` because whether `[::]` also takes
//!   IPv4 depends on `net.ipv6.bindv6only` and on IPv6 being there at all:
//!   the same file must mean the same thing on every machine. `tcp:[::]:80`
//!   asks for IPv6 explicitly (and gets IPv4 too on Linux's defaults).
//!   Port 0 is refused: it is a port the kernel picks and no client knows.
//! - OPTIONs, each at most once: `mode=0660` (octal, at most 0777; unix
//!   only; default 0666, every local user may connect), `owner=USER` and
//!   `group=GROUP` (names or numbers; unix only; default root),
//!   `backlog=N` (1 to 65535; stream sockets only; default 128).
//!
//! Invariants: a parsed spec only holds what [`crate::fds::listen::bind`] can
//! use as it is (names fit `LISTEN_FDNAMES`, paths fit `sun_path`, options
//! only where they mean something); at most [`MAX_SOCKETS`]; no two sockets
//! at the same address. Every error names the line and the reason;
//! [`read`] and [`load`] add the file.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::config::dirlist::ServiceDir;
use crate::config::svcdir::FileError;

/// The file's name in a service directory.
pub const FILE: &str = "sockets";
/// Most sockets one service may declare.
pub const MAX_SOCKETS: usize = 16;
/// Longest socket name.
pub const MAX_NAME: usize = 64;
/// Longest Unix socket path in bytes (`sun_path` is 108 bytes with its NUL).
pub const MAX_UNIX_PATH: usize = 107;
/// Mode of a Unix socket file without `mode=`.
pub const DEFAULT_MODE: u32 = 0o666;
/// `listen(2)` backlog without `backlog=`.
pub const DEFAULT_BACKLOG: i32 = 128;
/// Largest `backlog=` (the kernel caps it at `net.core.somaxconn` anyway).
pub const MAX_BACKLOG: i32 = 65535;
/// Longest user or group name in `owner=` / `group=`.
const MAX_ID_NAME: usize = 32;

/// Where a socket listens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Address {
    /// A Unix socket file; `dgram` for `SOCK_DGRAM`, else a stream.
    Unix {
        path: PathBuf,
        dgram: bool,
    },
    Tcp(SocketAddr),
    Udp(SocketAddr),
}

impl Address {
    /// A stream socket (listens and accepts), rather than datagrams.
    pub fn is_stream(&self) -> bool {
        matches!(self, Address::Tcp(_) | Address::Unix { dgram: false, .. })
    }

    /// How it is written in a `sockets` file: `tcp:0.0.0.0:80`.
    pub fn to_conf(&self) -> String {
        match self {
            Address::Unix { path, dgram } => format!(
                "{}:{}",
                if *dgram { "unix-dgram" } else { "unix" },
                path.display()
            ),
            Address::Tcp(a) => format!("tcp:{a}"),
            Address::Udp(a) => format!("udp:{a}"),
        }
    }

    /// Whether two addresses cannot both be bound: the same Unix path
    /// (whatever the type: it is one file), or the same protocol, IP and
    /// port.
    pub fn clashes(&self, other: &Address) -> bool {
        match (self, other) {
            (Address::Unix { path: a, .. }, Address::Unix { path: b, .. }) => a == b,
            (a, b) => a == b,
        }
    }

    /// The address with what [`Address::clashes`] ignores taken out (a Unix
    /// socket's type): two addresses clash when their keys are equal, so a
    /// set of keys finds a clash among many addresses in linear time.
    pub fn clash_key(&self) -> Address {
        match self {
            Address::Unix { path, .. } => Address::Unix {
                path: path.clone(),
                dgram: false,
            },
            a => a.clone(),
        }
    }
}

/// One declared socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketSpec {
    /// Its name in `LISTEN_FDNAMES`.
    pub name: String,
    pub address: Address,
    /// Unix sockets: the socket file's mode.
    pub mode: u32,
    /// Unix sockets: owner and group of the socket file (names or numbers),
    /// `None` = root.
    pub owner: Option<String>,
    pub group: Option<String>,
    /// Stream sockets: the `listen(2)` backlog.
    pub backlog: i32,
}

impl SocketSpec {
    /// A socket named `name` at `address` with the default options.
    pub fn new(name: &str, address: Address) -> SocketSpec {
        SocketSpec {
            name: name.to_string(),
            address,
            mode: DEFAULT_MODE,
            owner: None,
            group: None,
            backlog: DEFAULT_BACKLOG,
        }
    }

    /// How the socket is shown to people: `tcp 0.0.0.0:80`, `unix /run/x`.
    pub fn describe(&self) -> String {
        match &self.address {
            Address::Unix { path, dgram } => format!(
                "{} {}",
                if *dgram { "unix-dgram" } else { "unix" },
                path.display()
            ),
            Address::Tcp(a) => format!("tcp {a}"),
            Address::Udp(a) => format!("udp {a}"),
        }
    }

    /// The spec as a line of a `sockets` file, with every option that
    /// applies to its kind (so [`parse`] gives the same spec back).
    pub fn to_line(&self) -> String {
        let mut line = format!("{} {}", self.name, self.address.to_conf());
        if let Address::Unix { .. } = self.address {
            line.push_str(&format!(" mode={:04o}", self.mode));
            for (key, value) in [("owner", &self.owner), ("group", &self.group)] {
                if let Some(v) = value {
                    line.push_str(&format!(" {key}={v}"));
                }
            }
        }
        if self.address.is_stream() {
            line.push_str(&format!(" backlog={}", self.backlog));
        }
        line
    }
}

/// Whether `name` may name a socket (or any descriptor passed in
/// `LISTEN_FDNAMES`): 1 to [`MAX_NAME`] of `A-Z a-z 0-9 _ . -`.
pub fn valid_name(name: &str) -> bool {
    (1..=MAX_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

const ADDRESS_FORMS: &str =
    "write unix:/PATH, unix-dgram:/PATH, tcp:[HOST:]PORT or udp:[HOST:]PORT";

/// `1`..=`65535`, digits only.
fn parse_port(text: &str) -> Result<u16, String> {
    let bad = || format!("{text:?} is not a port; write 1 to 65535");
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match text.parse::<u16>() {
        Ok(0) => Err("port 0 is one the kernel would pick, unknown to clients; \
             write 1 to 65535"
            .to_string()),
        Ok(port) => Ok(port),
        Err(_) => Err(bad()),
    }
}

/// `HOST:PORT`, `[V6]:PORT` or `PORT` (= `0.0.0.0:PORT`).
fn parse_inet(text: &str) -> Result<SocketAddr, String> {
    if let Some(rest) = text.strip_prefix('[') {
        let Some((host, port)) = rest.split_once(']') else {
            return Err(format!("{text:?}: the IPv6 address has no closing \"]\""));
        };
        let ip: Ipv6Addr = host
            .parse()
            .map_err(|_| format!("{host:?} is not an IPv6 address"))?;
        let Some(port) = port.strip_prefix(':') else {
            return Err(format!("{text:?} has no port; write [{host}]:PORT"));
        };
        return Ok(SocketAddr::new(IpAddr::V6(ip), parse_port(port)?));
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        return Ok(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            parse_port(text)?,
        ));
    };
    if host.contains(':') {
        return Err(format!(
            "{text:?}: an IPv6 address goes in brackets, as in [::1]:80"
        ));
    }
    let ip: Ipv4Addr = host.parse().map_err(|_| {
        format!(
            "{host:?} is not an IPv4 address or a bracketed IPv6 address \
             (host names are not resolved)"
        )
    })?;
    Ok(SocketAddr::new(IpAddr::V4(ip), parse_port(port)?))
}

fn parse_unix_path(text: &str, dgram: bool) -> Result<Address, String> {
    if !text.starts_with('/') {
        return Err(format!("unix socket path {text:?} is not absolute"));
    }
    if text.contains('\0') {
        return Err(format!("unix socket path {text:?} contains a NUL byte"));
    }
    if text.len() > MAX_UNIX_PATH {
        return Err(format!(
            "unix socket path is {} bytes long; at most {MAX_UNIX_PATH} fit in a socket address",
            text.len()
        ));
    }
    if text.ends_with('/') {
        return Err(format!("unix socket path {text:?} names a directory"));
    }
    Ok(Address::Unix {
        path: PathBuf::from(text),
        dgram,
    })
}

/// One ADDRESS word.
pub fn parse_address(text: &str) -> Result<Address, String> {
    let bad = || format!("{text:?} is not an address; {ADDRESS_FORMS}");
    let (kind, rest) = text.split_once(':').ok_or_else(bad)?;
    match kind {
        "unix" => parse_unix_path(rest, false),
        "unix-dgram" => parse_unix_path(rest, true),
        "tcp" => parse_inet(rest).map(Address::Tcp),
        "udp" => parse_inet(rest).map(Address::Udp),
        _ => Err(bad()),
    }
}

/// `mode=`: octal digits, at most 0777.
fn parse_mode(text: &str) -> Result<u32, String> {
    let bad = || format!("mode {text:?} is not an octal mode; write for example 0660");
    if text.is_empty() || text.len() > 4 || !text.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err(bad());
    }
    let mode = u32::from_str_radix(text, 8).map_err(|_| bad())?;
    if mode > 0o777 {
        return Err(format!(
            "mode {text} has bits beyond 0777 (setuid, setgid and sticky mean nothing on a socket)"
        ));
    }
    Ok(mode)
}

/// `owner=` / `group=`: a number (not -1 as u32), or a portable user or
/// group name (letters, digits, `_ . -`, not starting with `-`, a `$` at
/// the end allowed, at most 32 bytes).
fn parse_id(what: &str, text: &str) -> Result<String, String> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return match text.parse::<u32>() {
            Ok(n) if n != u32::MAX => Ok(text.to_string()),
            _ => Err(format!("{text} is too large for a {what} id")),
        };
    }
    let body = text.strip_suffix('$').unwrap_or(text);
    let ok = !body.is_empty()
        && text.len() <= MAX_ID_NAME
        && !body.starts_with('-')
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(text.to_string())
    } else {
        Err(format!("{text:?} is not a {what} name or number"))
    }
}

/// `backlog=`: 1 to 65535.
fn parse_backlog(text: &str) -> Result<i32, String> {
    match text.parse::<i32>() {
        Ok(n) if (1..=MAX_BACKLOG).contains(&n) && text.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(n)
        }
        _ => Err(format!(
            "backlog {text:?} is not a number from 1 to {MAX_BACKLOG}"
        )),
    }
}

/// Apply one `KEY=VALUE` word to `spec`; `seen` holds the keys already given.
fn apply_option(spec: &mut SocketSpec, word: &str, seen: &mut Vec<String>) -> Result<(), String> {
    let unknown = || {
        format!("unknown option {word:?}; options are mode=, owner=, group= (unix) and backlog=")
    };
    let (key, value) = word.split_once('=').ok_or_else(unknown)?;
    if !matches!(key, "mode" | "owner" | "group" | "backlog") {
        return Err(unknown());
    }
    if seen.iter().any(|k| k == key) {
        return Err(format!("option {key}= is given twice"));
    }
    seen.push(key.to_string());
    let unix = matches!(spec.address, Address::Unix { .. });
    match key {
        "mode" | "owner" | "group" if !unix => Err(format!("{key}= applies to unix sockets only")),
        "mode" => parse_mode(value).map(|m| spec.mode = m),
        "owner" => parse_id("user", value).map(|v| spec.owner = Some(v)),
        "group" => parse_id("group", value).map(|v| spec.group = Some(v)),
        _ if !spec.address.is_stream() => {
            Err("backlog= applies to stream sockets only (unix, tcp), not to datagrams".to_string())
        }
        _ => parse_backlog(value).map(|b| spec.backlog = b),
    }
}

/// One line that is not blank or a comment.
fn parse_line(line: &str) -> Result<SocketSpec, String> {
    let mut words = line.split_ascii_whitespace();
    let name = words.next().unwrap_or_default();
    if !valid_name(name) {
        return Err(format!(
            "{name:?} is not a socket name; use 1 to {MAX_NAME} letters, digits, \"_\", \".\" or \"-\""
        ));
    }
    let Some(address) = words.next() else {
        return Err(format!(
            "socket {name:?} has no address; write NAME ADDRESS [OPTION...]"
        ));
    };
    let mut spec = SocketSpec::new(name, parse_address(address)?);
    let mut seen = Vec::new();
    for word in words {
        apply_option(&mut spec, word, &mut seen)?;
    }
    Ok(spec)
}

/// Parse a `sockets` file's text. Errors name the line and the reason.
pub fn parse(text: &str) -> Result<Vec<SocketSpec>, String> {
    // Which line each socket came from, for the messages about clashes.
    let mut found: Vec<(usize, SocketSpec)> = Vec::new();
    for (n, line) in text.split('\n').enumerate() {
        let lineno = n + 1;
        let line = line.trim_matches(|c: char| c.is_ascii_whitespace());
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = |reason: String| format!("line {lineno}: {reason}");
        let spec = parse_line(line).map_err(at)?;
        if found.len() >= MAX_SOCKETS {
            return Err(at(format!(
                "more than {MAX_SOCKETS} sockets; a service may have at most {MAX_SOCKETS}"
            )));
        }
        for (other, s) in &found {
            if s.name == spec.name {
                return Err(at(format!(
                    "the name {:?} is already used on line {other}",
                    spec.name
                )));
            }
            if s.address.clashes(&spec.address) {
                return Err(at(format!(
                    "{} is already socket {:?} on line {other}",
                    spec.address.to_conf(),
                    s.name
                )));
            }
        }
        found.push((lineno, spec));
    }
    Ok(found.into_iter().map(|(_, s)| s).collect())
}

/// The sockets of the service in `dir`: none without a `sockets` file.
/// The file is read as every service file is ([`read_small_file`](crate::config::svcdir::read_small_file): a
/// regular file of at most 64 KiB); an error keeps the errno when the file
/// could not be read at all (a full descriptor table is temporary).
pub fn load(dir: &ServiceDir) -> Result<Vec<SocketSpec>, FileError> {
    let Some(data) = dir.read_small(FILE)? else {
        return Ok(Vec::new());
    };
    let path = dir.join(FILE);
    let text = std::str::from_utf8(&data).map_err(|e| {
        FileError::new(
            &path,
            format!("not text (no UTF-8 after byte {})", e.valid_up_to()),
        )
    })?;
    parse(text).map_err(|reason| FileError::new(&path, reason))
}

/// The sockets of the service in `dir`: none without a `sockets` file.
/// Errors name the file and the reason.
pub fn read(dir: &Path) -> Result<Vec<SocketSpec>, String> {
    load(&ServiceDir::unlisted(dir)).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests;
