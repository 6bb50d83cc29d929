//! Unit tests of the lifecycle: the signal map, every path of a
//! sequence with made-up facts and times, which action may begin, the
//! requester's grace, and how each goal ends.

use super::*;

fn no_logs(cmds: Vec<Command>) -> Vec<Command> {
    cmds.into_iter()
        .filter(|c| !matches!(c, Command::Log(_)))
        .collect()
}

fn facts(services_down: bool, others: usize, helper_running: bool) -> Facts {
    Facts {
        services_down,
        others,
        helper_running,
    }
}

#[test]
fn the_signal_map_is_the_documented_one() {
    use SystemAction::*;
    assert_eq!(action_for_signal(libc::SIGHUP), Some(Reboot));
    assert_eq!(action_for_signal(libc::SIGINT), Some(Reboot));
    assert_eq!(action_for_signal(libc::SIGUSR1), Some(Halt));
    assert_eq!(action_for_signal(libc::SIGUSR2), Some(Rescue));
    assert_eq!(action_for_signal(libc::SIGTERM), Some(Poweroff));
    assert_eq!(action_for_signal(libc::SIGPWR), Some(Poweroff));
    assert_eq!(action_for_signal(libc::SIGCONT), Some(Update));
    assert_eq!(action_for_signal(libc::SIGCHLD), None);
    assert_eq!(action_for_signal(libc::SIGQUIT), None);
}

#[test]
fn a_quick_shutdown_skips_every_wait() {
    let (mut s, first) = Sequence::begin(SystemAction::Reboot, 0, 2);
    assert_eq!(no_logs(first), [Command::StopServices]);
    assert!(no_logs(s.advance(5, &facts(false, 3, false))).is_empty());
    assert_eq!(
        no_logs(s.advance(10, &facts(true, 3, false))),
        [Command::TermAll]
    );
    assert_eq!(s.deadline(), Some(2010));
    // Everything died at once: no SIGKILL round, no waiting for the deadline.
    assert_eq!(
        no_logs(s.advance(11, &facts(true, 0, false))),
        [Command::RunLast]
    );
    assert_eq!(s.step(), Step::Last);
    // No conf/last (no helper): straight on.
    assert_eq!(
        no_logs(s.advance(11, &facts(true, 0, false))),
        [Command::RunFinal]
    );
    assert_eq!(
        no_logs(s.advance(12, &facts(true, 0, false))),
        [Command::Reboot(SystemAction::Reboot)]
    );
    assert_eq!(s.deadline(), None);
    assert!(s.advance(13, &facts(true, 0, false)).is_empty());
}

#[test]
fn every_wait_is_bounded() {
    let (mut s, _) = Sequence::begin(SystemAction::Poweroff, 0, 3);
    // Services never stop: going on at the cap.
    assert!(s
        .advance(SERVICES_MAX_MS - 1, &facts(false, 9, false))
        .is_empty());
    let t = SERVICES_MAX_MS;
    assert_eq!(
        no_logs(s.advance(t, &facts(false, 9, false))),
        [Command::TermAll]
    );
    // Processes ignore SIGTERM: SIGKILL after sleep_before_kill.
    assert!(s.advance(t + 2999, &facts(false, 9, false)).is_empty());
    assert_eq!(
        no_logs(s.advance(t + 3000, &facts(false, 9, false))),
        [Command::KillAll]
    );
    // Some survive SIGKILL: going on after KILL_WAIT_MS.
    let t = t + 3000 + KILL_WAIT_MS;
    assert_eq!(
        no_logs(s.advance(t, &facts(false, 1, false))),
        [Command::RunLast]
    );
    // conf/last hangs: killed at its cap.
    assert!(s.advance(t + 1, &facts(false, 1, true)).is_empty());
    let t = t + LAST_MAX_MS;
    assert_eq!(
        no_logs(s.advance(t, &facts(false, 1, true))),
        [Command::KillHelper, Command::RunFinal]
    );
    // The final sync hangs: reboot anyway.
    let t = t + FINAL_MAX_MS;
    assert_eq!(
        no_logs(s.advance(t, &facts(false, 1, true))),
        [Command::KillHelper, Command::Reboot(SystemAction::Poweroff)]
    );
}

#[test]
fn rescue_runs_a_shell_instead_of_last_and_boots_again() {
    let (mut s, _) = Sequence::begin(SystemAction::Rescue, 0, 2);
    s.advance(1, &facts(true, 0, false));
    assert_eq!(
        no_logs(s.advance(2, &facts(true, 0, false))),
        [Command::RescueShell]
    );
    assert_eq!(s.step(), Step::Shell);
    assert_eq!(s.deadline(), None, "the shell may run as long as it likes");
    assert!(s.advance(1_000_000, &facts(true, 0, true)).is_empty());
    assert_eq!(
        no_logs(s.advance(1_000_001, &facts(true, 0, false))),
        [Command::Boot]
    );
    assert_eq!(s.step(), Step::Finished);
}

