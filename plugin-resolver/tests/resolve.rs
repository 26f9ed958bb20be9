//! Behaviour of `resolve`: versions, load order, optional dependencies,
//! cycles, strategies, policy, bounds, and the explanations (snapshots).

#[macro_use]
mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use plugin_resolver::{
    CancelReason, Candidate, CircularDependencyMode, DependencyKind, DropReason, Hint, LeftOut,
    Registry, RegistryError, ResolveError, ResolveOptions, Strategy, Wanted, Warning, resolve,
};
use plugin_version::VersionPolicy;
use support::{registry, render, render_error, run, run_with, selected, version};

fn best_effort() -> ResolveOptions {
    ResolveOptions::default().with_strategy(Strategy::BestEffort)
}

fn allow_cycles() -> ResolveOptions {
    ResolveOptions::default().with_circular(CircularDependencyMode::Allow)
}

// ----- versions and order ---------------------------------------------------

#[test]
fn picks_the_newest_version_each_constraint_allows() {
    let reg = registry([
        pkg!("app@1.0.0" => ["db ^1", "log"]),
        pkg!("db@1.0.0"),
        pkg!("db@1.3.0"),
        pkg!("db@2.0.0"),
        pkg!("log@0.9.0"),
        pkg!("log@1.2.0"),
    ]);
    let resolution = run(&reg, &["app"]).unwrap();
    assert_eq!(
        selected(&resolution),
        ["app 1.0.0", "db 1.3.0", "log 1.2.0"]
    );
}

#[test]
fn load_order_puts_dependencies_first_and_breaks_ties_by_name() {
    let reg = registry([
        pkg!("app@1.0.0" => ["zeta", "alpha"]),
        pkg!("zeta@1.0.0" => ["core"]),
        pkg!("alpha@1.0.0" => ["core"]),
        pkg!("core@1.0.0"),
        pkg!("beta@1.0.0"),
    ]);
    let resolution = run(&reg, &["app", "beta"]).unwrap();
    assert_eq!(
        resolution.load_order(),
        ["beta", "core", "alpha", "zeta", "app"]
    );
    insta::assert_snapshot!(render(&resolution));
}

#[test]
fn load_order_is_the_same_whatever_the_registry_order() {
    let candidates = vec![
        pkg!("a@1.0.0" => ["c"]),
        pkg!("b@1.0.0" => ["c"]),
        pkg!("c@1.0.0"),
        pkg!("d@1.0.0" => ["a", "b"]),
    ];
    let forward = run(&registry(candidates.clone()), &["d"]).unwrap();
    let backward = run(&registry(candidates.into_iter().rev()), &["d"]).unwrap();
    assert_eq!(forward, backward);
    assert_eq!(forward.load_order(), ["c", "a", "b", "d"]);
}

#[test]
fn wanted_constraints_are_respected_and_combined() {
    let reg = registry([pkg!("a@1.0.0"), pkg!("a@1.5.0"), pkg!("a@2.0.0")]);
    let resolution = run(&reg, &["a@^1"]).unwrap();
    assert_eq!(selected(&resolution), ["a 1.5.0"]);
    let resolution = run(&reg, &["a@^1", "a@<1.5.0"]).unwrap();
    assert_eq!(selected(&resolution), ["a 1.0.0"]);
    let resolution = run(&reg, &["a"]).unwrap();
    assert_eq!(selected(&resolution), ["a 2.0.0"]);
}

#[test]
fn backtracks_to_an_older_version_when_the_newest_cannot_work() {
    let reg = registry([
        pkg!("app@1.0.0" => ["a", "b ^1"]),
        pkg!("a@2.0.0" => ["b ^2"]),
        pkg!("a@1.0.0" => ["b ^1"]),
        pkg!("b@1.0.0"),
        pkg!("b@2.0.0"),
    ]);
    let resolution = run(&reg, &["app"]).unwrap();
    assert_eq!(selected(&resolution), ["a 1.0.0", "app 1.0.0", "b 1.0.0"]);
}

#[test]
fn nothing_wanted_resolves_to_nothing() {
    let reg = registry([pkg!("a@1.0.0")]);
    let resolution = run(&reg, &[]).unwrap();
    assert!(resolution.is_empty());
    assert!(resolution.load_order().is_empty());
}

#[test]
fn the_graph_holds_required_and_loaded_optional_edges() {
    let reg = registry([
        pkg!("app@1.0.0" => ["db ^1"], optional ["cache", "metrics"]),
        pkg!("db@1.1.0"),
        pkg!("cache@3.0.0"),
    ]);
    let resolution = run(&reg, &["app"]).unwrap();
    let deps: Vec<(&str, DependencyKind)> = resolution
        .dependencies("app")
        .iter()
        .map(|edge| (edge.name(), edge.kind()))
        .collect();
    assert_eq!(
        deps,
        [
            ("cache", DependencyKind::Optional),
            ("db", DependencyKind::Required)
        ]
    );
    assert!(resolution.dependencies("db").is_empty());
    assert_eq!(resolution.edges().count(), 2);
}

// ----- failures and their explanations ----------------------------------------

