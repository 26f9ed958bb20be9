//! Property tests: random small registries (up to 8 plugins, 4 versions
//! each, random constraints, required and optional dependencies) resolved
//! by `resolve` and by the brute-force reference solver of `support`.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use plugin_resolver::{
    CircularDependencyMode, DependencyKind, Direction, Resolution, ResolveError, ResolveOptions,
    ResolvedDependency, SelectedPlugin, Wanted,
};
use plugin_version::VersionPolicy;
use plugin_version::{Constraint, Version};
use proptest::prelude::*;
use support::{
    Spec, SpecVersion, brute_force, brute_force_with, check_resolution, constraint, version,
};

const NAMES: [&str; 9] = ["a", "b", "c", "d", "e", "f", "g", "h", "missing"];
const VERSIONS: [&str; 5] = ["0.1.0", "1.0.0", "1.1.0", "1.2.3", "2.0.0"];
/// With pre-releases, for the policy property.
const PRE_VERSIONS: [&str; 6] = [
    "1.0.0",
    "1.1.0-beta.1",
    "1.1.0",
    "2.0.0-rc.1",
    "2.0.0",
    "2.1.0-alpha",
];
const CONSTRAINTS: [&str; 13] = [
    ">=1.1.0-beta.0",
    "^2.0.0-rc.1",
    "*",
    "^1",
    "^0.1",
    "~1.1",
    "1.0.0",
    ">=1.1.0",
    "<1.2.0",
    "^2",
    ">=1.0.0 <2.0.0",
    "^1.2 || ^0.1",
    "1.x",
];

/// (dependency name index, constraint index) pairs.
fn deps(max: usize) -> impl Strategy<Value = Vec<(usize, usize)>> {
    prop::collection::vec((0..NAMES.len(), 0..CONSTRAINTS.len()), 0..=max)
}

/// Versions of one plugin, and for each the required and optional deps.
type PluginDraw = (
    Vec<&'static str>,
    Vec<(Vec<(usize, usize)>, Vec<(usize, usize)>)>,
);

fn plugin(versions: &'static [&'static str]) -> impl Strategy<Value = PluginDraw> {
    (
        prop::sample::subsequence(versions.to_vec(), 1..=4),
        prop::collection::vec((deps(3), deps(2)), 4),
    )
}

fn spec() -> impl Strategy<Value = Spec> {
    spec_of(&VERSIONS)
}

fn spec_of(versions: &'static [&'static str]) -> impl Strategy<Value = Spec> {
    (1..=8usize)
        .prop_flat_map(move |n| prop::collection::vec(plugin(versions), n))
        .prop_map(|plugins| {
            let count = plugins.len();
            let mut spec = Spec {
                plugins: BTreeMap::new(),
            };
            for (i, (versions, deps)) in plugins.into_iter().enumerate() {
                let name = NAMES[i];
                // Dependencies on names beyond the registry are on "missing".
                let dep_name = |at: usize| {
                    if at < count { NAMES[at] } else { "missing" }
                };
                let mut list = Vec::new();
                for (v, (required, optional)) in versions.into_iter().zip(deps) {
                    // As in a manifest: no self-dependency, no name twice.
                    let mut seen = vec![name.to_owned()];
                    let mut keep = |(d, c): (usize, usize)| {
                        let d = dep_name(d).to_owned();
                        if seen.contains(&d) {
                            return None;
                        }
                        seen.push(d.clone());
                        Some((d, constraint(CONSTRAINTS[c])))
                    };
                    let required: Vec<(String, Constraint)> =
                        required.into_iter().filter_map(&mut keep).collect();
                    let optional: Vec<(String, Constraint)> =
                        optional.into_iter().filter_map(&mut keep).collect();
                    list.push(SpecVersion {
                        version: version(v),
                        required,
                        optional,
                    });
                }
                spec.plugins.insert(name.to_owned(), list);
            }
            spec
        })
}

/// Wanted plugins as `name@constraint`.
fn wanted() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec((0..NAMES.len(), 0..CONSTRAINTS.len()), 1..=3).prop_map(|list| {
        list.into_iter()
            .map(|(n, c)| format!("{}@{}", NAMES[n], CONSTRAINTS[c]))
            .collect()
    })
}

fn parse_wanted(list: &[String]) -> Vec<(String, Constraint)> {
    list.iter()
        .map(|text| {
            let (name, c) = text.split_once('@').unwrap_or((text, "*"));
            (name.to_owned(), constraint(c))
        })
        .collect()
}

