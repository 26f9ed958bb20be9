//! Discovery benchmarks, each beside a floor measured in the same run.
//!
//! - `discover-10k`: a full `discover()` of a generated tree of 10,000
//!   plugin directories (3 levels, half JSON and half YAML manifests, plus
//!   10,000 files that are not manifests), beside the IO floor: walking the
//!   same tree and reading every manifest file, without parsing. Warm cache
//!   (the tree is generated once and scanned again and again).
//! - `watch-latency`: the time from writing a manifest to receiving its
//!   `Updated` event, beside the time from the same write to notify's first
//!   raw event (`baseline:notify-raw-event`). With the default 50 ms debounce
//!   most of the difference is the debounce itself, so the group also
//!   measures a 1 ms debounce.
//!
//! Criterion reports medians; the median and p99 over 200 writes and the
//! number of events a burst of 1,000 new plugins becomes do not fit a time
//! ratio, so they are printed as a line starting `watch-latency extra:`.
//!
//! Convention (see xtask): in each group one function id starts with `baseline:`.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use notify::{EventKind, RecursiveMode, Watcher};
use plugin_discovery::{
    DiscoveryConfig, DiscoveryEngine, DiscoveryEvent, MANIFEST_FILE_NAMES, Subscription, discover,
};

/// The generated tree: 10 × 10 × 100 plugin directories.
fn generate(root: &Path) {
    for a in 0..10 {
        for b in 0..10 {
            for c in 0..100 {
                let n = (a * 10 + b) * 100 + c;
                let dir = root.join(format!("group-{a}/set-{b}/plugin-{c:03}"));
                std::fs::create_dir_all(&dir).expect("create plugin directory");
                let name = format!("plugin-{n:05}");
                if n % 2 == 0 {
                    let json = format!(
                        r#"{{
  "name": "{name}",
  "version": "1.{a}.{c}",
  "description": "Generated plugin number {n}",
  "author": "bench",
  "capabilities": ["cap-{b}", "common"],
  "transport": "native",
  "endpoint": "lib{name}.so",
  "requirements": {{"required_plugins": ["base-plugin ^1.0"]}},
  "resources": {{"max_memory_mb": 64}}
}}
"#
                    );
                    std::fs::write(dir.join("plugin-manifest.json"), json).expect("write");
                } else {
                    let yaml = format!(
                        "name: {name}\nversion: 1.{a}.{c}\ndescription: Generated plugin number {n}\n\
                         author: bench\ncapabilities: [cap-{b}, common]\ntransport: process\n\
                         endpoint: {name}-plugin\nrequirements:\n  required_plugins:\n    - base-plugin ^1.0\n\
                         resources:\n  max_memory_mb: 64\n"
                    );
                    std::fs::write(dir.join("plugin-manifest.yaml"), yaml).expect("write");
                }
                std::fs::write(dir.join("README.txt"), "not a manifest\n").expect("write");
            }
        }
    }
}

/// The IO floor: walk the tree, read every manifest file, parse nothing.
fn walk_and_read(root: &Path) -> usize {
    let mut bytes = 0;
    for entry in walkdir::WalkDir::new(root).into_iter().flatten() {
        let is_manifest = entry
            .file_name()
            .to_str()
            .is_some_and(|name| MANIFEST_FILE_NAMES.contains(&name));
        if is_manifest && entry.file_type().is_file() {
            bytes += std::fs::read(entry.path()).expect("read manifest").len();
        }
    }
    bytes
}

fn discover_10k(c: &mut Criterion) {
    let tree = tempfile::tempdir().expect("temporary directory");
    generate(tree.path());
    let config = DiscoveryConfig::new([tree.path()]);
    let found = discover(&config).expect("valid configuration");
    assert_eq!(
        found.plugins.len(),
        10_000,
        "every generated plugin is found"
    );
    assert!(found.invalid.is_empty() && found.errors.is_empty());

    let mut group = c.benchmark_group("discover-10k");
    group.sample_size(10);
    group.bench_function("baseline:walk+read-manifests", |b| {
        b.iter(|| walk_and_read(tree.path()))
    });
    group.bench_function("plugkit:discover", |b| {
        b.iter(|| discover(&config).expect("valid configuration"))
    });
    group.finish();
}

/// A watched directory holding one plugin whose manifest the bench rewrites.
struct Target {
    _dir: tempfile::TempDir,
    manifest: PathBuf,
    writes: u64,
}

impl Target {
    fn new() -> Target {
        let dir = tempfile::tempdir().expect("temporary directory");
        let manifest = dir.path().join("latency/plugin-manifest.json");
        std::fs::create_dir_all(manifest.parent().expect("parent")).expect("create");
        let mut target = Target {
            _dir: dir,
            manifest,
            writes: 0,
        };
        target.write();
        target
    }

    fn root(&self) -> PathBuf {
        self._dir.path().to_path_buf()
    }

    /// Writes the next version in place; returns it.
    fn write(&mut self) -> String {
        self.writes += 1;
        let version = format!("1.0.{}", self.writes);
        let text = format!(
            r#"{{"name": "latency", "version": "{version}", "transport": "native", "endpoint": "liblatency.so"}}"#
        );
        std::fs::write(&self.manifest, text).expect("write manifest");
        version
    }
}

