//! Where the cgroup v2 hierarchy is and which cgroup cinit was started in,
//! from the text of `/proc/self/mountinfo` and `/proc/self/cgroup` (pure:
//! no system call, so every case is unit-tested).
//!
//! Invariants: a base is only ever a path below a cgroup2 mount point
//! that `mountinfo` lists; a cgroup path that lies outside what the mount
//! shows (its root field) gives no base rather than a guess; `..` never
//! appears in a base (the kernel never writes one, and one found is
//! refused).

/// Where cinit mounts cgroup2 as the machine's init, and the mount point
/// it prefers when there are several.
pub const PREFERRED: &str = "/sys/fs/cgroup";
/// A hybrid host's cgroup2 mount (cgroup v1 controllers on
/// `/sys/fs/cgroup`, the v2 hierarchy beside them).
pub const HYBRID: &str = "/sys/fs/cgroup/unified";

/// One cgroup2 mount as `mountinfo` lists it (borrowed from its text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mount<'a> {
    /// The directory of the hierarchy shown at the mount point (`/` unless
    /// a subtree was mounted or the mount was made in a cgroup namespace).
    pub root: &'a str,
    /// Where it is mounted.
    pub point: &'a str,
}

/// The cgroup2 mount to use among those `mountinfo` lists: the one on
/// [`PREFERRED`], else on [`HYBRID`], else the last one listed (a later
/// mount hides an earlier one on the same point, so of two on one point
/// the last is the visible one). A field with an escape (`\040` for a
/// space) is skipped: no cgroup2 mount point of a real system has one.
pub fn cgroup2_mount(mountinfo: &str) -> Option<Mount<'_>> {
    let mut best: Option<(u8, Mount)> = None;
    for line in mountinfo.lines() {
        let mut fields = line.split(' ');
        let (Some(root), Some(point)) = (fields.nth(3), fields.next()) else {
            continue;
        };
        // Optional fields end at the "-" separator; the type follows.
        if !(fields.by_ref().any(|f| f == "-") && fields.next() == Some("cgroup2"))
            || root.contains('\\')
            || point.contains('\\')
        {
            continue;
        }
        let rank = match point {
            PREFERRED => 2,
            HYBRID => 1,
            _ => 0,
        };
        if best.is_none_or(|(r, _)| rank >= r) {
            best = Some((rank, Mount { root, point }));
        }
    }
    best.map(|(_, m)| m)
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
/// `..` or `.`.
pub fn directory(mount: &Mount, path: &str) -> Option<String> {
    let rel = path.strip_prefix(mount.root.trim_end_matches('/'))?;
    let below = rel.is_empty() || rel.starts_with('/');
    if !below || rel.split('/').any(|c| c == ".." || c == ".") {
        return None;
    }
    let mut dir = mount.point.trim_end_matches('/').to_string();
    dir.push_str(rel.trim_end_matches('/'));
    Some(dir)
}

/// The base a hot-updated image carries on with: its own cgroup `own` (a
/// `/proc/self/cgroup` path) is the leaf [`super::layout::SELF_LEAF`] its
/// former image moved it into, so the base is that cgroup's parent (as a
/// path of the same kind). `None` if PID 1 is not in such a leaf (the
/// former image had no cgroups).
pub fn base_after_update(own: &str) -> Option<&str> {
    let parent = own
        .strip_suffix(super::layout::SELF_LEAF)?
        .strip_suffix('/')?;
    Some(if parent.is_empty() { "/" } else { parent })
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
        assert_eq!(
            cgroup2_mount(HYBRID_INFO),
            Some(Mount {
                root: "/",
                point: HYBRID
            })
        );
    }

    /// With several mounts, /sys/fs/cgroup wins, then the hybrid one, then
    /// the last; none without a cgroup2 line; optional fields are skipped;
    /// a mount point with an escape is skipped, not misread.
    #[test]
    fn picks_the_preferred_mount() {
        let (a, b, c) = (
            "1 0 0:1 / /mnt/cg rw - cgroup2 none rw\n",
            "2 0 0:1 / /sys/fs/cgroup rw shared:3 master:2 - cgroup2 cgroup2 rw\n",
            "3 0 0:1 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n",
        );
        let point = |t: &str| cgroup2_mount(t).map(|m| m.point.to_string());
        assert_eq!(point(&[a, b, c].concat()).as_deref(), Some(PREFERRED));
        assert_eq!(point(&[c, a].concat()).as_deref(), Some(HYBRID));
        assert_eq!(
            point(&[a, "4 0 0:1 / /x rw - cgroup2 n rw\n"].concat()).as_deref(),
            Some("/x")
        );
        assert_eq!(point("1 0 0:1 / /x rw - ext4 /dev/x rw\n"), None);
        assert_eq!(point("garbage\n\n1 2\n"), None);
        assert_eq!(point("1 0 0:1 / /mnt/a\\040b rw - cgroup2 none rw\n"), None);
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
            root: "/",
            point: HYBRID,
        };
        assert_eq!(
            directory(&whole, "/cinit-test-1"),
            Some("/sys/fs/cgroup/unified/cinit-test-1".to_string())
        );
        assert_eq!(directory(&whole, "/").as_deref(), Some(HYBRID));
        let sub = Mount {
            root: "/lxc/c1",
            point: PREFERRED,
        };
        assert_eq!(
            directory(&sub, "/lxc/c1/init"),
            Some("/sys/fs/cgroup/init".to_string())
        );
        assert_eq!(directory(&sub, "/other"), None);
        assert_eq!(directory(&whole, "/a/../b"), None);
        assert_eq!(directory(&sub, "/lxc/c10"), None);
    }

    /// After a hot update PID 1 is in BASE/cinit: the base is its parent;
    /// in any other cgroup there is none.
    #[test]
    fn the_base_after_an_update() {
        assert_eq!(base_after_update("/x/cinit"), Some("/x"));
        assert_eq!(base_after_update("/cinit"), Some("/"));
        assert_eq!(base_after_update("/x/notcinit"), None);
        assert_eq!(base_after_update("/x"), None);
        assert_eq!(base_after_update("/"), None);
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
