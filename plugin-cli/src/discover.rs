//! `plugkit discover DIR...`: finds plugins and prints a table of them (name,
//! version, transport, manifest path) followed by every problem, or with
//! `--json` exactly one object:
//!
//! ```text
//! {"plugins": [{"name", "version", "transport", "manifest_path", "artifact_path", "endpoints"}...],
//!  "invalid": [{"path", "errors": [DIAGNOSTIC...]}...],
//!  "skipped": [{"path", "reason"}...],
//!  "unreadable": [{"path", "reason"}...]}
//! ```
//!
//! The JSON keys and the text's headings say the same things: a path that
//! could not be read below a directory (a manifest too large, a symlink
//! loop, a directory without permission) is under `unreadable` in both.
//! Exit 0 whenever the scan ran, even with invalid manifests; 2 for usage
//! and IO errors (an invalid glob, a directory named on the command line
//! that does not exist).
//!
//! With `--etcd URL`, the plugins registered there are listed too: their
//! `manifest_path` is `<prefix>/<name>/<version>`, `endpoints` the
//! `host:port` of each live instance (left out for a plugin found in a
//! directory), and the table shows them after the path. A cluster that
//! does not answer is an IO error (exit 2), like a missing directory.
//!
//! Everything taken from the files (paths, names, diagnostics) is escaped
//! in the text output, so no file can forge a line of it.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, bail};
use plugkit::discovery::{Discovery, DiscoveryError, printable, printable_path};
use plugkit::manifest::Diagnostic;
use serde::Serialize;

use crate::scan::ScanArgs;

/// Arguments of `plugkit discover`.
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    pub(crate) scan: ScanArgs,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: Args) -> Result<ExitCode> {
    let config = args.scan.config();
    args.scan.check_dirs()?;
    let found = plugkit::discovery::discover(&config)?;
    if let Some(error) = found
        .errors
        .iter()
        .find(|e| matches!(e, DiscoveryError::Etcd { .. }))
    {
        bail!("{}", error.to_string_with_causes());
    }
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
    unreadable: Vec<SkippedJson>,
}

#[derive(Serialize)]
struct PluginJson<'a> {
    name: &'a str,
    version: String,
    transport: &'static str,
    manifest_path: String,
    artifact_path: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    endpoints: Vec<&'a str>,
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
                endpoints: p.endpoints().collect(),
            })
            .collect();
        let invalid = found
            .invalid
            .iter()
            .map(|i| InvalidJson::new(&i.path, &i.diagnostics))
            .collect();
        let skipped = found
            .skipped
            .iter()
            .map(|s| SkippedJson {
                path: shown(&s.path),
                reason: s.reason.to_string(),
            })
            .collect();
        let unreadable = found
            .errors
            .iter()
            .map(|e| SkippedJson {
                path: e.path().map(shown).unwrap_or_default(),
                reason: e.reason(),
            })
            .collect();
        Report {
            plugins,
            invalid,
            skipped,
            unreadable,
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

/// A path in JSON output (JSON escapes control characters itself).
fn shown(path: &Path) -> String {
    path.to_string_lossy().into_owned()
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
                    printable(p.name()).into_owned(),
                    p.version().to_string(),
                    p.transport().to_string(),
                    if p.is_registered() {
                        let endpoints: Vec<&str> = p.endpoints().collect();
                        format!(
                            "{} ({})",
                            printable_path(&p.manifest_path),
                            printable(&endpoints.join(", "))
                        )
                    } else {
                        printable_path(&p.manifest_path).into_owned()
                    },
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
            let file = printable_path(&p.manifest_path);
            p.warnings
                .iter()
                .map(move |w| printable(&w.display_in(&file).to_string()).into_owned())
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
            let file = printable_path(&invalid.path);
            for diagnostic in invalid.errors() {
                let line = diagnostic.display_in(&file).to_string();
                writeln!(out, "  {}", printable(&line))?;
            }
        }
    }
    if !found.skipped.is_empty() {
        writeln!(out, "\nskipped:")?;
        for skipped in &found.skipped {
            writeln!(
                out,
                "  {}: {}",
                printable_path(&skipped.path),
                skipped.reason
            )?;
        }
    }
    if !found.errors.is_empty() {
        writeln!(out, "\nunreadable:")?;
        for error in &found.errors {
            let path = error.path().map(printable_path).unwrap_or_default();
            writeln!(out, "  {path}: {}", error.reason())?;
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
