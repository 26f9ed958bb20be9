//! `plugkit manifest check FILE...`: validates manifests and prints every
//! problem compiler-style (`FILE:LINE:COL: error: PATH: MESSAGE`), or one
//! JSON object per file with `--json`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use plugkit::manifest::{Diagnostic, ManifestErrors, ParsedManifest, parse};
use serde::Serialize;

use crate::{FAILURE, NEGATIVE};

/// Manifest subcommands.
#[derive(Subcommand)]
pub(crate) enum Command {
    /// Validate manifest files. Exit 0 if all are valid, 1 if any is
    /// invalid, 2 if a file cannot be read.
    Check {
        /// Manifest files (`.json`, `.yaml` or `.yml`).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print one JSON object per file instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// One file's result, as `--json` prints it.
#[derive(Serialize)]
struct Report<'a> {
    file: &'a str,
    valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    manifest: Option<&'a plugkit::manifest::Manifest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    io_error: Option<String>,
    diagnostics: &'a [Diagnostic],
}

pub(crate) fn run(command: Command) -> Result<ExitCode> {
    let Command::Check { files, json } = command;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut worst = 0u8;
    for path in &files {
        let shown = path.display().to_string();
        let result = std::fs::read(path)
            .with_context(|| format!("cannot read {shown}"))
            .map(|bytes| parse(&bytes, &shown));
        let code = match result {
            Err(io_error) => {
                if json {
                    let report = Report {
                        file: &shown,
                        valid: false,
                        manifest: None,
                        io_error: Some(format!("{io_error:#}")),
                        diagnostics: &[],
                    };
                    writeln!(out, "{}", serde_json::to_string(&report)?)?;
                } else {
                    eprintln!("error: {io_error:#}");
                }
                FAILURE
            }
            Ok(Ok(parsed)) => {
                print_valid(&mut out, &shown, &parsed, json)?;
                0
            }
            Ok(Err(errors)) => {
                print_invalid(&mut out, &shown, &errors, json)?;
                NEGATIVE
            }
        };
        worst = worst.max(code);
    }
    out.flush()?;
    Ok(ExitCode::from(worst))
}

fn print_valid(
    out: &mut impl Write,
    file: &str,
    parsed: &ParsedManifest,
    json: bool,
) -> Result<()> {
    let manifest = &parsed.manifest;
    if json {
        let report = Report {
            file,
            valid: true,
            manifest: Some(manifest),
            io_error: None,
            diagnostics: &parsed.warnings,
        };
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
        return Ok(());
    }
    for warning in &parsed.warnings {
        writeln!(out, "{}", warning.display_in(file))?;
    }
    writeln!(
        out,
        "{file}: ok: {} {} ({}, {})",
        manifest.name(),
        manifest.version(),
        manifest.transport(),
        manifest.endpoint()
    )?;
    Ok(())
}

fn print_invalid(
    out: &mut impl Write,
    file: &str,
    errors: &ManifestErrors,
    json: bool,
) -> Result<()> {
    if json {
        let report = Report {
            file,
            valid: false,
            manifest: None,
            io_error: None,
            diagnostics: errors.diagnostics(),
        };
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
        return Ok(());
    }
    for diagnostic in errors.diagnostics() {
        writeln!(out, "{}", diagnostic.display_in(file))?;
    }
    Ok(())
}
