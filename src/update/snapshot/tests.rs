//! Unit tests of the snapshot codec: round trips, version rules, damage.

use super::write::{fnv1a, fnv1a_words};
use super::*;
use crate::config::tree::TAG_TREE;
use crate::control::pending::Pending;
use crate::engine::state::Reason;
use crate::engine::{Node, Timeline, Times};
use crate::logs::snap::TAG_LOG;
use crate::proto::wire::In;
use proptest::prelude::*;

fn sample() -> Snapshot {
    let mut a = Node::new("a");
    a.respawn = true;
    a.delay_s = Some(3);
    a.needs = vec![1];
    a.wants = vec![2];
    a.notify_fd = Some(7);
    a.ready_timeout_ms = Some(2500);
    let mut b = Node::new("b");
    b.missing_need = Some(Box::new(("needs/x".into(), "no such directory".into())));
    b.broken = Some(Box::new(Reason::Cycle("b -> b".into())));
    let mut c = Node::new("c dir/with space");
    c.grouping = true;
    // The services as the release before wrote them, each record carrying
    // every phase's fields (a live service writes zeros where its phase has
    // none): the engine's own bytes are pinned in its tests.
    let rec = |phase: u8, pid: i32, reason: fn(&mut Out)| {
        move |o: &mut Out| {
            o.u8(phase);
            o.i32(pid);
            o.i32(if phase == 7 { pid + 1 } else { 0 });
            o.u8(1); // stop step
            o.opt_u64(Some(77)); // deadline
            o.u64(99); // backoff until
            reason(o);
            o.u64(5); // since
            o.u64(6); // spawned at
            o.u32(7); // restarts
            o.u32(2); // quick deaths
            o.bool(true); // started once
            o.bool(phase == 7); // stop requested
            o.opt_u64((phase == 7).then_some(2500)); // stop timed out
            o.opt_u64((phase == 0).then_some(1)); // park for
        }
    };
    let mut sections = Sections::default();
    // The tree: the `svc/` directory, each service's, and the roots.
    sections.put(TAG_TREE, |o| {
        o.path("/etc/cinit/svc".as_ref());
        o.len(3);
        for d in ["a", "b", "c dir/with space"] {
            o.path(format!("/etc/cinit/svc/{d}").as_ref());
        }
        o.indices(&[0, 2]);
    });
    for n in [a, b, c] {
        sections.put(TAG_NODE, |o| n.save(o));
    }
    // Reasons as their kind (2 signal, 3 exec error, 6 need missing,
    // 9 not ready, 10 listen error) and fields.
    let services = [
        rec(2, 40, |o| {
            o.u8(2);
            o.i32(9);
        }),
        rec(7, 41, |o| {
            o.u8(3);
            o.str("/x");
            o.i32(2);
        }),
        rec(6, 0, |o| {
            o.u8(6);
            o.str("e");
            o.str("why");
        }),
        rec(0, 0, |o| o.u8(0)),
        rec(1, 42, |o| {
            o.u8(9);
            o.u64(1500);
        }),
        rec(7, 43, |o| {
            o.u8(10);
            o.str("cannot bind tcp [::]:80");
            o.i32(98);
        }),
    ];
    for r in services {
        sections.put(TAG_SERVICE, r);
    }
    let timeline = Timeline {
        started: Some(1_012),
        times: vec![
            Times {
                requested: Some(1_020),
                startable: Some(1_030),
                spawned: Some(1_031),
                ready: Some(1_031),
                ended: None,
            },
            Times {
                ended: Some(1_500),
                ..Times::default()
            },
            Times::default(),
        ],
    };
    sections.put(TAG_TIMELINE, |o| timeline.save(o));
    // The daemon's: the console, and a client waiting for the update.
    sections.put(TAG_CONSOLE, |o| {
        o.i32(4);
        o.i32(3);
        o.bytes(b"half a line");
        o.u64(2);
    });
    sections.put(TAG_WAITER, |o| o.u64(11));
    // A readiness pipe: descriptor, pid, service, bytes seen.
    sections.put(TAG_READY, |o| {
        o.i32(12);
        o.i32(42);
        o.u32(2);
        o.u32(3);
    });
    // The descriptors held for service 1: two sockets, one stored.
    let listener = |o: &mut Out, fd, name, kind, addr, mode, who: Option<(&str, &str)>, backlog| {
        let mut r = Out::default();
        r.i32(fd);
        r.str(name);
        r.u8(kind);
        r.str(addr);
        r.u32(mode);
        for v in [who.map(|w| w.0), who.map(|w| w.1)] {
            r.bool(v.is_some());
            r.str(v.unwrap_or(""));
        }
        r.i32(backlog);
        o.bytes(&r.0);
    };
    sections.put(TAG_HELD, |o| {
        o.u32(1);
        o.len(2);
        listener(o, 20, "http", 2, "[::]:8080", 0o666, None, 128);
        let owner = Some(("daemon", "7"));
        listener(o, 21, "ctl", 0, "/run/b.sock", 0o660, owner, 16);
        o.len(1);
        let mut r = Out::default();
        r.i32(22);
        r.str("conn");
        o.bytes(&r.0);
    });
    // The log of service 0: its pipe, ring, a line, a partial line, one
    // process, and none of cinit's own kernel log state.
    sections.put(TAG_LOG, |o| {
        o.bool(true);
        o.u32(0);
        o.str("a");
        o.i32(14);
        o.i32(15);
        o.u64(65536);
        o.u64(3);
        o.u64(1);
        o.len(1);
        for v in [2, 5, 6] {
            o.u64(v); // number, monotonic and wall times
        }
        o.str("hello");
        o.bytes(b"par");
        o.opt_u64(Some(4));
        o.bool(true); // mirrored
        o.bool(false); // no file
        o.len(1);
        o.i32(40);
        o.u64(0);
        o.u64(0);
        o.opt_u64(None);
        o.u32(0);
        o.i32(-1);
    });
    // The control socket and a client, waiting for the operations below.
    sections.put(TAG_CONTROL, |o| {
        o.i32(6);
        o.path("/run/cinit/control".as_ref());
        o.u64(12); // next client id
        o.u8(1);
        o.u64(0x2a); // bound socket file's device and inode
        o.u64(7);
    });
    sections.put(TAG_CLIENT, |o| {
        o.u64(11);
        o.i32(9);
        o.u32(1000);
        o.bytes(&[1, 2]);
        o.bytes(&[3]);
        o.bool(false); // closing
        o.bool(true); // busy
        o.opt_u64(None);
    });
    let pending = [
        Pending::Start {
            client: 11,
            svcs: vec![0],
        },
        Pending::Stop {
            client: 11,
            roots: vec![1],
            deps: vec![0],
        },
        Pending::Restart {
            client: 11,
            roots: vec![2],
            deps: vec![],
            starting: true,
        },
        Pending::Wait {
            client: 11,
            svcs: vec![0, 2],
            uid: 1000,
        },
        Pending::Log(crate::control::logfollow::LogFollow {
            client: 11,
            svc: Some(0),
            next: 2,
            until: None,
            started: true,
        }),
    ];
    crate::control::pending::save_all(&pending, &mut sections);
    // In the order of the body, as decoding gives them.
    arrange(&mut sections);
    Snapshot {
        writer: "0.1.0".into(),
        sections,
    }
}

