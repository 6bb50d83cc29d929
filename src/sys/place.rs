//! Putting a child's extra descriptors where they belong: the order of the
//! `dup2`s that copy each `(source, target)` pair of
//! [`crate::sys::spawn::ChildFds::extra`]. Pure: a plan of steps, which
//! [`crate::sys::spawn`] turns into `posix_spawn` file actions.
//!
//! Applied in the given order, `dup2(source, target)` goes wrong as soon as
//! a target is also a later pair's source: that source is overwritten
//! before it is copied (sources 5, 3 to targets 3, 4 give 4 the copy of 5).
//! With up to 16 sockets and held descriptors placed at 3, 4, 5 …, cinit's
//! own descriptors often carry those very numbers. This is the parallel
//! move problem, solved as compilers do:
//!
//! 1. A pair already in place (`source == target`) is a `dup2` onto itself,
//!    which only clears close-on-exec; nothing else writes to that number
//!    (targets are unique), so it is done first.
//! 2. Then, repeatedly, any move whose target no pending move still reads
//!    from is done. Chains resolve from their ends.
//! 3. When none is left, the pending moves form cycles (every target is
//!    still to be read). One target's descriptor is saved at a free number
//!    (the lowest ≥ 3 that no pair uses), the moves that read it read the
//!    copy instead, and step 2 goes on. Each saved copy is closed at the
//!    end (a `dup2` copy is not close-on-exec).
//!
//! Invariants: every target ends up with a copy of its own pair's source,
//! not close-on-exec; no other descriptor is left without close-on-exec
//! (the saved copies are closed; cinit's own descriptors are all
//! close-on-exec when it spawns); a saved copy never lands on a source or
//! target. At most `2 × pairs` steps. Invalid input (a target or source
//! below 3, two pairs with one target) is EINVAL before anything is done.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// One file action in the child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `dup2(from, to)`.
    Dup2(RawFd, RawFd),
    Close(RawFd),
}

/// The steps that give a child each pair's source at its target. Sources
/// and targets must be ≥ 3 (0–2 are placed first, as stdio) and targets
/// unique, else EINVAL.
pub fn plan(pairs: &[(RawFd, RawFd)]) -> Result<Vec<Step>, i32> {
    for (k, &(source, target)) in pairs.iter().enumerate() {
        if source < 3 || target < 3 || pairs.iter().skip(k + 1).any(|p| p.1 == target) {
            return Err(libc::EINVAL);
        }
    }
    let mut steps = Vec::with_capacity(2 * pairs.len());
    let mut pending: Vec<(RawFd, RawFd)> = Vec::with_capacity(pairs.len());
    for &(source, target) in pairs {
        if source == target {
            steps.push(Step::Dup2(source, target));
        } else {
            pending.push((source, target));
        }
    }
    let mut saved: Vec<RawFd> = Vec::new();
    // Each round does a move or breaks a cycle, which frees a move for the
    // next round: 2 × pending rounds always suffice.
    for _ in 0..2 * pending.len() {
        if pending.is_empty() {
            break;
        }
        let free = pending
            .iter()
            .position(|&(_, target)| !pending.iter().any(|&(source, _)| source == target));
        match free {
            Some(k) => {
                let (source, target) = pending.remove(k);
                steps.push(Step::Dup2(source, target));
            }
            None => {
                let Some(&(_, target)) = pending.first() else {
                    break;
                };
                let spare = (3..=RawFd::MAX)
                    .find(|&n| !pairs.iter().any(|&(s, t)| s == n || t == n) && !saved.contains(&n))
                    .ok_or(libc::EMFILE)?;
                steps.push(Step::Dup2(target, spare));
                for p in pending.iter_mut().filter(|p| p.0 == target) {
                    p.0 = spare;
                }
                saved.push(spare);
            }
        }
    }
    if !pending.is_empty() {
        return Err(libc::EINVAL); // cannot happen, see the round count
    }
    steps.extend(saved.into_iter().map(Step::Close));
    Ok(steps)
}

