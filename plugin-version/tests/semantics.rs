//! Constraint semantics without npm: npm's desugaring table, the
//! pre-release rule, build metadata, constructors, display, exactness, the
//! shape of the ranges, and the `serde` and `pubgrub` features.

use plugin_version::{Constraint, Ranges, Version, VersionRanges, parse_version, satisfies};

fn v(s: &str) -> Version {
    parse_version(s).unwrap()
}

fn c(s: &str) -> Constraint {
    Constraint::parse(s).unwrap()
}

/// npm `classes/range.js`'s own desugaring examples, as set equalities.
#[test]
fn desugaring_follows_npm() {
    let same = [
        ("^1.2.3", ">=1.2.3 <2.0.0-0"),
        ("^1.2", ">=1.2.0 <2.0.0-0"),
        ("^1.2.x", ">=1.2.0 <2.0.0-0"),
        ("^2", ">=2.0.0 <3.0.0-0"),
        ("^2.x.x", ">=2.0.0 <3.0.0-0"),
        ("^0.1.0", ">=0.1.0 <0.2.0-0"),
        ("^0.0.1", ">=0.0.1 <0.0.2-0"),
        ("^0.0.3", ">=0.0.3 <0.0.4-0"),
        ("^0.0", ">=0.0.0 <0.1.0-0"),
        ("^0.x", ">=0.0.0 <1.0.0-0"),
        ("^1.2.3-beta.2", ">=1.2.3-beta.2 <2.0.0-0"),
        ("^0.0.3-beta", ">=0.0.3-beta <0.0.4-0"),
        ("^*", "*"),
        ("~1.2.3", ">=1.2.3 <1.3.0-0"),
        ("~>1.2.3", ">=1.2.3 <1.3.0-0"),
        ("~1.2", ">=1.2.0 <1.3.0-0"),
        ("~1", ">=1.0.0 <2.0.0-0"),
        ("~0.0.1", ">=0.0.1 <0.1.0-0"),
        ("~1.2.3-beta.2", ">=1.2.3-beta.2 <1.3.0-0"),
        ("1.x", ">=1.0.0 <2.0.0-0"),
        ("1.2.x", ">=1.2.0 <1.3.0-0"),
        ("1", ">=1.0.0 <2.0.0-0"),
        ("1.2", ">=1.2.0 <1.3.0-0"),
        ("*.x", "*"),
        ("X", "*"),
        (">1", ">=2.0.0"),
        (">1.2", ">=1.3.0"),
        (">=1.2", ">=1.2.0"),
        ("<=1.2", "<1.3.0-0"),
        ("<=1", "<2.0.0-0"),
        ("<1.2", "<1.2.0-0"),
        ("=1.2", ">=1.2.0 <1.3.0-0"),
        (">=*", "*"),
        ("<=*", "*"),
        (">*", "<0.0.0-0"),
        ("<*", "<0.0.0-0"),
        ("1.2.3 - 2.3.4", ">=1.2.3 <=2.3.4"),
        ("1.2 - 2.3.4", ">=1.2.0 <=2.3.4"),
        ("1.2.3 - 2.3", ">=1.2.3 <2.4.0-0"),
        ("1.2.3 - 2", ">=1.2.3 <3.0.0-0"),
        ("1.2.3-rc.1 - 2.0.0-beta", ">=1.2.3-rc.1 <=2.0.0-beta"),
        ("* - 2", "<3.0.0-0"),
        ("1.2.3 - *", ">=1.2.3"),
        (">=1.0.0, <2.0.0", ">=1.0.0 <2.0.0"),
        ("^1.2.3+build", "^1.2.3"),
        ("v1.2.3", "1.2.3"),
        ("=v1.2.3", "1.2.3"),
        (">= 1.2.3", ">=1.2.3"),
        ("^ 1.2.3", "^1.2.3"),
        ("~> 1.2", "~1.2"),
    ];
    for (sugar, plain) in same {
        assert_eq!(
            c(sugar).to_ranges(),
            c(plain).to_ranges(),
            "{sugar} vs {plain}"
        );
    }
}