/// `s` encoded with the payload of every section tagged `t` replaced by
/// `edit(payload)`.
fn with_sections(s: &Snapshot, t: u8, edit: impl Fn(Vec<u8>) -> Vec<u8>) -> Vec<u8> {
    let bytes = encode(s);
    let mut body = In(&bytes[HEADER_LEN..]);
    let mut rebuilt = Out::default();
    while let (Some(tg), Some(p)) = (body.u8(), body.bytes()) {
        rebuilt.u8(tg);
        rebuilt.bytes(&if tg == t { edit(p) } else { p });
    }
    let mut framed = bytes[..HEADER_LEN].to_vec();
    framed[12..16].copy_from_slice(&(rebuilt.0.len() as u32).to_be_bytes());
    framed[16..24].copy_from_slice(&fnv1a(&rebuilt.0).to_be_bytes());
    framed.extend_from_slice(&rebuilt.0);
    framed
}

/// Decode `bytes` and read the timeline as the engine does: the snapshot,
/// the timeline and every loss.
fn decode_timeline(bytes: &[u8]) -> (Snapshot, Option<Timeline>, Lost) {
    let (back, mut lost) = decode(bytes).unwrap();
    let tl = back
        .sections
        .read_last(TAG_TIMELINE, &mut lost, Timeline::load);
    (back, tl, lost)
}

/// The sections of `s` tagged `t`.
fn only(s: &Snapshot, t: u8) -> Sections {
    let mut kept = s.sections.clone();
    kept.arrange(|tg| (tg == t).then_some(0));
    kept
}

