//! Property tests: random small registries (up to 8 plugins, 4 versions
//! each, random constraints, required and optional dependencies) resolved
//! by `resolve` and by the brute-force reference solver of `support`.

mod support;

use std::collections::BTreeMap;

use plugin_resolver::{CircularDependencyMode, ResolveError, ResolveOptions, Wanted};
use plugin_version::Constraint;
use plugin_version::VersionPolicy;
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
