//! `VersionPolicy`: every field and every verdict, and the sets
//! `admissible` gives the resolver.

use plugin_version::{
    BreakingChange, Constraint, Reason, Verdict, Version, VersionPolicy, parse_version,
};

fn v(s: &str) -> Version {
    parse_version(s).unwrap()
}

fn c(s: &str) -> Constraint {
    Constraint::parse(s).unwrap()
}

fn policy() -> VersionPolicy {
    VersionPolicy::default()
}

#[test]
fn default_policy() {
    assert_eq!(
        policy(),
        VersionPolicy::default()
            .with_allow_prerelease(false)
            .with_allow_downgrade(false)
            .with_require_exact_match(false)
            .with_breaking_change(BreakingChange::Warn)
    );
    let policy = policy();
    assert!(!policy.allow_prerelease && !policy.allow_downgrade && !policy.require_exact_match);
    assert_eq!(policy.breaking_change, BreakingChange::Warn);
}

#[test]
fn first_load_is_allowed() {
    assert_eq!(policy().check(None, &v("1.0.0"), None), Verdict::Allowed);
    assert_eq!(
        policy().check(None, &v("0.0.1"), Some(&c("^0.0.1"))),
        Verdict::Allowed
    );
}

#[test]
fn upgrade_within_the_major_is_allowed() {
    let verdict = policy().check(Some(&v("1.2.0")), &v("1.3.0"), Some(&c("^1.0.0")));
    assert_eq!(verdict, Verdict::Allowed);
    assert!(verdict.is_allowed());
    assert_eq!(verdict.reason(), None);
    // same version again (build metadata aside) is no downgrade
    assert_eq!(
        policy().check(Some(&v("1.2.0+a")), &v("1.2.0"), None),
        Verdict::Allowed
    );
}

#[test]
fn prerelease_refused_unless_allowed() {
    let verdict = policy().check(None, &v("2.0.0-rc.1"), Some(&c(">=2.0.0-rc.1")));
    assert_eq!(
        verdict,
        Verdict::Refused(Reason::Prerelease {
            candidate: v("2.0.0-rc.1")
        })
    );
    assert_eq!(
        verdict.reason().unwrap().to_string(),
        "2.0.0-rc.1 is a pre-release and pre-releases are not allowed"
    );
    let allowing = policy().with_allow_prerelease(true);
    assert_eq!(
        allowing.check(None, &v("2.0.0-rc.1"), Some(&c(">=2.0.0-rc.1"))),
        Verdict::Allowed
    );
    // allowing pre-releases does not override the constraint's own rule
    assert!(matches!(
        allowing.check(None, &v("2.0.1-rc.1"), Some(&c("^2.0.0"))),
        Verdict::Refused(Reason::Unsatisfied { .. })
    ));
}

#[test]
fn downgrade_refused_unless_allowed() {
    let verdict = policy().check(Some(&v("1.4.0")), &v("1.3.9"), None);
    assert_eq!(
        verdict,
        Verdict::Refused(Reason::Downgrade {
            current: v("1.4.0"),
            candidate: v("1.3.9")
        })
    );
    assert_eq!(
        verdict.reason().unwrap().to_string(),
        "1.3.9 is lower than the loaded 1.4.0 and downgrades are not allowed"
    );
    let allowing = policy().with_allow_downgrade(true);
    assert_eq!(
        allowing.check(Some(&v("1.4.0")), &v("1.3.9"), None),
        Verdict::Allowed
    );
}

#[test]
fn breaking_change_warn_reject_allow() {
    let (current, candidate) = (v("1.4.0"), v("2.0.0"));
    let reason = Reason::Breaking {
        current: current.clone(),
        candidate: candidate.clone(),
    };
    assert_eq!(
        reason.to_string(),
        "2.0.0 is a breaking change from the loaded 1.4.0"
    );
    let with = |breaking_change| policy().with_breaking_change(breaking_change);
    let warn = with(BreakingChange::Warn).check(Some(&current), &candidate, None);
    assert_eq!(warn, Verdict::AllowedWithWarning(reason.clone()));
    assert!(warn.is_allowed());
    assert_eq!(warn.reason(), Some(&reason));
    assert_eq!(
        with(BreakingChange::Reject).check(Some(&current), &candidate, None),
        Verdict::Refused(reason)
    );
    assert_eq!(
        with(BreakingChange::Allow).check(Some(&current), &candidate, None),
        Verdict::Allowed
    );
}

