//! Loading a tree from many roots at once, in work linear in the tree.
//!
//! `cinit-ctl check` makes every service directory a root, so a tree of
//! 10 000 services is 10 000 roots. [`Tree::add_root`] searches the whole
//! tree for cycles and forgets what it learnt about the file system after
//! each root, which is quadratic when repeated per root. [`load`] reads
//! every root first, then searches for cycles once and forgets once.
//!
//! Invariant: the problems come out exactly as if each root had been added
//! with [`Tree::add_root`] in turn, same text and same order. That holds
//! because a cycle's members reach one another through the edges the
//! loader follows, so all of them are read during the same root's load,
//! and their indices lie in that root's range; [`find_cycles`] orders the
//! cycles by their smallest member, so they are grouped by root, in root
//! order. Each root's cycle problems go back after that root's other
//! problems ([`interleave`]).
//!
//! [`find_cycles`]: crate::engine::graph::find_cycles

use std::path::{Path, PathBuf};

use super::{Problem, Tree};

/// Load the services reachable from `roots` (paths, usually inside `svc_root`).
pub fn load(svc_root: &Path, roots: &[PathBuf]) -> Tree {
    let mut tree = Tree::new(svc_root);
    // After each root: how many services were loaded, how many problems found.
    let mut marks = Vec::with_capacity(roots.len());
    for root in roots {
        if let Some(i) = tree.read_root(root) {
            tree.roots.push(i);
        }
        marks.push(Mark {
            nodes: tree.len(),
            problems: tree.problems.len(),
        });
    }
    let cycles = tree.mark_cycles();
    let problems = std::mem::take(&mut tree.problems);
    tree.problems = interleave(problems, cycles, &marks);
    tree.end_load();
    tree
}

/// The tree's size right after one root was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mark {
    nodes: usize,
    problems: usize,
}

/// `problems` (found while reading, root after root) with each cycle
/// problem (the smallest member of its cycle, the problem; ordered by that
/// member) placed after the problems of the root whose load read that
/// member: where a search after each root would have put it.
fn interleave(
    problems: Vec<Problem>,
    cycles: Vec<(usize, Problem)>,
    marks: &[Mark],
) -> Vec<Problem> {
    let mut out = Vec::with_capacity(problems.len() + cycles.len());
    let mut rest = problems.into_iter();
    let mut cycles = cycles.into_iter().peekable();
    let mut taken = 0;
    for mark in marks {
        out.extend(rest.by_ref().take(mark.problems.saturating_sub(taken)));
        taken = taken.max(mark.problems);
        while let Some((_, p)) = cycles.next_if(|(first, _)| *first < mark.nodes) {
            out.push(p);
        }
    }
    out.extend(rest);
    out.extend(cycles.map(|(_, p)| p));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    fn problem(reason: &str) -> Problem {
        Problem {
            service: "s".into(),
            file: PathBuf::from("/f"),
            reason: reason.into(),
        }
    }

    fn reasons(ps: &[Problem]) -> Vec<&str> {
        ps.iter().map(|p| p.reason.as_str()).collect()
    }

    /// Each cycle problem lands after the reading problems of the root
    /// whose range holds its smallest member, before the next root's.
    #[test]
    fn cycle_problems_go_back_after_their_roots_problems() {
        let marks = [
            Mark {
                nodes: 3,
                problems: 1,
            },
            Mark {
                nodes: 3,
                problems: 2,
            },
            Mark {
                nodes: 7,
                problems: 4,
            },
        ];
        let read = vec![problem("r0"), problem("r1"), problem("r2a"), problem("r2b")];
        let cycles = vec![(1, problem("c1")), (1, problem("c1'")), (4, problem("c4"))];
        assert_eq!(
            reasons(&interleave(read, cycles, &marks)),
            ["r0", "c1", "c1'", "r1", "r2a", "r2b", "c4"]
        );
    }

    fn mk(svc: &Path, name: &str) {
        fs::create_dir_all(svc.join(name)).unwrap();
    }

    fn link(svc: &Path, from: &str, kind: &str, to: &str) {
        let d = svc.join(from).join(kind);
        fs::create_dir_all(&d).unwrap();
        symlink(svc.join(to), d.join(to)).unwrap();
    }

    /// A tree with cycles and bad files reached from several roots: the
    /// services, their marks and every problem (text and order) are the
    /// same whether the roots are loaded at once or one by one with
    /// `add_root`, which searches for cycles after each.
    #[test]
    fn loading_roots_at_once_reports_as_adding_them_one_by_one() {
        let t = tempfile::tempdir().unwrap();
        let svc = t.path().join("svc");
        for s in ["a", "b", "c", "d", "e", "f", "g", "h"] {
            mk(&svc, s);
        }
        // a -> b -> a; d -> e -> f -> d (d also reaches a's cycle); g alone.
        link(&svc, "a", "needs", "b");
        link(&svc, "b", "wants", "a");
        link(&svc, "d", "needs", "e");
        link(&svc, "e", "needs", "f");
        link(&svc, "f", "wants", "d");
        link(&svc, "d", "wants", "a");
        link(&svc, "h", "needs", "h");
        fs::write(svc.join("a/delay"), "soon").unwrap();
        fs::write(svc.join("e/delay"), "later").unwrap();
        fs::write(svc.join("g/delay"), "never").unwrap();
        let roots: Vec<PathBuf> = ["c", "a", "missing", "d", "b", "g", "h"]
            .iter()
            .map(|r| svc.join(r))
            .collect();

        let at_once = load(&svc, &roots);
        let mut one_by_one = Tree::new(&svc);
        for root in &roots {
            if let Some(i) = one_by_one.add_root(root) {
                one_by_one.roots.push(i);
            }
        }
        let text = |t: &Tree| -> Vec<String> { t.problems.iter().map(|p| p.to_string()).collect() };
        assert_eq!(text(&at_once), text(&one_by_one));
        assert_eq!(at_once.roots, one_by_one.roots);
        assert_eq!(at_once.dirs, one_by_one.dirs);
        let broken = |t: &Tree| -> Vec<_> { t.nodes.iter().map(|n| n.broken.clone()).collect() };
        assert_eq!(broken(&at_once), broken(&one_by_one));
        // The tree is what the test means it to be: three cycles, six members.
        let cycles = text(&at_once)
            .iter()
            .filter(|p| p.contains("dependency cycle"))
            .count();
        assert_eq!(cycles, 6, "{:#?}", text(&at_once));
    }

    /// `cinit-ctl check` of N services is N roots: the whole tree is
    /// searched for cycles once per load, not once per root (which made
    /// the check quadratic in the number of services).
    #[test]
    fn many_roots_are_searched_for_cycles_once() {
        let t = tempfile::tempdir().unwrap();
        let svc = t.path().join("svc");
        let n = 300;
        for i in 0..n {
            mk(&svc, &format!("s{i}"));
        }
        for i in 1..n {
            link(&svc, &format!("s{i}"), "needs", &format!("s{}", i - 1));
        }
        let roots: Vec<PathBuf> = (0..n).map(|i| svc.join(format!("s{i}"))).collect();
        let tree = load(&svc, &roots);
        assert_eq!(tree.nodes.len(), n);
        assert_eq!(tree.roots.len(), n);
        assert!(tree.problems.is_empty(), "{:?}", tree.problems);
        assert_eq!(tree.cycle_searches, 1);
    }
}
