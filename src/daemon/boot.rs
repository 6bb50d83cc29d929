//! The few things PID 1 sets up before anything else: the API filesystems
//! (and, as the machine's init, cgroup2 on /sys/fs/cgroup),
//! the console as stdio, and ctrl-alt-del.
//!
//! Each step tolerates an environment that already did it (a container, a
//! PID namespace in the tests, an initramfs whose kernel mounted devtmpfs)
//! and reports, never aborts, when it cannot: a missing /sys is no reason to
//! refuse to boot.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;

use crate::sys::place::above_stdio;
use nix::fcntl::{open, OFlag};
use nix::mount::{mount, MsFlags};
use nix::sys::stat::Mode;

/// Whether `path` is a mount point: it lives on another device than its
/// parent. Works without /proc, which may be exactly what is being mounted.
fn is_mountpoint(path: &Path) -> bool {
    let parent = path.parent().unwrap_or(Path::new("/"));
    match (nix::sys::stat::stat(path), nix::sys::stat::stat(parent)) {
        (Ok(a), Ok(b)) => a.st_dev != b.st_dev || path == Path::new("/"),
        _ => false,
    }
}

/// Where cgroup2 is mounted as the machine's init.
const CGROUP2: &str = crate::sys::cgroup::find::PREFERRED;

/// Mount /proc, /sys, /dev (devtmpfs) and /run (tmpfs) where not mounted
/// yet, and as the machine's init cgroup2 on /sys/fs/cgroup where nothing
/// is mounted there.
/// Returns one message per action taken or failed.
pub fn mount_api_filesystems() -> Vec<String> {
    let nosuid_nodev = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    let table: [(&str, &str, MsFlags, Option<&str>); 5] = [
        ("/proc", "proc", nosuid_nodev | MsFlags::MS_NOEXEC, None),
        ("/sys", "sysfs", nosuid_nodev | MsFlags::MS_NOEXEC, None),
        // The cgroup v2 hierarchy, right after /sys (where its mount point
        // is); only as the machine's init (below).
        (CGROUP2, "cgroup2", nosuid_nodev | MsFlags::MS_NOEXEC, None),
        ("/dev", "devtmpfs", MsFlags::MS_NOSUID, Some("mode=0755")),
        ("/run", "tmpfs", nosuid_nodev, Some("mode=0755")),
    ];
    let mut messages = Vec::new();
    for (target, fstype, flags, data) in table {
        // In a container or namespace the cgroups are someone else's to
        // mount; a sysfs without the directory has no cgroups to mount.
        if target == CGROUP2
            && !(Path::new(target).is_dir() && crate::sys::cgroup::setup::is_machine_init())
        {
            continue;
        }
        let path = Path::new(target);
        if is_mountpoint(path) {
            continue;
        }
        if !path.exists() {
            if let Err(e) = std::fs::create_dir(path) {
                messages.push(format!("cannot create {target}: {e}"));
                continue;
            }
        }
        match mount(Some(fstype), path, Some(fstype), flags, data) {
            Ok(()) => messages.push(format!("mounted {fstype} on {target}")),
            Err(e) => messages.push(format!("cannot mount {fstype} on {target}: {}", e.desc())),
        }
    }
    messages
}

/// The console descriptors: one for children's stdio, one non-blocking for
/// cinit's own log lines.
pub struct ConsoleFds {
    /// Blocking, close-on-exec, ≥ 3: posix_spawn dups it onto 0–2.
    pub child: Option<OwnedFd>,
    /// Non-blocking, separate open file description.
    pub log: Option<OwnedFd>,
}

/// Open a console. Always opened non-blocking (a serial line without CLOCAL
/// can otherwise block the open itself); `blocking` clears the flag again
/// afterwards for the descriptor children inherit.
fn open_console(path: &Path, blocking: bool) -> nix::Result<OwnedFd> {
    let flags = OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC | OFlag::O_APPEND;
    let fd = open(path, flags | OFlag::O_NONBLOCK, Mode::empty())?;
    if blocking {
        nix::fcntl::fcntl(
            &fd,
            nix::fcntl::FcntlArg::F_SETFL(OFlag::O_RDWR | OFlag::O_APPEND),
        )?;
    }
    Ok(fd)
}

/// Open the console at `path` and make it cinit's stdio. Falls back to the
/// inherited stdout (reopened, so the non-blocking flag stays ours), then to
/// /dev/null, so services always have valid fds 0–2.
pub fn setup_console(path: &Path) -> (ConsoleFds, Option<String>) {
    let mut note = None;
    let child = match open_console(path, true) {
        Ok(fd) => Some(fd),
        Err(e) => {
            note = Some(format!(
                "cannot open console {}: {}; using the inherited stdout",
                path.display(),
                e.desc()
            ));
            open_console(Path::new("/proc/self/fd/1"), true)
                .or_else(|_| {
                    open(
                        Path::new("/dev/null"),
                        OFlag::O_RDWR | OFlag::O_CLOEXEC,
                        Mode::empty(),
                    )
                })
                .ok()
        }
    };
    let child = child.and_then(|fd| above_stdio(fd).ok());
    let log = match &child {
        // A second open gives a separate file description for O_NONBLOCK.
        Some(fd) => open_console(
            Path::new(&format!("/proc/self/fd/{}", fd.as_raw_fd())),
            false,
        )
        .or_else(|_| open_console(path, false))
        .ok(),
        None => None,
    };
    if let Some(fd) = &child {
        for target in 0..3 {
            // SAFETY: `fd` is a valid open descriptor and 0–2 are ours to replace.
            unsafe {
                libc::dup2(fd.as_raw_fd(), target);
            }
        }
    }
    (ConsoleFds { child, log }, note)
}

/// Make ctrl-alt-del send SIGINT to PID 1 instead of rebooting at once.
/// Inside a PID namespace the kernel answers EINVAL, which is fine.
pub fn disable_ctrl_alt_del() -> Option<String> {
    match nix::sys::reboot::set_cad_enabled(false) {
        Ok(()) | Err(Errno::EINVAL) => None,
        Err(e) => Some(format!("cannot disable ctrl-alt-del: {}", e.desc())),
    }
}
