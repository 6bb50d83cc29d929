//! Unit tests of readiness and `ready-timeout` in the engine, against the
//! recording fake host of `engine/machine/tests.rs` (a file of its own only to keep
//! each one readable).

use super::*;

/// Make service `i` a respawn service that signals readiness on fd 5.
fn notifier(nodes: &mut [Node], i: usize) {
    nodes[i].respawn = true;
    nodes[i].notify_fd = Some(5);
}

fn ready(e: &mut Engine, h: &mut Fake, now: Millis, svc: usize) -> bool {
    let pid = h.pid_of(svc, Role::On);
    e.ready(h, now, pid)
}

/// A needer starts only once its need is ready, not when it is spawned;
/// the need is spawned with the readiness pipe at its `notification-fd`,
/// shows `starting` with its pid until then, and `running` in the time it
/// took after.
#[test]
fn readiness_gates_a_needing_dependent() {
    let mut nodes = graph(2, &[(0, 1, true)]);
    notifier(&mut nodes, 1);
    let mut e = Engine::new(nodes);
    let mut h = Fake::new(vec![Plan::Run; 2]);
    e.start(&mut h, 0, 0);
    assert_eq!(h.ready_fds, [(1, 5)]);
    assert_eq!(e.state(1), Some(State::Starting));
    assert_eq!(e.status(1).unwrap().pid, Some(h.pid_of(1, Role::On)));
    assert_eq!(e.state(0), Some(State::Waiting));
    assert_eq!(h.spawned(0), 0);
    assert!(!e.is_settled(1), "a start request waits for readiness");

    assert!(ready(&mut e, &mut h, 70, 1));
    assert_eq!(e.state(1), Some(State::Running));
    assert!(e.is_settled(1));
    assert_eq!(h.spawned(0), 1, "the needer starts at the notification");
    let r = h.reports.iter().rfind(|r| r.0 == "b").unwrap();
    assert_eq!(r.1.took, Some(70));
    assert_eq!(r.1.detail.as_deref(), Some("ready"));
    assert!(
        !ready(&mut e, &mut h, 80, 1),
        "a second newline changes nothing"
    );
    assert_eq!(h.spawned(0), 1);
}

/// A wanter waits until the wanted service has settled: while it is
/// `starting` (not ready), nothing; when it is ready, or when its
/// ready-timeout ends it, the wanter starts.
#[test]
fn wants_wait_for_readiness_or_the_end_of_trying() {
    let mut nodes = graph(4, &[(0, 1, false), (2, 3, false)]);
    notifier(&mut nodes, 1);
    notifier(&mut nodes, 3);
    nodes[3].ready_timeout_ms = Some(1000);
    let mut e = Engine::new(nodes);
    let mut h = Fake::new(vec![Plan::Run; 4]);
    e.start(&mut h, 0, 0);
    e.start(&mut h, 0, 2);
    assert_eq!((h.spawned(0), h.spawned(2)), (0, 0));
    assert!(ready(&mut e, &mut h, 10, 1));
    assert_eq!(h.spawned(0), 1, "ready: the wanter starts");
    e.tick(&mut h, 1000);
    assert_eq!(e.state(3), Some(State::Stopping));
    assert_eq!(h.spawned(2), 1, "given up on: the wanter starts regardless");
}

