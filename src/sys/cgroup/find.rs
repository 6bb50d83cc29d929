//! Where the cgroup v2 hierarchy is and which cgroup cinit was started in,
//! from the text of `/proc/self/mountinfo` and `/proc/self/cgroup` (pure:
//! no system call, so every case is unit-tested).
//!
//! Invariants: a base is only ever a path below a cgroup2 mount point
//! that `mountinfo` lists; a cgroup path that lies outside what the mount
//! shows (its root field) gives no base rather than a guess; `..` never
//! appears in a base (the kernel never writes one, and one found is
//! refused).

use std::path::{Path, PathBuf};

/// Where cinit mounts cgroup2 as the machine's init, and the mount point
/// it prefers when there are several.
pub const PREFERRED: &str = "/sys/fs/cgroup";
/// A hybrid host's cgroup2 mount (cgroup v1 controllers on
/// `/sys/fs/cgroup`, the v2 hierarchy beside them).
pub const HYBRID: &str = "/sys/fs/cgroup/unified";

/// One cgroup2 mount as `mountinfo` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The directory of the hierarchy shown at the mount point (`/` unless
    /// a subtree was mounted or the mount was made in a cgroup namespace).
    pub root: PathBuf,
    /// Where it is mounted.
    pub point: PathBuf,
}

/// Undo `mountinfo`'s octal escapes (`\040` for a space, `\011`, `\012`,
/// `\134`); a malformed escape is kept as it is.
fn unescape(field: &str) -> PathBuf {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let oct = b.get(i + 1..i + 4).filter(|d| {
            c == b'\\' && d.iter().all(|x| (b'0'..=b'7').contains(x)) && d.first() <= Some(&b'3')
        });
        match oct {
            Some(d) => {
                out.push(d.iter().fold(0u8, |v, x| (v << 3) | (x - b'0')));
                i += 4;
            }
            None => {
                out.push(c);
                i += 1;
            }
        }
    }
    PathBuf::from(std::ffi::OsString::from(
        <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(&out),
    ))
}

/// Every cgroup2 mount in `mountinfo`'s text, in its order.
pub fn cgroup2_mounts(mountinfo: &str) -> Vec<Mount> {
    let mut found = Vec::new();
    for line in mountinfo.lines() {
        let mut fields = line.split(' ');
        let (Some(root), Some(point)) = (fields.nth(3), fields.next()) else {
            continue;
        };
        // Optional fields end at the "-" separator; the type follows.
        if fields.by_ref().any(|f| f == "-") && fields.next() == Some("cgroup2") {
            found.push(Mount {
                root: unescape(root),
                point: unescape(point),
            });
        }
    }
    found
}

/// The mount to use: the one on [`PREFERRED`], else on [`HYBRID`], else
/// the last one listed (a later mount hides an earlier one on the same
/// point, so of two on one point the last is the visible one).
pub fn pick(mounts: &[Mount]) -> Option<&Mount> {
    let on = |p: &str| mounts.iter().rev().find(|m| m.point == Path::new(p));
    on(PREFERRED)
        .or_else(|| on(HYBRID))
        .or_else(|| mounts.last())
}

/// The cgroup v2 path in `/proc/self/cgroup`'s text (the `0::PATH` line),
/// without a trailing ` (deleted)`.
pub fn own_cgroup(text: &str) -> Option<&str> {
    let path = text.lines().find_map(|l| l.strip_prefix("0::"))?;
    let path = path.strip_suffix(" (deleted)").unwrap_or(path);
    path.starts_with('/').then_some(path)
}

/// The directory of cgroup `path` (as `/proc/self/cgroup` names it) below
/// `mount`: its point joined with the part of `path` below the mount's
/// root. `None` if the mount does not show that cgroup, or the path holds
/// `..`.
pub fn directory(mount: &Mount, path: &str) -> Option<PathBuf> {
    let rel = Path::new(path).strip_prefix(&mount.root).ok()?;
    if rel
        .components()
        .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return None;
    }
    Some(mount.point.join(rel))
}

/// The base a hot-updated image carries on with: its own cgroup is the
/// leaf [`super::layout::SELF_LEAF`] its former image moved it into, so
/// the base is that cgroup's parent. `None` if PID 1 is not in such a
/// leaf (the former image had no cgroups).
pub fn base_after_update(own: &Path) -> Option<&Path> {
    if own.file_name()? != super::layout::SELF_LEAF {
        return None;
    }
    own.parent()
}

/// Whether a cgroup's `cgroup.events` text says it holds processes (its
/// own or its descendants'); `None` if the line is missing.
pub fn populated(events: &str) -> Option<bool> {
    events
        .lines()
        .find_map(|l| l.strip_prefix("populated "))
        .map(|v| v.trim() != "0")
}

