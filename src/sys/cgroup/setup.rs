//! Finding (or, as the machine's init, mounting) the cgroup v2 hierarchy
//! at boot, and taking the base: cinit's own leaf, the services' parent,
//! the controllers (system calls; the parsing is [`super::find`]).
//!
//! Invariants:
//! - The hierarchy's real root (the one cgroup without `cgroup.events`)
//!   is used only by the machine's init (PID 1 of the initial user
//!   namespace): cinit started in a namespace on a host's root cgroup (as
//!   the tests and benches are) must never scatter cgroups there.
//! - Every read is bounded ([`read_small`]); files are opened
//!   close-on-exec and without following a link (cgroupfs and procfs are
//!   the kernel's: nobody can plant one there, the flag says so).
//! - After a hot update the new image takes the base its former image
//!   left (PID 1 is already in `BASE/cinit`) and moves or kills nothing.

use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::find;
use super::layout::{SELF_LEAF, SERVICES};

/// The base cinit's cgroups are under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base {
    /// Its directory (`/sys/fs/cgroup/…`).
    pub dir: PathBuf,
    /// Its path as `/proc/PID/cgroup` names it (`/` for the root).
    pub path: String,
}

/// The most bytes read of `/proc/self/mountinfo` (a host with thousands
/// of mounts is cut; the cgroup2 mount comes early, with /sys).
const MOUNTINFO_MAX: u64 = 1 << 20;
/// The most bytes read of a small cgroup or proc file.
pub(super) const SMALL_MAX: u64 = 4096;

/// Open `path` to read, close-on-exec, never through a link.
fn open_read(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// At most `max` bytes of `path`, as text (a file that is not UTF-8 is
/// an error).
pub(super) fn read_small(path: &Path, max: u64) -> std::io::Result<String> {
    let mut text = String::new();
    open_read(path)?.take(max).read_to_string(&mut text)?;
    Ok(text)
}

/// Write `what` to the interface file `path` in one `write`.
pub(super) fn write_file(path: &Path, what: &[u8]) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?
        .write_all(what)
}