#[test]
fn the_timeline_reads_back_from_shorter_and_longer_records() {
    let s = sample();
    let mut lost = Lost::new();
    let tl = s
        .sections
        .read_last(TAG_TIMELINE, &mut lost, Timeline::load);
    let tl = tl.unwrap();
    // An older writer without the section: no timeline, nothing lost.
    let mut old = s.clone();
    old.sections.arrange(|t| (t != TAG_TIMELINE).then_some(0));
    let (_, timeline, lost) = decode_timeline(&encode(&old));
    assert!(lost.is_empty(), "{lost:?}");
    assert_eq!(timeline, None);
    // Records of a writer that knew only the first two times, and of one
    // that appends a field this reader does not know.
    let mut o = Out::default();
    o.opt_u64(tl.started);
    o.len(2);
    let mut short = Out::default();
    short.opt_u64(Some(7));
    short.opt_u64(Some(8));
    o.bytes(&short.0);
    let mut long = Out::default();
    for v in [1, 2, 3, 4, 5] {
        long.opt_u64(Some(v));
    }
    long.u64(99);
    o.bytes(&long.0);
    let payload = o.0;
    let (_, timeline, lost) =
        decode_timeline(&with_sections(&s, TAG_TIMELINE, |_| payload.clone()));
    assert!(lost.is_empty(), "{lost:?}");
    let times = timeline.unwrap().times;
    assert_eq!(
        times,
        vec![
            Times {
                requested: Some(7),
                startable: Some(8),
                ..Times::default()
            },
            Times {
                requested: Some(1),
                startable: Some(2),
                spawned: Some(3),
                ready: Some(4),
                ended: Some(5),
            },
        ]
    );
}

#[test]
fn a_damaged_timeline_is_reported_and_bounded() {
    let s = sample();
    // A count no snapshot may hold, and a count larger than the records.
    for count in [u32::MAX, 3_000] {
        let bytes = with_sections(&s, TAG_TIMELINE, |p| {
            let mut p = p;
            p[9..13].copy_from_slice(&count.to_be_bytes());
            p
        });
        let (back, timeline, lost) = decode_timeline(&bytes);
        assert_eq!(lost.len(), 1, "{lost:?}");
        assert!(lost[0].contains("section 12"), "{lost:?}");
        assert_eq!(timeline, None);
        assert_eq!(only(&back, TAG_SERVICE), only(&s, TAG_SERVICE));
    }
}

#[test]
fn a_snapshot_reads_back_exactly() {
    let s = sample();
    let (back, lost) = decode(&encode(&s)).unwrap();
    assert!(lost.is_empty(), "{lost:?}");
    assert_eq!(back, s);
}

#[test]
fn unknown_sections_and_appended_fields_are_skipped() {
    let s = sample();
    let bytes = encode(&s);
    // Rebuild the body with an unknown section in front and an extra field
    // appended to the META section, as a newer writer would.
    let body = &bytes[HEADER_LEN..];
    let mut newer = Out::default();
    newer.u8(200);
    newer.bytes(b"future");
    let mut meta = Out::default();
    meta.str("9.9");
    meta.u64(42); // a field this reader does not know
    newer.section(TAG_META, meta);
    newer.0.extend_from_slice(body);
    let mut framed = bytes[..HEADER_LEN].to_vec();
    framed[12..16].copy_from_slice(&(newer.0.len() as u32).to_be_bytes());
    framed[16..24].copy_from_slice(&fnv1a(&newer.0).to_be_bytes());
    framed.extend_from_slice(&newer.0);
    let (back, lost) = decode(&framed).unwrap();
    assert!(lost.is_empty(), "{lost:?}");
    // The original META comes later and wins; everything else is intact.
    assert_eq!(back, s);
}

#[test]
fn headers_that_are_not_ours_are_refused() {
    assert_eq!(decode(b"hello"), Err(Unreadable::NotASnapshot));
    assert_eq!(decode(b""), Err(Unreadable::NotASnapshot));
    let mut bytes = encode(&sample());
    bytes[9] = 3; // format 3
    assert_eq!(decode(&bytes), Err(Unreadable::Format(3)));
    assert_eq!(decode(&bytes[..10]), Err(Unreadable::Format(3)));
    let bytes = encode(&sample());
    assert_eq!(decode(&bytes[..12]), Err(Unreadable::Truncated));
}

/// Proves format 2 is format 1's body under another checksum: the same
/// bytes after the header, format 2 in the header, read back to the same
/// snapshot with nothing lost, and a flipped byte found by its checksum.
#[test]
fn the_word_checksum_format_reads_back_and_finds_damage() {
    let s = sample();
    let one = encode(&s);
    let two = encode_as(s.clone(), FORMAT_WORDS);
    assert_eq!(two[8..10], FORMAT_WORDS.to_be_bytes());
    assert_eq!(one[10..16], two[10..16], "reserved and length");
    assert_eq!(one[HEADER_LEN..], two[HEADER_LEN..], "the body");
    assert_eq!(two[16..24], fnv1a_words(&two[HEADER_LEN..]).to_be_bytes());
    let (back, lost) = decode(&two).unwrap();
    assert!(lost.is_empty(), "{lost:?}");
    assert_eq!(back, s);
    let mut bad = two;
    let n = bad.len();
    bad[n / 2] ^= 0x01;
    let (_, lost) = decode(&bad).unwrap();
    assert!(lost.iter().any(|l| l.contains("checksum")), "{lost:?}");
}

