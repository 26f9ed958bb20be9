//! `plugkit resolve DIR... [--want NAME[@CONSTRAINT]]...`: discovers the
//! plugins under the directories, resolves the wanted plugins (every plugin
//! found, when none is named), and prints the chosen versions and the load
//! order, or why there is none (exit 1). `--json` prints one JSON object.
//!
//! Finding plugins is plugin-discovery's, with the same scan flags as
//! `plugkit discover` ([`ScanArgs`]), so `resolve` considers exactly the
//! plugins `discover` lists: the same depth limit, exclusions, symlink
//! policy, capability filter, shadowing (of a YAML manifest by the JSON one
//! beside it) and duplicate rule. What discovery does not list (an invalid
//! manifest, a skipped plugin, an unreadable path) is a warning, not an
//! error: the plugins it would have provided are simply missing, and the
//! explanation says so. A directory named on the command line that does not
//! exist is an IO error (exit 2).

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Result, bail};
use plugkit::discovery::{Discovery, printable, printable_path};
use plugkit::resolver::{
    CircularDependencyMode, Hint, Registry, Resolution, ResolveError, ResolveOptions, Strategy,
    Wanted,
};
use serde_json::{Value, json};

use crate::NEGATIVE;
use crate::scan::ScanArgs;

/// Resolve the plugins found in directories: versions and load order.
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    scan: ScanArgs,
    /// A plugin to load, optionally with a constraint (`auth@^1.2`);
    /// repeatable. Without it, every plugin found is wanted.
    #[arg(long = "want", value_name = "NAME[@CONSTRAINT]")]
    want: Vec<Wanted>,
    /// Drop the wanted plugins that cannot be loaded (and those that need
    /// them) instead of failing; report what was dropped and why.
    #[arg(long)]
    best_effort: bool,
    /// Admit pre-release versions.
    #[arg(long)]
    allow_prerelease: bool,
    /// Load a cycle of required dependencies as one group instead of failing.
    #[arg(long)]
    allow_cycles: bool,
    /// Give up after SECONDS of solving (default 10; fractions allowed).
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    time_limit: Option<Duration>,
    /// Give up after N solver steps (default 1,000,000).
    #[arg(long, value_name = "N")]
    max_steps: Option<u64>,
    /// Allow chains of required dependencies up to N plugins long (default
    /// 256).
    #[arg(long, value_name = "N")]
    max_chain: Option<usize>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// A positive number of seconds, such as `30` or `0.5`.
fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if seconds.is_nan() || seconds <= 0.0 {
        return Err(format!(
            "the time limit must be more than 0 seconds, not {text}"
        ));
    }
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("`{text}` seconds is too long"))
}

