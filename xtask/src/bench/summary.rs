//! The one summary of a benchmark run: criterion's functions and the
//! benches' own figures as [`Row`]s, each with its baseline, ratio and aim,
//! rendered as the terminal table ([`table`]), the JSON contract
//! ([`json`]) and a Markdown table for the README ([`markdown`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

use super::aims;

/// One figure of the summary. The first eight fields are the JSON
/// contract, in its order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    /// The comparison it belongs to: a criterion group, or the group a
    /// bench gave its own figure.
    pub(crate) group: String,
    /// Criterion's function id, or the name a bench gave its figure.
    pub(crate) name: String,
    /// The figure, in `unit` (criterion's median time per iteration, in ns).
    pub(crate) value: f64,
    /// `ns` for criterion's figures, the bench's unit for its own.
    pub(crate) unit: String,
    /// The baseline measured in the same run, in `unit`.
    pub(crate) baseline: Option<f64>,
    /// What the baseline is: its criterion function id without `baseline:`,
    /// or the name the bench gave it.
    pub(crate) baseline_name: Option<String>,
    /// `value / baseline`.
    pub(crate) ratio: Option<f64>,
    /// The aim, as shown: from [`aims::AIMS`], else as the bench gave it.
    pub(crate) aim: Option<String>,
    /// How the figure did against an aim of [`aims::AIMS`] (not in the JSON).
    pub(crate) verdict: Option<aims::Verdict>,
    /// The bench's note (terminal table only).
    pub(crate) note: Option<String>,
}

/// A figure as measured, before baselines, ratios and aims are joined in.
struct Measured {
    group: String,
    name: String,
    value: f64,
    unit: String,
    baseline: Option<(String, f64)>,
    aim: Option<String>,
    note: Option<String>,
}

/// The summary of one run: criterion's results under `criterion_dir`
/// (`**/new/{benchmark,estimates}.json`) and the benches' own figures in
/// `figures` (JSON lines, absent when no bench wrote one). Groups in name
/// order; in a group, criterion's functions by id, then the bench's own
/// figures in the order written.
pub(crate) fn collect(criterion_dir: &Path, figures: &Path) -> Result<Vec<Row>> {
    let mut measured = criterion_figures(criterion_dir)?;
    measured.extend(own_figures(figures)?);
    Ok(rows(measured))
}

/// Criterion's functions, one comparison per group: the function whose id
/// starts with `baseline:` is the baseline of the others and no row of its
/// own (unless it is alone in its group).
fn criterion_figures(dir: &Path) -> Result<Vec<Measured>> {
    let mut files = Vec::new();
    find_named(dir, "benchmark.json", &mut files)?;
    let mut groups: BTreeMap<String, Vec<(String, f64)>> = BTreeMap::new();
    for file in files {
        // Only the latest run (`new/`), not criterion's `base/` copies.
        let Some(run) = file.parent() else { continue };
        if !run.ends_with("new") {
            continue;
        }
        let benchmark = read_json(&file)?;
        let estimates = read_json(&run.join("estimates.json"))?;
        let name = [&benchmark["function_id"], &benchmark["value_str"]]
            .iter()
            .filter_map(|part| part.as_str())
            .collect::<Vec<_>>()
            .join("/");
        groups
            .entry(benchmark["group_id"].as_str().unwrap_or("?").to_string())
            .or_default()
            .push((
                if name.is_empty() { "?".into() } else { name },
                estimates["median"]["point_estimate"]
                    .as_f64()
                    .unwrap_or(f64::NAN),
            ));
    }
    let mut out = Vec::new();
    for (group, mut functions) in groups {
        functions.sort_by(|a, b| a.0.cmp(&b.0));
        let baseline = functions
            .iter()
            .position(|(name, _)| name.starts_with("baseline:"))
            .filter(|_| functions.len() > 1)
            .map(|at| functions.remove(at));
        for (name, value) in functions {
            out.push(Measured {
                group: group.clone(),
                name,
                value,
                unit: "ns".into(),
                baseline: baseline.as_ref().map(|(name, value)| {
                    (
                        name.strip_prefix("baseline:").unwrap_or(name).to_string(),
                        *value,
                    )
                }),
                aim: None,
                note: None,
            });
        }
    }
    Ok(out)
}

/// The benches' own figures: one JSON object per line, as
/// `bench_support::Figure` writes them.
fn own_figures(path: &Path) -> Result<Vec<Measured>> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let row: Value = serde_json::from_str(line)
            .with_context(|| format!("invalid figure line in {}: {line}", path.display()))?;
        let text = |key: &str| row[key].as_str().map(str::to_string);
        let (Some(group), Some(name)) = (text("group"), text("name")) else {
            anyhow::bail!(
                "figure line without group and name in {}: {line}",
                path.display()
            );
        };
        out.push(Measured {
            group,
            name,
            value: row["value"].as_f64().unwrap_or(f64::NAN),
            unit: text("unit").unwrap_or_default(),
            baseline: row["baseline"]
                .as_f64()
                .map(|value| (text("baseline_name").unwrap_or("baseline".into()), value)),
            aim: text("aim"),
            note: text("note").filter(|note| !note.is_empty()),
        });
    }
    Ok(out)
}

