//! Unit tests of [`Host::exit_reason`]: a death the host can name (the
//! OOM killer in the service's cgroup) is the failure's reason and the
//! backoff's, in place of the bare exit status; a hot update keeps the
//! words.

use super::*;

/// The recording fake, naming every SIGKILL death as the OOM killer's.
struct Oom(Fake);

impl Host for Oom {
    fn spawn(&mut self, svc: usize, role: Role) -> Result<Spawned, SpawnError> {
        self.0.spawn(svc, role)
    }
    fn signal_group(&mut self, pgid: Pid, sig: Signal) {
        self.0.signal_group(pgid, sig)
    }
    fn report(&mut self, svc: usize, name: &str, report: Report) {
        self.0.report(svc, name, report)
    }
    fn exit_reason(&mut self, _svc: usize, status: ExitStatus) -> Option<String> {
        (status == ExitStatus::Signal(9))
            .then(|| "killed by the OOM killer (memory.max 16M)".to_string())
    }
}

fn reason(e: &Engine, i: usize) -> Option<String> {
    e.status(i)?.reason.map(|r| r.to_string())
}

/// A once service killed by the OOM killer fails with the host's words;
/// one that exits with a status keeps the status.
#[test]
fn a_failure_takes_the_hosts_words() {
    let mut e = Engine::new(graph(2, &[]));
    let mut h = Oom(Fake::new(vec![Plan::Run; 2]));
    e.start(&mut h, 0, 0);
    e.start(&mut h, 0, 1);
    let (a, b) = (h.0.pid_of(0, Role::On), h.0.pid_of(1, Role::On));
    h.0.live.remove(&a);
    assert!(e.child_exited(&mut h, 5, a, ExitStatus::Signal(9)));
    assert_eq!(e.state(0), Some(State::Failed));
    let words = "killed by the OOM killer (memory.max 16M)";
    assert_eq!(reason(&e, 0).as_deref(), Some(words));
    let failed = h.0.reports.iter().rfind(|r| r.0 == "a").unwrap();
    assert_eq!(failed.1.detail.as_deref(), Some(words));
    h.0.live.remove(&b);
    assert!(e.child_exited(&mut h, 5, b, ExitStatus::Code(3)));
    assert_eq!(reason(&e, 1).as_deref(), Some("exit status 3"));
    // A hot update keeps the words.
    let (loaded, lost) = reload(&e);
    assert!(lost.is_empty(), "{lost:?}");
    assert_eq!(reason(&loaded, 0).as_deref(), Some(words));
}

/// A respawn service killed by the OOM killer restarts, and its reason
/// and restart line say why.
#[test]
fn a_restart_says_why() {
    let mut nodes = graph(1, &[]);
    nodes[0].respawn = true;
    let mut e = Engine::new(nodes);
    let mut h = Oom(Fake::new(vec![Plan::Run]));
    e.start(&mut h, 0, 0);
    let a = h.0.pid_of(0, Role::On);
    h.0.live.remove(&a);
    assert!(e.child_exited(&mut h, 20_000, a, ExitStatus::Signal(9)));
    assert_eq!(e.state(0), Some(State::Running));
    assert_eq!(h.0.spawned(0), 2);
    assert_eq!(
        reason(&e, 0).as_deref(),
        Some("killed by the OOM killer (memory.max 16M)")
    );
    let line = h.0.reports.last().unwrap().1.detail.clone().unwrap();
    assert!(
        line.starts_with("restarted after killed by the OOM killer (memory.max 16M) (up "),
        "{line}"
    );
}
