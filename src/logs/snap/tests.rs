//! Unit tests of logs in the hot-update snapshot: records read back
//! exactly, older writers' records, damage, the budget, adopting.

use super::*;
use crate::proto::wire::damaged;
use crate::sys::console::Console;

/// Service `svc`'s LOG section ("web"): its pipe `fds[0..2]`, a ring with
/// two lines, a partial line, mirroring, a file output on `fds[2..4]` if
/// `file`, the processes `procs`, and cinit's own kernel log state (which
/// a service's section carries but does not use).
fn web(o: &mut Out, svc: u32, fds: [i32; 4], file: bool, procs: &[i32]) {
    o.bool(true);
    o.u32(svc);
    o.str("web");
    o.i32(fds[0]);
    o.i32(fds[1]);
    for v in [65536, 9, 5] {
        o.u64(v); // capacity, next number, dropped
    }
    o.len(2);
    for (seq, mono, wall, text) in [(7, 1, 2, "seven"), (8, 3, 4, "é\\n")] {
        o.u64(seq);
        o.u64(mono);
        o.u64(wall);
        o.str(text);
    }
    o.bytes(b"half");
    o.opt_u64(Some(77));
    o.bool(true);
    o.bool(file);
    if file {
        o.path("/var/log/web".as_ref());
        o.u64(1 << 20);
        o.u32(3);
        o.i32(fds[2]);
        o.i32(fds[3]);
        o.u64(8);
        o.bytes(b"pending\n");
        o.u64(1); // missed
        o.i32(42); // writer
        o.u32(2); // failures
        o.opt_u64(None);
        o.u64(9);
    }
    o.len(procs.len());
    for &p in procs {
        o.i32(p);
    }
    own_kmsg(o, (2, 4, Some(7), 3, 9));
}

/// cinit's own kernel log state: refused, held, window start and count,
/// descriptor.
fn own_kmsg(o: &mut Out, (refused, held, begin, sent, fd): (u64, u64, Option<u64>, u32, i32)) {
    o.u64(refused);
    o.u64(held);
    o.opt_u64(begin);
    o.u32(sent);
    o.i32(fd);
}

/// cinit's own LOG section: a ring of 4096 bytes holding `lines`, and the
/// kernel log state `kmsg`.
fn own(o: &mut Out, lines: &[&str], kmsg: (u64, u64, Option<u64>, u32, i32)) {
    o.bool(false);
    o.u32(0);
    o.str("");
    o.i32(-1);
    o.i32(-1);
    o.u64(4096);
    o.u64(lines.len() as u64 + 1);
    o.u64(0);
    o.len(lines.len());
    for (k, text) in lines.iter().enumerate() {
        o.u64(k as u64 + 1);
        o.u64(0);
        o.u64(0);
        o.str(text);
    }
    o.bytes(b"");
    o.opt_u64(None);
    o.bool(false);
    o.bool(false);
    o.len(0);
    own_kmsg(o, kmsg);
}

fn one(write: impl FnOnce(&mut Out)) -> Sections {
    let mut s = Sections::default();
    s.put(TAG_LOG, write);
    s
}

/// The bytes of the fields an older writer (before the kernel log's
/// rate limit was kept) wrote: everything up to `kmsg dropped`.
const NEW_FIELDS: usize = 8 + 9 + 4 + 4;

/// Proves a service's log reads back into the live log exactly (it saves
/// the same section again, but for the kernel log fields only cinit's own
/// uses), its pipe and file descriptors adopted; that a section cut
/// anywhere before the fields added later is refused as damaged with
/// nothing adopted (every descriptor may be "open" here, so an early
/// adoption would close one the live log owns); and that cinit's own
/// section from an older writer takes the defaults for those fields.
#[test]
fn a_log_reads_back_exactly_and_damage_is_refused() {
    use std::os::fd::IntoRawFd;
    let (r1, w1) = nix::unistd::pipe().unwrap();
    let (r2, w2) = nix::unistd::pipe().unwrap();
    let fds = [r1, w1, r2, w2].map(IntoRawFd::into_raw_fd);
    let saved = one(|o| web(o, 3, fds, true, &[40]));
    let mut logs = Logs::new();
    let mut lost = Lost::new();
    logs.load(&saved, 5, crate::update::is_open, &mut lost);
    assert!(lost.is_empty(), "{lost:?}");
    let mut again = Sections::default();
    logs.save(&mut again);
    let again: Vec<&[u8]> = again.all(TAG_LOG).map(|p| p.0).collect();
    let bytes = saved.all(TAG_LOG).next().unwrap().0;
    let kmsg = 8 + NEW_FIELDS;
    assert_eq!(again.len(), 2, "cinit's own and the service's");
    assert_eq!(
        again[1][..again[1].len() - kmsg],
        bytes[..bytes.len() - kmsg]
    );
    let old = bytes.len() - NEW_FIELDS;
    for cut in 0..old {
        let mut fresh = Logs::new();
        let mut lost = Lost::new();
        fresh.load(&one(|o| o.put(&bytes[..cut])), 5, |_| true, &mut lost);
        assert_eq!(lost, [damaged(TAG_LOG)], "cut at {cut}");
        assert!(fresh.get(3).is_none());
    }
    // An older writer's own section: the new fields take their defaults.
    let mut o = Out::default();
    own(&mut o, &[], (2, 4, Some(7), 3, 9));
    let older = &o.0[..o.0.len() - NEW_FIELDS];
    let mut logs = fresh();
    let mine = logs.kmsg.as_ref().unwrap().raw_fd();
    logs.load(&one(|o| o.put(older)), 0, |_| true, &mut lost);
    assert!(lost.is_empty(), "{lost:?}");
    let k = logs.kmsg.as_ref().unwrap();
    assert_eq!((k.refused, k.limiter.held), (2, 0));
    assert_eq!(
        (k.limiter.begin, k.limiter.sent, k.raw_fd()),
        (None, 0, mine)
    );
}

