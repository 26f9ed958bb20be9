//! `cargo xtask bench`: runs every criterion benchmark of the workspace and
//! prints one table, each figure beside the baseline measured in the same run.
//!
//! Convention for bench authors: a criterion *group* is one comparison; in
//! each group exactly one function id starts with `baseline:` and every other
//! function of the group is reported as a ratio to it. The figures come from
//! criterion's own `target/criterion/**/new/{benchmark,estimates}.json`.
//!
//! Figures that are not a time per iteration (memory growth, percentiles,
//! event counts) are appended by the bench itself with
//! `bench_support::write_figure`, one JSON object per line, to
//! `target/plugkit-bench/figures.jsonl`:
//! `{"figure": "...", "value": 1.5, "unit": "MiB", "baseline": 0.1, "note": "..."}`
//! (`baseline` and `note` optional); they are printed in a second table.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

/// One measured function: its group, id and median time in nanoseconds.
struct Figure {
    group: String,
    function: String,
    median_ns: f64,
}

pub(crate) fn run(root: &Path, extra: &[String]) -> Result<()> {
    let results = root.join("target").join("criterion");
    let figures_dir = root.join("target").join("plugkit-bench");
    for old in [&results, &figures_dir] {
        if old.exists() {
            std::fs::remove_dir_all(old)
                .with_context(|| format!("failed to clear old results in {}", old.display()))?;
        }
    }
    let mut cmd = crate::cargo(root);
    // `--bench '*'` selects bench targets only: `--benches` would also run
    // every lib and bin in bench mode, whose libtest harnesses reject
    // criterion's flags.
    cmd.args(["bench", "--workspace", "--bench", "*"])
        .args(extra)
        .args(["--", "--warm-up-time", "1", "--measurement-time", "3"]);
    crate::run(&mut cmd)?;
    let figures = collect(&results)?;
    print!("{}", table(&figures));
    print!("{}", extra_table(&figures_dir.join("figures.jsonl"))?);
    Ok(())
}

/// The second table: figures the benches wrote themselves.
fn extra_table(path: &Path) -> Result<String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(String::new());
    };
    let mut out = format!(
        "\n{:<48} {:>14} {:>14} {:>9}  note\n",
        "figure", "value", "baseline", "ratio"
    );
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let row: Value = serde_json::from_str(line)
            .with_context(|| format!("invalid figure line in {}: {line}", path.display()))?;
        let unit = row["unit"].as_str().unwrap_or("");
        let value = row["value"].as_f64().unwrap_or(f64::NAN);
        let baseline = row["baseline"].as_f64();
        let shown_baseline = baseline.map_or("-".to_string(), |b| format!("{b:.2} {unit}"));
        let ratio = baseline.map_or("-".to_string(), |b| format!("{:.2}x", value / b));
        out.push_str(&format!(
            "{:<48} {:>14} {:>14} {:>9}  {}\n",
            row["figure"].as_str().unwrap_or("?"),
            format!("{value:.2} {unit}"),
            shown_baseline,
            ratio,
            row["note"].as_str().unwrap_or("")
        ));
    }
    Ok(out)
}

fn collect(results: &Path) -> Result<Vec<Figure>> {
    let mut files = Vec::new();
    find_named(results, "benchmark.json", &mut files)?;
    let mut figures = Vec::new();
    for file in files {
        // Only the latest run (`new/`), not criterion's `base/` copies.
        let Some(dir) = file.parent() else { continue };
        if !dir.ends_with("new") {
            continue;
        }
        let benchmark = read_json(&file)?;
        let estimates = read_json(&dir.join("estimates.json"))?;
        figures.push(Figure {
            group: benchmark["group_id"].as_str().unwrap_or("?").to_string(),
            function: benchmark["function_id"]
                .as_str()
                .or_else(|| benchmark["value_str"].as_str())
                .unwrap_or("?")
                .to_string(),
            median_ns: estimates["median"]["point_estimate"]
                .as_f64()
                .unwrap_or(f64::NAN),
        });
    }
    Ok(figures)
}

/// Renders the figures as one table: per group, the baseline first, then
/// every other function with its ratio to the baseline.
fn table(figures: &[Figure]) -> String {
    let mut groups: BTreeMap<&str, Vec<&Figure>> = BTreeMap::new();
    for figure in figures {
        groups.entry(&figure.group).or_default().push(figure);
    }
    let mut out = String::new();
    out.push_str(&format!(
        "\n{:<34} {:<44} {:>12} {:>9}\n",
        "group", "function", "median", "ratio"
    ));
    for (group, mut members) in groups {
        members.sort_by_key(|f| (!f.function.starts_with("baseline:"), f.function.clone()));
        let baseline = members
            .iter()
            .find(|f| f.function.starts_with("baseline:"))
            .map(|f| f.median_ns);
        for figure in members {
            let ratio = match baseline {
                Some(_) if figure.function.starts_with("baseline:") => "1.00x".to_string(),
                Some(base) => format!("{:.2}x", figure.median_ns / base),
                None => "no baseline".to_string(),
            };
            out.push_str(&format!(
                "{:<34} {:<44} {:>12} {:>9}\n",
                group,
                figure.function,
                human_time(figure.median_ns),
                ratio
            ));
        }
    }
    out
}

fn human_time(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.1} ns")
    } else if ns < 1e6 {
        format!("{:.2} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

fn read_json(path: &Path) -> Result<Value> {
    let bytes =
        std::fs::read(path).with_context(|| format!("failed to read {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("invalid JSON in {}", path.display()))
}

fn find_named(dir: &Path, name: &str, out: &mut Vec<PathBuf>) -> Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    for entry in
        std::fs::read_dir(dir).with_context(|| format!("failed to list {}", dir.display()))?
    {
        let path = entry
            .with_context(|| format!("failed to list {}", dir.display()))?
            .path();
        if path.is_dir() {
            find_named(&path, name, out)?;
        } else if path.file_name().is_some_and(|n| n == name) {
            out.push(path);
        }
    }
    Ok(())
}
