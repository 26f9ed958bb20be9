//! Native transport figures, each beside a baseline measured in the same run:
//!
//! - `native-load`: one plugin load (checksum + ELF check + copy + open +
//!   layout check + info + init) beside a raw `libloading::Library::new` of
//!   a fresh copy of the same file (a fresh copy, or the dynamic loader
//!   returns its cached handle and measures nothing);
//! - `native-load-vs-copy`: the same load beside writing a fresh copy and
//!   opening it, the least any loader that must load rebuilt files anew pays;
//! - `native-call-raw`: a raw-bytes call (8 bytes echoed) beside a direct
//!   Rust call of the same function and a call through `dyn Trait` (the
//!   plugin's echo does the baseline's work: match the method, copy the
//!   bytes into the response; it keeps no count of its own);
//! - `native-call-typed`: a typed `greet` call beside calling the same
//!   function directly in the host;
//! - `native-call-instance`: the same raw call through [`Instance`] beside
//!   the native handle it wraps (what the one instance type costs);
//! - `native-call-json`: a JSON call of `greet` beside the postcard call of
//!   the same method;
//! - `typed-encoding`: the SDK's encoding (postcard) beside JSON for the
//!   same request and reply;
//! - `native-reload-rss` (extra figure): resident memory growth over 100
//!   loads of one plugin, which abi_stable never unloads.
//!
//! The plugins are built by this bench with the bench profile (optimised).
//! Convention (see xtask): in each group one function id starts with `baseline:`.

// The baseline is a raw dlopen, which libloading marks unsafe.
#![allow(unsafe_code)]

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};

mod common;
use bench_support::{now, write_figure};
use common::build_optimised;
use plugin_loader::{Instance, Loader, LoaderConfig, NativePlugin, ResponseBuffer};
use plugkit_example_interface::{GreetReply, GreetRequest};

/// Loads leak their library image, so a load sample runs at most this many
/// real loads and scales the time to the iteration count criterion asked for.
const MAX_LOADS_PER_SAMPLE: u64 = 20;

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    /// Builds the plugins optimised and stages them with manifests.
    fn new() -> Fixture {
        let built = build_optimised(&["greeter-native", "fixture-panicky"]);
        let dir = tempfile::tempdir().expect("temporary directory");
        for (name, version, library) in [
            ("greeter", "1.0.0", "libgreeter_native.so"),
            ("panicky", "1.0.0", "libfixture_panicky.so"),
        ] {
            let plugin_dir = dir.path().join(name);
            std::fs::create_dir_all(&plugin_dir).expect("plugin directory");
            std::fs::copy(built.join(library), plugin_dir.join("lib.so")).expect("stage library");
            let manifest =
                format!("name: {name}\nversion: {version}\ntransport: native\nendpoint: lib.so\n");
            std::fs::write(plugin_dir.join("plugin-manifest.yaml"), manifest).expect("manifest");
        }
        Fixture { dir }
    }

    fn plugin_dir(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn manifest(&self, name: &str) -> plugin_manifest::Manifest {
        let bytes =
            std::fs::read(self.plugin_dir(name).join("plugin-manifest.yaml")).expect("manifest");
        plugin_manifest::parse(&bytes, "plugin-manifest.yaml")
            .expect("valid manifest")
            .manifest
    }

    fn load(&self, loader: &Loader, name: &str) -> Instance {
        now(loader.load(&self.manifest(name), &self.plugin_dir(name))).expect("plugin loads")
    }

    fn loader(&self) -> Loader {
        Loader::new(LoaderConfig::default().with_cache_dir(self.dir.path().join("cache")))
    }
}

fn handle(instance: &Instance) -> &NativePlugin {
    instance.as_native().expect("a native plugin")
}

