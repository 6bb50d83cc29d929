//! Golden vectors, round trips and fuzz-style properties for the codec.

use super::*;
use proptest::prelude::*;

#[test]
fn golden_requests() {
    assert_eq!(
        encode_request(&Request::Version),
        [b'c', b'i', 1, 0x01, 0, 0, 0, 0]
    );
    assert_eq!(
        encode_request(&Request::Start {
            names: vec!["a".into(), "getty/1".into()],
            no_deps: true
        }),
        [
            b'c', b'i', 1, 0x03, 0, 0, 0, 21, // header, 21-byte payload
            1, 0, 1, b'a', // NAME "a"
            1, 0, 7, b'g', b'e', b't', b't', b'y', b'/', b'1', // NAME "getty/1"
            2, 0, 4, 0, 0, 0, 1, // FLAGS = no-deps
        ]
    );
    assert_eq!(
        encode_request(&Request::System(SystemAction::Poweroff)),
        [b'c', b'i', 1, 0x12, 0, 0, 0, 0]
    );
    // cinit-ctl wait db
    let wait = Request::Wait {
        names: vec!["db".into()],
    };
    let frame = encode_request(&wait);
    assert_eq!(
        frame,
        [b'c', b'i', 1, 0x06, 0, 0, 0, 5, 1, 0, 2, b'd', b'b']
    );
    assert_eq!(decode_request(&frame), Ok(wait.clone()));
    assert!(wait.is_read_only(), "any user may wait");
}

#[test]
fn golden_log_request_and_lines() {
    assert_eq!(
        encode_request(&Request::Log {
            name: Some("web".into()),
            lines: 10,
            follow: true
        }),
        [
            b'c', b'i', 1, 0x07, 0, 0, 0, 20, // header, 20-byte payload
            1, 0, 3, b'w', b'e', b'b', // NAME "web"
            20, 0, 4, 0, 0, 0, 10, // LINES = 10
            2, 0, 4, 0, 0, 0, 2, // FLAGS = follow
        ]
    );
    assert_eq!(
        encode_request(&Request::Log {
            name: None,
            lines: 0,
            follow: false
        }),
        [b'c', b'i', 1, 0x07, 0, 0, 0, 0]
    );
    let batch = LogBatch {
        lines: vec![LogLine {
            seq: 1,
            mono_ms: 2,
            wall_ms: 3,
            text: "hi".into(),
        }],
        dropped: 4,
        missed: 0,
        more: true,
    };
    let mut expect = vec![b'c', b'i', 1, 0x85, 0, 0, 0, 56, 21, 0, 38];
    expect.extend([22, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1]);
    expect.extend([23, 0, 8, 0, 0, 0, 0, 0, 0, 0, 2]);
    expect.extend([24, 0, 8, 0, 0, 0, 0, 0, 0, 0, 3]);
    expect.extend([25, 0, 2, b'h', b'i']);
    expect.extend([26, 0, 8, 0, 0, 0, 0, 0, 0, 0, 4]);
    expect.extend([28, 0, 1, 1]);
    let frame = encode_reply(&Reply::LogLines(batch.clone()));
    assert_eq!(frame, expect);
    assert_eq!(line_wire_len(&batch.lines[0]), 38 + 3);
    assert_eq!(decode_reply(&frame), Ok(Reply::LogLines(batch)));
}

#[test]
fn protocol_md_example_is_exact() {
    // doc/PROTOCOL.md, "Example": cinit-ctl start --no-deps web
    assert_eq!(
        encode_request(&Request::Start {
            names: vec!["web".into()],
            no_deps: true
        }),
        [
            0x63, 0x69, 0x01, 0x03, 0x00, 0x00, 0x00, 0x0d, 0x01, 0x00, 0x03, 0x77, 0x65, 0x62,
            0x02, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01
        ]
    );
}

