//! Host figures, each beside a baseline measured in the same run:
//!
//! - `host-call`: a raw-bytes `greet` call through `DynamicLoader::call`
//!   beside the same call on the `Instance` that serves it
//!   (`host.instance("greeter")`): the cost of the lookup and swap
//!   machinery (the table lookup, the instance's clone, the retry guard);
//!   and, to show where that goes, `host.instance("greeter")` followed by
//!   the same call on the instance it returns (the lookup alone);
//! - `host-call-json`: the same with `call_json` on both sides;
//! - extra figures `host-call: calls/s, N threads` (N = 1, 2, 8): N threads
//!   calling `DynamicLoader::call` on the native greeter at once, beside
//!   N threads calling its `Instance` directly;
//! - extra figures `hot-swap {native,process}: p50/p99`: from the new
//!   version's directory landing in the watched directory (one atomic
//!   rename of a prepared directory; the old one is renamed out right
//!   after, as a deploy would) to the first call answered by the new
//!   version (probed every millisecond), alternating 1.0.0 and 2.0.0, with
//!   the default windows and again with the tests' 20 ms + 20 ms; baseline:
//!   discovery's debounce + the host's batch window, the part that waits
//!   by design;
//! - extra figure `hot-swap native: RSS growth per swap`: resident memory
//!   left behind per native swap (a native library is never unmapped),
//!   beside the size of the library file.
//!
//! Swaps: 30 per transport, 100 with `cargo xtask bench --full` (the
//! issue's figure), or `$PLUGKIT_BENCH_SWAPS`.
//!
//! The plugins come from `cargo xtask example-plugins --release` (the one
//! layout tests, benches and the demo use), built once per run.
//! Convention (see xtask): in each group one function id starts with `baseline:`.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bench_support::{Figure, now};
use criterion::{Criterion, criterion_group, criterion_main};
use plugin_discovery::DiscoveryConfig;
use plugin_host::{DynamicLoader, HostConfig};
use plugin_loader::LoaderConfig;
use plugin_version::Version;
use plugkit_example_interface::GreetRequest;

const THREADS: [usize; 3] = [1, 2, 8];
/// How long each calls/s measurement runs, and how many times (the median
/// is reported).
const THROUGHPUT_WINDOW: Duration = Duration::from_millis(300);
const THROUGHPUT_ROUNDS: usize = 3;
/// Swaps run first and left out of the figures (the first loads of each
/// version map shared dependencies once).
const WARM_UP_SWAPS: usize = 2;
/// How often the swap probe calls the plugin while it waits for the new
/// version (tokio's timer resolution).
const PROBE_INTERVAL: Duration = Duration::from_millis(1);

/// A watched plugins directory and the host's cache, side by side on one
/// filesystem (so a prepared directory is renamed in atomically).
struct Plugins {
    layout: PathBuf,
    dir: tempfile::TempDir,
    cache: tempfile::TempDir,
    next: AtomicU64,
}

impl Plugins {
    fn with(layout: &Path, entries: &[&str]) -> Plugins {
        let plugins = Plugins {
            layout: layout.to_path_buf(),
            dir: tempfile::tempdir().expect("temporary directory"),
            cache: tempfile::tempdir().expect("temporary directory"),
            next: AtomicU64::new(0),
        };
        for entry in entries {
            let prepared = plugins.prepare(entry);
            plugins.land(&prepared, entry);
        }
        plugins
    }

    fn unique(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    /// A copy of a laid-out plugin directory (`"native/greeter-1.0.0"`)
    /// beside the watched directory, ready to be renamed in.
    fn prepare(&self, entry: &str) -> PathBuf {
        let staging = self.cache.path().join(format!("staging-{}", self.unique()));
        copy_dir(&self.layout.join(entry), &staging);
        staging
    }

    /// Renames a prepared directory into the watched directory, under the
    /// laid-out directory's name.
    fn land(&self, prepared: &Path, entry: &str) {
        let name = Path::new(entry).file_name().expect("a directory name");
        std::fs::rename(prepared, self.dir.path().join(name)).expect("rename in");
    }

    /// Renames a plugin directory out of the watched directory; returns
    /// where it went, to be deleted later (off the clock).
    fn take_out(&self, dir_name: &str) -> PathBuf {
        let gone = self.cache.path().join(format!("gone-{}", self.unique()));
        std::fs::rename(self.dir.path().join(dir_name), &gone).expect("rename out");
        gone
    }

    /// A host over the watched directory with the default deadlines,
    /// these windows (`None`: the defaults), and the policy the swaps need
    /// (back and forth between 1.0.0 and 2.0.0: downgrades and breaking
    /// changes allowed).
    fn host(&self, windows: Option<Windows>) -> DynamicLoader {
        let mut discovery = DiscoveryConfig::new([self.dir.path()]);
        let mut config = HostConfig::default();
        if let Some(windows) = windows {
            discovery = discovery.with_debounce(windows.debounce);
            config = config.with_batch_window(windows.batch_window);
        }
        let config = config
            .with_policy(
                plugin_version::VersionPolicy::default()
                    .with_allow_downgrade(true)
                    .with_breaking_change(plugin_version::BreakingChange::Allow),
            )
            .with_loader(LoaderConfig::default().with_cache_dir(self.cache.path().join("loader")));
        DynamicLoader::new(discovery, config).expect("host")
    }
}

/// Discovery's debounce and the host's batch window: how long a change
/// waits by design before the host acts on it.
#[derive(Clone, Copy)]
struct Windows {
    debounce: Duration,
    batch_window: Duration,
}

impl Windows {
    fn defaults() -> Windows {
        Windows {
            debounce: DiscoveryConfig::new([Path::new(".")]).debounce,
            batch_window: HostConfig::default().batch_window,
        }
    }