fn to_wanted(list: &[(String, Constraint)]) -> Vec<Wanted> {
    list.iter()
        .map(|(name, c)| Wanted::with_constraint(name.as_str(), c.clone()))
        .collect()
}

fn without_optional(spec: &Spec) -> Spec {
    let mut spec = spec.clone();
    for versions in spec.plugins.values_mut() {
        for v in versions {
            v.optional.clear();
        }
    }
    spec
}

fn allow() -> ResolveOptions {
    ResolveOptions::default().with_circular(CircularDependencyMode::Allow)
}

proptest! {
    // 512 cases by default; PROPTEST_CASES=N for a longer run.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(512),
        ..ProptestConfig::default()
    })]

    /// Brute force finds a solution => resolve finds one; every solution
    /// satisfies every constraint and its load order every required edge;
    /// resolve fails => brute force finds none.
    #[test]
    fn resolve_agrees_with_brute_force(spec in spec(), wanted in wanted()) {
        let wanted = parse_wanted(&wanted);
        let registry = spec.registry();
        let expected = brute_force(&spec, &wanted);
        match plugin_resolver::resolve(&registry, &to_wanted(&wanted), &allow()) {
            Ok(resolution) => {
                if let Err(problem) = check_resolution(&spec, &wanted, &resolution) {
                    prop_assert!(false, "invalid resolution: {problem}\n{resolution:#?}");
                }
            }
            Err(ResolveError::NoSolution(failure)) => {
                prop_assert!(
                    expected.is_none(),
                    "resolve failed but {expected:?} works:\n{}",
                    failure.explanation()
                );
                prop_assert!(!failure.explanation().is_empty());
            }
            Err(other) => prop_assert!(false, "unexpected error: {other}"),
        }
    }

    /// Optional dependencies never make resolution fail and never change a
    /// version chosen for the required plugins.
    #[test]
    fn optional_dependencies_only_add(spec in spec(), wanted in wanted()) {
        let wanted = parse_wanted(&wanted);
        let with = plugin_resolver::resolve(&spec.registry(), &to_wanted(&wanted), &allow());
        let without = plugin_resolver::resolve(
            &without_optional(&spec).registry(),
            &to_wanted(&wanted),
            &allow(),
        );
        prop_assert_eq!(with.is_ok(), without.is_ok());
        if let (Ok(with), Ok(without)) = (with, without) {
            for (name, version) in without.selected() {
                prop_assert_eq!(with.version(name), Some(version), "{}", name);
            }
        }
    }

    /// With cycles rejected: a success has no cycle, and is the same as with
    /// cycles allowed whenever that one has no cycle either; a cycle error
    /// means the resolution with cycles allowed has one.
    #[test]
    fn rejecting_cycles_only_removes_cyclic_results(spec in spec(), wanted in wanted()) {
        let wanted = parse_wanted(&wanted);
        let registry = spec.registry();
        let allowed = plugin_resolver::resolve(&registry, &to_wanted(&wanted), &allow());
        let rejected =
            plugin_resolver::resolve(&registry, &to_wanted(&wanted), &ResolveOptions::default());
        match rejected {
            Ok(resolution) => {
                prop_assert!(resolution.load_groups().iter().all(|g| g.len() == 1));
                prop_assert!(resolution.circular_dependencies().is_empty());
                let allowed = allowed.expect("cycles allowed resolves too");
                if allowed.circular_dependencies().is_empty() {
                    prop_assert_eq!(resolution, allowed);
                }
            }
            Err(error) if !error.circular_dependencies().is_empty() => {
                let allowed = allowed.expect("the same solution with cycles allowed");
                prop_assert!(!allowed.circular_dependencies().is_empty());
            }
            Err(error) => prop_assert!(allowed.is_err(), "{error}"),
        }
    }

    /// Best effort always resolves what it keeps, keeps everything when
    /// everything works, and drops nothing that could have stayed.
    #[test]
    fn best_effort_drops_only_what_must_go(spec in spec(), wanted in wanted()) {
        let wanted = parse_wanted(&wanted);
        let registry = spec.registry();
        let options = allow().with_strategy(plugin_resolver::Strategy::BestEffort);
        let resolution = plugin_resolver::resolve(&registry, &to_wanted(&wanted), &options);
        let resolution = match resolution {
            Ok(resolution) => resolution,
            Err(error) => {
                prop_assert!(false, "best effort failed: {error}");
                unreachable!()
            }
        };
        let dropped: Vec<&str> = resolution.dropped().iter().map(|d| d.name()).collect();
        let kept: Vec<(String, Constraint)> = wanted
            .iter()
            .filter(|(name, _)| !dropped.contains(&name.as_str()))
            .cloned()
            .collect();
        if let Err(problem) = check_resolution(&spec, &kept, &resolution) {
            prop_assert!(false, "invalid resolution: {problem}");
        }
        if brute_force(&spec, &wanted).is_some() {
            prop_assert!(dropped.is_empty(), "dropped {dropped:?} though all fit");
        }
        for name in &dropped {
            prop_assert!(wanted.iter().any(|(w, _)| w == name));
            let mut with: Vec<(String, Constraint)> = kept.clone();
            with.extend(wanted.iter().filter(|(w, _)| w == name).cloned());
            prop_assert!(
                brute_force(&spec, &with).is_none(),
                "{name} was dropped but fits beside {kept:?}"
            );
        }
    }

    /// With pre-releases in the registry and a random policy, resolve
    /// agrees with brute force over the versions the policy admits.
    #[test]
    fn resolve_agrees_with_brute_force_under_a_policy(
        spec in spec_of(&PRE_VERSIONS),
        wanted in wanted(),
        allow_prerelease in any::<bool>(),
    ) {
        let wanted = parse_wanted(&wanted);
        let policy = VersionPolicy::default().with_allow_prerelease(allow_prerelease);
        let fits = |c: &Constraint, v: &plugin_version::Version| {
            policy.admissible(c, None).contains(v)
        };
        let expected = brute_force_with(&spec, &wanted, &fits);
        let options = allow().with_policy(policy.clone());
        match plugin_resolver::resolve(&spec.registry(), &to_wanted(&wanted), &options) {
            Ok(resolution) => {
                if let Err(problem) = check_resolution(&spec, &wanted, &resolution) {
                    prop_assert!(false, "invalid resolution: {problem}");
                }
                if !allow_prerelease {
                    prop_assert!(resolution.selected().values().all(|v| v.pre.is_empty()));
                }
            }
            Err(ResolveError::NoSolution(failure)) => prop_assert!(
                expected.is_none(),
                "resolve failed but {expected:?} works:\n{}",
                failure.explanation()
            ),
            Err(other) => prop_assert!(false, "unexpected error: {other}"),
        }
    }
}