/// Move an fd to a number ≥ 3, so that dup2 onto 0–2 never meets itself.
pub fn above_stdio(fd: OwnedFd) -> nix::Result<OwnedFd> {
    if fd.as_raw_fd() >= 3 {
        return Ok(fd);
    }
    let raw = nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(3))?;
    // SAFETY: F_DUPFD_CLOEXEC returned a new descriptor that nothing else owns.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// A child's descriptor table: number → (the file it refers to,
    /// close-on-exec).
    type Table = BTreeMap<RawFd, (i32, bool)>;

    /// The table after `steps`, starting from every source open at its
    /// own number (file = that number) and cinit's other descriptors at
    /// `others`, all close-on-exec. Err if a step reads a closed one.
    fn run(pairs: &[(RawFd, RawFd)], others: &[RawFd], steps: &[Step]) -> Result<Table, String> {
        let mut t: Table = BTreeMap::new();
        for &o in others {
            t.insert(o, (1000 + o, true));
        }
        for &(s, _) in pairs {
            t.insert(s, (s, true));
        }
        for step in steps {
            match *step {
                Step::Dup2(a, b) => {
                    let (file, _) = *t.get(&a).ok_or(format!("dup2 reads closed {a}"))?;
                    t.insert(b, (file, false));
                }
                Step::Close(a) => {
                    t.remove(&a).ok_or(format!("closes closed {a}"))?;
                }
            }
        }
        Ok(t)
    }

    /// What the child has after exec: the descriptors without close-on-exec.
    fn after_exec(t: &Table) -> BTreeMap<RawFd, i32> {
        t.iter()
            .filter(|(_, (_, cloexec))| !cloexec)
            .map(|(&n, &(f, _))| (n, f))
            .collect()
    }

    fn wanted(pairs: &[(RawFd, RawFd)]) -> BTreeMap<RawFd, i32> {
        pairs.iter().map(|&(s, t)| (t, s)).collect()
    }

    #[test]
    fn in_order_when_nothing_collides() {
        let pairs = [(10, 3), (11, 4), (12, 5)];
        assert_eq!(
            plan(&pairs).unwrap(),
            [Step::Dup2(10, 3), Step::Dup2(11, 4), Step::Dup2(12, 5)]
        );
    }

    #[test]
    fn a_source_numbered_like_an_earlier_target_is_copied_first() {
        // The example: given in order, 3 would be overwritten by 5 first.
        let pairs = [(5, 3), (3, 4)];
        let steps = plan(&pairs).unwrap();
        assert_eq!(steps, [Step::Dup2(3, 4), Step::Dup2(5, 3)]);
        assert_eq!(
            after_exec(&run(&pairs, &[], &steps).unwrap()),
            wanted(&pairs)
        );
    }

    #[test]
    fn a_swap_goes_through_one_spare_number_which_is_closed() {
        let pairs = [(3, 4), (4, 3)];
        let steps = plan(&pairs).unwrap();
        assert_eq!(
            steps,
            [
                Step::Dup2(4, 5),
                Step::Dup2(3, 4),
                Step::Dup2(5, 3),
                Step::Close(5)
            ]
        );
        assert_eq!(
            after_exec(&run(&pairs, &[5], &steps).unwrap()),
            wanted(&pairs)
        );
    }

    #[test]
    fn in_place_pairs_only_clear_close_on_exec() {
        let pairs = [(7, 7), (7, 3)];
        let steps = plan(&pairs).unwrap();
        assert_eq!(steps, [Step::Dup2(7, 7), Step::Dup2(7, 3)]);
    }

    #[test]
    fn invalid_pairs_are_einval() {
        assert_eq!(
            plan(&[(5, 3), (6, 3)]),
            Err(libc::EINVAL),
            "one target twice"
        );
        assert_eq!(plan(&[(5, 2)]), Err(libc::EINVAL), "a stdio target");
        assert_eq!(plan(&[(1, 5)]), Err(libc::EINVAL), "a stdio source");
        assert_eq!(plan(&[(-1, 5)]), Err(libc::EINVAL));
        assert_eq!(plan(&[]), Ok(vec![]));
    }

    proptest! {
        /// Any set of pairs (sources repeating, numbers crowded so that
        /// they collide and form cycles) is placed exactly: each target
        /// holds its source's file, nothing else survives the exec, spare
        /// copies land on no source or target, and the plan is short.
        #[test]
        fn every_placement_is_exact(
            raw in proptest::collection::vec((3..14 as RawFd, 3..14 as RawFd), 0..12),
            others in proptest::collection::vec(3..20 as RawFd, 0..8),
        ) {
            let mut pairs: Vec<(RawFd, RawFd)> = Vec::new();
            for (s, t) in raw {
                if !pairs.iter().any(|p| p.1 == t) {
                    pairs.push((s, t));
                }
            }
            let steps = plan(&pairs).unwrap();
            prop_assert!(steps.len() <= 2 * pairs.len());
            let table = run(&pairs, &others, &steps).map_err(TestCaseError::fail)?;
            prop_assert_eq!(after_exec(&table), wanted(&pairs));
            for step in &steps {
                if let Step::Close(n) = step {
                    prop_assert!(!pairs.iter().any(|&(s, t)| s == *n || t == *n));
                }
            }
        }
    }
}
