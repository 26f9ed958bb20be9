//! Process transport figures, each beside a floor measured in the same run.
//!
//! The floor is a raw pipe echo between this process and `cat`: 8-byte
//! messages out and back, with the same number in flight (written in one
//! write, as the transport coalesces). Two processes talking over pipes cost
//! mostly scheduler wake-ups, and where the scheduler places them dominates
//! (both on one CPU, or on two with every wake-up crossing the hypervizor),
//! so every figure is measured twice: `free` (the scheduler places them) and
//! `pinned` (host, `cat` and the plugin all on CPU 0; the plugin through its
//! manifest's `max_cpu_cores: 1`).
//!
//! - `process-{free,pinned}-inflight-{1,4,64}`: time per call with that many
//!   calls in flight (1 = round-trip latency); calls/s is its inverse;
//! - extra figures: median and p99 of 5,000 single round trips, and calls/s
//!   with 1, 4 and 64 in flight: the median of 5 runs of 10,000 calls per
//!   call in flight, at most 100,000 (plugkit), and as many messages (the
//!   echo), so that one scheduler hiccup in a run of a few milliseconds does
//!   not make the figure;
//! - `process-{free,pinned}-instance`: one call at a time through
//!   [`Instance`] beside the process handle it wraps;
//! - `process-spawn`: spawn + handshake of a plugin beside spawn + wait of `true`.
//!
//! Convention (see xtask): in each group one function id starts with `baseline:`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};

mod common;
use bench_support::write_figure;
use common::build_optimised;
use plugin_loader::{Instance, Loader, LoaderConfig};

const IN_FLIGHT: [usize; 3] = [1, 4, 64];

/// Runs of each calls/s figure; the median is reported.
const RUNS: usize = 5;

fn build_fixture(dir: &Path) -> PathBuf {
    let built = build_optimised(&["fixture-process"]).join("fixture-process");
    let staged = dir.join("fixture-process");
    std::fs::copy(built, &staged).expect("stage fixture");
    staged
}

fn manifest(pinned: bool) -> plugin_manifest::Manifest {
    let resources = if pinned {
        "resources:\n  max_cpu_cores: 1\n"
    } else {
        ""
    };
    let text = format!(
        "name: fixture-process\nversion: 1.0.0\ntransport: process\nendpoint: fixture-process\n{resources}"
    );
    plugin_manifest::parse(text.as_bytes(), "plugin-manifest.yaml")
        .expect("valid")
        .manifest
}

/// `cat` as an echo peer.
struct Echo {
    child: Child,
}

impl Echo {
    fn new() -> Echo {
        let child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("cat starts");
        Echo { child }
    }