/// Proves the word checksum is FNV-1a over little-endian 8-byte words and
/// then the last bytes one by one (written out here step by step), and
/// that it is not format 1's.
#[test]
fn the_word_checksum_is_fnv1a_over_words_then_bytes() {
    let data = b"cinit snapshot, 23 byte";
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for w in data.chunks(8).filter(|w| w.len() == 8) {
        h = (h ^ u64::from_le_bytes(w.try_into().unwrap())).wrapping_mul(0x0100_0000_01b3);
    }
    for &b in &data[16..] {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    assert_eq!(fnv1a_words(data), h);
    assert_ne!(fnv1a_words(data), fnv1a(data));
    assert_eq!(fnv1a_words(b""), fnv1a(b""));
}

/// Proves the writer picks the word checksum only for an image that reads
/// format 2, format 1 for one that reads only that (every released cinit),
/// and nothing for one that reads neither.
#[test]
fn the_format_written_is_one_the_new_image_reads() {
    assert_eq!(format_for((1, 1)), Some(FORMAT));
    assert_eq!(format_for((1, 2)), Some(FORMAT_WORDS));
    assert_eq!(format_for((1, 5)), Some(FORMAT_WORDS));
    assert_eq!(format_for((2, 2)), Some(FORMAT_WORDS));
    assert_eq!(format_for((3, 4)), None);
}

#[test]
fn damage_is_reported_and_the_rest_is_adopted() {
    let s = sample();
    let mut bytes = encode(&s);
    // Truncate: the last sections are lost, the first ones are kept.
    bytes.truncate(bytes.len() - 5);
    let (back, lost) = decode(&bytes).unwrap();
    assert!(lost.iter().any(|l| l.contains("truncated")), "{lost:?}");
    assert_eq!(only(&back, TAG_TREE), only(&s, TAG_TREE));
    assert_eq!(only(&back, TAG_NODE), only(&s, TAG_NODE));
    // A flipped byte inside a service record: checksum reported, the record
    // keeps its place as a lost one or decodes to something; never a panic.
    let mut bytes = encode(&s);
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    let (_, lost) = decode(&bytes).unwrap();
    assert!(lost.iter().any(|l| l.contains("checksum")), "{lost:?}");
}

proptest! {
    #[test]
    fn decoding_arbitrary_bytes_never_panics(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&data);
        let mut framed = MAGIC.to_vec();
        framed.extend_from_slice(&FORMAT.to_be_bytes());
        framed.extend_from_slice(&data);
        let _ = decode(&framed);
    }
}

/// The bytes of a snapshot do not change when its encoding moves between
/// modules: the sample encodes to exactly what the encoder of the release
/// before the owners wrote their own sections produced (length and
/// FNV-1a-64 of the whole snapshot). A changed field order, width or tag
/// in any owner's `save` fails here even when its `load` changed with it,
/// which the round trips above cannot see. Update the numbers only with a
/// format change that doc/DESIGN.md's version rules allow (1662 bytes
/// before each of the sample's 3 NODE sections was appended its failure
/// policy, 17 bytes for none: `restart-limit`, `on-failure`).
#[test]
fn the_sample_encodes_to_the_same_bytes_as_before() {
    let bytes = encode(&sample());
    // 1662 bytes before the watchdog appended a field to each NODE and
    // SERVICE section (9 bytes each), the failure policy one to each NODE
    // section (17 bytes) and `notify-socket` one to each NODE section (1
    // byte); older readers skip appended fields.
    assert_eq!(bytes.len(), 1743);
    assert_eq!(fnv1a(&bytes), 0x0745_81a7_8426_3fb3);
}

/// Proves every owner's section tags are distinct from each other and from
/// the container's META, so no owner can read another's section, and that
/// each has its place in the body's order.
#[test]
fn every_owners_tags_are_distinct() {
    let mut tags: Vec<u8> = ORDER.iter().flat_map(|g| g.iter().copied()).collect();
    tags.push(TAG_META);
    let n = tags.len();
    tags.sort_unstable();
    tags.dedup();
    assert_eq!(tags.len(), n, "a tag is used twice: {tags:?}");
    assert_eq!(n, 15);
    assert!(tags
        .iter()
        .all(|&t| t == TAG_META || ranks().get(usize::from(t)).copied().flatten().is_some()));
}
