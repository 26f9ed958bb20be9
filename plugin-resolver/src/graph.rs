//! Graph algorithms over the resolved plugins: strongly connected components,
//! cycles named in order, load groups and the longest required chain.
//!
//! Everything here works on node indices `0..n`. The caller numbers the
//! selected plugins in name order, so "smallest index" means "first by name"
//! and every tie below is broken by name. No function recurses: an
//! adversarial registry can make the graph as deep as it likes without
//! overflowing the stack.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// A directed graph of `n` nodes; an edge `a -> b` means "a depends on b",
/// so b loads before a.
#[derive(Debug, Clone, Default)]
pub(crate) struct Graph {
    /// Required edges, each list sorted and without duplicates.
    pub(crate) required: Vec<Vec<usize>>,
    /// Optional edges (only to loaded plugins), sorted, without duplicates.
    pub(crate) optional: Vec<Vec<usize>>,
}

impl Graph {
    /// A graph of `n` nodes and no edges.
    pub(crate) fn new(n: usize) -> Self {
        Graph {
            required: vec![Vec::new(); n],
            optional: vec![Vec::new(); n],
        }
    }

    /// Number of nodes.
    pub(crate) fn len(&self) -> usize {
        self.required.len()
    }

    /// Sorts and deduplicates the edge lists; an optional edge that
    /// duplicates a required one is dropped.
    pub(crate) fn normalize(&mut self) {
        for (required, optional) in self.required.iter_mut().zip(self.optional.iter_mut()) {
            required.sort_unstable();
            required.dedup();
            optional.sort_unstable();
            optional.dedup();
            optional.retain(|to| required.binary_search(to).is_err());
        }
    }
}

/// Strongly connected components of `adj` (Tarjan's algorithm, iterative).
///
/// Each component's members are sorted; the components are returned in the
/// order Tarjan finishes them (dependencies before dependents).
pub(crate) fn strongly_connected(adj: &[Vec<usize>]) -> Vec<Vec<usize>> {
    const UNVISITED: usize = usize::MAX;
    let n = adj.len();
    let mut index = vec![UNVISITED; n];
    let mut low = vec![0usize; n];
    let mut on_stack = vec![false; n];
    let mut stack: Vec<usize> = Vec::new();
    let mut components = Vec::new();
    let mut next_index = 0usize;
    // Call stack of (node, position in its adjacency list).
    let mut calls: Vec<(usize, usize)> = Vec::new();
    for start in 0..n {
        if index[start] != UNVISITED {
            continue;
        }
        calls.push((start, 0));
        index[start] = next_index;
        low[start] = next_index;
        next_index += 1;
        stack.push(start);
        on_stack[start] = true;
        while let Some(&mut (node, ref mut pos)) = calls.last_mut() {
            if let Some(&next) = adj[node].get(*pos) {
                *pos += 1;
                if index[next] == UNVISITED {
                    index[next] = next_index;
                    low[next] = next_index;
                    next_index += 1;
                    stack.push(next);
                    on_stack[next] = true;
                    calls.push((next, 0));
                } else if on_stack[next] {
                    low[node] = low[node].min(index[next]);
                }
                continue;
            }
            calls.pop();
            if let Some(&(parent, _)) = calls.last() {
                low[parent] = low[parent].min(low[node]);
            }
            if low[node] == index[node] {
                let mut component = Vec::new();
                while let Some(member) = stack.pop() {
                    on_stack[member] = false;
                    component.push(member);
                    if member == node {
                        break;
                    }
                }
                component.sort_unstable();
                components.push(component);
            }
        }
    }
    components
}

/// The shortest cycle through `start` that stays inside `members` (a sorted
/// strongly connected component), as the list of nodes in edge order starting
/// at `start` (the edge back to `start` is implied). Ties go to the smaller
/// index, so the answer is deterministic. `None` when `start` lies on no
/// cycle inside `members`.
pub(crate) fn shortest_cycle_through(
    adj: &[Vec<usize>],
    members: &[usize],
    start: usize,
) -> Option<Vec<usize>> {
    let inside = |node: usize| members.binary_search(&node).is_ok();
    let mut parent: std::collections::HashMap<usize, usize> = std::collections::HashMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        for &next in &adj[node] {
            if !inside(next) {
                continue;
            }
            if next == start {
                let mut path = vec![node];
                let mut at = node;
                while at != start {
                    at = *parent.get(&at)?;
                    path.push(at);
                }
                path.reverse();
                return Some(path);
            }
            if next != start && !parent.contains_key(&next) {
                parent.insert(next, node);
                queue.push_back(next);
            }
        }
    }
    None
}

