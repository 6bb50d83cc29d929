//! Unit tests of the engine's own snapshot sections: the bytes it writes
//! for every phase, and what it reads back.

use super::*;
use crate::engine::state::SpawnError;
use crate::engine::{TAG_NODE, TAG_SERVICE};
use crate::proto::wire::{damaged, Out, Sections};

fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// An engine with a service in every phase and every field set.
fn every_phase() -> Engine {
    let mut nodes = graph(9, &[(0, 1, true), (2, 3, false)]);
    nodes[0].respawn = true;
    nodes[0].delay_s = Some(3);
    nodes[0].notify_fd = Some(7);
    nodes[0].ready_timeout_ms = Some(2500);
    nodes[4].grouping = true;
    nodes[0].watchdog_ms = std::num::NonZeroU32::new(1500);
    let mut e = Engine::new(nodes);
    let stop = |step, off, timed_out| {
        Phase::Stopping(Stop {
            main: Some(41),
            off,
            step,
            deadline: Some(77),
            timed_out,
        })
    };
    let phases = [
        Phase::Waiting,
        Phase::Starting {
            pid: 42,
            deadline: Some(1500),
            watchdog: None,
        },
        Phase::Running {
            pid: 40,
            watchdog: None,
        },
        Phase::Done,
        Phase::Failed,
        Phase::NeedFailed,
        Phase::Backoff { until: 99 },
        stop(StopStep::Term, Some(43), Some(Timeout::Ready(2500))),
        Phase::Stopped,
    ];
    let reasons = [
        None,
        Some(Reason::NotReady(1500)),
        Some(Reason::Exit(ExitStatus::Signal(9))),
        Some(Reason::Exit(ExitStatus::Code(3))),
        Some(Reason::Spawn(SpawnError::Exec {
            path: "/x".into(),
            errno: 2,
        })),
        Some(Reason::NeedFailed("b".into())),
        Some(Reason::NeedMissing("e".into(), "why".into())),
        Some(Reason::Spawn(SpawnError::Listen {
            message: "cannot bind tcp [::]:80".into(),
            errno: 98,
        })),
        Some(Reason::Cycle("a -> a".into())),
    ];
    for (i, (phase, reason)) in phases.into_iter().zip(reasons).enumerate() {
        let n = i as u32;
        e.svcs[i] = Svc {
            phase,
            reason: reason.map(Box::new),
            since: 5 + u64::from(n),
            spawned_at: 6,
            restarts: 7 + n,
            quick_deaths: n % 3,
            started_once: i % 2 == 0,
            stop_requested: i == 7 || i == 0,
            park_for: (i == 0).then_some(1),
        };
    }
    e
}

/// `e`'s sections with `cut` bytes taken off the end of every section of
/// each tag listed, as a writer that did not know the fields appended last
/// wrote them.
fn without_appended(e: &Engine, cuts: &[(u8, usize)]) -> Sections {
    let mut saved = Sections::default();
    e.save(&mut saved);
    let mut old = Sections::default();
    for t in [TAG_NODE, TAG_SERVICE] {
        let cut = cuts.iter().find(|c| c.0 == t).map_or(0, |c| c.1);
        for p in saved.all(t) {
            old.put(t, |o| o.put(&p.0[..p.0.len() - cut]));
        }
    }
    old
}

/// Bytes of the failure policy appended to a NODE section, for a
/// service without one (`restart-limit`, `on-failure`).
const POLICY: usize = 4 + 8 + 1 + 4;

fn load(s: &Sections) -> (Engine, Vec<String>) {
    Engine::load(s, |l| crate::config::probe::parse_line(l).ok())
}

/// Proves the engine writes its sections byte for byte as the release
/// before it did (through a flattened record per service): one service in
/// each phase, every field set. The numbers were taken from that release's
/// encoder; a changed field order, width or phase number fails here.
#[test]
fn every_phase_saves_the_same_bytes_as_before() {
    // Up to the fields the watchdog and the failure policy appended (9
    // bytes at the end of each NODE and SERVICE section for the watchdog,
    // read back in their own tests; no policy: 17 more in NODE; the
    // `notify-socket` flag: 1 more).
    let mut body = Out::default();
    without_appended(
        &every_phase(),
        &[(TAG_NODE, 9 + POLICY + 1), (TAG_SERVICE, 9)],
    )
    .write(&mut body);
    let bytes = body.0;
    assert_eq!((bytes.len(), fnv1a(&bytes)), (1262, 0x7438_d04a_7903_5e38));
}

/// Proves a service in every phase reads back exactly: its typed phase,
/// reason, counters and flags, and the processes it owns, with nothing lost.
#[test]
fn every_phase_reads_back_exactly() {
    let e = every_phase();
    let (back, lost) = reload(&e);
    assert!(lost.is_empty(), "{lost:?}");
    assert_eq!(back.nodes, e.nodes);
    assert_eq!(back.svcs, e.svcs);
    assert_eq!(back.pids.get(&41), Some(&(7, Role::On)));
    assert_eq!(back.pids.get(&43), Some(&(7, Role::Off)));
    assert_eq!(back.pids.len(), 4);
}

