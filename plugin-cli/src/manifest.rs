//! `plugkit manifest check FILE...`: validates manifests and prints every
//! problem compiler-style (`FILE:LINE:COL: error: PATH: MESSAGE`), or one
//! JSON object per file with `--json`.
//!
//! Files are read as discovery reads them, through
//! `plugkit::discovery::read_manifest_file` with the same size limit
//! (`Limits::default().max_bytes`, 1 MiB): a larger file is refused from its
//! metadata before it is read, a pipe or device (`/dev/stdin`, `<(cmd)`) is
//! read up to the limit and no further, and the error gives the limit and,
//! for a file, its size. Everything printed that comes from the file (its
//! name, its values, the diagnostics quoting it) is escaped, so a manifest
//! cannot forge a line of output.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
use plugkit::discovery::{SpecialFiles, printable, printable_path, read_manifest_file};
use plugkit::manifest::{Diagnostic, Limits, ManifestErrors, ParsedManifest, parse_with};
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
    let limits = Limits::default();
    for path in &files {
        let json_name = path.to_string_lossy();
        let text_name = printable_path(path);
        let shown = if json { &json_name } else { &text_name };
        let result = read_manifest_file(path, limits.max_bytes as u64, SpecialFiles::ReadWithCap)
            .map(|bytes| parse_with(&bytes, shown, &limits));
        let code = match result {
            Err(io_error) => {
                if json {
                    let report = Report {
                        file: shown,
                        valid: false,
                        manifest: None,
                        io_error: Some(io_error.to_string_with_causes()),
                        diagnostics: &[],
                    };
                    writeln!(out, "{}", serde_json::to_string(&report)?)?;
                } else {
                    eprintln!("error: {}", io_error.to_string_with_causes());
                }
                FAILURE
            }
            Ok(Ok(parsed)) => {
                print_valid(&mut out, shown, &parsed, json)?;
                0
            }
            Ok(Err(errors)) => {
                print_invalid(&mut out, shown, &errors, json)?;
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
        writeln!(out, "{}", printable(&warning.display_in(file).to_string()))?;
    }
    writeln!(
        out,
        "{file}: ok: {} {} ({}, {})",
        printable(manifest.name()),
        manifest.version(),
        manifest.transport(),
        printable(manifest.endpoint())
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
        writeln!(
            out,
            "{}",
            printable(&diagnostic.display_in(file).to_string())
        )?;
    }
    Ok(())
}
