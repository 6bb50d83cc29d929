//! The hot-update snapshot: everything a new cinit image needs to carry on
//! exactly where the old one stopped, as bytes.
//!
//! Pure codec (no system calls); [`crate::update`] writes it to a memfd and
//! reads it back after `execve`. The format is documented in
//! `doc/DESIGN.md` ("Hot update snapshot"); in short:
//!
//! ```text
//! header:  "cinitsnp" | format u16 | reserved u16 | body length u32 | FNV-1a-64 of body
//! body:    section*    section = tag u8 | length u32 | payload
//! payload: fields in a fixed order (integers big-endian; strings and lists
//!          length-prefixed with u32)
//! ```
//!
//! Version rules: sections and fields are only ever *added* — a new section
//! gets a new tag, a new field goes at the end of its section. A reader
//! skips unknown tags and ignores bytes after the fields it knows; a field
//! missing at the end of a section (an older writer) takes its default. The
//! format number changes only when this rule must be broken; a reader
//! refuses a format it does not know. Each section decodes on its own: a
//! damaged one is reported as lost and the others are still adopted.
//!
//! Decoding never panics and never trusts a length: every read is checked
//! against what is left, and counts are bounded.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use crate::control::commands::Pending;
use crate::engine::state::{ExitStatus, Reason, SpawnError};
use crate::engine::{Node, SvcRecord, Times};

pub const MAGIC: [u8; 8] = *b"cinitsnp";
pub const FORMAT: u16 = 1;
const HEADER_LEN: usize = 24;
/// Most items of one kind a snapshot may hold (services, clients, ops).
pub const MAX_ITEMS: usize = 1 << 16;

mod tag {
    pub const META: u8 = 1;
    pub const TREE: u8 = 2;
    pub const NODE: u8 = 3;
    pub const SERVICE: u8 = 4;
    pub const CONSOLE: u8 = 5;
    pub const CONTROL: u8 = 6;
    pub const CLIENT: u8 = 7;
    pub const PENDING: u8 = 8;
    pub const WAITER: u8 = 9;
    pub const LOG: u8 = 11;
    pub const FOLLOWER: u8 = 13;
    pub const READY: u8 = 10;
    pub const TIMELINE: u8 = 12;
    pub const HELD: u8 = 14;
}

/// The service tree as loaded: where each service lives, and the roots.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TreeState {
    pub svc_root: PathBuf,
    pub dirs: Vec<PathBuf>,
    pub roots: Vec<usize>,
}

/// cinit's console descriptors and what was not written yet.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsoleState {
    pub log_fd: i32,
    pub child_fd: i32,
    pub pending: Vec<u8>,
    pub dropped: u64,
}

/// One connected control client.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientRecord {
    pub id: u64,
    pub fd: i32,
    pub uid: u32,
    pub input: Vec<u8>,
    pub output: Vec<u8>,
    pub closing: bool,
    pub busy: bool,
    pub deadline: Option<u64>,
}

/// The control socket and its clients.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ControlState {
    pub listener_fd: i32,
    pub path: PathBuf,
    pub next_id: u64,
    pub clients: Vec<ClientRecord>,
    /// Device and inode of the socket file the listener is bound to
    /// (`None`: unknown, e.g. written by an older cinit).
    pub bound: Option<(u64, u64)>,
}

/// The read end of a readiness pipe (`notification-fd`) whose process has
/// not signalled yet.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReadyRecord {
    pub fd: i32,
    pub pid: i32,
    pub svc: u32,
    /// Bytes read so far without a newline.
    pub seen: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// The cinit version that wrote it.
    pub writer: String,
    pub tree: Option<TreeState>,
    pub nodes: Vec<Node>,
    pub services: Vec<SvcRecord>,
    pub console: Option<ConsoleState>,
    pub control: Option<ControlState>,
    pub pending: Vec<Pending>,
    /// Clients waiting for the result of this update.
    pub waiters: Vec<u64>,
    /// Service logs and cinit's own ([`crate::logs::snap`]).
    pub logs: Vec<crate::logs::snap::LogRecord>,
    /// Readiness pipes of processes that have not signalled yet.
    pub ready: Vec<ReadyRecord>,
    /// The boot timeline (`None`: written by a cinit that kept none).
    pub timeline: Option<TimelineState>,
    /// Descriptors held for services: sockets and fd stores.
    pub held: Vec<HeldRecord>,
}

