//! `cargo xtask bench [--full] [CARGO ARGS] [-- CRITERION ARGS]`: runs every
//! criterion benchmark of the workspace and prints one table, each figure
//! beside the baseline measured in the same run, the ratio and the aim.
//!
//! Short by default, for CI: criterion's `--warm-up-time 0.5
//! --measurement-time 1 --sample-size 10`; `--full` (or
//! `PLUGKIT_BENCH_FULL=1`) runs the long one, `--warm-up-time 1
//! --measurement-time 3` with criterion's default sample size. A group's
//! own settings in a bench win over both. The benches learn which through
//! `$PLUGKIT_BENCH_FULL` (`1` or `0`), for the loops they run themselves:
//! `bench_support::full()` and `bench_support::count()`. Every other
//! argument goes to `cargo bench`: `-p plugin-version` runs that package's
//! benches only, `--bench host` that bench only (both replace the default
//! `--workspace --bench '*'`). Arguments after `--` go to criterion (a
//! filter, or a flag that replaces the default one).
//!
//! Convention for bench authors: a criterion *group* is one comparison; in
//! each group exactly one function id starts with `baseline:` and every other
//! function of the group is reported as a ratio to it. The figures come from
//! criterion's own `target/criterion/**/new/{benchmark,estimates}.json`
//! (medians, in ns).
//!
//! Figures that are not a time per iteration (memory growth, percentiles,
//! event counts) are appended by the bench itself with
//! `bench_support::Figure` (or the older `bench_support::write_figure`),
//! one JSON object per line, to `target/plugkit-bench/figures.jsonl`:
//! `{"group", "name", "value", "unit", "baseline", "baseline_name", "aim",
//! "note"}`. They join the table in the group they name.
//!
//! The aims are in one table, `bench/aims.rs`, keyed by (group, name), and
//! checked (the `met` column). The summary is also written, for tools and
//! for the README, to `target/plugkit-bench/summary.json` (an array, one
//! object per figure with exactly `group`, `name`, `value`, `unit`,
//! `baseline`, `baseline_name`, `ratio`, `aim`; the last four `null` when
//! there is none) and `target/plugkit-bench/summary.md` (a Markdown table).
//! The target directory is `$CARGO_TARGET_DIR` when set; `$CRITERION_HOME`
//! and `$PLUGKIT_BENCH_FIGURES` move criterion's results and the figures
//! (a run clears both first).

mod aims;
mod summary;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Criterion's settings for the default, short run.
const SHORT: &[(&str, &str)] = &[
    ("--warm-up-time", "0.5"),
    ("--measurement-time", "1"),
    ("--sample-size", "10"),
];

/// Criterion's settings for `--full`.
const FULL: &[(&str, &str)] = &[("--warm-up-time", "1"), ("--measurement-time", "3")];

/// The variable the benches read (`bench_support::FULL_VAR`).
const FULL_VAR: &str = "PLUGKIT_BENCH_FULL";

/// `cargo xtask bench`, with the arguments after `bench`.
pub(crate) fn run(root: &Path, extra: &[String]) -> Result<()> {
    let request = Request::parse(extra, std::env::var_os(FULL_VAR).as_deref());
    // The etcd benches need protoc to build and etcd to run.
    crate::setup::run()?;
    let paths = Paths::new(root, |name| std::env::var_os(name));
    if paths.criterion.exists() {
        std::fs::remove_dir_all(&paths.criterion).with_context(|| {
            format!(
                "failed to clear old results in {}",
                paths.criterion.display()
            )
        })?;
    }
    let json = paths.out.join("summary.json");
    let markdown = paths.out.join("summary.md");
    for old in [&paths.figures, &json, &markdown] {
        if old.exists() {
            std::fs::remove_file(old)
                .with_context(|| format!("failed to remove {}", old.display()))?;
        }
    }
    let mut cmd = crate::cargo(root);
    cmd.args(request.cargo_args())
        .arg("--")
        .args(request.criterion_args())
        .env(FULL_VAR, if request.full { "1" } else { "0" })
        .env("CRITERION_HOME", &paths.criterion)
        .env("PLUGKIT_BENCH_FIGURES", &paths.figures);
    crate::run(&mut cmd)?;

    let rows = summary::collect(&paths.criterion, &paths.figures)?;
    std::fs::create_dir_all(&paths.out)
        .with_context(|| format!("failed to create {}", paths.out.display()))?;
    std::fs::write(&json, summary::json(&rows))
        .with_context(|| format!("failed to write {}", json.display()))?;
    std::fs::write(&markdown, summary::markdown(&rows))
        .with_context(|| format!("failed to write {}", markdown.display()))?;
    let mode = if request.full {
        "full run"
    } else {
        "short run (--full for the long one)"
    };
    println!("\n{mode}\n");
    print!("{}", summary::table(&rows));
    println!("\nwritten: {} and {}", json.display(), markdown.display());
    Ok(())
}

