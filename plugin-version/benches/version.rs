//! Benchmarks: `Constraint` against `semver::VersionReq` on equivalent
//! requirements. In each group exactly one function id starts with
//! `baseline:`; `cargo xtask bench` prints the others' ratios to it.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use plugin_version::{Constraint, Version};
use semver::VersionReq;

/// `(semver::VersionReq text, equivalent plugkit constraint text)`.
const REQUIREMENTS: &[(&str, &str)] = &[
    (">=1.2.3, <2.0.0", ">=1.2.3 <2.0.0"),
    ("^1.2.3", "^1.2.3"),
    ("~1.2.3", "~1.2.3"),
    ("=1.2.3", "1.2.3"),
    ("^0.2.3", "^0.2.3"),
];

const VERSIONS: &[&str] = &[
    "1.2.3",
    "1.2.4",
    "1.9.0",
    "2.0.0",
    "0.2.5",
    "1.2.3-alpha.1",
    "1.3.0-rc.1",
    "1.2.3+build.7",
];

fn satisfies(c: &mut Criterion) {
    let versions: Vec<Version> = VERSIONS
        .iter()
        .map(|v| Version::parse(v).unwrap())
        .collect();
    let reqs: Vec<VersionReq> = REQUIREMENTS
        .iter()
        .map(|(r, _)| VersionReq::parse(r).unwrap())
        .collect();
    let ours: Vec<Constraint> = REQUIREMENTS
        .iter()
        .map(|(_, c)| Constraint::parse(c).unwrap())
        .collect();
    // the requirements really are equivalent on these versions
    for (req, constraint) in reqs.iter().zip(&ours) {
        for v in &versions {
            assert_eq!(
                req.matches(v),
                constraint.matches(v),
                "{req} vs {constraint} on {v}"
            );
        }
    }
    let mut group = c.benchmark_group("satisfies");
    group.bench_function("baseline:semver-VersionReq::matches", |b| {
        b.iter(|| {
            let mut n = 0u32;
            for req in &reqs {
                for v in &versions {
                    n += u32::from(black_box(req).matches(black_box(v)));
                }
            }
            n
        })
    });
    group.bench_function("plugkit:Constraint::matches", |b| {
        b.iter(|| {
            let mut n = 0u32;
            for constraint in &ours {
                for v in &versions {
                    n += u32::from(black_box(constraint).matches(black_box(v)));
                }
            }
            n
        })
    });
    group.finish();
}

fn constraint_parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("constraint-parse");
    group.bench_function("baseline:semver-VersionReq::parse", |b| {
        b.iter(|| {
            for (req, _) in REQUIREMENTS {
                black_box(VersionReq::parse(black_box(req)).unwrap());
            }
        })
    });
    group.bench_function("plugkit:Constraint::parse", |b| {
        b.iter(|| {
            for (_, constraint) in REQUIREMENTS {
                black_box(Constraint::parse(black_box(constraint)).unwrap());
            }
        })
    });
    group.finish();
}

criterion_group!(benches, satisfies, constraint_parse);
criterion_main!(benches);
