//! Property tests: ranges agree with matching, the set algebra agrees with
//! membership, the policy's `check` agrees with its `admissible` set, and
//! no input makes parsing panic.

use plugin_version::{
    BreakingChange, Constraint, Version, VersionPolicy, VersionRanges, parse_version, satisfies,
};
use proptest::prelude::*;
use proptest::sample::select;
use semver::{BuildMetadata, Prerelease};

fn num() -> impl Strategy<Value = u64> {
    prop_oneof![12 => 0u64..4, 1 => Just(10u64)]
}

const PRE: &[&str] = &[
    "alpha",
    "alpha.1",
    "alpha.beta",
    "beta",
    "beta.2",
    "rc.1",
    "0",
    "1",
    "x",
    "0.0",
];
const BUILD: &[&str] = &["build", "001", "b.1", "zzz"];

/// Versions with small numbers (so they collide with constraint bounds),
/// pre-releases and build metadata.
fn version() -> impl Strategy<Value = Version> {
    (
        num(),
        num(),
        num(),
        prop::option::weighted(0.4, select(PRE)),
        prop::option::weighted(0.2, select(BUILD)),
    )
        .prop_map(|(major, minor, patch, pre, build)| {
            let mut v = Version::new(major, minor, patch);
            if let Some(pre) = pre {
                v.pre = Prerelease::new(pre).unwrap();
            }
            if let Some(build) = build {
                v.build = BuildMetadata::new(build).unwrap();
            }
            v
        })
}

fn full_text() -> impl Strategy<Value = String> {
    version().prop_map(|v| v.to_string())
}

fn part() -> impl Strategy<Value = String> {
    prop_oneof![4 => num().prop_map(|n| n.to_string()), 1 => select(&["x", "X", "*"][..]).prop_map(String::from)]
}

fn version_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => full_text(),
        1 => part(),
        1 => (part(), part()).prop_map(|(a, b)| format!("{a}.{b}")),
        1 => (part(), part(), part()).prop_map(|(a, b, c)| format!("{a}.{b}.{c}")),
    ]
}

fn comparator() -> impl Strategy<Value = String> {
    let ops = &["", "", "=", ">", ">=", "<", "<=", "^", "~", "~>"][..];
    (select(ops), select(&["", " "][..]), version_text()).prop_map(|(op, gap, v)| {
        let gap = if op.is_empty() { "" } else { gap };
        format!("{op}{gap}{v}")
    })
}

fn alternative() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (prop::collection::vec(comparator(), 1..4), select(&[" ", ", ", "  "][..]))
            .prop_map(|(cs, sep)| cs.join(sep)),
        1 => (version_text(), version_text()).prop_map(|(a, b)| format!("{a} - {b}")),
    ]
}

fn constraint_text() -> impl Strategy<Value = String> {
    prop::collection::vec(alternative(), 1..4).prop_map(|alts| alts.join(" || "))
}

/// Well-formed constraints of every syntax form.
fn constraint() -> impl Strategy<Value = Constraint> {
    constraint_text().prop_filter_map("not a valid constraint", |s| Constraint::parse(&s).ok())
}

/// Sets built from constraints and the `VersionRanges` constructors.
fn ranges() -> impl Strategy<Value = VersionRanges> {
    let leaf = prop_oneof![
        6 => constraint().prop_map(|c| c.to_ranges()),
        1 => Just(VersionRanges::full()),
        1 => Just(VersionRanges::empty()),
        1 => version().prop_map(VersionRanges::singleton),
        1 => version().prop_map(|v| VersionRanges::at_least(&v)),
    ];
    leaf.prop_recursive(2, 8, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|r| r.complement()),
            inner.clone().prop_map(|r| r.without_prereleases()),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| a.intersection(&b)),
            (inner.clone(), inner).prop_map(|(a, b)| a.union(&b)),
        ]
    })
}

fn policy() -> impl Strategy<Value = VersionPolicy> {
    (
        any::<bool>(),
        any::<bool>(),
        prop::bool::weighted(0.25),
        select(
            &[
                BreakingChange::Reject,
                BreakingChange::Warn,
                BreakingChange::Allow,
            ][..],
        ),
    )
        .prop_map(
            |(allow_prerelease, allow_downgrade, require_exact_match, breaking_change)| {
                VersionPolicy::default()
                    .with_allow_prerelease(allow_prerelease)
                    .with_allow_downgrade(allow_downgrade)
                    .with_require_exact_match(require_exact_match)
                    .with_breaking_change(breaking_change)
            },
        )
}