#[test]
fn golden_replies() {
    assert_eq!(
        encode_reply(&Reply::Error {
            code: ErrorCode::Permission,
            message: "no".into()
        }),
        [b'c', b'i', 1, 0x81, 0, 0, 0, 9, 10, 0, 1, 4, 9, 0, 2, b'n', b'o']
    );
    let s = ServiceInfo {
        name: "x".into(),
        state: "running".into(),
        pid: Some(258),
        since_ms: 1,
        restarts: 2,
        reason: None,
        respawn: true,
        dependent: false,
        ..ServiceInfo::default()
    };
    let mut expect = vec![b'c', b'i', 1, 0x84, 0, 0, 0, 46, 3, 0, 43];
    expect.extend([1, 0, 1, b'x']);
    expect.extend([4, 0, 7]);
    expect.extend(b"running");
    expect.extend([5, 0, 4, 0, 0, 1, 2]);
    expect.extend([6, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1]);
    expect.extend([7, 0, 4, 0, 0, 0, 2]);
    expect.extend([14, 0, 1, 1]);
    assert_eq!(encode_reply(&Reply::Services(vec![s])), expect);
}

/// Proves a STATUS reply with a note is a SERVICES frame with NOTE fields
/// first, and that a reader that skips the NOTE tag (an older client) reads
/// the same services.
#[test]
fn golden_status_with_a_note() {
    let reply = Reply::Status {
        notes: vec!["ab".into()],
        services: vec![],
    };
    let frame = encode_reply(&reply);
    assert_eq!(
        frame,
        [b'c', b'i', 1, 0x84, 0, 0, 0, 5, 40, 0, 2, b'a', b'b']
    );
    assert_eq!(decode_reply(&frame), Ok(reply));
    // Without notes, the plain SERVICES reply, byte for byte.
    let plain = encode_reply(&Reply::Services(vec![]));
    assert_eq!(plain, [b'c', b'i', 1, 0x84, 0, 0, 0, 0]);
    assert_eq!(decode_reply(&plain), Ok(Reply::Services(vec![])));
}

#[test]
fn golden_analyze_and_timeline() {
    assert_eq!(
        encode_request(&Request::Analyze),
        [b'c', b'i', 1, 0x08, 0, 0, 0, 0]
    );
    assert!(Request::Analyze.is_read_only());
    let t = Timeline {
        started_ms: Some(1000),
        now_ms: 2000,
        services: vec![TimelineEntry {
            name: "a".into(),
            state: "done".into(),
            respawn: true,
            requested_ms: Some(1010),
            spawned_ms: Some(1020),
            needs: vec![0],
            ..TimelineEntry::default()
        }],
    };
    let mut expect = vec![b'c', b'i', 1, 0x86, 0, 0, 0, 69];
    expect.extend([38, 0, 8, 0, 0, 0, 0, 0, 0, 0x03, 0xe8]); // STARTED_MS 1000
    expect.extend([39, 0, 8, 0, 0, 0, 0, 0, 0, 0x07, 0xd0]); // NOW_MS 2000
    expect.extend([30, 0, 44]); // ENTRY
    expect.extend([1, 0, 1, b'a']);
    expect.extend([4, 0, 4, b'd', b'o', b'n', b'e']);
    expect.extend([14, 0, 1, 1]);
    expect.extend([31, 0, 8, 0, 0, 0, 0, 0, 0, 0x03, 0xf2]); // REQUESTED_MS 1010
    expect.extend([33, 0, 8, 0, 0, 0, 0, 0, 0, 0x03, 0xfc]); // SPAWNED_MS 1020
    expect.extend([36, 0, 4, 0, 0, 0, 0]); // NEEDS [0]
    let reply = Reply::Timeline(t);
    assert_eq!(encode_reply(&reply), expect);
    assert_eq!(decode_reply(&expect), Ok(reply));
}

#[test]
fn long_dependency_lists_are_split_over_fields_and_joined_again() {
    let t = Timeline {
        started_ms: None,
        now_ms: 1,
        services: vec![TimelineEntry {
            name: "many".into(),
            needs: (0..16_010).collect(),
            wants: vec![7, 3],
            ..TimelineEntry::default()
        }],
    };
    let reply = Reply::Timeline(t);
    assert_eq!(decode_reply(&encode_reply(&reply)), Ok(reply));
    // An index list whose length is not a multiple of 4 is malformed.
    let mut bad = vec![b'c', b'i', 1, 0x86, 0, 0, 0, 9, 30, 0, 6, 36, 0, 3, 0, 0, 1];
    assert!(matches!(
        decode_reply(&bad),
        Err(DecodeError::Malformed("bad index list"))
    ));
    bad[13] = 4;
    assert!(decode_reply(&bad).is_err());
}

