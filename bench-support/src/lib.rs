//! What plugkit's tests and benchmarks share (a dev-dependency only): the
//! example plugins laid out once per process ([`example_plugins`]), a way
//! to run a future that never waits ([`now`]), the extra figures
//! ([`Figure`]) and whether this is a full run ([`full`]).
//!
//! Criterion reports a time per iteration; `cargo xtask bench` prints those
//! beside their baselines. Figures that are not a time per iteration
//! (percentiles, memory growth, event counts, calls per second) are written
//! here, one JSON object per line, to `target/plugkit-bench/figures.jsonl`,
//! and xtask prints them in the same table, in the group they name:
//!
//! ```no_run
//! use bench_support::Figure;
//!
//! Figure::new("process-free", "round trip p99", 41.0, "µs")
//!     .baseline("pipe echo with cat", 30.0)
//!     .note("5,000 single round trips")
//!     .write();
//! ```
//!
//! The older [`write_figure`] still works; it derives the group and name
//! from its one `figure` string.
//!
//! `cargo xtask bench` runs short by default and long with `--full`; it
//! tells the benches which through `$PLUGKIT_BENCH_FULL` ([`full`],
//! [`count`]), for the loops of their own that criterion does not time.
#![deny(missing_docs)]

use std::io::Write;
use std::path::PathBuf;

