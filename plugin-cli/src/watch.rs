//! `plugkit watch DIR...`: prints discovery events as they happen, first
//! those of the initial scan, until interrupted (Ctrl-C stops it cleanly,
//! exit 0). With `--json`, one object per line:
//!
//! ```text
//! {"event":"plugin_discovered","name":..,"version":..,"path":..}
//! {"event":"plugin_updated","name":..,"version":..,"old_version":..,"path":..}
//! {"event":"plugin_removed","name":..,"version":..,"path":..}
//! {"event":"manifest_invalid","path":..,"errors":[DIAGNOSTIC...]}
//! {"event":"plugin_skipped","path":..,"reason":..}
//! {"event":"warning","message":..}
//! {"event":"lagged","missed":N}
//! ```
//!
//! `path` is the manifest's path. Errors (an unreadable directory) go to
//! stderr, so stdout stays a clean event stream.

use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use plugkit::discovery::{DiscoveryEngine, DiscoveryEvent, RecvError, WatchBackend};
use plugkit::manifest::Diagnostic;
use serde::Serialize;

use crate::discover::{ScanArgs, error_reason, shown};

/// Arguments of `plugkit watch`.
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    scan: ScanArgs,
    /// Print one JSON object per event, one per line.
    #[arg(long)]
    json: bool,
    /// How long a path must stay quiet before its change is reported, in
    /// milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 50)]
    debounce_ms: u64,
    /// Rescan periodically instead of using the native file watcher.
    #[arg(long)]
    poll: bool,
}

pub(crate) fn run(args: Args) -> Result<ExitCode> {
    let mut config = args.scan.config();
    config.debounce = Duration::from_millis(args.debounce_ms);
    if args.poll {
        config.backend = WatchBackend::Poll;
    }
    let engine = Arc::new(DiscoveryEngine::new(config)?);
    engine.set_error_handler(|error| match error.path() {
        Some(path) => eprintln!("warning: {}: {}", shown(path), error_reason(error)),
        None => eprintln!("warning: {}", error_reason(error)),
    });
    let mut events = engine.subscribe();
    let stopper = Arc::clone(&engine);
    ctrlc::set_handler(move || stopper.stop()).context("cannot handle Ctrl-C")?;
    if !args.json {
        let dirs: Vec<String> = engine
            .config()
            .directories
            .iter()
            .map(|d| shown(d))
            .collect();
        eprintln!("watching {} (Ctrl-C to stop)", dirs.join(", "));
    }
    engine.start()?;

    let stdout = io::stdout();
    loop {
        let line = match events.blocking_recv() {
            Ok(event) => match if args.json {
                event_json(&event)
            } else {
                event_text(&event)
            } {
                Some(line) => line,
                None => continue,
            },
            Err(RecvError::Lagged(missed)) if args.json => lagged_json(missed),
            Err(RecvError::Lagged(missed)) => {
                format!("warning: output fell behind and missed {missed} events")
            }
            Err(_) => break,
        };
        let mut out = stdout.lock();
        match writeln!(out, "{line}").and_then(|()| out.flush()) {
            Ok(()) => {}
            // The reader went away (`plugkit watch | head`): stop quietly.
            Err(error) if error.kind() == io::ErrorKind::BrokenPipe => break,
            Err(error) => return Err(error).context("cannot write to stdout"),
        }
    }
    engine.stop();
    Ok(ExitCode::SUCCESS)
}

/// One line of `--json` output; absent fields are left out, and the
/// fields keep this order (`event` first).
#[derive(Serialize, Default)]
struct EventJson<'a> {
    event: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    old_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<Vec<&'a Diagnostic>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    missed: Option<u64>,
}

fn lagged_json(missed: u64) -> String {
    to_line(&EventJson {
        event: "lagged",
        missed: Some(missed),
        ..EventJson::default()
    })
}

fn to_line(event: &EventJson<'_>) -> String {
    // Serializing these plain fields cannot fail.
    serde_json::to_string(event).unwrap_or_default()
}

fn event_json(event: &DiscoveryEvent) -> Option<String> {
    let json = match event {
        DiscoveryEvent::Discovered { plugin } => EventJson {
            event: "plugin_discovered",
            name: Some(plugin.name()),
            version: Some(plugin.version().to_string()),
            path: Some(shown(&plugin.manifest_path)),
            ..EventJson::default()
        },
        DiscoveryEvent::Updated {
            plugin,
            old_version,
        } => EventJson {
            event: "plugin_updated",
            name: Some(plugin.name()),
            version: Some(plugin.version().to_string()),
            old_version: Some(old_version.to_string()),
            path: Some(shown(&plugin.manifest_path)),
            ..EventJson::default()
        },
        DiscoveryEvent::Removed {
            name,
            version,
            path,
        } => EventJson {
            event: "plugin_removed",
            name: Some(name),
            version: Some(version.to_string()),
            path: Some(shown(path)),
            ..EventJson::default()
        },
        DiscoveryEvent::ManifestInvalid { path, diagnostics } => EventJson {
            event: "manifest_invalid",
            path: Some(shown(path)),
            errors: Some(diagnostics.iter().filter(|d| d.is_error()).collect()),
            ..EventJson::default()
        },
        DiscoveryEvent::Skipped { path, reason } => EventJson {
            event: "plugin_skipped",
            path: Some(shown(path)),
            reason: Some(reason.to_string()),
            ..EventJson::default()
        },
        DiscoveryEvent::Warning { message } => EventJson {
            event: "warning",
            message: Some(message),
            ..EventJson::default()
        },
        _ => return None,
    };
    Some(to_line(&json))
}

/// One event as a line of text (`None` for kinds this version does not
/// know).
fn event_text(event: &DiscoveryEvent) -> Option<String> {
    let line = match event {
        DiscoveryEvent::Discovered { plugin } => format!(
            "discovered {} {} ({}) {}",
            plugin.name(),
            plugin.version(),
            plugin.transport(),
            shown(&plugin.manifest_path)
        ),
        DiscoveryEvent::Updated {
            plugin,
            old_version,
        } => format!(
            "updated {} {old_version} -> {} {}",
            plugin.name(),
            plugin.version(),
            shown(&plugin.manifest_path)
        ),
        DiscoveryEvent::Removed {
            name,
            version,
            path,
        } => format!("removed {name} {version} {}", shown(path)),
        DiscoveryEvent::ManifestInvalid { path, diagnostics } => {
            let file = shown(path);
            let mut text = format!("invalid {file}");
            for diagnostic in diagnostics.iter().filter(|d| d.is_error()) {
                text.push_str(&format!("\n  {}", diagnostic.display_in(&file)));
            }
            text
        }
        DiscoveryEvent::Skipped { path, reason } => format!("skipped {}: {reason}", shown(path)),
        DiscoveryEvent::Warning { message } => format!("warning: {message}"),
        _ => return None,
    };
    Some(line)
}