#[test]
fn a_missing_dependency_is_unresolved() {
    let reg = registry([
        pkg!("auth-service@1.2.3" => ["logging-service ^2", "crypto"]),
        pkg!("crypto@1.0.0"),
    ]);
    let error = run(&reg, &["auth-service"]).unwrap_err();
    let unresolved = error.unresolved_dependencies();
    assert_eq!(unresolved.len(), 1);
    assert!(unresolved["auth-service"].contains("logging-service"));
    assert!(error.version_conflicts().is_empty());
    insta::assert_snapshot!(render_error(&error));
}

#[test]
fn a_version_conflict_names_plugin_constraint_and_available_versions() {
    let reg = registry([
        pkg!("auth-service@1.2.3" => ["logging-service ^2"]),
        pkg!("logging-service@1.0.0"),
        pkg!("logging-service@1.1.0"),
    ]);
    let error = run(&reg, &["auth-service"]).unwrap_err();
    let conflicts = error.version_conflicts();
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].plugin(), Some("auth-service"));
    assert_eq!(conflicts[0].plugin_version(), Some(&version("1.2.3")));
    assert_eq!(conflicts[0].dependency(), "logging-service");
    assert_eq!(conflicts[0].constraint().as_str(), "^2");
    assert_eq!(
        conflicts[0].available(),
        [version("1.0.0"), version("1.1.0")]
    );
    assert!(
        error
            .explanation()
            .contains("auth-service 1.2.3 requires logging-service ^2, but only logging-service 1.0.0 and 1.1.0 exist"),
        "{}",
        error.explanation()
    );
    insta::assert_snapshot!(render_error(&error));
}

#[test]
fn two_dependents_that_disagree_are_both_reported() {
    let reg = registry([
        pkg!("a@1.0.0" => ["shared ^1"]),
        pkg!("b@1.0.0" => ["shared ^2"]),
        pkg!("shared@1.4.0"),
        pkg!("shared@2.1.0"),
    ]);
    let error = run(&reg, &["a", "b"]).unwrap_err();
    let plugins: Vec<Option<&str>> = error
        .version_conflicts()
        .iter()
        .map(|c| c.plugin())
        .collect();
    assert_eq!(plugins, [Some("a"), Some("b")]);
    insta::assert_snapshot!(render_error(&error));
}

#[test]
fn a_conflict_found_by_backtracking_is_explained() {
    let reg = registry([
        pkg!("app@1.0.0" => ["menu", "icons ^1"]),
        pkg!("menu@1.1.0" => ["dropdown ^2"]),
        pkg!("menu@1.0.0" => ["dropdown ^1"]),
        pkg!("dropdown@2.0.0" => ["icons ^2"]),
        pkg!("dropdown@1.0.0" => ["intl ^3"]),
        pkg!("icons@1.0.0"),
        pkg!("icons@2.0.0"),
        pkg!("intl@4.0.0"),
    ]);
    let error = run(&reg, &["app"]).unwrap_err();
    insta::assert_snapshot!(render_error(&error));
}

#[test]
fn a_missing_wanted_plugin_is_named() {
    let reg = registry([pkg!("a@1.0.0")]);
    let error = run(&reg, &["a", "ghost"]).unwrap_err();
    assert_eq!(error.missing_wanted().iter().collect::<Vec<_>>(), ["ghost"]);
    insta::assert_snapshot!(render_error(&error));
}

#[test]
fn a_wanted_version_that_does_not_exist_is_a_conflict_of_the_caller() {
    let reg = registry([pkg!("a@1.0.0"), pkg!("a@1.1.0")]);
    let error = run(&reg, &["a@^3"]).unwrap_err();
    assert_eq!(error.version_conflicts().len(), 1);
    assert_eq!(error.version_conflicts()[0].plugin(), None);
    insta::assert_snapshot!(render_error(&error));
}

#[test]
fn explanations_never_mention_the_virtual_root() {
    let reg = registry([
        pkg!("a@1.0.0" => ["b ^2"]),
        pkg!("a@2.0.0" => ["c"]),
        pkg!("b@1.0.0"),
    ]);
    for wanted in [&["a"][..], &["a", "b"], &["a@^2", "b@^9"]] {
        let error = run(&reg, wanted).unwrap_err();
        let text = error.explanation();
        assert!(!text.contains("root"), "{text}");
        assert!(!text.contains("0.0.0"), "{text}");
        assert!(!text.contains('#'), "{text}");
    }
}

// ----- errors a person can act on ----------------------------------------------

#[test]
fn a_wanted_pre_release_that_does_not_exist_is_named_as_such() {
    let reg = registry([pkg!("a@1.0.0"), pkg!("a@1.1.0"), pkg!("a@2.0.0-rc.1")]);
    let error = run(&reg, &["a@1.0.0-rc.1"]).unwrap_err();
    let text = error.explanation();
    assert!(!text.contains("policy"), "{text}");
    assert!(text.contains("no such version exists"), "{text}");
    // Allowing pre-releases would not help: no hint.
    assert_eq!(error.hints(), []);
    assert_eq!(error.version_conflicts().len(), 1);
    insta::assert_snapshot!(render_error(&error));
    // The same, asked for by a plugin.
    let reg = registry([pkg!("app@1.0.0" => ["a 1.0.0-rc.1"]), pkg!("a@1.0.0")]);
    let error = run(&reg, &["app"]).unwrap_err();
    let text = error.explanation();
    assert!(!text.contains("policy"), "{text}");
    assert!(
        text.contains(
            "app 1.0.0 requires a 1.0.0-rc.1, but no such version exists (only a 1.0.0 exists)"
        ),
        "{text}"
    );
}

