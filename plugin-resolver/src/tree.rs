//! PubGrub's derivation tree, moved into an arena so nothing that walks it
//! recurses: an adversarial registry (a chain of 100,000 plugins) makes a
//! tree deep enough to overflow the stack of a recursive walk, or of the
//! recursive `Drop` of pubgrub's `Arc` tree.

use std::collections::HashMap;
use std::sync::Arc;

use plugin_version::VersionRanges;
use pubgrub::{DerivationTree, External, Term};

use crate::provider::Pkg;

/// pubgrub's tree with our types.
pub(crate) type PgTree = DerivationTree<Pkg, VersionRanges, String>;
/// pubgrub's external incompatibility with our types.
pub(crate) type Ext = External<Pkg, VersionRanges, String>;

/// One incompatibility of the tree.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    /// A fact from outside the solver: a dependency, a missing version.
    External(Box<Ext>),
    /// A conclusion from two earlier incompatibilities.
    Derived {
        terms: Vec<(Pkg, Term<VersionRanges>)>,
        /// Set when the conclusion is used more than once.
        shared: Option<usize>,
        causes: [usize; 2],
    },
}

/// The derivation tree in an arena; every node's causes come before it.
#[derive(Debug, Clone)]
pub(crate) struct Tree {
    pub(crate) nodes: Vec<Node>,
    pub(crate) root: usize,
}

impl Tree {
    /// Moves pubgrub's tree into an arena (keeping shared nodes shared), and
    /// takes the `Arc` tree apart without recursion.
    pub(crate) fn from_pubgrub(tree: PgTree) -> Tree {
        let mut nodes = Vec::new();
        let mut seen: HashMap<*const PgTree, usize> = HashMap::new();
        let mut stack: Vec<(&PgTree, bool)> = vec![(&tree, false)];
        while let Some((current, expanded)) = stack.pop() {
            let key: *const PgTree = current;
            if seen.contains_key(&key) {
                continue;
            }
            match current {
                DerivationTree::External(external) => {
                    seen.insert(key, nodes.len());
                    nodes.push(Node::External(Box::new(external.clone())));
                }
                DerivationTree::Derived(derived) => {
                    let first: &PgTree = &derived.cause1;
                    let second: &PgTree = &derived.cause2;
                    if !expanded {
                        stack.push((current, true));
                        stack.push((second, false));
                        stack.push((first, false));
                        continue;
                    }
                    let (Some(&a), Some(&b)) = (
                        seen.get(&(first as *const PgTree)),
                        seen.get(&(second as *const PgTree)),
                    ) else {
                        continue;
                    };
                    let mut terms: Vec<(Pkg, Term<VersionRanges>)> = derived
                        .terms
                        .iter()
                        .map(|(pkg, term)| (*pkg, term.clone()))
                        .collect();
                    terms.sort_by_key(|(pkg, _)| *pkg);
                    seen.insert(key, nodes.len());
                    nodes.push(Node::Derived {
                        terms,
                        shared: derived.shared_id,
                        causes: [a, b],
                    });
                }
            }
        }
        let root = seen.get(&(&tree as *const PgTree)).copied().unwrap_or(0);
        dismantle(tree);
        if nodes.is_empty() {
            // Unreachable by construction; keep the tree well formed anyway.
            nodes.push(Node::Derived {
                terms: Vec::new(),
                shared: None,
                causes: [0, 0],
            });
        }
        Tree { nodes, root }
    }

    /// Merges "there is no version of `p` in `s`" into the incompatibility
    /// it was combined with when that one is about versions of `p` that do
    /// exist: "a 1.0.0 requires b" and "no other version of a exists" read
    /// better as "a requires b". A missing version of a *dependency* is kept:
    /// it is what the reader has to act on.
    pub(crate) fn collapse_missing_versions(&mut self) {
        for at in 0..self.nodes.len() {
            let Node::Derived { terms, causes, .. } = &self.nodes[at] else {
                continue;
            };
            let (terms, [a, b]) = (terms.clone(), *causes);
            let pick = |missing: usize, other: usize| -> Option<(Pkg, VersionRanges, usize)> {
                match &self.nodes[missing] {
                    Node::External(external) => match &**external {
                        External::NoVersions(pkg, set) => Some((*pkg, set.clone(), other)),
                        _ => None,
                    },
                    Node::Derived { .. } => None,
                }
            };
            let Some((pkg, set, other)) = pick(a, b).or_else(|| pick(b, a)) else {
                continue;
            };
            let replacement = match &self.nodes[other] {
                Node::External(external) => match &**external {
                    External::FromDependencyOf(p1, r1, p2, r2) if *p1 == pkg => {
                        Node::External(Box::new(External::FromDependencyOf(
                            *p1,
                            r1.union(&set),
                            *p2,
                            r2.clone(),
                        )))
                    }
                    _ => continue,
                },
                Node::Derived {
                    terms: other_terms,
                    causes,
                    ..
                } if other_terms
                    .iter()
                    .any(|(p, term)| *p == pkg && matches!(term, Term::Positive(_))) =>
                {
                    let Node::Derived { shared, .. } = &self.nodes[at] else {
                        continue;
                    };
                    Node::Derived {
                        terms,
                        shared: *shared,
                        causes: *causes,
                    }
                }
                _ => continue,
            };
            self.nodes[at] = replacement;
        }
    }

    /// The nodes reachable from the root, each once, causes before conclusions.
    pub(crate) fn reachable(&self) -> Vec<usize> {
        let mut order = Vec::new();
        let mut state = vec![0u8; self.nodes.len()];
        let mut stack = vec![(self.root, false)];
        while let Some((at, expanded)) = stack.pop() {
            if at >= self.nodes.len() || state[at] == 2 {
                continue;
            }
            match &self.nodes[at] {
                Node::External(_) => {
                    state[at] = 2;
                    order.push(at);
                }
                Node::Derived { causes, .. } => {
                    if expanded {
                        state[at] = 2;
                        order.push(at);
                    } else if state[at] == 0 {
                        state[at] = 1;
                        stack.push((at, true));
                        stack.push((causes[1], false));
                        stack.push((causes[0], false));
                    }
                }
            }
        }
        order
    }

    /// The external facts the conclusion rests on, in the order they are used.
    pub(crate) fn externals(&self) -> Vec<&Ext> {
        self.reachable()
            .into_iter()
            .filter_map(|at| match &self.nodes[at] {
                Node::External(external) => Some(&**external),
                Node::Derived { .. } => None,
            })
            .collect()
    }

    /// The longest path from the root to a leaf, in nodes.
    pub(crate) fn depth(&self) -> usize {
        let mut depth = vec![1usize; self.nodes.len()];
        for at in self.reachable() {
            if let Node::Derived { causes, .. } = &self.nodes[at] {
                let below = causes
                    .iter()
                    .filter_map(|&c| depth.get(c).copied())
                    .max()
                    .unwrap_or(0);
                depth[at] = below + 1;
            }
        }
        depth.get(self.root).copied().unwrap_or(0)
    }
}

/// Drops pubgrub's tree node by node instead of recursively.
fn dismantle(tree: PgTree) {
    let mut stack: Vec<PgTree> = vec![tree];
    while let Some(tree) = stack.pop() {
        if let DerivationTree::Derived(derived) = tree {
            for cause in [derived.cause1, derived.cause2] {
                if let Ok(inner) = Arc::try_unwrap(cause) {
                    stack.push(inner);
                }
                // Otherwise another parent still holds it; the last one
                // to be taken apart pushes it.
            }
        }
    }
}