/// Joins ratios and aims in, and orders the rows.
fn rows(measured: Vec<Measured>) -> Vec<Row> {
    let mut values: BTreeMap<(&str, &str), f64> = BTreeMap::new();
    for figure in &measured {
        values.insert((&figure.group, &figure.name), figure.value);
        if let Some((name, value)) = &figure.baseline {
            values.insert((&figure.group, name), *value);
        }
    }
    let mut rows: Vec<Row> = measured
        .iter()
        .map(|figure| {
            let baseline = figure.baseline.as_ref().map(|(_, value)| *value);
            let aim = aims::find(&figure.group, &figure.name);
            let peer = |name: &str| values.get(&(figure.group.as_str(), name)).copied();
            Row {
                group: figure.group.clone(),
                name: figure.name.clone(),
                value: figure.value,
                unit: figure.unit.clone(),
                baseline,
                baseline_name: figure.baseline.as_ref().map(|(name, _)| name.clone()),
                ratio: baseline.map(|baseline| figure.value / baseline),
                aim: aim
                    .map(|aim| aim.text(&figure.unit))
                    .or_else(|| figure.aim.clone()),
                verdict: aim.and_then(|aim| aim.check(figure.value, &figure.unit, baseline, peer)),
                note: figure.note.clone(),
            }
        })
        .collect();
    rows.sort_by(|a, b| a.group.cmp(&b.group));
    rows
}

