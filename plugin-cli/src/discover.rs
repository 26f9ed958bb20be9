//! `plugkit discover DIR...`: finds plugins and prints a table of them (name,
//! version, transport, manifest path) followed by every problem, or with
//! `--json` exactly one object:
//!
//! ```text
//! {"plugins": [{"name", "version", "transport", "manifest_path", "artifact_path"}...],
//!  "invalid": [{"path", "errors": [DIAGNOSTIC...]}...],
//!  "skipped": [{"path", "reason"}...]}
//! ```
//!
//! A path that could not be read (a missing directory, a symlink loop) is
//! listed in `skipped` with the error as its reason, so the object keeps its
//! three keys. Exit 0 whenever the scan ran, even with invalid manifests; 2
//! for usage errors (an invalid glob).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use plugkit::discovery::{Discovery, DiscoveryConfig, DiscoveryError};
use plugkit::manifest::Diagnostic;
use serde::Serialize;

/// Arguments of `plugkit discover`.
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    pub(crate) scan: ScanArgs,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

/// What to scan and how: shared by `discover` and `watch`.
#[derive(clap::Args)]
pub(crate) struct ScanArgs {
    /// Directories to search, in order of precedence (a manifest file is
    /// read as one).
    #[arg(required = true, value_name = "DIR")]
    dirs: Vec<PathBuf>,
    /// Accept only plugins whose artifact's file name matches GLOB, such as
    /// '*.so' or '*-plugin' (repeatable; default: any name).
    #[arg(long = "pattern", value_name = "GLOB")]
    patterns: Vec<String>,
    /// How many directory levels below each DIR are searched.
    #[arg(long, value_name = "N", default_value_t = 5)]
    max_depth: usize,
    /// Follow symbolic links (loops are detected and reported).
    #[arg(long)]
    follow_symlinks: bool,
    /// Do not search PATH (repeatable). A PATH with `*`, `?`, `[` or `{` is a
    /// glob matched against paths relative to each DIR, such as
    /// '**/node_modules'.
    #[arg(long = "exclude", value_name = "PATH")]
    excludes: Vec<String>,
    /// Skip plugins that do not list capability CAP (repeatable).
    #[arg(long = "require-capability", value_name = "CAP")]
    capabilities: Vec<String>,
}

impl ScanArgs {
    /// The discovery configuration these arguments describe.
    pub(crate) fn config(&self) -> DiscoveryConfig {
        let mut config = DiscoveryConfig::new(self.dirs.iter().cloned());
        config.artifact_patterns = self.patterns.clone();
        config.max_depth = self.max_depth;
        config.follow_symlinks = self.follow_symlinks;
        for exclude in &self.excludes {
            if exclude.contains(['*', '?', '[', '{']) {
                config.exclude_globs.push(exclude.clone());
            } else {
                config.exclude_paths.push(PathBuf::from(exclude));
            }
        }
        config.required_capabilities = self.capabilities.clone();
        config
    }
}

pub(crate) fn run(args: Args) -> Result<ExitCode> {
    let found = plugkit::discovery::discover(&args.scan.config())?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        serde_json::to_writer(&mut out, &Report::of(&found))?;
        writeln!(out)?;
    } else {
        write_table(&mut out, &found)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The `--json` object.
#[derive(Serialize)]
struct Report<'a> {
    plugins: Vec<PluginJson<'a>>,
    invalid: Vec<InvalidJson<'a>>,
    skipped: Vec<SkippedJson>,
}

#[derive(Serialize)]
struct PluginJson<'a> {
    name: &'a str,
    version: String,
    transport: &'static str,
    manifest_path: String,
    artifact_path: Option<String>,
}

#[derive(Serialize)]
struct InvalidJson<'a> {
    path: String,
    errors: Vec<&'a Diagnostic>,
}

#[derive(Serialize)]
struct SkippedJson {
    path: String,
    reason: String,
}

