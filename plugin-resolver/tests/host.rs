//! What a host asks of a resolution besides versions and order: the key of
//! the candidate each plugin came from, who depends on a plugin (directly
//! and transitively), and the difference between two resolutions.

#[macro_use]
mod support;

use plugin_resolver::{
    Affected, CandidateKey, CircularDependencyMode, Direction, KeptPlugin, Registry, RegistryError,
    Resolution, ResolutionDiff, ResolveOptions, ResolvedDependency, Warning,
};
use support::{registry, run, run_with, version};

fn key(value: u64) -> CandidateKey {
    CandidateKey::new(value)
}

// ----- keys -------------------------------------------------------------------

#[test]
fn each_chosen_version_carries_the_key_of_its_candidate() {
    let reg = registry([
        pkg!("app@1.0.0" => ["db ^1"]).with_key(key(1)),
        pkg!("db@1.0.0").with_key(key(2)),
        pkg!("db@1.5.0").with_key(key(3)),
        pkg!("db@2.0.0").with_key(key(4)),
        pkg!("log@1.0.0"),
    ]);
    let resolution = run(&reg, &["app", "log"]).unwrap();
    assert_eq!(resolution.key("app"), Some(key(1)));
    assert_eq!(resolution.key("db"), Some(key(3)));
    // A candidate without a key, and a plugin not loaded.
    assert_eq!(resolution.key("log"), None);
    assert_eq!(resolution.key("nothing"), None);
}

#[test]
fn keys_are_not_identity_a_duplicate_version_is_refused_whatever_its_key() {
    let mut reg = registry([pkg!("a@1.0.0").with_key(key(1))]);
    assert_eq!(
        reg.add(pkg!("a@1.0.0").with_key(key(2))),
        Err(RegistryError::DuplicateVersion {
            name: "a".into(),
            version: version("1.0.0"),
        })
    );
    assert_eq!(
        reg.candidate("a", &version("1.0.0")).and_then(|c| c.key()),
        Some(key(1))
    );
    // Two versions may share a key: the resolver never reads it.
    reg.add(pkg!("a@2.0.0").with_key(key(1))).unwrap();
    assert_eq!(run(&reg, &["a"]).unwrap().key("a"), Some(key(1)));
}

#[test]
fn with_key_replaces_an_earlier_key() {
    let candidate = pkg!("a@1.0.0").with_key(key(1)).with_key(key(5));
    assert_eq!(candidate.key(), Some(key(5)));
    assert_eq!(pkg!("a@1.0.0").key(), None);
    assert_eq!(key(5).get(), 5);
    assert_eq!(u64::from(key(5)), 5);
    assert_eq!(CandidateKey::from(5), key(5));
    let mut reg = Registry::new();
    reg.add(candidate).unwrap();
    assert_eq!(reg.candidates().next().and_then(|c| c.key()), Some(key(5)));
}

// ----- dependents -------------------------------------------------------------

/// `name kind [via, ...]` per affected plugin, in the order given.
fn affected(list: &[Affected]) -> Vec<String> {
    list.iter()
        .map(|a| {
            let via: Vec<&str> = a.via().iter().map(|n| &**n).collect();
            format!("{} {:?} [{}]", a.name(), a.kind(), via.join(", "))
        })
        .collect()
}

fn dependents(resolution: &Resolution, name: &str) -> Vec<String> {
    resolution
        .dependents(name)
        .iter()
        .map(|d| format!("{} {} ({:?})", d.name(), d.constraint(), d.kind()))
        .collect()
}

#[test]
fn dependents_are_tagged_and_list_only_loaded_optional_edges() {
    let reg = registry([
        pkg!("app@1.0.0" => ["db ^1"], optional ["cache"]),
        pkg!("admin@1.0.0" => [], optional ["db >=1", "missing"]),
        pkg!("report@1.0.0" => [], optional ["db ^2"]),
        pkg!("db@1.2.0"),
        pkg!("cache@1.0.0" => ["db"]),
    ]);
    let resolution = run(&reg, &["app", "admin", "report"]).unwrap();
    assert_eq!(
        dependents(&resolution, "db"),
        [
            "admin >=1 (Optional)",
            "app ^1 (Required)",
            "cache * (Required)",
        ]
    );
    // report's optional db ^2 was left out (db 1.2.0 is loaded): no edge.
    assert!(resolution.warnings().iter().any(|w| matches!(
        w,
        Warning::OptionalLeftOut { plugin, .. } if plugin == "report"
    )));
    assert_eq!(dependents(&resolution, "cache"), ["app * (Optional)"]);
    assert!(resolution.dependents("app").is_empty());
    assert!(resolution.dependents("missing").is_empty());
    assert!(resolution.dependents("nothing").is_empty());
}

