//! The system-wide operations of a shutdown: signalling every process,
//! counting what is left, the final sync / unmount / remount child, and
//! reboot(2).
//!
//! Safety: `kill(-1)` and `reboot(2)` act on the whole machine. Every
//! function here that calls them first checks that this process is PID 1
//! (in whatever PID namespace it runs), and refuses otherwise, so a cinit
//! started by mistake as an ordinary process cannot take the host down.
//!
//! Anything that may block in the kernel (a SIGKILL that meets a process in
//! uninterruptible sleep, `sync()`, unmounting a hung network filesystem)
//! runs in a forked child, never in PID 1.

use std::path::Path;

use nix::errno::Errno;
use nix::sys::signal::Signal;

use crate::sys::clock::now_ms;
use crate::sys::console::stamp;
use crate::sys::process::Pid;

/// The inode number of the initial PID namespace (`PROC_PID_INIT_INO`).
const INITIAL_PID_NS_INODE: u64 = 0xEFFF_FFFC;
/// `PF_KTHREAD` in the flags field of `/proc/PID/stat`.
const PF_KTHREAD: u64 = 0x0020_0000;

fn is_pid1() -> bool {
    std::process::id() == 1
}

/// Whether cinit runs in the machine's own PID namespace (not a container
/// or a test namespace); `None` when /proc cannot tell. Filesystems are
/// unmounted at shutdown only when this is `Some(true)`, and cinit exits
/// after a refused reboot(2) only when it is `Some(false)`.
pub fn in_initial_pid_ns() -> Option<bool> {
    nix::sys::stat::stat("/proc/self/ns/pid")
        .ok()
        .map(|s| s.st_ino == INITIAL_PID_NS_INODE)
}

/// `kill(-1, sig)`: every process but PID 1 itself. ESRCH (none left) is Ok.
pub fn signal_all(sig: Signal) -> Result<(), Errno> {
    if !is_pid1() {
        return Err(Errno::EPERM);
    }
    // SAFETY: kill(2) with pid -1 has no memory effects.
    let rc = unsafe { libc::kill(-1, sig as libc::c_int) };
    match Errno::result(rc) {
        Ok(_) | Err(Errno::ESRCH) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Fork a child that sends SIGKILL to every process (itself excepted) and
/// exits. The child is reaped like any orphan. If the fork fails, the kill
/// is done here: better a possible stall than processes left alive.
pub fn kill_all_from_child() -> Result<Pid, Errno> {
    if !is_pid1() {
        return Err(Errno::EPERM);
    }
    // SAFETY: PID 1 is single-threaded; the child only calls async-signal-
    // safe functions (kill, _exit) before it ends.
    match unsafe { libc::fork() } {
        0 => {
            // SAFETY: as above.
            unsafe {
                libc::kill(-1, libc::SIGKILL);
                libc::_exit(0);
            }
        }
        -1 => {
            let e = Errno::last();
            signal_all(Signal::SIGKILL)?;
            Err(e)
        }
        pid => Ok(pid),
    }
}

/// Whether process `pid` still exists (a zombie counts).
pub fn is_alive(pid: Pid) -> bool {
    pid > 1 && nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
}

/// How many processes other than PID 1 exist (kernel threads not counted);
/// `None` if /proc cannot be read.
pub fn count_others() -> Option<usize> {
    let me = std::process::id();
    let dir = std::fs::read_dir("/proc").ok()?;
    let mut n = 0;
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        // A process that is gone by now is simply not counted.
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            if !is_kernel_thread(&stat) {
                n += 1;
            }
        }
    }
    Some(n)
}

/// Parse the `flags` field of a `/proc/PID/stat` line. The command name
/// (field 2) may contain spaces and parentheses, so fields are counted from
/// the last `)`.
fn is_kernel_thread(stat: &str) -> bool {
    let Some(rest) = stat.rfind(')').and_then(|i| stat.get(i + 1..)) else {
        return false;
    };
    // After ")": state(3) ppid(4) pgrp(5) session(6) tty(7) tpgid(8) flags(9).
    rest.split_ascii_whitespace()
        .nth(6)
        .and_then(|f| f.parse::<u64>().ok())
        .is_some_and(|flags| flags & PF_KTHREAD != 0)
}

