//! What a host asks of a resolution besides versions and order: the key of
//! the candidate each plugin came from, who depends on a plugin (directly
//! and transitively), and the difference between two resolutions.

#[macro_use]
mod support;

use plugin_resolver::{
    Affected, CandidateKey, CircularDependencyMode, Registry, RegistryError, Resolution,
    ResolveOptions, Warning,
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