/// What `cargo xtask bench` was asked for.
#[derive(Debug, PartialEq)]
struct Request {
    /// The long run.
    full: bool,
    /// Arguments for `cargo bench`.
    cargo: Vec<String>,
    /// Arguments for criterion, after `--`.
    criterion: Vec<String>,
}

impl Request {
    /// From xtask's arguments after `bench`, and `$PLUGKIT_BENCH_FULL`
    /// (anything but nothing or `0` asks for the full run too).
    fn parse(args: &[String], full_var: Option<&std::ffi::OsStr>) -> Request {
        let (ours, criterion) = match args.iter().position(|a| a == "--") {
            Some(at) => (&args[..at], &args[at + 1..]),
            None => (args, &[][..]),
        };
        let full_from_var = full_var.is_some_and(|v| !v.is_empty() && v != "0");
        Request {
            full: full_from_var || ours.iter().any(|a| a == "--full"),
            cargo: ours.iter().filter(|a| *a != "--full").cloned().collect(),
            criterion: criterion.to_vec(),
        }
    }

    /// `cargo bench` and its arguments: every bench target of the
    /// workspace unless the caller names packages (`-p`) or benches
    /// (`--bench`), which cargo would otherwise add to the whole set.
    fn cargo_args(&self) -> Vec<String> {
        let given = |short: Option<&str>, long: &str| {
            self.cargo.iter().any(|a| {
                a == long
                    || a.starts_with(&format!("{long}="))
                    || short.is_some_and(|short| a.starts_with(short))
            })
        };
        let mut out = vec!["bench".to_string()];
        if !given(Some("-p"), "--package") {
            // The whole workspace includes the etcd benches, behind the
            // features `setup` provides for.
            out.extend([
                "--workspace".into(),
                "--features".into(),
                crate::setup::ETCD_FEATURES.into(),
            ]);
        }
        if !given(None, "--bench") {
            // `--bench '*'` selects bench targets only: `--benches` would
            // also run every lib and bin in bench mode, whose libtest
            // harnesses reject criterion's flags.
            out.extend(["--bench".into(), "*".into()]);
        }
        out.extend(self.cargo.iter().cloned());
        out
    }

    /// Criterion's arguments: the short or full settings, except those
    /// the caller gave, then the caller's.
    fn criterion_args(&self) -> Vec<String> {
        let given = |flag: &str| {
            self.criterion
                .iter()
                .any(|a| a == flag || a.starts_with(&format!("{flag}=")))
        };
        let mut out = Vec::new();
        for (flag, value) in if self.full { FULL } else { SHORT } {
            // Criterion refuses `--sample-size` beside `--quick`.
            let conflicts = *flag == "--sample-size" && given("--quick");
            if !given(flag) && !conflicts {
                out.extend([flag.to_string(), value.to_string()]);
            }
        }
        out.extend(self.criterion.iter().cloned());
        out
    }
}

/// Where a run's results go.
#[derive(Debug, PartialEq)]
struct Paths {
    /// Criterion's output: `$CRITERION_HOME`, or `criterion` in the target
    /// directory (`$CARGO_TARGET_DIR` or the workspace's `target`).
    criterion: PathBuf,
    /// `plugkit-bench` in the target directory: the summary files.
    out: PathBuf,
    /// The benches' own figures: `$PLUGKIT_BENCH_FIGURES`, or
    /// `figures.jsonl` in `out`.
    figures: PathBuf,
}