#[test]
fn the_first_request_wins_except_a_shutdown_from_the_rescue_shell() {
    let reboot = SystemAction::Reboot;
    let (mut s, _) = Sequence::begin(SystemAction::Rescue, 0, 2);
    assert!(!s.yields_to(reboot), "not while services are stopping");
    s.advance(1, &facts(true, 0, false));
    s.advance(1, &facts(true, 0, false));
    assert_eq!(s.step(), Step::Shell);
    assert!(s.yields_to(reboot));
    assert!(!s.yields_to(SystemAction::Rescue));
    assert!(!s.yields_to(SystemAction::Update));

    let (p, _) = Sequence::begin(SystemAction::Poweroff, 0, 2);
    assert!(!p.yields_to(reboot));
    assert_eq!(
        p.busy_message(reboot),
        "reboot refused: a poweroff is already in progress"
    );
}

/// Proves the requester of a shutdown is waited for at most
/// [`REQUESTER_GRACE_MS`]: within it, while it is connected or (having
/// left) its process is alive; its process is looked at only once it
/// has left, and never when it has no pid here.
#[test]
fn the_requester_is_waited_for_within_its_grace_only() {
    let never = |_| -> bool { panic!("looked at the process") };
    let r = Requester::new(7, Some(40), 100);
    let end = 100 + REQUESTER_GRACE_MS;
    assert_eq!(r.until(), end);
    assert!(r.waits(100, true, never));
    assert!(r.waits(end - 1, true, never));
    assert!(!r.waits(end, true, never), "connected, but its time is up");
    assert!(r.waits(end - 1, false, |pid| pid == 40), "gone, alive");
    assert!(!r.waits(end - 1, false, |_| false), "gone and dead");
    let outside = Requester::new(7, None, 100);
    assert!(!outside.waits(100, false, never), "no pid here");
}

/// Proves which system action may begin: any while none runs (an
/// update too); while a shutdown runs none, with the reason; while a
/// rescue shell runs only a shutdown.
#[test]
fn an_action_begins_unless_another_is_under_way() {
    use SystemAction::*;
    let all = [Reboot, Halt, Poweroff, Rescue, Update];
    for a in all {
        assert_eq!(admit(None, a), Ok(()), "{a:?}");
    }
    let (off, _) = Sequence::begin(Poweroff, 0, 2);
    for a in all {
        let why = format!("{} refused: a poweroff is already in progress", a.word());
        assert_eq!(admit(Some(&off), a), Err(why));
    }
    let (mut rescue, _) = Sequence::begin(Rescue, 0, 2);
    assert!(admit(Some(&rescue), Reboot).is_err(), "services stopping");
    rescue.advance(1, &facts(true, 0, false));
    rescue.advance(1, &facts(true, 0, false));
    assert_eq!(rescue.step(), Step::Shell);
    for (a, ok) in [
        (Reboot, true),
        (Halt, true),
        (Poweroff, true),
        (Rescue, false),
    ] {
        assert_eq!(admit(Some(&rescue), a).is_ok(), ok, "{a:?}");
    }
    let why = "update refused: rescue mode is in progress";
    assert_eq!(admit(Some(&rescue), Update), Err(why.to_string()));
}

/// Proves the documented ends of a shutdown: reboot(2)'s mode for each
/// goal (none for rescue and update), and the exit status where a
/// container refuses reboot(2): 129 after a reboot, 0 otherwise.
#[test]
fn each_goal_ends_in_its_documented_reboot_mode_and_status() {
    use SystemAction::*;
    let table = [
        (Reboot, Some(RebootMode::RB_AUTOBOOT), 129),
        (Halt, Some(RebootMode::RB_HALT_SYSTEM), 0),
        (Poweroff, Some(RebootMode::RB_POWER_OFF), 0),
        (Rescue, None, 0),
        (Update, None, 0),
    ];
    for (goal, mode, status) in table {
        assert_eq!(reboot_mode(goal), mode, "{goal:?}");
        assert_eq!(container_exit_status(goal, None), status, "{goal:?}");
        // Begun by a failed service's `on-failure`: that service's status.
        assert_eq!(container_exit_status(goal, Some(3)), 3, "{goal:?}");
        assert_eq!(container_exit_status(goal, Some(137)), 137, "{goal:?}");
    }
}