/// Whether this process is the machine's init: PID 1 of the initial user
/// namespace (whose `uid_map` maps every uid to itself).
pub fn is_machine_init() -> bool {
    std::process::id() == 1
        && read_small(Path::new("/proc/self/uid_map"), 256)
            .is_ok_and(|m| m.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"])
}

/// As the machine's init: mount cgroup2 on /sys/fs/cgroup if no cgroup2
/// is mounted anywhere and the directory exists. A line for the console
/// if something was done or failed.
pub fn mount_if_none() -> Option<String> {
    if !is_machine_init() || !Path::new(find::PREFERRED).is_dir() {
        return None;
    }
    let info = read_small(Path::new("/proc/self/mountinfo"), MOUNTINFO_MAX).ok()?;
    if !find::cgroup2_mounts(&info).is_empty() {
        return None;
    }
    let flags = nix::mount::MsFlags::MS_NOSUID
        | nix::mount::MsFlags::MS_NODEV
        | nix::mount::MsFlags::MS_NOEXEC;
    Some(
        match nix::mount::mount(
            Some("cgroup2"),
            find::PREFERRED,
            Some("cgroup2"),
            flags,
            None::<&str>,
        ) {
            Ok(()) => format!("mounted cgroup2 on {}", find::PREFERRED),
            Err(e) => format!("cannot mount cgroup2 on {}: {}", find::PREFERRED, e.desc()),
        },
    )
}

/// `mkdir`, an existing directory being fine.
pub(super) fn make_dir(dir: &Path) -> std::io::Result<()> {
    match std::fs::create_dir(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(e),
        _ => Ok(()),
    }
}

/// Take the base: find the hierarchy and PID 1's cgroup, refuse the real
/// root (unless the machine's init), make `cinit/` and `svc/`, move PID 1
/// into `cinit/`, enable the controllers for the services. `after_update`:
/// PID 1 may already be in a base's `cinit/` leaf, which is then kept as
/// it is. Returns the base and a line for the console (the controllers
/// enabled), or why there are no cgroups.
pub fn setup(after_update: bool) -> Result<(Base, String), String> {
    let fail = |what: &str, e: std::io::Error| format!("{what}: {e}");
    let info = read_small(Path::new("/proc/self/mountinfo"), MOUNTINFO_MAX)
        .map_err(|e| fail("/proc/self/mountinfo", e))?;
    let mounts = find::cgroup2_mounts(&info);
    let mount = find::pick(&mounts).ok_or("no cgroup2 mounted")?;
    let own_text = read_small(Path::new("/proc/self/cgroup"), SMALL_MAX)
        .map_err(|e| fail("/proc/self/cgroup", e))?;
    let own = find::own_cgroup(&own_text).ok_or("not in a cgroup v2")?;
    let dir = find::directory(mount, own)
        .ok_or_else(|| format!("cgroup {own} is not below {}", mount.point.display()))?;
    let resumed = after_update
        .then(|| find::base_after_update(&dir))
        .flatten()
        .map(Path::to_path_buf);
    let base = match &resumed {
        Some(b) => Base {
            dir: b.clone(),
            path: match own.rsplit_once('/') {
                Some(("", _)) | None => "/".to_string(),
                Some((p, _)) => p.to_string(),
            },
        },
        None => Base {
            dir,
            path: own.to_string(),
        },
    };
    if resumed.is_none() && !base.dir.join("cgroup.events").exists() && !is_machine_init() {
        return Err(format!(
            "{} is the root of the hierarchy, used only by the machine's init",
            base.dir.display()
        ));
    }
    let (own_leaf, services) = (base.dir.join(SELF_LEAF), base.dir.join(SERVICES));
    make_dir(&own_leaf).map_err(|e| fail(&own_leaf.to_string_lossy(), e))?;
    make_dir(&services).map_err(|e| fail(&services.to_string_lossy(), e))?;
    if resumed.is_none() {
        let procs = own_leaf.join("cgroup.procs");
        write_file(&procs, b"0").map_err(|e| fail(&procs.to_string_lossy(), e))?;
    }
    let mut enabled = enable_controllers(&base.dir);
    if !enabled.is_empty() {
        enabled = enable_controllers(&services);
    }
    let note = format!(
        "cgroup v2: services in {}/ (controllers: {})",
        services.display(),
        if enabled.is_empty() { "none" } else { &enabled }
    );
    Ok((base, note))
}

/// Enable for the children of `dir` every controller it has: all at
/// once, else one by one. Returns those enabled, space-separated.
fn enable_controllers(dir: &Path) -> String {
    let Ok(have) = read_small(&dir.join("cgroup.controllers"), SMALL_MAX) else {
        return String::new();
    };
    let control = dir.join("cgroup.subtree_control");
    let all: Vec<String> = have.split_whitespace().map(|c| format!("+{c}")).collect();
    if all.is_empty() || write_file(&control, all.join(" ").as_bytes()).is_ok() {
        return have.split_whitespace().collect::<Vec<_>>().join(" ");
    }
    all.iter()
        .filter(|c| write_file(&control, c.as_bytes()).is_ok())
        .map(|c| c.trim_start_matches('+'))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Write the base's directory (a line) into the file `at` in the control
/// directory, for `cinit-ctl`; `None` removes it (no cgroups). Written to
/// a new file renamed over the old one: a reader sees one or the other.
pub fn publish(at: &Path, base: Option<&Base>) -> std::io::Result<()> {
    let Some(base) = base else {
        return match std::fs::remove_file(at) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
    };
    let tmp = at.with_extension("new");
    let mut line = base.dir.as_os_str().as_encoded_bytes().to_vec();
    line.push(b'\n');
    let _ = std::fs::remove_file(&tmp);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)?
        .write_all(&line)?;
    std::fs::rename(&tmp, at)
}