/// Where figures go: `$PLUGKIT_BENCH_FIGURES`, or the workspace's
/// `target/plugkit-bench/figures.jsonl`.
pub fn figures_file() -> PathBuf {
    std::env::var_os("PLUGKIT_BENCH_FIGURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("plugkit-bench").join("figures.jsonl"))
}

/// The variable `cargo xtask bench` sets to `1` under `--full` (and to `0`
/// otherwise).
pub const FULL_VAR: &str = "PLUGKIT_BENCH_FULL";

/// Whether this is a full benchmark run (`cargo xtask bench --full`, or
/// `$PLUGKIT_BENCH_FULL` set to anything but `0` or nothing): benches with
/// loops of their own (swaps, samples for percentiles) run them long then,
/// and short, for CI, otherwise (`cargo bench` alone is short too).
pub fn full() -> bool {
    is_full(std::env::var_os(FULL_VAR).as_deref())
}

fn is_full(value: Option<&std::ffi::OsStr>) -> bool {
    value.is_some_and(|value| !value.is_empty() && value != "0")
}

/// How many times a bench runs a loop of its own: `$var` when it is set to
/// a positive number, else `full` in a [`full`] run, else `short`.
///
/// ```no_run
/// let swaps = bench_support::count("PLUGKIT_BENCH_SWAPS", 30, 100);
/// ```
pub fn count(var: &str, short: usize, full: usize) -> usize {
    choose_count(
        std::env::var(var).ok().as_deref(),
        self::full(),
        short,
        full,
    )
}

fn choose_count(set: Option<&str>, is_full: bool, short: usize, full: usize) -> usize {
    set.and_then(|n| n.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(if is_full { full } else { short })
}

/// One figure that is not a time per iteration, for `cargo xtask bench`'s
/// table: built with [`Figure::new`] and the optional parts, then
/// [`written`](Figure::write).
///
/// `group` and `name` place it in the table: a group is one comparison,
/// like a criterion group (and may be one: `host-call` holds both the
/// criterion functions and the calls/s figures). The baseline is a figure
/// in the same unit measured in the same run, and its name says what it
/// is; the table shows the ratio `value / baseline`. The aim is shown as
/// given when xtask's own table of aims (`xtask/src/bench/aims.rs`, which
/// also checks them) has none for this figure. The note is printed under
/// the terminal table, not in the summary files.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct Figure {
    group: String,
    name: String,
    value: f64,
    unit: String,
    baseline: Option<(String, f64)>,
    aim: Option<String>,
    note: Option<String>,
}

impl Figure {
    /// A figure of `group` named `name`: `value` in `unit` (`"ms"`, `"µs"`,
    /// `"KiB"`, `"calls/s"`, ...), without baseline, aim or note.
    pub fn new(
        group: impl Into<String>,
        name: impl Into<String>,
        value: f64,
        unit: impl Into<String>,
    ) -> Figure {
        Figure {
            group: group.into(),
            name: name.into(),
            value,
            unit: unit.into(),
            baseline: None,
            aim: None,
            note: None,
        }
    }

    /// The baseline measured in the same run, in the figure's unit, and
    /// what it is (`"pipe echo with cat"`).
    pub fn baseline(mut self, name: impl Into<String>, value: f64) -> Figure {
        self.baseline = Some((name.into(), value));
        self
    }

    /// The aim, as the table shows it (`"≤ 1.5x baseline"`, `"< 100 ms"`).
    pub fn aim(mut self, aim: impl Into<String>) -> Figure {
        self.aim = Some(aim.into());
        self
    }

    /// What else a reader needs to know (sample count, machine, ...).
    pub fn note(mut self, note: impl Into<String>) -> Figure {
        self.note = Some(note.into());
        self
    }

    /// The JSON object [`write`](Figure::write) appends as one line:
    /// `group`, `name`, `value`, `unit`, `baseline`, `baseline_name`,
    /// `aim` and `note`, the last four `null` when not given.
    pub fn to_json(&self) -> serde_json::Value {
        let (baseline_name, baseline) = match &self.baseline {
            Some((name, value)) => (Some(name.as_str()), Some(*value)),
            None => (None, None),
        };
        serde_json::json!({
            "group": self.group,
            "name": self.name,
            "value": self.value,
            "unit": self.unit,
            "baseline": baseline,
            "baseline_name": baseline_name,
            "aim": self.aim,
            "note": self.note,
        })
    }

    /// Appends the figure to [`figures_file`] (a failure is reported on
    /// stderr: a missing figure must not stop the benchmarks).
    pub fn write(&self) {
        let path = figures_file();
        if let Err(error) = append_line(&path, &self.to_json().to_string()) {
            eprintln!("cannot write figure to {}: {error}", path.display());
        }
    }

    /// What [`write_figure`] writes (its docs say how).
    fn from_legacy(
        figure: &str,
        value: f64,
        unit: &str,
        baseline: Option<f64>,
        note: &str,
    ) -> Figure {
        let (group, name) = figure.split_once(": ").unwrap_or(("extra", figure));
        let mut out = Figure::new(group.trim(), name.trim(), value, unit);
        if let Some(baseline) = baseline {
            out = out.baseline(baseline_name_in(note).unwrap_or("baseline"), baseline);
        }
        if !note.trim().is_empty() {
            out = out.note(note.trim());
        }
        out
    }
}

/// The baseline a note names: the text after `baseline:` or `baseline =`
/// up to the next `;`.
fn baseline_name_in(note: &str) -> Option<&str> {
    let start = ["baseline:", "baseline ="]
        .iter()
        .filter_map(|marker| note.find(marker).map(|at| at + marker.len()))
        .min()?;
    let rest = &note[start..];
    let name = rest.split(';').next().unwrap_or(rest).trim();
    (!name.is_empty()).then_some(name)
}

fn append_line(path: &std::path::Path, line: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    writeln!(file, "{line}")
}

/// Appends one figure: its name, value and unit, the baseline measured in
/// the same run (same unit) if any, and a note saying what the baseline is.
///
/// The older form of [`Figure`], kept for the benches that use it; new
/// code builds a [`Figure`]. The group is the text of `figure` before its
/// first `": "` and the name the text after it
/// (`"process-free: round trip p99"`: group `process-free`, name
/// `round trip p99`; without `": "`: group `extra`). The baseline's name is
/// what `note` says after `baseline:` or `baseline =`, up to the next `;`
/// (`baseline` when it names none); the note is kept whole.
pub fn write_figure(figure: &str, value: f64, unit: &str, baseline: Option<f64>, note: &str) {
    Figure::from_legacy(figure, value, unit, baseline, note).write();
}

/// `DIR` of `cargo xtask example-plugins --out DIR` (with `--release` when
/// `release`), laid out once per process by the same command users run:
/// `DIR/{native,process}/{greeter-1.0.0,greeter-2.0.0,kv-store-1.4.1}/` and
/// `DIR/{native,process}-extra/` with the variants tests bring in on
/// purpose (kv-store 2.0.0 and 3.0.0, the bad greeters 3.0.0, front-desk).
///
/// `DIR` is `target/plugkit-example-layouts/{debug,release}/`, one per
/// profile, laid out anew by the first process that asks for it: a
/// temporary directory would outlive the process (statics are never
/// dropped) and fill the disk run after run. The process holds a lock on it
/// for its whole life: shared while it reads, exclusive while it lays it
/// out, so a process never lays it out under another that reads it (it
/// waits for that one to exit instead).
///
/// # Panics
///
/// When cargo cannot lay the plugins out (a test or bench cannot go on).
pub fn example_plugins(release: bool) -> &'static std::path::Path {
    use std::sync::OnceLock;
    static DEBUG: OnceLock<(PathBuf, std::fs::File)> = OnceLock::new();
    static RELEASE: OnceLock<(PathBuf, std::fs::File)> = OnceLock::new();
    let slot = if release { &RELEASE } else { &DEBUG };
    let (dir, _lock) = slot.get_or_init(|| {
        let profile = if release { "release" } else { "debug" };
        let layouts = target_dir().join("plugkit-example-layouts");
        std::fs::create_dir_all(&layouts).expect("create the layouts directory");
        let lock = std::fs::File::create(layouts.join(format!("{profile}.lock")))
            .expect("create the layout's lock file");
        lock.lock().expect("lock the layout");
        let dir = layouts.join(profile);
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
            .arg(&dir)
            // The list of laid-out directories is noise in test output.
            .stdout(std::process::Stdio::null());
        if release {
            command.arg("--release");
        }
        let status = command.status().expect("cargo starts");
        assert!(status.success(), "cargo xtask example-plugins failed");
        // From exclusive to shared: another process may read it too; one
        // that would lay it out again waits until this one has exited.
        lock.unlock().expect("unlock the layout");
        lock.lock_shared().expect("lock the layout for reading");
        (dir, lock)
    });
    dir
}