/// Cycles that together cover every member of every non-trivial component
/// of `adj`: for each component, the shortest cycle through its first
/// member not yet covered, until all are covered. Sorted by first member.
pub(crate) fn covering_cycles(adj: &[Vec<usize>], components: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let mut cycles = Vec::new();
    for component in components {
        let self_loop = component.len() == 1 && adj[component[0]].contains(&component[0]);
        if component.len() < 2 && !self_loop {
            continue;
        }
        let mut covered = vec![false; component.len()];
        for (i, &start) in component.iter().enumerate() {
            if covered[i] {
                continue;
            }
            let Some(cycle) = shortest_cycle_through(adj, component, start) else {
                continue;
            };
            for member in &cycle {
                if let Ok(at) = component.binary_search(member) {
                    covered[at] = true;
                }
            }
            cycles.push(cycle);
        }
    }
    cycles.sort();
    cycles
}

/// Load groups and what had to give way to find them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Layout {
    /// Groups in load order; members sorted. A group of several members is a
    /// cycle of required edges loaded together.
    pub(crate) groups: Vec<Vec<usize>>,
    /// Optional edges `(from, to)` the order could not respect because they
    /// close a cycle; sorted.
    pub(crate) ignored_optional: Vec<(usize, usize)>,
}

/// Orders the components of the required edges so each comes after all it
/// requires and, where possible, after its optional dependencies; ties are
/// broken by the smallest member.
///
/// Optional edges are added in `(from, to)` order, each only if it does not
/// close a cycle with what is already there; the ones left out are reported.
pub(crate) fn layout(graph: &Graph, components: &[Vec<usize>]) -> Layout {
    let n = graph.len();
    let mut group_of = vec![0usize; n];
    // Number the groups by their smallest member so the heap breaks ties by name.
    let mut groups: Vec<Vec<usize>> = components.to_vec();
    groups.sort_by_key(|members| members.first().copied());
    for (g, members) in groups.iter().enumerate() {
        for &member in members {
            group_of[member] = g;
        }
    }
    let count = groups.len();
    let mut edges: Vec<Vec<usize>> = vec![Vec::new(); count];
    for (from, targets) in graph.required.iter().enumerate() {
        for &to in targets {
            let (gf, gt) = (group_of[from], group_of[to]);
            if gf != gt {
                edges[gf].push(gt);
            }
        }
    }
    for list in &mut edges {
        list.sort_unstable();
        list.dedup();
    }
    let mut optional: Vec<(usize, usize)> = Vec::new();
    for (from, targets) in graph.optional.iter().enumerate() {
        for &to in targets {
            if group_of[from] != group_of[to] {
                optional.push((from, to));
            }
        }
    }
    optional.sort_unstable();

    let mut ignored = Vec::new();
    let mut with_all = edges.clone();
    for &(from, to) in &optional {
        with_all[group_of[from]].push(group_of[to]);
    }
    if !optional.is_empty() {
        for list in &mut with_all {
            list.sort_unstable();
            list.dedup();
        }
    }
    let groups_in_order = |order: Vec<usize>| -> Vec<Vec<usize>> {
        order.into_iter().map(|g| groups[g].clone()).collect()
    };
    let order = match topological(&with_all) {
        Some(order) => order,
        None => {
            let mut edges = edges;
            for &(from, to) in &optional {
                let (gf, gt) = (group_of[from], group_of[to]);
                if edges[gf].contains(&gt) {
                    continue;
                }
                if reaches(&edges, gt, gf) {
                    ignored.push((from, to));
                } else {
                    edges[gf].push(gt);
                }
            }
            for list in &mut edges {
                list.sort_unstable();
                list.dedup();
            }
            topological(&edges).unwrap_or_else(|| (0..count).collect())
        }
    };
    Layout {
        groups: groups_in_order(order),
        ignored_optional: ignored,
    }
}

