//! Resolution benchmarks (criterion; run by `cargo xtask bench`).
//!
//! Each group is one comparison with exactly one `baseline:` function:
//!
//! - `resolve-1000x20-vs-offline`: resolving every plugin of a synthetic
//!   registry (1,000 plugins x 20 versions, 0-5 caret requirements each,
//!   solvable) beside pubgrub's own `OfflineDependencyProvider` on the same
//!   data (same version sets, names as `String`s).
//! - `resolve-1000x20-vs-build`: the same resolution beside merely building
//!   the `Registry` from the candidates.
//! - `resolve-1000x20-best-effort`: best effort with one broken plugin (and
//!   one that requires it) among the thousand, beside the strict resolution
//!   of the good ones.
//! - `resolve-conflict-heavy`: a small registry (40 plugins x 20 majors)
//!   whose versions keep conflicting, so the solver backtracks deep and
//!   finally finds no solution, beside the offline provider. Our figure
//!   includes writing the explanation (hundreds of lines), which the
//!   baseline does not.
//! - `resolve-10000x10-vs-offline`: 10,000 plugins x 10 versions.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use plugin_resolver::{Candidate, Registry, ResolveOptions, Strategy, Wanted, resolve};
use plugin_version::{Constraint, Version, VersionRanges};
use pubgrub::OfflineDependencyProvider;

/// splitmix64: deterministic data without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// One synthetic plugin: its name and, per version, its requirements as
/// (plugin index, constraint).
struct Plugin {
    name: String,
    versions: Vec<(Version, Vec<(usize, Constraint)>)>,
}

/// `n` plugins x `v` versions (1.0.0 ... 1.9.0, 2.0.0 ...), each version
/// requiring 0-5 earlier plugins with caret constraints that all admit a
/// hidden target version, so everything together is solvable.
fn solvable(n: usize, v: usize, seed: u64) -> Vec<Plugin> {
    let mut rng = Rng(seed);
    let version_of = |k: usize| Version::new(1 + (k / 10) as u64, (k % 10) as u64, 0);
    let targets: Vec<usize> = (0..n).map(|_| rng.below(v)).collect();
    (0..n)
        .map(|i| {
            let versions = (0..v)
                .map(|k| {
                    let mut deps: Vec<(usize, Constraint)> = Vec::new();
                    if i > 0 {
                        for _ in 0..rng.below(6) {
                            let j = rng.below(i);
                            if deps.iter().any(|(d, _)| *d == j) {
                                continue;
                            }
                            let target = version_of(targets[j]);
                            let minor = rng.below(target.minor as usize + 1);
                            let text = format!("^{}.{minor}", target.major);
                            deps.push((j, Constraint::parse(&text).expect("caret")));
                        }
                    }
                    (version_of(k), deps)
                })
                .collect();
            Plugin {
                name: format!("plugin-{i:05}"),
                versions,
            }
        })
        .collect()
}

/// `n` plugins x 20 majors, each version requiring two later plugins at a
/// random major: the newest choices keep conflicting.
fn conflicting(n: usize, seed: u64) -> Vec<Plugin> {
    let mut rng = Rng(seed);
    (0..n)
        .map(|i| {
            let versions = (0..20u64)
                .map(|major| {
                    let mut deps = Vec::new();
                    if i + 1 < n {
                        for _ in 0..2 {
                            let j = i + 1 + rng.below((n - i - 1).min(8));
                            if deps.iter().any(|(d, _)| *d == j) {
                                continue;
                            }
                            let text = format!("^{}", 1 + rng.below(20));
                            deps.push((j, Constraint::parse(&text).expect("caret")));
                        }
                    }
                    (Version::new(major + 1, 0, 0), deps)
                })
                .collect();
            Plugin {
                name: format!("plugin-{i:05}"),
                versions,
            }
        })
        .collect()
}

fn candidates(plugins: &[Plugin]) -> Vec<Candidate> {
    let mut out = Vec::new();
    for plugin in plugins {
        for (version, deps) in &plugin.versions {
            let mut candidate = Candidate::new(plugin.name.as_str(), version.clone());
            for (j, constraint) in deps {
                candidate = candidate.require(plugins[*j].name.as_str(), constraint.clone());
            }
            out.push(candidate);
        }
    }
    out
}

fn build(candidates: &[Candidate]) -> Registry {
    let mut registry = Registry::new();
    for candidate in candidates {
        registry.add(candidate.clone()).expect("valid candidate");
    }
    registry
}

/// pubgrub's offline provider on the same data, with a root package that
/// depends on the wanted plugins at any (release) version.
fn offline(plugins: &[Plugin], wanted: usize) -> OfflineDependencyProvider<String, VersionRanges> {
    let mut provider = OfflineDependencyProvider::new();
    for plugin in plugins {
        for (version, deps) in &plugin.versions {
            provider.add_dependencies(
                plugin.name.clone(),
                version.clone(),
                deps.iter()
                    .map(|(j, c)| (plugins[*j].name.clone(), c.to_ranges()))
                    .collect::<Vec<_>>(),
            );
        }
    }
    let any = Constraint::any().to_ranges();
    provider.add_dependencies(
        "<root>".to_owned(),
        Version::new(0, 0, 0),
        plugins[..wanted]
            .iter()
            .map(|plugin| (plugin.name.clone(), any.clone()))
            .collect::<Vec<_>>(),
    );
    provider
}