/// Raw notify: time from a write to the first event about the file.
struct Raw {
    target: Target,
    _watcher: notify::RecommendedWatcher,
    events: mpsc::Receiver<notify::Result<notify::Event>>,
}

impl Raw {
    fn new() -> Raw {
        let target = Target::new();
        let (sender, events) = mpsc::channel();
        let mut watcher = notify::recommended_watcher(sender).expect("watcher");
        watcher
            .watch(&target.root(), RecursiveMode::Recursive)
            .expect("watch");
        Raw {
            target,
            _watcher: watcher,
            events,
        }
    }

    fn once(&mut self) -> Duration {
        // Let the previous write's trailing events arrive, then drop them.
        std::thread::sleep(Duration::from_millis(2));
        while self.events.try_recv().is_ok() {}
        let start = Instant::now();
        self.target.write();
        loop {
            let event = self
                .events
                .recv_timeout(Duration::from_secs(10))
                .expect("a raw event within 10 s")
                .expect("no watch error");
            if !matches!(event.kind, EventKind::Access(_))
                && event.paths.contains(&self.target.manifest)
            {
                return start.elapsed();
            }
        }
    }
}

/// plugkit: time from a write to the `Updated` event.
struct Plugkit {
    target: Target,
    _engine: DiscoveryEngine,
    events: Subscription,
}

impl Plugkit {
    fn new(debounce: Duration) -> Plugkit {
        let target = Target::new();
        let mut config = DiscoveryConfig::new([target.root()]);
        config.debounce = debounce;
        let engine = DiscoveryEngine::new(config).expect("valid configuration");
        let mut events = engine.subscribe();
        engine.start().expect("start");
        let first = events.recv_timeout(Duration::from_secs(10));
        assert!(matches!(first, Ok(DiscoveryEvent::Discovered { .. })));
        Plugkit {
            target,
            _engine: engine,
            events,
        }
    }

    fn once(&mut self) -> Duration {
        let start = Instant::now();
        let version = self.target.write();
        match self.events.recv_timeout(Duration::from_secs(10)) {
            Ok(DiscoveryEvent::Updated { plugin, .. })
                if plugin.version().to_string() == version =>
            {
                start.elapsed()
            }
            other => panic!("expected the update to {version}, got {other:?}"),
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// How many events (and raw notify events) a burst of 1,000 new plugin
/// directories becomes.
fn burst() -> (usize, usize) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (sender, raw) = mpsc::channel();
    let mut watcher = notify::recommended_watcher(sender).expect("watcher");
    watcher
        .watch(dir.path(), RecursiveMode::Recursive)
        .expect("watch");
    let engine = DiscoveryEngine::new(DiscoveryConfig::new([dir.path()])).expect("config");
    let mut events = engine.subscribe();
    engine.start().expect("start");
    for i in 0..1000 {
        let plugin = dir.path().join(format!("burst-{i:04}"));
        std::fs::create_dir(&plugin).expect("create");
        let text = format!(
            r#"{{"name": "burst-{i:04}", "version": "1.0.0", "transport": "native", "endpoint": "libburst.so"}}"#
        );
        std::fs::write(plugin.join("plugin-manifest.json"), text).expect("write");
    }
    let mut count = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        match events.recv_timeout(Duration::from_secs(2)) {
            Ok(_) => count += 1,
            Err(_) => break,
        }
    }
    let raw_count = raw
        .try_iter()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| !matches!(e.kind, EventKind::Access(_)))
        })
        .count();
    (count, raw_count)
}

fn watch_latency(c: &mut Criterion) {
    let mut raw = Raw::new();
    let mut debounced = Plugkit::new(Duration::from_millis(50));
    let mut quick = Plugkit::new(Duration::from_millis(1));

    let mut group = c.benchmark_group("watch-latency");
    group.sample_size(10);
    group.bench_function("baseline:notify-raw-event", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| raw.once()).sum())
    });
    group.bench_function("plugkit:event(debounce=50ms)", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| debounced.once()).sum())
    });
    group.bench_function("plugkit:event(debounce=1ms)", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| quick.once()).sum())
    });
    group.finish();

    // Percentiles and the burst count, which criterion does not report,
    // go to `cargo xtask bench`'s second table.
    fn sample(mut source: impl FnMut() -> Duration) -> Vec<Duration> {
        let mut samples: Vec<Duration> = (0..200).map(|_| source()).collect();
        samples.sort();
        samples
    }
    let raw_samples = sample(|| raw.once());
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    for (label, samples) in [
        ("debounce 50 ms", sample(|| debounced.once())),
        ("debounce 1 ms", sample(|| quick.once())),
    ] {
        for (name, q) in [("median", 0.5), ("p99", 0.99)] {
            bench_support::write_figure(
                &format!("watch latency, {label}: {name} of 200 writes"),
                ms(percentile(&samples, q)),
                "ms",
                Some(ms(percentile(&raw_samples, q))),
                "baseline: the raw notify event for the same write",
            );
        }
    }
    let (events, raw_events) = burst();
    bench_support::write_figure(
        "watch: events from a burst of 1,000 new plugins",
        events as f64,
        "events",
        Some(raw_events as f64),
        "baseline: raw notify events for the same burst",
    );
}

criterion_group!(benches, discover_10k, watch_latency);
criterion_main!(benches);
