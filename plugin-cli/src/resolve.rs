//! `plugkit resolve DIR... [--want NAME[@CONSTRAINT]]...`: reads every
//! manifest under the directories, resolves the wanted plugins (every plugin
//! found, when none is named), and prints the chosen versions and the load
//! order, or why there is none (exit 1). `--json` prints one JSON object.
//!
//! Until the discovery crate exists this is a plain walk: every file named
//! `plugin-manifest.json`, `.yaml` or `.yml`, at any depth, in path order.
//! A manifest that cannot be read or is invalid is a warning, not an error:
//! the plugins it would have provided are simply missing, and the
//! explanation says so.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use plugkit::resolver::{
    CircularDependencyMode, Registry, RegistryError, Resolution, ResolveError, ResolveOptions,
    Strategy, Wanted,
};
use serde_json::{Value, json};

use crate::NEGATIVE;

/// The names a manifest file may have.
const MANIFEST_NAMES: [&str; 3] = [
    "plugin-manifest.json",
    "plugin-manifest.yaml",
    "plugin-manifest.yml",
];

/// Resolve the plugins found in directories: versions and load order.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Directories to search for plugin manifests, at any depth.
    #[arg(required = true, value_name = "DIR")]
    dirs: Vec<PathBuf>,
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
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: Args) -> Result<ExitCode> {
    let mut warnings: Vec<String> = Vec::new();
    let registry = load(&args.dirs, &mut warnings)?;
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

/// Reads every manifest under `dirs` into a registry; what cannot be used
/// becomes a warning. A directory that cannot be read at all is an error.
fn load(dirs: &[PathBuf], warnings: &mut Vec<String>) -> Result<Registry> {
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in dirs {
        let metadata = std::fs::metadata(dir)
            .with_context(|| format!("cannot read directory {}", dir.display()))?;
        if !metadata.is_dir() {
            bail!("{} is not a directory", dir.display());
        }
        for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
            match entry {
                Ok(entry) => {
                    let named = entry
                        .file_name()
                        .to_str()
                        .is_some_and(|name| MANIFEST_NAMES.contains(&name));
                    if named && entry.file_type().is_file() {
                        files.push(entry.into_path());
                    }
                }
                Err(error) => warnings.push(format!("skipped while searching: {error}")),
            }
        }
    }
    let mut registry = Registry::new();
    let mut origin: BTreeMap<(String, String), PathBuf> = BTreeMap::new();
    for file in files {
        let shown = file.display().to_string();
        let bytes = match std::fs::read(&file) {
            Ok(bytes) => bytes,
            Err(error) => {
                warnings.push(format!("{shown}: cannot read the manifest: {error}"));
                continue;
            }
        };
        let parsed = match plugkit::manifest::parse(&bytes, &shown) {
            Ok(parsed) => parsed,
            Err(errors) => {
                warnings.push(invalid(&shown, &errors));
                continue;
            }
        };
        let manifest = &parsed.manifest;
        let key = (manifest.name().to_owned(), manifest.version().to_string());
        match registry.add_manifest(manifest) {
            Ok(()) => {
                origin.insert(key, file.clone());
            }
            Err(RegistryError::DuplicateVersion { name, version, .. }) => {
                let first = origin
                    .get(&key)
                    .map(|path| format!(" (first found in {})", path.display()))
                    .unwrap_or_default();
                warnings.push(format!(
                    "{shown}: ignored: {name} {version} is already known{first}"
                ));
            }
            Err(error) => warnings.push(format!("{shown}: ignored: {error}")),
        }
    }
    Ok(registry)
}

/// "FILE:LINE:COL: error: PATH: MESSAGE (and N more problems; manifest
/// ignored)".
fn invalid(shown: &str, errors: &plugkit::manifest::ManifestErrors) -> String {
    let problems: Vec<String> = errors
        .errors()
        .map(|diagnostic| diagnostic.display_in(shown).to_string())
        .collect();
    match problems.as_slice() {
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
    Ok(())
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
        "warnings": warnings,
    })
}