/// The pids of a `cgroup.procs` text, one a line; anything else, and
/// pids 0 and 1 (never a service's), are skipped.
pub fn pids(procs: &str) -> impl Iterator<Item = i32> + '_ {
    procs
        .lines()
        .filter_map(|l| l.trim().parse::<i32>().ok())
        .filter(|&p| p > 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID_INFO: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
25 22 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 25 0:27 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:10 - cgroup2 cgroup2 rw
42 31 0:39 / /sys/fs/cgroup/memory rw,relatime shared:11 - cgroup cgroup rw,memory
";

    /// A hybrid host: the v2 mount beside v1's, found by its type and not
    /// by the word cgroup (v1's type is `cgroup`).
    #[test]
    fn finds_the_hybrid_mount() {
        let m = cgroup2_mounts(HYBRID_INFO);
        assert_eq!(
            m,
            vec![Mount {
                root: "/".into(),
                point: HYBRID.into()
            }]
        );
        assert_eq!(pick(&m).map(|m| m.point.as_path()), Some(Path::new(HYBRID)));
    }

    /// With several mounts, /sys/fs/cgroup wins, then the hybrid one, then
    /// the last; none without a cgroup2 line; optional fields are skipped.
    #[test]
    fn picks_the_preferred_mount() {
        let info = "\
1 0 0:1 / /mnt/cg rw - cgroup2 none rw
2 0 0:1 / /sys/fs/cgroup rw shared:3 master:2 - cgroup2 cgroup2 rw
3 0 0:1 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
";
        let m = cgroup2_mounts(info);
        assert_eq!(m.len(), 3);
        assert_eq!(pick(&m).unwrap().point, Path::new(PREFERRED));
        assert_eq!(pick(m.get(2..).unwrap()).unwrap().point, Path::new(HYBRID));
        assert_eq!(
            pick(m.get(..1).unwrap()).unwrap().point,
            Path::new("/mnt/cg")
        );
        assert!(pick(&cgroup2_mounts("1 0 0:1 / /x rw - ext4 /dev/x rw\n")).is_none());
        assert!(cgroup2_mounts("garbage\n\n1 2\n").is_empty());
    }

    /// Octal escapes in a mount point are undone.
    #[test]
    fn unescapes_mount_points() {
        let m = cgroup2_mounts("1 0 0:1 / /mnt/a\\040b rw - cgroup2 none rw\n");
        assert_eq!(m.first().unwrap().point, Path::new("/mnt/a b"));
        assert_eq!(unescape("a\\9b\\"), Path::new("a\\9b\\"));
    }

    /// The `0::` line, with or without v1 lines, and ` (deleted)`.
    #[test]
    fn reads_the_own_cgroup() {
        let text = "4:memory:/x\n0::/init.scope\n";
        assert_eq!(own_cgroup(text), Some("/init.scope"));
        assert_eq!(own_cgroup("0::/a (deleted)\n"), Some("/a"));
        assert_eq!(own_cgroup("1:name=systemd:/\n"), None);
        assert_eq!(own_cgroup("0::relative\n"), None);
    }

    /// The mount's root is taken off the cgroup's path; a cgroup the
    /// mount does not show, or a path with `..`, gives no directory.
    #[test]
    fn joins_below_the_mount_root() {
        let whole = Mount {
            root: "/".into(),
            point: HYBRID.into(),
        };
        assert_eq!(
            directory(&whole, "/cinit-test-1"),
            Some(PathBuf::from("/sys/fs/cgroup/unified/cinit-test-1"))
        );
        assert_eq!(directory(&whole, "/"), Some(PathBuf::from(HYBRID)));
        let sub = Mount {
            root: "/lxc/c1".into(),
            point: PREFERRED.into(),
        };
        assert_eq!(
            directory(&sub, "/lxc/c1/init"),
            Some(PathBuf::from("/sys/fs/cgroup/init"))
        );
        assert_eq!(directory(&sub, "/other"), None);
        assert_eq!(directory(&whole, "/a/../b"), None);
    }

    /// After a hot update PID 1 is in BASE/cinit: the base is its parent;
    /// in any other cgroup there is none.
    #[test]
    fn the_base_after_an_update() {
        assert_eq!(
            base_after_update(Path::new("/sys/fs/cgroup/x/cinit")),
            Some(Path::new("/sys/fs/cgroup/x"))
        );
        assert_eq!(base_after_update(Path::new("/sys/fs/cgroup/x")), None);
        assert_eq!(base_after_update(Path::new("/")), None);
    }

    /// `populated` read from `cgroup.events`; pids from `cgroup.procs`
    /// without PID 1 or junk.
    #[test]
    fn reads_events_and_procs() {
        assert_eq!(populated("populated 1\nfrozen 0\n"), Some(true));
        assert_eq!(populated("populated 0\nfrozen 0\n"), Some(false));
        assert_eq!(populated("frozen 0\n"), None);
        let got: Vec<i32> = pids("12\n1\n0\nx\n345\n").collect();
        assert_eq!(got, vec![12, 345]);
    }
}