#[test]
fn breaking_follows_npm_caret() {
    let reject = policy()
        .with_breaking_change(BreakingChange::Reject)
        .with_allow_downgrade(true)
        .with_allow_prerelease(true);
    let breaking = |from: &str, to: &str| !reject.check(Some(&v(from)), &v(to), None).is_allowed();
    // >= 1.0.0: another major
    assert!(!breaking("1.2.3", "1.9.0"));
    assert!(!breaking("1.2.3", "1.0.0"));
    assert!(breaking("1.2.3", "2.0.0"));
    assert!(breaking("1.2.3", "0.9.0"));
    assert!(breaking("1.2.3", "2.0.0-rc.1"));
    // 0.x: another minor
    assert!(!breaking("0.2.3", "0.2.9"));
    assert!(breaking("0.2.3", "0.3.0"));
    assert!(breaking("0.2.3", "1.0.0"));
    // 0.0.x: another patch
    assert!(!breaking("0.0.3", "0.0.3-beta"));
    assert!(!breaking("0.0.3", "0.0.3+build"));
    assert!(breaking("0.0.3", "0.0.4"));
    assert!(breaking("0.0.3", "0.1.3"));
}

#[test]
fn unsatisfied_constraint_is_refused() {
    let verdict = policy().check(None, &v("2.0.0"), Some(&c("^1.2.0")));
    assert_eq!(
        verdict,
        Verdict::Refused(Reason::Unsatisfied {
            constraint: c("^1.2.0"),
            candidate: v("2.0.0")
        })
    );
    assert_eq!(
        verdict.reason().unwrap().to_string(),
        "2.0.0 does not satisfy `^1.2.0`"
    );
}

#[test]
fn exact_match_requires_an_exact_constraint() {
    let exact = policy().with_require_exact_match(true);
    assert_eq!(
        exact.check(None, &v("1.2.3"), Some(&c("1.2.3"))),
        Verdict::Allowed
    );
    assert_eq!(
        exact.check(None, &v("1.2.3"), Some(&c("=v1.2.3"))),
        Verdict::Allowed
    );
    assert_eq!(
        exact.check(None, &v("1.2.3+build"), Some(&c("=1.2.3"))),
        Verdict::Allowed
    );
    assert!(matches!(
        exact.check(None, &v("1.2.4"), Some(&c("=1.2.3"))),
        Verdict::Refused(Reason::Unsatisfied { .. })
    ));
    let range = exact.check(None, &v("1.2.3"), Some(&c("^1.2.3")));
    assert_eq!(
        range,
        Verdict::Refused(Reason::NotExact {
            constraint: c("^1.2.3")
        })
    );
    assert_eq!(
        range.reason().unwrap().to_string(),
        "constraint `^1.2.3` is a range and exact version matches are required"
    );
    let none = exact.check(None, &v("1.2.3"), None);
    assert_eq!(
        none.reason().unwrap().to_string(),
        "1.2.3 was not asked for by an exact constraint and exact version matches are required"
    );
    assert!(!none.is_allowed());
}

#[test]
fn admissible_is_the_intersection() {
    let current = v("1.4.0");
    let wanted = c(">=1.0.0-rc.1");
    let contains = |policy: &VersionPolicy, s: &str| {
        policy.admissible(&wanted, Some(&current)).contains(&v(s))
    };
    let default = policy();
    assert!(contains(&default, "1.4.0"));
    assert!(
        contains(&default, "2.5.0"),
        "breaking changes only warn by default"
    );
    assert!(!contains(&default, "1.3.0"), "downgrade");
    assert!(!contains(&default, "1.0.0-rc.2"), "pre-release");

    let reject = policy().with_breaking_change(BreakingChange::Reject);
    assert!(contains(&reject, "1.9.9"));
    assert!(!contains(&reject, "2.0.0"));

    let loose = policy()
        .with_allow_prerelease(true)
        .with_allow_downgrade(true);
    assert!(contains(&loose, "1.0.0-rc.2"));
    assert!(contains(&loose, "1.3.0"));
    assert!(!contains(&loose, "0.9.0"), "still inside the constraint");

    let exact = policy().with_require_exact_match(true);
    assert!(exact.admissible(&wanted, None).is_empty());
    let pinned = exact.admissible(&c("1.5.0"), Some(&current));
    assert!(pinned.contains(&v("1.5.0")) && pinned.contains(&v("1.5.0+b")));
    assert!(!pinned.contains(&v("1.5.1")));
    assert!(
        exact.admissible(&c("1.3.0"), Some(&current)).is_empty(),
        "a downgrade"
    );
}

#[test]
fn admissible_without_current_is_the_constraint_minus_prereleases() {
    let wanted = c("^1.2.3-beta");
    assert_eq!(
        policy().admissible(&wanted, None),
        wanted.to_ranges().without_prereleases()
    );
    let allowing = policy().with_allow_prerelease(true);
    assert_eq!(allowing.admissible(&wanted, None), wanted.to_ranges());
}