#[test]
fn two_wants_of_one_plugin_that_conflict_are_named_as_such() {
    let reg = registry([pkg!("a@1.0.0"), pkg!("a@1.1.0"), pkg!("a@2.0.0")]);
    for wanted in [&["a@1.0.0", "a@1.1.0"][..], &["a@^1", "a@^2"]] {
        let error = run(&reg, wanted).unwrap_err();
        let text = error.explanation();
        assert!(!text.contains("policy"), "{wanted:?}: {text}");
        assert!(
            text.contains("two wants that no one version can satisfy"),
            "{wanted:?}: {text}"
        );
        let wants: Vec<String> = error
            .version_conflicts()
            .iter()
            .map(|c| format!("{:?} {}", c.plugin(), c.constraint()))
            .collect();
        let expected: Vec<String> = wanted
            .iter()
            .map(|w| format!("None {}", w.split_once('@').unwrap().1))
            .collect();
        assert_eq!(wants, expected, "{wanted:?}");
        assert_eq!(error.hints(), [], "{wanted:?}");
    }
    let error = run(&reg, &["a@1.0.0", "a@1.1.0"]).unwrap_err();
    insta::assert_snapshot!(render_error(&error));
}

#[test]
fn a_setting_that_would_change_the_answer_is_a_typed_hint() {
    // a pre-release the policy refuses
    let reg = registry([pkg!("engine@2.0.0-rc.1")]);
    let error = run(&reg, &["engine"]).unwrap_err();
    assert_eq!(error.hints(), [Hint::AllowPrerelease]);
    assert!(
        error
            .explanation()
            .ends_with("\nAllowing pre-release versions may change this."),
        "{}",
        error.explanation()
    );
    // a downgrade the policy refuses
    let reg = registry([pkg!("db@1.0.0")]);
    let loaded = ResolveOptions::default()
        .with_current(BTreeMap::from([("db".to_owned(), version("1.5.0"))]));
    let error = run_with(&reg, &["db@^1"], &loaded).unwrap_err();
    assert_eq!(error.hints(), [Hint::AllowDowngrade]);
    // a rejected cycle
    let reg = registry([pkg!("a@1.0.0" => ["b"]), pkg!("b@1.0.0" => ["a"])]);
    let error = run(&reg, &["a"]).unwrap_err();
    assert_eq!(error.hints(), [Hint::AllowCycles]);
    // nothing a setting would change
    let reg = registry([pkg!("a@1.0.0")]);
    assert_eq!(run(&reg, &["a@^2"]).unwrap_err().hints(), []);
    assert_eq!(run(&reg, &["ghost"]).unwrap_err().hints(), []);
}

// ----- policy --------------------------------------------------------------------

#[test]
fn pre_releases_need_the_policy() {
    let reg = registry([
        pkg!("app@1.0.0" => ["engine >=2.0.0-rc.1"]),
        pkg!("engine@2.0.0-rc.1"),
    ]);
    let error = run(&reg, &["app"]).unwrap_err();
    insta::assert_snapshot!(render_error(&error));
    let policy = VersionPolicy::default().with_allow_prerelease(true);
    let resolution = run_with(
        &reg,
        &["app"],
        &ResolveOptions::default().with_policy(policy),
    )
    .unwrap();
    assert_eq!(resolution.version("engine"), Some(&version("2.0.0-rc.1")));
}

#[test]
fn a_release_is_preferred_to_a_pre_release_even_when_both_are_allowed() {
    let reg = registry([pkg!("a@1.0.0"), pkg!("a@1.1.0-beta.1")]);
    let policy = VersionPolicy::default().with_allow_prerelease(true);
    let resolution =
        run_with(&reg, &["a"], &ResolveOptions::default().with_policy(policy)).unwrap();
    assert_eq!(resolution.version("a"), Some(&version("1.0.0")));
}

#[test]
fn a_plugin_wanted_by_name_may_be_a_pre_release_when_the_policy_allows() {
    let reg = registry([pkg!("engine@2.0.0-rc.1"), pkg!("engine@2.0.0-rc.2")]);
    let error = run(&reg, &["engine"]).unwrap_err();
    insta::assert_snapshot!(render_error(&error));
    let policy = VersionPolicy::default().with_allow_prerelease(true);
    let options = ResolveOptions::default().with_policy(policy);
    let resolution = run_with(&reg, &["engine"], &options).unwrap();
    assert_eq!(resolution.version("engine"), Some(&version("2.0.0-rc.2")));
    // `*` follows npm: no pre-release, whatever the policy.
    assert!(run_with(&reg, &["engine@*"], &options).is_err());
}

