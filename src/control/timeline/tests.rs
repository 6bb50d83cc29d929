//! Unit tests of the timeline: the reply built from an engine, the table,
//! the total, the critical chain and the JSON form.

use super::*;
use crate::engine::state::SpawnError;
use crate::engine::{Host, Node, Report, Role, Spawned};
use crate::sys::process::ExitStatus;
use crate::sys::process::Pid;
use nix::sys::signal::Signal;

/// A host whose every spawn succeeds with the next pid (101, 102, …).
#[derive(Default)]
struct Fake {
    next: Pid,
}

impl Host for Fake {
    fn spawn(&mut self, _svc: usize, _role: Role) -> Result<Spawned, SpawnError> {
        self.next += 1;
        Ok(Spawned::Pid(100 + self.next))
    }
    fn signal_group(&mut self, _pgid: Pid, _sig: Signal) {}
    fn report(&mut self, _svc: usize, _name: &str, _report: Report) {}
}

/// An entry with the given times (`None` where not given); the boot
/// chart's tests use it too.
pub(crate) fn entry(name: &str, state: &str, times: [Option<u64>; 5]) -> TimelineEntry {
    let [requested_ms, startable_ms, spawned_ms, ready_ms, ended_ms] = times;
    TimelineEntry {
        name: name.into(),
        state: state.into(),
        requested_ms,
        startable_ms,
        spawned_ms,
        ready_ms,
        ended_ms,
        ..TimelineEntry::default()
    }
}

/// A boot: cinit started at 1000; `init` needs `net` and `mnt` and wants
/// `opt`; `net` needs `mnt`; `opt` failed; `idle` was never started.
fn boot() -> Timeline {
    let s = Some;
    let mut init = entry("init", "done", [s(1010), s(1800), s(1800), s(1805), None]);
    init.needs = vec![1, 2];
    init.wants = vec![3];
    let mut net = entry("net", "done", [s(1010), s(1100), s(1100), s(1800), None]);
    net.needs = vec![2];
    let mnt = entry("mnt", "done", [s(1010), s(1010), s(1010), s(1100), None]);
    let opt = entry("opt", "failed", [s(1010), s(1010), s(1010), None, s(1500)]);
    let idle = entry("idle", "stopped", [None; 5]);
    Timeline {
        started_ms: Some(1000),
        now_ms: 9000,
        services: vec![init, net, mnt, opt, idle],
    }
}

#[test]
fn the_reply_carries_every_service_with_its_times_and_dependencies() {
    let mut top = Node::new("top");
    top.needs = vec![1];
    top.wants = vec![2];
    let mut e = Engine::new(vec![top, Node::new("base"), Node::new("extra")]);
    e.set_started_at(5);
    let mut h = Fake::default();
    e.start(&mut h, 10, 0);
    // base is pid 101, extra 102.
    e.child_exited(&mut h, 40, 101, ExitStatus::Code(0));
    let t = of_engine(&e, 50);
    assert_eq!(t.started_ms, Some(5));
    assert_eq!(t.now_ms, 50);
    assert_eq!(t.services.len(), 3);
    assert_eq!(t.services[0].name, "top");
    assert_eq!(t.services[0].state, "waiting");
    assert_eq!(t.services[0].needs, vec![1]);
    assert_eq!(t.services[0].wants, vec![2]);
    assert_eq!(t.services[0].requested_ms, Some(10));
    assert_eq!(t.services[0].startable_ms, None);
    assert_eq!(t.services[1].state, "done");
    assert_eq!(t.services[1].spawned_ms, Some(10));
    assert_eq!(t.services[1].ready_ms, Some(40));
    assert!(matches!(reply(&e, 50), Reply::Timeline(x) if x == t));
}