#[test]
fn transitive_dependents_go_down_required_chains_in_load_order() {
    // core <- store <- {api, worker}; api <- web; dash optionally uses api,
    // and ui requires dash (which stays, so ui is not affected).
    let reg = registry([
        pkg!("core@1.0.0"),
        pkg!("store@1.0.0" => ["core"]),
        pkg!("api@1.0.0" => ["store"]),
        pkg!("worker@1.0.0" => ["store", "core"]),
        pkg!("web@1.0.0" => ["api"]),
        pkg!("dash@1.0.0" => [], optional ["api"]),
        pkg!("ui@1.0.0" => ["dash"]),
        pkg!("other@1.0.0"),
    ]);
    let resolution = run(&reg, &["web", "worker", "ui", "other"]).unwrap();
    assert_eq!(
        affected(&resolution.transitive_dependents("core")),
        [
            "store Required [core]",
            "api Required [store]",
            "dash Optional [api]",
            "web Required [api]",
            "worker Required [core, store]",
        ]
    );
    assert_eq!(
        resolution.load_order(),
        [
            "core", "other", "store", "api", "dash", "ui", "web", "worker"
        ]
    );
    assert_eq!(
        affected(&resolution.transitive_dependents("api")),
        ["dash Optional [api]", "web Required [api]"]
    );
    assert!(resolution.transitive_dependents("ui").is_empty());
    assert!(resolution.transitive_dependents("nothing").is_empty());
    // Several at once: the names given are never listed.
    assert_eq!(
        affected(&resolution.transitive_dependents_of(["api", "worker", "dash", "gone"])),
        ["ui Required [dash]", "web Required [api]"]
    );
}

#[test]
fn a_plugin_both_required_and_optional_below_the_one_gone_goes_down() {
    // b requires a; c optionally uses a but requires b: c goes down.
    let reg = registry([
        pkg!("a@1.0.0"),
        pkg!("b@1.0.0" => ["a"]),
        pkg!("c@1.0.0" => ["b"], optional ["a"]),
    ]);
    let resolution = run(&reg, &["c"]).unwrap();
    assert_eq!(
        affected(&resolution.transitive_dependents("a")),
        ["b Required [a]", "c Required [b]"]
    );
}

#[test]
fn a_cycle_loaded_together_goes_down_together() {
    let reg = registry([
        pkg!("base@1.0.0"),
        pkg!("x@1.0.0" => ["y", "base"]),
        pkg!("y@1.0.0" => ["x"]),
        pkg!("top@1.0.0" => ["y"]),
    ]);
    let options = ResolveOptions::default().with_circular(CircularDependencyMode::Allow);
    let resolution = run_with(&reg, &["top"], &options).unwrap();
    assert_eq!(
        affected(&resolution.transitive_dependents("base")),
        ["x Required [base, y]", "y Required [x]", "top Required [y]"]
    );
    assert_eq!(
        affected(&resolution.transitive_dependents("y")),
        ["x Required [y]", "top Required [y]"]
    );
}

// ----- diff -------------------------------------------------------------------

/// Every line of a diff, in its orders.
fn diff_lines(diff: &ResolutionDiff) -> Vec<String> {
    let mut out = Vec::new();
    out.extend(diff.removed().iter().map(|p| format!("- {p}")));
    out.extend(diff.changed().iter().map(|c| format!("~ {c}")));
    out.extend(diff.added().iter().map(|p| format!("+ {p}")));
    for kept in diff.rewired() {
        for change in kept.dependency_changes() {
            let side = |edge: Option<&ResolvedDependency>| {
                edge.map_or("none".to_owned(), |e| {
                    format!("{:?} {} @{}", e.kind(), e.constraint(), e.version())
                })
            };
            out.push(format!(
                "= {} {}: {} {} -> {}{}",
                kept.name(),
                kept.version(),
                change.dependency(),
                side(change.old_edge()),
                side(change.new_edge()),
                if change.is_required_change() {
                    " (reload)"
                } else {
                    ""
                }
            ));
        }
    }
    out
}