/// A process that exits before it is ready is restarted like any respawn
/// death, and the new one must notify again: its needer keeps waiting
/// through the restart and a backoff, a newline from the dead process's
/// pid counts for nothing, and the needer starts on the new one's.
#[test]
fn exit_before_ready_restarts_and_gates_again() {
    let mut nodes = graph(2, &[(0, 1, true)]);
    notifier(&mut nodes, 1);
    let mut e = Engine::new(nodes);
    let mut h = Fake::new(vec![Plan::Run; 2]);
    e.start(&mut h, 0, 0);
    let first = h.pid_of(1, Role::On);
    exit(&mut e, &mut h, 10, first, 1);
    assert_eq!(e.state(1), Some(State::Starting), "restarted at once");
    assert_eq!(h.ready_fds.len(), 2, "each spawn gets its own pipe");
    assert!(!e.ready(&mut h, 11, first), "the dead process's newline");
    exit_on(&mut e, &mut h, 20, 1, 1);
    assert_eq!(e.state(1), Some(State::Backoff));
    assert_eq!(
        h.spawned(0),
        0,
        "never ready: backoff is not a start for its needers"
    );
    e.tick(&mut h, 20 + restart_delay(2));
    assert_eq!(e.state(1), Some(State::Starting));
    assert!(ready(&mut e, &mut h, 200, 1));
    assert_eq!(h.spawned(0), 1);
    assert_eq!(e.status(1).unwrap().restarts, 2);
    assert_eq!(
        h.states_of("b"),
        [
            State::Waiting,
            State::Starting,
            State::Starting,
            State::Backoff,
            State::Starting,
            State::Running
        ]
    );
}

/// A service that was ready must be ready again after a restart: it is
/// `starting` meanwhile, so a needer requested now waits, while a needer
/// already running is left alone.
#[test]
fn a_restarted_service_must_be_ready_again() {
    let mut nodes = graph(3, &[(0, 2, true), (1, 2, true)]);
    notifier(&mut nodes, 2);
    let mut e = Engine::new(nodes);
    let mut h = Fake::new(vec![Plan::Run; 3]);
    e.start(&mut h, 0, 0);
    assert!(ready(&mut e, &mut h, 10, 2));
    assert_eq!(h.spawned(0), 1);
    exit_on(&mut e, &mut h, 20_000, 2, 1);
    assert_eq!(e.state(2), Some(State::Starting));
    e.start(&mut h, 20_001, 1);
    assert_eq!(e.state(1), Some(State::Waiting));
    assert_eq!(e.state(0), Some(State::Starting), "untouched");
    assert!(ready(&mut e, &mut h, 20_100, 2));
    assert_eq!(h.spawned(1), 1);
}

/// A service still `starting` when its ready-timeout passes is stopped
/// like a stop, but without `off`: SIGTERM and SIGCONT to its process
/// group, SIGKILL after `delay`. It then ends `failed` with the reason,
/// its needer `need-failed`, and it is not restarted.
#[test]
fn a_never_ready_service_times_out_and_fails() {
    let mut nodes = graph(2, &[(0, 1, true)]);
    notifier(&mut nodes, 1);
    nodes[1].ready_timeout_ms = Some(2500);
    nodes[1].delay_s = Some(1);
    let mut e = Engine::new(nodes);
    let mut h = Fake::new(vec![Plan::Run; 2]);
    h.has_off[1] = true;
    e.start(&mut h, 100, 0);
    let pid = h.pid_of(1, Role::On);
    assert_eq!(e.next_deadline(), Some(2600));
    e.tick(&mut h, 2599);
    assert_eq!(e.state(1), Some(State::Starting));
    e.tick(&mut h, 2600);
    assert_eq!(e.state(1), Some(State::Stopping));
    assert_eq!(h.signals, [(pid, Signal::SIGTERM), (pid, Signal::SIGCONT)]);
    assert!(
        h.spawns.iter().all(|s| s.1 == Role::On),
        "no off for a service that never came up"
    );
    assert_eq!(e.next_deadline(), Some(3600));
    assert!(!e.ready(&mut h, 3000, pid), "too late: stopping");
    e.tick(&mut h, 3600);
    assert_eq!(h.signals.last(), Some(&(pid, Signal::SIGKILL)));
    exit(&mut e, &mut h, 3610, pid, 0);
    assert_eq!(e.state(1), Some(State::Failed));
    let st = e.status(1).unwrap();
    assert_eq!(st.reason, Some(&Reason::NotReady(2500)));
    assert_eq!(st.reason.unwrap().to_string(), "not ready within 2.5s");
    assert_eq!(e.state(0), Some(State::NeedFailed));
    e.tick(&mut h, 100_000);
    assert_eq!(h.spawned(1), 1, "not restarted");
    assert_eq!(e.next_deadline(), None);
    assert_eq!(
        h.states_of("b"),
        [
            State::Waiting,
            State::Starting,
            State::Stopping,
            State::Failed
        ]
    );
}

