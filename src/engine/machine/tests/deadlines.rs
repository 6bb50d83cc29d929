//! The deadline heap ([`super::super::Deadlines`]) against the scan of
//! every service it replaced: same answers, same actions.

use super::props::{event, nodes_of, plan, Ev};
use super::*;
use proptest::prelude::*;

impl Engine {
    /// [`Engine::tick`] as it was: visit every service in order and fire
    /// those whose deadline is due.
    fn tick_by_scan(&mut self, host: &mut dyn Host, now: Millis) {
        for i in 0..self.svcs.len() {
            if self
                .phase(i)
                .and_then(crate::engine::machine::deadlines::deadline_of)
                .is_some_and(|d| d <= now)
            {
                self.fire(host, now, i);
            }
        }
        self.drain(host, now);
    }

    /// [`Engine::next_deadline`] as it was: the minimum over the table.
    fn next_deadline_by_scan(&self) -> Option<Millis> {
        self.svcs
            .iter()
            .filter_map(|s| crate::engine::machine::deadlines::deadline_of(s.phase))
            .min()
    }
}

/// One step for both engines; `tick` is how deadlines are fired.
fn step(
    e: &mut Engine,
    h: &mut Fake,
    now: Millis,
    ev: Ev,
    tick: fn(&mut Engine, &mut dyn Host, Millis),
) {
    let pick = |h: &Fake, p: u8| {
        let mut live: Vec<Pid> = h.live.iter().copied().collect();
        live.sort_unstable();
        (!live.is_empty()).then(|| live[p as usize % live.len()])
    };
    match ev {
        Ev::Start(i) => e.start(h, now, i),
        Ev::StartAlone(i) => e.start_alone(h, now, i),
        Ev::Stop(i) => e.stop(h, now, i),
        Ev::StopWithDependents(i) => {
            e.stop_with_dependents(h, now, &[i]);
        }
        Ev::Exit(p, code) => {
            if let Some(pid) = pick(h, p) {
                h.live.remove(&pid);
                e.child_exited(h, now, pid, ExitStatus::Code(code));
            }
        }
        Ev::Ready(p) => {
            if let Some(pid) = pick(h, p) {
                e.ready(h, now, pid);
            }
        }
        Ev::Tick(_) => tick(e, h, now),
        Ev::StopAll => e.stop_all(h, now),
        Ev::Resume => e.resume(),
        Ev::Flip(i) => h.skip[i] = !h.skip[i],
    }
}

proptest! {
    /// Whatever happens (random graphs, spawn results, `off` programs,
    /// stop delays, ready-timeouts, starts, stops, exits, readiness,
    /// timers, a shutdown and its end), an engine firing its deadlines from
    /// the heap does exactly what one scanning every service does:
    /// the same reports, spawns and signals in the same order; after every
    /// step its next deadline is the scan's minimum and its heap holds
    /// every deadline of the phases.
    #[test]
    fn the_deadline_index_answers_as_the_scan(
        (edges, kinds, plans, offs, delays, events) in (2usize..8).prop_flat_map(|n| (
            proptest::collection::vec((0..n, 0..n, any::<bool>()), 0..10),
            proptest::collection::vec(
                (any::<bool>(), any::<bool>(), proptest::option::of(1u64..4000)),
                n,
            ),
            proptest::collection::vec(plan(), n),
            proptest::collection::vec(any::<bool>(), n),
            proptest::collection::vec(proptest::option::of(0u32..3), n),
            proptest::collection::vec(event(n), 1..80),
        ))
    ) {
        let n = kinds.len();
        let mut nodes = nodes_of(n, &edges);
        for (i, node) in nodes.iter_mut().enumerate() {
            let (respawn, notify, timeout) = kinds[i];
            node.respawn = respawn;
            node.notify_fd = notify.then_some(3);
            node.ready_timeout_ms = timeout;
            node.delay_s = delays[i];
        }
        let mut indexed = Engine::new(nodes.clone());
        let mut scanned = Engine::new(nodes);
        let mut hi = Fake::new(plans.clone());
        let mut hs = Fake::new(plans);
        hi.has_off = offs.clone();
        hs.has_off = offs;
        let mut now: Millis = 0;
        for ev in events {
            if let Ev::Tick(dt) = ev {
                now += Millis::from(dt);
            }
            step(&mut indexed, &mut hi, now, ev, Engine::tick);
            step(&mut scanned, &mut hs, now, ev, Engine::tick_by_scan);
            prop_assert_eq!(&hi.reports, &hs.reports, "after {:?}", ev);
            prop_assert_eq!(&hi.spawns, &hs.spawns, "after {:?}", ev);
            prop_assert_eq!(&hi.signals, &hs.signals, "after {:?}", ev);
            prop_assert_eq!(indexed.next_deadline(), indexed.next_deadline_by_scan());
            // Every deadline is in the heap; stale entries stay bounded.
            for (i, svc) in indexed.svcs.iter().enumerate() {
                if let Some(t) = crate::engine::machine::deadlines::deadline_of(svc.phase) {
                    prop_assert!(indexed.deadlines.holds(t, i), "{} lost its deadline after {:?}", i, ev);
                }
            }

        }
    }
}

/// A restored table is indexed as a whole: a service saved in backoff
/// keeps its deadline after [`Engine::load`].
#[test]
fn a_restored_backoff_keeps_its_deadline() {
    let mut nodes = graph(2, &[]);
    nodes[1].respawn = true;
    let mut e = Engine::new(nodes);
    let mut h = Fake::new(vec![Plan::Run; 2]);
    e.start(&mut h, 0, 1);
    // Two quick deaths: the second backs off.
    exit_on(&mut e, &mut h, 10, 1, 1);
    exit_on(&mut e, &mut h, 20, 1, 1);
    assert_eq!(e.state(1), Some(State::Backoff));
    let due = e.next_deadline().unwrap();
    let mut s = crate::proto::wire::Sections::default();
    e.save(&mut s);
    let (mut saved, _) = Engine::load(&s, |_| None);
    assert_eq!(saved.next_deadline(), Some(due));
    saved.tick(&mut h, due);
    assert_ne!(saved.state(1), Some(State::Backoff));
}
