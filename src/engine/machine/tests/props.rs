//! Property tests of the engine: random graphs, results and event orders
//! against the invariants (no service runs before its needs are up — ready,
//! for those that signal readiness —, need failure propagates, every state
//! change is a legal one, also with readiness and ready-timeouts). Shares
//! the recording fake host of `engine/machine/tests.rs`.

use super::*;
use proptest::prelude::*;

/// Edges, and per service: respawn, signals readiness.
type Case = (Vec<(usize, usize, bool)>, Vec<(bool, bool)>, Vec<u8>);

fn random_case() -> impl Strategy<Value = Case> {
    (2usize..9).prop_flat_map(|n| {
        (
            proptest::collection::vec((0..n, 0..n, any::<bool>()), 0..12),
            proptest::collection::vec((any::<bool>(), any::<bool>()), n),
            proptest::collection::vec(any::<u8>(), 0..40),
        )
    })
}

proptest! {
    /// Whatever the graph and the order and results of exits and readiness
    /// notifications: a service is spawned from `waiting` only when all its
    /// needs have started (a service that signals readiness: is ready) and
    /// every want has settled; a failed need never lets a dependent run;
    /// cycle members never run; every spawned pid is tracked until it exits.
    #[test]
    fn start_order_invariants((edges, kinds, exits) in random_case()) {
        let respawn: Vec<bool> = kinds.iter().map(|k| k.0).collect();
        let n = respawn.len();
        let mut nodes = graph(n, &edges);
        let adj: Vec<Vec<usize>> = nodes
            .iter()
            .map(|x| x.needs.iter().chain(x.wants.iter()).copied().collect())
            .collect();
        for c in crate::engine::graph::find_cycles(&adj) {
            for m in c.members {
                nodes[m].broken = Some(Box::new(Reason::Cycle("x".into())));
            }
        }
        for (i, &(r, notify)) in kinds.iter().enumerate() {
            nodes[i].respawn = r;
            nodes[i].notify_fd = notify.then_some(3);
        }
        let mut e = Engine::new(nodes.clone());
        let mut h = Fake::new(vec![Plan::Run; n]);
        let mut seen_spawns = 0;
        let check = |e: &Engine, h: &Fake, seen: &mut usize| {
            for (k, &(svc, _, _)) in h.spawns.iter().enumerate().skip(*seen) {
                prop_assert!(nodes[svc].broken.is_none());
                // A restart of a service that was up does not wait for its
                // needs (it is not stopped when a need restarts, either).
                if h.spawned_from[k] != Some(State::Waiting) {
                    continue;
                }
                // At the moment of spawning, needs were started; they can only
                // have moved on to a later state since.
                for &need in &nodes[svc].needs {
                    let st = e.state(need).unwrap();
                    prop_assert!(matches!(st, State::Done | State::Running | State::Backoff | State::Skipped),
                        "{} spawned while need {} is {}", svc, need, st);
                }
                // Wants settle before the dependent spawns, and never go back.
                for &want in &nodes[svc].wants {
                    let st = e.state(want).unwrap();
                    prop_assert!(!matches!(st, State::Waiting | State::Starting),
                        "{} spawned while want {} is {}", svc, want, st);
                }
            }
            *seen = h.spawns.len();
            Ok(())
        };
        for root in 0..n {
            e.start(&mut h, 0, root);
            check(&e, &h, &mut seen_spawns)?;
        }
        for (t, pick) in exits.iter().enumerate() {
            let live: Vec<Pid> = {
                let mut v: Vec<Pid> = h.live.iter().copied().collect();
                v.sort();
                v
            };
            if live.is_empty() { break; }
            let pid = live[*pick as usize % live.len()];
            if pick % 4 == 1 {
                // Readiness instead of an exit (ignored unless it counts).
                e.ready(&mut h, t as Millis, pid);
            } else {
                let code = i32::from(pick % 3 == 0);
                exit(&mut e, &mut h, t as Millis, pid, code);
            }
            // Checked before the timers fire: a want in backoff has settled,
            // and may be `starting` again once it respawns.
            check(&e, &h, &mut seen_spawns)?;
            e.tick(&mut h, t as Millis * 1000);
            check(&e, &h, &mut seen_spawns)?;
        }
        // Nobody whose need failed has ever been spawned.
        for i in 0..n {
            if e.state(i) == Some(State::NeedFailed) {
                prop_assert_eq!(h.spawned(i), 0);
            }
        }
    }
}

/// What a once service does when spawned, for the propagation property.
#[derive(Clone, Copy, Debug)]
enum Outcome {
    Exit(i32),
    Nothing,
    CannotExec,
    /// Its condition does not hold.
    Skipped,
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        3 => (0..2i32).prop_map(Outcome::Exit),
        1 => Just(Outcome::Nothing),
        1 => Just(Outcome::CannotExec),
        1 => Just(Outcome::Skipped),
    ]
}