    /// `n` 8-byte messages out in one write, all read back.
    fn round(&mut self, n: usize, buffer: &mut Vec<u8>) {
        buffer.resize(n * 8, 7);
        let (Some(stdin), Some(stdout)) = (self.child.stdin.as_mut(), self.child.stdout.as_mut())
        else {
            panic!("cat's pipes");
        };
        stdin.write_all(buffer).expect("write");
        stdout.read_exact(buffer).expect("read");
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Time for `iters` calls with `n` in flight all along: `n` tasks, each
/// making its share of the calls one after another.
async fn plugin_calls(plugin: &Instance, iters: u64, n: usize) -> Duration {
    let per_task = iters.div_ceil(n as u64);
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let plugin = plugin.clone();
        tasks.spawn(async move {
            for _ in 0..per_task {
                plugin.call("echo", b"8 bytes!").await.expect("echo");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("task");
    }
    start
        .elapsed()
        .mul_f64(iters as f64 / (per_task * n as u64) as f64)
}

/// Time for `messages` echoed by `cat` with `n` in flight all along, in
/// rounds of `n` written at once (the floor beside [`plugin_calls`]).
fn echo_messages(echo: &mut Echo, buffer: &mut Vec<u8>, messages: u64, n: usize) -> Duration {
    let rounds = messages.div_ceil(n as u64);
    let start = Instant::now();
    for _ in 0..rounds {
        echo.round(n, buffer);
    }
    start
        .elapsed()
        .mul_f64(messages as f64 / (rounds * n as u64) as f64)
}

fn percentiles(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
    (at(0.5), at(0.99))
}

fn placement(c: &mut Criterion, dir: &Path, placement: &str) {
    let pinned = placement == "pinned";
    if pinned {
        // This thread, and every thread and process it starts from now on
        // (the runtime below, cat, the plugin), runs on CPU 0.
        let mut cpu0 = rustix::thread::CpuSet::new();
        cpu0.set(0);
        rustix::thread::sched_setaffinity(None, &cpu0).expect("pin to CPU 0");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let plugin = runtime
        .block_on(loader(dir).load(&manifest(pinned), dir))
        .expect("plugin loads");
    let mut echo = Echo::new();
    let mut buffer = Vec::new();

    for n in IN_FLIGHT {
        let mut group = c.benchmark_group(format!("process-{placement}-inflight-{n}"));
        group.sample_size(20);
        group.bench_function("baseline:pipe-echo(cat)", |b| {
            b.iter_custom(|iters| echo_messages(&mut echo, &mut buffer, iters, n))
        });
        group.bench_function("plugkit:call(echo)", |b| {
            b.iter_custom(|iters| runtime.block_on(plugin_calls(&plugin, iters, n)))
        });
        group.finish();
    }

    let handle = plugin.as_process().expect("a process plugin");
    let mut group = c.benchmark_group(format!("process-{placement}-instance"));
    group.sample_size(20);
    group.bench_function("baseline:ProcessPlugin::call(echo)", |b| {
        b.iter(|| {
            runtime
                .block_on(handle.call("echo", b"8 bytes!"))
                .expect("echo")
        })
    });
    group.bench_function("plugkit:Instance::call(echo)", |b| {
        b.iter(|| {
            runtime
                .block_on(plugin.call("echo", b"8 bytes!"))
                .expect("echo")
        })
    });
    group.finish();

    // Percentiles and throughput, which criterion does not report.
    let samples = 5_000;
    let raw: Vec<Duration> = (0..samples)
        .map(|_| {
            let start = Instant::now();
            echo.round(1, &mut buffer);
            start.elapsed()
        })
        .collect();
    let calls: Vec<Duration> = runtime.block_on(async {
        let mut out = Vec::with_capacity(samples);
        for _ in 0..samples {
            let start = Instant::now();
            plugin.call("echo", b"8 bytes!").await.expect("echo");
            out.push(start.elapsed());
        }
        out
    });
    let (raw_p50, raw_p99) = percentiles(raw);
    let (p50, p99) = percentiles(calls);
    write_figure(
        &format!("process-{placement}: round trip p50"),
        p50,
        "µs",
        Some(raw_p50),
        "baseline: pipe echo with cat",
    );
    write_figure(
        &format!("process-{placement}: round trip p99"),
        p99,
        "µs",
        Some(raw_p99),
        "baseline: pipe echo with cat",
    );
    for n in IN_FLIGHT {
        let total = (10_000 * n as u64).min(100_000);
        let median = |mut runs: Vec<Duration>| {
            runs.sort_unstable();
            runs[runs.len() / 2]
        };
        let plugkit = median(
            (0..RUNS)
                .map(|_| runtime.block_on(plugin_calls(&plugin, total, n)))
                .collect(),
        );
        let floor = median(
            (0..RUNS)
                .map(|_| echo_messages(&mut echo, &mut buffer, total, n))
                .collect(),
        );
        write_figure(
            &format!("process-{placement}: calls/s, {n} in flight"),
            total as f64 / plugkit.as_secs_f64(),
            "calls/s",
            Some(total as f64 / floor.as_secs_f64()),
            "baseline: messages/s of the pipe echo (each the median of 5 runs)",
        );
    }
    runtime.block_on(plugin.shutdown(Duration::from_secs(5)));
}

/// A loader whose cache lives in the bench's temporary directory.
fn loader(dir: &Path) -> Loader {
    Loader::new(LoaderConfig::default().with_cache_dir(dir.join("cache")))
}

fn spawn(c: &mut Criterion, dir: &Path) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let manifest = manifest(false);
    let loader = loader(dir);
    let mut group = c.benchmark_group("process-spawn");
    group.sample_size(10);
    group.bench_function("baseline:spawn+wait(true)", |b| {
        b.iter(|| Command::new("true").status().expect("true runs"))
    });
    group.bench_function("plugkit:spawn+handshake", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    let plugin = loader.load(&manifest, dir).await.expect("loads");
                    total += start.elapsed();
                    plugin.shutdown(Duration::from_secs(5)).await;
                }
                total
            })
        })
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary directory");
    build_fixture(dir.path());
    spawn(c, dir.path());
    placement(c, dir.path(), "free");
    placement(c, dir.path(), "pinned");
}

criterion_group!(process, benches);
criterion_main!(process);
