//! cinit: a minimal, static init system for Linux.
//!
//! The crate is a house of rooms, one folder each; each room's `mod.rs`
//! says what it owns and what it may import (doc/DESIGN.md draws the
//! picture). From the bottom up:
//!
//! - [`engine`]: the pure supervision state machine, the dependency graph,
//!   the service states and the shared small types (`Millis`, `Pid`);
//!   [`proto`]: the wire codec and every control message, shared with the
//!   CLI; [`sys`]: the syscall seam and its real implementation.
//! - [`config`]: the service tree and settings; [`ready`]: readiness pipes
//!   and probes; [`fds`]: listening sockets and the fd store; [`logs`]:
//!   service output and cinit's own messages; [`control`]: the control
//!   socket and command handling; [`update`]: the hot-update snapshot and
//!   re-exec.
//! - [`daemon`]: boot and the one event loop of PID 1; [`ctl`]: the client,
//!   `cinit-ctl`.
//!
//! Daemon code must not panic: `unwrap`, `expect`, `panic!` and indexing are
//! denied by the lint table in `Cargo.toml`; tests opt out locally.

pub mod config;
pub mod control;
pub mod ctl;
pub mod daemon;
pub mod engine;
pub mod fds;
pub mod logs;
pub mod proto;
pub mod ready;
pub mod sys;
pub mod update;

/// A hash map with fixed keys. Its keys are service paths from root's
/// configuration and pids from the kernel, so random keys would buy nothing,
/// and they would cost every binary `getrandom` and its error path.
pub(crate) type HashMap<K, V> = std::collections::HashMap<K, V, FixedHasher>;
/// SipHash with zero keys.
pub(crate) type FixedHasher = std::hash::BuildHasherDefault<std::hash::DefaultHasher>;

/// A hash map for keys that only root's service tree supplies (paths and
/// names read from the tree, or hashes of them): hashed by [`TreeHasher`].
pub(crate) type TreeMap<K, V> = std::collections::HashMap<K, V, TreeHash>;
/// A hash set as [`TreeMap`].
pub(crate) type TreeSet<K> = std::collections::HashSet<K, TreeHash>;
/// Builds [`TreeHasher`]s.
pub(crate) type TreeHash = std::hash::BuildHasherDefault<TreeHasher>;

/// A fast, unkeyed hash (an Fx-style multiply-rotate over 8-byte words and
/// a final mix), for maps whose keys come from root's service tree. SipHash
/// resists keys chosen to collide, but only root writes the tree (a user
/// who can write there already controls PID 1), so flooding such a map is
/// no threat; SipHash was about a fifth of PID 1's instructions in loading
/// a tree. Maps with other keys keep [`FixedHasher`].
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct TreeHasher(u64);

/// The multiplier of the rotate-multiply step (rustc's FxHash).
const TREE_HASH_K: u64 = 0x517c_c1b7_2722_0a95;

impl TreeHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(TREE_HASH_K);
    }
}

impl std::hash::Hasher for TreeHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            let mut b = [0u8; 8];
            b.copy_from_slice(w);
            self.add(u64::from_le_bytes(b));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            for (d, s) in b.iter_mut().zip(rest) {
                *d = *s;
            }
            // The length tells `ab\0` from `ab`.
            self.add(u64::from_le_bytes(b) ^ ((rest.len() as u64) << 59));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    /// The state mixed (murmur3's finaliser) so every bit of the key
    /// reaches the low bits (the bucket) and the top seven (the tag the
    /// table compares first): the multiply alone leaves the low bits
    /// depending only on the low bits of the last word.
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// The build id, from `CINIT_BUILD_ID` at compile time (the Makefile sets
/// it from `git describe`); empty when built without it.
pub const BUILD_ID: &str = match option_env!("CINIT_BUILD_ID") {
    Some(id) => id,
    None => "",
};

/// The version shown to users: `0.1.0`, or `0.1.0 (BUILD_ID)`.
pub fn version() -> String {
    let v = env!("CARGO_PKG_VERSION");
    if BUILD_ID.is_empty() {
        v.to_string()
    } else {
        format!("{v} ({BUILD_ID})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Keys that differ only in their length (trailing zeros), in one byte
    /// of a word or in the order of their words hash differently; a
    /// thousand service paths spread over the low bits (the bucket) and the
    /// top seven (the tag) as a good hash does: no bucket of 1024 holds
    /// more than a handful, and the tags take most of their 128 values.
    /// The hash of `b` written alone (no length prefix, which `Hash` for a
    /// slice adds), so the tests see what the hasher itself does.
    fn write_only(b: &[u8]) -> u64 {
        let mut s = TreeHasher::default();
        std::hash::Hasher::write(&mut s, b);
        std::hash::Hasher::finish(&s)
    }

    #[test]
    fn tree_hash_tells_keys_apart_and_spreads_service_paths() {
        let h = write_only;
        assert_ne!(h(b"ab"), h(b"ab\0"));
        assert_ne!(h(b"abcdefgh"), h(b"abcdefgh\0"));
        assert_ne!(h(b"/svc/s0001/on"), h(b"/svc/s0002/on"));
        assert_ne!(h(b"aaaaaaaabbbbbbbb"), h(b"bbbbbbbbaaaaaaaa"));
        let mut buckets = vec![0u32; 1024];
        let mut tags = std::collections::BTreeSet::new();
        for i in 0..1000 {
            let v = h(format!("/etc/cinit/svc/s{i:04}").as_bytes());
            buckets[(v & 1023) as usize] += 1;
            tags.insert(v >> 57);
        }
        assert!(
            buckets.iter().all(|&n| n <= 7),
            "{:?}",
            buckets.iter().max()
        );
        assert!(tags.len() >= 100, "{}", tags.len());
    }

    proptest! {
        /// Every byte of a key counts, in whole words and in the tail, and
        /// so does its length: changing one byte or adding a zero byte
        /// changes the hash (a chance collision of 64 bits aside).
        #[test]
        fn tree_hash_sees_every_byte_and_the_length(
            key in proptest::collection::vec(any::<u8>(), 1..40),
            at in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let h = write_only;
            let mut changed = key.clone();
            changed[at.index(key.len())] ^= flip;
            prop_assert_ne!(h(&key), h(&changed));
            let mut longer = key.clone();
            longer.push(0);
            prop_assert_ne!(h(&key), h(&longer));
        }
    }
}