    fn total(&self) -> Duration {
        self.debounce + self.batch_window
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create");
    for entry in std::fs::read_dir(from).expect("list") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// `greet`'s request in the SDK's encoding, for raw calls.
fn greet_bytes() -> Vec<u8> {
    plugkit_sdk::encode(&GreetRequest {
        name: "Ada".to_string(),
    })
    .expect("encode")
}

fn calls(c: &mut Criterion, layout: &Path, runtime: &tokio::runtime::Runtime) {
    let plugins = Plugins::with(layout, &["native/kv-store-1.4.1", "native/greeter-1.0.0"]);
    let host = plugins.host(None);
    let report = runtime.block_on(host.start()).expect("starts");
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    let instance = host.instance("greeter").expect("greeter serves");
    let request = greet_bytes();
    let timeout = host.config().call_timeout;

    let mut group = c.benchmark_group("host-call");
    group.bench_function("baseline:Instance::call(greet)", |b| {
        b.iter(|| {
            now(instance.call_with_timeout("greet", black_box(&request), timeout)).expect("greet")
        })
    });
    group.bench_function("plugkit:DynamicLoader::call(greet)", |b| {
        b.iter(|| now(host.call("greeter", "greet", black_box(&request))).expect("greet"))
    });
    // Where the difference goes: the lookup alone (load the table, find
    // the name, clone the instance), then the same call.
    group.bench_function("plugkit:instance(greeter)+Instance::call(greet)", |b| {
        b.iter(|| {
            let instance = host.instance(black_box("greeter")).expect("greeter serves");
            now(instance.call_with_timeout("greet", black_box(&request), timeout)).expect("greet")
        })
    });
    group.finish();

    let json = serde_json::json!({"name": "Ada"});
    let mut group = c.benchmark_group("host-call-json");
    group.bench_function("baseline:Instance::call_json(greet)", |b| {
        b.iter(|| now(instance.call_json("greet", black_box(&json))).expect("greet"))
    });
    group.bench_function("plugkit:DynamicLoader::call_json(greet)", |b| {
        b.iter(|| now(host.call_json("greeter", "greet", black_box(&json))).expect("greet"))
    });
    group.finish();

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for threads in THREADS {
        let mut direct = Vec::new();
        let mut hosted = Vec::new();
        for _ in 0..THROUGHPUT_ROUNDS {
            direct.push(calls_per_second(threads, || {
                now(instance.call_with_timeout("greet", &request, timeout)).expect("greet");
            }));
            hosted.push(calls_per_second(threads, || {
                now(host.call("greeter", "greet", &request)).expect("greet");
            }));
        }
        let plural = if threads == 1 { "" } else { "s" };
        Figure::new(
            "host-call",
            format!("calls/s, {threads} thread{plural}"),
            median(&mut hosted),
            "calls/s",
        )
        .baseline(
            format!("{threads} thread{plural} calling the Instance"),
            median(&mut direct),
        )
        .note(format!("DynamicLoader::call, native greeter; {cores} CPUs"))
        .write();
    }
    drop(instance);
    runtime.block_on(host.shutdown());
}

/// Calls per second of `threads` threads running `call` in a loop for
/// [`THROUGHPUT_WINDOW`].
fn calls_per_second(threads: usize, call: impl Fn() + Sync) -> f64 {
    let stop = AtomicBool::new(false);
    let total = AtomicU64::new(0);
    let start = Barrier::new(threads + 1);
    let begun = std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                start.wait();
                let mut done = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..64 {
                        call();
                    }
                    done += 64;
                }
                total.fetch_add(done, Ordering::Relaxed);
            });
        }
        start.wait();
        let begun = Instant::now();
        std::thread::sleep(THROUGHPUT_WINDOW);
        stop.store(true, Ordering::Relaxed);
        begun
    });
    // Every thread has stopped (the scope joined them); the calls of the
    // last batch after `stop` count, and so does their time.
    total.load(Ordering::Relaxed) as f64 / begun.elapsed().as_secs_f64()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The `q` quantile of `samples` (nearest rank), in milliseconds.
fn quantile_ms(sorted: &[Duration], q: f64) -> f64 {
    let rank = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1e3
}

/// Resident set size of this process, in KiB (Linux).
fn rss_kib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// What one transport's swap series measured.
struct Swaps {
    latencies: Vec<Duration>,
    rss_growth_kib: Option<f64>,
}