/// Kahn's algorithm over "depends on" edges (each list sorted, without
/// duplicates): dependencies first, ties to the smallest index. `None` if
/// the edges contain a cycle.
fn topological(edges: &[Vec<usize>]) -> Option<Vec<usize>> {
    let count = edges.len();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); count];
    let mut pending = vec![0usize; count];
    for (from, targets) in edges.iter().enumerate() {
        // Lists are sorted and deduplicated by the caller.
        pending[from] = targets.len();
        for &to in targets {
            dependents[to].push(from);
        }
    }
    let mut ready: BinaryHeap<Reverse<usize>> = (0..count)
        .filter(|&g| pending[g] == 0)
        .map(Reverse)
        .collect();
    let mut order = Vec::with_capacity(count);
    while let Some(Reverse(g)) = ready.pop() {
        order.push(g);
        for &dependent in &dependents[g] {
            pending[dependent] -= 1;
            if pending[dependent] == 0 {
                ready.push(Reverse(dependent));
            }
        }
    }
    (order.len() == count).then_some(order)
}

/// Whether `to` can be reached from `from` along `edges`.
fn reaches(edges: &[Vec<usize>], from: usize, to: usize) -> bool {
    let mut seen = vec![false; edges.len()];
    let mut stack = vec![from];
    while let Some(node) = stack.pop() {
        if node == to {
            return true;
        }
        if std::mem::replace(&mut seen[node], true) {
            continue;
        }
        stack.extend(edges[node].iter().copied().filter(|&next| !seen[next]));
    }
    false
}