#[test]
fn prerelease_rule() {
    let caret = c("^1.0.0");
    for yes in ["1.0.0", "1.0.1", "1.0.2", "1.9.9"] {
        assert!(caret.matches(&v(yes)), "{yes}");
    }
    for no in ["1.0.1-alpha", "1.0.2-alpha", "2.0.0-0", "1.0.0-rc.1"] {
        assert!(!caret.matches(&v(no)), "{no}");
    }
    let ranges = caret.to_ranges();
    assert!(ranges.prerelease().is_empty());
    let beta = c("^1.2.3-beta.1");
    assert!(beta.matches(&v("1.2.3-beta.2")));
    assert!(beta.matches(&v("1.2.3-rc.1")));
    assert!(!beta.matches(&v("1.2.3-alpha")));
    assert!(!beta.matches(&v("1.2.4-beta.2")));
    assert!(beta.matches(&v("1.2.4")));
    // an OR with `*` is `*`, which admits no pre-release (npm does the same)
    assert!(c("1.2.3-beta").matches(&v("1.2.3-beta")));
    assert!(!c("* || 1.2.3-beta").matches(&v("1.2.3-beta")));
    assert!(!c(">=0.0.0 || 1.2.3-beta").matches(&v("1.2.3-beta")));
    assert!(c(">=v0.0.0 || 1.2.3-beta").matches(&v("1.2.3-beta")));
    assert!(c("1.x || 1.2.3-beta").matches(&v("1.2.3-beta")));
}

#[test]
fn prerelease_ordering() {
    let order = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-beta",
        "1.0.0-rc.1",
        "1.0.0",
    ];
    for (i, lower) in order.iter().enumerate() {
        for (j, higher) in order.iter().enumerate() {
            // `>=1.0.0-0` names a pre-release of 1.0.0, so they may match
            let lt = c(&format!(">=1.0.0-0 <{higher}")).matches(&v(lower));
            assert_eq!(lt, i < j, "{lower} < {higher}");
        }
    }
}

#[test]
fn build_metadata_is_ignored() {
    assert!(c("<=1.2.3").matches(&v("1.2.3+build")));
    assert!(!c(">1.2.3").matches(&v("1.2.3+build")));
    assert!(!c("<1.2.3").matches(&v("1.2.3+build")));
    assert!(c("=1.2.3+other").matches(&v("1.2.3+build")));
    assert!(c("<=1.2.3-beta").matches(&v("1.2.3-beta+build")));
    assert!(!c(">1.2.3-beta").matches(&v("1.2.3-beta+build")));
    let ranges = c("<=1.2.3").to_ranges();
    assert!(ranges.contains(&v("1.2.3+zzz")) && !ranges.contains(&v("1.2.4-0")));
}

#[test]
fn constructors_and_display() {
    assert_eq!(Constraint::any().as_str(), "*");
    assert_eq!(Constraint::any(), c("*"));
    assert_eq!(Constraint::any().to_ranges(), c("x.x.x").to_ranges());
    let exact = Constraint::exact(&v("1.2.3"));
    assert_eq!(exact.to_string(), "=1.2.3");
    assert_eq!(exact, c("=1.2.3"));
    assert_eq!(exact.to_ranges(), c("1.2.3").to_ranges());
    assert_eq!(c("  ^1.2.3 \t").as_str(), "^1.2.3");
    assert_eq!(format!("{}", c(">=1.0.0,  <2.0.0")), ">=1.0.0,  <2.0.0");
    let parsed: Constraint = "~1.2".parse().unwrap();
    assert!(satisfies(&v("1.2.9"), &parsed));
    // equality is textual, as documented
    assert_ne!(c("1.2.3"), c("=1.2.3"));
}

#[test]
fn exact_version() {
    for (text, exact) in [
        ("1.2.3", Some("1.2.3")),
        ("=1.2.3", Some("1.2.3")),
        ("v1.2.3+build", Some("1.2.3")),
        ("=1.2.3-rc.1", Some("1.2.3-rc.1")),
        (">=1.2.3 <=1.2.3", Some("1.2.3")),
        ("1.2.3 || =1.2.3", Some("1.2.3")),
        ("1.2.3 - 1.2.3", Some("1.2.3")),
        ("^1.2.3", None),
        ("1.2", None),
        ("1.2.3 || 1.2.4", None),
        (">1.2.3 <1.2.4", None),
        ("*", None),
    ] {
        assert_eq!(c(text).exact_version(), exact.map(v).as_ref(), "{text}");
    }
    assert_eq!(
        Constraint::exact(&v("1.2.3+b")).exact_version(),
        Some(&v("1.2.3"))
    );
}