#[test]
fn downgrades_are_refused_unless_allowed() {
    let reg = registry([
        pkg!("app@1.0.0" => ["db ^1"]),
        pkg!("db@1.0.0"),
        pkg!("db@1.2.0"),
    ]);
    let loaded = ResolveOptions::default()
        .with_current(BTreeMap::from([("db".to_owned(), version("1.5.0"))]));
    let error = run_with(&reg, &["app"], &loaded).unwrap_err();
    insta::assert_snapshot!(render_error(&error));
    let policy = VersionPolicy::default().with_allow_downgrade(true);
    let resolution = run_with(&reg, &["app"], &loaded.with_policy(policy)).unwrap();
    assert_eq!(resolution.version("db"), Some(&version("1.2.0")));
}

#[test]
fn the_loaded_version_itself_is_not_a_downgrade() {
    let reg = registry([pkg!("db@1.0.0"), pkg!("db@1.2.0")]);
    let loaded = ResolveOptions::default()
        .with_current(BTreeMap::from([("db".to_owned(), version("1.2.0"))]));
    let resolution = run_with(&reg, &["db"], &loaded).unwrap();
    assert_eq!(resolution.version("db"), Some(&version("1.2.0")));
}

// ----- optional dependencies --------------------------------------------------

#[test]
fn an_optional_dependency_that_fits_is_loaded_first() {
    let reg = registry([
        pkg!("app@1.0.0" => [], optional ["metrics ^1"]),
        pkg!("metrics@1.4.0" => ["clock"]),
        pkg!("clock@1.0.0"),
    ]);
    let resolution = run(&reg, &["app"]).unwrap();
    assert_eq!(resolution.load_order(), ["clock", "metrics", "app"]);
    assert!(resolution.warnings().is_empty());
    insta::assert_snapshot!(render(&resolution));
}

#[test]
fn an_absent_optional_dependency_is_left_out_and_reported() {
    let reg = registry([pkg!("app@1.0.0" => [], optional ["metrics", "tracing ^2"])]);
    let resolution = run(&reg, &["app"]).unwrap();
    assert_eq!(selected(&resolution), ["app 1.0.0"]);
    let reasons: Vec<(&str, &LeftOut)> = resolution
        .warnings()
        .iter()
        .filter_map(|warning| match warning {
            Warning::OptionalLeftOut {
                dependency, reason, ..
            } => Some((dependency.as_str(), reason)),
            _ => None,
        })
        .collect();
    assert_eq!(
        reasons,
        [
            ("metrics", &LeftOut::Missing),
            ("tracing", &LeftOut::Missing)
        ]
    );
    insta::assert_snapshot!(render(&resolution));
}