/// `swaps` hot swaps of the greeter, alternating 2.0.0 and 1.0.0, each
/// timed from its directory's rename into the watched directory to the
/// first call answered by the new version.
async fn swap_series(layout: &Path, transport: &str, swaps: usize, windows: Windows) -> Swaps {
    let plugins = Plugins::with(
        layout,
        &[
            &format!("{transport}/kv-store-1.4.1"),
            &format!("{transport}/greeter-1.0.0"),
        ],
    );
    let host = plugins.host(Some(windows));
    let report = host.start().await.expect("starts");
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    host.enable_auto_loading().expect("watches");
    // Discovery looks at a new directory once more four debounce periods
    // (at least 200 ms) after it settled; the next swap starts after that.
    let settle = (windows.debounce * 4).max(Duration::from_millis(200)) + Duration::from_millis(50);
    let probe = serde_json::json!({"name": "probe"});
    let mut serving = "greeter-1.0.0";
    let mut latencies = Vec::with_capacity(swaps);
    let mut rss_before = None;
    for i in 0..WARM_UP_SWAPS + swaps {
        if i == WARM_UP_SWAPS {
            rss_before = rss_kib();
        }
        let (next, version) = if serving == "greeter-1.0.0" {
            ("greeter-2.0.0", Version::parse("2.0.0").expect("version"))
        } else {
            ("greeter-1.0.0", Version::parse("1.0.0").expect("version"))
        };
        let entry = format!("{transport}/{next}");
        let prepared = plugins.prepare(&entry);
        let start = Instant::now();
        plugins.land(&prepared, &entry);
        let gone = plugins.take_out(serving);
        loop {
            let reply = host
                .call_json("greeter", "greet", &probe)
                .await
                .unwrap_or_else(|error| panic!("{transport} swap {i}: {error}"));
            if reply.version == version {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{transport} swap {i}: {next} never answered"
            );
            tokio::time::sleep(PROBE_INTERVAL).await;
        }
        let latency = start.elapsed();
        if i >= WARM_UP_SWAPS {
            latencies.push(latency);
        }
        serving = next;
        tokio::time::sleep(settle).await;
        std::fs::remove_dir_all(gone).expect("remove the old directory");
    }
    let rss_growth_kib = match (rss_before, rss_kib()) {
        (Some(before), Some(after)) => Some(after - before),
        _ => None,
    };
    host.shutdown().await;
    latencies.sort_unstable();
    Swaps {
        latencies,
        rss_growth_kib,
    }
}

fn hot_swaps(layout: &Path, runtime: &tokio::runtime::Runtime) {
    let swaps = bench_support::count("PLUGKIT_BENCH_SWAPS", 30, 100);
    // The defaults a user gets, then the short windows the tests use: what
    // the machinery adds is the same, the waiting by design is not.
    let short = Windows {
        debounce: Duration::from_millis(20),
        batch_window: Duration::from_millis(20),
    };
    for (windows, label) in [(Windows::defaults(), ""), (short, ", 20+20 ms windows")] {
        for transport in ["native", "process"] {
            let series = runtime.block_on(swap_series(layout, transport, swaps, windows));
            let waiting = format!(
                "debounce {} ms + batch window {} ms",
                windows.debounce.as_millis(),
                windows.batch_window.as_millis()
            );
            for (quantile, q) in [("p50", 0.5), ("p99", 0.99)] {
                Figure::new(
                    format!("hot-swap {transport}{label}"),
                    quantile,
                    quantile_ms(&series.latencies, q),
                    "ms",
                )
                .baseline(waiting.clone(), windows.total().as_secs_f64() * 1e3)
                .note(format!(
                    "{swaps} swaps; directory renamed in -> first call answered by the new version; the baseline is the waiting by design"
                ))
                .write();
            }
            if transport == "native"
                && label.is_empty()
                && let Some(growth) = series.rss_growth_kib
            {
                Figure::new(
                    "hot-swap native",
                    "RSS growth per swap",
                    growth / swaps as f64,
                    "KiB",
                )
                .baseline("size of the library file", library_kib(layout))
                .note(format!("{swaps} swaps: +{:.1} MiB VmRSS", growth / 1024.0))
                .write();
            }
        }
    }
}

/// The native greeter library's size (the mean of its two versions), in KiB.
fn library_kib(layout: &Path) -> f64 {
    ["greeter-1.0.0", "greeter-2.0.0"]
        .iter()
        .map(|dir| {
            std::fs::metadata(layout.join("native").join(dir).join("libgreeter_native.so"))
                .map_or(0.0, |m| m.len() as f64 / 1024.0)
        })
        .sum::<f64>()
        / 2.0
}

fn benches(c: &mut Criterion) {
    // Release builds, so the figures mean something.
    let layout = bench_support::example_plugins(true);
    let runtime = runtime();
    calls(c, layout, &runtime);
    hot_swaps(layout, &runtime);
}

criterion_group!(host, benches);
criterion_main!(host);