#[test]
fn ranges_shape() {
    use std::ops::Bound::{Excluded, Included};
    let caret = c("^1.2.3-beta").to_ranges();
    let release: Vec<_> = caret
        .release()
        .iter()
        .map(|(a, b)| (a.clone(), b.clone()))
        .collect();
    assert_eq!(release, vec![(Included(v("1.2.3")), Excluded(v("2.0.0")))]);
    let pre: Vec<_> = caret
        .prerelease()
        .iter()
        .map(|(a, b)| (a.clone(), b.clone()))
        .collect();
    assert_eq!(pre, vec![(Included(v("1.2.3-beta")), Excluded(v("1.2.3")))]);
    assert_eq!(
        caret.to_string(),
        ">=1.2.3, <2.0.0 (pre-releases: >=1.2.3-beta, <1.2.3)"
    );
    assert!(c(">1.2.3 <1.2.4").to_ranges().is_empty());
    assert!(c("<0.0.0").to_ranges().is_empty());
    assert!(c(">*").to_ranges().is_empty());
    assert_eq!(c(">*").to_ranges().to_string(), "∅");
    assert_eq!(c("*").to_ranges().to_string(), "* (no pre-releases)");
    assert_eq!(
        VersionRanges::full().to_string(),
        "* (pre-releases included)"
    );
    assert_eq!(
        VersionRanges::singleton(v("1.0.0-rc.1")).to_string(),
        "pre-releases 1.0.0-rc.1"
    );
    let at_least = VersionRanges::at_least(&v("1.2.3+b"));
    assert!(at_least.contains(&v("1.2.3")) && at_least.contains(&v("1.2.4-0")));
    assert!(!at_least.contains(&v("1.2.3-rc.1")));
    let parts = VersionRanges::from_parts(Ranges::full(), Ranges::empty());
    assert_eq!(parts, VersionRanges::full().without_prereleases());
}

#[cfg(feature = "serde")]
#[test]
fn serde_uses_the_text() {
    let constraint = c(" ^1.2.3 || 2.x ");
    let json = serde_json::to_string(&constraint).unwrap();
    assert_eq!(json, r#""^1.2.3 || 2.x""#);
    let back: Constraint = serde_json::from_str(&json).unwrap();
    assert_eq!(back, constraint);
    let err = serde_json::from_str::<Constraint>(r#""^^1""#).unwrap_err();
    assert!(
        err.to_string()
            .contains("invalid constraint `^^1` at position 1"),
        "{err}"
    );
}

#[cfg(feature = "pubgrub")]
#[test]
fn pubgrub_resolves_with_version_ranges() {
    use pubgrub::{OfflineDependencyProvider, VersionSet, resolve};
    let mut provider = OfflineDependencyProvider::<&str, VersionRanges>::new();
    provider.add_dependencies(
        "app",
        v("1.0.0"),
        [
            ("auth", c("^1.2.0").to_ranges()),
            ("log", c("~2.1").to_ranges()),
        ],
    );
    provider.add_dependencies("auth", v("1.2.0"), [("log", c(">=2.0.0").to_ranges())]);
    provider.add_dependencies("auth", v("1.3.0-beta"), []);
    provider.add_dependencies("auth", v("1.4.2"), [("log", c("<2.1.5").to_ranges())]);
    provider.add_dependencies("auth", v("2.0.0"), []);
    for log in ["2.0.9", "2.1.0", "2.1.4", "2.1.7", "2.2.0"] {
        provider.add_dependencies("log", v(log), []);
    }
    let solution = resolve(&provider, "app", v("1.0.0")).unwrap();
    assert_eq!(solution.get(&"auth"), Some(&v("1.4.2")));
    assert_eq!(solution.get(&"log"), Some(&v("2.1.4")));
    // the trait's methods are ours
    let set = c("^1.0.0").to_ranges();
    assert_eq!(
        <VersionRanges as VersionSet>::complement(&set),
        set.complement()
    );
    assert!(<VersionRanges as VersionSet>::subset_of(
        &set,
        &VersionSet::full()
    ));
}
