use super::*;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;

#[test]
fn start_time_is_field_22_counted_from_the_last_parenthesis() {
    // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt
    // majflt cmajflt utime stime cutime cstime priority nice threads
    // itrealvalue starttime vsize …
    let line = b"42 (sleep) S 1 42 42 0 -1 4194560 90 0 0 0 0 0 0 0 20 0 1 0 123456 2277376 224";
    assert_eq!(parse_start_time(line), Some(123_456));
    // A name with spaces and parentheses (a process may name itself so).
    let tricky = b"42 (a) S 1 2 3 (x) ) S 1 42 42 0 -1 4194560 90 0 0 0 0 0 0 0 20 0 1 0 777 0 0";
    assert_eq!(parse_start_time(tricky), Some(777));
    // An empty name, and a trailing newline.
    let empty = b"7 () R 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 99 0 0\n";
    assert_eq!(parse_start_time(empty), Some(99));
}

#[test]
fn a_stat_line_that_is_cut_short_or_garbled_has_no_start_time() {
    assert_eq!(parse_start_time(b""), None);
    assert_eq!(parse_start_time(b"42 (sleep"), None);
    assert_eq!(parse_start_time(b"42 (sleep) S 1 42 42 0 -1"), None);
    assert_eq!(
        parse_start_time(b"42 (x) S 1 42 42 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 -5 0"),
        None
    );
    assert_eq!(
        parse_start_time(b"42 (x) S 1 42 42 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 \xff 0"),
        None
    );
}

#[test]
fn only_a_kernel_without_the_option_falls_back_to_the_start_time() {
    assert_eq!(
        classify_pidfd_error(Errno::ENOPROTOOPT),
        PidfdAnswer::Unsupported
    );
    // The kernel knows the option: the peer had already been reaped, and
    // its number may be another process's by now.
    assert_eq!(classify_pidfd_error(Errno::EINVAL), PidfdAnswer::NoProcess);
    assert_eq!(classify_pidfd_error(Errno::ENODATA), PidfdAnswer::NoProcess);
    assert_eq!(classify_pidfd_error(Errno::EMFILE), PidfdAnswer::Failed);
}

#[test]
fn a_process_is_alive_while_signal_0_reaches_it() {
    assert!(alive_from_signal(Ok(())));
    assert!(alive_from_signal(Err(Errno::EPERM)));
    assert!(!alive_from_signal(Err(Errno::ESRCH)));
    assert!(!alive_from_signal(Err(Errno::EBADF)));
}

#[test]
fn the_verdict_trusts_a_session_only_from_a_pinned_living_process() {
    assert_eq!(verdict(0, false, None, false), Session::Outside);
    assert_eq!(verdict(0, true, Some(5), true), Session::Outside);
    assert_eq!(verdict(42, true, Some(40), true), Session::In(Some(40)));
    assert_eq!(verdict(42, true, None, true), Session::In(None));
    // Gone after getsid: the session read may be a later process's.
    assert_eq!(verdict(42, true, Some(40), false), Session::Gone);
    // Never pinned: nothing tells the peer from a later process.
    assert_eq!(verdict(42, false, Some(40), true), Session::Gone);
}

#[test]
fn start_times_must_match_and_be_present() {
    assert!(same_start(10, Some(10)));
    assert!(!same_start(10, Some(11)));
    assert!(!same_start(10, None));
}

#[test]
fn our_own_start_time_can_be_read() {
    let pid = i32::try_from(std::process::id()).unwrap();
    let t = start_time(pid).expect("/proc/self/stat has a start time");
    assert_eq!(start_time(pid), Some(t));
}

/// With a real socket pair: the peer is this process, pinned by a
/// close-on-exec pidfd (on kernels with `SO_PEERPIDFD`), and its session
/// is ours.
#[test]
fn a_living_peer_is_pinned_and_in_its_session() {
    let (a, _b) = UnixStream::pair().unwrap();
    let pid = i32::try_from(std::process::id()).unwrap();
    let peer = Peer::at_accept(a.as_fd(), pid);
    if let Identity::Pidfd(fd) = &peer.identity {
        let flags = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD).unwrap();
        assert_ne!(flags & libc::FD_CLOEXEC, 0, "the pidfd is close-on-exec");
    } else {
        assert!(matches!(peer.identity, Identity::StartTime(_)));
    }
    let sid = getsid(None).unwrap().as_raw();
    assert_eq!(peer.session(), Session::In(Some(sid)));
    let outside = Peer::at_accept(a.as_fd(), 0);
    assert_eq!(outside.session(), Session::Outside);
}

/// A peer process that exited and was reaped is gone, whether it was
/// pinned by a pidfd or by its start time.
#[test]
fn a_reaped_peer_is_gone() {
    let (a, b) = UnixStream::pair().unwrap();
    // A child holds the other end (inherited); the pair's peer credentials
    // are ours, so pin the child by its pid the way a fallback would.
    let mut child = std::process::Command::new("/bin/sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let pid = i32::try_from(child.id()).unwrap();
    let start = start_time(pid).expect("the child's start time");
    let by_start = Peer {
        pid,
        identity: Identity::StartTime(start),
    };
    let by_fd = Peer {
        pid,
        identity: Identity::Pidfd(pidfd_open(pid)),
    };
    assert!(matches!(by_start.session(), Session::In(_)));
    assert!(matches!(by_fd.session(), Session::In(_)));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(by_start.session(), Session::Gone);
    assert_eq!(by_fd.session(), Session::Gone);
    let unpinned = Peer {
        pid: i32::try_from(std::process::id()).unwrap(),
        identity: Identity::Unknown,
    };
    assert_eq!(unpinned.session(), Session::Gone);
    drop((a, b));
}

fn pidfd_open(pid: i32) -> OwnedFd {
    // SAFETY: pidfd_open returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    assert!(fd >= 0, "pidfd_open: {}", Errno::last());
    // SAFETY: a new descriptor nothing else owns.
    unsafe { OwnedFd::from_raw_fd(i32::try_from(fd).unwrap()) }
}