/// A once service whose `on` has not exited when its ready-timeout passes
/// is stopped and fails the same way; one that exits in time is `done`.
#[test]
fn a_once_service_that_hangs_past_its_timeout_fails() {
    let mut nodes = graph(3, &[(0, 1, true)]);
    nodes[1].ready_timeout_ms = Some(1000);
    nodes[2].ready_timeout_ms = Some(1000);
    let mut e = Engine::new(nodes);
    let mut h = Fake::new(vec![Plan::Run; 3]);
    e.start(&mut h, 0, 0);
    e.start(&mut h, 0, 2);
    exit_on(&mut e, &mut h, 999, 2, 0);
    assert_eq!(e.state(2), Some(State::Done));
    e.tick(&mut h, 1000);
    assert_eq!(e.state(1), Some(State::Stopping));
    exit_on(&mut e, &mut h, 1001, 1, 143);
    assert_eq!(e.state(1), Some(State::Failed));
    assert_eq!(e.status(1).unwrap().reason, Some(&Reason::NotReady(1000)));
    assert_eq!(e.state(0), Some(State::NeedFailed));
    assert!(
        h.ready_fds.is_empty(),
        "no readiness pipe for once services"
    );
}

/// The ready-timeout counts from each spawn: a process that dies before it
/// is ready gives its successor the whole timeout again.
#[test]
fn the_timeout_counts_from_each_spawn() {
    let mut nodes = graph(1, &[]);
    notifier(&mut nodes, 0);
    nodes[0].ready_timeout_ms = Some(1000);
    let mut e = Engine::new(nodes);
    let mut h = Fake::new(vec![Plan::Run]);
    e.start(&mut h, 0, 0);
    exit_on(&mut e, &mut h, 800, 0, 1);
    assert_eq!(e.next_deadline(), Some(1800));
    e.tick(&mut h, 1000);
    assert_eq!(e.state(0), Some(State::Starting));
    assert!(ready(&mut e, &mut h, 1700, 0));
    assert_eq!(e.next_deadline(), None, "ready: no deadline left");
}

/// Readiness after a stop request changes nothing: the service is
/// stopping, ends `stopped` (not failed), and nothing needing it starts.
#[test]
fn readiness_after_a_stop_request_changes_nothing() {
    let mut nodes = graph(2, &[(0, 1, true)]);
    notifier(&mut nodes, 1);
    nodes[1].ready_timeout_ms = Some(5000);
    let mut e = Engine::new(nodes);
    let mut h = Fake::new(vec![Plan::Run; 2]);
    e.start(&mut h, 0, 0);
    let pid = h.pid_of(1, Role::On);
    e.stop_with_dependents(&mut h, 10, &[1]);
    assert_eq!(e.state(1), Some(State::Stopping));
    assert!(!e.ready(&mut h, 20, pid));
    assert_eq!(e.state(1), Some(State::Stopping));
    exit(&mut e, &mut h, 30, pid, 0);
    assert_eq!(e.state(1), Some(State::Stopped));
    assert_eq!(e.state(0), Some(State::Stopped));
    assert_eq!(h.spawned(0), 0);
    assert_eq!(e.status(1).unwrap().reason, None);
}

/// A once service ignores `notification-fd`: a plain spawn, and it is up
/// when `on` exits 0; a newline from it counts for nothing. A respawn
/// service without `notification-fd` is up at its spawn even with a
/// ready-timeout (it never is `starting`, so it never times out).
#[test]
fn only_respawn_services_signal_readiness() {
    let mut nodes = graph(2, &[]);
    nodes[0].notify_fd = Some(5);
    nodes[1].respawn = true;
    nodes[1].ready_timeout_ms = Some(10);
    let mut e = Engine::new(nodes);
    let mut h = Fake::new(vec![Plan::Run; 2]);
    e.start(&mut h, 0, 0);
    e.start(&mut h, 0, 1);
    assert!(h.ready_fds.is_empty());
    assert!(!ready(&mut e, &mut h, 1, 0));
    assert_eq!(e.state(0), Some(State::Starting));
    assert_eq!(e.state(1), Some(State::Running));
    e.tick(&mut h, 1000);
    assert_eq!(e.state(1), Some(State::Running));
    exit_on(&mut e, &mut h, 2, 0, 0);
    assert_eq!(e.state(0), Some(State::Done));
}