fn wanted(plugins: &[Plugin], count: usize) -> Vec<Wanted> {
    plugins[..count]
        .iter()
        .map(|plugin| Wanted::new(plugin.name.as_str()))
        .collect()
}

fn options() -> ResolveOptions {
    ResolveOptions::default()
        .with_time_limit(None)
        .with_max_steps(u64::MAX)
}

fn offline_resolve(provider: &OfflineDependencyProvider<String, VersionRanges>) -> bool {
    pubgrub::resolve(provider, "<root>".to_owned(), Version::new(0, 0, 0)).is_ok()
}

/// One comparison: a criterion group of two functions, the baseline and
/// ours, with few samples (each iteration is a whole resolution).
fn compare<B, P, T, U>(c: &mut Criterion, group: &str, baseline: (&str, B), plugkit: (&str, P))
where
    B: FnMut() -> T,
    P: FnMut() -> U,
{
    let mut group = c.benchmark_group(group);
    group.sample_size(10);
    let (name, mut run) = baseline;
    group.bench_function(name, |b| b.iter(&mut run));
    let (name, mut run) = plugkit;
    group.bench_function(name, |b| b.iter(&mut run));
    group.finish();
}

fn thousand(c: &mut Criterion) {
    let plugins = solvable(1_000, 20, 1);
    let candidates = candidates(&plugins);
    let registry = build(&candidates);
    let all = wanted(&plugins, plugins.len());
    let provider = offline(&plugins, plugins.len());
    // Same answer from both, before timing anything.
    let ours = resolve(&registry, &all, &options()).expect("solvable");
    let theirs =
        pubgrub::resolve(&provider, "<root>".to_owned(), Version::new(0, 0, 0)).expect("solvable");
    let theirs: BTreeMap<Arc<str>, Version> = theirs
        .into_iter()
        .filter(|(name, _)| name != "<root>")
        .map(|(name, version)| (name.into(), version))
        .collect();
    assert_eq!(ours.selected(), &theirs);

    compare(
        c,
        "resolve-1000x20-vs-offline",
        ("baseline:pubgrub-OfflineDependencyProvider", || {
            black_box(offline_resolve(&provider))
        }),
        ("plugkit:resolve", || {
            black_box(resolve(&registry, &all, &options()).is_ok())
        }),
    );

    compare(
        c,
        "resolve-1000x20-vs-build",
        ("baseline:build-registry", || {
            black_box(build(&candidates).len())
        }),
        ("plugkit:resolve", || {
            black_box(resolve(&registry, &all, &options()).is_ok())
        }),
    );

    // One broken plugin and one that requires it, among the thousand.
    let mut broken = candidates.clone();
    broken.push(
        Candidate::new("zz-broken", Version::new(1, 0, 0))
            .require("does-not-exist", Constraint::any()),
    );
    broken.push(
        Candidate::new("zz-needs-broken", Version::new(1, 0, 0))
            .require("zz-broken", Constraint::any()),
    );
    let broken_registry = build(&broken);
    let mut broken_wanted = all.clone();
    broken_wanted.push(Wanted::new("zz-broken"));
    broken_wanted.push(Wanted::new("zz-needs-broken"));
    let best_effort = options().with_strategy(Strategy::BestEffort);
    let dropped = resolve(&broken_registry, &broken_wanted, &best_effort).expect("best effort");
    assert_eq!(dropped.dropped().len(), 2);
    assert_eq!(dropped.len(), ours.len());
    compare(
        c,
        "resolve-1000x20-best-effort",
        ("baseline:strict-without-the-broken-ones", || {
            black_box(resolve(&registry, &all, &options()).is_ok())
        }),
        ("plugkit:best-effort-one-broken", || {
            black_box(resolve(&broken_registry, &broken_wanted, &best_effort).is_ok())
        }),
    );
}

fn conflict_heavy(c: &mut Criterion) {
    let plugins = conflicting(40, 7);
    let registry = build(&candidates(&plugins));
    let first = wanted(&plugins, 5);
    let provider = offline(&plugins, 5);
    let ours = resolve(&registry, &first, &options()).is_ok();
    assert_eq!(ours, offline_resolve(&provider), "both agree");

    compare(
        c,
        "resolve-conflict-heavy",
        ("baseline:pubgrub-OfflineDependencyProvider", || {
            black_box(offline_resolve(&provider))
        }),
        ("plugkit:resolve", || {
            black_box(resolve(&registry, &first, &options()).is_ok())
        }),
    );
}

fn ten_thousand(c: &mut Criterion) {
    let plugins = solvable(10_000, 10, 3);
    let registry = build(&candidates(&plugins));
    let all = wanted(&plugins, plugins.len());
    let provider = offline(&plugins, plugins.len());
    assert!(resolve(&registry, &all, &options()).is_ok());

    compare(
        c,
        "resolve-10000x10-vs-offline",
        ("baseline:pubgrub-OfflineDependencyProvider", || {
            black_box(offline_resolve(&provider))
        }),
        ("plugkit:resolve", || {
            black_box(resolve(&registry, &all, &options()).is_ok())
        }),
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    targets = thousand, conflict_heavy, ten_thousand
}
criterion_main!(benches);