#[test]
fn an_absurd_line_count_is_refused_before_anything_is_read() {
    let mut o = Out::default();
    o.bool(true);
    o.u32(0);
    o.str("x");
    o.i32(-1);
    o.i32(-1);
    o.u64(1024);
    o.u64(1);
    o.u64(0);
    o.u32(u32::MAX);
    let mut logs = Logs::new();
    let mut lost = Lost::new();
    logs.load(&one(|p| p.put(&o.0)), 5, |_| false, &mut lost);
    assert_eq!(lost, [damaged(TAG_LOG)]);
    assert!(logs.get(0).is_none());
}

#[test]
fn the_snapshot_budget_keeps_the_newest_lines() {
    let mut r = Ring::new(1 << 20);
    for k in 0..10 {
        r.push(0, 0, format!("{k}"));
    }
    let mut budget = 3 * (LINE_OVERHEAD + 1);
    let (lines, left_out) = lines_within(&r, &mut budget);
    assert_eq!(left_out, 7);
    assert_eq!(
        lines.map(|l| l.text.as_str()).collect::<Vec<_>>(),
        ["7", "8", "9"]
    );
    assert_eq!(budget, 0);
    let (lines, left_out) = lines_within(&r, &mut budget);
    assert_eq!(lines.len(), 0);
    assert_eq!(left_out, 10);
}

#[test]
fn adopting_rebuilds_rings_and_drops_what_did_not_survive() {
    let mut logs = Logs::new();
    logs.own_line(5, "new image says hello", &mut Console::new(None));
    let mut sections = Sections::default();
    sections.put(TAG_LOG, |o| {
        own(o, &["old 1", "old 2"], (0, 0, None, 0, -1))
    });
    sections.put(TAG_LOG, |o| web(o, 3, [10, 11, 12, 13], false, &[40, 41]));
    sections.put(TAG_LOG, |o| web(o, 99, [10, 11, 12, 13], true, &[]));
    let mut lost = Lost::new();
    logs.load(&sections, 5, |_| false, &mut lost);
    let texts: Vec<&str> = logs.own.lines().map(|l| l.text.as_str()).collect();
    assert_eq!(texts, ["old 1", "old 2", "new image says hello"]);
    assert_eq!(lost.len(), 2, "{lost:?}");
    let log = logs.get(3).unwrap();
    assert!(log.pipe.is_none(), "its descriptors were not open");
    assert_eq!(log.ring.next_seq(), 9);
    assert_eq!(log.ring.len(), 2);
    assert_eq!(logs.procs.get(&40), Some(&3));
    assert_eq!(logs.names[3], "web");
}

fn fresh() -> Logs {
    use crate::logs::kmsg::{Mode, View};
    use crate::logs::kmsglog::KmsgLog;
    let (_, w) = nix::unistd::pipe().unwrap();
    let view = View {
        loglevel: Some(7),
        mode: Some(Mode::Ratelimit),
        ..View::default()
    };
    let mut logs = Logs::new();
    logs.kmsg = Some(KmsgLog::for_test(w, view));
    logs
}

/// cinit's own section carries the kernel log's state: the unnoted counts
/// always, and the open /dev/kmsg with its window when the descriptor is
/// really there (then the new image's own file is closed); without it, the
/// new file starts a new window.
#[test]
fn adopting_keeps_the_kernel_logs_file_and_window() {
    use std::os::fd::IntoRawFd;
    let (_r, old) = nix::unistd::pipe().unwrap();
    let old_fd = old.into_raw_fd();
    let kmsg = (1, 4, Some(7), 10, old_fd);
    let mut logs = fresh();
    let mut lost = Lost::new();
    logs.load(&one(|o| own(o, &[], kmsg)), 0, |fd| fd == old_fd, &mut lost);
    assert!(lost.is_empty(), "{lost:?}");
    let k = logs.kmsg.as_ref().unwrap();
    assert_eq!(k.raw_fd(), Some(old_fd));
    assert_eq!((k.refused, k.limiter.held), (1, 4));
    assert_eq!((k.limiter.begin, k.limiter.sent), (Some(7), 10));
    let mut saved = Sections::default();
    logs.save(&mut saved);
    let first = saved.all(TAG_LOG).next().unwrap().0;
    let mut tail = In(&first[first.len() - NEW_FIELDS..]);
    let (held, _, sent, fd) = (tail.u64(), tail.opt_u64(), tail.u32(), tail.i32());
    assert_eq!((fd, sent, held), (Some(old_fd), Some(10), Some(4)));

    // The descriptor did not survive: the new file, a new window.
    let mut logs = fresh();
    let mine = logs.kmsg.as_ref().unwrap().raw_fd();
    logs.load(&one(|o| own(o, &[], kmsg)), 0, |_| false, &mut lost);
    let k = logs.kmsg.as_ref().unwrap();
    assert_eq!(k.raw_fd(), mine);
    assert_eq!(
        (k.limiter.begin, k.limiter.sent, k.limiter.held),
        (None, 0, 4)
    );
    assert_ne!(mine, Some(old_fd));
}
