//! Signals as data: the handled signals are blocked and read from a signalfd.
//!
//! Blocked signals are never lost (the kernel queues them even for PID 1,
//! which otherwise drops signals without a handler), survive `execve`, and
//! arrive with the sender's pid and uid. The only signal handlers in cinit
//! are the fault handlers of [`crate::daemon::emergency`] (SIGSEGV and the like,
//! which cannot be read from a signalfd). Children get an empty mask and default dispositions from
//! [`crate::sys::spawn`], so nothing here leaks into services.
//!
//! | signal | meaning to cinit |
//! |---|---|
//! | SIGCHLD | a child changed state: reap |
//! | SIGHUP | reboot |
//! | SIGUSR1 | halt |
//! | SIGUSR2 | rescue mode |
//! | SIGTERM, SIGPWR | poweroff |
//! | SIGINT | ctrl-alt-del: reboot |
//! | SIGCONT | hot update |
//! | SIGTSTP, SIGTTIN, SIGTTOU | ignored, so a terminal cannot stop PID 1 |

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

/// The signals cinit acts on. All are blocked and read from the signalfd.
pub const HANDLED: [Signal; 8] = [
    Signal::SIGCHLD,
    Signal::SIGHUP,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGTERM,
    Signal::SIGPWR,
    Signal::SIGINT,
    Signal::SIGCONT,
];

/// The handled signals as a set.
pub fn handled_set() -> SigSet {
    let mut set = SigSet::empty();
    for sig in HANDLED {
        set.add(sig);
    }
    set
}

/// Block every handled signal and ignore the terminal stop signals.
/// The first thing `main` does, before any signal could be dropped.
pub fn block_handled() -> nix::Result<SigSet> {
    let set = handled_set();
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)?;
    let ignore = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
    for sig in [Signal::SIGTSTP, Signal::SIGTTIN, Signal::SIGTTOU] {
        // SAFETY: SIG_IGN installs no handler code.
        let _ = unsafe { sigaction(sig, &ignore) };
    }
    Ok(set)
}

/// One received signal with its sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    pub signal: i32,
    /// Sender's pid (0 for the kernel or a sender outside our PID namespace).
    pub pid: u32,
    pub uid: u32,
    /// `si_code`: SI_USER (0) for kill(2), > 0 for the kernel.
    pub code: i32,
}

impl Received {
    /// Sent by root or by the kernel (only those may change the system state).
    pub fn privileged(&self) -> bool {
        self.uid == 0 || self.code > 0
    }

    pub fn name(&self) -> &'static str {
        Signal::try_from(self.signal)
            .map(|s| s.as_str())
            .unwrap_or("signal")
    }
}

/// The non-blocking signalfd for [`HANDLED`].
pub struct SignalSource {
    fd: SignalFd,
}

impl SignalSource {
    pub fn new(set: &SigSet) -> nix::Result<SignalSource> {
        let fd = SignalFd::with_flags(set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
        Ok(SignalSource { fd })
    }

    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.fd.as_fd()
    }

    /// The next pending signal, or `None` when drained.
    pub fn read(&mut self) -> Option<Received> {
        match self.fd.read_signal() {
            Ok(Some(info)) => Some(Received {
                signal: i32::try_from(info.ssi_signo).unwrap_or(0),
                pid: info.ssi_pid,
                uid: info.ssi_uid,
                code: info.ssi_code,
            }),
            _ => None,
        }
    }
}