fn load(c: &mut Criterion, fixture: &Fixture) {
    let loader = fixture.loader();
    let manifest = fixture.manifest("greeter");
    let plugin_dir = fixture.plugin_dir("greeter");
    let library = plugin_dir.join("lib.so");
    let copies = fixture.dir.path().join("raw-copies");
    std::fs::create_dir_all(&copies).expect("copies directory");

    let mut group = c.benchmark_group("native-load");
    group.sample_size(10);
    group.bench_function("baseline:libloading-Library::new(fresh copy)", |b| {
        b.iter_custom(|iters| {
            let n = iters.min(MAX_LOADS_PER_SAMPLE);
            let paths: Vec<PathBuf> = (0..n)
                .map(|i| {
                    let path = copies.join(format!("copy-{}-{i}.so", unique()));
                    std::fs::copy(&library, &path).expect("copy");
                    path
                })
                .collect();
            let start = Instant::now();
            for path in &paths {
                // SAFETY: the file is the greeter plugin built just above; its
                // initializers are plain Rust statics.
                let lib = unsafe { libloading::Library::new(path) }.expect("dlopen");
                black_box(&lib);
                std::mem::forget(lib); // like the plugin loader, never unload
            }
            let elapsed = start.elapsed();
            for path in &paths {
                let _ = std::fs::remove_file(path);
            }
            scaled(elapsed, n, iters)
        })
    });
    group.bench_function("plugkit:Loader::load", |b| {
        b.iter_custom(|iters| time_loads(&loader, &manifest, &plugin_dir, iters))
    });
    group.finish();

    // The same load beside what any loader that must load a rebuilt file
    // anew pays at least: writing a fresh copy and opening it. On this
    // machine's ext4, writing a multi-MiB file after a library has been
    // mapped is what dominates both.
    let bytes = std::fs::read(&library).expect("read library");
    let mut group = c.benchmark_group("native-load-vs-copy");
    group.sample_size(10);
    group.bench_function("baseline:write-fresh-copy+Library::new", |b| {
        b.iter_custom(|iters| {
            let n = iters.min(MAX_LOADS_PER_SAMPLE);
            let start = Instant::now();
            for i in 0..n {
                let path = copies.join(format!("copy-{}-{i}.so", unique()));
                std::fs::write(&path, &bytes).expect("write copy");
                // SAFETY: as above, the greeter plugin built by this bench.
                let lib = unsafe { libloading::Library::new(&path) }.expect("dlopen");
                std::mem::forget(lib);
                let _ = std::fs::remove_file(&path);
            }
            scaled(start.elapsed(), n, iters)
        })
    });
    group.bench_function("plugkit:Loader::load", |b| {
        b.iter_custom(|iters| time_loads(&loader, &manifest, &plugin_dir, iters))
    });
    group.finish();
}

/// The time `iters` loads by the plugkit loader take (see `MAX_LOADS_PER_SAMPLE`).
fn time_loads(
    loader: &Loader,
    manifest: &plugin_manifest::Manifest,
    dir: &Path,
    iters: u64,
) -> Duration {
    let n = iters.min(MAX_LOADS_PER_SAMPLE);
    let start = Instant::now();
    for _ in 0..n {
        black_box(now(loader.load(manifest, dir)).expect("loads"));
    }
    scaled(start.elapsed(), n, iters)
}

/// The time `iters` loads take, from the time `n` of them took.
fn scaled(elapsed: Duration, n: u64, iters: u64) -> Duration {
    elapsed.mul_f64(iters as f64 / n as f64)
}

fn unique() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

trait Echo {
    fn echo(&self, request: &[u8], response: &mut Vec<u8>);
}

struct DirectEcho;

impl Echo for DirectEcho {
    #[inline(never)]
    fn echo(&self, request: &[u8], response: &mut Vec<u8>) {
        response.clear();
        response.extend_from_slice(request);
    }
}