#[test]
fn ten_thousand_services_fit_in_one_reply_and_more_get_a_clear_error() {
    let many = |n: usize, pad: usize| {
        let nodes: Vec<Node> = (0..n)
            .map(|i| {
                let mut node = Node::new(&format!(
                    "group-{:02}/service-{i:05}{}",
                    i % 100,
                    "x".repeat(pad)
                ));
                if i > 0 {
                    node.needs = vec![i - 1];
                }
                node
            })
            .collect();
        let mut e = Engine::new(nodes);
        let mut h = Fake::default();
        e.set_started_at(1);
        for i in 0..n {
            e.start_alone(&mut h, 2, i);
        }
        e
    };
    let e = many(10_000, 0);
    match reply(&e, 3) {
        Reply::Timeline(t) => {
            let len = proto::encode_reply(&Reply::Timeline(t.clone())).len();
            assert!(len < crate::control::MAX_OUT_PER_CLIENT, "{len} bytes");
            assert_eq!(t.services.len(), 10_000);
        }
        other => panic!("{other:?}"),
    }
    let e = many(10_000, 100);
    match reply(&e, 3) {
        Reply::Error { code, message } => {
            assert_eq!(code, ErrorCode::Failed);
            assert!(message.contains("timeline of 10000 services"), "{message}");
            assert!(message.contains("larger than a reply may be"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_table_is_sorted_by_spawn_then_name_and_unstarted_services_are_left_out() {
    let a = analyze(&boot());
    // mnt and opt spawned at 1010 (by name), net 1100, init 1800.
    assert_eq!(a.order, vec![2, 3, 1, 0]);
    assert_eq!(a.origin, 1000);
    assert_eq!(a.last_up, Some(0));
}

#[test]
fn the_critical_chain_follows_the_dependency_that_settled_last() {
    let a = analyze(&boot());
    // init waited for net (ready 1800), not mnt (1100) nor opt (ended
    // 1500); net waited for mnt.
    assert_eq!(a.chain, vec![0, 1, 2]);
}

#[test]
fn a_failed_want_that_ended_last_is_on_the_chain() {
    let mut t = boot();
    t.services[3].ended_ms = Some(1900);
    t.services[0].startable_ms = Some(1900);
    t.services[0].spawned_ms = Some(1900);
    t.services[0].ready_ms = Some(1950);
    assert_eq!(analyze(&t).chain, vec![0, 3]);
}

#[test]
fn the_chain_ends_at_a_dependency_that_was_up_before_the_request() {
    // init was started again by hand long after its needs came up: it was
    // startable at once, nothing held it up.
    let mut t = boot();
    t.services[0].requested_ms = Some(5000);
    t.services[0].startable_ms = Some(5000);
    t.services[0].spawned_ms = Some(5000);
    t.services[0].ready_ms = Some(5010);
    assert_eq!(analyze(&t).chain, vec![0]);
}

#[test]
fn a_nonsense_timeline_ends_the_chain_and_never_panics() {
    // A cycle of equal times, out-of-range and self references.
    let s = Some;
    let mut a = entry("a", "done", [s(1), s(1), s(1), s(1), None]);
    let mut b = entry("b", "done", [s(1), s(1), s(1), s(1), None]);
    a.needs = vec![1, 0, 99];
    b.needs = vec![0];
    b.wants = vec![usize::MAX];
    let t = Timeline {
        started_ms: None,
        now_ms: 0,
        services: vec![a, b],
    };
    let an = analyze(&t);
    assert_eq!(an.chain.len(), 2);
    assert_eq!(an.origin, 1);
    let _ = report(&t);
    let _ = to_json(&t);
    let empty = Timeline::default();
    assert!(report(&empty).contains("no service has been started"));
    assert!(to_json(&empty).contains("\"services\":[]"));
}

#[test]
fn the_report_shows_the_table_the_total_and_the_chain() {
    let text = report(&boot());
    let expect = "\
cinit started 1.000s after boot; the times below are since then.

     START      READY       TOOK     WAITED  STATE        SERVICE
    0.010s     0.100s     0.090s     0.000s  done         mnt
    0.010s          -     0.490s     0.000s  failed       opt
    0.100s     0.800s     0.700s     0.090s  done         net
    0.800s     0.805s     0.005s     0.790s  done         init
(1 loaded service with no recorded start is not shown)

total 0.805s: from cinit's start until the last service came up (init)

critical chain (@ spawned, + until ready, since cinit started):
init @0.800s +0.005s
└─net @0.100s +0.700s
  └─mnt @0.010s +0.090s
";
    assert_eq!(text, expect, "\n{text}");
}

#[test]
fn names_with_control_characters_stay_on_one_line() {
    let mut t = boot();
    t.services[0].name = "in\nit".into();
    let text = report(&t);
    assert!(text.contains("in\\nit @0.800s"), "{text}");
    assert!(to_json(&t).contains("\"in\\nit\""));
}

#[test]
fn the_json_has_raw_times_names_and_the_analysis() {
    let json = to_json(&boot());
    for part in [
        "{\"started_ms\":1000,\"now_ms\":9000,\"origin_ms\":1000,\"total_ms\":805,",
        "\"last_up\":\"init\",\"critical_chain\":[\"init\",\"net\",\"mnt\"],",
        "{\"name\":\"init\",\"state\":\"done\",\"respawn\":false,\"requested_ms\":1010,\
         \"startable_ms\":1800,\"spawned_ms\":1800,\"ready_ms\":1805,\"ended_ms\":null,\
         \"took_ms\":5,\"needs\":[\"net\",\"mnt\"],\"wants\":[\"opt\"]}",
        "{\"name\":\"idle\",\"state\":\"stopped\",\"respawn\":false,\"requested_ms\":null,",
    ] {
        assert!(json.contains(part), "{part}\nnot in\n{json}");
    }
    // Table order, the never-started service last.
    let pos = |n: &str| json.find(&format!("{{\"name\":\"{n}\"")).unwrap();
    assert!(pos("mnt") < pos("opt") && pos("opt") < pos("net"));
    assert!(pos("net") < pos("init") && pos("init") < pos("idle"));
}

#[test]
fn without_cinit_s_start_the_origin_is_the_first_request() {
    let mut t = boot();
    t.started_ms = None;
    let text = report(&t);
    assert!(text.starts_with("cinit's start was not recorded"), "{text}");
    assert_eq!(analyze(&t).origin, 1010);
    assert!(text.contains("total 0.795s"), "{text}");
}

#[test]
fn depths_follow_the_longest_path_on_any_graph() {
    let dep = |needs: Vec<usize>, wants: Vec<usize>| TimelineEntry {
        needs,
        wants,
        ..TimelineEntry::default()
    };
    // 0 needs 1 and wants 2; 2 needs 1; 3 and 4 need each other; 5 needs
    // itself and a position that does not exist.
    let list = vec![
        dep(vec![1], vec![2]),
        dep(vec![], vec![]),
        dep(vec![1], vec![]),
        dep(vec![4], vec![]),
        dep(vec![3], vec![]),
        dep(vec![5, 99], vec![]),
    ];
    assert_eq!(depths(&list), vec![2, 0, 1, 1, 0, 0]);
    // A chain of 100,000: no recursion, so no stack to overflow.
    let n = 100_000;
    let chain: Vec<TimelineEntry> = (0..n)
        .map(|i| dep(if i + 1 < n { vec![i + 1] } else { vec![] }, vec![]))
        .collect();
    let d = depths(&chain);
    assert_eq!(d[0], n - 1);
    assert_eq!(d[n - 1], 0);
}

#[test]
fn services_up_in_the_same_millisecond_end_with_the_dependent() {
    // init needs r; both came up at 1700 (the engine handles a chain in
    // one step): r is listed first, and init is the last one up, so the
    // chain starts at init.
    let s = Some;
    let mut init = entry("init", "done", [s(1010), s(1700), s(1700), s(1700), None]);
    init.needs = vec![1];
    let mut r = entry("r", "running", [s(1010), s(1700), s(1700), s(1700), None]);
    r.needs = vec![2];
    r.respawn = true;
    let base = entry("base", "done", [s(1010), s(1010), s(1010), s(1700), None]);
    let t = Timeline {
        started_ms: Some(1000),
        now_ms: 2000,
        services: vec![init, r, base],
    };
    let a = analyze(&t);
    assert_eq!(a.order, vec![2, 1, 0]);
    assert_eq!(a.last_up, Some(0));
    assert_eq!(a.chain, vec![0, 1, 2]);
}
