//! Dependency-graph analysis: finding cycles, without recursion.
//!
//! Both `needs` and `wants` order a start, so a cycle through either kind of
//! edge can never start. [`find_cycles`] returns one entry per strongly
//! connected component that contains a cycle, with every member and one
//! concrete cycle path for the error message. Iterative (Tarjan's algorithm
//! with an explicit stack), so a 100 000-deep chain cannot overflow the stack.

use std::collections::VecDeque;

/// A set of services that depend on each other in a circle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle {
    /// Every node of the strongly connected component, sorted.
    pub members: Vec<usize>,
    /// One cycle through the smallest member: `[a, b, c]` means a → b → c → a.
    pub path: Vec<usize>,
}

/// Find all cycles in a graph of `edges.len()` nodes. Edges pointing outside
/// the graph are ignored.
pub fn find_cycles(edges: &[Vec<usize>]) -> Vec<Cycle> {
    let n = edges.len();
    const UNSEEN: usize = usize::MAX;
    let mut index = vec![UNSEEN; n];
    let mut low = vec![0usize; n];
    let mut on_stack = vec![false; n];
    let mut stack: Vec<usize> = Vec::new();
    let mut next_index = 0usize;
    let mut cycles = Vec::new();
    // (node, position of the next edge to look at)
    let mut work: Vec<(usize, usize)> = Vec::new();
    // The component being popped, reused: almost every node is one of its
    // own, and only a cycle's members are kept (copied out).
    let mut members: Vec<usize> = Vec::new();

    for start in 0..n {
        if index.get(start) != Some(&UNSEEN) {
            continue;
        }
        work.push((start, 0));
        while let Some(&mut (v, ref mut pos)) = work.last_mut() {
            if *pos == 0 && index.get(v) == Some(&UNSEEN) {
                set(&mut index, v, next_index);
                set(&mut low, v, next_index);
                next_index += 1;
                stack.push(v);
                set(&mut on_stack, v, true);
            }
            let out = edges.get(v).map(Vec::as_slice).unwrap_or(&[]);
            if let Some(&w) = out.get(*pos) {
                *pos += 1;
                if w >= n {
                    continue;
                }
                if get(&index, w) == UNSEEN {
                    work.push((w, 0));
                } else if get(&on_stack, w) {
                    let l = get(&low, v).min(get(&index, w));
                    set(&mut low, v, l);
                }
                continue;
            }
            // All edges of v done.
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                let l = get(&low, parent).min(get(&low, v));
                set(&mut low, parent, l);
            }
            if get(&low, v) == get(&index, v) {
                members.clear();
                while let Some(w) = stack.pop() {
                    set(&mut on_stack, w, false);
                    members.push(w);
                    if w == v {
                        break;
                    }
                }
                let self_loop = out.contains(&v);
                if members.len() > 1 || self_loop {
                    members.sort_unstable();
                    let path = cycle_path(edges, &members);
                    // Kept ordered by smallest member (members are disjoint,
                    // so no two keys are equal).
                    let at =
                        cycles.partition_point(|c: &Cycle| c.members.first() < members.first());
                    cycles.insert(
                        at,
                        Cycle {
                            members: members.clone(),
                            path,
                        },
                    );
                }
            }
        }
    }
    cycles
}

fn get<T: Copy + Default>(v: &[T], i: usize) -> T {
    v.get(i).copied().unwrap_or_default()
}

fn set<T>(v: &mut [T], i: usize, value: T) {
    if let Some(slot) = v.get_mut(i) {
        *slot = value;
    }
}

/// The shortest cycle through the smallest member, staying inside `members`.
fn cycle_path(edges: &[Vec<usize>], members: &[usize]) -> Vec<usize> {
    let Some(&start) = members.first() else {
        return Vec::new();
    };
    // Each member's predecessor on the search, by its position in `members`.
    let slot = |x: usize| members.binary_search(&x).ok();
    let mut pred: Vec<Option<usize>> = vec![None; members.len()];
    let mut queue = VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        for &w in edges.get(v).map(Vec::as_slice).unwrap_or(&[]) {
            if w == start {
                // Walk back from v to start.
                let mut path = vec![v];
                let mut cur = v;
                while cur != start {
                    match slot(cur).and_then(|k| get(&pred, k)) {
                        Some(p) => {
                            path.push(p);
                            cur = p;
                        }
                        None => break,
                    }
                }
                path.reverse();
                return path;
            }
            match slot(w) {
                Some(k) if w != start && get(&pred, k).is_none() => {
                    set(&mut pred, k, Some(v));
                    queue.push_back(w);
                }
                _ => {}
            }
        }
    }
    vec![start]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn acyclic_graph_has_no_cycles() {
        let g = vec![vec![1, 2], vec![2], vec![]];
        assert!(find_cycles(&g).is_empty());
    }

    #[test]
    fn finds_self_loop_and_two_cycles_with_paths() {
        // 0 -> 1 -> 2 -> 0, 3 -> 3, 4 -> 0 (4 depends on the cycle but is not in it)
        let g = vec![vec![1], vec![2], vec![0], vec![3], vec![0]];
        let c = find_cycles(&g);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].members, vec![0, 1, 2]);
        assert_eq!(c[0].path, vec![0, 1, 2]);
        assert_eq!(c[1].members, vec![3]);
        assert_eq!(c[1].path, vec![3]);
    }

    #[test]
    fn path_is_shortest_cycle_through_smallest_member() {
        // 0 -> 1 -> 2 -> 3 -> 0 and a shortcut 1 -> 0
        let g = vec![vec![1], vec![2, 0], vec![3], vec![0]];
        let c = find_cycles(&g);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].members, vec![0, 1, 2, 3]);
        assert_eq!(c[0].path, vec![0, 1]);
    }

    #[test]
    fn deep_chain_does_not_overflow_the_stack() {
        let n = 100_000;
        let mut g: Vec<Vec<usize>> = (0..n).map(|i| vec![i + 1]).collect();
        g[n - 1] = vec![];
        assert!(find_cycles(&g).is_empty());
        g[n - 1] = vec![0];
        let c = find_cycles(&g);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].members.len(), n);
        assert_eq!(c[0].path.len(), n);
    }

    fn graph() -> impl Strategy<Value = Vec<Vec<usize>>> {
        (1usize..12)
            .prop_flat_map(|n| proptest::collection::vec(proptest::collection::vec(0..n, 0..4), n))
    }

    proptest! {
        /// Every reported path is a real cycle made of members, and a node is
        /// reported iff it can reach itself.
        #[test]
        fn cycles_are_real_and_complete(g in graph()) {
            let n = g.len();
            let reach = |from: usize| {
                let mut seen = vec![false; n];
                let mut q: Vec<usize> = g[from].clone();
                while let Some(v) = q.pop() {
                    if !seen[v] { seen[v] = true; q.extend(g[v].iter().copied()); }
                }
                seen
            };
            let cycles = find_cycles(&g);
            let mut reported = vec![false; n];
            for c in &cycles {
                for w in c.path.windows(2) {
                    prop_assert!(g[w[0]].contains(&w[1]));
                }
                let last = *c.path.last().unwrap();
                prop_assert!(g[last].contains(&c.path[0]));
                for &m in &c.members { reported[m] = true; }
            }
            for (v, &was_reported) in reported.iter().enumerate() {
                prop_assert_eq!(was_reported, reach(v)[v]);
            }
        }
    }
}