#[test]
fn unknown_fields_are_skipped_and_unknown_opcodes_reported() {
    let mut frame = encode_request(&Request::Status {
        names: vec!["a".into()],
    });
    frame.extend([99, 0, 3, 1, 2, 3]); // an unknown tag from a newer client
    let len = (frame.len() - HEADER_LEN) as u32;
    frame[4..8].copy_from_slice(&len.to_be_bytes());
    assert_eq!(
        decode_request(&frame),
        Ok(Request::Status {
            names: vec!["a".into()]
        })
    );
    let unknown = [b'c', b'i', 1, 0x7f, 0, 0, 0, 0];
    assert_eq!(decode_request(&unknown), Ok(Request::Unknown(0x7f)));
}

#[test]
fn bad_frames_are_rejected_before_allocation() {
    assert_eq!(
        decode_header(b"c", MAX_REQUEST),
        Err(DecodeError::Incomplete(8))
    );
    assert_eq!(
        decode_header(b"GET / HTTP/1.0", MAX_REQUEST),
        Err(DecodeError::BadMagic)
    );
    assert_eq!(
        decode_header(&[b'c', b'i', 1, 1, 0xff, 0xff, 0xff, 0xff], MAX_REQUEST),
        Err(DecodeError::TooLarge(0xffff_ffff + 8))
    );
    assert_eq!(
        decode_header(&[b'c', b'i', 9, 1, 0, 0, 0, 0], MAX_REQUEST),
        Err(DecodeError::BadVersion(9))
    );
    // Truncated payload: header says 10 bytes, only 2 present.
    let short = [b'c', b'i', 1, 2, 0, 0, 0, 10, 1, 0];
    assert_eq!(decode_request(&short), Err(DecodeError::Incomplete(18)));
    // A field claiming more bytes than the frame has.
    let lying = [b'c', b'i', 1, 2, 0, 0, 0, 3, 1, 0, 9];
    assert_eq!(
        decode_request(&lying),
        Err(DecodeError::Malformed("field longer than the frame"))
    );
}

#[test]
fn golden_fd_requests_and_replies() {
    let store = Request::FdStore {
        service: "web".into(),
        name: "conn".into(),
    };
    assert_eq!(
        encode_request(&store),
        [
            b'c', b'i', 1, 0x09, 0, 0, 0, 13, // header, 13-byte payload
            1, 0, 3, b'w', b'e', b'b', // NAME "web"
            15, 0, 4, b'c', b'o', b'n', b'n', // FD_NAME "conn"
        ]
    );
    assert!(!store.is_read_only(), "storing is checked per service");
    let fetch = Request::FdFetch {
        service: String::new(),
        name: "l".into(),
        remove: true,
    };
    assert_eq!(
        encode_request(&fetch),
        [
            b'c', b'i', 1, 0x0a, 0, 0, 0, 11, // header
            15, 0, 1, b'l', // FD_NAME "l"; no NAME: the caller's own service
            2, 0, 4, 0, 0, 0, 4, // FLAGS = remove
        ]
    );
    assert_eq!(decode_request(&encode_request(&fetch)), Ok(fetch));
    // Found by fuzzing: a request without NAME or FD_NAME re-encodes to no
    // more bytes than it came in.
    let bare = [b'c', b'i', 1, 0x0c, 0, 0, 0, 0];
    let req = decode_request(&bare).unwrap();
    assert_eq!(
        req,
        Request::FdList {
            service: String::new()
        }
    );
    assert_eq!(encode_request(&req), bare);
    let list = Reply::Fds(vec![FdInfo {
        name: "http".into(),
        kind: "tcp 0.0.0.0:80".into(),
        listen: true,
    }]);
    let frame = encode_reply(&list);
    assert_eq!(frame.get(3), Some(&0x88));
    assert_eq!(decode_reply(&frame), Ok(list));
}