fn kept_names(diff: &ResolutionDiff) -> Vec<&str> {
    diff.kept().iter().map(KeptPlugin::name).collect()
}

#[test]
fn a_diff_lists_removals_in_reverse_old_order_and_the_rest_in_new_order() {
    let old_reg = registry([
        pkg!("app@1.0.0" => ["db ^1", "log"]),
        pkg!("db@1.0.0" => ["net"]),
        pkg!("net@1.0.0"),
        pkg!("log@1.0.0"),
        pkg!("legacy@1.0.0" => ["shim"]),
        pkg!("shim@1.0.0"),
    ]);
    let new_reg = registry([
        pkg!("app@1.0.0" => ["db ^1", "log"]),
        pkg!("db@1.1.0" => ["io"]),
        pkg!("io@1.0.0"),
        pkg!("log@0.9.0"),
        pkg!("extra@1.0.0" => ["app"]),
    ]);
    let old = run(&old_reg, &["app", "legacy"]).unwrap();
    let new = run(&new_reg, &["extra"]).unwrap();
    assert_eq!(
        old.load_order(),
        ["log", "net", "db", "app", "shim", "legacy"]
    );
    assert_eq!(new.load_order(), ["io", "db", "log", "app", "extra"]);
    let diff = old.diff(&new);
    assert_eq!(
        diff_lines(&diff),
        [
            "- legacy 1.0.0",
            "- shim 1.0.0",
            "- net 1.0.0",
            "~ db 1.0.0 -> 1.1.0 (upgrade)",
            "~ log 1.0.0 -> 0.9.0 (downgrade)",
            "+ io 1.0.0",
            "+ extra 1.0.0",
            "= app 1.0.0: db Required ^1 @1.0.0 -> Required ^1 @1.1.0 (reload)",
            "= app 1.0.0: log Required * @1.0.0 -> Required * @0.9.0 (reload)",
        ]
    );
    assert_eq!(kept_names(&diff), ["app"]);
    assert!(!diff.is_empty());
    // Backwards, every step is undone.
    assert_eq!(
        diff_lines(&new.diff(&old)),
        [
            "- extra 1.0.0",
            "- io 1.0.0",
            "~ log 0.9.0 -> 1.0.0 (upgrade)",
            "~ db 1.1.0 -> 1.0.0 (downgrade)",
            "+ net 1.0.0",
            "+ shim 1.0.0",
            "+ legacy 1.0.0",
            "= app 1.0.0: db Required ^1 @1.1.0 -> Required ^1 @1.0.0 (reload)",
            "= app 1.0.0: log Required * @0.9.0 -> Required * @1.0.0 (reload)",
        ]
    );
}

#[test]
fn the_same_resolution_twice_differs_in_nothing() {
    let reg = registry([pkg!("a@1.0.0" => ["b"]), pkg!("b@1.0.0")]);
    let resolution = run(&reg, &["a"]).unwrap();
    let diff = resolution.diff(&resolution.clone());
    assert!(diff.is_empty());
    assert_eq!(kept_names(&diff), ["b", "a"]);
    // From nothing, everything is added in load order; to nothing, removed
    // in reverse.
    let empty = Resolution::default();
    let lines = diff_lines(&empty.diff(&resolution));
    assert_eq!(lines, ["+ b 1.0.0", "+ a 1.0.0"]);
    assert_eq!(
        diff_lines(&resolution.diff(&empty)),
        ["- a 1.0.0", "- b 1.0.0"]
    );
    assert!(empty.diff(&empty).is_empty());
}

#[test]
fn a_new_version_beside_the_old_one_is_a_change_whatever_brought_it() {
    // v2 appears beside v1 (the registry holds both), then v1 goes: each
    // step is a change of the selected version, never a removal and an
    // addition.
    let one = registry([pkg!("greeter@1.0.0").with_key(key(1))]);
    let both = registry([
        pkg!("greeter@1.0.0").with_key(key(1)),
        pkg!("greeter@2.0.0").with_key(key(2)),
    ]);
    let two = registry([pkg!("greeter@2.0.0").with_key(key(3))]);
    let [one, both, two] = [one, both, two].map(|reg| run(&reg, &["greeter"]).unwrap());
    let diff = one.diff(&both);
    assert_eq!(diff_lines(&diff), ["~ greeter 1.0.0 -> 2.0.0 (upgrade)"]);
    let change = &diff.changed()[0];
    assert_eq!(change.direction(), Direction::Upgrade);
    assert_eq!(
        (change.old_key(), change.new_key()),
        (Some(key(1)), Some(key(2)))
    );
    assert_eq!(change.old_version(), &version("1.0.0"));
    assert_eq!(change.new_version(), &version("2.0.0"));
    // Same version from another candidate: kept, keys told, not compared.
    let diff = both.diff(&two);
    assert!(diff.is_empty());
    let kept = &diff.kept()[0];
    assert_eq!(
        (kept.old_key(), kept.new_key()),
        (Some(key(2)), Some(key(3)))
    );
}