#[test]
fn every_optional_dependency_left_out_has_a_typed_reason() {
    let reg = registry([
        pkg!("app@1.0.0" => ["log ^1"], optional ["ghost", "old ^2", "lib ^2", "bad"]),
        pkg!("log@1.0.0" => ["lib ^1"]),
        pkg!("lib@1.0.0"),
        pkg!("lib@2.0.0"),
        pkg!("old@1.0.0"),
        pkg!("bad@1.0.0" => ["nowhere"]),
    ]);
    let resolution = run(&reg, &["app"]).unwrap();
    assert_eq!(
        selected(&resolution),
        ["app 1.0.0", "lib 1.0.0", "log 1.0.0"]
    );
    let reasons: Vec<String> = resolution
        .warnings()
        .iter()
        .filter_map(|warning| match warning {
            Warning::OptionalLeftOut {
                dependency, reason, ..
            } => Some(format!(
                "{dependency}: {}",
                match reason {
                    LeftOut::Missing => "missing",
                    LeftOut::NoVersionFits { .. } => "no version fits",
                    LeftOut::OtherVersionLoaded { .. } => "other version loaded",
                    LeftOut::Conflict { .. } => "conflict",
                    LeftOut::TooDeep { .. } => "too deep",
                    _ => "other",
                }
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        reasons,
        [
            "ghost: missing",
            "old: no version fits",
            "lib: other version loaded",
            "bad: conflict"
        ]
    );
    insta::assert_snapshot!(render(&resolution));
}

#[test]
fn an_optional_dependency_in_no_fitting_version_is_left_out_and_reported() {
    let reg = registry([
        pkg!("app@1.0.0" => [], optional ["metrics ^2"]),
        pkg!("metrics@1.0.0"),
        pkg!("metrics@1.1.0"),
    ]);
    let resolution = run(&reg, &["app"]).unwrap();
    assert_eq!(selected(&resolution), ["app 1.0.0"]);
    assert!(matches!(
        resolution.warnings(),
        [Warning::OptionalLeftOut { dependency, .. }] if dependency == "metrics"
    ));
    insta::assert_snapshot!(render(&resolution));
}

#[test]
fn an_optional_dependency_that_disagrees_with_the_loaded_version_is_reported() {
    let reg = registry([
        pkg!("app@1.0.0" => ["metrics ^1"]),
        pkg!("dashboard@1.0.0" => [], optional ["metrics ^2"]),
        pkg!("metrics@1.3.0"),
        pkg!("metrics@2.0.0"),
    ]);
    let resolution = run(&reg, &["app", "dashboard"]).unwrap();
    assert_eq!(resolution.version("metrics"), Some(&version("1.3.0")));
    assert!(resolution.dependencies("dashboard").is_empty());
    insta::assert_snapshot!(render(&resolution));
}

#[test]
fn an_optional_dependency_whose_own_requirements_fail_is_reported() {
    let reg = registry([
        pkg!("app@1.0.0" => [], optional ["metrics"]),
        pkg!("metrics@1.0.0" => ["exporter ^3"]),
        pkg!("exporter@2.0.0"),
    ]);
    let resolution = run(&reg, &["app"]).unwrap();
    assert_eq!(selected(&resolution), ["app 1.0.0"]);
    insta::assert_snapshot!(render(&resolution));
}

#[test]
fn optional_dependencies_never_change_a_required_version() {
    // `app` requires any `core` (newest: 2.0.0); the optional `plugin-x`
    // only works with core ^1. Loading it would need an older core: no.
    let reg = registry([
        pkg!("app@1.0.0" => ["core"], optional ["plugin-x"]),
        pkg!("core@1.0.0"),
        pkg!("core@2.0.0"),
        pkg!("plugin-x@1.0.0" => ["core ^1"]),
    ]);
    let resolution = run(&reg, &["app"]).unwrap();
    assert_eq!(selected(&resolution), ["app 1.0.0", "core 2.0.0"]);
    assert_eq!(resolution.warnings().len(), 1);
}

#[test]
fn optional_dependencies_of_optional_dependencies_are_followed() {
    let reg = registry([
        pkg!("app@1.0.0" => [], optional ["a"]),
        pkg!("a@1.0.0" => ["b"], optional ["c"]),
        pkg!("b@1.0.0" => [], optional ["d ^1"]),
        pkg!("c@1.0.0"),
        pkg!("d@1.0.0"),
    ]);
    let resolution = run(&reg, &["app"]).unwrap();
    assert_eq!(
        selected(&resolution),
        ["a 1.0.0", "app 1.0.0", "b 1.0.0", "c 1.0.0", "d 1.0.0"]
    );
    assert_eq!(resolution.load_order(), ["c", "d", "b", "a", "app"]);
}

#[test]
fn optional_dependencies_that_exclude_each_other_are_decided_by_name() {
    let reg = registry([
        pkg!("app@1.0.0" => [], optional ["x ^1", "y"]),
        pkg!("x@1.0.0" => ["shared ^1"]),
        pkg!("y@1.0.0" => ["shared ^2"]),
        pkg!("shared@1.0.0"),
        pkg!("shared@2.0.0"),
    ]);
    let resolution = run(&reg, &["app"]).unwrap();
    assert_eq!(
        selected(&resolution),
        ["app 1.0.0", "shared 1.0.0", "x 1.0.0"]
    );
    insta::assert_snapshot!(render(&resolution));
}

#[test]
fn an_optional_dependency_never_makes_resolution_fail() {
    // Every kind of broken optional dependency at once.
    let reg = registry([
        pkg!("app@1.0.0" => ["core ^1"], optional ["gone", "old ^5", "broken", "cyclic"]),
        pkg!("core@1.0.0"),
        pkg!("old@1.0.0"),
        pkg!("broken@1.0.0" => ["core ^2"]),
        pkg!("cyclic@1.0.0" => ["loop"]),
        pkg!("loop@1.0.0" => ["cyclic"]),
    ]);
    let resolution = run(&reg, &["app"]).unwrap();
    assert_eq!(selected(&resolution), ["app 1.0.0", "core 1.0.0"]);
    assert_eq!(resolution.warnings().len(), 4);
}

// ----- cycles ------------------------------------------------------------------

#[test]
fn a_required_cycle_is_rejected_by_default_and_named_in_order() {
    let reg = registry([
        pkg!("app@1.0.0" => ["a"]),
        pkg!("a@1.0.0" => ["b ^1"]),
        pkg!("b@1.0.0" => ["c"]),
        pkg!("c@1.0.0" => ["a"]),
    ]);
    let error = run(&reg, &["app"]).unwrap_err();
    assert_eq!(
        error.circular_dependencies(),
        [vec!["a".to_owned(), "b".to_owned(), "c".to_owned()]]
    );
    insta::assert_snapshot!(render_error(&error));
}

#[test]
fn a_cycle_starts_at_its_first_name_and_follows_the_requirements() {
    let reg = registry([
        pkg!("z@1.0.0" => ["m"]),
        pkg!("m@1.0.0" => ["b"]),
        pkg!("b@1.0.0" => ["z"]),
    ]);
    let error = run(&reg, &["m"]).unwrap_err();
    assert_eq!(
        error.circular_dependencies(),
        [vec!["b".to_owned(), "z".to_owned(), "m".to_owned()]]
    );
}

#[test]
fn an_allowed_cycle_loads_as_one_group_and_says_so() {
    let reg = registry([
        pkg!("app@1.0.0" => ["a"]),
        pkg!("a@1.0.0" => ["b"]),
        pkg!("b@1.0.0" => ["c", "base"]),
        pkg!("c@1.0.0" => ["a"]),
        pkg!("base@1.0.0"),
    ]);
    let resolution = run_with(&reg, &["app"], &allow_cycles()).unwrap();
    let groups: Vec<Vec<&str>> = resolution
        .load_groups()
        .iter()
        .map(|group| group.iter().map(|name| &**name).collect())
        .collect();
    assert_eq!(groups, [vec!["base"], vec!["a", "b", "c"], vec!["app"]]);
    assert_eq!(resolution.load_order(), ["base", "a", "b", "c", "app"]);
    assert_eq!(resolution.circular_dependencies().len(), 1);
    insta::assert_snapshot!(render(&resolution));
}

#[test]
fn optional_edges_never_make_a_cycle_fail() {
    let reg = registry([
        pkg!("a@1.0.0" => ["b"]),
        pkg!("b@1.0.0" => [], optional ["a"]),
    ]);
    let resolution = run(&reg, &["a"]).unwrap();
    assert_eq!(resolution.load_order(), ["b", "a"]);
    insta::assert_snapshot!(render(&resolution));
}

#[test]
fn an_optional_only_cycle_is_broken_by_name() {
    let reg = registry([
        pkg!("a@1.0.0" => [], optional ["b"]),
        pkg!("b@1.0.0" => [], optional ["a"]),
    ]);
    let resolution = run(&reg, &["a", "b"]).unwrap();
    // (a, b) comes first by name and is kept: b loads before a.
    assert_eq!(resolution.load_order(), ["b", "a"]);
    assert!(matches!(
        resolution.warnings(),
        [Warning::OptionalOrderIgnored { plugin, dependency }] if plugin == "b" && dependency == "a"
    ));
}

#[test]
fn the_load_order_respects_optional_dependencies_when_it_can() {
    let reg = registry([pkg!("a@1.0.0" => [], optional ["z"]), pkg!("z@1.0.0")]);
    let resolution = run(&reg, &["a", "z"]).unwrap();
    assert_eq!(resolution.load_order(), ["z", "a"]);
    assert!(resolution.warnings().is_empty());
}

// ----- strategies --------------------------------------------------------------

/// One broken plugin, one plugin that requires it, and many good ones.
fn one_bad_among_many() -> Registry {
    let mut reg = registry([
        pkg!("bad@1.0.0" => ["missing-dep"]),
        pkg!("needs-bad@1.0.0" => ["bad"]),
        pkg!("common@1.0.0"),
        pkg!("common@2.0.0"),
    ]);
    for i in 0..60 {
        let name = format!("good-{i:02}");
        let mut candidate = Candidate::new(name.as_str(), version("1.0.0"))
            .require("common", support::constraint("^2"));
        if i > 0 {
            candidate = candidate.require(format!("good-{:02}", i - 1), support::constraint("^1"));
        }
        reg.add(candidate).unwrap();
    }
    reg
}

#[test]
fn strict_fails_when_any_wanted_plugin_fails() {
    let reg = one_bad_among_many();
    let names = reg.plugin_names();
    let error = run(&reg, &names).unwrap_err();
    assert!(error.unresolved_dependencies().contains_key("bad"));
}

#[test]
fn best_effort_drops_only_what_must_go() {
    let reg = one_bad_among_many();
    let names = reg.plugin_names();
    let resolution = run_with(&reg, &names, &best_effort()).unwrap();
    let dropped: Vec<&str> = resolution.dropped().iter().map(|d| d.name()).collect();
    assert_eq!(dropped, ["bad", "needs-bad"]);
    assert_eq!(resolution.len(), names.len() - 2);
    for d in resolution.dropped() {
        assert!(matches!(d.reason(), DropReason::Unresolvable(_)));
        assert!(
            d.reason().failure().unresolved_dependencies()["bad"].contains("missing-dep"),
            "{d}"
        );
    }
    insta::assert_snapshot!(
        resolution
            .dropped()
            .iter()
            .map(|d| format!("{d}\n{}\n", d.reason().explanation()))
            .collect::<String>()
    );
}

#[test]
fn best_effort_keeps_the_first_by_name_of_two_that_conflict() {
    let reg = registry([
        pkg!("alpha@1.0.0" => ["shared ^1"]),
        pkg!("beta@1.0.0" => ["shared ^2"]),
        pkg!("gamma@1.0.0"),
        pkg!("shared@1.0.0"),
        pkg!("shared@2.0.0"),
    ]);
    let resolution = run_with(&reg, &["alpha", "beta", "gamma"], &best_effort()).unwrap();
    assert_eq!(
        selected(&resolution),
        ["alpha 1.0.0", "gamma 1.0.0", "shared 1.0.0"]
    );
    let [dropped] = resolution.dropped() else {
        panic!("{:?}", resolution.dropped());
    };
    assert_eq!(dropped.name(), "beta");
    assert!(
        matches!(dropped.reason(), DropReason::Conflict { with, .. } if with == &["alpha".to_owned()])
    );
    insta::assert_snapshot!(render(&resolution));
}

#[test]
fn best_effort_drops_a_plugin_that_needs_a_rejected_cycle() {
    let reg = registry([
        pkg!("a@1.0.0" => ["b"]),
        pkg!("b@1.0.0" => ["a"]),
        pkg!("c@1.0.0"),
        pkg!("uses-a@1.0.0" => ["a"]),
    ]);
    let resolution = run_with(&reg, &["a", "c", "uses-a"], &best_effort()).unwrap();
    assert_eq!(selected(&resolution), ["c 1.0.0"]);
    let dropped: Vec<&str> = resolution.dropped().iter().map(|d| d.name()).collect();
    assert_eq!(dropped, ["a", "uses-a"]);
    assert_eq!(
        resolution.dropped()[0]
            .reason()
            .failure()
            .circular_dependencies(),
        [vec!["a".to_owned(), "b".to_owned()]]
    );
}

#[test]
fn best_effort_with_nothing_wrong_drops_nothing() {
    let reg = registry([pkg!("a@1.0.0" => ["b"]), pkg!("b@1.0.0")]);
    let resolution = run_with(&reg, &["a"], &best_effort()).unwrap();
    assert!(resolution.dropped().is_empty());
    assert_eq!(resolution.load_order(), ["b", "a"]);
}

#[test]
fn best_effort_drops_missing_wanted_plugins() {
    let reg = registry([pkg!("a@1.0.0")]);
    let resolution = run_with(&reg, &["a", "ghost"], &best_effort()).unwrap();
    assert_eq!(selected(&resolution), ["a 1.0.0"]);
    assert_eq!(resolution.dropped()[0].name(), "ghost");
    assert!(
        resolution.dropped()[0]
            .reason()
            .failure()
            .missing_wanted()
            .contains("ghost")
    );
}

#[test]
fn best_effort_gives_a_dropped_plugin_a_second_chance() {
    // `a` conflicts with `b` only through `c`'s newest version; dropping
    // `c` first would be wrong, keeping both a and b needs neither drop.
    let reg = registry([
        pkg!("a@1.0.0" => ["lib ^1"]),
        pkg!("b@1.0.0" => ["lib ^2"]),
        pkg!("c@1.0.0" => ["lib ^1"]),
        pkg!("lib@1.0.0"),
        pkg!("lib@2.0.0"),
    ]);
    let resolution = run_with(&reg, &["a", "b", "c"], &best_effort()).unwrap();
    let dropped: Vec<&str> = resolution.dropped().iter().map(|d| d.name()).collect();
    assert_eq!(dropped, ["b"]);
    assert_eq!(selected(&resolution), ["a 1.0.0", "c 1.0.0", "lib 1.0.0"]);
}

// ----- bounds --------------------------------------------------------------------

fn chain(length: usize, last_missing: bool) -> Registry {
    let mut reg = Registry::new();
    for i in 0..length {
        let mut candidate = Candidate::new(format!("p{i:05}"), version("1.0.0"));
        if i + 1 < length || last_missing {
            candidate = candidate.require(format!("p{:05}", i + 1), support::constraint("^1"));
        }
        reg.add(candidate).unwrap();
    }
    reg
}

#[test]
fn the_depth_bound_is_a_typed_error_naming_the_chain() {
    let reg = chain(6, false);
    let ok = run_with(
        &reg,
        &["p00000"],
        &ResolveOptions::default().with_max_resolution_depth(6),
    );
    assert!(ok.is_ok());
    let error = run_with(
        &reg,
        &["p00000"],
        &ResolveOptions::default().with_max_resolution_depth(5),
    )
    .unwrap_err();
    match &error {
        ResolveError::TooDeep { max, chain } => {
            assert_eq!(*max, 5);
            assert_eq!(chain.len(), 6);
            assert_eq!(chain[0], "p00000");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(error.hints(), [Hint::RaiseDepthLimit]);
    insta::assert_snapshot!(error.to_string());
}

#[test]
fn the_step_bound_is_a_typed_error() {
    let reg = chain(200, false);
    let options = ResolveOptions::default().with_max_steps(50);
    let error = run_with(&reg, &["p00000"], &options).unwrap_err();
    assert!(
        matches!(
            error,
            ResolveError::Cancelled {
                reason: CancelReason::StepLimit(50),
                steps: 51,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .starts_with("resolution stopped: the limit of 50 solver steps")
    );
    assert_eq!(error.hints(), [Hint::RaiseStepLimit]);
    assert!(
        error
            .to_string()
            .ends_with("; a larger step budget may let the resolution finish"),
        "{error}"
    );
}

#[test]
fn the_time_bound_is_a_typed_error() {
    let reg = chain(2_000, false);
    let options = ResolveOptions::default().with_time_limit(Some(Duration::ZERO));
    let error = run_with(&reg, &["p00000"], &options).unwrap_err();
    assert!(
        matches!(
            error,
            ResolveError::Cancelled {
                reason: CancelReason::TimeLimit(_),
                ..
            }
        ),
        "{error:?}"
    );
    // It says so, and what would help.
    assert_eq!(error.hints(), [Hint::RaiseTimeLimit]);
    let text = error.to_string();
    assert!(
        text.starts_with("resolution stopped: the time limit of 0 ms was reached after "),
        "{text}"
    );
    assert!(
        text.ends_with("; a larger time limit may let the resolution finish"),
        "{text}"
    );
}

#[test]
fn an_adversarial_chain_is_stopped_quickly_and_without_overflow() {
    // A failing chain this long takes pubgrub tens of seconds and builds a
    // derivation tree deep enough to overflow a recursive walk.
    let reg = chain(30_000, true);
    let started = std::time::Instant::now();
    let options = ResolveOptions::default().with_time_limit(Some(Duration::from_millis(500)));
    let error = run_with(&reg, &["p00000"], &options).unwrap_err();
    assert!(matches!(error, ResolveError::Cancelled { .. }), "{error:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_deep_failure_is_explained_as_a_list_of_facts() {
    let reg = chain(400, true);
    let options = ResolveOptions::default().with_max_resolution_depth(1_000);
    let error = run_with(&reg, &["p00000"], &options).unwrap_err();
    let text = error.explanation();
    assert!(
        text.starts_with("Because of the facts below, p00000 cannot be loaded."),
        "{text}"
    );
    assert!(text.contains("- p00399 1.0.0 requires p00400 ^1"), "{text}");
    assert!(
        text.contains("- no plugin named p00400 was found"),
        "{text}"
    );
    assert!(error.unresolved_dependencies()["p00399"].contains("p00400"));
}

// ----- registry and wanted ---------------------------------------------------

#[test]
fn the_registry_refuses_duplicates_self_dependencies_and_empty_names() {
    let mut reg = registry([pkg!("a@1.0.0")]);
    assert_eq!(
        reg.add(pkg!("a@1.0.0")),
        Err(RegistryError::DuplicateVersion {
            name: "a".into(),
            version: version("1.0.0")
        })
    );
    assert!(matches!(
        reg.add(pkg!("b@1.0.0" => ["b ^1"])),
        Err(RegistryError::SelfDependency { .. })
    ));
    assert!(matches!(
        reg.add(pkg!("b@1.0.0" => [], optional ["b"])),
        Err(RegistryError::SelfDependency { .. })
    ));
    assert!(matches!(
        reg.add(Candidate::new("", version("1.0.0"))),
        Err(RegistryError::EmptyName { .. })
    ));
    assert_eq!(reg.len(), 1);
    assert_eq!(
        reg.add(pkg!("a@1.0.0")).unwrap_err().to_string(),
        "a 1.0.0 is already in the registry"
    );
}

#[test]
fn the_registry_lists_what_it_holds() {
    let reg = registry([
        pkg!("b@2.0.0" => ["ghost"]),
        pkg!("b@1.0.0"),
        pkg!("a@1.0.0"),
    ]);
    assert_eq!(reg.plugin_names(), ["a", "b"]);
    assert_eq!(
        reg.versions("b").cloned().collect::<Vec<_>>(),
        [version("1.0.0"), version("2.0.0")]
    );
    assert!(reg.contains("a"));
    assert!(!reg.contains("ghost"));
    assert_eq!(reg.candidates().count(), 3);
    let b2 = reg.candidate("b", &version("2.0.0")).unwrap();
    assert_eq!(b2.required()[0].name(), "ghost");
    assert!(reg.candidate("b", &version("3.0.0")).is_none());
}

#[test]
fn the_registry_refuses_a_dependency_listed_twice() {
    let mut reg = Registry::new();
    for candidate in [
        pkg!("a@1.0.0" => ["b", "b ^1"]),
        pkg!("a@1.0.0" => ["b"], optional ["b ^9"]),
        pkg!("a@1.0.0" => [], optional ["b", "b"]),
    ] {
        assert_eq!(
            reg.add(candidate),
            Err(RegistryError::DuplicateDependency {
                name: "a".into(),
                version: version("1.0.0"),
                dependency: "b".into(),
            })
        );
    }
    assert!(reg.is_empty());
}

#[test]
fn wanted_parses_name_and_constraint() {
    let plain: Wanted = "auth".parse().unwrap();
    assert_eq!(plain.name(), "auth");
    assert_eq!(plain.constraint(), None);
    assert_eq!(plain.to_string(), "auth");
    let constrained: Wanted = "auth@^1.2".parse().unwrap();
    assert_eq!(constrained.name(), "auth");
    assert_eq!(constrained.constraint().map(|c| c.as_str()), Some("^1.2"));
    let star: Wanted = "auth@*".parse().unwrap();
    assert_eq!(star.constraint().map(|c| c.as_str()), Some("*"));
    assert_eq!(constrained.to_string(), "auth@^1.2");
    assert!("@^1".parse::<Wanted>().is_err());
    assert!("auth@".parse::<Wanted>().is_err());
    assert!("auth@not a range".parse::<Wanted>().is_err());
    let error = "Bad Name@^1".parse::<Wanted>().unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid plugin name \"Bad Name\": a name starts with a lowercase ASCII letter"
    );
}

#[test]
fn a_wanted_plugin_given_twice_must_satisfy_both() {
    let reg = registry([pkg!("a@1.0.0"), pkg!("a@2.0.0")]);
    let error = resolve(
        &reg,
        &["a@^1".parse().unwrap(), "a@^2".parse().unwrap()],
        &ResolveOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(error, ResolveError::NoSolution(_)));
}