/// One event for the transition property.
#[derive(Clone, Copy, Debug)]
pub(super) enum Ev {
    Start(usize),
    StartAlone(usize),
    Stop(usize),
    StopWithDependents(usize),
    /// Exit of the live pid picked by this number, with this code.
    Exit(u8, i32),
    /// The live pid picked by this number signals readiness.
    Ready(u8),
    /// Time passes by this many milliseconds, then deadlines fire.
    Tick(u16),
    StopAll,
    Resume,
    /// Whether this service's condition holds turns round (a path
    /// appears or goes).
    Flip(usize),
}

pub(super) fn event(n: usize) -> impl Strategy<Value = Ev> {
    prop_oneof![
        2 => (0..n).prop_map(Ev::Start),
        1 => (0..n).prop_map(Ev::StartAlone),
        1 => (0..n).prop_map(Ev::Stop),
        1 => (0..n).prop_map(Ev::StopWithDependents),
        5 => (any::<u8>(), 0..2i32).prop_map(|(p, c)| Ev::Exit(p, c)),
        3 => any::<u8>().prop_map(Ev::Ready),
        2 => (0..6000u16).prop_map(Ev::Tick),
        1 => Just(Ev::StopAll),
        1 => Just(Ev::Resume),
        1 => (0..n).prop_map(Ev::Flip),
    ]
}

pub(super) fn plan() -> impl Strategy<Value = Plan> {
    prop_oneof![
        4 => Just(Plan::Run),
        1 => Just(Plan::Nothing),
        1 => Just(Plan::Fail(libc::ENOENT)),
        1 => Just(Plan::Fail(libc::EAGAIN)),
    ]
}

/// Random edges, with every cycle member marked broken as the tree does.
pub(super) fn nodes_of(n: usize, edges: &[(usize, usize, bool)]) -> Vec<Node> {
    let mut nodes = graph(n, edges);
    let adj: Vec<Vec<usize>> = nodes
        .iter()
        .map(|x| x.needs.iter().chain(x.wants.iter()).copied().collect())
        .collect();
    for c in crate::engine::graph::find_cycles(&adj) {
        for m in c.members {
            nodes[m].broken = Some(Box::new(Reason::Cycle("x".into())));
        }
    }
    nodes
}

