//! Finding (or, as the machine's init, mounting) the cgroup v2 hierarchy
//! at boot, and taking the base: cinit's own leaf, the services' parent,
//! the controllers (system calls; the parsing is [`super::find`]).
//!
//! Invariants:
//! - The hierarchy's real root (the one cgroup without `cgroup.events`)
//!   is used only by the machine's init (PID 1 of the initial user
//!   namespace): cinit started in a namespace on a host's root cgroup (as
//!   the tests and benches are) must never scatter cgroups there.
//! - Every read is bounded ([`file::read`]); files are opened
//!   close-on-exec and without following a link (cgroupfs and procfs are
//!   the kernel's: nobody can plant one there, the flag says so).
//! - After a hot update the new image takes the base its former image
//!   left (PID 1 is already in `BASE/cinit`) and moves or kills nothing.

use super::file::{self, Errno};
use super::find;

/// The base cinit's cgroups are under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base {
    /// Its directory (`/sys/fs/cgroup/…`).
    pub dir: String,
    /// Its path as `/proc/PID/cgroup` names it (`/` for the root).
    pub path: String,
}

/// The most bytes read of `/proc/self/mountinfo` (a host with thousands
/// of mounts is cut; the cgroup2 mount comes early, with /sys).
const MOUNTINFO_MAX: usize = 1 << 20;
/// The most bytes read of a small cgroup or proc file.
pub(super) const SMALL_MAX: usize = 4096;

/// Whether this process is the machine's init: PID 1 of the initial PID
/// namespace and of the initial user namespace (whose `uid_map` maps every
/// uid to itself). Root's PID 1 of a mere PID namespace (a test, a
/// container without a user namespace) is not.
pub fn is_machine_init() -> bool {
    std::process::id() == 1
        && crate::sys::ops::in_initial_pid_ns() == Some(true)
        // A range of 4294967295 ids can only map 0 to 0: the whole
        // identity map of the initial user namespace.
        && file::read("/proc/self/uid_map", 256).is_ok_and(|m| m.trim_end().ends_with(" 4294967295"))
}

/// `PATH: why`, the reason a step failed.
fn failed(what: &str, e: Errno) -> String {
    file::reason("", what, e)
}

/// Take the base: find the hierarchy and PID 1's cgroup, refuse the real
/// root (unless the machine's init), make `cinit/` and `svc/`, move PID 1
/// into `cinit/`, enable the controllers for the services. `after_update`:
/// PID 1 may already be in a base's `cinit/` leaf, which is then kept as
/// it is. Returns the base and a line for the console (the controllers
/// enabled), or why there are no cgroups.
pub fn setup(after_update: bool) -> Result<(Base, String), String> {
    const INFO: &str = "/proc/self/mountinfo";
    const OWN: &str = "/proc/self/cgroup";
    let info = file::read(INFO, MOUNTINFO_MAX).map_err(|e| failed(INFO, e))?;
    let mount = find::cgroup2_mount(&info).ok_or("no cgroup2 mounted")?;
    let own = file::read(OWN, SMALL_MAX).map_err(|e| failed(OWN, e))?;
    let own = find::own_cgroup(&own).ok_or("not in a cgroup v2")?;
    // After an update PID 1 is in the base's own leaf: the base is its
    // parent.
    let resumed = after_update.then(|| find::base_after_update(own)).flatten();
    let path = resumed.unwrap_or(own);
    // One buffer: the base's directory, and each of its files in turn.
    let mut p = find::directory(&mount, path).ok_or("its cgroup is not below the cgroup2 mount")?;
    let n = p.len();
    p.push_str("/cgroup.events");
    let root = !file::exists(&p);
    p.truncate(n);
    if resumed.is_none() && root && !is_machine_init() {
        p.push_str(" is the hierarchy's root, only the machine's init takes it");
        return Err(p);
    }
    for leaf in ["/cinit", "/svc"] {
        p.push_str(leaf);
        file::make_dir(&p).map_err(|e| failed(&p, e))?;
        p.truncate(n);
    }
    if resumed.is_none() {
        p.push_str("/cinit/cgroup.procs");
        file::write(&p, b"0").map_err(|e| failed(&p, e))?;
        p.truncate(n);
    }
    let mut note = String::from("cgroup v2: services in ");
    note.push_str(&p);
    note.push_str("/svc/ (controllers:");
    let mut enabled = String::new();
    if enable_controllers(&mut p, &mut enabled) {
        enabled.clear();
        p.push_str("/svc");
        enable_controllers(&mut p, &mut enabled);
        p.truncate(n);
    }
    note.push_str(if enabled.is_empty() {
        " none"
    } else {
        &enabled
    });
    note.push(')');
    let base = Base {
        dir: p,
        path: path.to_string(),
    };
    Ok((base, note))
}

/// Enable for the children of cgroup `dir` each controller it has, one by
/// one (one that cannot be enabled leaves the others); each enabled is
/// added to `on` after a space. Whether any was. `dir` is as it was after.
fn enable_controllers(dir: &mut String, on: &mut String) -> bool {
    let n = dir.len();
    dir.push_str("/cgroup.controllers");
    let have = file::read(dir, SMALL_MAX).unwrap_or_default();
    dir.truncate(n);
    dir.push_str("/cgroup.subtree_control");
    let mut word = String::new();
    for c in have.trim_end().split(' ') {
        word.clear();
        word.push('+');
        word.push_str(c);
        if file::write(dir, word.as_bytes()).is_ok() {
            on.push(' ');
            on.push_str(c);
        }
    }
    dir.truncate(n);
    !on.is_empty()
}

/// Write the base's directory (a line) into the file `at` in the control
/// directory, for `cinit-ctl`; `None` removes it (no cgroups). A reader
/// sees the old file or the new one ([`file::replace`]).
pub fn publish(at: &str, base: Option<&Base>) -> Result<(), Errno> {
    match base {
        None => file::remove(at),
        Some(base) => {
            let mut line = base.dir.clone();
            line.push('\n');
            file::replace(at, line.as_bytes())
        }
    }
}