// ----- what a host asks: keys, dependents, diffs ---------------------------

/// Best effort with cycles allowed: a resolution for (nearly) every draw.
fn host_options() -> ResolveOptions {
    allow().with_strategy(plugin_resolver::Strategy::BestEffort)
}

fn resolve_for_host(spec: &Spec, wanted: &[String]) -> Resolution {
    let wanted = parse_wanted(wanted);
    plugin_resolver::resolve(&spec.registry(), &to_wanted(&wanted), &host_options())
        .unwrap_or_else(|error| panic!("best effort failed: {error}"))
}

/// `spec` with the versions of the plugins `mask` picks taken from `other`
/// (a plugin missing on one side is missing or added): two registries that
/// share most candidates, as two discovery scans of one directory do.
fn mixed(spec: &Spec, other: &Spec, mask: &[bool]) -> Spec {
    let mut mixed = Spec {
        plugins: BTreeMap::new(),
    };
    for (at, name) in NAMES.iter().enumerate() {
        let from = if mask[at] { other } else { spec };
        if let Some(versions) = from.plugins.get(*name) {
            mixed.plugins.insert((*name).to_owned(), versions.clone());
        }
    }
    mixed
}

/// One edge as the diff sees it: (kind, constraint, version loaded).
type EdgeView = (DependencyKind, String, Version);

fn edge_views(resolution: &Resolution, name: &str) -> BTreeMap<String, EdgeView> {
    resolution
        .dependencies(name)
        .iter()
        .map(|edge| {
            let version = resolution
                .version(edge.name())
                .expect("edge to a loaded plugin");
            (
                edge.name().to_owned(),
                (edge.kind(), edge.constraint().to_string(), version.clone()),
            )
        })
        .collect()
}

fn view(edge: Option<&ResolvedDependency>) -> Option<EdgeView> {
    edge.map(|e| (e.kind(), e.constraint().to_string(), e.version().clone()))
}