/// `start --no-deps` and a shutdown: a service started alone also waits
/// for readiness; one that is `starting` when the system goes down is
/// stopped, and its death is not a restart.
#[test]
fn started_alone_it_waits_and_a_shutdown_stops_it() {
    let mut nodes = graph(2, &[(0, 1, true)]);
    notifier(&mut nodes, 0);
    let mut e = Engine::new(nodes);
    let mut h = Fake::new(vec![Plan::Run; 2]);
    e.start_alone(&mut h, 0, 0);
    assert_eq!(e.state(0), Some(State::Starting));
    assert_eq!(h.ready_fds, [(0, 5)]);
    e.stop_all(&mut h, 10);
    assert_eq!(e.state(0), Some(State::Stopping));
    exit_on(&mut e, &mut h, 20, 0, 0);
    assert_eq!(e.state(0), Some(State::Stopped));
    assert!(e.all_down());
}

/// A hot update keeps a starting service's pid and ready deadline, and a
/// timeout's stop: after restore, readiness still makes the first running,
/// and the second still ends `failed`.
#[test]
fn export_and_restore_keep_readiness_and_timeouts() {
    let mut nodes = graph(3, &[(2, 0, true)]);
    notifier(&mut nodes, 0);
    notifier(&mut nodes, 1);
    nodes[0].ready_timeout_ms = Some(4000);
    nodes[1].ready_timeout_ms = Some(1000);
    nodes[1].delay_s = Some(1);
    let mut e = Engine::new(nodes);
    let mut h = Fake::new(vec![Plan::Run; 3]);
    e.start(&mut h, 0, 2);
    e.start(&mut h, 0, 1);
    e.tick(&mut h, 1000);
    assert_eq!(e.state(1), Some(State::Stopping));

    assert!(matches!(
        e.svcs[0].phase,
        Phase::Starting {
            deadline: Some(4000),
            ..
        }
    ));
    let (mut r, lost) = reload(&e);
    assert!(lost.is_empty(), "{lost:?}");
    assert_eq!(r.next_deadline(), Some(2000), "the SIGKILL of b's stop");
    assert_eq!(r.state(0), Some(State::Starting));
    assert!(ready(&mut r, &mut h, 1500, 0));
    assert_eq!(r.state(2), Some(State::Starting), "the needer starts");
    exit_on(&mut r, &mut h, 1600, 1, 0);
    assert_eq!(r.state(1), Some(State::Failed));
    assert_eq!(r.status(1).unwrap().reason, Some(&Reason::NotReady(1000)));
}

