//! [`resolve`]: the passes around the solver. The required pass runs pubgrub
//! on the wanted set (strict: once; best effort: until what cannot load is
//! dropped); the optional pass adds optional dependencies one fit at a time
//! without changing a version already chosen; the last step lays out the
//! graph, its cycles and the load order.

use std::cell::OnceCell;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};

use plugin_version::{Constraint, Version, VersionRanges};
use pubgrub::PubGrubError;

use crate::error::{CancelReason, Failure, Hint, ResolveError, cycle_text};
use crate::graph::{self, Graph};
use crate::options::{CircularDependencyMode, ResolveOptions, Strategy, Wanted};
use crate::provider::{
    Budget, Origin, Pkg, Provider, ROOT, RangeCache, RootDep, Stop, Universe, root_version,
};
use crate::registry::{Entry, Registry};
use crate::report::{Goal, Reporter};
use crate::resolution::{
    DependencyEdge, DependencyKind, DropReason, Dropped, LeftOut, Resolution, Warning,
};
use crate::tree::Tree;

/// Resolves `wanted` against `registry`: a version for each wanted plugin
/// and everything it requires (plus the optional dependencies that fit), the
/// dependency graph and the load order.
///
/// With [`Strategy::Strict`] any failure is an error; with
/// [`Strategy::BestEffort`] the wanted plugins that cannot load are dropped
/// (see [`Resolution::dropped`]) and only bounds and internal errors are
/// errors. A wanted name given twice must satisfy both constraints.
///
/// ```
/// use plugin_resolver::{Candidate, Registry, ResolveOptions, Wanted, resolve};
/// use plugin_version::{Constraint, Version};
///
/// let mut registry = Registry::new();
/// registry.add(Candidate::new("app", Version::new(1, 0, 0))
///     .require("db", Constraint::parse("^2").unwrap()))?;
/// registry.add(Candidate::new("db", Version::new(2, 1, 0)))?;
///
/// let resolution = resolve(&registry, &[Wanted::new("app")], &ResolveOptions::default())?;
/// assert_eq!(resolution.load_order(), ["db", "app"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn resolve(
    registry: &Registry,
    wanted: &[Wanted],
    options: &ResolveOptions,
) -> Result<Resolution, ResolveError> {
    let mut universe = Universe::new(registry, &options.current);
    let mut wants: Vec<Want> = Vec::new();
    let mut seen: HashMap<Pkg, usize> = HashMap::new();
    for want in wanted {
        let pkg = universe.intern(want.name());
        match seen.get(&pkg) {
            Some(&at) => wants[at].constraints.push(want.constraint().cloned()),
            None => {
                seen.insert(pkg, wants.len());
                wants.push(Want {
                    name: want.name().to_owned(),
                    pkg,
                    constraints: vec![want.constraint().cloned()],
                });
            }
        }
    }
    wants.sort_by(|a, b| a.name.cmp(&b.name));
    let solver = Solver {
        universe: &universe,
        options,
        budget: Budget::new(options.limits.max_steps, options.limits.time_limit),
        any: Constraint::any(),
        any_range: OnceCell::new(),
        ranges: RangeCache::default(),
    };
    let all: Vec<&Want> = wants.iter().collect();
    let (solved, dropped) = match options.strategy {
        Strategy::BestEffort => solver.best_effort(&all)?,
        _ => match solver.attempt(&solver.root_for(&all), solver.goal_for(&all)) {
            Ok(solved) => (solved, Vec::new()),
            Err(error) => return Err(solver.hard(error)),
        },
    };
    let mut warnings = Vec::new();
    let (solved, accepted) = solver.optional_pass(solved, &mut warnings)?;
    solver.finish(solved, &accepted, dropped, warnings)
}

/// A wanted plugin, with every constraint given for it (`None`: any version).
#[derive(Debug)]
struct Want {
    name: String,
    pkg: Pkg,
    constraints: Vec<Option<Constraint>>,
}