/// The longest chain of required edges, counting a cycle's members (one
/// component) as one link, as the nodes from the dependent down to the last
/// dependency; for a component, its smallest member stands in. Ties go to the
/// chain whose first differing node is smaller.
pub(crate) fn longest_chain(graph: &Graph, components: &[Vec<usize>]) -> Vec<usize> {
    let n = graph.len();
    let mut group_of = vec![0usize; n];
    for (g, members) in components.iter().enumerate() {
        for &member in members {
            group_of[member] = g;
        }
    }
    // `components` come from Tarjan: every component after the ones it depends on.
    let mut depth = vec![0usize; components.len()];
    let mut next: Vec<Option<usize>> = vec![None; components.len()];
    for (g, members) in components.iter().enumerate() {
        let mut best: Option<(usize, usize)> = None;
        for &member in members {
            for &to in &graph.required[member] {
                let target = group_of[to];
                if target == g {
                    continue;
                }
                let candidate = (depth[target], target);
                best = match best {
                    None => Some(candidate),
                    Some(current) => {
                        let better = candidate.0 > current.0
                            || (candidate.0 == current.0
                                && components[candidate.1][0] < components[current.1][0]);
                        Some(if better { candidate } else { current })
                    }
                };
            }
        }
        depth[g] = 1 + best.map_or(0, |(d, _)| d);
        next[g] = best.map(|(_, target)| target);
    }
    let Some(mut at) = (0..components.len()).max_by_key(|&g| (depth[g], Reverse(components[g][0])))
    else {
        return Vec::new();
    };
    let mut chain = vec![components[at][0]];
    while let Some(to) = next[at] {
        chain.push(components[to][0]);
        at = to;
    }
    chain
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(n: usize, required: &[(usize, usize)], optional: &[(usize, usize)]) -> Graph {
        let mut g = Graph::new(n);
        for &(a, b) in required {
            g.required[a].push(b);
        }
        for &(a, b) in optional {
            g.optional[a].push(b);
        }
        g.normalize();
        g
    }

    #[test]
    fn components_of_a_dag_are_single_nodes_dependencies_first() {
        let g = graph(3, &[(0, 1), (1, 2)], &[]);
        assert_eq!(
            strongly_connected(&g.required),
            vec![vec![2], vec![1], vec![0]]
        );
    }

    #[test]
    fn components_find_cycles() {
        // 0 -> 1 -> 2 -> 0, 2 -> 3
        let g = graph(4, &[(0, 1), (1, 2), (2, 0), (2, 3)], &[]);
        let components = strongly_connected(&g.required);
        assert_eq!(components, vec![vec![3], vec![0, 1, 2]]);
        assert_eq!(
            covering_cycles(&g.required, &components),
            vec![vec![0, 1, 2]]
        );
    }

    #[test]
    fn cycles_start_at_the_smallest_member_and_follow_the_edges() {
        // 2 -> 0 -> 1 -> 2 written from 0: 0 -> 1 -> 2
        let g = graph(3, &[(2, 0), (0, 1), (1, 2)], &[]);
        let components = strongly_connected(&g.required);
        assert_eq!(
            covering_cycles(&g.required, &components),
            vec![vec![0, 1, 2]]
        );
        // reversed direction: 0 -> 2 -> 1 -> 0
        let g = graph(3, &[(0, 2), (2, 1), (1, 0)], &[]);
        let components = strongly_connected(&g.required);
        assert_eq!(
            covering_cycles(&g.required, &components),
            vec![vec![0, 2, 1]]
        );
    }

    #[test]
    fn a_figure_eight_is_covered_by_two_cycles() {
        // 0 <-> 1 and 1 <-> 2
        let g = graph(3, &[(0, 1), (1, 0), (1, 2), (2, 1)], &[]);
        let components = strongly_connected(&g.required);
        assert_eq!(components, vec![vec![0, 1, 2]]);
        assert_eq!(
            covering_cycles(&g.required, &components),
            vec![vec![0, 1], vec![2, 1]]
        );
    }

    #[test]
    fn layout_orders_dependencies_first_and_ties_by_index() {
        // 0 -> 2, 1 -> 2 ; 3 alone
        let g = graph(4, &[(0, 2), (1, 2)], &[]);
        let components = strongly_connected(&g.required);
        let layout = super::layout(&g, &components);
        assert_eq!(layout.groups, vec![vec![2], vec![0], vec![1], vec![3]]);
    }

    #[test]
    fn layout_respects_optional_edges_when_acyclic() {
        // optional 0 -> 3 puts 3 before 0
        let g = graph(4, &[], &[(0, 3)]);
        let components = strongly_connected(&g.required);
        let layout = super::layout(&g, &components);
        assert_eq!(layout.groups, vec![vec![1], vec![2], vec![3], vec![0]]);
        assert!(layout.ignored_optional.is_empty());
    }

    #[test]
    fn layout_breaks_optional_cycles_deterministically() {
        // required 1 -> 0, optional 0 -> 1 closes a cycle and is ignored.
        let g = graph(2, &[(1, 0)], &[(0, 1)]);
        let components = strongly_connected(&g.required);
        let layout = super::layout(&g, &components);
        assert_eq!(layout.groups, vec![vec![0], vec![1]]);
        assert_eq!(layout.ignored_optional, vec![(0, 1)]);
        // two optional edges in a cycle: the first by (from, to) is kept.
        let g = graph(2, &[], &[(0, 1), (1, 0)]);
        let components = strongly_connected(&g.required);
        let layout = super::layout(&g, &components);
        assert_eq!(layout.groups, vec![vec![1], vec![0]]);
        assert_eq!(layout.ignored_optional, vec![(1, 0)]);
    }

    #[test]
    fn layout_groups_cycle_members() {
        let g = graph(4, &[(0, 1), (1, 0), (2, 0), (3, 2)], &[]);
        let components = strongly_connected(&g.required);
        let layout = super::layout(&g, &components);
        assert_eq!(layout.groups, vec![vec![0, 1], vec![2], vec![3]]);
    }

    #[test]
    fn longest_chain_counts_links() {
        let g = graph(5, &[(0, 1), (1, 2), (3, 2), (4, 0)], &[]);
        let components = strongly_connected(&g.required);
        assert_eq!(longest_chain(&g, &components), vec![4, 0, 1, 2]);
        let empty = Graph::new(0);
        assert!(longest_chain(&empty, &[]).is_empty());
    }

    #[test]
    fn deep_graphs_do_not_overflow_the_stack() {
        let n = 200_000;
        let edges: Vec<(usize, usize)> = (0..n - 1).map(|i| (i, i + 1)).collect();
        let mut g = graph(n, &edges, &[]);
        g.required[n - 1].push(0);
        let components = strongly_connected(&g.required);
        assert_eq!(components.len(), 1);
        let cycles = covering_cycles(&g.required, &components);
        assert_eq!(cycles[0].len(), n);
        let layout = super::layout(&g, &components);
        assert_eq!(layout.groups.len(), 1);
    }
}