/// Proves the bytes of SIGNAL and RELOAD (doc/PROTOCOL.md's example),
/// that both need root, and that SIGNAL's fields left out (an old or odd
/// client) decode to an empty name and signal 0, which the server refuses.
#[test]
fn golden_signal_and_reload() {
    let usr1 = Request::Signal {
        name: "web".into(),
        signal: 10,
        all: true,
    };
    let bytes = [
        b'c', b'i', 1, 0x0d, 0, 0, 0, 17, // header, 17-byte payload
        1, 0, 3, b'w', b'e', b'b', // NAME "web"
        41, 0, 1, 10, // SIGNAL 10 (SIGUSR1)
        2, 0, 4, 0, 0, 0, 8, // FLAGS = all
    ];
    assert_eq!(encode_request(&usr1), bytes);
    assert_eq!(decode_request(&bytes), Ok(usr1.clone()));
    let reload = Request::Reload { name: "web".into() };
    let bytes = [
        b'c', b'i', 1, 0x0e, 0, 0, 0, 6, // header
        1, 0, 3, b'w', b'e', b'b', // NAME "web"
    ];
    assert_eq!(encode_request(&reload), bytes);
    assert_eq!(decode_request(&bytes), Ok(reload.clone()));
    assert!(!usr1.is_read_only() && !reload.is_read_only());
    let bare = [b'c', b'i', 1, 0x0d, 0, 0, 0, 0];
    assert_eq!(
        decode_request(&bare),
        Ok(Request::Signal {
            name: String::new(),
            signal: 0,
            all: false
        })
    );
    assert_eq!(encode_request(&decode_request(&bare).unwrap()), bare);
}

fn name() -> impl Strategy<Value = String> {
    "[a-z0-9/_.-]{1,20}"
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        Just(Request::Version),
        proptest::collection::vec(name(), 0..5).prop_map(|names| Request::Status { names }),
        (proptest::collection::vec(name(), 1..5), any::<bool>())
            .prop_map(|(names, no_deps)| Request::Start { names, no_deps }),
        proptest::collection::vec(name(), 1..5).prop_map(|names| Request::Stop { names }),
        proptest::collection::vec(name(), 1..5).prop_map(|names| Request::Restart { names }),
        proptest::collection::vec(name(), 1..5).prop_map(|names| Request::Wait { names }),
        Just(Request::System(SystemAction::Reboot)),
        Just(Request::System(SystemAction::Update)),
        (proptest::option::of(name()), any::<u32>(), any::<bool>()).prop_map(
            |(name, lines, follow)| Request::Log {
                name,
                lines,
                follow
            }
        ),
        Just(Request::Analyze),
        ("[a-z/]{0,8}", name()).prop_map(|(service, name)| Request::FdStore { service, name }),
        ("[a-z/]{0,8}", name(), any::<bool>()).prop_map(|(service, name, remove)| {
            Request::FdFetch {
                service,
                name,
                remove,
            }
        }),
        ("[a-z/]{0,8}", name()).prop_map(|(service, name)| Request::FdDrop { service, name }),
        "[a-z/]{0,8}".prop_map(|service| Request::FdList { service }),
        ("[a-z/]{0,8}", any::<u8>(), any::<bool>())
            .prop_map(|(name, signal, all)| Request::Signal { name, signal, all }),
        "[a-z/]{0,8}".prop_map(|name| Request::Reload { name }),
    ]
}

fn fd_info() -> impl Strategy<Value = FdInfo> {
    (name(), ".{0,30}", any::<bool>()).prop_map(|(name, kind, listen)| FdInfo {
        name,
        kind,
        listen,
    })
}

fn log_line() -> impl Strategy<Value = LogLine> {
    (any::<u64>(), any::<u64>(), any::<u64>(), ".{0,60}").prop_map(
        |(seq, mono_ms, wall_ms, text)| LogLine {
            seq,
            mono_ms,
            wall_ms,
            text,
        },
    )
}