/// Call reboot(2) with `mode`. Returns only if the call failed. Inside a
/// PID namespace the kernel ends this process instead (SIGHUP for a reboot,
/// SIGINT for halt and poweroff).
pub fn reboot(mode: nix::sys::reboot::RebootMode) -> Errno {
    if !is_pid1() {
        return Errno::EPERM;
    }
    match nix::sys::reboot::reboot(mode) {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

/// Filesystems that hold no data to lose and are left mounted.
const VIRTUAL_FS: &[&str] = &[
    "proc",
    "sysfs",
    "devtmpfs",
    "devpts",
    "tmpfs",
    "ramfs",
    "rootfs",
    "cgroup",
    "cgroup2",
    "securityfs",
    "debugfs",
    "tracefs",
    "pstore",
    "bpf",
    "mqueue",
    "hugetlbfs",
    "configfs",
    "fusectl",
    "autofs",
    "binfmt_misc",
    "efivarfs",
    "selinuxfs",
    "nsfs",
];

/// Undo the octal escapes (`\040` for a space) of /proc/self/mountinfo.
fn unescape(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let code = b
            .get(i + 1..i + 4)
            .filter(|d| c == b'\\' && d.iter().all(|x| (b'0'..=b'7').contains(x)))
            .and_then(|d| u8::from_str_radix(std::str::from_utf8(d).ok()?, 8).ok());
        match code {
            Some(v) => {
                out.push(v);
                i += 4;
            }
            None => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mount points worth unmounting at shutdown, innermost first: real
/// filesystems other than `/`, from a mountinfo text.
pub fn mounts_to_unmount(mountinfo: &str) -> Vec<String> {
    let mut v: Vec<String> = mountinfo
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            let target = fields.nth(4)?;
            let fstype = fields.skip_while(|f| *f != "-").nth(1)?;
            let target = unescape(target);
            (!VIRTUAL_FS.contains(&fstype) && target != "/").then_some(target)
        })
        .collect();
    v.reverse();
    v
}

fn say(text: &str) {
    crate::sys::console::stderr_line(&stamp(now_ms(), text));
}

/// The work of the final child: sync; on the machine itself (not in a
/// container), unmount real filesystems (busy ones are remounted read-only)
/// and remount `/` read-only; sync again.
fn final_child_work(unmount: bool) {
    // SAFETY: sync(2) has no memory effects.
    unsafe { libc::sync() };
    if !unmount {
        say("final: synced; in a container, filesystems are left to the host");
        return;
    }
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let ro = nix::mount::MsFlags::MS_REMOUNT | nix::mount::MsFlags::MS_RDONLY;
    for target in mounts_to_unmount(&info) {
        let path = Path::new(&target);
        match nix::mount::umount(path) {
            Ok(()) => say(&format!("final: unmounted {target}")),
            Err(e) => match nix::mount::mount(None::<&str>, path, None::<&str>, ro, None::<&str>) {
                Ok(()) => say(&format!(
                    "final: {target} busy ({}); remounted read-only",
                    e.desc()
                )),
                Err(e2) => say(&format!(
                    "final: cannot unmount {target} ({}) nor remount it read-only ({})",
                    e.desc(),
                    e2.desc()
                )),
            },
        }
    }
    match nix::mount::mount(None::<&str>, "/", None::<&str>, ro, None::<&str>) {
        Ok(()) => say("final: / remounted read-only"),
        Err(e) => say(&format!("final: cannot remount / read-only: {}", e.desc())),
    }
    // SAFETY: as above.
    unsafe { libc::sync() };
}

/// Fork the final child (see [`final_child_work`]). `unmount` is false in
/// a container. Returns the child's pid.
pub fn fork_final(unmount: bool) -> Result<Pid, Errno> {
    if !is_pid1() {
        return Err(Errno::EPERM);
    }
    // SAFETY: PID 1 is single-threaded, so the child may allocate; it never
    // returns into the daemon's code.
    match unsafe { libc::fork() } {
        0 => {
            // The child must never return into (a copy of) the event loop.
            let ok = std::panic::catch_unwind(|| final_child_work(unmount)).is_ok();
            // SAFETY: ends the child without running PID 1's destructors.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) }
        }
        -1 => Err(Errno::last()),
        pid => Ok(pid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_threads_are_told_apart_even_with_odd_names() {
        let kthread = "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0";
        assert!(is_kernel_thread(kthread));
        let user = "77 (my (odd) prog) S 1 77 77 0 -1 4194560 100 0 0 0";
        assert!(!is_kernel_thread(user));
        assert!(!is_kernel_thread("garbage"));
    }

    #[test]
    fn only_real_filesystems_are_unmounted_innermost_first() {
        let info = "\
22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw
23 22 0:5 / /proc rw - proc proc rw
24 22 8:2 / /data rw - ext4 /dev/sdb1 rw
25 24 8:3 / /data/with\\040space rw - xfs /dev/sdc1 rw
26 22 0:20 / /run rw - tmpfs tmpfs rw
";
        assert_eq!(
            mounts_to_unmount(info),
            ["/data/with space".to_string(), "/data".to_string()]
        );
    }

    #[test]
    fn nothing_system_wide_happens_unless_pid_1() {
        // The test runner is never PID 1: these must refuse, not act. Only
        // calls that would be harmless if the guard were broken are tried
        // (SIGCONT to everything, a sync); never SIGKILL or reboot(2).
        assert_eq!(signal_all(Signal::SIGCONT), Err(Errno::EPERM));
        assert_eq!(fork_final(false), Err(Errno::EPERM));
    }
}