fn calls(c: &mut Criterion, fixture: &Fixture) {
    let loader = fixture.loader();
    let panicky_instance = fixture.load(&loader, "panicky");
    let panicky = handle(&panicky_instance);
    let request = *b"8 bytes!";

    let mut group = c.benchmark_group("native-call-raw");
    let mut plain = Vec::with_capacity(64);
    group.bench_function("baseline:direct-fn", |b| {
        b.iter(|| DirectEcho.echo(black_box(&request), &mut plain))
    });
    let boxed: Box<dyn Echo> = Box::new(DirectEcho);
    group.bench_function("dyn-Trait", |b| {
        b.iter(|| black_box(&boxed).echo(black_box(&request), &mut plain))
    });
    let mut buffer = ResponseBuffer::new();
    group.bench_function("plugkit:call_into(echo)", |b| {
        b.iter(|| {
            panicky
                .call_into("echo", black_box(&request), &mut buffer)
                .expect("echo")
        })
    });
    group.finish();

    let mut group = c.benchmark_group("native-call-instance");
    group.bench_function("baseline:NativePlugin::call(echo)", |b| {
        b.iter(|| panicky.call("echo", black_box(&request)).expect("echo"))
    });
    group.bench_function("plugkit:Instance::call(echo)", |b| {
        b.iter(|| now(panicky_instance.call("echo", black_box(&request))).expect("echo"))
    });
    group.finish();

    let greeter_instance = fixture.load(&loader, "greeter");
    let greeter = handle(&greeter_instance);
    let direct = greeter_plugin::Greeter::default();
    let greet = GreetRequest {
        name: "Ada".to_string(),
    };
    let mut group = c.benchmark_group("native-call-typed");
    group.bench_function("baseline:direct-fn(greet)", |b| {
        b.iter(|| direct.greet(black_box(greet.clone())).expect("greet"))
    });
    group.bench_function("plugkit:call_typed(greet)", |b| {
        b.iter(|| {
            greeter
                .call_typed::<_, GreetReply>("greet", black_box(&greet))
                .expect("greet")
        })
    });
    group.finish();

    let json_request = serde_json::json!({"name": "Ada"});
    let mut group = c.benchmark_group("native-call-json");
    group.bench_function("baseline:call_typed(greet)", |b| {
        b.iter(|| {
            greeter
                .call_typed::<_, GreetReply>("greet", black_box(&greet))
                .expect("greet")
        })
    });
    group.bench_function("plugkit:call_json(greet)", |b| {
        b.iter(|| {
            greeter
                .call_json("greet", black_box(&json_request))
                .expect("greet")
        })
    });
    group.finish();

    let reply = GreetReply {
        text: "hello, Ada".to_string(),
        version: "1.0.0".to_string(),
    };
    let mut group = c.benchmark_group("typed-encoding");
    group.bench_function("baseline:serde_json-roundtrip", |b| {
        b.iter(|| {
            let request: GreetRequest =
                serde_json::from_slice(&serde_json::to_vec(black_box(&greet)).expect("encode"))
                    .expect("decode");
            let reply: GreetReply =
                serde_json::from_slice(&serde_json::to_vec(black_box(&reply)).expect("encode"))
                    .expect("decode");
            (request, reply)
        })
    });
    group.bench_function("plugkit:postcard-roundtrip", |b| {
        b.iter(|| {
            let request: GreetRequest =
                plugkit_sdk::decode(&plugkit_sdk::encode(black_box(&greet)).expect("encode"))
                    .expect("decode");
            let reply: GreetReply =
                plugkit_sdk::decode(&plugkit_sdk::encode(black_box(&reply)).expect("encode"))
                    .expect("decode");
            (request, reply)
        })
    });
    group.finish();
}

/// Resident set size of this process, in KiB (Linux).
fn rss_kib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn reload_rss(fixture: &Fixture) {
    let loader = fixture.loader();
    let library_kib = std::fs::metadata(fixture.plugin_dir("greeter").join("lib.so"))
        .map_or(0.0, |m| m.len() as f64 / 1024.0);
    // Warm up: the first load maps shared dependencies once.
    fixture.load(&loader, "greeter");
    let before = rss_kib();
    let start = Instant::now();
    for _ in 0..100 {
        black_box(fixture.load(&loader, "greeter"));
    }
    let elapsed: Duration = start.elapsed();
    if let (Some(before), Some(after)) = (before, rss_kib()) {
        let per_load = (after - before) / 100.0;
        write_figure(
            "native-reload-rss: RSS growth per load",
            per_load,
            "KiB",
            Some(library_kib),
            &format!(
                "100 loads: +{:.1} MiB in {:.0} ms; baseline = size of the library file",
                (after - before) / 1024.0,
                elapsed.as_secs_f64() * 1e3
            ),
        );
    }
}

fn benches(c: &mut Criterion) {
    let fixture = Fixture::new();
    calls(c, &fixture);
    load(c, &fixture);
    reload_rss(&fixture);
}

criterion_group!(native, benches);
criterion_main!(native);