impl<'a> Report<'a> {
    fn of(found: &'a Discovery) -> Report<'a> {
        let plugins = found
            .plugins
            .iter()
            .map(|p| PluginJson {
                name: p.name(),
                version: p.version().to_string(),
                transport: p.transport().as_str(),
                manifest_path: shown(&p.manifest_path),
                artifact_path: p.artifact_path.as_deref().map(shown),
            })
            .collect();
        let invalid = found
            .invalid
            .iter()
            .map(|i| InvalidJson::new(&i.path, &i.diagnostics))
            .collect();
        let mut skipped: Vec<(&Path, String)> = found
            .skipped
            .iter()
            .map(|s| (s.path.as_path(), s.reason.to_string()))
            .chain(
                found
                    .errors
                    .iter()
                    .map(|e| (e.path().unwrap_or(Path::new("")), error_reason(e))),
            )
            .collect();
        skipped.sort_by(|a, b| a.0.cmp(b.0));
        let skipped = skipped
            .into_iter()
            .map(|(path, reason)| SkippedJson {
                path: shown(path),
                reason,
            })
            .collect();
        Report {
            plugins,
            invalid,
            skipped,
        }
    }
}

impl<'a> InvalidJson<'a> {
    fn new(path: &Path, diagnostics: &'a [Diagnostic]) -> InvalidJson<'a> {
        InvalidJson {
            path: shown(path),
            errors: diagnostics.iter().filter(|d| d.is_error()).collect(),
        }
    }
}

pub(crate) fn shown(path: &Path) -> String {
    path.display().to_string()
}

/// What went wrong at an error's path, without repeating the path:
/// `cannot read directory: no such file or directory (os error 2)`.
pub(crate) fn error_reason(error: &DiscoveryError) -> String {
    let what = match error {
        DiscoveryError::ReadDir { .. } => "cannot read directory".to_string(),
        DiscoveryError::ReadManifest { .. } => "cannot read manifest".to_string(),
        DiscoveryError::NotAFile { .. } => "not a regular file".to_string(),
        DiscoveryError::SymlinkLoop { ancestor, .. } => {
            format!("symlink loop back to {}", ancestor.display())
        }
        _ => error.to_string(),
    };
    match std::error::Error::source(error) {
        Some(cause) => format!("{what}: {}", lowercase_first(&cause.to_string())),
        None => what,
    }
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn plural(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

fn write_table(out: &mut impl Write, found: &Discovery) -> Result<()> {
    if found.plugins.is_empty() {
        writeln!(out, "no plugins found")?;
    } else {
        let rows: Vec<[String; 4]> = found
            .plugins
            .iter()
            .map(|p| {
                [
                    p.name().to_string(),
                    p.version().to_string(),
                    p.transport().to_string(),
                    shown(&p.manifest_path),
                ]
            })
            .collect();
        let header = ["NAME", "VERSION", "TRANSPORT", "MANIFEST"].map(String::from);
        let mut widths = [0usize; 3];
        for row in std::iter::once(&header).chain(&rows) {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        for row in std::iter::once(&header).chain(&rows) {
            writeln!(
                out,
                "{:<w0$}  {:<w1$}  {:<w2$}  {}",
                row[0],
                row[1],
                row[2],
                row[3],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2]
            )?;
        }
    }
    let warnings: Vec<String> = found
        .plugins
        .iter()
        .flat_map(|p| {
            let file = shown(&p.manifest_path);
            p.warnings
                .iter()
                .map(move |w| w.display_in(&file).to_string())
        })
        .collect();
    if !warnings.is_empty() {
        writeln!(out, "\nwarnings:")?;
        for warning in warnings {
            writeln!(out, "  {warning}")?;
        }
    }
    if !found.invalid.is_empty() {
        writeln!(out, "\ninvalid manifests:")?;
        for invalid in &found.invalid {
            let file = shown(&invalid.path);
            for diagnostic in invalid.errors() {
                writeln!(out, "  {}", diagnostic.display_in(&file))?;
            }
        }
    }
    if !found.skipped.is_empty() {
        writeln!(out, "\nskipped:")?;
        for skipped in &found.skipped {
            writeln!(out, "  {}: {}", shown(&skipped.path), skipped.reason)?;
        }
    }
    if !found.errors.is_empty() {
        writeln!(out, "\nunreadable:")?;
        for error in &found.errors {
            let path = error.path().map(shown).unwrap_or_default();
            writeln!(out, "  {path}: {}", error_reason(error))?;
        }
    }
    writeln!(
        out,
        "\n{}, {}, {}, {}",
        plural(found.plugins.len(), "plugin", "plugins"),
        plural(found.invalid.len(), "invalid manifest", "invalid manifests"),
        plural(found.skipped.len(), "skipped", "skipped"),
        plural(found.errors.len(), "unreadable path", "unreadable paths"),
    )?;
    Ok(())
}