/// The boot timeline: when cinit started, and each service's [`Times`] in
/// index order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TimelineState {
    pub started: Option<u64>,
    pub times: Vec<Times>,
}

/// What could not be read, one line each, for the console.
pub type Lost = Vec<String>;

// ----- writing -----

#[derive(Default)]
pub(crate) struct Out(pub(crate) Vec<u8>);

impl Out {
    /// Every write ends here. Not inlined: the writers below are used in
    /// dozens of places, and one copy of the buffer growth is enough.
    #[inline(never)]
    pub(crate) fn put(&mut self, b: &[u8]) {
        self.0.extend_from_slice(b);
    }
    pub(crate) fn u8(&mut self, v: u8) {
        self.put(&[v]);
    }
    pub(crate) fn bool(&mut self, v: bool) {
        self.u8(u8::from(v));
    }
    pub(crate) fn u32(&mut self, v: u32) {
        self.put(&v.to_be_bytes());
    }
    pub(crate) fn i32(&mut self, v: i32) {
        self.put(&v.to_be_bytes());
    }
    pub(crate) fn u64(&mut self, v: u64) {
        self.put(&v.to_be_bytes());
    }
    pub(crate) fn len(&mut self, n: usize) {
        self.u32(u32::try_from(n).unwrap_or(u32::MAX));
    }
    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.len(b.len());
        self.put(b);
    }
    pub(crate) fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
    pub(crate) fn path(&mut self, p: &std::path::Path) {
        self.bytes(p.as_os_str().as_bytes());
    }
    pub(crate) fn opt_u64(&mut self, v: Option<u64>) {
        self.bool(v.is_some());
        self.u64(v.unwrap_or(0));
    }
    pub(crate) fn indices(&mut self, v: &[usize]) {
        self.len(v.len());
        for &i in v {
            self.len(i);
        }
    }
    pub(crate) fn section(&mut self, tag: u8, payload: Out) {
        self.u8(tag);
        self.bytes(&payload.0);
    }
    pub(crate) fn reason(&mut self, r: &Reason) {
        match r {
            Reason::Exit(ExitStatus::Code(c)) => {
                self.u8(1);
                self.i32(*c);
            }
            Reason::Exit(ExitStatus::Signal(s)) => {
                self.u8(2);
                self.i32(*s);
            }
            Reason::Spawn(SpawnError::Exec { path, errno }) => {
                self.u8(3);
                self.str(path);
                self.i32(*errno);
            }
            Reason::Spawn(SpawnError::Config(m)) => {
                self.u8(4);
                self.str(m);
            }
            Reason::NeedFailed(n) => {
                self.u8(5);
                self.str(n);
            }
            Reason::NeedMissing(a, b) => {
                self.u8(6);
                self.str(a);
                self.str(b);
            }
            Reason::Cycle(p) => {
                self.u8(7);
                self.str(p);
            }
            Reason::Config(m) => {
                self.u8(8);
                self.str(m);
            }
            Reason::NotReady(ms) => {
                self.u8(9);
                self.u64(*ms);
            }
            Reason::Spawn(SpawnError::Listen { message, errno }) => {
                self.u8(10);
                self.str(message);
                self.i32(*errno);
            }
        }
    }
    pub(crate) fn opt_reason(&mut self, r: Option<&Reason>) {
        match r {
            Some(r) => self.reason(r),
            None => self.u8(0),
        }
    }
}

fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Encode a snapshot.
pub fn encode(s: &Snapshot) -> Vec<u8> {
    let mut body = Out::default();
    let mut meta = Out::default();
    meta.str(&s.writer);
    body.section(tag::META, meta);
    if let Some(t) = &s.tree {
        let mut o = Out::default();
        o.path(&t.svc_root);
        o.len(t.dirs.len());
        for d in &t.dirs {
            o.path(d);
        }
        o.indices(&t.roots);
        body.section(tag::TREE, o);
    }
    for n in &s.nodes {
        let mut o = Out::default();
        o.str(&n.name);
        o.bool(n.respawn);
        o.opt_u64(n.delay_s.map(u64::from));
        o.indices(&n.needs);
        o.indices(&n.wants);
        o.bool(n.missing_need.is_some());
        if let Some((a, b)) = &n.missing_need {
            o.str(a);
            o.str(b);
        }
        o.opt_reason(n.broken.as_ref());
        // Appended: readiness (`notification-fd`, `ready-timeout`).
        o.opt_u64(n.notify_fd.and_then(|fd| u64::try_from(fd).ok()));
        o.opt_u64(n.ready_timeout_ms);
        // Appended: the `ready-probe` line, empty for none.
        o.str(
            &n.probe
                .as_ref()
                .map(crate::ready::probe::Probe::line)
                .unwrap_or_default(),
        );
        // Appended: a grouping (no `on`, no `off`), parked by a cascade.
        o.bool(n.grouping);
        body.section(tag::NODE, o);
    }
    for r in &s.services {
        let mut o = Out::default();
        o.u8(r.phase);
        o.i32(r.pid);
        o.i32(r.off_pid);
        o.u8(r.stop_step);
        o.opt_u64(r.deadline);
        o.u64(r.until);
        o.opt_reason(r.reason.as_ref());
        o.u64(r.since);
        o.u64(r.spawned_at);
        o.u32(r.restarts);
        o.u32(r.quick_deaths);
        o.bool(r.started_once);
        o.bool(r.stop_requested);
        // Appended: the stop that ends a ready-timeout.
        o.opt_u64(r.stop_timed_out);
        // Appended: a pending park of a grouping (the need that caused it).
        o.opt_u64(r.park_for.and_then(|c| u64::try_from(c).ok()));
        body.section(tag::SERVICE, o);
    }
    if let Some(c) = &s.console {
        let mut o = Out::default();
        o.i32(c.log_fd);
        o.i32(c.child_fd);
        o.bytes(&c.pending);
        o.u64(c.dropped);
        body.section(tag::CONSOLE, o);
    }
    if let Some(c) = &s.control {
        let mut o = Out::default();
        o.i32(c.listener_fd);
        o.path(&c.path);
        o.u64(c.next_id);
        let (dev, ino) = c.bound.unwrap_or_default();
        o.u8(u8::from(c.bound.is_some()));
        o.u64(dev);
        o.u64(ino);
        body.section(tag::CONTROL, o);
        for cl in &c.clients {
            let mut o = Out::default();
            o.u64(cl.id);
            o.i32(cl.fd);
            o.u32(cl.uid);
            o.bytes(&cl.input);
            o.bytes(&cl.output);
            o.bool(cl.closing);
            o.bool(cl.busy);
            o.opt_u64(cl.deadline);
            body.section(tag::CLIENT, o);
        }
    }
    for p in &s.pending {
        let mut o = Out::default();
        match p {
            Pending::Log(f) => {
                crate::logs::snap::encode_follower(f, &mut o);
                body.section(tag::FOLLOWER, o);
                continue;
            }
            Pending::Start { client, svcs } => {
                o.u8(1);
                o.u64(*client);
                o.indices(svcs);
            }
            Pending::Stop {
                client,
                roots,
                deps,
            } => {
                o.u8(2);
                o.u64(*client);
                o.indices(roots);
                o.indices(deps);
            }
            Pending::Restart {
                client,
                roots,
                deps,
                starting,
            } => {
                o.u8(3);
                o.u64(*client);
                o.indices(roots);
                o.indices(deps);
                o.bool(*starting);
            }
            Pending::Wait { client, svcs, uid } => {
                o.u8(4);
                o.u64(*client);
                o.indices(svcs);
                o.u32(*uid);
            }
        }
        body.section(tag::PENDING, o);
    }
    for &w in &s.waiters {
        let mut o = Out::default();
        o.u64(w);
        body.section(tag::WAITER, o);
    }
    for l in &s.logs {
        let mut o = Out::default();
        l.encode(&mut o);
        body.section(tag::LOG, o);
    }
    for r in &s.ready {
        let mut o = Out::default();
        o.i32(r.fd);
        o.i32(r.pid);
        o.u32(r.svc);
        o.u32(r.seen);
        body.section(tag::READY, o);
    }
    if let Some(t) = &s.timeline {
        body.section(tag::TIMELINE, timeline_out(t));
    }
    for h in &s.held {
        body.section(tag::HELD, held_out(h));
    }
    let mut out = Vec::with_capacity(HEADER_LEN + body.0.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(
        &u32::try_from(body.0.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    out.extend_from_slice(&fnv1a(&body.0).to_be_bytes());
    out.extend_from_slice(&body.0);
    out
}

// ----- reading -----

/// A cursor over one payload. Reading past the end yields `None`.
pub(crate) struct In<'a>(pub(crate) &'a [u8]);

impl<'a> In<'a> {
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    pub(crate) fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }
    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.array::<1>().map(|[b]| b)
    }
    pub(crate) fn bool(&mut self) -> Option<bool> {
        self.u8().map(|b| b != 0)
    }
    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_be_bytes)
    }
    pub(crate) fn i32(&mut self) -> Option<i32> {
        self.array().map(i32::from_be_bytes)
    }
    pub(crate) fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_be_bytes)
    }
    pub(crate) fn len(&mut self) -> Option<usize> {
        usize::try_from(self.u32()?).ok()
    }
    pub(crate) fn bytes(&mut self) -> Option<Vec<u8>> {
        let n = self.len()?;
        self.take(n).map(<[u8]>::to_vec)
    }
    pub(crate) fn str(&mut self) -> Option<String> {
        String::from_utf8(self.bytes()?).ok()
    }
    pub(crate) fn path(&mut self) -> Option<PathBuf> {
        self.bytes().map(|b| PathBuf::from(OsString::from_vec(b)))
    }
    pub(crate) fn opt_u64(&mut self) -> Option<Option<u64>> {
        let present = self.bool()?;
        let v = self.u64()?;
        Some(present.then_some(v))
    }
    pub(crate) fn count(&mut self) -> Option<usize> {
        self.len().filter(|&n| n <= MAX_ITEMS)
    }
    pub(crate) fn indices(&mut self) -> Option<Vec<usize>> {
        let n = self.count()?;
        (0..n).map(|_| self.len()).collect()
    }
    pub(crate) fn opt_reason(&mut self) -> Option<Option<Reason>> {
        Some(Some(match self.u8()? {
            0 => return Some(None),
            1 => Reason::Exit(ExitStatus::Code(self.i32()?)),
            2 => Reason::Exit(ExitStatus::Signal(self.i32()?)),
            3 => Reason::Spawn(SpawnError::Exec {
                path: self.str()?,
                errno: self.i32()?,
            }),
            4 => Reason::Spawn(SpawnError::Config(self.str()?)),
            5 => Reason::NeedFailed(self.str()?),
            6 => Reason::NeedMissing(self.str()?, self.str()?),
            7 => Reason::Cycle(self.str()?),
            8 => Reason::Config(self.str()?),
            9 => Reason::NotReady(self.u64()?),
            10 => Reason::Spawn(SpawnError::Listen {
                message: self.str()?,
                errno: self.i32()?,
            }),
            _ => return None,
        }))
    }
}