fn timeline_entry() -> impl Strategy<Value = TimelineEntry> {
    let t = || proptest::option::of(any::<u64>());
    (
        (name(), "[a-z-]{1,11}", any::<bool>()),
        (t(), t(), t(), t(), t()),
        proptest::collection::vec(0usize..100, 0..6),
        proptest::collection::vec(0usize..100, 0..6),
    )
        .prop_map(
            |((name, state, respawn), (rq, st, sp, rd, en), needs, wants)| TimelineEntry {
                name,
                state,
                respawn,
                requested_ms: rq,
                startable_ms: st,
                spawned_ms: sp,
                ready_ms: rd,
                ended_ms: en,
                needs,
                wants,
            },
        )
}

fn timeline() -> impl Strategy<Value = Timeline> {
    (
        proptest::option::of(any::<u64>()),
        any::<u64>(),
        proptest::collection::vec(timeline_entry(), 0..6),
    )
        .prop_map(|(started_ms, now_ms, services)| Timeline {
            started_ms,
            now_ms,
            services,
        })
}

fn service() -> impl Strategy<Value = ServiceInfo> {
    (
        name(),
        "[a-z-]{1,11}",
        proptest::option::of(any::<u32>()),
        any::<u64>(),
        any::<u32>(),
        proptest::option::of(".{0,40}"),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(name, state, pid, since_ms, restarts, reason, respawn, dependent)| ServiceInfo {
                name,
                state,
                pid,
                since_ms,
                restarts,
                reason,
                respawn,
                dependent,
                ..ServiceInfo::default()
            },
        )
}

fn reply() -> impl Strategy<Value = Reply> {
    prop_oneof![
        proptest::option::of(".{0,30}").prop_map(|message| Reply::Ok { message }),
        ".{0,30}".prop_map(|message| Reply::Error {
            code: ErrorCode::Failed,
            message
        }),
        any::<u8>().prop_map(|opcode| Reply::Unsupported { opcode }),
        "[0-9.]{1,8}".prop_map(|server| Reply::Version {
            server,
            protocol: VERSION
        }),
        proptest::collection::vec(service(), 0..8).prop_map(Reply::Services),
        (
            proptest::collection::vec(".{0,30}", 1..3),
            proptest::collection::vec(service(), 0..8)
        )
            .prop_map(|(notes, services)| Reply::Status { notes, services }),
        (
            proptest::collection::vec(log_line(), 0..8),
            any::<u64>(),
            any::<u64>(),
            any::<bool>()
        )
            .prop_map(|(lines, dropped, missed, more)| Reply::LogLines(LogBatch {
                lines,
                dropped,
                missed,
                more
            })),
        timeline().prop_map(Reply::Timeline),
        name().prop_map(|name| Reply::FdPassed { name }),
        proptest::collection::vec(fd_info(), 0..8).prop_map(Reply::Fds),
    ]
}

proptest! {
    #[test]
    fn requests_round_trip(r in request()) {
        prop_assert_eq!(decode_request(&encode_request(&r)), Ok(r));
    }

    #[test]
    fn replies_round_trip(r in reply()) {
        prop_assert_eq!(decode_reply(&encode_reply(&r)), Ok(r));
    }

    /// Every strict prefix of a valid frame is "incomplete", never accepted.
    #[test]
    fn prefixes_are_incomplete(r in request()) {
        let frame = encode_request(&r);
        for cut in 0..frame.len() {
            let got = decode_request(&frame[..cut]);
            prop_assert!(matches!(got, Err(DecodeError::Incomplete(_))), "cut {}: {:?}", cut, got);
        }
    }

    /// Random bytes never panic the decoders.
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = decode_request(&bytes);
        let _ = decode_reply(&bytes);
        let _ = decode_header(&bytes, MAX_REQUEST);
    }

    /// Random payloads behind a valid header never panic either.
    #[test]
    fn random_payloads_never_panic(op in any::<u8>(), body in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut frame = vec![b'c', b'i', VERSION, op];
        frame.extend((body.len() as u32).to_be_bytes());
        frame.extend(&body);
        let _ = decode_request(&frame);
        let _ = decode_reply(&frame);
    }
}