/// The reference for `transitive_dependents_of`: (name, kind, via) sorted
/// by name, computed by sweeping every edge to a fixed point.
fn affected_reference(
    resolution: &Resolution,
    names: &[&str],
) -> Vec<(String, DependencyKind, Vec<String>)> {
    let mut gone: BTreeSet<String> = names
        .iter()
        .filter(|n| resolution.version(n).is_some())
        .map(|n| (*n).to_owned())
        .collect();
    loop {
        let before = gone.len();
        let more: Vec<String> = resolution
            .edges()
            .filter(|(_, e)| e.kind() == DependencyKind::Required && gone.contains(e.name()))
            .map(|(from, _)| from.to_owned())
            .collect();
        gone.extend(more);
        if gone.len() == before {
            break;
        }
    }
    let mut out = BTreeMap::new();
    for (from, edge) in resolution.edges() {
        if names.contains(&from) || !gone.contains(edge.name()) {
            continue;
        }
        let kind = if gone.contains(from) {
            DependencyKind::Required
        } else {
            DependencyKind::Optional
        };
        if edge.kind() == kind {
            out.entry(from.to_owned())
                .or_insert_with(|| (kind, Vec::new()))
                .1
                .push(edge.name().to_owned());
        }
    }
    out.into_iter()
        .map(|(name, (kind, via))| (name, kind, via))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(512),
        ..ProptestConfig::default()
    })]

    /// Keys come back from the chosen candidates; `dependents` is exactly
    /// the reverse of the edges; `transitive_dependents_of` matches a
    /// fixed-point sweep, in load order.
    #[test]
    fn dependents_are_the_reverse_of_the_edges(
        spec in spec(),
        wanted in wanted(),
        gone in prop::collection::vec(0..NAMES.len(), 1..=3),
    ) {
        let registry = spec.registry();
        let resolution = resolve_for_host(&spec, &wanted);
        let mut reversed: BTreeMap<String, Vec<(String, String, DependencyKind)>> = BTreeMap::new();
        for (from, edge) in resolution.edges() {
            reversed.entry(edge.name().to_owned()).or_default().push((
                from.to_owned(),
                edge.constraint().to_string(),
                edge.kind(),
            ));
        }
        for name in NAMES {
            let listed: Vec<(String, String, DependencyKind)> = resolution
                .dependents(name)
                .iter()
                .map(|d| (d.name().to_owned(), d.constraint().to_string(), d.kind()))
                .collect();
            let mut expected = reversed.remove(name).unwrap_or_default();
            expected.sort();
            prop_assert_eq!(listed, expected, "dependents of {}", name);
        }
        prop_assert!(reversed.is_empty(), "edges to names never asked: {reversed:?}");
        for (name, version) in resolution.selected() {
            let candidate = registry.candidate(name, version).expect("chosen from the registry");
            prop_assert_eq!(resolution.key(name), candidate.key());
            prop_assert!(resolution.key(name).is_some());
        }
        let names: Vec<&str> = gone.iter().map(|&at| NAMES[at]).collect();
        let affected = resolution.transitive_dependents_of(names.iter().copied());
        let order = resolution.load_order();
        let at = |name: &str| order.iter().position(|n| *n == name).expect("loaded");
        for pair in affected.windows(2) {
            prop_assert!(at(pair[0].name()) < at(pair[1].name()), "not in load order");
        }
        let mut got: Vec<(String, DependencyKind, Vec<String>)> = affected
            .iter()
            .map(|a| {
                let via = a.via().iter().map(|n| n.to_string()).collect();
                (a.name().to_owned(), a.kind(), via)
            })
            .collect();
        got.sort();
        prop_assert_eq!(got, affected_reference(&resolution, &names));
    }

    /// `old.diff(&new)` applied to old's selection gives new's; every list
    /// is in the order a host applies it; kept plugins' dependency changes
    /// are exactly the edges that differ; keys are carried from each side.
    #[test]
    fn a_diff_applied_to_the_old_selection_gives_the_new(
        spec in spec(),
        other in spec(),
        mask in prop::collection::vec(any::<bool>(), NAMES.len()),
        wanted in wanted(),
        other_wanted in wanted(),
        same_wanted in any::<bool>(),
    ) {
        let new_spec = mixed(&spec, &other, &mask);
        let old = resolve_for_host(&spec, &wanted);
        let new = resolve_for_host(&new_spec, if same_wanted { &wanted } else { &other_wanted });
        let diff = old.diff(&new);

        // Applied step by step, each step finds what it expects.
        let mut selection: BTreeMap<Arc<str>, Version> = old.selected().clone();
        for removed in diff.removed() {
            let was = selection.remove(removed.name());
            prop_assert_eq!(was.as_ref(), Some(removed.version()));
            prop_assert_eq!(removed.key(), old.key(removed.name()));
        }
        for change in diff.changed() {
            prop_assert_ne!(change.old_version(), change.new_version());
            let was = selection.insert(change.name().into(), change.new_version().clone());
            prop_assert_eq!(was.as_ref(), Some(change.old_version()));
            prop_assert_eq!(change.old_key(), old.key(change.name()));
            prop_assert_eq!(change.new_key(), new.key(change.name()));
            let expected = match change.new_version().cmp_precedence(change.old_version()) {
                std::cmp::Ordering::Greater => Direction::Upgrade,
                std::cmp::Ordering::Less => Direction::Downgrade,
                std::cmp::Ordering::Equal => Direction::Rebuild,
            };
            prop_assert_eq!(change.direction(), expected);
        }
        for added in diff.added() {
            let was = selection.insert(added.name().into(), added.version().clone());
            prop_assert_eq!(was, None);
            prop_assert_eq!(added.key(), new.key(added.name()));
        }
        prop_assert_eq!(&selection, new.selected());

        // Kept: the same version on both sides, with exactly the edges
        // that differ.
        for kept in diff.kept() {
            prop_assert_eq!(old.version(kept.name()), Some(kept.version()));
            prop_assert_eq!(new.version(kept.name()), Some(kept.version()));
            prop_assert_eq!(kept.old_key(), old.key(kept.name()));
            prop_assert_eq!(kept.new_key(), new.key(kept.name()));
            let before = edge_views(&old, kept.name());
            let after = edge_views(&new, kept.name());
            let mut expected = Vec::new();
            for dep in before.keys().chain(after.keys()).collect::<BTreeSet<_>>() {
                let sides = (before.get(dep).cloned(), after.get(dep).cloned());
                if sides.0 != sides.1 {
                    expected.push((dep.clone(), sides.0, sides.1));
                }
            }
            let got: Vec<_> = kept
                .dependency_changes()
                .iter()
                .map(|c| (c.dependency().to_owned(), view(c.old_edge()), view(c.new_edge())))
                .collect();
            prop_assert_eq!(got, expected, "dependency changes of {}", kept.name());
            let required = |edges: &BTreeMap<String, EdgeView>| -> BTreeMap<String, Version> {
                edges
                    .iter()
                    .filter(|(_, (kind, _, _))| *kind == DependencyKind::Required)
                    .map(|(dep, (_, _, version))| (dep.clone(), version.clone()))
                    .collect()
            };
            prop_assert_eq!(kept.required_changed(), required(&before) != required(&after));
        }

        // Orders: new load order for added, changed and kept (which
        // together are new's plugins, each once); reverse old load order
        // for removed.
        let position = |resolution: &Resolution, name: &str| {
            resolution.load_order().iter().position(|n| *n == name).expect("loaded")
        };
        for names in [
            diff.added().iter().map(|p| p.name()).collect::<Vec<_>>(),
            diff.changed().iter().map(|c| c.name()).collect(),
            diff.kept().iter().map(|k| k.name()).collect(),
        ] {
            for pair in names.windows(2) {
                prop_assert!(position(&new, pair[0]) < position(&new, pair[1]));
            }
        }
        for pair in diff.removed().windows(2) {
            prop_assert!(position(&old, pair[0].name()) > position(&old, pair[1].name()));
        }
        prop_assert_eq!(diff.added().len() + diff.changed().len() + diff.kept().len(), new.len());
        prop_assert_eq!(diff.removed().len() + diff.changed().len() + diff.kept().len(), old.len());

        // Nothing from a resolution to itself; the way back mirrors it.
        prop_assert!(old.diff(&old).is_empty());
        let back = new.diff(&old);
        let names = |list: &[SelectedPlugin]| -> BTreeSet<String> {
            list.iter().map(|p| p.name().to_owned()).collect()
        };
        prop_assert_eq!(names(back.added()), names(diff.removed()));
        prop_assert_eq!(names(back.removed()), names(diff.added()));
        prop_assert_eq!(back.is_empty(), diff.is_empty());
    }
}
