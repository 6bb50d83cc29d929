//! Unit tests of failed starts and restarts: a permanent exec error
//! fails a service where a transient one backs off, the restart delays
//! double up to their cap, and a stable run resets a crash loop's backoff.

use super::*;

#[test]
fn permanent_exec_error_fails_transient_one_backs_off() {
    let mut nodes = graph(2, &[]);
    nodes[0].respawn = true;
    nodes[1].respawn = true;
    let mut e = Engine::new(nodes);
    let mut h = Fake::new(vec![Plan::Fail(libc::ENOENT), Plan::Fail(libc::EAGAIN)]);
    e.start(&mut h, 0, 0);
    e.start(&mut h, 0, 1);
    assert_eq!(e.state(0), Some(State::Failed));
    assert_eq!(e.state(1), Some(State::Backoff));
    assert_eq!(e.next_deadline(), Some(BACKOFF_FIRST_MS));
    h.plan[1] = Plan::Run;
    e.tick(&mut h, BACKOFF_FIRST_MS);
    assert_eq!(e.state(1), Some(State::Running));
}

#[test]
fn restart_delays_double_up_to_the_cap() {
    let d: Vec<_> = (1..=12).map(restart_delay).collect();
    assert_eq!(
        d,
        [0, 100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000]
    );
    assert_eq!(restart_delay(u32::MAX), BACKOFF_MAX_MS);
}

#[test]
fn crash_loop_backs_off_and_stable_run_resets() {
    let mut nodes = graph(1, &[]);
    nodes[0].respawn = true;
    let mut e = Engine::new(nodes);
    let mut h = Fake::new(vec![Plan::Run]);
    e.start(&mut h, 0, 0);
    let mut now = 0;
    // First death: immediate restart.
    exit_on(&mut e, &mut h, now, 0, 1);
    assert_eq!(h.spawned(0), 2);
    assert_eq!(e.state(0), Some(State::Running));
    // Following quick deaths wait 100, 200, 400 ms.
    for expect in [100, 200, 400] {
        exit_on(&mut e, &mut h, now, 0, 1);
        assert_eq!(e.state(0), Some(State::Backoff));
        assert_eq!(e.next_deadline(), Some(now + expect));
        e.tick(&mut h, now + expect - 1);
        assert_eq!(e.state(0), Some(State::Backoff), "no early restart");
        now += expect;
        e.tick(&mut h, now);
        assert_eq!(e.state(0), Some(State::Running));
    }
    assert_eq!(e.status(0).unwrap().restarts, 4);
    // A run longer than STABLE_MS resets: immediate restart again.
    now += STABLE_MS;
    exit_on(&mut e, &mut h, now, 0, 1);
    assert_eq!(e.state(0), Some(State::Running));
}
