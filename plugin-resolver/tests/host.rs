//! What a host asks of a resolution besides versions and order: the key of
//! the candidate each plugin came from, who depends on a plugin (directly
//! and transitively), and the difference between two resolutions.

#[macro_use]
mod support;

use plugin_resolver::{CandidateKey, Registry, RegistryError};
use support::{registry, run, version};

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
