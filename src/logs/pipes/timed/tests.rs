//! The set of services with timed work against the scan of every log it
//! replaced (no processes: output is fed to the splitters directly).

use super::super::*;
use proptest::prelude::*;

/// One step: output for a service (a partial line, a whole one, a line and
/// a partial), the end of a service's process (its partial line handed
/// out), or time passing by this much and the timed work.
#[derive(Clone, Copy, Debug)]
enum Op {
    Feed(usize, u8),
    Exit(usize),
    Tick(u16),
}

fn op(n: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..n, 0..3u8).prop_map(|(s, b)| Op::Feed(s, b)),
        1 => (0..n).prop_map(Op::Exit),
        2 => (0..1500u16).prop_map(Op::Tick),
    ]
}

fn logs(n: usize) -> Logs {
    let mut logs = Logs::new();
    for i in 0..n {
        logs.set_name(i, format!("s{i}"));
        let mut log = ServiceLog::new(MIN_RING);
        log.mirror = false;
        logs.services.push(Some(log));
    }
    logs
}

/// [`Logs::next_deadline`] as it was: every service's log looked at.
fn next_deadline_by_scan(logs: &Logs) -> Option<Millis> {
    logs.services
        .iter()
        .flatten()
        .flat_map(|l| {
            [
                l.splitter.deadline(),
                l.file.as_ref().and_then(|f| f.deadline(&l.ring)),
            ]
        })
        .flatten()
        .min()
}

fn lines(logs: &Logs) -> Vec<Vec<(u64, String)>> {
    logs.services
        .iter()
        .map(|l| {
            l.iter()
                .flat_map(|l| l.ring.from_seq(0))
                .map(|x| (x.mono_ms, x.text.clone()))
                .collect()
        })
        .collect()
}

proptest! {
    /// Whatever output comes (partial lines, whole lines, ends of
    /// processes) and whenever the timed work runs, logs that visit only
    /// the services marked as having timed work end with the same lines,
    /// stamped the same, as logs whose timed work visits every service;
    /// after every step the next deadline is the scan's, and every log
    /// with timed work is marked.
    #[test]
    fn the_timed_set_answers_as_the_scan(
        (n, ops) in (1usize..6).prop_flat_map(|n| (Just(n), proptest::collection::vec(op(n), 1..60)))
    ) {
        let mut console = Console::new(None);
        let (mut marked, mut scanned) = (logs(n), logs(n));
        let all: Vec<usize> = (0..n).collect();
        let mut now: Millis = 0;
        for op in ops {
            if let Op::Tick(dt) = op {
                now += Millis::from(dt);
            }
            for (l, by_scan) in [(&mut marked, false), (&mut scanned, true)] {
                match op {
                    Op::Feed(svc, b) => {
                        let bytes: &[u8] = [&b"part"[..], b"line\n", b"one\ntwo"][usize::from(b)];
                        l.take_in(svc, now, 0, &mut console, |s, emit| s.feed(now, bytes, emit));
                    }
                    Op::Exit(svc) => l.take_in(svc, now, 0, &mut console, |s, emit| s.flush(emit)),
                    Op::Tick(_) if by_scan => {
                        l.tick_services(&all, now, false, None, &mut console);
                    }
                    Op::Tick(_) => {
                        l.tick(now, false, None, &mut console);
                    }
                }
            }
            prop_assert_eq!(lines(&marked), lines(&scanned), "after {:?}", op);
            prop_assert_eq!(marked.next_deadline(), next_deadline_by_scan(&marked));
            for svc in 0..n {
                if marked.get(svc).is_some_and(ServiceLog::has_timed_work) {
                    prop_assert!(marked.timed.contains(&svc), "{} not marked after {:?}", svc, op);
                }
            }
        }
        // Nothing stays marked for good: once every partial line is out,
        // a tick empties the set.
        for svc in 0..n {
            marked.take_in(svc, now, 0, &mut console, |s, emit| s.flush(emit));
        }
        marked.tick(now, false, None, &mut console);
        prop_assert!(marked.timed.is_empty());
    }
}