fn node(p: &mut In) -> Option<Node> {
    let mut n = Node::new(&p.str()?);
    n.respawn = p.bool()?;
    n.delay_s = p.opt_u64()?.map(|d| u32::try_from(d).unwrap_or(u32::MAX));
    n.needs = p.indices()?;
    n.wants = p.indices()?;
    if p.bool()? {
        n.missing_need = Some((p.str()?, p.str()?));
    }
    n.broken = p.opt_reason()?;
    // Appended fields: absent from an older writer (no readiness).
    n.notify_fd = p.opt_u64().flatten().and_then(|fd| i32::try_from(fd).ok());
    n.ready_timeout_ms = p.opt_u64().flatten();
    // Absent from an older writer: no probe. The line was written by
    // `Probe::line`, so it parses back.
    n.probe = p
        .str()
        .filter(|l| !l.is_empty())
        .and_then(|l| crate::ready::probe::parse_line(&l).ok());
    // Absent from an older writer: not known as a grouping, so a cascade
    // stops it as that writer did (doc/DESIGN.md, "Groupings").
    n.grouping = p.bool().unwrap_or(false);
    Some(n)
}

fn service(p: &mut In) -> Option<SvcRecord> {
    Some(SvcRecord {
        phase: p.u8()?,
        pid: p.i32()?,
        off_pid: p.i32()?,
        stop_step: p.u8()?,
        deadline: p.opt_u64()?,
        until: p.u64()?,
        reason: p.opt_reason()?,
        since: p.u64()?,
        spawned_at: p.u64()?,
        restarts: p.u32()?,
        quick_deaths: p.u32()?,
        started_once: p.bool()?,
        stop_requested: p.bool()?,
        // Appended field: absent from an older writer.
        stop_timed_out: p.opt_u64().flatten(),
        park_for: p.opt_u64().flatten().and_then(|c| usize::try_from(c).ok()),
    })
}