/// The chosen version of each plugin, sorted by name.
type Selection<'r> = Vec<(Pkg, &'r Entry)>;

/// Why one attempt failed.
enum AttemptError {
    /// No solution (or a rejected cycle): the facts, and the root
    /// requirements they rest on.
    Failed(Box<Failed>),
    /// A solution whose longest required chain is too long.
    TooDeep(Vec<String>),
    /// Stop everything.
    Hard(ResolveError),
}

struct Failed {
    failure: Failure,
    culprits: BTreeSet<Pkg>,
}

/// An optional dependency being tried.
#[derive(Debug, Clone)]
struct Probe {
    parent: Pkg,
    version: Version,
    dep: Pkg,
    constraint: Constraint,
    range: VersionRanges,
}

/// The selected plugins as a graph, numbered by name.
struct Shape {
    order: Vec<Pkg>,
    /// Node of each package id (`u32::MAX`: not selected).
    index: Vec<u32>,
    graph: Graph,
    components: Vec<Vec<usize>>,
}

impl Shape {
    fn node(&self, pkg: Pkg) -> Option<usize> {
        match self.index.get(pkg.0 as usize) {
            Some(&at) if at != u32::MAX => Some(at as usize),
            _ => None,
        }
    }
}

/// A selection that passed the checks, with its graph.
struct Solved<'r> {
    selection: Selection<'r>,
    shape: Shape,
}

struct Solver<'a> {
    universe: &'a Universe<'a>,
    options: &'a ResolveOptions,
    budget: Budget,
    /// `*`, and what it admits for a plugin not loaded now (the same for
    /// every such plugin, so computed once).
    any: Constraint,
    any_range: OnceCell<VersionRanges>,
    ranges: RangeCache<'a>,
}

impl<'a> Solver<'a> {
    fn name(&self, pkg: Pkg) -> &str {
        self.universe.name(pkg)
    }

    fn admissible(&self, pkg: Pkg, constraint: &Constraint) -> VersionRanges {
        self.options
            .policy
            .admissible(constraint, self.universe.current(pkg))
    }

    fn root_for(&self, wants: &[&Want]) -> Vec<RootDep> {
        wants
            .iter()
            .map(|want| {
                let origins: Vec<Origin> = want
                    .constraints
                    .iter()
                    .map(|constraint| match constraint {
                        Some(constraint) => Origin::Wanted {
                            constraint: constraint.clone(),
                            range: self.admissible(want.pkg, constraint),
                            any: false,
                        },
                        None => Origin::Wanted {
                            constraint: self.any.clone(),
                            range: self.any_version(want.pkg),
                            any: true,
                        },
                    })
                    .collect();
                let ranges = origins.iter().filter_map(|origin| match origin {
                    Origin::Wanted { range, .. } => Some(range),
                    _ => None,
                });
                let range = match origins.as_slice() {
                    [Origin::Wanted { range, .. }] => range.clone(),
                    _ => ranges.fold(VersionRanges::full(), |all, r| all.intersection(r)),
                };
                RootDep {
                    pkg: want.pkg,
                    range,
                    origins,
                }
            })
            .collect()
    }

    /// Every version of `pkg` the policy admits: what `*` admits, plus,
    /// when the policy allows pre-releases, each pre-release in the registry
    /// the policy does not refuse.
    fn any_version(&self, pkg: Pkg) -> VersionRanges {
        let policy = &self.options.policy;
        let current = self.universe.current(pkg);
        let mut range = match current {
            None => self
                .any_range
                .get_or_init(|| self.admissible(pkg, &self.any))
                .clone(),
            Some(_) => self.admissible(pkg, &self.any),
        };
        if policy.allow_prerelease && !policy.require_exact_match {
            for entry in self.universe.entries(pkg) {
                let version = entry.version();
                if !version.pre.is_empty() && policy.check(current, version, None).is_allowed() {
                    range = range.union(&VersionRanges::singleton(version.clone()));
                }
            }
        }
        range
    }