/// An exact constraint (`1.2.3`, `=1.2.3-rc.1`) or any other.
fn maybe_exact_constraint() -> impl Strategy<Value = Constraint> {
    prop_oneof![
        1 => (version(), select(&["", "=", "=v", "v"][..]))
            .prop_map(|(v, prefix)| Constraint::parse(&format!("{prefix}{v}")).unwrap()),
        3 => constraint(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn ranges_agree_with_matching(c in constraint(), versions in prop::collection::vec(version(), 16)) {
        let ranges = c.to_ranges();
        for v in &versions {
            prop_assert_eq!(satisfies(v, &c), ranges.contains(v), "{} against `{}` ({})", v, c, ranges);
        }
    }

    #[test]
    fn set_algebra_agrees_with_membership(a in ranges(), b in ranges(), versions in prop::collection::vec(version(), 16)) {
        let (not_a, both, either) = (a.complement(), a.intersection(&b), a.union(&b));
        for v in &versions {
            let (in_a, in_b) = (a.contains(v), b.contains(v));
            prop_assert_eq!(not_a.contains(v), !in_a);
            prop_assert_eq!(both.contains(v), in_a && in_b);
            prop_assert_eq!(either.contains(v), in_a || in_b);
            prop_assert_eq!(a.without_prereleases().contains(v), in_a && v.pre.is_empty());
        }
        prop_assert_eq!(not_a.complement(), a.clone());
        prop_assert!(a.intersection(&not_a).is_empty());
        prop_assert_eq!(a.union(&not_a), VersionRanges::full());
        prop_assert_eq!(a.is_disjoint(&b), both.is_empty());
        prop_assert_eq!(a.subset_of(&b), both == a);
    }

    #[test]
    fn constructors_mean_what_they_say(u in version(), v in version()) {
        prop_assert!(VersionRanges::full().contains(&v));
        prop_assert!(!VersionRanges::empty().contains(&v));
        prop_assert_eq!(VersionRanges::singleton(u.clone()).contains(&v), u == v);
        prop_assert_eq!(
            VersionRanges::at_least(&u).contains(&v),
            v.cmp_precedence(&u) != std::cmp::Ordering::Less
        );
        prop_assert!(Constraint::exact(&u).matches(&u));
        prop_assert_eq!(Constraint::exact(&u).matches(&v), u.cmp_precedence(&v).is_eq());
        prop_assert_eq!(Constraint::any().matches(&v), v.pre.is_empty());
    }

    #[test]
    fn text_round_trips(c in constraint(), v in version()) {
        let again: Constraint = c.to_string().parse().unwrap();
        prop_assert_eq!(&again, &c);
        prop_assert_eq!(again.matches(&v), c.matches(&v));
        prop_assert_eq!(parse_version(&v.to_string()).unwrap(), v);
    }

    #[test]
    fn exact_version_is_the_only_match(c in maybe_exact_constraint(), v in version()) {
        if let Some(exact) = c.exact_version() {
            prop_assert!(exact.build.is_empty());
            prop_assert!(c.matches(exact));
            prop_assert_eq!(c.matches(&v), v.cmp_precedence(exact).is_eq());
        }
    }

    #[test]
    fn check_agrees_with_admissible(
        policy in policy(),
        c in maybe_exact_constraint(),
        current in prop::option::of(version()),
        candidate in version(),
    ) {
        let verdict = policy.check(current.as_ref(), &candidate, Some(&c));
        let admitted = policy.admissible(&c, current.as_ref()).contains(&candidate);
        prop_assert_eq!(
            verdict.is_allowed(), admitted,
            "{:?} current {:?} candidate {} constraint `{}`: {:?}", policy, current, candidate, c, verdict
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5_000))]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        let _ = Constraint::parse(&text);
        let _ = parse_version(&text);
    }

    #[test]
    fn syntax_soup_never_panics(text in "[0-9xX*vV.=<>^~|, \\t+\\-a-z\u{a0}é]{0,40}") {
        if let Err(e) = Constraint::parse(&text) {
            prop_assert!(e.position() <= text.len());
            prop_assert!(text.is_char_boundary(e.position()));
            let message = e.to_string();
            prop_assert!(message.starts_with("invalid constraint `"));
            prop_assert!(!message.contains('\n'));
        }
        if let Err(e) = parse_version(&text) {
            prop_assert!(e.position() <= text.len());
        }
    }
}