/// A respawn service with `ready-probe` is `starting` from its spawn, its
/// process is handed to the daemon to probe (once), and it becomes
/// `running` through the same `ready` as a notification; only then does
/// its needer start. A restart hands the new process over; `requeue_probes`
/// (after a hot update) hands over every process still `starting`.
#[test]
fn a_probed_service_is_starting_until_its_probe_holds() {
    let mut nodes = graph(2, &[(0, 1, true)]);
    nodes[1].respawn = true;
    nodes[1].probe = Some(Box::new(crate::engine::probe::Probe::Tcp(
        ([127, 0, 0, 1], 80).into(),
    )));
    let mut e = Engine::new(nodes);
    let mut h = Fake::new(vec![Plan::Run; 2]);
    e.start(&mut h, 0, 0);
    let pid = h.pid_of(1, Role::On);
    assert!(h.ready_fds.is_empty(), "no readiness pipe for a probe");
    assert_eq!(e.state(1), Some(State::Starting));
    assert!(e.is_starting(1, pid));
    assert!(e.has_probe_starts());
    assert_eq!(e.take_probe_starts(), [(1, pid)]);
    assert!(!e.has_probe_starts());
    assert_eq!(
        e.probe_of(1)
            .map(crate::engine::probe::Probe::line)
            .as_deref(),
        Some("tcp:127.0.0.1:80")
    );
    e.requeue_probes();
    assert_eq!(e.take_probe_starts(), [(1, pid)]);
    assert_eq!(h.spawned(0), 0, "the needer waits for the probe");
    assert!(e.ready(&mut h, 40, pid));
    assert_eq!(e.state(1), Some(State::Running));
    assert!(!e.is_starting(1, pid));
    assert_eq!(h.spawned(0), 1);
    e.requeue_probes();
    assert!(!e.has_probe_starts(), "a running service is not probed");
}

/// A `notify-socket` service is gated like a `notification-fd` one but
/// spawned without a readiness pipe (sd_notify comes over the shared
/// socket): `starting` until `ready` with its main pid, and known as a
/// notifier by that pid only while it is its `on`.
#[test]
fn a_notify_socket_service_is_gated_without_a_pipe() {
    let mut nodes = graph(2, &[(0, 1, true)]);
    nodes[1].respawn = true;
    nodes[1].notify_socket = true;
    let mut e = Engine::new(nodes);
    let mut h = Fake::new(vec![Plan::Run; 2]);
    e.start(&mut h, 0, 0);
    let pid = h.pid_of(1, Role::On);
    assert_eq!(e.state(1), Some(State::Starting));
    assert!(h.ready_fds.is_empty(), "no pipe for sd_notify");
    assert_eq!(e.state(0), Some(State::Waiting), "the needer waits");
    assert!(e.notifies(1) && !e.notifies(0));
    assert_eq!(e.notifier_led_by(pid), Some(1));
    assert_eq!(e.notifier_led_by(pid + 1000), None);
    assert!(e.ready(&mut h, 10, pid));
    assert_eq!(e.state(1), Some(State::Running));
    assert_ne!(e.state(0), Some(State::Waiting));
}

/// `EXTEND_TIMEOUT_USEC` moves a `starting` service's ready-timeout
/// deadline later, never earlier, and a stop's SIGKILL likewise; a
/// service without a deadline has nothing to move.
#[test]
fn an_extension_moves_deadlines_later_only() {
    let mut nodes = graph(1, &[]);
    nodes[0].respawn = true;
    nodes[0].notify_socket = true;
    nodes[0].ready_timeout_ms = Some(1000);
    nodes[0].delay_s = Some(1);
    let mut e = Engine::new(nodes);
    let mut h = Fake::new(vec![Plan::Run]);
    e.start(&mut h, 0, 0);
    assert_eq!(e.next_deadline(), Some(1000));
    assert!(e.extend_deadline(0, 500, 2000));
    assert_eq!(e.next_deadline(), Some(2500));
    assert!(e.extend_deadline(0, 600, 100));
    assert_eq!(e.next_deadline(), Some(2500), "never shortened");
    e.tick(&mut h, 1000);
    assert_eq!(e.state(0), Some(State::Starting));
    e.tick(&mut h, 2500);
    assert_eq!(e.state(0), Some(State::Stopping));
    assert_eq!(e.next_deadline(), Some(3500));
    assert!(e.extend_deadline(0, 2600, 5000));
    assert_eq!(e.next_deadline(), Some(7600));
    e.tick(&mut h, 3500);
    let pid = h.pid_of(0, Role::On);
    assert!(!h.signals.contains(&(pid, Signal::SIGKILL)), "not yet");
    e.tick(&mut h, 7600);
    assert!(h.signals.contains(&(pid, Signal::SIGKILL)));
    exit(&mut e, &mut h, 7700, pid, 0);
    assert!(!e.extend_deadline(0, 8000, 1000), "failed: no deadline");
}