    fn goal_for(&self, wants: &[&Want]) -> Goal {
        Goal::Wanted(wants.iter().map(|want| want.name.clone()).collect())
    }

    /// The error that ends a strict resolution.
    fn hard(&self, error: AttemptError) -> ResolveError {
        match error {
            AttemptError::Failed(failed) => ResolveError::NoSolution(Box::new(failed.failure)),
            AttemptError::TooDeep(chain) => ResolveError::TooDeep {
                max: self.options.limits.max_depth,
                chain,
            },
            AttemptError::Hard(error) => error,
        }
    }

    /// One run of the solver on `root`, then the checks of the result:
    /// cycles (when rejected) and depth.
    fn attempt(&self, root: &[RootDep], goal: Goal) -> Result<Solved<'a>, AttemptError> {
        let provider = Provider {
            universe: self.universe,
            policy: &self.options.policy,
            root,
            budget: &self.budget,
            cache: &self.ranges,
        };
        // Boxed: pubgrub's error is large, and this is the cold path.
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            pubgrub::resolve(&provider, ROOT, root_version()).map_err(Box::new)
        }));
        let solution = match outcome {
            Err(panic) => {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_else(|| "the solver panicked".to_owned());
                return Err(AttemptError::Hard(ResolveError::Internal { message }));
            }
            Ok(Ok(solution)) => solution,
            Ok(Err(error)) => return Err(self.solver_error(*error, root, goal)),
        };
        let mut selection: Selection<'a> = Vec::new();
        for (pkg, version) in solution {
            if pkg.is_root() {
                continue;
            }
            let Some(entry) = self.universe.entry(pkg, &version) else {
                return Err(AttemptError::Hard(ResolveError::Internal {
                    message: format!(
                        "the solver chose {} {version}, which is not a candidate",
                        self.name(pkg)
                    ),
                }));
            };
            selection.push((pkg, entry));
        }
        let rank = self.universe.registry.name_ranks();
        selection.sort_unstable_by_key(|(pkg, _)| rank.get(pkg.0 as usize).copied());
        let shape = self.shape(&selection);
        if self.options.circular == CircularDependencyMode::Reject {
            let cycles = graph::covering_cycles(&shape.graph.required, &shape.components);
            if !cycles.is_empty() {
                return Err(AttemptError::Failed(Box::new(
                    self.cycle_failure(&selection, &shape, &cycles, root),
                )));
            }
        }
        let chain = graph::longest_chain(&shape.graph, &shape.components);
        if chain.len() > self.options.limits.max_depth {
            return Err(AttemptError::TooDeep(
                chain
                    .iter()
                    .map(|&at| self.name(shape.order[at]).to_owned())
                    .collect(),
            ));
        }
        Ok(Solved { selection, shape })
    }

    /// What a solver error means: no solution (explained), or a stop.
    fn solver_error(
        &self,
        error: PubGrubError<Provider<'_, '_>>,
        root: &[RootDep],
        goal: Goal,
    ) -> AttemptError {
        match error {
            PubGrubError::NoSolution(tree) => {
                let analysis = Reporter::new(self.universe, &self.options.policy, root, goal)
                    .analyze(Tree::from_pubgrub(tree));
                AttemptError::Failed(Box::new(Failed {
                    failure: analysis.failure,
                    culprits: analysis.culprits,
                }))
            }
            PubGrubError::ErrorInShouldCancel(stop) => AttemptError::Hard(self.cancelled(stop)),
            other => AttemptError::Hard(ResolveError::Internal {
                message: other.to_string(),
            }),
        }
    }

    fn cancelled(&self, stop: Stop) -> ResolveError {
        let reason = match stop {
            Stop::Steps => CancelReason::StepLimit(self.options.limits.max_steps),
            Stop::Time => {
                CancelReason::TimeLimit(self.options.limits.time_limit.unwrap_or_default())
            }
        };
        ResolveError::Cancelled {
            reason,
            steps: self.budget.steps(),
            elapsed: self.budget.elapsed(),
        }
    }

    /// The selection as a graph of required edges, nodes numbered in name
    /// order.
    fn shape(&self, selection: &Selection<'_>) -> Shape {
        let order: Vec<Pkg> = selection.iter().map(|(pkg, _)| *pkg).collect();
        let mut index = vec![u32::MAX; self.universe.len()];
        for (at, pkg) in order.iter().enumerate() {
            if let Some(slot) = index.get_mut(pkg.0 as usize) {
                *slot = u32::try_from(at).unwrap_or(u32::MAX);
            }
        }
        let mut shape = Shape {
            order,
            index,
            graph: Graph::new(selection.len()),
            components: Vec::new(),
        };
        for (at, (_, entry)) in selection.iter().enumerate() {
            for edge in &entry.required {
                if let Some(to) = shape.node(Pkg(edge.to)) {
                    shape.graph.required[at].push(to);
                }
            }
        }
        shape.graph.normalize();
        shape.components = graph::strongly_connected(&shape.graph.required);
        shape
    }

    /// The failure of a solution with a rejected cycle; its culprits are the
    /// root requirements from which a cycle is reachable.
    fn cycle_failure(
        &self,
        selection: &Selection<'_>,
        shape: &Shape,
        cycles: &[Vec<usize>],
        root: &[RootDep],
    ) -> Failed {
        let on_cycle: HashSet<usize> = cycles.iter().flatten().copied().collect();
        let mut culprits = BTreeSet::new();
        for dep in root {
            let Some(start) = shape.node(dep.pkg) else {
                continue;
            };
            let mut seen = vec![false; shape.order.len()];
            let mut stack = vec![start];
            while let Some(at) = stack.pop() {
                if std::mem::replace(&mut seen[at], true) {
                    continue;
                }
                if on_cycle.contains(&at) {
                    culprits.insert(dep.pkg);
                    break;
                }
                stack.extend(shape.graph.required[at].iter().copied());
            }
        }
        let named: Vec<Vec<String>> = cycles
            .iter()
            .map(|cycle| {
                cycle
                    .iter()
                    .map(|&at| self.name(shape.order[at]).to_owned())
                    .collect()
            })
            .collect();
        let mut lines = Vec::new();
        for cycle in cycles {
            let mut steps = Vec::new();
            for (i, &at) in cycle.iter().enumerate() {
                let next = cycle[(i + 1) % cycle.len()];
                let (pkg, entry) = &selection[at];
                let version = entry.version();
                let to = shape.order[next];
                let constraint = entry
                    .required
                    .iter()
                    .find(|e| e.to == to.0)
                    .map(|edge| edge.constraint.as_str())
                    .filter(|text| *text != "*")
                    .map(|text| format!(" {text}"))
                    .unwrap_or_default();
                steps.push(format!(
                    "{} {version} requires {}{constraint}",
                    self.name(*pkg),
                    self.name(to)
                ));
            }
            let names: Vec<String> = cycle
                .iter()
                .map(|&at| self.name(shape.order[at]).to_owned())
                .collect();
            lines.push(format!(
                "The chosen versions require each other in a cycle, {}: {}.",
                cycle_text(&names),
                join_and(&steps)
            ));
        }
        lines.push(
            "Cycles of required dependencies are rejected; allowing them would load their members together as one group."
                .to_owned(),
        );
        Failed {
            failure: Failure {
                explanation: lines.join("\n"),
                cycles: named,
                hints: vec![Hint::AllowCycles],
                ..Failure::default()
            },
            culprits,
        }
    }

    /// Best effort: drop, one at a time, a wanted plugin the failure rests
    /// on (first one that cannot load alone, else the last by name), until
    /// the rest resolves; then give every dropped plugin a second chance
    /// against the final set, so nothing is dropped that could stay.
    fn best_effort(&self, all: &[&Want]) -> Result<(Solved<'a>, Vec<Dropped>), ResolveError> {
        let mut kept: Vec<&Want> = all.to_vec();
        let mut dropped: Vec<(&Want, DropReason)> = Vec::new();
        let mut solved = loop {
            let failed = match self.attempt(&self.root_for(&kept), self.goal_for(&kept)) {
                Ok(solved) => break solved,
                Err(AttemptError::Failed(failed)) => failed,
                Err(other) => return Err(self.hard(other)),
            };
            let culprits: Vec<&Want> = kept
                .iter()
                .copied()
                .filter(|want| failed.culprits.contains(&want.pkg))
                .collect();
            let Some(&last) = culprits.last() else {
                // The failure does not rest on any wanted plugin: nothing to drop.
                return Err(ResolveError::NoSolution(Box::new(failed.failure)));
            };
            let mut victim = None;
            for &culprit in &culprits {
                match self.attempt(&self.root_for(&[culprit]), self.goal_for(&[culprit])) {
                    Ok(_) => {}
                    Err(AttemptError::Failed(alone)) => {
                        victim = Some((culprit, DropReason::Unresolvable(Box::new(alone.failure))));
                        break;
                    }
                    Err(other) => return Err(self.hard(other)),
                }
            }
            let (victim, reason) = victim.unwrap_or_else(|| {
                let with = culprits
                    .iter()
                    .filter(|want| want.pkg != last.pkg)
                    .map(|want| want.name.clone())
                    .collect();
                (
                    last,
                    DropReason::Conflict {
                        with,
                        failure: Box::new(failed.failure),
                    },
                )
            });
            kept.retain(|want| want.pkg != victim.pkg);
            dropped.push((victim, reason));
        };
        dropped.sort_by(|a, b| a.0.name.cmp(&b.0.name));
        let mut still_dropped = Vec::new();
        for (want, reason) in dropped {
            let mut with: Vec<&Want> = kept.clone();
            with.push(want);
            with.sort_by(|a, b| a.name.cmp(&b.name));
            match self.attempt(&self.root_for(&with), self.goal_for(&with)) {
                Ok(bigger) => {
                    kept = with;
                    solved = bigger;
                }
                Err(AttemptError::Failed(_) | AttemptError::TooDeep(_)) => {
                    still_dropped.push(Dropped {
                        name: want.name.clone(),
                        reason,
                    });
                }
                Err(other) => return Err(self.hard(other)),
            }
        }
        Ok((solved, still_dropped))
    }

    /// Adds the optional dependencies that fit, without changing any
    /// version already chosen: all pending ones at once if they fit
    /// together, else one at a time in (plugin, dependency) name order.
    /// Repeats for the optional dependencies of what was added.
    fn optional_pass(
        &self,
        mut solved: Solved<'a>,
        warnings: &mut Vec<Warning>,
    ) -> Result<(Solved<'a>, BTreeSet<(Pkg, Pkg)>), ResolveError> {
        let mut accepted: BTreeSet<(Pkg, Pkg)> = BTreeSet::new();
        let mut considered: HashSet<(Pkg, Pkg)> = HashSet::new();
        loop {
            let mut pending: Vec<Probe> = Vec::new();
            let selection = &solved.selection;
            for (parent, entry) in selection {
                for edge in &entry.optional {
                    let dep = Pkg(edge.to);
                    if !considered.insert((*parent, dep)) {
                        continue;
                    }
                    let entries = self.universe.entries(dep);
                    let probe = Probe {
                        parent: *parent,
                        version: entry.version().clone(),
                        dep,
                        constraint: (*edge.constraint).clone(),
                        range: self.admissible(dep, &edge.constraint),
                    };
                    if entries.is_empty() {
                        // Absent: nothing to load, but a person wants to
                        // know why an optional feature is off.
                        warnings.push(self.left_out(&probe, LeftOut::Missing));
                    } else if let Some(at) = solved.shape.node(dep) {
                        self.settle(&probe, selection[at].1.version(), &mut accepted, warnings);
                    } else if !entries.iter().any(|e| probe.range.contains(e.version())) {
                        let explanation = self
                            .reporter(&[], Goal::Optional(String::new()))
                            .no_matching_version(dep, &probe.range, &probe.constraint);
                        let available = entries.iter().map(|e| e.version().clone()).collect();
                        let reason = LeftOut::NoVersionFits {
                            available,
                            explanation,
                        };
                        warnings.push(self.left_out(&probe, reason));
                    } else {
                        pending.push(probe);
                    }
                }
            }
            if pending.is_empty() {
                break;
            }
            pending.sort_by(|a, b| {
                (self.name(a.parent), self.name(a.dep))
                    .cmp(&(self.name(b.parent), self.name(b.dep)))
            });
            let batch = self.probe_root(&solved.selection, &pending);
            match self.attempt(
                &batch,
                Goal::Optional("the optional dependencies".to_owned()),
            ) {
                Ok(bigger) => {
                    solved = bigger;
                    accepted.extend(pending.iter().map(|p| (p.parent, p.dep)));
                    continue;
                }
                Err(AttemptError::Hard(error)) => return Err(error),
                Err(_) => {}
            }
            for probe in &pending {
                if let Some(at) = solved.shape.node(probe.dep) {
                    let version = solved.selection[at].1.version();
                    self.settle(probe, version, &mut accepted, warnings);
                    continue;
                }
                let root = self.probe_root(&solved.selection, std::slice::from_ref(probe));
                let goal = Goal::Optional(self.name(probe.dep).to_owned());
                match self.attempt(&root, goal) {
                    Ok(bigger) => {
                        solved = bigger;
                        accepted.insert((probe.parent, probe.dep));
                    }
                    Err(AttemptError::Failed(failed)) => {
                        let reason = LeftOut::Conflict {
                            explanation: failed.failure.explanation,
                        };
                        warnings.push(self.left_out(probe, reason));
                    }
                    Err(AttemptError::TooDeep(chain)) => {
                        let reason = LeftOut::TooDeep {
                            chain,
                            max: self.options.limits.max_depth,
                        };
                        warnings.push(self.left_out(probe, reason));
                    }
                    Err(AttemptError::Hard(error)) => return Err(error),
                }
            }
        }
        Ok((solved, accepted))
    }

    fn reporter<'r>(&'r self, root: &'r [RootDep], goal: Goal) -> Reporter<'r> {
        Reporter::new(self.universe, &self.options.policy, root, goal)
    }

    /// An optional dependency on a plugin already chosen: an edge if the
    /// chosen version fits, else a warning.
    fn settle(
        &self,
        probe: &Probe,
        version: &Version,
        accepted: &mut BTreeSet<(Pkg, Pkg)>,
        warnings: &mut Vec<Warning>,
    ) {
        if probe.range.contains(version) {
            accepted.insert((probe.parent, probe.dep));
        } else {
            let reason = LeftOut::OtherVersionLoaded {
                version: version.clone(),
            };
            warnings.push(self.left_out(probe, reason));
        }
    }

    fn left_out(&self, probe: &Probe, reason: LeftOut) -> Warning {
        Warning::OptionalLeftOut {
            plugin: self.name(probe.parent).to_owned(),
            version: probe.version.clone(),
            dependency: self.name(probe.dep).to_owned(),
            constraint: probe.constraint.clone(),
            reason,
        }
    }

    /// Every chosen plugin pinned to its version, plus the probes.
    fn probe_root(&self, selection: &Selection<'_>, probes: &[Probe]) -> Vec<RootDep> {
        let mut root: Vec<RootDep> = selection
            .iter()
            .map(|(pkg, entry)| RootDep {
                pkg: *pkg,
                range: VersionRanges::singleton(entry.version().clone()),
                origins: vec![Origin::Pinned(entry.version().clone())],
            })
            .collect();
        for probe in probes {
            let origin = Origin::Optional {
                parent: probe.parent,
                version: probe.version.clone(),
                constraint: probe.constraint.clone(),
            };
            match root.iter_mut().find(|dep| dep.pkg == probe.dep) {
                Some(dep) => {
                    dep.range = dep.range.intersection(&probe.range);
                    dep.origins.push(origin);
                }
                None => root.push(RootDep {
                    pkg: probe.dep,
                    range: probe.range.clone(),
                    origins: vec![origin],
                }),
            }
        }
        root
    }

    /// The resolution: graph, cycles (allowed ones), depth, load groups.
    fn finish(
        &self,
        solved: Solved<'a>,
        accepted: &BTreeSet<(Pkg, Pkg)>,
        dropped: Vec<Dropped>,
        mut warnings: Vec<Warning>,
    ) -> Result<Resolution, ResolveError> {
        let Solved {
            selection,
            mut shape,
        } = solved;
        let selection = &selection;
        for (from, to) in accepted {
            if let (Some(from), Some(to)) = (shape.node(*from), shape.node(*to)) {
                shape.graph.optional[from].push(to);
            }
        }
        shape.graph.normalize();
        let name_of = |at: usize| self.name(shape.order[at]).to_owned();
        let chain = graph::longest_chain(&shape.graph, &shape.components);
        if chain.len() > self.options.limits.max_depth {
            return Err(ResolveError::TooDeep {
                max: self.options.limits.max_depth,
                chain: chain.into_iter().map(name_of).collect(),
            });
        }
        let cycles = graph::covering_cycles(&shape.graph.required, &shape.components);
        let layout = graph::layout(&shape.graph, &shape.components);
        let shared = |at: usize| self.universe.shared_name(shape.order[at]);
        for group in layout.groups.iter().filter(|group| group.len() > 1) {
            let members: Vec<String> = group.iter().map(|&at| name_of(at)).collect();
            let inside: Vec<Vec<String>> = cycles
                .iter()
                .filter(|cycle| cycle.first().is_some_and(|m| group.contains(m)))
                .map(|cycle| cycle.iter().map(|&at| name_of(at)).collect())
                .collect();
            warnings.push(Warning::CycleLoadedTogether {
                members,
                cycles: inside,
            });
        }
        for &(from, to) in &layout.ignored_optional {
            warnings.push(Warning::OptionalOrderIgnored {
                plugin: name_of(from),
                dependency: name_of(to),
            });
        }
        let mut resolution = Resolution {
            selected: selection
                .iter()
                .enumerate()
                .map(|(at, (_, entry))| (shared(at), entry.version().clone()))
                .collect(),
            keys: selection
                .iter()
                .enumerate()
                .filter_map(|(at, (_, entry))| Some((shared(at), entry.candidate.key()?)))
                .collect(),
            groups: layout
                .groups
                .iter()
                .map(|group| group.iter().map(|&at| shared(at)).collect())
                .collect(),
            cycles: cycles
                .iter()
                .map(|cycle| cycle.iter().map(|&at| name_of(at)).collect())
                .collect(),
            dropped,
            warnings,
            ..Resolution::default()
        };
        for (at, (pkg, entry)) in selection.iter().enumerate() {
            let mut edges: Vec<DependencyEdge> = entry
                .required
                .iter()
                .map(|edge| DependencyEdge {
                    name: self.universe.shared_name(Pkg(edge.to)),
                    constraint: edge.constraint.clone(),
                    kind: DependencyKind::Required,
                })
                .chain(
                    entry
                        .optional
                        .iter()
                        .filter(|edge| accepted.contains(&(*pkg, Pkg(edge.to))))
                        .map(|edge| DependencyEdge {
                            name: self.universe.shared_name(Pkg(edge.to)),
                            constraint: edge.constraint.clone(),
                            kind: DependencyKind::Optional,
                        }),
                )
                .collect();
            edges.sort();
            if !edges.is_empty() {
                resolution.edges.insert(shared(at), edges);
            }
        }
        resolution.index();
        Ok(resolution)
    }
}

/// "a", "a and b", "a, b and c".
fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}
