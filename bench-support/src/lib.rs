//! What plugkit's benchmarks share (a dev-dependency only).
//!
//! Criterion reports a time per iteration; `cargo xtask bench` prints those
//! beside their baselines. Figures that are not a time per iteration
//! (percentiles, memory growth, event counts, calls per second) are written
//! here, one JSON object per line, to `target/plugkit-bench/figures.jsonl`,
//! and xtask prints them in a second table.
//!
//! ```no_run
//! bench_support::write_figure("example: p99", 1.5, "ms", Some(1.0), "baseline: the floor");
//! ```
#![deny(missing_docs)]

use std::io::Write;
use std::path::PathBuf;

/// Where figures go: `$PLUGKIT_BENCH_FIGURES`, or the workspace's
/// `target/plugkit-bench/figures.jsonl`.
pub fn figures_file() -> PathBuf {
    std::env::var_os("PLUGKIT_BENCH_FIGURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
            target.join("plugkit-bench").join("figures.jsonl")
        })
}

/// Appends one figure: its name, value and unit, the baseline measured in
/// the same run (same unit) if any, and a note saying what the baseline is.
pub fn write_figure(figure: &str, value: f64, unit: &str, baseline: Option<f64>, note: &str) {
    let path = figures_file();
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let line = serde_json::json!({"figure": figure, "value": value, "unit": unit, "baseline": baseline, "note": note});
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| writeln!(file, "{line}"));
    if let Err(error) = written {
        eprintln!("cannot write figure to {}: {error}", path.display());
    }
}
