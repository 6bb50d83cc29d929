//! Where cinit's cgroups are, below the base it chose at boot (pure: no
//! system call).
//!
//! ```text
//! BASE/                  the cgroup cinit was started in, or the root it mounted
//! BASE/cinit/            cinit's own process (a leaf: the no-internal-process rule)
//! BASE/svc/              the parent of every service's cgroup
//! BASE/svc/NAME/         one service: `on`, `off` and all they fork
//! ```
//!
//! Service names are paths (`net/dhcp`), and a cgroup with children cannot
//! hold processes once a controller is enabled for them, so every service
//! is a leaf directly under `svc/` and its name is escaped into one path
//! component ([`leaf_name`]): `%` as `%25`, `/` as `%2f`, `.` as `%2e`.
//! The mapping is one to one, and an escaped name has no `.`, so it never
//! meets an interface file of the kernel's (`cgroup.procs`, `memory.max`:
//! all of them have one). A name longer than [`MAX_LEAF`] bytes once
//! escaped keeps its first part and ends in `%` and a hash of the whole
//! name: still one name per service, within the kernel's 255 bytes.

use std::path::{Path, PathBuf};

/// The leaf holding cinit's own process.
pub const SELF_LEAF: &str = "cinit";
/// The cgroup under which every service's cgroup is.
pub const SERVICES: &str = "svc";
/// The file in the control directory that holds the base's path (a line),
/// for `cinit-ctl` to find a service's cgroup; absent without cgroups.
pub const BASE_FILE: &str = "cgroup";
/// The longest name of a cgroup (the kernel's `NAME_MAX`).
pub const MAX_LEAF: usize = 255;

/// Bytes of the escaped name kept before the hash of a long one.
const KEEP: usize = MAX_LEAF - 1 - 16;

/// The one path component of service `name`'s cgroup.
pub fn leaf_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '%' => out.push_str("%25"),
            '/' => out.push_str("%2f"),
            '.' => out.push_str("%2e"),
            c => out.push(c),
        }
    }
    if out.len() <= MAX_LEAF {
        return out;
    }
    let mut cut = KEEP;
    while !out.is_char_boundary(cut) {
        cut -= 1;
    }
    out.truncate(cut);
    // FNV-1a, 64 bits: stable across releases, as a hot update needs.
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    out.push('%');
    out.push_str(&format!("{hash:016x}"));
    out
}

/// The cgroup of service `name` below `base`.
pub fn service_cgroup(base: &Path, name: &str) -> PathBuf {
    base.join(SERVICES).join(leaf_name(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plain names stay readable; `/`, `.` and `%` are escaped.
    #[test]
    fn escapes_what_a_component_cannot_hold() {
        assert_eq!(leaf_name("getty"), "getty");
        assert_eq!(leaf_name("net/dhcp"), "net%2fdhcp");
        assert_eq!(leaf_name("memory.max"), "memory%2emax");
        assert_eq!(leaf_name("a%2fb"), "a%252fb");
        assert_eq!(
            service_cgroup(Path::new("/sys/fs/cgroup"), "a/b"),
            Path::new("/sys/fs/cgroup/svc/a%2fb")
        );
    }

    /// Two names that differ only where the escaping could confuse them
    /// map to two cgroups, and no escaped name has a `.` or `/`.
    #[test]
    fn the_mapping_is_one_to_one() {
        let names = ["a/b", "a%2fb", "a.b", "a%2eb", "a%b", "a%25b", "%", "%25"];
        let mut seen = std::collections::HashSet::new();
        for n in names {
            let l = leaf_name(n);
            assert!(!l.contains('/') && !l.contains('.'), "{l}");
            assert!(seen.insert(l), "{n} collides");
        }
    }

    /// A long name fits the kernel's 255 bytes and stays distinct from
    /// another long name with the same beginning.
    #[test]
    fn long_names_are_cut_and_hashed() {
        let a = format!("{}a", "x/".repeat(200));
        let b = format!("{}b", "x/".repeat(200));
        let (la, lb) = (leaf_name(&a), leaf_name(&b));
        assert!(la.len() <= MAX_LEAF && lb.len() <= MAX_LEAF);
        assert_ne!(la, lb);
        let multibyte = "é".repeat(200);
        assert!(leaf_name(&multibyte).len() <= MAX_LEAF);
    }
}