pub(crate) fn run(args: Args) -> Result<ExitCode> {
    let config = args.scan.config();
    args.scan.check_dirs()?;
    let found = plugkit::discovery::discover(&config)?;
    let mut warnings = discovery_warnings(&found);
    let registry = registry(&found, &mut warnings);
    let wanted: Vec<Wanted> = if args.want.is_empty() {
        registry
            .plugin_names()
            .into_iter()
            .map(Wanted::new)
            .collect()
    } else {
        args.want.clone()
    };
    let mut options = ResolveOptions::default();
    if args.best_effort {
        options.strategy = Strategy::BestEffort;
    }
    if args.allow_prerelease {
        options.policy.allow_prerelease = true;
    }
    if args.allow_cycles {
        options.circular = CircularDependencyMode::Allow;
    }
    if let Some(limit) = args.time_limit {
        options.limits.time_limit = Some(limit);
    }
    if let Some(steps) = args.max_steps {
        options.limits.max_steps = steps;
    }
    if let Some(chain) = args.max_chain {
        options.limits.max_depth = chain;
    }
    let outcome = plugkit::resolver::resolve(&registry, &wanted, &options);
    if let Err(ResolveError::Internal { .. }) = &outcome {
        // A bug, not an answer: exit 2 through main.
        bail!(
            "{}",
            outcome.err().map(|e| e.to_string()).unwrap_or_default()
        );
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let code = match &outcome {
        Ok(resolution) => {
            warnings.extend(resolution.warnings().iter().map(ToString::to_string));
            if args.json {
                writeln!(out, "{}", success_json(resolution, &warnings))?;
            } else {
                print_success(&mut out, resolution, &warnings)?;
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            if args.json {
                writeln!(out, "{}", failure_json(error, &warnings))?;
            } else {
                print_failure(&mut out, error, &warnings)?;
            }
            ExitCode::from(NEGATIVE)
        }
    };
    out.flush()?;
    Ok(code)
}

/// What discovery found and did not list, as warnings: invalid manifests,
/// skipped plugins, unreadable paths.
fn discovery_warnings(found: &Discovery) -> Vec<String> {
    let mut warnings = Vec::new();
    for invalid in &found.invalid {
        let shown = printable_path(&invalid.path);
        let problems: Vec<String> = invalid
            .errors()
            .map(|diagnostic| printable(&diagnostic.display_in(&shown).to_string()).into_owned())
            .collect();
        warnings.push(summarize(&shown, &problems));
    }
    for skipped in &found.skipped {
        warnings.push(format!(
            "{}: skipped: {}",
            printable_path(&skipped.path),
            skipped.reason
        ));
    }
    for error in &found.errors {
        let path = error.path().map(printable_path).unwrap_or_default();
        warnings.push(format!("{path}: {}", error.reason()));
    }
    warnings
}

/// The registry of every plugin discovery listed (one per name and
/// version: discovery has settled duplicates already).
fn registry(found: &Discovery, warnings: &mut Vec<String>) -> Registry {
    let mut registry = Registry::new();
    for plugin in &found.plugins {
        if let Err(error) = registry.add_manifest(&plugin.manifest) {
            warnings.push(format!(
                "{}: ignored: {}",
                printable_path(&plugin.manifest_path),
                printable(&error.to_string())
            ));
        }
    }
    registry
}

/// "FILE:LINE:COL: error: PATH: MESSAGE (and N more problems; manifest
/// ignored)".
fn summarize(shown: &str, problems: &[String]) -> String {
    match problems {
        [] => format!("{shown}: invalid manifest (ignored)"),
        [one] => format!("{one} (manifest ignored)"),
        [first, rest @ ..] => format!(
            "{first} (and {} more problem{}; manifest ignored)",
            rest.len(),
            if rest.len() == 1 { "" } else { "s" }
        ),
    }
}

fn print_success(out: &mut impl Write, resolution: &Resolution, warnings: &[String]) -> Result<()> {
    for warning in warnings {
        eprintln!("warning: {}", indent_rest(warning));
    }
    writeln!(out, "selected:")?;
    for (name, version) in resolution.selected() {
        writeln!(out, "  {name} {version}")?;
    }
    writeln!(out, "load order:")?;
    for (i, group) in resolution.load_groups().iter().enumerate() {
        match group.as_slice() {
            [one] => writeln!(out, "  {}. {one}", i + 1)?,
            many => writeln!(
                out,
                "  {}. {} (a cycle, loaded together)",
                i + 1,
                many.join(", ")
            )?,
        }
    }
    if !resolution.dropped().is_empty() {
        writeln!(out, "dropped:")?;
        for dropped in resolution.dropped() {
            writeln!(out, "  {}: {}", dropped.name(), dropped.reason())?;
            for line in dropped.reason().explanation().lines() {
                writeln!(out, "    {line}")?;
            }
        }
    }
    Ok(())
}

fn print_failure(out: &mut impl Write, error: &ResolveError, warnings: &[String]) -> Result<()> {
    for warning in warnings {
        eprintln!("warning: {}", indent_rest(warning));
    }
    writeln!(out, "{error}")?;
    if let ResolveError::NoSolution(failure) = error {
        writeln!(out)?;
        writeln!(out, "{}", failure.explanation())?;
    }
    let hints = error.hints();
    let flags: Vec<(&Hint, &str)> = hints
        .iter()
        .filter_map(|hint| Some((hint, hint_flag(*hint).1?)))
        .collect();
    if !flags.is_empty() {
        writeln!(out)?;
        for (hint, flag) in flags {
            writeln!(out, "hint: {flag}: {hint}")?;
        }
    }
    Ok(())
}

/// A resolver hint's name in `--json` output, and the flag of this command
/// that changes the setting it names (`None`: no flag does, since this
/// command loads nothing and so has no downgrade or breaking change to
/// allow, and never requires exact versions).
fn hint_flag(hint: Hint) -> (&'static str, Option<&'static str>) {
    match hint {
        Hint::AllowPrerelease => ("allow_prerelease", Some("--allow-prerelease")),
        Hint::AllowCycles => ("allow_cycles", Some("--allow-cycles")),
        Hint::RaiseTimeLimit => ("raise_time_limit", Some("--time-limit SECONDS")),
        Hint::RaiseStepLimit => ("raise_step_limit", Some("--max-steps N")),
        Hint::RaiseDepthLimit => ("raise_depth_limit", Some("--max-chain N")),
        Hint::AllowDowngrade => ("allow_downgrade", None),
        Hint::AllowBreakingChange => ("allow_breaking_change", None),
        Hint::AllowRangeConstraints => ("allow_range_constraints", None),
        _ => ("other", None),
    }
}

/// The hints of a failure as `--json` prints them: `{"hint", "flag",
/// "message"}`, `flag` null when no flag of this command changes it.
fn hints_json(error: &ResolveError) -> Vec<Value> {
    error
        .hints()
        .into_iter()
        .map(|hint| {
            let (name, flag) = hint_flag(hint);
            json!({"hint": name, "flag": flag, "message": hint.to_string()})
        })
        .collect()
}

/// Continuation lines of a multi-line warning, indented under it.
fn indent_rest(text: &str) -> String {
    text.replace('\n', "\n  ")
}

fn success_json(resolution: &Resolution, warnings: &[String]) -> Value {
    let selected: serde_json::Map<String, Value> = resolution
        .selected()
        .iter()
        .map(|(name, version)| (name.to_string(), Value::String(version.to_string())))
        .collect();
    let dropped: Vec<Value> = resolution
        .dropped()
        .iter()
        .map(|dropped| {
            json!({
                "name": dropped.name(),
                "reason": dropped.reason().to_string(),
                "explanation": dropped.reason().explanation(),
            })
        })
        .collect();
    json!({
        "ok": true,
        "selected": selected,
        "load_order": resolution.load_order(),
        "dropped": dropped,
        "warnings": warnings,
    })
}

fn failure_json(error: &ResolveError, warnings: &[String]) -> Value {
    let conflicts: Vec<Value> = error
        .version_conflicts()
        .iter()
        .map(|conflict| {
            json!({
                "plugin": conflict.plugin(),
                "version": conflict.plugin_version().map(ToString::to_string),
                "dependency": conflict.dependency(),
                "constraint": conflict.constraint().as_str(),
                "available": conflict.available().iter().map(ToString::to_string).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "ok": false,
        "error": error.explanation(),
        "unresolved": error.unresolved_dependencies(),
        "missing_wanted": error.missing_wanted(),
        "conflicts": conflicts,
        "cycles": error.circular_dependencies(),
        "hints": hints_json(error),
        "warnings": warnings,
    })
}
