//! The hot-update snapshot (`src/update/snapshot.rs`) on arbitrary bytes: what a
//! new cinit image reads back after `execve`, then adopts as the daemon
//! does (`Engine::load`, `Tree::load`) and runs for a few steps.
//!
//! Proves: `snapshot::decode` never panics and bounds what it keeps by the
//! input (a damaged section costs one line in the losses, counts are
//! capped); whatever decodes re-encodes to a snapshot that decodes to the
//! same value with no losses; an engine loaded from nonsense writes its
//! sections back so that they load again to the same sections, losing
//! nothing; and a loaded engine whose sections are nonsense (out-of-range
//! indices, dependency cycles, unknown phases, pids shared by services)
//! survives a tick, starting its roots, every child exiting, and a full
//! stop, without a panic or a hang. No descriptor is adopted: decoding and
//! loading the engine never touch one.
#![no_main]

use cinit::config::tree::Tree;
use cinit::control::pending::{load_all, TAG_FOLLOWER, TAG_PENDING};
use cinit::control::saved::TAG_CLIENT;
use cinit::control::Control;
use cinit::engine::state::SpawnError;
use cinit::engine::{Engine, Host, Report, Role, Spawned, TAG_NODE, TAG_SERVICE};
use cinit::proto::wire::{Sections, MAX_ITEMS};
use cinit::ready::pipe::TAG_READY;
use cinit::sys::process::ExitStatus;
use cinit::sys::process::Pid;
use cinit::update::snapshot::{decode, encode, TAG_WAITER};
use libfuzzer_sys::fuzz_target;
use nix::sys::signal::Signal;

/// A host that runs nothing: every spawn gets a fresh pid.
struct Null {
    next_pid: Pid,
    spawned: Vec<Pid>,
}

impl Host for Null {
    fn spawn(&mut self, _svc: usize, _role: Role) -> Result<Spawned, SpawnError> {
        if self.next_pid % 3 == 0 {
            self.next_pid += 1;
            return Ok(Spawned::Nothing);
        }
        self.next_pid += 1;
        self.spawned.push(self.next_pid);
        Ok(Spawned::Pid(self.next_pid))
    }
    fn signal_group(&mut self, _pgid: Pid, _sig: Signal) {}
    fn report(&mut self, _svc: usize, _name: &str, _report: Report) {}
}

fuzz_target!(|data: &[u8]| {
    let Ok((snap, lost)) = decode(data) else {
        return;
    };
    // One line per section at most, plus the header and the trailer notes.
    assert!(lost.len() <= data.len() / 5 + 3, "{} losses", lost.len());
    let items = [
        snap.sections.count(TAG_NODE),
        snap.sections.count(TAG_SERVICE),
        snap.sections.count(TAG_PENDING),
        snap.sections.count(TAG_FOLLOWER),
        snap.sections.count(TAG_WAITER),
        snap.sections.count(TAG_READY),
        snap.sections.count(TAG_CLIENT),
    ];
    assert!(items.iter().all(|&n| n <= MAX_ITEMS + 1), "{items:?}");
    assert!(items.iter().sum::<usize>() <= data.len() / 5);

    if items.iter().all(|&n| n <= MAX_ITEMS) {
        let again = encode(&snap);
        let (back, lost) = decode(&again).expect("own encoding refused");
        assert!(lost.is_empty(), "{lost:?}");
        assert_eq!(back, snap);
    }

    // Adopt it as `Daemon::restore` does, minus the descriptors: no number
    // is taken for open, so nothing is adopted.
    let mut notes = Vec::new();
    assert!(Control::load(&snap.sections, |_| false, &mut notes).is_none());
    let pending = load_all(&snap.sections, &mut notes);
    assert!(pending.len() <= items[2] + items[3]);
    let probe = |l: &str| cinit::config::probe::parse_line(l).ok();
    let (mut engine, _notes) = Engine::load(&snap.sections, probe);
    let saved = |e: &Engine| {
        let mut s = Sections::default();
        e.save(&mut s);
        e.save_timeline(&mut s);
        s
    };
    let first = saved(&engine);
    let (again, notes) = Engine::load(&first, probe);
    assert!(notes.is_empty(), "{notes:?}");
    assert_eq!(saved(&again), first);
    let Some(tree) = Tree::load(&snap.sections, &mut Vec::new()) else {
        return;
    };
    if tree.dirs.len() != engine.len() {
        return;
    }
    let roots = tree.roots.clone();
    let mut host = Null {
        next_pid: 1 << 24,
        spawned: Vec::new(),
    };
    let statuses = (0..engine.len()).filter_map(|i| engine.status(i));
    let mut pids: Vec<Pid> = statuses.clone().filter_map(|s| s.pid).collect();
    let now = statuses
        .map(|s| s.since)
        .chain(engine.next_deadline())
        .max()
        .unwrap_or(0);
    engine.tick(&mut host, now);
    for &r in &roots {
        engine.start(&mut host, now, r);
    }
    pids.append(&mut host.spawned);
    for pid in pids {
        engine.child_exited(&mut host, now, pid, ExitStatus::Code(1));
    }
    engine.tick(&mut host, now.saturating_add(60_000));
    engine.stop_all(&mut host, now);
    engine.tick(&mut host, u64::MAX);
});