#[test]
fn versions_that_differ_in_build_metadata_only_are_a_rebuild() {
    let old = run(&registry([pkg!("a@1.0.0+1")]), &["a"]).unwrap();
    let new = run(&registry([pkg!("a@1.0.0+2")]), &["a"]).unwrap();
    let diff = old.diff(&new);
    assert_eq!(diff.changed()[0].direction(), Direction::Rebuild);
    assert_eq!(diff_lines(&diff), ["~ a 1.0.0+1 -> 1.0.0+2 (rebuild)"]);
}

#[test]
fn an_optional_dependency_now_loaded_rewires_without_a_reload() {
    let without = registry([
        pkg!("app@1.0.0" => ["db"], optional ["cache ^1"]),
        pkg!("db@1.0.0"),
    ]);
    let with = registry([
        pkg!("app@1.0.0" => ["db"], optional ["cache ^1"]),
        pkg!("db@1.0.0"),
        pkg!("cache@1.2.0"),
    ]);
    let old = run(&without, &["app"]).unwrap();
    let new = run(&with, &["app"]).unwrap();
    let diff = old.diff(&new);
    assert_eq!(
        diff_lines(&diff),
        [
            "+ cache 1.2.0",
            "= app 1.0.0: cache none -> Optional ^1 @1.2.0",
        ]
    );
    let app = diff.rewired().next().unwrap();
    assert!(!app.required_changed());
    assert_eq!(kept_names(&diff), ["db", "app"]);
    // The way back loses it.
    assert_eq!(
        diff_lines(&new.diff(&old)),
        [
            "- cache 1.2.0",
            "= app 1.0.0: cache Optional ^1 @1.2.0 -> none"
        ]
    );
}

#[test]
fn an_optional_dependency_that_changes_version_does_not_ask_for_a_reload() {
    let old = run(
        &registry([
            pkg!("app@1.0.0" => [], optional ["cache"]),
            pkg!("cache@1.0.0"),
        ]),
        &["app"],
    )
    .unwrap();
    let new = run(
        &registry([
            pkg!("app@1.0.0" => [], optional ["cache"]),
            pkg!("cache@1.1.0"),
        ]),
        &["app"],
    )
    .unwrap();
    let diff = old.diff(&new);
    assert_eq!(
        diff_lines(&diff),
        [
            "~ cache 1.0.0 -> 1.1.0 (upgrade)",
            "= app 1.0.0: cache Optional * @1.0.0 -> Optional * @1.1.0",
        ]
    );
    assert!(!diff.kept()[0].required_changed());
}

#[test]
fn a_manifest_rewritten_under_the_same_version_shows_in_its_edges() {
    // The same app 1.0.0, now requiring what it used optionally, with
    // another constraint on db: a constraint alone does not ask for a
    // reload, a dependency becoming required does.
    let old = run(
        &registry([
            pkg!("app@1.0.0" => ["db ^1"], optional ["log"]),
            pkg!("db@1.0.0"),
            pkg!("log@1.0.0"),
        ]),
        &["app"],
    )
    .unwrap();
    let new = run(
        &registry([
            pkg!("app@1.0.0" => ["db >=1", "log"]),
            pkg!("db@1.0.0"),
            pkg!("log@1.0.0"),
        ]),
        &["app"],
    )
    .unwrap();
    let diff = old.diff(&new);
    assert_eq!(
        diff_lines(&diff),
        [
            "= app 1.0.0: db Required ^1 @1.0.0 -> Required >=1 @1.0.0",
            "= app 1.0.0: log Optional * @1.0.0 -> Required * @1.0.0 (reload)",
        ]
    );
    let changes = diff.kept().last().unwrap().dependency_changes();
    assert!(!changes[0].is_required_change());
    assert!(changes[1].is_required_change());
}