/// The workspace's target directory: `$CARGO_TARGET_DIR` (relative to the
/// workspace root when relative, as cargo reads it), or `target/`.
fn target_dir() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    std::env::var_os("CARGO_TARGET_DIR")
        .map(|dir| root.join(dir))
        .unwrap_or_else(|| root.join("target"))
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

/// A fresh plugins directory holding these directories of the debug
/// [`example_plugins`] layout (`"native/greeter-1.0.0"`, ...), each under
/// its own name.
///
/// # Panics
///
/// On any IO error (a test or bench cannot go on).
pub fn plugins_dir(entries: &[&str]) -> tempfile::TempDir {
    let layout = example_plugins(false);
    let dir = tempfile::tempdir().expect("temporary directory");
    for entry in entries {
        let source = layout.join(entry);
        copy_dir(&source, &dir.path().join(source.file_name().expect("name")));
    }
    dir
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_figure_is_one_json_line_with_every_field() {
        let figure = Figure::new("process-free", "round trip p99", 41.5, "µs")
            .baseline("pipe echo with cat", 30.0)
            .aim("≤ 2x baseline")
            .note("5,000 round trips");
        assert_eq!(
            figure.to_json(),
            serde_json::json!({
                "group": "process-free",
                "name": "round trip p99",
                "value": 41.5,
                "unit": "µs",
                "baseline": 30.0,
                "baseline_name": "pipe echo with cat",
                "aim": "≤ 2x baseline",
                "note": "5,000 round trips",
            })
        );
        let bare = Figure::new("g", "n", 1.0, "ms").to_json();
        for absent in ["baseline", "baseline_name", "aim", "note"] {
            assert!(bare[absent].is_null(), "{absent}: {bare}");
        }
    }

    #[test]
    fn write_figure_derives_group_name_and_baseline_name() {
        assert_eq!(
            Figure::from_legacy(
                "host-call: calls/s, 8 threads",
                1e6,
                "calls/s",
                Some(2e6),
                "DynamicLoader::call; baseline: 8 threads calling the Instance; 2 CPUs",
            ),
            Figure::new("host-call", "calls/s, 8 threads", 1e6, "calls/s")
                .baseline("8 threads calling the Instance", 2e6)
                .note("DynamicLoader::call; baseline: 8 threads calling the Instance; 2 CPUs")
        );
        assert_eq!(
            Figure::from_legacy(
                "native-reload-rss: RSS growth per load",
                5.0,
                "KiB",
                Some(700.0),
                "100 loads: +0.5 MiB in 300 ms; baseline = size of the library file",
            ),
            Figure::new("native-reload-rss", "RSS growth per load", 5.0, "KiB")
                .baseline("size of the library file", 700.0)
                .note("100 loads: +0.5 MiB in 300 ms; baseline = size of the library file")
        );
        assert_eq!(
            Figure::from_legacy("no colon here", 1.0, "events", Some(2.0), ""),
            Figure::new("extra", "no colon here", 1.0, "events").baseline("baseline", 2.0)
        );
        assert_eq!(
            Figure::from_legacy("g: n", 1.0, "ms", None, "baseline: unused"),
            Figure::new("g", "n", 1.0, "ms").note("baseline: unused")
        );
    }

    #[test]
    fn figures_are_appended_one_per_line() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("nested").join("figures.jsonl");
        append_line(&path, "{\"a\":1}").expect("append");
        append_line(&path, "{\"b\":2}").expect("append");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "{\"a\":1}\n{\"b\":2}\n"
        );
    }

    #[test]
    fn full_runs_and_counts() {
        assert!(!is_full(None));
        assert!(!is_full(Some("".as_ref())));
        assert!(!is_full(Some("0".as_ref())));
        assert!(is_full(Some("1".as_ref())));
        assert_eq!(choose_count(None, false, 30, 100), 30);
        assert_eq!(choose_count(None, true, 30, 100), 100);
        assert_eq!(choose_count(Some("7"), true, 30, 100), 7);
        assert_eq!(choose_count(Some("0"), false, 30, 100), 30);
        assert_eq!(choose_count(Some("many"), true, 30, 100), 100);
    }
}