impl Paths {
    /// The paths for the workspace at `root`, given how to read an
    /// environment variable (relative paths are from `root`, where cargo runs).
    fn new(root: &Path, var: impl Fn(&str) -> Option<std::ffi::OsString>) -> Paths {
        let from_var = |name: &str| var(name).filter(|v| !v.is_empty()).map(|v| root.join(v));
        let target = from_var("CARGO_TARGET_DIR").unwrap_or_else(|| root.join("target"));
        let out = target.join("plugkit-bench");
        Paths {
            criterion: from_var("CRITERION_HOME").unwrap_or_else(|| target.join("criterion")),
            figures: from_var("PLUGKIT_BENCH_FIGURES").unwrap_or_else(|| out.join("figures.jsonl")),
            out,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn short_by_default_and_the_rest_goes_to_cargo() {
        let request = Request::parse(&strings(&["-p", "plugin-version"]), None);
        assert_eq!(
            request,
            Request {
                full: false,
                cargo: strings(&["-p", "plugin-version"]),
                criterion: vec![],
            }
        );
        assert_eq!(
            request.criterion_args(),
            strings(&[
                "--warm-up-time",
                "0.5",
                "--measurement-time",
                "1",
                "--sample-size",
                "10"
            ])
        );
    }

    #[test]
    fn the_whole_workspace_unless_packages_or_benches_are_named() {
        let cargo = |args: &[&str]| Request::parse(&strings(args), None).cargo_args();
        assert_eq!(
            cargo(&[]),
            strings(&[
                "bench",
                "--workspace",
                "--features",
                crate::setup::ETCD_FEATURES,
                "--bench",
                "*"
            ])
        );
        assert_eq!(
            cargo(&["-p", "plugin-version"]),
            strings(&["bench", "--bench", "*", "-p", "plugin-version"])
        );
        assert_eq!(
            cargo(&["--package=plugin-host", "--bench", "host"]),
            strings(&["bench", "--package=plugin-host", "--bench", "host"])
        );
        assert_eq!(
            cargo(&["-pplugin-cli", "--full", "--locked"]),
            strings(&["bench", "--bench", "*", "-pplugin-cli", "--locked"])
        );
    }

    #[test]
    fn full_by_flag_anywhere_before_the_separator_or_by_variable() {
        let request = Request::parse(&strings(&["-p", "plugin-host", "--full"]), None);
        assert!(request.full);
        assert_eq!(request.cargo, strings(&["-p", "plugin-host"]));
        assert_eq!(
            request.criterion_args(),
            strings(&["--warm-up-time", "1", "--measurement-time", "3"])
        );
        assert!(Request::parse(&strings(&["--full", "-p", "x"]), None).full);
        assert!(Request::parse(&[], Some("1".as_ref())).full);
        assert!(!Request::parse(&[], Some("0".as_ref())).full);
        assert!(!Request::parse(&[], Some("".as_ref())).full);
        // After `--`, `--full` is criterion's business.
        assert!(!Request::parse(&strings(&["--", "--full"]), None).full);
    }

    #[test]
    fn criterion_arguments_after_the_separator_replace_the_defaults() {
        let request = Request::parse(
            &strings(&[
                "-p",
                "plugin-version",
                "--",
                "satisfies",
                "--sample-size",
                "20",
            ]),
            None,
        );
        assert_eq!(request.cargo, strings(&["-p", "plugin-version"]));
        assert_eq!(
            request.criterion_args(),
            strings(&[
                "--warm-up-time",
                "0.5",
                "--measurement-time",
                "1",
                "satisfies",
                "--sample-size",
                "20"
            ])
        );
        let quick = Request::parse(&strings(&["--", "--quick", "--warm-up-time=2"]), None);
        assert_eq!(
            quick.criterion_args(),
            strings(&["--measurement-time", "1", "--quick", "--warm-up-time=2"])
        );
    }

    #[test]
    fn paths_follow_the_target_directory_and_overrides() {
        let root = Path::new("/ws");
        let none = Paths::new(root, |_| None);
        assert_eq!(
            none,
            Paths {
                criterion: "/ws/target/criterion".into(),
                out: "/ws/target/plugkit-bench".into(),
                figures: "/ws/target/plugkit-bench/figures.jsonl".into(),
            }
        );
        let set = Paths::new(root, |name| match name {
            "CARGO_TARGET_DIR" => Some("elsewhere".into()),
            "PLUGKIT_BENCH_FIGURES" => Some("/tmp/f.jsonl".into()),
            _ => None,
        });
        assert_eq!(
            set,
            Paths {
                criterion: "/ws/elsewhere/criterion".into(),
                out: "/ws/elsewhere/plugkit-bench".into(),
                figures: "/tmp/f.jsonl".into(),
            }
        );
    }
}