/// A snapshot of a cinit from before readiness (no `notification-fd`,
/// `ready-timeout` in its nodes, no timeout stop in its services) reads
/// without losses, those fields taking their defaults.
#[test]
fn a_writer_without_readiness_is_read_with_defaults() {
    let mut e = every_phase();
    let (back, lost) = load(&without_appended(
        &e,
        &[(TAG_NODE, 33 + POLICY), (TAG_SERVICE, 27)],
    ));
    assert!(lost.is_empty(), "{lost:?}");
    for n in &mut e.nodes {
        n.notify_fd = None;
        n.ready_timeout_ms = None;
        n.grouping = false;
        n.watchdog_ms = None;
        n.notify_socket = false;
    }
    for s in &mut e.svcs {
        if let Phase::Stopping(st) = &mut s.phase {
            st.timed_out = None;
        }
        s.park_for = None;
    }
    assert_eq!(back.nodes, e.nodes);
    assert_eq!(back.svcs, e.svcs);
}

/// A snapshot of a cinit from before groupings were parked (no grouping
/// flag in its nodes, no pending park in its services) reads without
/// losses: no service is a grouping, no park is pending.
#[test]
fn a_writer_without_groupings_is_read_with_defaults() {
    let mut e = every_phase();
    let (back, lost) = load(&without_appended(
        &e,
        &[(TAG_NODE, 11 + POLICY), (TAG_SERVICE, 18)],
    ));
    assert!(lost.is_empty(), "{lost:?}");
    assert!(e.nodes.iter().any(|n| n.grouping));
    assert!(e.svcs.iter().any(|s| s.park_for.is_some()));
    for n in &mut e.nodes {
        n.grouping = false;
        n.watchdog_ms = None;
        n.notify_socket = false;
    }
    for s in &mut e.svcs {
        s.park_for = None;
    }
    assert_eq!(back.nodes, e.nodes);
    assert_eq!(back.svcs, e.svcs);
}

/// A snapshot of a cinit from before `notify-socket` (no flag at the end
/// of its nodes) reads without losses, no service speaking sd_notify; a
/// flag written reads back.
#[test]
fn a_writer_without_notify_socket_is_read_with_defaults() {
    let mut e = every_phase();
    e.nodes[5].notify_socket = true;
    let (back, lost) = reload(&e);
    assert!(lost.is_empty(), "{lost:?}");
    assert_eq!(back.nodes, e.nodes, "the flag reads back");
    let (back, lost) = load(&without_appended(&e, &[(TAG_NODE, 1)]));
    assert!(lost.is_empty(), "{lost:?}");
    for n in &mut e.nodes {
        n.notify_socket = false;
    }
    assert_eq!(back.nodes, e.nodes);
}

/// A node's `ready-probe` survives the round trip (the new cinit probes
/// again), and a writer from before probes (no probe field) reads as no
/// probe.
#[test]
fn a_ready_probe_round_trips_and_an_older_writer_has_none() {
    let mut e = every_phase();
    e.nodes[0].notify_fd = None;
    for line in ["tcp:[::1]:8080", "unix:/run/a b.sock", "exec ./check -q"] {
        e.nodes[0].probe = Some(Box::new(crate::config::probe::parse_line(line).unwrap()));
        let (back, lost) = reload(&e);
        assert!(lost.is_empty(), "{lost:?}");
        assert_eq!(back.nodes, e.nodes);
    }
    e.nodes[0].probe = None;
    // A writer from before probes had no grouping field either.
    for n in &mut e.nodes {
        n.grouping = false;
        n.watchdog_ms = None;
    }
    let (back, lost) = load(&without_appended(&e, &[(TAG_NODE, 15 + POLICY)]));
    assert!(lost.is_empty(), "{lost:?}");
    assert_eq!(back.nodes, e.nodes);
}

/// Proves a damaged SERVICE section (cut to 3 bytes) keeps its place: it
/// is reported, its service is left `stopped`, and the next service still
/// reads back as itself at its own index.
#[test]
fn a_damaged_service_record_keeps_its_index() {
    let e = every_phase();
    let mut saved = Sections::default();
    e.save(&mut saved);
    let mut cut = Sections::default();
    for p in saved.all(TAG_NODE) {
        cut.put(TAG_NODE, |o| o.put(p.0));
    }
    for (i, p) in saved.all(TAG_SERVICE).enumerate() {
        cut.put(TAG_SERVICE, |o| o.put(if i == 0 { &p.0[..3] } else { p.0 }));
    }
    let (back, lost) = load(&cut);
    assert_eq!(
        lost,
        [
            damaged(TAG_SERVICE),
            "a: state lost in the update; now stopped".to_string()
        ]
    );
    assert_eq!(back.svcs.len(), e.svcs.len());
    assert_eq!(back.svcs[0].phase, Phase::Stopped);
    assert_eq!(back.svcs[1], e.svcs[1]);
}
