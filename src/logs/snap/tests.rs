//! Unit tests of logs in the hot-update snapshot: records read back
//! exactly, older writers' records, damage, the budget, adopting.

use super::*;
use crate::sys::console::Console;

fn record() -> LogRecord {
    LogRecord {
        svc: Some(3),
        name: "web".into(),
        read_fd: 10,
        write_fd: 11,
        capacity: 65536,
        next_seq: 9,
        dropped: 5,
        lines: vec![
            LogLine {
                seq: 7,
                mono_ms: 1,
                wall_ms: 2,
                text: "seven".into(),
            },
            LogLine {
                seq: 8,
                mono_ms: 3,
                wall_ms: 4,
                text: "é\\n".into(),
            },
        ],
        partial: b"half".to_vec(),
        partial_since: Some(77),
        mirror: true,
        file: Some(FileRecord {
            path: "/var/log/web".into(),
            rotate_bytes: 1 << 20,
            keep: 3,
            read_fd: 12,
            write_fd: 13,
            next: 8,
            out: b"pending\n".to_vec(),
            missed: 1,
            pid: 42,
            failures: 2,
            restart_at: None,
            started_at: 9,
        }),
        procs: vec![40, 41],
        kmsg_dropped: 2,
        kmsg_held: 4,
        kmsg_begin: Some(7),
        kmsg_sent: 3,
        kmsg_fd: 9,
    }
}

/// The bytes of the fields an older writer (before the kernel log's
/// rate limit was kept) wrote: everything up to `kmsg dropped`.
const NEW_FIELDS: usize = 8 + 9 + 4 + 4;

#[test]
fn records_read_back_exactly_and_damage_is_refused() {
    let r = record();
    let mut o = Out::default();
    r.save(&mut o);
    let bytes = o.0.clone();
    assert_eq!(LogRecord::load(&mut In(&bytes)), Some(r.clone()));
    let old = bytes.len() - NEW_FIELDS;
    for cut in 0..old {
        assert_eq!(
            LogRecord::load(&mut In(&bytes[..cut])),
            None,
            "cut at {cut}"
        );
    }
    // An older writer's record: the new fields take their defaults.
    let older = LogRecord::load(&mut In(&bytes[..old])).unwrap();
    assert_eq!(
        older,
        LogRecord {
            kmsg_held: 0,
            kmsg_begin: None,
            kmsg_sent: 0,
            kmsg_fd: -1,
            ..r
        }
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
    assert_eq!(LogRecord::load(&mut In(&o.0)), None);
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
        lines.iter().map(|l| l.text.as_str()).collect::<Vec<_>>(),
        ["7", "8", "9"]
    );
    assert_eq!(budget, 0);
    let (lines, left_out) = lines_within(&r, &mut budget);
    assert!(lines.is_empty());
    assert_eq!(left_out, 10);
}

#[test]
fn adopting_rebuilds_rings_and_drops_what_did_not_survive() {
    let mut logs = Logs::new();
    logs.own_line(5, "new image says hello", &mut Console::new(None));
    let mut own = LogRecord {
        capacity: 4096,
        next_seq: 3,
        ..LogRecord::default()
    };
    own.lines = vec![
        LogLine {
            seq: 1,
            text: "old 1".into(),
            ..LogLine::default()
        },
        LogLine {
            seq: 2,
            text: "old 2".into(),
            ..LogLine::default()
        },
    ];
    let mut svc = record();
    svc.file = None;
    let far = LogRecord {
        svc: Some(99),
        ..record()
    };
    let lost = logs.adopt(vec![own, svc, far], 5, |_| false);
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

/// cinit's own record carries the kernel log's state: the unnoted counts
/// always, and the open /dev/kmsg with its window when the descriptor is
/// really there (then the new image's own file is closed); without it, the
/// new file starts a new window.
#[test]
fn adopting_keeps_the_kernel_logs_file_and_window() {
    use crate::logs::kmsg::{Mode, View};
    use crate::logs::kmsglog::KmsgLog;
    use std::os::fd::IntoRawFd;
    let fresh = || {
        let (_, w) = nix::unistd::pipe().unwrap();
        let view = View {
            loglevel: Some(7),
            mode: Some(Mode::Ratelimit),
            ..View::default()
        };
        let mut logs = Logs::new();
        logs.kmsg = Some(KmsgLog::for_test(w, view));
        logs
    };
    let (_r, old) = nix::unistd::pipe().unwrap();
    let old_fd = old.into_raw_fd();
    let own = LogRecord {
        capacity: 4096,
        kmsg_dropped: 1,
        kmsg_held: 4,
        kmsg_begin: Some(7),
        kmsg_sent: 10,
        kmsg_fd: old_fd,
        ..LogRecord::default()
    };
    let mut logs = fresh();
    let lost = logs.adopt(vec![own.clone()], 0, |fd| fd == old_fd);
    assert!(lost.is_empty(), "{lost:?}");
    let k = logs.kmsg.as_ref().unwrap();
    assert_eq!(k.raw_fd(), Some(old_fd));
    assert_eq!((k.refused, k.limiter.held), (1, 4));
    assert_eq!((k.limiter.begin, k.limiter.sent), (Some(7), 10));
    let exported = logs.export().remove(0);
    assert_eq!(
        (exported.kmsg_fd, exported.kmsg_sent, exported.kmsg_held),
        (old_fd, 10, 4)
    );

    // The descriptor did not survive: the new file, a new window.
    let mut logs = fresh();
    let mine = logs.kmsg.as_ref().unwrap().raw_fd();
    logs.adopt(vec![own], 0, |_| false);
    let k = logs.kmsg.as_ref().unwrap();
    assert_eq!(k.raw_fd(), mine);
    assert_eq!(
        (k.limiter.begin, k.limiter.sent, k.limiter.held),
        (None, 0, 4)
    );
    assert_ne!(mine, Some(old_fd));
}