proptest! {
    /// Need failure propagates: with once services whose results are drawn
    /// at random (exit 0 or 1, nothing to run, cannot execute), cycle
    /// members and missing need links, every service ends exactly where a
    /// direct model says: a broken one `failed`; one with a missing need, or
    /// a need that ended `failed`/`need-failed` (transitively), `need-failed`
    /// and never spawned; the others by their own result, `skipped` (never
    /// spawned) for one whose condition does not hold. Nothing is ever
    /// spawned before all its needs are `done` or `skipped`: a skipped need
    /// counts as done.
    #[test]
    fn need_failure_propagates_transitively_and_needers_never_run(
        (edges, outcomes, missing) in (2usize..10).prop_flat_map(|n| (
            proptest::collection::vec((0..n, 0..n, any::<bool>()), 0..16),
            proptest::collection::vec(outcome(), n),
            proptest::collection::vec(proptest::bool::weighted(0.1), n),
        ))
    ) {
        let n = outcomes.len();
        let mut nodes = nodes_of(n, &edges);
        for (i, &m) in missing.iter().enumerate() {
            if m {
                nodes[i].missing_need = Some(Box::new(("needs/x".into(), "no such service".into())));
            }
        }
        let plans: Vec<Plan> = outcomes
            .iter()
            .map(|o| match o {
                Outcome::Exit(_) | Outcome::Skipped => Plan::Run,
                Outcome::Nothing => Plan::Nothing,
                Outcome::CannotExec => Plan::Fail(libc::ENOENT),
            })
            .collect();
        let mut e = Engine::new(nodes.clone());
        let mut h = Fake::new(plans);
        h.skip = outcomes.iter().map(|o| matches!(o, Outcome::Skipped)).collect();
        let mut checked = 0;
        let no_early_spawn = |e: &Engine, h: &Fake, checked: &mut usize| {
            for &(svc, _, _) in &h.spawns[*checked..] {
                for &need in &nodes[svc].needs {
                    prop_assert!(
                        matches!(e.state(need), Some(State::Done | State::Skipped)),
                        "{} ran before {}", svc, need
                    );
                }
            }
            *checked = h.spawns.len();
            Ok(())
        };
        for root in 0..n {
            e.start(&mut h, 0, root);
            no_early_spawn(&e, &h, &mut checked)?;
        }
        for t in 1..=1000 {
            let Some(&pid) = h.live.iter().min() else { break };
            let svc = h.spawns.iter().find(|s| s.2 == pid).unwrap().0;
            let Outcome::Exit(code) = outcomes[svc] else { panic!("{svc} has no process") };
            exit(&mut e, &mut h, t, pid, code);
            no_early_spawn(&e, &h, &mut checked)?;
        }
        prop_assert!(h.live.is_empty());
        // The model, computed by repeated passes (the needs graph without
        // the broken nodes' edges is acyclic, so n passes settle it).
        let mut model: Vec<Option<State>> = vec![None; n];
        for _ in 0..=n {
            for i in 0..n {
                let node = &nodes[i];
                model[i] = if node.broken.is_some() {
                    Some(State::Failed)
                } else if node.missing_need.is_some()
                    || node.needs.iter().any(|&d| {
                        matches!(model[d], Some(State::Failed | State::NeedFailed))
                    })
                {
                    Some(State::NeedFailed)
                } else if node
                    .needs
                    .iter()
                    .all(|&d| matches!(model[d], Some(State::Done | State::Skipped)))
                {
                    Some(match outcomes[i] {
                        Outcome::Exit(0) | Outcome::Nothing => State::Done,
                        Outcome::Skipped => State::Skipped,
                        _ => State::Failed,
                    })
                } else {
                    None
                };
            }
        }
        for i in 0..n {
            prop_assert_eq!(e.state(i), model[i], "service {}", i);
            if matches!(model[i], Some(State::NeedFailed | State::Skipped))
                || nodes[i].broken.is_some()
            {
                prop_assert_eq!(h.spawned(i), 0, "service {} ran", i);
            } else {
                prop_assert!(h.spawned(i) <= 1);
            }
        }
    }

    /// No transition out of an impossible state: whatever happens (starts
    /// with and without dependencies, stops, stops of dependents, exits,
    /// readiness notifications, timers with ready-timeouts, a shutdown and
    /// its end, groupings parked by a cascade, services whose condition does
    /// not hold), every state change the
    /// engine makes is one [`crate::engine::state::may_follow`] allows, every
    /// change is reported, and the engine signals only live pids (the fake
    /// host checks that).
    ///
    /// Stop order: at every step (each report, replayed in order), no
    /// service enters `stopping` while a service that needs or wants it,
    /// and belongs to a stop in progress (a shutdown, or a stop with
    /// dependents, not since started again), is still up (starting,
    /// running, done, backoff or stopping). A plain [`Engine::stop`] of one
    /// service and the end of a `ready-timeout` are not stops of a set.
    #[test]
    fn every_state_change_is_a_legal_transition(
        (edges, kinds, plans, offs, delays, events) in (2usize..8).prop_flat_map(|n| (
            proptest::collection::vec((0..n, 0..n, any::<bool>()), 0..10),
            proptest::collection::vec(
                (any::<bool>(), any::<bool>(), proptest::option::of(1u64..4000)),
                n,
            ),
            proptest::collection::vec(plan(), n),
            proptest::collection::vec((any::<bool>(), proptest::bool::weighted(0.2)), n),
            proptest::collection::vec(proptest::option::of(0u32..3), n),
            proptest::collection::vec(event(n), 1..60),
        ))
    ) {
        let (offs, skips): (Vec<bool>, Vec<bool>) = offs.into_iter().unzip();
        let n = kinds.len();
        let mut nodes = nodes_of(n, &edges);
        for i in 0..n {
            let (respawn, notify, timeout) = kinds[i];
            nodes[i].respawn = respawn;
            nodes[i].notify_fd = notify.then_some(3);
            nodes[i].ready_timeout_ms = timeout;
            nodes[i].delay_s = delays[i];
        }
        for i in 0..n {
            // A grouping runs nothing when it starts or stops.
            nodes[i].grouping = matches!(plans[i], Plan::Nothing) && !offs[i];
        }
        // Who needs or wants each service.
        let mut upper: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, x) in nodes.iter().enumerate() {
            for &d in x.needs.iter().chain(x.wants.iter()) {
                upper[d].push(i);
            }
        }
        let lower: Vec<Vec<usize>> = nodes
            .iter()
            .map(|x| x.needs.iter().chain(x.wants.iter()).copied().collect())
            .collect();
        let mut needers: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, x) in nodes.iter().enumerate() {
            for &d in &x.needs {
                needers[d].push(i);
            }
        }
        let mut e = Engine::new(nodes);
        let mut h = Fake::new(plans);
        h.has_off = offs;
        h.skip = skips;
        let mut now: Millis = 0;
        let names: Vec<String> = (0..n).map(|i| ((b'a' + i as u8) as char).to_string()).collect();
        let mut last = vec![State::Stopped; n];
        let mut seen_reports = 0;
        // Services in a stop of a set still in progress (or down by it).
        let mut in_stop = vec![false; n];
        let up = |st: State| matches!(
            st,
            State::Starting | State::Running | State::Done | State::Backoff | State::Stopping
        );
        for ev in events {
            // A start takes its services (and, with dependencies, what they
            // need and want) out of any stop; a plain stop is not ordered.
            let mut unordered = None;
            match ev {
                Ev::Start(i) => {
                    let mut seen = vec![false; n];
                    let mut todo = vec![i];
                    while let Some(k) = todo.pop() {
                        if !std::mem::replace(&mut seen[k], true) {
                            in_stop[k] = false;
                            todo.extend(&lower[k]);
                        }
                    }
                }
                Ev::StartAlone(i) => in_stop[i] = false,
                Ev::Stop(i) => {
                    in_stop[i] = false;
                    unordered = Some(i);
                }
                Ev::StopAll => {
                    for (k, m) in in_stop.iter_mut().enumerate() {
                        *m |= !e.is_down(k);
                    }
                }
                _ => {}
            }
            match ev {
                Ev::Start(i) => e.start(&mut h, now, i),
                Ev::StartAlone(i) => e.start_alone(&mut h, now, i),
                Ev::Stop(i) => e.stop(&mut h, now, i),
                Ev::StopWithDependents(i) => {
                    // The set is known before the reports are replayed:
                    // `i` and the needers the cascade reaches (it passes
                    // no service that is down).
                    let mut seen = vec![false; n];
                    let mut todo = vec![i];
                    while let Some(k) = todo.pop() {
                        if !std::mem::replace(&mut seen[k], true) {
                            in_stop[k] = true;
                            let down = |x: usize| matches!(
                                e.state(x),
                                Some(State::Stopped | State::Failed | State::NeedFailed | State::Skipped)
                            );
                            todo.extend(needers[k].iter().copied().filter(|&x| !down(x)));
                        }
                    }
                    e.stop_with_dependents(&mut h, now, &[i]);
                }
                Ev::Exit(pick, code) => {
                    let mut live: Vec<Pid> = h.live.iter().copied().collect();
                    live.sort_unstable();
                    if !live.is_empty() {
                        // A pid given up on in a shutdown is no longer ours.
                        let pid = live[pick as usize % live.len()];
                        h.live.remove(&pid);
                        let ours = e.owns(pid);
                        let status = ExitStatus::Code(code);
                        prop_assert_eq!(e.child_exited(&mut h, now, pid, status), ours);
                    }
                }
                Ev::Ready(pick) => {
                    let mut live: Vec<Pid> = h.live.iter().copied().collect();
                    live.sort_unstable();
                    if !live.is_empty() {
                        let pid = live[pick as usize % live.len()];
                        let svc = h.spawns.iter().find(|s| s.2 == pid).unwrap().0;
                        let before = e.state(svc);
                        if e.ready(&mut h, now, pid) {
                            prop_assert_eq!(before, Some(State::Starting));
                            prop_assert_eq!(e.state(svc), Some(State::Running));
                        }
                    }
                }
                Ev::Tick(dt) => {
                    now += Millis::from(dt);
                    e.tick(&mut h, now);
                }
                Ev::StopAll => e.stop_all(&mut h, now),
                Ev::Resume => e.resume(),
                Ev::Flip(i) => h.skip[i] = !h.skip[i],
            }
            for (name, r) in &h.reports[seen_reports..] {
                let i = names.iter().position(|x| x == name).unwrap();
                prop_assert!(
                    crate::engine::state::may_follow(last[i], r.state),
                    "{}: {} -> {} after {:?}", name, last[i], r.state, ev
                );
                let timed_out = r.detail.as_deref().is_some_and(|d| d.starts_with("not ready"));
                if r.state == State::Stopping && unordered != Some(i) && !timed_out {
                    for &w in &upper[i] {
                        prop_assert!(
                            !(in_stop[w] && up(last[w])),
                            "{} stopping while {} (needs or wants it, being stopped) is {} after {:?}",
                            name, names[w], last[w], ev
                        );
                    }
                }
                last[i] = r.state;
            }
            // A member no longer being stopped and up again has left the
            // stop (a start took it).
            for k in 0..n {
                if in_stop[k] && !e.is_being_stopped(k) && up(last[k]) {
                    in_stop[k] = false;
                }
            }
            seen_reports = h.reports.len();
            for (i, &l) in last.iter().enumerate() {
                prop_assert_eq!(e.state(i), Some(l), "{} changed without a report", names[i]);
            }
        }
    }
}