/// The terminal table, then the benches' notes, one per group and text.
pub(crate) fn table(rows: &[Row]) -> String {
    let header = [
        "group",
        "figure",
        "value",
        "baseline",
        "ratio",
        "aim",
        "met",
        "baseline is",
    ];
    let cells: Vec<[String; 8]> = rows
        .iter()
        .map(|row| {
            [
                row.group.clone(),
                row.name.clone(),
                show(row.value, &row.unit),
                row.baseline.map_or("-".into(), |b| show(b, &row.unit)),
                show_ratio(row.ratio),
                row.aim.clone().unwrap_or("-".into()),
                row.verdict.as_ref().map_or("-".into(), aims::Verdict::text),
                row.baseline_name.clone().unwrap_or("-".into()),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for line in &cells {
        for (width, cell) in widths.iter_mut().zip(line) {
            *width = (*width).max(cell.chars().count());
        }
    }
    // Numbers right-aligned, text left-aligned; the last column unpadded.
    let right = [false, false, true, true, true, false, false, false];
    let render = |line: &[String]| {
        let mut out = String::new();
        for (i, cell) in line.iter().enumerate() {
            let pad = " ".repeat(widths[i] - cell.chars().count());
            if i > 0 {
                out.push_str("  ");
            }
            if right[i] {
                out.push_str(&pad);
                out.push_str(cell);
            } else if i + 1 == line.len() {
                out.push_str(cell);
            } else {
                out.push_str(cell);
                out.push_str(&pad);
            }
        }
        out.push('\n');
        out
    };
    let mut out = render(&header.map(String::from));
    for line in &cells {
        out.push_str(&render(line));
    }
    let mut notes: Vec<(&str, &str)> = Vec::new();
    for row in rows {
        if let Some(note) = &row.note
            && !says_only_the_baseline(note, row.baseline_name.as_deref())
            && !notes.contains(&(&row.group, note))
        {
            notes.push((&row.group, note));
        }
    }
    if !notes.is_empty() {
        out.push_str("\nnotes:\n");
        for (group, note) in notes {
            out.push_str(&format!("  {group}: {note}\n"));
        }
    }
    out
}

/// Whether a note says no more than the baseline column
/// (`baseline: pipe echo with cat`, the notes of `write_figure`).
fn says_only_the_baseline(note: &str, baseline_name: Option<&str>) -> bool {
    let said = ["baseline:", "baseline ="]
        .iter()
        .find_map(|marker| note.trim().strip_prefix(marker));
    said.is_some_and(|said| Some(said.trim()) == baseline_name)
}

/// The JSON contract: an array with one object per row, with exactly
/// `group`, `name`, `value`, `unit`, `baseline`, `baseline_name`, `ratio`
/// and `aim` (the last four `null` when there is none), in that order, one
/// object per line.
pub(crate) fn json(rows: &[Row]) -> String {
    let objects: Vec<String> = rows
        .iter()
        .map(|row| {
            let fields = [
                ("group", Value::from(row.group.as_str())),
                ("name", Value::from(row.name.as_str())),
                ("value", number(Some(row.value))),
                ("unit", Value::from(row.unit.as_str())),
                ("baseline", number(row.baseline)),
                ("baseline_name", Value::from(row.baseline_name.clone())),
                ("ratio", number(row.ratio)),
                ("aim", Value::from(row.aim.clone())),
            ];
            let fields: Vec<String> = fields
                .iter()
                .map(|(key, value)| format!("{}: {value}", Value::from(*key)))
                .collect();
            format!("  {{{}}}", fields.join(", "))
        })
        .collect();
    if objects.is_empty() {
        "[]\n".into()
    } else {
        format!("[\n{}\n]\n", objects.join(",\n"))
    }
}

/// A JSON number, or `null` for none and for what JSON cannot hold (NaN).
fn number(value: Option<f64>) -> Value {
    value
        .and_then(serde_json::Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

/// The Markdown table, to paste into the README.
pub(crate) fn markdown(rows: &[Row]) -> String {
    let mut out = String::from(
        "| group | figure | value | baseline | ratio | aim | met |\n\
         |---|---|--:|---|--:|---|---|\n",
    );
    for row in rows {
        let baseline = match (row.baseline, &row.baseline_name) {
            (Some(value), Some(name)) => format!("{} ({})", show(value, &row.unit), code(name)),
            (Some(value), None) => show(value, &row.unit),
            (None, _) => "-".into(),
        };
        let cells = [
            code(&row.group),
            code(&row.name),
            show(row.value, &row.unit),
            baseline,
            show_ratio(row.ratio),
            row.aim.clone().unwrap_or("-".into()),
            row.verdict.as_ref().map_or("-".into(), aims::Verdict::text),
        ];
        let cells: Vec<String> = cells.iter().map(|c| c.replace('|', "\\|")).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out
}

fn code(text: &str) -> String {
    format!("`{text}`")
}

fn show_ratio(ratio: Option<f64>) -> String {
    ratio
        .filter(|r| r.is_finite())
        .map_or("-".into(), |r| format!("{r:.2}x"))
}

/// A measured value for the table: times in ns scaled to µs, ms or s,
/// large counts to k or M, with about four significant digits (no
/// decimals from 1,000 on, one from 100, two below).
pub(crate) fn show(value: f64, unit: &str) -> String {
    let (scaled, unit) = scale(value, unit);
    let decimals = match scaled.abs() {
        m if m >= 1_000.0 => 0,
        m if m >= 100.0 => 1,
        _ => 2,
    };
    format!("{scaled:.decimals$} {unit}")
}

/// A limit for an aim's text: scaled like [`show`], without trailing zeros
/// (`1 µs`, `500 k calls/s`).
pub(crate) fn show_limit(value: f64, unit: &str) -> String {
    let (scaled, unit) = scale(value, unit);
    let text = format!("{scaled:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text} {unit}")
}

fn scale(value: f64, unit: &str) -> (f64, String) {
    let magnitude = value.abs();
    if unit == "ns" {
        match magnitude {
            m if m < 1e3 => (value, "ns".into()),
            m if m < 1e6 => (value / 1e3, "µs".into()),
            m if m < 1e9 => (value / 1e6, "ms".into()),
            _ => (value / 1e9, "s".into()),
        }
    } else if magnitude >= 1e6 {
        (value / 1e6, format!("M {unit}"))
    } else if magnitude >= 1e4 {
        (value / 1e3, format!("k {unit}"))
    } else {
        (value, unit.to_string())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `bench/fixtures`: criterion output (real for `satisfies`, with an
    /// older `base/` run that must be ignored; shaped like it for the
    /// rest) and a `figures.jsonl` as `bench_support::Figure` writes it.
    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src/bench/fixtures")
    }

    fn fixture_rows() -> Vec<Row> {
        let dir = fixtures();
        collect(&dir.join("criterion"), &dir.join("figures.jsonl")).expect("fixtures read")
    }

    /// Compares `actual` with `expected/<name>`; `PLUGKIT_BLESS=1` rewrites it.
    fn assert_expected(name: &str, actual: &str) {
        let path = fixtures().join("expected").join(name);
        if std::env::var_os("PLUGKIT_BLESS").is_some_and(|v| v == "1") {
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("create");
            std::fs::write(&path, actual).expect("bless");
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            expected == actual,
            "{} differs (PLUGKIT_BLESS=1 rewrites it):\n--- expected\n{expected}\n--- actual\n{actual}",
            path.display()
        );
    }

    #[test]
    fn the_table_has_every_figure_beside_baseline_ratio_and_aim() {
        assert_expected("table.txt", &table(&fixture_rows()));
    }

    #[test]
    fn the_markdown_table() {
        assert_expected("summary.md", &markdown(&fixture_rows()));
    }

    #[test]
    fn the_json_summary() {
        assert_expected("summary.json", &json(&fixture_rows()));
    }

    /// The field set is a contract with whoever reads `summary.json`.
    #[test]
    fn every_json_object_has_exactly_the_contract_fields() {
        const CONTRACT: [&str; 8] = [
            "group",
            "name",
            "value",
            "unit",
            "baseline",
            "baseline_name",
            "ratio",
            "aim",
        ];
        let rows = fixture_rows();
        let text = json(&rows);
        let parsed: Value = serde_json::from_str(&text).expect("valid JSON");
        let objects = parsed.as_array().expect("an array");
        assert_eq!(objects.len(), rows.len());
        let (mut with_baseline, mut with_aim) = (0, 0);
        for object in objects {
            let object = object.as_object().expect("an object");
            let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
            keys.sort_unstable();
            let mut contract = CONTRACT.to_vec();
            contract.sort_unstable();
            assert_eq!(keys, contract, "{object:?}");
            for key in ["group", "name", "unit"] {
                assert!(object[key].is_string(), "{key}: {object:?}");
            }
            assert!(object["value"].is_number(), "{object:?}");
            let has_baseline = object["baseline"].is_number();
            assert_eq!(object["ratio"].is_number(), has_baseline, "{object:?}");
            assert_eq!(
                object["baseline_name"].is_string(),
                has_baseline,
                "{object:?}"
            );
            if !has_baseline {
                for key in ["baseline", "baseline_name", "ratio"] {
                    assert!(object[key].is_null(), "{key}: {object:?}");
                }
            }
            assert!(object["aim"].is_string() || object["aim"].is_null());
            with_baseline += usize::from(has_baseline);
            with_aim += usize::from(object["aim"].is_string());
        }
        // The fixtures exercise both sides of every nullable field.
        assert!(0 < with_baseline && with_baseline < objects.len());
        assert!(0 < with_aim && with_aim < objects.len());
        // In the contract's order, one object per line.
        let first = text.lines().nth(1).expect("an object line");
        let at: Vec<usize> = CONTRACT
            .iter()
            .map(|key| first.find(&format!("\"{key}\":")).expect("every key"))
            .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{first}");
        assert_eq!(json(&[]), "[]\n");
    }

    #[test]
    fn baselines_are_columns_not_rows_and_old_runs_are_ignored() {
        let rows = fixture_rows();
        let satisfies: Vec<&Row> = rows.iter().filter(|r| r.group == "satisfies").collect();
        assert_eq!(satisfies.len(), 1, "{satisfies:?}");
        let row = satisfies[0];
        assert_eq!(row.name, "plugkit:Constraint::matches");
        assert_eq!(
            row.baseline_name.as_deref(),
            Some("semver-VersionReq::matches")
        );
        assert!(row.value < 1e3, "the new run, not base/: {}", row.value);
        assert!(!rows.iter().any(|r| r.name.starts_with("baseline:")));
        // A group without a baseline keeps its functions, without ratio.
        let alone = rows
            .iter()
            .find(|r| r.group == "version-check-1M-lines")
            .expect("kept");
        assert_eq!((alone.baseline, alone.ratio), (None, None));
        // A parameterised function: its id and parameter.
        assert!(
            rows.iter()
                .any(|r| r.group == "sizes" && r.name == "parse/1000")
        );
    }

    #[test]
    fn a_figure_line_without_group_is_refused() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("figures.jsonl");
        std::fs::write(&path, "{\"figure\": \"old: form\", \"value\": 1}\n").expect("write");
        let error = own_figures(&path).err().expect("refused");
        assert!(
            error.to_string().contains("without group and name"),
            "{error}"
        );
        assert!(
            own_figures(&dir.path().join("absent.jsonl"))
                .expect("no figures")
                .is_empty()
        );
    }

    #[test]
    fn values_are_shown_in_readable_units() {
        assert_eq!(show(1.944, "ns"), "1.94 ns");
        assert_eq!(show(219.48, "ns"), "219.5 ns");
        assert_eq!(show(1_250.0, "ns"), "1.25 µs");
        assert_eq!(show(1_234_567_890.0, "ns"), "1.23 s");
        assert_eq!(show(1_052_631.5, "calls/s"), "1.05 M calls/s");
        assert_eq!(show(52_000.0, "calls/s"), "52.00 k calls/s");
        assert_eq!(show(1_000.0, "events"), "1000 events");
        assert_eq!(show(171.5, "ms"), "171.5 ms");
        assert_eq!(show(31.2, "µs"), "31.20 µs");
        assert_eq!(show_limit(1_000.0, "ns"), "1 µs");
        assert_eq!(show_limit(500_000.0, "calls/s"), "500 k calls/s");
    }
}