fn pending(p: &mut In) -> Option<Pending> {
    Some(match p.u8()? {
        1 => Pending::Start {
            client: p.u64()?,
            svcs: p.indices()?,
        },
        2 => Pending::Stop {
            client: p.u64()?,
            roots: p.indices()?,
            deps: p.indices()?,
        },
        3 => Pending::Restart {
            client: p.u64()?,
            roots: p.indices()?,
            deps: p.indices()?,
            starting: p.bool()?,
        },
        4 => Pending::Wait {
            client: p.u64()?,
            svcs: p.indices()?,
            uid: p.u32()?,
        },
        _ => return None,
    })
}

/// Why nothing at all could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unreadable {
    NotASnapshot,
    Format(u16),
    Truncated,
}

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unreadable::NotASnapshot => f.write_str("not a cinit snapshot"),
            Unreadable::Format(v) => write!(
                f,
                "snapshot format {v} is not known to this cinit (it reads format {FORMAT})"
            ),
            Unreadable::Truncated => f.write_str("snapshot is truncated"),
        }
    }
}

/// Decode a snapshot. Sections that cannot be read are listed in `Lost`;
/// a checksum mismatch is reported there too, and decoding goes on.
pub fn decode(data: &[u8]) -> Result<(Snapshot, Lost), Unreadable> {
    let mut h = In(data);
    if h.array::<8>() != Some(MAGIC) {
        return Err(Unreadable::NotASnapshot);
    }
    let format = u16::from_be_bytes(h.array().ok_or(Unreadable::Truncated)?);
    if format != FORMAT {
        return Err(Unreadable::Format(format));
    }
    let _reserved = h.array::<2>().ok_or(Unreadable::Truncated)?;
    let len = h.len().ok_or(Unreadable::Truncated)?;
    let sum = h.u64().ok_or(Unreadable::Truncated)?;
    let mut lost = Lost::new();
    let body = match h.take(len) {
        Some(b) => b,
        None => {
            lost.push(format!("snapshot truncated: {} of {len} bytes", h.0.len()));
            h.0
        }
    };
    if fnv1a(body) != sum {
        lost.push("snapshot checksum does not match; reading it anyway".to_string());
    }
    let mut s = Snapshot::default();
    let mut b = In(body);
    let mut control_clients = Vec::new();
    while !b.0.is_empty() {
        let (Some(t), Some(payload)) = (b.u8(), b.bytes()) else {
            lost.push("snapshot ends inside a section".to_string());
            break;
        };
        let mut p = In(&payload);
        let ok = match t {
            tag::META => p.str().map(|w| s.writer = w).is_some(),
            tag::TREE => (|| {
                let svc_root = p.path()?;
                let n = p.count()?;
                let dirs = (0..n).map(|_| p.path()).collect::<Option<Vec<_>>>()?;
                let roots = p.indices()?;
                s.tree = Some(TreeState {
                    svc_root,
                    dirs,
                    roots,
                });
                Some(())
            })()
            .is_some(),
            // A damaged record keeps its place, so later indices stay right.
            tag::NODE => {
                let n = node(&mut p);
                let ok = n.is_some();
                s.nodes.push(n.unwrap_or_else(Node::lost));
                ok
            }
            tag::SERVICE => {
                let r = service(&mut p);
                let ok = r.is_some();
                s.services.push(r.unwrap_or_else(SvcRecord::lost));
                ok
            }
            tag::CONSOLE => (|| {
                s.console = Some(ConsoleState {
                    log_fd: p.i32()?,
                    child_fd: p.i32()?,
                    pending: p.bytes()?,
                    dropped: p.u64()?,
                });
                Some(())
            })()
            .is_some(),
            tag::CONTROL => (|| {
                s.control = Some(ControlState {
                    listener_fd: p.i32()?,
                    path: p.path()?,
                    next_id: p.u64()?,
                    clients: Vec::new(),
                    // Appended field: absent from an older writer.
                    bound: (|| {
                        let present = p.bool()?;
                        let (dev, ino) = (p.u64()?, p.u64()?);
                        present.then_some((dev, ino))
                    })(),
                });
                Some(())
            })()
            .is_some(),
            tag::CLIENT => (|| {
                control_clients.push(ClientRecord {
                    id: p.u64()?,
                    fd: p.i32()?,
                    uid: p.u32()?,
                    input: p.bytes()?,
                    output: p.bytes()?,
                    closing: p.bool()?,
                    busy: p.bool()?,
                    deadline: p.opt_u64()?,
                });
                Some(())
            })()
            .is_some(),
            tag::PENDING => pending(&mut p).map(|x| s.pending.push(x)).is_some(),
            tag::WAITER => p.u64().map(|w| s.waiters.push(w)).is_some(),
            tag::LOG => crate::logs::snap::LogRecord::decode(&mut p)
                .map(|l| s.logs.push(l))
                .is_some(),
            tag::FOLLOWER => crate::logs::snap::decode_follower(&mut p)
                .map(|f| s.pending.push(Pending::Log(f)))
                .is_some(),
            tag::READY => (|| {
                s.ready.push(ReadyRecord {
                    fd: p.i32()?,
                    pid: p.i32()?,
                    svc: p.u32()?,
                    seen: p.u32()?,
                });
                Some(())
            })()
            .is_some(),
            tag::TIMELINE => timeline(&mut p).map(|t| s.timeline = Some(t)).is_some(),
            tag::HELD => held(&mut p).map(|h| s.held.push(h)).is_some(),
            _ => true, // a newer writer's section: skipped
        };
        if !ok {
            lost.push(format!("snapshot section {t} is damaged; skipped"));
        }
        let most = [
            s.nodes.len(),
            s.services.len(),
            control_clients.len(),
            s.pending.len(),
            s.waiters.len(),
            s.logs.len(),
            s.ready.len(),
            s.held.len(),
        ];
        if most.iter().any(|&n| n > MAX_ITEMS) {
            lost.push("snapshot holds too many items; the rest is skipped".to_string());
            break;
        }
    }
    if let Some(c) = s.control.as_mut() {
        c.clients = control_clients;
    } else if !control_clients.is_empty() {
        lost.push(format!(
            "{} control clients without a control socket",
            control_clients.len()
        ));
    }
    Ok((s, lost))
}

mod timeline;
use timeline::{timeline, timeline_out};

mod fds;
pub use fds::HeldRecord;
use fds::{held, held_out};

#[cfg(test)]
mod tests;
