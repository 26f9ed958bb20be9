//! What plugkit's tests and benchmarks share (a dev-dependency only): the
//! example plugins laid out once per process ([`example_plugins`]), a way
//! to run a future that never waits ([`now`]), and the extra figures.
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

/// `DIR` of `cargo xtask example-plugins --out DIR` (with `--release` when
/// `release`), laid out once per process by the same command users run:
/// `DIR/{native,process}/{greeter-1.0.0,greeter-2.0.0,kv-store-1.4.1}/` and
/// `DIR/{native,process}-extra/{kv-store-2.0.0,greeter-3.0.0-panics-in-init,greeter-3.0.0-unhealthy}/`.
///
/// # Panics
///
/// When cargo cannot lay the plugins out (a test or bench cannot go on).
pub fn example_plugins(release: bool) -> &'static std::path::Path {
    use std::sync::OnceLock;
    static DEBUG: OnceLock<tempfile::TempDir> = OnceLock::new();
    static RELEASE: OnceLock<tempfile::TempDir> = OnceLock::new();
    let slot = if release { &RELEASE } else { &DEBUG };
    slot.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temporary directory");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut command = std::process::Command::new(cargo);
        command
            .current_dir(&root)
            .args([
                "run",
                "--quiet",
                "--package",
                "xtask",
                "--",
                "example-plugins",
                "--out",
            ])
            .arg(dir.path())
            // The list of laid-out directories is noise in test output.
            .stdout(std::process::Stdio::null());
        if release {
            command.arg("--release");
        }
        let status = command.status().expect("cargo starts");
        assert!(status.success(), "cargo xtask example-plugins failed");
        dir
    })
    .path()
}

/// Runs a future that completes without waiting (a native load or call
/// outside a runtime) to its end, on this thread.
///
/// # Panics
///
/// When the future would wait: it is not one that completes at once.
pub fn now<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut context) {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => panic!("a future that completes at once waited"),
    }
}

/// Copies the files of directory `from` into `to` (created), one level
/// deep: what a plugin directory of the example layout holds.
///
/// # Panics
///
/// On any IO error (a test or bench cannot go on).
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("create the directory");
    for entry in std::fs::read_dir(from).expect("list the directory") {
        let entry = entry.expect("a directory entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a file");
        }
    }
}
